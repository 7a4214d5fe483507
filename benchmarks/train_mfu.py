#!/usr/bin/env python
"""Trainer throughput and MFU, against a peer measured in the same run.

On a GPU: the 1.3B preset at 4,096 and 32,768 tokens, bf16, flex_attention document masking, torch.compile
(activation checkpointing at 32k), one rank. MFU uses trainer.metrics (6N + attention FLOPs over the device's
dense bf16 peak: 989 TFLOPS on an H100 SXM). Peer: Hugging Face ``LlamaForCausalLM`` of the same shape (plain
causal SDPA, bf16 autocast, fused AdamW) on the same rows. torchtitan's published figures are printed for reference.

Without a GPU: the ``tiny`` preset on CPU, tokens/s only (a CPU has no meaningful bf16 peak), with the same peer;
both sides in fp32 there (our ``param_dtype: auto`` picks fp32 on CPU).

    python benchmarks/train_mfu.py [--steps N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import train  # noqa: E402
from trainer.config import preset  # noqa: E402
from trainer.data import ShardLoader, plan_stages  # noqa: E402
from trainer.export import hf_config  # noqa: E402
from corpus.manifest import Manifest  # noqa: E402
from trainer.synthetic import EOS, write_corpus  # noqa: E402

# torchtitan docs/performance.md (Llama 3.1 8B, 8x H100 96GB at 500 W, FSDP, local batch 2, seq 8192, selective AC):
# 5,762 tokens/s/GPU eager, 6,667 with torch.compile; "33% to 39% MFU". Published, not measured here.
TORCHTITAN_REFERENCE = "torchtitan Llama 3.1 8B, 8xH100, seq 8192: 6,667 tok/s/GPU (compile), 33-39% MFU"


def run_ours(corpus: Path, out: Path, preset_name: str, device: str, steps: int, overrides: dict) -> list[dict]:
    config = {"global_batch_tokens": overrides["tokens_per_step"], "micro_batch_tokens": overrides["tokens_per_step"],
              "attention": "document", "activation_checkpointing": overrides.get("activation_checkpointing", False),
              "compile": overrides.get("compile", False), "checkpoint": {"every_steps": 10**9}}
    (out / "train.yaml").write_text(json.dumps(config))
    train.main(["--corpus", str(corpus), "--preset", preset_name, "--out", str(out / "run"), "--config",
                str(out / "train.yaml"), "--max-steps", str(steps), "--device", device])
    return [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]


def run_peer(corpus: Path, preset_name: str, device: torch.device, steps: int, tokens_per_step: int,
             activation_checkpointing: bool) -> list[float]:
    """HF LlamaForCausalLM, same shape, same rows (read through our loader), the precision our trainer picks
    (``param_dtype: auto``): bf16 autocast on GPU, fp32 on CPU; tokens/s per step."""
    from transformers import LlamaForCausalLM

    manifest = Manifest.load(corpus)
    model_config = preset(preset_name).model_config(manifest.tokenizer.vocab_size)
    hf = LlamaForCausalLM(hf_config(model_config, manifest.stages[0].seq_len, {"<|endoftext|>": EOS},
                                    torch.float32)).to(device)
    if activation_checkpointing:
        hf.gradient_checkpointing_enable()
    kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.AdamW(hf.parameters(), lr=1e-4, **kernel)
    plans = plan_stages(manifest, tokens_per_step, tokens_per_step, 1)
    loader = ShardLoader(corpus, plans, "peer", 0, 1, seed=0, document_masking=False)
    rates = []
    for _ in range(steps):
        batch = loader.next_step()
        started = time.perf_counter()
        for mb in batch.micro_batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = hf(input_ids=mb.tokens.to(device), labels=mb.tokens.to(device)).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(batch.plan.tokens_per_step / (time.perf_counter() - started))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per measurement (default 12 GPU, 20 CPU)")
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        preset_name, device, vocab, warmup = "1.3B", "cuda", 100_352, 3
        cases = [{"seq_len": 4096, "tokens_per_step": 16_384, "compile": True},
                 {"seq_len": 32_768, "tokens_per_step": 32_768, "compile": True, "activation_checkpointing": True}]
        doc_len = (200, 6000)
    else:
        # One intra-op thread for both sides: on a small shared CPU, OpenMP threads spin-waiting for descheduled
        # siblings dominate a tiny model's step (a 100-token SDPA went from 1 ms to 57 ms at 2 threads under load).
        torch.set_num_threads(1)
        preset_name, device, vocab, warmup = "tiny", "cpu", 256, 2
        cases = [{"seq_len": 256, "tokens_per_step": 2048}]
        doc_len = (20, 400)
    steps = args.steps or (12 if on_gpu else 20)
    print(f"device: {torch.cuda.get_device_name() if on_gpu else 'cpu'} ({torch.get_num_threads()} intra-op "
          f"threads); preset {preset_name}; {steps} steps per case, first {warmup} excluded")
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            rows = steps * case["tokens_per_step"] // case["seq_len"]
            corpus = write_corpus(Path(tmp) / "corpus", [(f"bench_{case['seq_len']}", case["seq_len"], rows)],
                                  vocab_size=vocab, doc_len=doc_len, files_per_stage=1)
            ours = run_ours(corpus, Path(tmp), preset_name, device, steps, case)[warmup:]
            try:
                peer = run_peer(corpus, preset_name, torch.device(device), steps, case["tokens_per_step"],
                                case.get("activation_checkpointing", False))[warmup:]
            except torch.OutOfMemoryError:  # HF materialises full fp32 logits (32k x 100k = 13 GB)
                peer = []
                torch.cuda.empty_cache()
        ours_rate = statistics.median(m["tokens_per_s_per_device"] for m in ours)
        peer_rate = statistics.median(peer) if peer else None
        mfu = [m["mfu"] for m in ours if m["mfu"] is not None]
        mfu_text = f"MFU {100 * statistics.median(mfu):.1f}%" if mfu else "MFU n/a (CPU)"
        print(f"seq {case['seq_len']:>6}: korpus trainer {ours_rate:,.0f} tok/s/device, {mfu_text}, "
              f"peak mem {ours[-1]['memory_gib']:.2f} GiB ({ours[-1]['memory_kind']}) | HF Llama peer "
              + (f"{peer_rate:,.0f} tok/s | ratio ours/peer {ours_rate / peer_rate:.2f}x" if peer_rate
                 else "out of memory"))
    if on_gpu:
        print(f"reference (published, not measured here): {TORCHTITAN_REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
