"""``python -m pii IN.jsonl OUT.jsonl``: streams, scrubs, reports bad lines without crashing."""
from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from pii.__main__ import main, run
from pii.scrubber import Scrubber

ROOT = Path(__file__).resolve().parents[2]


def test_cli_scrubs_each_record_and_keeps_its_other_fields(tmp_path, capsys):
    records = [
        {"id": "a", "text": "연락처 010-1234-5678", "source": "web", "lang": "ko"},
        {"id": "b", "text": "no pii here", "license": "cc-by"},
        {"id": "c", "text": 'password = "hunter2!"', "bucket": "code"},
    ]
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    assert main([str(src), str(dst)]) == 0
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in out] == ["a", "b", "c"]
    assert out[0] == {"id": "a", "text": "연락처 <|pii:phone|>", "source": "web", "lang": "ko",
                      "pii": [{"type": "phone", "start": 4, "end": 17, "score": 1.0, "rule": "kr_mobile"}]}
    assert out[1]["text"] == "no pii here" and out[1]["pii"] == [] and out[1]["license"] == "cc-by"
    assert out[2]["text"] == 'password = "<|pii:secret|>"'
    assert "3 lines, 3 written, 0 bad; findings: phone=1, secret=1" in capsys.readouterr().err


def test_bad_lines_are_reported_left_out_and_make_the_exit_status_nonzero(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl.gz", tmp_path / "out.jsonl"
    lines = [b'{"id": "ok", "text": "mail kim@example.com"}', b"{not json", b'["a list"]', b'{"id": "x"}',
             b'{"id": "y", "text": 12}', b'{"id": "z", "text": "\xff\xfe"}', b"", b'{"id": "ok2", "text": "fine"}']
    with gzip.open(src, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    assert main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2: malformed JSON" in err
    assert f"{src}:3: JSON record is list, expected an object" in err
    assert f"{src}:4: no string field 'text'" in err
    assert f"{src}:5: no string field 'text'" in err
    assert f"{src}:6: invalid UTF-8 in line at byte 21" in err
    assert "8 lines, 2 written, 5 bad" in err
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["text"]) for r in out] == [("ok", "mail <|pii:email|>"), ("ok2", "fine")]


def test_hostile_lines_never_stop_the_run_and_every_good_record_is_written(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    hostile = [
        b'{"id": "s1", "text": "half \\ud800 pair"}',  # a lone surrogate in the text
        b'{"id": "s2", "text": "fine", "title": "\\udfff"}',  # ... and in another field
        b'{"id": "deep", "text": "x", "n": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"id": "int", "text": "x", "n": ' + b"7" * 20_000 + b"}",
        '{"id": "sep", "text": "one\u2028record\x85still\x0cone"}'.encode("utf-8"),
    ]
    good = [json.dumps({"id": f"g{i}", "text": f"good {i}"}).encode() for i in range(3)]
    src.write_bytes(b"\n".join([good[0], *hostile[:2], good[1], *hostile[2:], good[2]]) + b"\n")
    assert main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2: 'text' is not valid Unicode (surrogates not allowed at char 5)" in err
    assert f"{src}:3: record is not valid Unicode" in err
    assert f"{src}:5: JSON nested deeper than 128 levels" in err
    assert f"{src}:6: JSON integer of 20,000 digits (limit 4,300)" in err
    assert "8 lines, 4 written, 4 bad" in err and "Traceback" not in err
    out = [json.loads(line) for line in dst.read_bytes().split(b"\n") if line]
    assert [r["id"] for r in out] == ["g0", "g1", "sep", "g2"]
    assert out[2]["text"] == "one\u2028record\x85still\x0cone"


def test_output_appears_only_complete_and_no_temporary_file_is_left(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl.gz"
    src.write_text('{"text": "a"}\n', encoding="utf-8")
    assert main([str(src), str(dst)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl.gz"]
    assert json.loads(gzip.decompress(dst.read_bytes()))["text"] == "a"


def test_zst_input_is_scrubbed_to_a_zst_output(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl.zst", tmp_path / "out.jsonl.zst"
    records = [{"id": "a", "text": "mail kim@example.com"}, {"id": "b", "text": "전화 010-1234-5678"}]
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    src.write_bytes(zstandard.ZstdCompressor().compress(payload))
    assert main([str(src), str(dst)]) == 0
    with zstandard.ZstdDecompressor().stream_reader(dst.open("rb")) as reader:
        out = [json.loads(line) for line in reader.read().decode("utf-8").splitlines()]
    assert [(r["id"], r["text"]) for r in out] == [("a", "mail <|pii:email|>"), ("b", "전화 <|pii:phone|>")]
    assert "2 lines, 2 written, 0 bad; findings: email=1, phone=1" in capsys.readouterr().err


@pytest.mark.parametrize("name, damage", [("in.jsonl.zst", "truncated"), ("in.jsonl.zst", "not_compressed"),
                                          ("in.jsonl.gz", "not_compressed")])
def test_damaged_compressed_input_is_a_reported_bad_line_not_a_traceback(tmp_path, capsys, name, damage):
    src, dst = tmp_path / name, tmp_path / "out.jsonl"
    good = b'{"id": "ok", "text": "fine"}\n'
    if damage == "truncated":  # a whole first frame, then an interrupted one
        compressor = zstandard.ZstdCompressor()
        rest = compressor.compress(b'{"id": "lost", "text": "never read"}\n' * 100)
        src.write_bytes(compressor.compress(good) + rest[: len(rest) // 2])
    else:
        src.write_bytes(good)
    assert main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    first_unread = 2 if damage == "truncated" else 1
    assert f"{src}:{first_unread}: corrupt compressed stream: " in err and "Traceback" not in err
    assert f"{first_unread - 1} lines, {first_unread - 1} written, 1 bad" in err
    written = [json.loads(line)["id"] for line in dst.read_text(encoding="utf-8").splitlines()]
    assert written == (["ok"] if damage == "truncated" else [])

def test_run_streams_line_by_line():
    source = io.BytesIO(b'{"text": "a 010-1234-5678"}\n{"text": "b"}\n')
    sink, errors = io.StringIO(), io.StringIO()
    tally = run(source, sink, errors, "mem", Scrubber(["phone"]))
    assert (tally.lines, tally.written, tally.bad) == (2, 2, 0)
    assert sink.getvalue().splitlines()[0].startswith('{"text": "a <|pii:phone|>"')


def test_python_dash_m_pii_entry_point(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "1", "text": "IP 8.8.4.4"}\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pii", str(src), str(dst)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(dst.read_text(encoding="utf-8"))["text"] == "IP <|pii:ip_address|>"


def test_a_missing_input_or_unwritable_output_is_a_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path / "missing.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    assert capsys.readouterr().err.strip() == f"python -m pii: {tmp_path / 'missing.jsonl'}: No such file or directory"
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n', encoding="utf-8")
    assert main([str(src), str(tmp_path / "no-such-dir" / "out.jsonl")]) == 2
    assert "no-such-dir" in capsys.readouterr().err and not (tmp_path / "no-such-dir").exists()
