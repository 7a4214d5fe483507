"""The stateful loader: which rows of the packed corpus each rank trains on, step by step.

* Phases run in manifest order (phase1_4k, then phase2_32k), each for one pass over its rows, so the token split
  the build wrote into the manifest (90% / 10%) is the split the model sees. A phase's tail of fewer rows than one
  global batch is not trained on; the count is logged.
* The global batch is constant in tokens: ``global_batch_tokens // seq_len`` rows per step at every phase.
* Row order within a phase is a seeded bijection (trainer/permutation.py) of the row indices.
* At step ``s`` of a phase, the global batch is positions ``[s*G, (s+1)*G)`` of that order; rank ``r`` of ``W``
  takes the ``r``-th contiguous ``G/W`` slice. The state is global (phase, position): it says nothing about ranks,
  so a run resumes on any number of ranks without skipping or repeating a row.
* Loss mask: no target crosses a document boundary (with document masking), none is ``<|fim_pad|>`` (FIM filler
  and row padding), and no position of a row's padding segment (``seg_buckets`` == ``PAD_BUCKET``) predicts or is
  predicted.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from corpus.hashing import sha256_file
from corpus.manifest import Manifest, ManifestError
from corpus.shards import PAD_BUCKET, PhaseReader, loss_mask
from trainer.model import IGNORE_INDEX, Layout
from trainer.permutation import RowPermutation

log = logging.getLogger(__name__)


class DataError(ValueError):
    """The corpus cannot be trained on with this batch configuration."""


@dataclass(frozen=True)
class PhasePlan:
    name: str
    seq_len: int
    rows: int  # rows in the phase's files
    rows_per_step: int  # global batch, in rows
    steps: int  # full global batches in one pass
    micro_rows: int  # rows per rank per forward/backward
    accumulation: int  # micro-batches per rank per step

    @property
    def tokens_per_step(self) -> int:
        return self.rows_per_step * self.seq_len

    @property
    def tail_rows(self) -> int:
        return self.rows - self.steps * self.rows_per_step


def plan_training_phases(manifest: Manifest, global_batch_tokens: int, micro_batch_tokens: int, world_size: int) -> list[PhasePlan]:
    plans = []
    for phase in manifest.phases:
        if phase.rows == 0:
            # A small corpus can leave a phase empty (the build reports it); training the other
            # phase is still meaningful. A phase with rows but less than one batch stays an error.
            log.warning("%s has no rows in the corpus; it is skipped", phase.name)
            continue
        if global_batch_tokens % phase.seq_len:
            raise DataError(f"global_batch_tokens={global_batch_tokens} is not a multiple of {phase.name}'s "
                            f"seq_len {phase.seq_len}")
        rows_per_step = global_batch_tokens // phase.seq_len
        if rows_per_step % world_size:
            raise DataError(f"{phase.name}: a global batch of {rows_per_step} rows does not split over "
                            f"{world_size} ranks")
        per_rank = rows_per_step // world_size
        wanted = max(1, micro_batch_tokens // phase.seq_len)
        micro_rows = max(d for d in range(1, min(wanted, per_rank) + 1) if per_rank % d == 0)
        steps = phase.rows // rows_per_step
        if steps == 0:
            raise DataError(f"{phase.name} has {phase.rows} rows, fewer than one global batch of {rows_per_step} "
                            f"rows; lower global_batch_tokens")
        plans.append(PhasePlan(phase.name, phase.seq_len, phase.rows, rows_per_step, steps, micro_rows,
                               per_rank // micro_rows))
    if not plans:
        raise DataError("every phase of the corpus is empty")
    return plans


def corpus_fingerprint(manifest: Manifest) -> str:
    """Identity of the trained data: every phase's name, seq_len and file digests."""
    digest = hashlib.sha256()
    for phase in manifest.phases:
        digest.update(f"{phase.name}:{phase.seq_len}".encode())
        for f in phase.files:
            digest.update(f"{f.path}:{f.sha256}:{f.rows}".encode())
    return digest.hexdigest()


def verify_corpus_files(manifest: Manifest, rank: int, world_size: int, hashes: bool = True) -> list[str]:
    """Check this rank's share of the corpus files (every ``world_size``-th) against the manifest: sha256, or only
    the byte size when ``hashes`` is False. Split over ranks, the corpus is read once per job, not once per rank.
    Returns the problems found (empty when all match)."""
    assert manifest.root is not None
    files = sorted((f for phase in manifest.phases for f in phase.files), key=lambda f: f.path)
    problems = []
    for f in files[rank::world_size]:
        path = manifest.root / f.path
        if not path.exists():
            problems.append(f"missing {path}")
        elif path.stat().st_size != f.bytes:
            problems.append(f"size mismatch {path}")
        elif hashes and sha256_file(path) != f.sha256:
            problems.append(f"sha256 mismatch {path}")
    return problems


def segment_layout(seg_starts: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token document number and position-within-document for one row (``seg_starts[0] == 0``)."""
    doc = np.searchsorted(seg_starts, np.arange(seq_len), side="right") - 1
    return doc.astype(np.int64), (np.arange(seq_len) - seg_starts[doc]).astype(np.int64)


@dataclass
class MicroBatch:
    tokens: torch.Tensor  # [rows, seq] int64
    labels: torch.Tensor  # [rows, seq] int64, IGNORE_INDEX where no target
    layout: Layout
    # Sum over rows of the squared lengths of the spans attention runs over (documents under document masking,
    # else the row): attention FLOPs are proportional to it (trainer.metrics.flops_per_token).
    attention_square: int

    def to(self, device: torch.device) -> "MicroBatch":
        doc_ids = None if self.layout.doc_ids is None else self.layout.doc_ids.to(device, non_blocking=True)
        return MicroBatch(self.tokens.to(device, non_blocking=True), self.labels.to(device, non_blocking=True),
                          Layout(self.layout.positions.to(device, non_blocking=True), doc_ids),
                          self.attention_square)

    def pin_memory(self) -> "MicroBatch":
        """Page-locked copies, so ``to(cuda, non_blocking=True)`` is an asynchronous copy."""
        doc_ids = None if self.layout.doc_ids is None else self.layout.doc_ids.pin_memory()
        return MicroBatch(self.tokens.pin_memory(), self.labels.pin_memory(),
                          Layout(self.layout.positions.pin_memory(), doc_ids), self.attention_square)


@dataclass
class StepBatch:
    phase_index: int
    plan: PhasePlan
    position: int  # position in the phase's row order where this global batch starts
    rows: np.ndarray  # the row indices this rank trains on this step
    micro_batches: list[MicroBatch]


class ShardLoader:
    """Yields this rank's rows for each global step; ``state_dict`` is global (see module docstring)."""

    def __init__(self, corpus_dir: str | Path, plans: list[PhasePlan], fingerprint: str, rank: int,
                 world_size: int, seed: int, document_masking: bool,
                 fim_pad_id: int | None = None, fetch: Callable[[str], Path] | None = None) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.fetch = fetch  # an object-store corpus: shards are downloaded when first read (CorpusSource)
        self.plans = plans
        self.fingerprint = fingerprint
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.document_masking = document_masking
        self.fim_pad_id = fim_pad_id  # the tokenizer's <|fim_pad|> id (None: a corpus whose tokenizer has none)
        self.phase_index = 0
        self.position = 0
        self._readers: dict[str, PhaseReader] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"phase_index": self.phase_index, "position": self.position, "fingerprint": self.fingerprint,
                "rows_per_step": [p.rows_per_step for p in self.plans], "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["fingerprint"] != self.fingerprint:
            raise DataError("the checkpoint was trained on a different corpus (manifest files differ)")
        if list(state["rows_per_step"]) != [p.rows_per_step for p in self.plans] or state["seed"] != self.seed:
            raise DataError(f"the checkpoint used global batches of {state['rows_per_step']} rows and seed "
                            f"{state['seed']}; resuming with a different batch or seed would change the data order")
        # checkpoints written before the context phases were renamed call the index stage_index
        index = state["phase_index"] if "phase_index" in state else state["stage_index"]
        self.phase_index, self.position = int(index), int(state["position"])

    def _reader(self, plan: PhasePlan) -> PhaseReader:
        reader = self._readers.get(plan.name)
        if reader is None:  # files were sha256-checked once for the job (verify_corpus_files) or on download
            # (CorpusSource.fetch); rows are checked here
            reader = self._readers[plan.name] = PhaseReader(self.corpus_dir, plan.name, verify=False, fetch=self.fetch)
            if len(reader) != plan.rows or reader.seq_len != plan.seq_len:
                raise ManifestError(f"{plan.name}: reader sees {len(reader)} rows of {reader.seq_len}, "
                                    f"planned {plan.rows} of {plan.seq_len}")
        return reader

    def global_rows(self, phase_index: int, position: int, count: int) -> np.ndarray:
        """Row indices at ``[position, position + count)`` of a phase's training order."""
        plan = self.plans[phase_index]
        return RowPermutation(plan.rows, self.seed, salt=plan.name)(np.arange(position, position + count))

    def next_step(self) -> StepBatch | None:
        """This rank's micro-batches for the next global step, or None when every phase is done."""
        while self.phase_index < len(self.plans):
            plan = self.plans[self.phase_index]
            if self.position + plan.rows_per_step <= plan.steps * plan.rows_per_step:
                break
            if plan.tail_rows:
                log.info("phase %s done: %d tail rows (< one global batch) not trained on", plan.name, plan.tail_rows)
            self.phase_index, self.position = self.phase_index + 1, 0
        else:
            return None
        per_rank = plan.rows_per_step // self.world_size
        start = self.position + self.rank * per_rank
        rows = self.global_rows(self.phase_index, start, per_rank)
        batch = StepBatch(self.phase_index, plan, self.position, rows,
                          [self._micro_batch(plan, rows[i:i + plan.micro_rows])
                           for i in range(0, per_rank, plan.micro_rows)])
        self.position += plan.rows_per_step
        return batch

    def _micro_batch(self, plan: PhasePlan, rows: np.ndarray) -> MicroBatch:
        reader = self._reader(plan)
        tokens = np.empty((len(rows), plan.seq_len), dtype=np.int64)
        doc_ids = np.empty_like(tokens)
        positions = np.empty_like(tokens)
        padding = np.empty(tokens.shape, dtype=bool)
        targets = np.empty(tokens.shape, dtype=bool)
        document_square = 0
        for j, index in enumerate(rows):
            row = reader.row(int(index))
            tokens[j] = row.tokens
            doc_ids[j], positions[j] = segment_layout(row.seg_starts, plan.seq_len)
            padding[j] = row.seg_buckets[doc_ids[j]] == PAD_BUCKET
            targets[j] = loss_mask(row, self.fim_pad_id)
            lengths = np.diff(row.seg_starts, append=plan.seq_len).astype(np.int64)
            document_square += int((lengths * lengths).sum())
        labels = np.full_like(tokens, IGNORE_INDEX)
        labels[:, :-1] = tokens[:, 1:]
        no_target = padding.copy()  # a padding position predicts nothing ...
        no_target[:, :-1] |= ~targets[:, 1:]  # ... and no position predicts a token the loss mask excludes
        if self.document_masking:
            # The token after a segment's <|endoftext|> starts another document: the mask hides it, so it is no target.
            no_target[:, :-1] |= doc_ids[:, 1:] != doc_ids[:, :-1]
            layout = Layout(torch.from_numpy(positions), torch.from_numpy(doc_ids))
        else:
            layout = Layout(torch.arange(plan.seq_len).expand(len(rows), -1).contiguous(), None)
            document_square = len(rows) * plan.seq_len ** 2
        labels[no_target] = IGNORE_INDEX
        return MicroBatch(torch.from_numpy(tokens), torch.from_numpy(labels), layout, document_square)
