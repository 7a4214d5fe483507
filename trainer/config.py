"""Trainer configuration: model presets (HyperCLOVA size table) and the training config tree.

Model shapes (layers / d_model / heads / d_head) and peak learning rates are the HyperCLOVA (2021) size table
(Kim et al., "What Changes Can Large-scale Language Models Bring?", Table 1). Choices the table does not make:

* GQA key/value heads: 4 query heads share one KV head up to 1.3B (the 4:1 ratio of Llama 3 8B, 32q/8kv) and
  8 KV heads from 6.9B up (Llama 2 70B and Llama 3: 8 KV heads regardless of width). ``tiny`` uses 2.
* FFN: SwiGLU with hidden = 8/3 * d_model rounded up to a multiple of 256 (Llama, Touvron et al. 2023), which keeps
  the FFN's parameter count equal to the dense 4*d_model FFN of the table; this gives Llama's own 11008 at 4096
  and 13824 at 5120.
* RoPE base: 10,000 for phase 1 (4k, Su et al. 2021 / Llama 2) and 500,000 for phase 2 (32k): "adjusted base
  frequency" from Xiong et al. 2023 (Effective Long-Context Scaling), who continue a 4k Llama 2 to 32k with base
  500,000, which lowers the rotation frequencies so positions up to 32k stay distinguishable.

Load the training config with ``corpus.config.load(TrainConfig, path)``: unknown keys and wrong types fail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the decoder. ``vocab_size`` comes from the corpus manifest, never from a preset."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    ffn_dim: int
    vocab_size: int
    norm_eps: float = 1e-5  # Llama 2 / HF LlamaConfig default
    rope_base: float = 10_000.0

    def __post_init__(self) -> None:
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")
        if self.d_head % 2:
            raise ValueError(f"d_head={self.d_head} must be even for RoPE")
        if self.vocab_size <= 0:
            raise ValueError(f"vocab_size must be positive, got {self.vocab_size}")

    def num_params(self, include_embedding: bool = True) -> int:
        """Exact parameter count of ``trainer.model.Transformer`` built from this config."""
        attn = self.d_model * self.d_head * (2 * self.n_heads + 2 * self.n_kv_heads)
        ffn = 3 * self.d_model * self.ffn_dim
        per_layer = attn + ffn + 2 * self.d_model  # two RMSNorm weights
        body = self.n_layers * per_layer + self.d_model  # final norm
        output = self.vocab_size * self.d_model  # untied output projection
        embedding = self.vocab_size * self.d_model
        return body + output + (embedding if include_embedding else 0)


@dataclass(frozen=True)
class Preset:
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    lr: float
    n_kv_heads: int
    ffn_multiple_of: int = 256

    def model_config(self, vocab_size: int, rope_base: float = 10_000.0) -> ModelConfig:
        return ModelConfig(
            n_layers=self.n_layers, d_model=self.d_model, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
            d_head=self.d_head, ffn_dim=swiglu_hidden(self.d_model, self.ffn_multiple_of),
            vocab_size=vocab_size, rope_base=rope_base,
        )


def swiglu_hidden(d_model: int, multiple_of: int) -> int:
    """Llama's SwiGLU width: 2/3 of 4*d_model, rounded up to ``multiple_of``."""
    return multiple_of * math.ceil(int(8 * d_model / 3) / multiple_of)


PRESETS: dict[str, Preset] = {
    # tiny: not from the paper; small enough for CPU tests (lr chosen so a few hundred tokens show learning).
    "tiny": Preset(n_layers=2, d_model=64, n_heads=4, d_head=16, lr=3.0e-3, n_kv_heads=2, ffn_multiple_of=32),
    "137M": Preset(12, 768, 16, 48, 6.0e-4, n_kv_heads=4),
    "350M": Preset(24, 1024, 16, 64, 3.0e-4, n_kv_heads=4),
    "760M": Preset(24, 1536, 16, 96, 2.5e-4, n_kv_heads=4),
    "1.3B": Preset(24, 2048, 16, 128, 2.0e-4, n_kv_heads=4),
    "6.9B": Preset(32, 4096, 32, 128, 1.2e-4, n_kv_heads=8),
    "13B": Preset(40, 5120, 40, 128, 1.0e-4, n_kv_heads=8),
    "39B": Preset(48, 8192, 64, 128, 0.8e-4, n_kv_heads=8),
    "82B": Preset(64, 10240, 80, 128, 0.6e-4, n_kv_heads=8),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None


@dataclass
class OptimConfig:
    """AdamW and the LR schedule. Betas, eps, weight decay and clipping are GPT-3 / Llama 2's; ``lr`` None means
    the preset's peak LR. ``min_lr_ratio`` 0.1 is Llama 2's cosine floor (10% of peak)."""

    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    schedule: Literal["cosine", "wsd"] = "cosine"
    warmup_steps: int = 2000  # Llama 2
    min_lr_ratio: float = 0.1
    # WSD (Hu et al. 2024, MiniCPM): constant after warmup, then decay over the last fraction of the steps.
    wsd_decay_fraction: float = 0.1


# Corpora built before the context phases were renamed call them stage1_4k and stage2_32k: they
# train with the bases of the phases' new default names unless base_per_phase names them.
_OLDER_PHASE_NAMES = {"stage1_4k": "phase1_4k", "stage2_32k": "phase2_32k"}


@dataclass
class RopeConfig:
    """RoPE base per context phase of the corpus, keyed by the manifest's phase name (see the module
    docstring for the values)."""

    base_per_phase: dict[str, float] = field(default_factory=lambda: {"phase1_4k": 10_000.0, "phase2_32k": 500_000.0})
    default_base: float = 10_000.0  # a phase not named above (e.g. a test corpus)
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"rope_base": "base_per_phase", "default_rope_base": "default_base"}


@dataclass
class CheckpointConfig:
    every_steps: int = 500
    keep: int = 3  # complete checkpoints kept; older ones are deleted after a new one is complete


@dataclass
class TrainConfig:
    """Everything but the preset, corpus and output directory (those come from the CLI)."""

    # Global batch of 4Mi tokens (Llama 2): 1024 rows at 4k, 128 rows at 32k; constant across phases.
    global_batch_tokens: int = 4 * 1024 * 1024
    # Tokens one rank runs through the model at once; micro-batch rows = this // seq_len (at least one row),
    # gradient accumulation = global rows / (world size * micro-batch rows).
    micro_batch_tokens: int = 16_384
    attention: Literal["document", "causal"] = "document"
    # auto: flex_attention block masks on CUDA, per-document SDPA on CPU.
    attention_backend: Literal["auto", "flex", "sdpa"] = "auto"
    # auto: bfloat16 on CUDA; float32 on CPU, where bf16 compute is emulated on CPUs without AMX (the
    # tiny preset on this 2-core EPYC: 23.7k tok/s in bf16, 39.9k in fp32) and CPU runs are tests and demos.
    param_dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    activation_checkpointing: bool = False
    compile: bool = False
    loss_chunk_tokens: int = 8192  # logits are materialised this many tokens at a time (memory at 32k x 100k vocab)
    # Global steps a background thread reads ahead of training (trainer/prefetch.py); pinned memory on CUDA.
    prefetch_steps: int = 2
    seed: int = 0
    # Every (re)start checks the corpus files against the manifest, split over ranks. sha256 reads every byte once
    # per job (a 2 TB corpus on 8 ranks: 250 GB each); "size" is instant and catches truncation, not bit rot.
    verify_corpus: Literal["sha256", "size"] = "sha256"
    optim: OptimConfig = field(default_factory=OptimConfig)
    rope: RopeConfig = field(default_factory=RopeConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"stages": "rope"}

    def rope_base(self, phase_name: str) -> float:
        bases = self.rope.base_per_phase
        if phase_name not in bases:
            phase_name = _OLDER_PHASE_NAMES.get(phase_name, phase_name)
        return bases.get(phase_name, self.rope.default_base)


def with_rope_base(config: ModelConfig, base: float) -> ModelConfig:
    return replace(config, rope_base=base)
