import gzip
import json

from benchmarks.scaled_input import SOURCES, generate


def _rows_per_file(folder) -> dict[str, list[list[dict]]]:
    """source -> the rows of each of its files, in file order."""
    out: dict[str, list[list[dict]]] = {source: [] for source in SOURCES}
    for path in sorted(folder.glob("*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            out[path.name.rsplit("-", 1)[0]].append([json.loads(line) for line in handle])
    return out


def _documents(files: dict[str, list[list[dict]]]) -> list[dict]:
    return [row for source in SOURCES for rows in files[source] for row in rows]


def test_min_files_splits_every_source_in_even_shares_without_changing_the_documents(shared_data, tmp_path):
    # At a tenth of the sample every source fits in one 4 MB file; with min_files=2 each is cut in
    # two halves, so that each of two workers reads every language.
    one_bytes = generate(0.1, tmp_path / "one", file_mb=4.0)
    two_bytes = generate(0.1, tmp_path / "two", file_mb=4.0, min_files=2)
    one, two = _rows_per_file(tmp_path / "one"), _rows_per_file(tmp_path / "two")
    assert one_bytes == two_bytes and _documents(one) == _documents(two)
    for source in SOURCES:
        assert len(one[source]) == 1
        halves = [len(rows) for rows in two[source]]
        assert len(halves) == 2 and max(halves) - min(halves) <= 1 and min(halves) > 0


def test_min_files_adds_no_file_where_the_size_already_gives_enough(shared_data, tmp_path):
    # 30 kB files: every source of a tenth of the sample (>= 120 kB of text) is several files already.
    generate(0.1, tmp_path / "one", file_mb=0.03)
    generate(0.1, tmp_path / "two", file_mb=0.03, min_files=2)
    one, two = _rows_per_file(tmp_path / "one"), _rows_per_file(tmp_path / "two")
    for source in SOURCES:
        assert len(one[source]) > 2
        assert [len(rows) for rows in two[source]] == [len(rows) for rows in one[source]]
