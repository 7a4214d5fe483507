#!/usr/bin/env python
"""Trainer throughput and MFU, against a peer measured in the same run.

On a GPU: the 1.3B preset at 4,096 and 32,768 tokens, bf16, flex_attention document masking, torch.compile
(activation checkpointing at 32k), one rank. MFU uses trainer.metrics over the device's dense bf16 peak (989 TFLOPS
on an H100 SXM), twice: with attention FLOPs from the actual document lengths (what document masking computes) and
by the full-causal convention (seq_len x seq_len, the figure published MFUs use). Peer: Hugging Face
``LlamaForCausalLM`` of the same shape on the same rows with the same attention kernel and masking: an attention
function registered with HF's ``AttentionInterface`` calls the trainer's own document-masked attention on the
rows' document ids (GPU: compiled ``flex_attention`` with the trainer's ``document_block_mask``, built once per
micro-batch as the trainer does; CPU: the trainer's causal SDPA per document), and HF builds no mask of its own
(a mask function that returns none is registered under the same name). So the two sides differ only in the
model code around attention: projections, RoPE, MLP, norms, loss, optimizer step. Packed-sequence
``position_ids`` for RoPE, our loss mask as ``shift_labels``, bf16 autocast on GPU (compiled per decoder layer,
as ours), fused AdamW. Both sides are timed over the whole iteration, data included, each reading through our
prefetching loader. torchtitan's published figures are printed for reference.

Without a GPU: the ``tiny`` preset on CPU, tokens/s only (a CPU has no meaningful bf16 peak), with the same peer;
both sides in fp32 there (our ``param_dtype: auto`` picks fp32 on CPU).

Writes benchmarks/results/train_mfu.json (``benchmarks.record``: date, machine, command, figures).

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

from benchmarks.record import write_result  # noqa: E402
from trainer import train  # noqa: E402
from trainer.config import preset  # noqa: E402
from trainer.data import ShardLoader, plan_training_phases  # noqa: E402
from trainer.prefetch import PrefetchingLoader  # noqa: E402
from trainer.export import hf_config  # noqa: E402
from trainer.model import _document_sdpa, _flex_attention, document_block_mask  # noqa: E402  (the trainer's kernels)
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


PEER_ATTENTION = "korpus_document"


def document_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, *, doc_ids,
                       block_mask=None, **kwargs):
    """HF attention function (``AttentionInterface``): the trainer's document-masked attention. ``query`` is
    [batch, heads, seq, d_head], ``key``/``value`` [batch, kv_heads, seq, d_head] after RoPE; HF's scaling is
    d_head ** -0.5, the kernels' default. Returns [batch, seq, heads, d_head] as HF's own functions do."""
    if block_mask is not None:
        out = _flex_attention(query, key, value, block_mask)
    else:
        out = _document_sdpa(query, key, value, doc_ids)
    return out.transpose(1, 2), None


def register_peer_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PEER_ATTENTION, document_attention)
    AttentionMaskInterface.register(PEER_ATTENTION, lambda *args, **kwargs: None)  # the doc ids are the mask


def run_peer(corpus: Path, preset_name: str, device: torch.device, steps: int, tokens_per_step: int,
             activation_checkpointing: bool, compile_blocks: bool) -> list[float]:
    """HF LlamaForCausalLM with the trainer's attention (module docstring); tokens/s of each whole iteration."""
    from transformers import LlamaForCausalLM

    manifest = Manifest.load(corpus)
    model_config = preset(preset_name).model_config(manifest.tokenizer.vocab_size)
    register_peer_attention()
    config = hf_config(model_config, manifest.phases[0].seq_len, {"<|endoftext|>": EOS}, torch.float32)
    hf = LlamaForCausalLM._from_config(config, attn_implementation=PEER_ATTENTION).to(device)
    if activation_checkpointing:
        hf.gradient_checkpointing_enable()
    if compile_blocks:
        for layer in hf.model.layers:
            layer.compile()
    kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.AdamW(hf.parameters(), lr=1e-4, **kernel)
    plans = plan_training_phases(manifest, tokens_per_step, tokens_per_step, 1)
    loader = PrefetchingLoader(ShardLoader(corpus, plans, "peer", 0, 1, seed=0, document_masking=True),
                               pin_memory=device.type == "cuda")
    rates = []
    try:
        for _ in range(steps):
            started = time.perf_counter()
            batch = loader.next_step()
            for mb in batch.micro_batches:
                mb = mb.to(device)
                doc_ids = mb.layout.doc_ids
                block_mask = document_block_mask(doc_ids) if device.type == "cuda" else None
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    # doc_ids and block_mask reach document_attention through HF's attention kwargs.
                    loss = hf(input_ids=mb.tokens, position_ids=mb.layout.positions, labels=mb.labels,
                              shift_labels=mb.labels, use_cache=False, doc_ids=doc_ids, block_mask=block_mask).loss
                loss.backward()
            torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rates.append(batch.plan.tokens_per_step / (time.perf_counter() - started))
    finally:
        loader.close()
    return rates


def median_or_none(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


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
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            rows = steps * case["tokens_per_step"] // case["seq_len"]
            corpus = write_corpus(Path(tmp) / "corpus", [(f"bench_{case['seq_len']}", case["seq_len"], rows)],
                                  vocab_size=vocab, doc_len=doc_len, files_per_phase=1)
            ours = run_ours(corpus, Path(tmp), preset_name, device, steps, case)[warmup:]
            try:
                peer = run_peer(corpus, preset_name, torch.device(device), steps, case["tokens_per_step"],
                                case.get("activation_checkpointing", False), case.get("compile", False))[warmup:]
            except torch.OutOfMemoryError:  # HF materialises full fp32 logits (32k x 100k = 13 GB)
                peer = []
                torch.cuda.empty_cache()
        ours_rate = statistics.median(m["tokens_per_s_per_device"] for m in ours)
        peer_rate = statistics.median(peer) if peer else None
        mfu, mfu_full = median_or_none([m["mfu"] for m in ours]), median_or_none([m["mfu_full_causal"] for m in ours])
        attended = statistics.median(m["attended_length"] for m in ours)
        flops = statistics.median(m["flops_per_token"] for m in ours)
        flops_full = statistics.median(m["flops_per_token_full_causal"] for m in ours)
        mfu_text = (f"MFU {100 * mfu:.1f}% (full-causal count {100 * mfu_full:.1f}%)" if mfu is not None
                    else "MFU n/a (CPU)")
        print(f"seq {case['seq_len']:>6}: korpus trainer {ours_rate:,.0f} tok/s/device, {mfu_text}, "
              f"attended length {attended:,.0f} of {case['seq_len']:,} (FLOPs/token {flops:.3g} document-masked, "
              f"{flops_full:.3g} full-causal, {flops_full / flops:.2f}x), data wait "
              f"{1000 * statistics.median(m['data_wait_s'] for m in ours):.2f} ms, peak mem {ours[-1]['memory_gib']:.2f}"
              f" GiB ({ours[-1]['memory_kind']}) | HF Llama peer "
              + (f"{peer_rate:,.0f} tok/s | ratio ours/peer {ours_rate / peer_rate:.2f}x" if peer_rate
                 else "out of memory"))
        results.append({**case, "tokens_per_s_per_device": ours_rate, "mfu_document_masked": mfu,
                        "mfu_full_causal": mfu_full, "attended_length": attended,
                        "flops_per_token_document_masked": flops, "flops_per_token_full_causal": flops_full,
                        "data_wait_s_median": statistics.median(m["data_wait_s"] for m in ours),
                        "memory_gib": ours[-1]["memory_gib"], "memory_kind": ours[-1]["memory_kind"],
                        "peer_tokens_per_s": peer_rate, "ratio_ours_over_peer": ours_rate / peer_rate if peer_rate else None,
                        "ours_tokens_per_s_each_step": [m["tokens_per_s_per_device"] for m in ours],
                        "peer_tokens_per_s_each_step": peer})
    if on_gpu:
        print(f"reference (published, not measured here): {TORCHTITAN_REFERENCE}")
    peer_name = ("transformers LlamaForCausalLM with the trainer's document attention ("
                 + ("compiled flex_attention, same block mask), bf16 autocast" if on_gpu
                    else "causal SDPA per document), fp32"))
    write_result(
        "train_mfu", {"preset": preset_name, "steps": steps, "warmup_excluded": warmup, "peer": peer_name, "cases": results},
        compares=f"korpus trainer ({preset_name} preset) vs {peer_name} of the same shape on the same rows, the same "
                 "attention kernel and document mask, loader and loss mask, whole iterations timed; MFU against the GPU's peak",
        headline={**{f"ours/peer at {r['seq_len']:,}": r["ratio_ours_over_peer"] for r in results},
                  **{f"MFU at {r['seq_len']:,}": r["mfu_document_masked"] for r in results if r["mfu_document_masked"]}},
        machine_extra={"device": torch.cuda.get_device_name() if on_gpu else "cpu",
                       "intra_op_threads": torch.get_num_threads(), "torch": torch.__version__})
    return 0


if __name__ == "__main__":
    sys.exit(main())
