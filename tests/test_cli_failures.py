"""What the CLI does when the machine or the previous step failed: a full disk, an unwritable
output, a missing tokenizer, a step that did not finish. Each is one line naming the path, found
before any work where it can be, and a torn output is never consumed as if it were whole."""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from beam_pipeline import main
from corpus.completion import MARKER_NAME, write_marker
from corpus.io_errors import describe
from tests.conftest import read_sample

CONFIG = "pii: {enabled: false}\n"


def _inputs(root: Path, count: int = 30) -> Path:
    path = root / "ko.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_sample("ko", count)),
                    encoding="utf-8")
    (root / "curate.yaml").write_text(CONFIG)
    return path


@pytest.fixture
def full_disk(tmp_path):
    """A 96 KiB tmpfs: room for the write probe and a few files, not for curate's outputs."""
    mount = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_curate_on_a_full_disk_is_one_line_naming_the_output_and_build_refuses_the_torn_output(
        tmp_path, full_disk, capsys):
    src, out = _inputs(tmp_path, 40), full_disk / "out"
    with pytest.raises(SystemExit) as stopped:
        main(["curate", "--input", str(src), "--config", str(tmp_path / "curate.yaml"), "--output", str(out)])
    message = str(stopped.value)
    assert "\n" not in message and message.startswith(f"curate: error: {out}")
    assert "No space left on device" in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (out / MARKER_NAME).exists()
    with pytest.raises(SystemExit, match=rf"build: error: {out} has no {MARKER_NAME}.*--allow-incomplete-input"):
        main(["build", "--curated", str(out / "curated"), "--tokenizer", str(tmp_path / "tok"),
              "--output", str(tmp_path / "corpus")])


def test_an_unwritable_output_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    src = _inputs(tmp_path, 3)
    for argv in (["curate", "--input", str(src), "--output", str(blocker / "out")],
                 ["tokenizer", "--curated", str(tmp_path / "curated"), "--output", str(blocker / "tok"),
                  "--allow-incomplete-input"]):
        with pytest.raises(SystemExit, match=rf"^{argv[0]}: error: {blocker}/\w+: Not a directory$"):
            main(argv)


def test_tokenizer_refuses_a_curated_directory_whose_curate_did_not_finish(tmp_path):
    (tmp_path / "out" / "curated" / "korean").mkdir(parents=True)
    with pytest.raises(SystemExit, match=rf"^tokenizer: error: {tmp_path / 'out'} has no {MARKER_NAME}: the curate "
                                         r"step .* \[--allow-incomplete-input\]$"):
        main(["tokenizer", "--curated", str(tmp_path / "out" / "curated"), "--output", str(tmp_path / "tok")])


def test_build_with_a_missing_tokenizer_is_a_one_line_error(tmp_path):
    out = tmp_path / "out"
    (out / "curated").mkdir(parents=True)
    write_marker(out, "curate", {})
    with pytest.raises(SystemExit, match=rf"^build: error: {tmp_path / 'MISSING'}: no tokenizer.json there"):
        main(["build", "--curated", str(out / "curated"), "--tokenizer", str(tmp_path / "MISSING"),
              "--output", str(out / "corpus")])


def test_trainer_refuses_a_corpus_directory_without_the_build_marker(tmp_path):
    import sys

    from trainer.synthetic import write_corpus

    corpus = write_corpus(tmp_path / "corpus", [("phase1_4k", 32, 8)])
    (corpus / MARKER_NAME).unlink()  # as a build killed before its end leaves it
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--corpus", str(corpus), "--preset", "tiny",
                           "--out", str(tmp_path / "run"), "--device", "cpu"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"train: error: {corpus} has no {MARKER_NAME}: the build step that wrote it did not finish "
        f"(rerun it, or pass the override flag to read it anyway) [--allow-incomplete-input]")
    assert not (tmp_path / "run").exists()


def test_an_io_error_beam_reraised_names_the_fallback_directory_and_the_step():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as cause:
            raise RuntimeError("OSError: [Errno 28] No space left on device [while running 'WriteRejected/Write']") \
                from cause
    except RuntimeError as exc:
        assert describe(exc, "OUT") == "OUT: No space left on device (while running 'WriteRejected/Write')"
    assert describe(ValueError("not an I/O error"), "OUT") is None
    assert describe(FileNotFoundError(2, "No such file or directory", b"caf\xe9"), None) == \
        "caf\\xe9: No such file or directory"
