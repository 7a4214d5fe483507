"""Checkpoints with torch.distributed.checkpoint (DCP): sharded, and loadable on a different number of ranks.

Layout: ``RUN_DIR/checkpoints/step_00001000/`` holds the DCP files (model and optimizer, resharded on load;
``train``: step, loader state, schedule) plus ``rng/rank<r>.pt``. Rank 0 writes ``COMPLETE.json`` last: the step,
the model config, and the size and sha256 of every file. A directory without it is partial (the job died while
saving); one whose files do not match it is corrupt. Both are skipped with a warning, never loaded.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict, get_optimizer_state_dict, set_model_state_dict, set_optimizer_state_dict)
from torch.distributed.checkpoint.stateful import Stateful

from corpus.hashing import sha256_file
from trainer.config import with_rope_base
from trainer.model import Transformer

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE.json"
PREFIX = "step_"


class _ModelState(Stateful):
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        return get_model_state_dict(self.model)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_model_state_dict(self.model, state)


class _OptimizerState(Stateful):
    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def state_dict(self) -> dict[str, Any]:
        return get_optimizer_state_dict(self.model, self.optimizer)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_optimizer_state_dict(self.model, self.optimizer, state)


def step_dir(root: Path, step: int) -> Path:
    return root / f"{PREFIX}{step:08d}"


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


class CheckpointManager:
    def __init__(self, root: str | Path, keep: int, rank: int, world_size: int,
                 device: torch.device = torch.device("cpu")) -> None:
        self.root = Path(root)
        self.keep, self.rank, self.world_size = keep, rank, world_size
        self.device = device  # where collective flags live (NCCL reduces only GPU tensors)

    def save(self, step: int, model: Transformer, optimizer: torch.optim.Optimizer, train_state: dict[str, Any]) -> Path:
        """Collective: every rank calls it. Returns the checkpoint directory once it is complete."""
        path = step_dir(self.root, step)
        if self.rank == 0 and path.exists():  # leftover of an attempt that died mid-save
            shutil.rmtree(path)
        dist.barrier()
        # The train state (step, loader position, schedule) travels as one JSON string: DCP only loads the keys a
        # caller asks for, and a reader of the checkpoint does not know the loader state's keys in advance.
        state = {"model": _ModelState(model), "optim": _OptimizerState(model, optimizer),
                 "train": {"json": json.dumps(train_state, sort_keys=True)}}
        dcp.save(state, checkpoint_id=str(path))
        (path / "rng").mkdir(exist_ok=True)
        torch.save(_rng_state(), path / "rng" / f"rank{self.rank}.pt")
        dist.barrier()
        files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
        mine = {name: {"bytes": (path / name).stat().st_size, "sha256": sha256_file(path / name)}
                for name in files[self.rank::self.world_size]}
        gathered: list[dict[str, Any]] = [{} for _ in range(self.world_size)]
        dist.all_gather_object(gathered, mine)
        if self.rank == 0:
            # The model config as it is now: the RoPE base is the current phase's (raised at the 32k switch).
            record = {"step": step, "world_size": self.world_size,
                      "model_config": asdict(with_rope_base(model.config, model.rope_base)), "train": train_state,
                      "files": {k: v for part in gathered for k, v in sorted(part.items())}}
            tmp = path / f".{COMPLETE}.tmp"
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            tmp.replace(path / COMPLETE)
            self._prune(keep_latest=self.keep)
        dist.barrier()
        return path

    def _prune(self, keep_latest: int) -> None:
        complete = [p for p in self.candidates() if (p / COMPLETE).exists()]
        for old in complete[keep_latest:]:
            shutil.rmtree(old, ignore_errors=True)

    def candidates(self) -> list[Path]:
        """Checkpoint directories, newest first."""
        if not self.root.exists():
            return []
        return sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)), reverse=True)

    def _is_valid(self, path: Path) -> bool:
        """Collective. Each rank hashes its share of the files; all must agree."""
        problems = _problems(path, self.rank, self.world_size)
        flag = torch.tensor([0 if problems else 1], dtype=torch.int32, device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        for problem in problems:
            log.warning("checkpoint %s skipped: %s", path, problem)
        return bool(flag.item())

    def load_latest(self, model: Transformer, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
        """Collective. Load the newest complete, intact checkpoint; its train state, or None if there is none."""
        for path in self.candidates():
            if not self._is_valid(path):
                continue
            state = {"model": _ModelState(model), "optim": _OptimizerState(model, optimizer), "train": {"json": ""}}
            dcp.load(state, checkpoint_id=str(path))
            rng = path / "rng" / f"rank{self.rank}.pt"
            if rng.exists():
                saved = torch.load(rng, weights_only=True)
                torch.set_rng_state(saved["torch"])
                if "cuda" in saved and torch.cuda.is_available():
                    torch.cuda.set_rng_state(saved["cuda"])
            else:  # resumed on more ranks than saved: training draws no random numbers, so nothing changes
                log.warning("%s has no RNG state for rank %d (saved with other ranks); RNG left as seeded",
                            path, self.rank)
            log.info("resumed from %s", path)
            return json.loads(state["train"]["json"])
        return None


def _problems(path: Path, rank: int, world_size: int) -> list[str]:
    marker = path / COMPLETE
    if not marker.exists():
        return [f"no {COMPLETE} (partial save)"]
    try:
        files = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError) as exc:
        return [f"unreadable {COMPLETE}: {exc}"]
    problems = []
    for name in sorted(files)[rank::world_size]:
        file = path / name
        if not file.exists():
            problems.append(f"missing {name}")
        elif file.stat().st_size != files[name]["bytes"] or sha256_file(file) != files[name]["sha256"]:
            problems.append(f"{name} does not match its recorded size/sha256")
    return problems


def read_complete(path: str | Path) -> dict[str, Any]:
    """The COMPLETE.json record of a checkpoint directory (model config with the current RoPE base, step,
    train state, file digests)."""
    return json.loads((Path(path) / COMPLETE).read_text())


def latest_complete(root: str | Path) -> Path | None:
    """Newest checkpoint with a COMPLETE marker whose files all match it (single process; for export)."""
    manager = CheckpointManager(root, keep=0, rank=0, world_size=1)
    for path in manager.candidates():
        problems = _problems(path, 0, 1)
        if not problems:
            return path
        log.warning("checkpoint %s skipped: %s", path, "; ".join(problems))
    return None
