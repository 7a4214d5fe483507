"""End to end on CPU: the real trainer (FSDP2 over gloo, DCP checkpoints) on small corpora in the shard format."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import corpus.tokenizer as corpus_tokenizer
from trainer.synthetic import EOS, write_corpus
from trainer import export as export_module
from trainer import train
from trainer.checkpoint import COMPLETE, latest_complete, read_complete
from trainer.export import load_checkpoint
from trainer.model import Layout

VOCAB = 256  # write_corpus default
ROOT = Path(__file__).resolve().parents[2]
GLOBAL_BATCH_TOKENS = 512  # 16 rows at seq 32, 8 rows at seq 64
STEPS = 6  # 3 steps of phase 1 (53 rows: 3 full batches + 5 tail rows), then 3 of phase 2


def write_config(path: Path, **overrides) -> Path:
    config = {"global_batch_tokens": GLOBAL_BATCH_TOKENS, "micro_batch_tokens": 256,
              "optim": {"warmup_steps": 1}, "checkpoint": {"every_steps": 3}} | overrides
    path.write_text(yaml.safe_dump(config))
    return path


def run_trainer(corpus: Path, out: Path, config: Path, max_steps: int) -> None:
    assert train.main(["--corpus", str(corpus), "--preset", "tiny", "--out", str(out), "--config", str(config),
                       "--max-steps", str(max_steps), "--device", "cpu"]) == 0


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def trajectory(run_dir: Path) -> list[tuple]:
    return [(m["step"], m["phase"], m["seq_len"], m["phase_position"], m["loss"], m["grad_norm"], m["lr"])
            for m in metrics(run_dir)]


def run_process_group(command: list[str], timeout: float) -> tuple[int, str]:
    """Run torchrun in its own session; on timeout kill the whole group, so no rank outlives the test."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return process.returncode, stderr


def write_tokenizer(directory: Path) -> int:
    """A real korpus tokenizer (special tokens and bytes only: the smallest vocabulary) for the export test."""
    from corpus.tokenizer import train

    tokenizer = train(["마감이 잘 안돼서 불편했고", "def f(x):\n    return x"], 320)
    tokenizer.save(directory)
    return tokenizer.vocab_size


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    vocab = write_tokenizer(root / "tokenizer")
    return write_corpus(root, [("phase1_4k", 32, 53), ("phase2_32k", 64, 40)], vocab_size=vocab)


@pytest.fixture(scope="module")
def straight_run(corpus: Path, tmp_path_factory) -> Path:
    """STEPS steps without interruption, in fp32 (param_dtype auto on CPU; bf16_run is the bf16 twin)."""
    out = tmp_path_factory.mktemp("straight")
    run_trainer(corpus, out / "run", write_config(out / "train.yaml"), STEPS)
    return out / "run"


BF16_STEPS = 4
BF16_CONFIG = {"param_dtype": "bfloat16", "checkpoint": {"every_steps": BF16_STEPS // 2}}


@pytest.fixture(scope="module")
def bf16_run(corpus: Path, tmp_path_factory) -> Path:
    """BF16_STEPS steps in bf16 without interruption."""
    out = tmp_path_factory.mktemp("bf16")
    run_trainer(corpus, out / "run", write_config(out / "train.yaml", **BF16_CONFIG), BF16_STEPS)
    return out / "run"


def test_phase_switch_happens_after_phase_one_tokens_with_the_long_seq_len(straight_run: Path):
    rows = metrics(straight_run)
    assert [(m["phase"], m["seq_len"]) for m in rows] == [("phase1_4k", 32)] * 3 + [("phase2_32k", 64)] * 3
    assert [m["tokens"] for m in rows] == [GLOBAL_BATCH_TOKENS * s for s in range(1, STEPS + 1)]
    assert [m["phase_position"] for m in rows] == [0, 16, 32, 0, 8, 16]
    phases = json.loads((straight_run / "run.json").read_text())["phases"]
    assert [(s["name"], s["rope_base"], s["steps"], s["tail_rows"]) for s in phases] == [
        ("phase1_4k", 10_000.0, 3, 5), ("phase2_32k", 500_000.0, 5, 0)]
    assert read_complete(latest_complete(straight_run / "checkpoints"))["model_config"]["rope_base"] == 500_000.0


def test_exact_resume_gives_identical_losses_and_parameters(corpus: Path, straight_run: Path, tmp_path: Path):
    config = write_config(tmp_path / "train.yaml")
    run_trainer(corpus, tmp_path / "run", config, STEPS // 2)
    run_trainer(corpus, tmp_path / "run", config, STEPS)
    assert trajectory(tmp_path / "run") == trajectory(straight_run)
    resumed = load_checkpoint(latest_complete(tmp_path / "run" / "checkpoints")).state_dict()
    straight = load_checkpoint(latest_complete(straight_run / "checkpoints")).state_dict()
    assert all(torch.equal(resumed[name], straight[name]) for name in straight)


def test_exact_resume_in_bfloat16_gives_identical_losses_and_parameters(corpus: Path, bf16_run: Path, tmp_path: Path):
    # bf16 parameters and compute (FSDP2 mixed precision, fp32 master weights and optimizer state), as on a GPU.
    config = write_config(tmp_path / "train.yaml", **BF16_CONFIG)
    run_trainer(corpus, tmp_path / "resumed", config, BF16_STEPS // 2)
    run_trainer(corpus, tmp_path / "resumed", config, BF16_STEPS)
    assert json.loads((tmp_path / "resumed" / "run.json").read_text())["param_dtype"] == "bfloat16"
    assert trajectory(tmp_path / "resumed") == trajectory(bf16_run)
    resumed = load_checkpoint(latest_complete(tmp_path / "resumed" / "checkpoints")).state_dict()
    straight = load_checkpoint(latest_complete(bf16_run / "checkpoints")).state_dict()
    assert all(torch.equal(resumed[name], straight[name]) for name in straight)


def test_two_gloo_processes_then_resume_on_one_trains_every_row_once(corpus: Path, straight_run: Path,
                                                                      tmp_path: Path):
    config = write_config(tmp_path / "train.yaml")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "trainer.train", "--corpus", str(corpus), "--preset", "tiny", "--out", str(tmp_path / "run"),
               "--config", str(config), "--max-steps", "4", "--device", "cpu"]
    returncode, stderr = run_process_group(command, timeout=240)
    assert returncode == 0, stderr[-3000:]
    assert read_complete(latest_complete(tmp_path / "run" / "checkpoints"))["world_size"] == 2
    run_trainer(corpus, tmp_path / "run", config, STEPS)  # one process picks up the two-process checkpoint
    ours, reference = metrics(tmp_path / "run"), metrics(straight_run)
    # The global positions (hence rows: the order is rank-independent) continue exactly where two ranks stopped.
    assert [(m["phase"], m["phase_position"], m["tokens"]) for m in ours] == [
        (m["phase"], m["phase_position"], m["tokens"]) for m in reference]
    for a, b in zip(ours, reference):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)


def test_partial_and_corrupt_checkpoints_are_skipped_and_training_resumes_from_the_last_good_one(
        corpus: Path, straight_run: Path, tmp_path: Path, caplog):
    run = tmp_path / "run"
    shutil.copytree(straight_run, run)
    checkpoints = run / "checkpoints"
    shard = checkpoints / "step_00000006" / "__0_0.distcp"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    partial = checkpoints / "step_00000009"
    partial.mkdir()
    (partial / ".metadata").write_bytes(b"interrupted")
    with caplog.at_level(logging.WARNING):
        assert latest_complete(checkpoints) == checkpoints / "step_00000003"
    assert f"no {COMPLETE}" in caplog.text and "does not match" in caplog.text
    run_trainer(corpus, run, write_config(tmp_path / "train.yaml"), STEPS)
    assert trajectory(run) == trajectory(straight_run)


def test_param_dtype_auto_is_float32_on_cpu_and_bfloat16_still_trains(straight_run: Path, bf16_run: Path):
    assert json.loads((straight_run / "run.json").read_text())["param_dtype"] == "float32"  # auto on CPU
    assert json.loads((bf16_run / "run.json").read_text())["param_dtype"] == "bfloat16"
    bf16, fp32 = metrics(bf16_run), metrics(straight_run)[:BF16_STEPS]
    for low, full in zip(bf16, fp32, strict=True):  # the same steps in bf16 compute: close to fp32, not equal
        assert low["loss"] == pytest.approx(full["loss"], rel=1e-2) and low["loss"] != full["loss"]


def test_activation_checkpointing_recomputes_the_same_training_step(corpus: Path, straight_run: Path, tmp_path: Path):
    run_trainer(corpus, tmp_path / "run", write_config(tmp_path / "train.yaml", activation_checkpointing=True), 2)
    assert trajectory(tmp_path / "run") == trajectory(straight_run)[:2]


def test_loss_falls_on_a_small_corpus(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", [("phase1_4k", 32, 200)])
    config = write_config(tmp_path / "train.yaml", global_batch_tokens=256, param_dtype="float32",
                          optim={"warmup_steps": 2, "lr": 1.0e-2}, checkpoint={"every_steps": 100})
    run_trainer(corpus, tmp_path / "run", config, 25)
    losses = [m["loss"] for m in metrics(tmp_path / "run")]
    assert losses[0] == pytest.approx(torch.log(torch.tensor(float(VOCAB))).item(), rel=0.05)  # uniform at init
    assert sum(losses[-5:]) / 5 < 0.7 * losses[0]  # 5.5 -> ~3.4 nats in 25 steps of 256 tokens


def test_export_loads_in_transformers_and_gives_our_logits_and_training_token_ids(
        corpus: Path, straight_run: Path, tmp_path: Path):
    from transformers import AutoTokenizer, LlamaForCausalLM

    out = export_module.export(straight_run, tmp_path / "hf", dtype=torch.float32)
    hf = LlamaForCausalLM.from_pretrained(out).eval()
    assert hf.config.rope_parameters["rope_theta"] == 500_000.0
    ours = load_checkpoint(latest_complete(straight_run / "checkpoints")).eval()
    tokens = torch.randint(1, hf.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ours(tokens, Layout(torch.arange(48).expand(2, -1), None))
        torch.testing.assert_close(hf(tokens).logits, expected, rtol=1e-5, atol=1e-5)
        # Packed documents: HF masks within documents from restarting position_ids, as our document masking does
        # (benchmarks/train_mfu.py's peer relies on it). Only without a KV cache: with one, HF skips that mask.
        positions = torch.cat([torch.arange(20), torch.arange(28)]).expand(2, -1)
        doc_ids = torch.cat([torch.zeros(20, dtype=torch.long), torch.ones(28, dtype=torch.long)]).expand(2, -1)
        packed = ours(tokens, Layout(positions, doc_ids))
        torch.testing.assert_close(hf(tokens, position_ids=positions, use_cache=False).logits, packed,
                                   rtol=1e-5, atol=1e-5)
    text = "마감이 잘 안돼서 <|endoftext|> def f(x):"
    tokenizer = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    assert tokenizer.eos_token_id == EOS and tokenizer.model_max_length == 64
    assert tokenizer(text)["input_ids"] == corpus_tokenizer.load(corpus / "tokenizer").encode(text)
    for refused in (None, False):  # without the shipped class, nothing loads (no other ids, silently)
        with pytest.raises(ValueError, match="trust_remote_code=True"):
            AutoTokenizer.from_pretrained(out, trust_remote_code=refused)


def test_sigterm_checkpoints_the_current_step_and_exits_cleanly(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", [("phase1_4k", 32, 4000)])
    config = write_config(tmp_path / "train.yaml", checkpoint={"every_steps": 1000})
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "trainer.train", "--corpus", str(corpus), "--preset", "tiny",
                                "--out", str(run), "--config", str(config), "--device", "cpu"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text()):
        assert process.poll() is None and time.monotonic() < deadline, "trainer exited or never logged a step"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    last = metrics(run)[-1]["step"]
    assert last < 250  # stopped long before the 250 planned steps
    assert read_complete(latest_complete(run / "checkpoints"))["step"] == last
