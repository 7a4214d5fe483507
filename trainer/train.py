"""Train on a built corpus: ``python -m trainer.train --corpus OUT/corpus --preset NAME --out RUN_DIR``.

Several processes or nodes: ``torchrun --nproc-per-node 8 -m trainer.train ...`` (NCCL on GPU, gloo on CPU).
A run resumes automatically from the newest complete checkpoint in RUN_DIR, on any number of ranks.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist

from corpus import io_errors
from corpus.completion import IncompleteInputError, require_complete
from corpus.config import load, to_dict
from corpus.locks import LockedError, directory_lock
from corpus.storage import is_url
from corpus.tokenizer.specials import FIM_PAD
from corpus.writable import require_writable
from trainer.checkpoint import CheckpointManager
from trainer.config import TrainConfig, preset
from trainer.corpus_cache import DEFAULT_CACHE, CorpusSource
from trainer.data import ShardLoader, StepBatch, corpus_fingerprint, plan_training_phases, verify_corpus_files
from trainer.metrics import MetricsLog, attended_length, flops_per_token, memory_gib, peak_bf16_flops
from trainer.model import IGNORE_INDEX, Transformer
from trainer.optim import LRSchedule, build_optimizer
from trainer.parallelize import DistEnv, init_distributed, parallelize
from trainer.prefetch import PrefetchingLoader

log = logging.getLogger("trainer")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, help="built corpus directory (with manifest.json), or its gs://, "
                   "s3://, ... URL: each rank then downloads the shards it reads into --corpus-cache")
    p.add_argument("--corpus-cache", default=None, help=f"local cache of a URL corpus (default {DEFAULT_CACHE}, "
                   "$KORPUS_CACHE/corpus if set)")
    p.add_argument("--preset", required=True, help="model size: tiny, 137M, 350M, 760M, 1.3B, 6.9B, 13B, 39B, 82B")
    p.add_argument("--out", required=True, help="run directory: checkpoints, metrics.jsonl, run.json")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop (with a checkpoint) after this many optimizer steps in total; the LR schedule "
                        "still spans the whole corpus, so a stopped run resumes exactly")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--config", default=None, help="training config YAML (trainer.config.TrainConfig)")
    p.add_argument("--allow-incomplete-input", action="store_true",
                   help="train on a corpus directory whose build did not finish (no completion marker)")
    return p.parse_args(argv)


@contextmanager
def claimed_run_dir(args: argparse.Namespace) -> Iterator[None]:
    """Before any work: the corpus must be a finished build, and RUN_DIR writable and not in use by
    another trainer (``corpus.locks``; taken by the launch's first rank, whose ranks share it)."""
    try:
        require_complete(args.corpus, "build", args.allow_incomplete_input)
    except IncompleteInputError as exc:
        raise SystemExit(f"train: error: {exc} [--allow-incomplete-input]") from exc
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    with io_errors.reported("train", args.out):
        require_writable(args.out)
    try:
        with directory_lock(args.out, "python -m trainer.train"):
            yield
    except LockedError as exc:
        raise SystemExit(f"train: error: {exc}") from exc


class _StopFlag:
    """Set by SIGTERM/SIGINT; checked at step boundaries so the run checkpoints and exits cleanly."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame) -> None:
        log.warning("signal %d: stopping after this step with a checkpoint", signum)
        self.requested = True

    def agreed(self, device: torch.device) -> bool:
        """Collective: stop when any rank was signalled, so all ranks leave the loop at the same step."""
        flag = torch.tensor([1 if self.requested else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class Trainer:
    """Builds everything from the corpus manifest and the config, resumes if it can, and runs the loop."""

    def __init__(self, args: argparse.Namespace, config: TrainConfig, env: DistEnv) -> None:
        self.args, self.config, self.env = args, config, env
        self.run_dir = Path(args.out)
        source = CorpusSource(args.corpus, args.corpus_cache, hashes=config.verify_corpus == "sha256")
        manifest = source.manifest  # a URL corpus is checked file by file as each rank fetches it
        problems = [] if source.remote else verify_corpus_files(manifest, env.rank, env.world_size,
                                                                hashes=config.verify_corpus == "sha256")
        for problem in problems:
            log.error("corpus: %s", problem)
        if _any_rank(bool(problems), env):
            raise SystemExit("corpus files do not match manifest.json; refusing to train")

        self.plans = plan_training_phases(manifest, config.global_batch_tokens, config.micro_batch_tokens, env.world_size)
        model_preset = preset(args.preset)
        self.model_config = model_preset.model_config(manifest.tokenizer.vocab_size, config.rope_base(self.plans[0].name))
        self.backend = config.attention_backend if config.attention_backend != "auto" else (
            "flex" if env.device.type == "cuda" else "sdpa")
        with torch.device("meta"):  # no full-size copy on any rank: shard first, then materialise the shard
            self.model = Transformer(self.model_config, self.backend)
        self.param_dtype = config.param_dtype if config.param_dtype != "auto" else (
            "bfloat16" if env.device.type == "cuda" else "float32")
        parallelize(self.model, env.mesh, self.param_dtype, config.activation_checkpointing, config.compile)
        self.model.to_empty(device=env.device)
        self.model.init_weights(config.seed)
        self.peak_lr = config.optim.lr if config.optim.lr is not None else model_preset.lr
        self.optimizer = build_optimizer(self.model, config.optim, self.peak_lr, env.device)
        self.schedule = LRSchedule.from_config(config.optim, self.peak_lr, sum(p.steps for p in self.plans))
        shards = ShardLoader(source.root, self.plans, corpus_fingerprint(manifest), env.rank, env.world_size,
                             config.seed, document_masking=config.attention == "document",
                             fim_pad_id=manifest.tokenizer.special_tokens.get(FIM_PAD), fetch=source.fetch)
        self.loader = PrefetchingLoader(shards, config.prefetch_steps, pin_memory=env.device.type == "cuda")
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", config.checkpoint.keep, env.rank,
                                             env.world_size, env.device)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl", enabled=env.is_main)
        self.step, self.tokens_seen = 0, 0
        self.last_saved: int | None = None

    def resume(self) -> None:
        state = self.checkpoints.load_latest(self.model, self.optimizer)
        if state is None:
            return
        self.step, self.tokens_seen = state["step"], state["tokens"]
        self.loader.load_state_dict(state["loader"])
        self.metrics.truncate_after(self.step)
        self.last_saved = self.step
        if self.env.is_main:
            log.info("resuming at step %d (%d tokens seen) on %d rank(s)", self.step, self.tokens_seen,
                     self.env.world_size)

    def write_run_record(self) -> None:
        """RUN_DIR/run.json (also printed): everything that determines the run, for people and for export."""
        if not self.env.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        corpus = self.args.corpus if is_url(self.args.corpus) else str(Path(self.args.corpus).resolve())
        record = {"corpus": corpus, "preset": self.args.preset,
                  "model": asdict(self.model_config), "params": self.model_config.num_params(),
                  "train": to_dict(self.config), "world_size": self.env.world_size, "device": str(self.env.device),
                  "attention_backend": self.backend, "param_dtype": self.param_dtype, "peak_lr": self.peak_lr,
                  "schedule": asdict(self.schedule),
                  "phases": [asdict(p) | {"rope_base": self.config.rope_base(p.name), "tail_rows": p.tail_rows,
                                          "tokens_per_step": p.tokens_per_step} for p in self.plans]}
        text = json.dumps(record, indent=2, sort_keys=True)
        (self.run_dir / "run.json").write_text(text + "\n")
        log.info("run config:\n%s", text)

    def run(self) -> None:
        stop = _StopFlag()
        try:
            self._loop(stop)
        finally:
            stop.restore()
            self.loader.close()

    def _loop(self, stop: _StopFlag) -> None:
        max_steps = self.args.max_steps
        current_phase = None
        while max_steps is None or self.step < max_steps:
            # An iteration is timed whole: waiting for data, the copy to the device, forward, backward, the
            # optimizer step and the collectives (not the checkpoint saves between iterations).
            started = time.perf_counter()
            batch = self.loader.next_step()
            data_wait = time.perf_counter() - started
            if batch is None:
                log.info("all phases done at step %d", self.step)
                break
            if batch.phase_index != current_phase:
                self._enter_phase(batch)
                current_phase = batch.phase_index
            lr = self.schedule(self.step)
            result = _train_step(self.model, self.optimizer, batch, lr, self.config, self.env)
            if self.env.device.type == "cuda":
                torch.cuda.synchronize(self.env.device)
            self.step += 1
            self.tokens_seen += batch.plan.tokens_per_step
            self._log_step(batch, result, lr, time.perf_counter() - started, data_wait)
            if self.step % self.config.checkpoint.every_steps == 0:
                self._save()
            if stop.agreed(self.env.device):
                break
        if self.last_saved != self.step:
            self._save()

    def _enter_phase(self, batch: StepBatch) -> None:
        rope_base = self.config.rope_base(batch.plan.name)
        self.model.set_rope_base(rope_base)
        if self.env.is_main:
            plan = batch.plan
            log.info("phase %s from step %d (%d tokens seen): seq_len %d, rope_base %g, %d rows per step, "
                     "%d rows x %d micro-batches per rank", plan.name, self.step, self.tokens_seen, plan.seq_len,
                     rope_base, plan.rows_per_step, plan.micro_rows, plan.accumulation)

    def _log_step(self, batch: StepBatch, result: StepResult, lr: float, elapsed: float, data_wait: float) -> None:
        plan = batch.plan
        tokens_per_s = plan.tokens_per_step / elapsed
        per_device = tokens_per_s / self.env.world_size
        peak = peak_bf16_flops(self.env.device)
        # Attention FLOPs as computed (over each document under document masking) and by the full-causal
        # convention (over the whole row), the figure published MFUs use.
        attended = attended_length(result.attention_square, plan.tokens_per_step)
        flops = flops_per_token(self.model_config, attended)
        flops_full = flops_per_token(self.model_config, plan.seq_len)
        mfu = per_device * flops / peak if peak else None
        mfu_full = per_device * flops_full / peak if peak else None
        mem, mem_kind = memory_gib(self.env.device)
        self.metrics.write({
            "step": self.step, "phase": plan.name, "seq_len": plan.seq_len, "loss": result.loss, "lr": lr,
            "grad_norm": result.grad_norm, "skipped": result.skipped, "tokens": self.tokens_seen,
            "target_tokens": result.target_tokens, "phase_position": batch.position,
            "tokens_per_s": tokens_per_s, "tokens_per_s_per_device": per_device, "mfu": mfu,
            "mfu_full_causal": mfu_full, "flops_per_token": flops, "flops_per_token_full_causal": flops_full,
            "attended_length": attended, "memory_gib": mem, "memory_kind": mem_kind, "step_time_s": elapsed,
            "data_wait_s": data_wait})
        if self.env.is_main:
            mfu_text = (f"{100 * mfu:.1f}% (full-causal count {100 * mfu_full:.1f}%)" if mfu is not None
                        else f"n/a (FLOPs/token {flops:.3g}, full-causal {flops_full:.3g})")
            print(f"step {self.step} | {plan.name} seq {plan.seq_len} | loss {result.loss:.4f} | lr {lr:.3g} | "
                  f"gnorm {result.grad_norm:.3f} | {per_device:,.0f} tok/s/dev | data wait {1000 * data_wait:.1f} ms"
                  f" | mfu {mfu_text} | mem {mem:.2f} GiB", flush=True)

    def _save(self) -> None:
        state = {"step": self.step, "tokens": self.tokens_seen, "loader": self.loader.state_dict(),
                 "schedule": asdict(self.schedule)}
        self.checkpoints.save(self.step, self.model, self.optimizer, state)
        self.last_saved = self.step


@dataclass(frozen=True)
class StepResult:
    loss: float  # mean over every target token of the global batch
    grad_norm: float
    skipped: bool
    target_tokens: int  # global count of positions with a target (the loss mask's complement)
    attention_square: int  # global sum of squared attention-span lengths (trainer.data.MicroBatch)


def _train_step(model: Transformer, optimizer: torch.optim.Optimizer, batch: StepBatch, lr: float,
                config: TrainConfig, env: DistEnv) -> StepResult:
    """One optimizer step over this rank's micro-batches. The loss is the mean over every target token of the
    global batch (not a mean of per-rank or per-micro-batch means), so it is independent of the rank count."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    micro_batches = [mb.to(env.device) for mb in batch.micro_batches]
    counts = torch.stack([torch.stack([(mb.labels != IGNORE_INDEX).sum() for mb in micro_batches]).sum(),
                          torch.tensor(sum(mb.attention_square for mb in micro_batches), device=env.device)])
    counts = counts.to(torch.float64)  # exact: squares of a 32k row over a global batch stay below 2**53
    dist.all_reduce(counts)
    counted = counts[0].item()
    # FSDP averages gradients over ranks; scaling by world_size / global count turns that into the global mean.
    scale = env.world_size / max(counted, 1.0)
    loss_sum = torch.zeros((), dtype=torch.float32, device=env.device)
    for mb in micro_batches:
        micro_loss, _ = model(mb.tokens, mb.layout, mb.labels, config.loss_chunk_tokens)
        (micro_loss * scale).backward()
        loss_sum += micro_loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
    skipped = not math.isfinite(grad_norm.item())
    if skipped:  # one bad batch must not poison the weights; the step is logged as skipped
        log.warning("non-finite gradient norm; optimizer step skipped")
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    dist.all_reduce(loss_sum)
    return StepResult(loss_sum.item() / max(counted, 1.0), grad_norm.item(), skipped, int(counted),
                      int(counts[1].item()))


def _any_rank(value: bool, env: DistEnv) -> bool:
    flag = torch.tensor([1 if value else 0], device=env.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = load(TrainConfig, args.config)
    with claimed_run_dir(args), io_errors.reported("train", args.out):
        env = init_distributed(args.device)
        try:
            trainer = Trainer(args, config, env)
            trainer.resume()
            trainer.write_run_record()
            trainer.run()
            return 0
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
