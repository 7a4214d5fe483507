#!/usr/bin/env python
"""PII scrubbing: recall per type, decoys kept and throughput, ours beside ko-pii and Presidio.

    .venv/bin/python benchmarks/pii_eval.py [--docs 2000] [--seed 0] [--repeat 3]

Three systems run on the same texts in the same process:

- ``ours``: ``pii.Scrubber`` (every type, names included);
- ``ko-pii``: ``ko_pii.detect_all`` (rule-based Korean PII, pinned in the dev extra), its labels
  mapped to ours (``KO_PII_TYPES``); labels we have no type for (URL, postal code, age, ...) are
  ignored, so they neither find our spans nor touch our decoys;
- ``presidio``: Presidio's own predefined pattern recognizers (generic e-mail, phone with the KR
  region, card, IP, and its Korean RRN/FRN/BRN/passport/driver-licence recognizers) behind
  ``AnalyzerEngine`` with the no-op NLP engine (no spaCy model is installed), entities mapped.

Two labelled sets, scored separately (a labelled span is found when a finding of its type
overlaps it; a decoy is kept when no finding of any mapped type overlaps it):

- ``generator``: ``pii.eval_data.generate`` (written with the recognizers: format coverage);
  its decoys are the generator's decoy sentences, each scrubbed on its own;
- ``formats dev`` / ``formats held-out``: ``tests/pii/formats_set.py``, written by hand from
  format references; only ``dev`` was looked at while tuning the recognizers.

Throughput, MB of UTF-8 per CPU-second of this process (= per core), on the real Korean sample
(../shared/data/ko.jsonl.gz): as it is, only its documents where we find nothing, and ``mixed``:
the sample with a labelled Korean document of either set appended to every fifth document (the
issue's target: >= 20 MB/s per core on mixed Korean text). Two more peers measure our own
machinery on the same recognizers: Presidio's ``AnalyzerEngine`` in front of them, and calling them
without the trigger prefilter.

Targets: recall >= 0.99 overall and >= 0.97 per type, decoys kept >= 0.98, >= 20 MB/s per core on
mixed Korean text. Figures go to stdout and to benchmarks/results/pii_eval.json.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import write_result  # noqa: E402
from corpus.placeholders import PII_TYPES  # noqa: E402
from pii.eval_data import CODE_DECOYS, DECOYS_EN, DECOYS_KO, LabelledDoc, Span, generate  # noqa: E402
from pii.scrubber import Scrubber  # noqa: E402
from tests.pii.formats_set import documents as formats_documents  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data"
RECALL_TARGET, TYPE_RECALL_TARGET, DECOYS_TARGET, MIXED_MB_S_TARGET = 0.99, 0.97, 0.98, 20.0

KO_PII_TYPES = {
    "RRN": "rrn", "FRN": "frn", "BUSINESS_REG": "business_id", "DRIVER_LICENSE": "driver_license",
    "CARD": "credit_card", "ACCOUNT": "bank_account", "PASSPORT": "passport", "PHONE": "phone", "FAX": "phone",
    "EMAIL": "email", "IP": "ip_address", "PERSON": "person", "ADDRESS": "street_address",
}
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "IP_ADDRESS": "ip_address",
    "KR_RRN": "rrn", "KR_FRN": "frn", "KR_BRN": "business_id", "KR_PASSPORT": "passport",
    "KR_DRIVER_LICENSE": "driver_license",
}

Finder = Callable[[str, str, str], list[tuple[str, int, int]]]


# --- the systems ------------------------------------------------------------------------------

def ours_finder(scrubber: Scrubber) -> Finder:
    return lambda text, lang, bucket: [(f.type, f.start, f.end) for f in scrubber.find(text, lang, bucket)]


def ko_pii_finder() -> Finder:
    from ko_pii import detect_all

    def find(text: str, lang: str, bucket: str) -> list[tuple[str, int, int]]:
        return [(KO_PII_TYPES[d.label], d.start, d.end) for d in detect_all(text) if d.label in KO_PII_TYPES]
    return find


def _no_op_engine(recognizers: Iterable):
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    registry = RecognizerRegistry(supported_languages=["any"])
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    nlp = NoOpNlpEngine([{"lang_code": "any", "model_name": "none"}])
    nlp.load()
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["any"])


def presidio_finder() -> Finder:
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IpRecognizer,
                                                          KrBrnRecognizer, KrDriverLicenseRecognizer, KrFrnRecognizer,
                                                          KrPassportRecognizer, KrRrnRecognizer, PhoneRecognizer)

    from pii.recognizers.network import offline_suffix_extractor

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's check with the bundled suffix list: its default ``tldextract`` downloads it."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_suffix_extractor()(pattern_text).fqdn != ""

    regions = ("KR", "US", "GB", "DE", "FR", "JP")
    recognizers = [OfflineEmailRecognizer(supported_language="any"),
                   PhoneRecognizer(supported_language="any", supported_regions=regions),
                   *(cls(supported_language="any") for cls in (CreditCardRecognizer, IpRecognizer, KrRrnRecognizer,
                                                               KrFrnRecognizer, KrBrnRecognizer, KrPassportRecognizer,
                                                               KrDriverLicenseRecognizer))]
    engine = _no_op_engine(recognizers)

    def find(text: str, lang: str, bucket: str) -> list[tuple[str, int, int]]:
        return [(PRESIDIO_TYPES[r.entity_type], r.start, r.end) for r in engine.analyze(text, language="any")
                if r.entity_type in PRESIDIO_TYPES]
    return find


# --- scoring ----------------------------------------------------------------------------------

@dataclass
class Tally:
    gold: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    decoys: int = 0
    decoys_kept: int = 0

    def add(self, spans: Iterable[Span], keep: Iterable[Span], predicted: list[tuple[str, int, int]]) -> None:
        for span in spans:
            self.gold[span.type] = self.gold.get(span.type, 0) + 1
            hit = any(t == span.type and s < span.end and span.start < e for t, s, e in predicted)
            self.found[span.type] = self.found.get(span.type, 0) + hit
        for span in keep:
            self.decoys += 1
            self.decoys_kept += not any(s < span.end and span.start < e for _, s, e in predicted)

    def summary(self) -> dict:
        gold, found = sum(self.gold.values()), sum(self.found.values())
        per_type = {t: {"gold": self.gold[t], "found": self.found[t], "recall": round(self.found[t] / self.gold[t], 4)}
                    for t in PII_TYPES if t in self.gold}
        return {"spans": gold, "recall": round(found / gold, 4) if gold else None, "per_type": per_type,
                "decoys": self.decoys, "decoys_kept": round(self.decoys_kept / self.decoys, 4) if self.decoys else None}


def score_generator(find: Finder, docs: list[LabelledDoc]) -> dict:
    tally = Tally()
    for doc in docs:
        tally.add(doc.spans, (), find(doc.text, doc.lang, doc.bucket))
    decoys = [(t, "ko", "korean") for t in DECOYS_KO] + [(t, "en", "multilingual") for t in DECOYS_EN]
    decoys += [(t, "python", "code") for t in CODE_DECOYS]
    for text, lang, bucket in decoys:
        tally.add((), (Span("keep", 0, len(text)),), find(text, lang, bucket))
    return tally.summary()


def score_formats(find: Finder, part: str) -> dict:
    tally = Tally()
    for item in formats_documents(part):
        doc = item.doc
        tally.add(doc.spans, item.keep, find(doc.text, doc.lang, doc.bucket))
    return tally.summary()


def meets_targets(summary: dict) -> bool:
    return (summary["recall"] >= RECALL_TARGET and summary["decoys_kept"] >= DECOYS_TARGET
            and all(v["recall"] >= TYPE_RECALL_TARGET for v in summary["per_type"].values()))


# --- throughput -------------------------------------------------------------------------------

def cpu_seconds_each(work: Callable[[], object]) -> float:
    """CPU seconds of this process for one call of ``work`` (CPU time is what "per core" means)."""
    start = time.process_time()
    work()
    return time.process_time() - start


def best_in_rounds(works: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best CPU seconds of each work, timed in ``rounds`` interleaved rounds: on a shared (virtual)
    machine a slow spell then hits one round of every work, not every repeat of one."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(rounds):
        for name, work in works.items():
            best[name] = min(best[name], cpu_seconds_each(work))
    return best


def find_all(find: Finder, texts: list[str]) -> None:
    for text in texts:
        find(text, "ko", "korean")


def megabytes(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def read_texts(name: str) -> list[str]:
    path = SAMPLE / f"{name}.jsonl.gz"
    if not path.exists():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def mixed_korean(korean: list[str], labelled: list[str]) -> list[str]:
    """The sample with a labelled Korean document appended to every fifth document."""
    return [text + "\n\n" + labelled[(i // 5) % len(labelled)] if i % 5 == 0 else text
            for i, text in enumerate(korean)]


# --- report -----------------------------------------------------------------------------------

def print_quality(name: str, results: dict[str, dict]) -> None:
    systems = list(results)
    print(f"\n{name}: {results[systems[0]]['spans']} PII spans, {results[systems[0]]['decoys']} decoys")
    print(f"{'type':16s} {'gold':>5s} " + " ".join(f"{s:>10s}" for s in systems))
    for pii_type in PII_TYPES:
        if pii_type not in results[systems[0]]["per_type"]:
            continue
        cells = [results[s]["per_type"].get(pii_type, {}).get("recall") for s in systems]
        gold = results[systems[0]]["per_type"][pii_type]["gold"]
        print(f"{pii_type:16s} {gold:5d} " + " ".join(f"{c:10.3f}" if c is not None else f"{'-':>10s}" for c in cells))
    print(f"{'recall':16s} {'':5s} " + " ".join(f"{results[s]['recall']:10.3f}" for s in systems))
    print(f"{'decoys kept':16s} {'':5s} " + " ".join(f"{results[s]['decoys_kept']:10.3f}" for s in systems))
    print(f"ours meets targets: {'yes' if meets_targets(results['ours']) else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="generator documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=30,
                        help="throughput rounds of our scrubber (best of, interleaved over the corpora)")
    args = parser.parse_args()

    scrubber = Scrubber()
    finders = {"ours": ours_finder(scrubber), "ko-pii": ko_pii_finder(), "presidio": presidio_finder()}
    generated = generate(args.docs, args.seed)
    quality = {
        f"generator ({args.docs} docs, seed {args.seed})": {n: score_generator(f, generated) for n, f in finders.items()},
        "formats dev": {n: score_formats(f, "dev") for n, f in finders.items()},
        "formats held-out": {n: score_formats(f, "heldout") for n, f in finders.items()},
    }
    for name, results in quality.items():
        print_quality(name, results)

    throughput: dict[str, dict] = {}
    korean = read_texts("ko")
    if korean:
        labelled_ko = ([d.text for d in generated if d.lang == "ko" and d.spans]
                       + [d.doc.text for d in formats_documents() if d.doc.lang == "ko"])
        pii_free = [t for t in korean if not scrubber.find(t, "ko", "korean")]
        corpora = {"korean sample": korean, "korean sample, no PII": pii_free,
                   "mixed korean": mixed_korean(korean, labelled_ko)}
        print()
        ours = best_in_rounds({name: functools.partial(find_all, finders["ours"], texts)
                               for name, texts in corpora.items()}, args.repeat)
        for corpus_name, texts in corpora.items():
            mb = megabytes(texts)
            row = {"docs": len(texts), "mb": round(mb, 3), "ours": round(mb / ours[corpus_name], 3)}
            for system, find in finders.items():
                if system != "ours":  # the peers are 10-100x slower: one pass each
                    row[system] = round(mb / cpu_seconds_each(functools.partial(find_all, find, texts)), 3)
            throughput[corpus_name] = row
            ratios = ", ".join(f"{s} {row[s]:.2f} ({row['ours'] / row[s]:.1f}x)" for s in finders if s != "ours")
            print(f"{corpus_name}: {len(texts)} docs, {mb:.2f} MB: ours {row['ours']:.2f} MB/s per core; {ratios}")
        texts = corpora["korean sample"]
        recognizers = scrubber.recognizers("ko", "korean")
        engine = _no_op_engine(recognizers)
        mb = megabytes(texts)
        engine_s = cpu_seconds_each(lambda: [engine.analyze(t, language="any") for t in texts])
        direct_s = cpu_seconds_each(lambda: [[r.analyze(t, [r.PII_TYPE]) for r in recognizers] for t in texts])
        throughput["korean sample"].update(own_recognizers_in_presidio_engine=round(mb / engine_s, 3),
                                           own_recognizers_no_triggers=round(mb / direct_s, 3))
        print(f"our recognizers behind Presidio AnalyzerEngine: {mb / engine_s:.2f} MB/s; without the trigger "
              f"prefilter: {mb / direct_s:.2f} MB/s")
        mixed = throughput["mixed korean"]["ours"]
        print(f"mixed Korean text: ours {mixed:.2f} MB/s per core (target >= {MIXED_MB_S_TARGET:g}): "
              f"{'ok' if mixed >= MIXED_MB_S_TARGET else 'MISSED'}")
    else:
        print(f"(no sample data at {SAMPLE}: throughput skipped)")

    headline = {f"ours recall, {name}": results["ours"]["recall"] for name, results in quality.items()}
    if throughput:
        headline.update({f"{system} MB/s per core, mixed Korean": throughput["mixed korean"][system] for system in finders})
    write_result(
        "pii_eval",
        {"targets": {"recall": RECALL_TARGET, "type_recall": TYPE_RECALL_TARGET, "decoys_kept": DECOYS_TARGET,
                     "mixed_korean_mb_s": MIXED_MB_S_TARGET},
         "quality": quality, "throughput_mb_s_per_core": throughput},
        compares="PII recognizers (ours) vs ko-pii and Presidio's own recognizers: recall, precision and decoys kept "
                 "on the generated and the hand-written labelled sets; MB/s per core on Korean text",
        headline=headline)
    return 0 if all(meets_targets(results["ours"]) for results in quality.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
