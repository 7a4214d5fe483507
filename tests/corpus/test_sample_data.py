"""The demo inputs: a byte copy of ../shared/data when present, else a deterministic sample of
real text shipped in packages, readable by our readers without a single error."""
from __future__ import annotations

import gzip
import json
import zipfile

from corpus.readers import ReaderConfig, ReadFileFn, plan_shards, resolve_inputs
from corpus.sample_data import write_sample


def _fake_konlpy_wheel(cache):
    """A wheel-shaped zip holding two Korean texts where konlpy keeps its corpus (the real wheel
    is 19 MB and comes from the package index)."""
    cache.mkdir()
    with zipfile.ZipFile(cache / "konlpy-0.6.0-py2.py3-none-any.whl", "w") as wheel:
        wheel.writestr("konlpy/data/corpus/kolaw/constitution.txt", "대한민국헌법\n\n제1조 대한민국은 민주공화국이다.")
        wheel.writestr("konlpy/data/corpus/kobill/1809890.txt", "지방공무원법 일부개정법률안")
        wheel.writestr("konlpy/__init__.py", "")


def test_shared_data_is_copied_byte_for_byte(shared_data, tmp_path):
    written = write_sample(tmp_path / "sample", shared=shared_data, cache=tmp_path / "cache")
    assert sorted(p.relative_to(tmp_path / "sample").as_posix() for p in written) == [
        "code/code.jsonl.gz", "text/ko.jsonl.gz", "text/multi.jsonl.gz"]
    assert (tmp_path / "sample" / "text" / "ko.jsonl.gz").read_bytes() == (shared_data / "ko.jsonl.gz").read_bytes()


def test_fallback_sample_is_deterministic_real_text_that_reads_without_errors(tmp_path):
    _fake_konlpy_wheel(tmp_path / "cache")
    first = write_sample(tmp_path / "a", shared=tmp_path / "absent", cache=tmp_path / "cache")
    second = write_sample(tmp_path / "b", shared=tmp_path / "absent", cache=tmp_path / "cache")
    assert [p.name for p in first] == ["ko_konlpy.jsonl.gz", "multi_spacy_examples.jsonl.gz",
                                       "en_pydoc_topics.jsonl.gz", "python_stdlib.jsonl.gz"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]

    korean = [json.loads(line) for line in gzip.open(first[0], "rt", encoding="utf-8")]
    assert [r["id"] for r in korean] == ["konlpy:kobill/1809890.txt", "konlpy:kolaw/constitution.txt"]
    languages = {json.loads(line)["lang"] for line in gzip.open(first[1], "rt", encoding="utf-8")}
    assert {"de", "ja", "ru", "zh"} <= languages

    resolved = resolve_inputs([str(tmp_path / "a" / "text" / "*.jsonl.gz")],
                              [str(tmp_path / "a" / "code" / "*.jsonl.gz")], ReaderConfig().skip)
    outputs = [o for shard in plan_shards(resolved.files) for o in ReadFileFn(ReaderConfig()).process(shard)]
    assert not [o for o in outputs if getattr(o, "tag", None) == "errors"]
    assert sum(1 for o in outputs if not hasattr(o, "tag")) > 300
