import gzip
import json

from benchmarks.scaled_input import generate


def _files_and_rows(folder):
    files = sorted(folder.glob("*/*.jsonl.gz"))
    rows = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return files, rows


def test_min_files_splits_every_source_without_changing_the_documents(shared_data, tmp_path):
    # At a tenth of the sample every source fits in one 4 MB file; with min_files=2 each is cut in
    # two, so that each of two workers reads every language.
    one_bytes = generate(0.1, tmp_path / "one", file_mb=4.0)
    two_bytes = generate(0.1, tmp_path / "two", file_mb=4.0, min_files=2)
    one_files, one_rows = _files_and_rows(tmp_path / "one")
    two_files, two_rows = _files_and_rows(tmp_path / "two")
    assert one_bytes == two_bytes and one_rows == two_rows
    sources = {"ko", "multi", "code"}
    assert sorted(p.name.rsplit("-", 1)[0] for p in one_files) == sorted(sources)
    for source in sources:
        assert len([p for p in two_files if p.name.startswith(f"{source}-")]) == 2
