"""Training throughput, MFU and memory, and the per-step ``metrics.jsonl`` log."""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from trainer.config import ModelConfig

# Dense (no sparsity) bf16 tensor-core peak per GPU, from the vendor data sheets. Matched in order against
# torch.cuda.get_device_name(), so the more specific names come first.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM / NVL
    ("H200", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("A10G", 125e12),
    ("L4", 121e12),
)


def peak_bf16_flops(device: torch.device) -> float | None:
    """Peak dense bf16 FLOP/s of ``device``; None for a CPU or an unlisted GPU (MFU is then not reported:
    a CPU has no single meaningful bf16 peak)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)


def flops_per_token(config: ModelConfig, attended: float) -> float:
    """Training FLOPs per token: 6N for the matmuls of forward + backward (N without the input embedding, a
    lookup) plus 12 * layers * heads * d_head * ``attended`` for attention scores and values (PaLM, Chowdhery et
    al. 2022, App. B; the formula torchtitan reports), where ``attended`` is the length of the square each token's
    attention is counted over: ``seq_len`` for full causal attention (the convention), and the mean document length
    weighted by tokens under document masking (``attended_length``), since the kernel skips every cross-document
    block. Both count the full square of their span, causal masking's skipped half included, so the two figures
    differ only by what document masking skips."""
    attention = 12 * config.n_layers * config.n_heads * config.d_head * attended
    return 6 * config.num_params(include_embedding=False) + attention


def attended_length(attention_square: int, tokens: int) -> float:
    """``sum(L_i ** 2) / sum(L_i)`` over the spans attention runs over (documents, or whole rows): a row of one
    document gives ``seq_len``, rows of 1,000-token documents give 1,000."""
    return attention_square / tokens


def memory_gib(device: torch.device) -> tuple[float, str]:
    """Peak memory and what it measures: CUDA peak allocated on a GPU, the process's peak RSS on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30, "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**30 if sys.platform == "darwin" else 2**20), "max_rss"


class MetricsLog:
    """Appends one JSON object per step to ``metrics.jsonl`` (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step``: they were trained past the checkpoint a resume starts from, and
        are logged again as they are retrained."""
        if self.enabled and self.path.exists():
            kept = [line for line in self.path.read_text(encoding="utf-8").splitlines() if _step(line) <= step]
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")


def _step(line: str) -> float:
    """The step of a metrics line; a line torn by a kill mid-write counts as past any step (it is dropped)."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")
