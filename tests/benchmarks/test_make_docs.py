import json

from benchmarks import make_docs
from benchmarks.record import write_result


def test_result_file_holds_date_machine_command_and_figures(tmp_path):
    path = write_result("toy", compares="ours vs a peer", headline={"ratio": 1.5}, figures={"ours": {"docs_per_s": 12.0}},
                        folder=tmp_path)
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["benchmark"] == "toy" and record["command"].startswith("python ")
    assert record["date"].endswith("+00:00") and record["machine"]["cores"] >= 1
    assert record["figures"] == {"ours": {"docs_per_s": 12.0}}


def test_page_renders_every_figure_of_a_fixture_result(tmp_path):
    fixture = {
        "benchmark": "dedup_vs_peer", "compares": "exact dedup: ours vs peer, same documents",
        "date": "2026-01-02T03:04:05+00:00", "command": "python benchmarks/dedup_vs_peer.py --repeat 3",
        "machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 8.0, "platform": "Linux", "python": "3.11.7",
                    "load_average_at_start": 0.5, "device": "cpu"},
        "headline": {"ours/peer docs/s": 1.23456},
        "figures": {"documents": 5853, "ours": {"wall_s": 12.5, "kept": 1951},
                    "systems": [{"system": "ours", "precision": 0.99901}, {"system": "peer", "precision": 0.7627}]},
    }
    (tmp_path / "dedup_vs_peer.json").write_text(json.dumps(fixture), encoding="utf-8")
    page = make_docs.render(tmp_path)
    assert "| [dedup_vs_peer](#dedup_vs_peer) | exact dedup: ours vs peer, same documents | ours/peer docs/s 1.235 | 2026-01-02 |" in page
    assert "- command: `python benchmarks/dedup_vs_peer.py --repeat 3`" in page
    assert "- machine: Test CPU, 2 cores, 8.0 GiB, Linux, Python 3.11.7, load average 0.5 at start, device cpu" in page
    assert "| documents | 5,853 |" in page and "| ours.wall_s | 12.5 |" in page and "| ours.kept | 1,951 |" in page
    assert "| system | precision |" in page and "| ours | 0.999 |" in page and "| peer | 0.7627 |" in page


def test_older_result_layout_without_headline_still_renders(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"date": "2026-01-01", "machine": "vm x86_64 2 cpus",
                                                   "command": "python benchmarks/old.py", "wall_s": 3.0}))
    page = make_docs.render(tmp_path)
    assert "## old" in page and "- machine: vm x86_64 2 cpus" in page and "| wall_s | 3 |" in page


def test_docs_page_is_generated_from_the_committed_results():
    assert make_docs.PAGE.read_text(encoding="utf-8") == make_docs.render(), \
        "docs/benchmarks.md is stale: run python -m benchmarks.make_docs"
