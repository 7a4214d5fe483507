"""``OUT/report.html``: one self-contained page (plots embedded as PNG data URIs) that shows a person
what a run did: the filter funnel, languages, lengths before/after, the measured values behind the
repetition/quality rejections, dedup clusters, PII counts, knowledge scores, the final token mix and
FIM counts, and samples of kept and rejected documents per reason.

It reads only the run's outputs (stats.json, curated/ and rejected/ Parquet, corpus/manifest.json),
so it can be made for any finished run: ``python -m corpus.report OUT``. Sample texts are passed
through the PII scrubber first: rejected documents left the pipeline before the PII stage.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from corpus.document import BUCKETS  # noqa: E402

SAMPLES_PER_REASON = 2
SAMPLE_CHARS = 400
# Marks the page once loaded with how many plots decoded: the browser test (and a curious reader's
# devtools) can tell a broken image from a missing one.
_SELF_CHECK = ("<script>window.addEventListener('load',()=>{const i=[...document.querySelectorAll('figure.plot img')];"
               "document.body.dataset.plots=i.length;document.body.dataset.plotsDecoded="
               "i.filter(x=>x.complete&&x.naturalWidth>0).length;});</script>")
_MEASURED = re.compile(r"^([a-z0-9_]+)=([0-9.eE+-]+)")


def _read_parquet_dir(path: Path, columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for file in sorted(path.glob("**/*.parquet")):
        table = pq.read_table(file, columns=[c for c in columns if c in pq.read_schema(file).names])
        rows.extend(table.to_pylist())
    return rows


def _png(draw: Callable[[plt.Axes], None], width: float = 7.0, height: float = 3.2) -> str:
    fig, ax = plt.subplots(figsize=(width, height))
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})  # no version: stable bytes
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


class Report:
    def __init__(self) -> None:
        self.sections: list[str] = []
        self.plots = 0

    def plot(self, title: str, draw: Callable[[plt.Axes], None], note: str = "") -> None:
        self.plots += 1
        self.sections.append(
            f'<figure class="plot"><img alt="{html.escape(title)}" src="data:image/png;base64,{_png(draw)}">'
            f"<figcaption>{html.escape(title)}{' — ' + html.escape(note) if note else ''}</figcaption></figure>")

    def text(self, heading: str, body_html: str) -> None:
        self.sections.append(f"<h2>{html.escape(heading)}</h2>{body_html}")

    def render(self, title: str) -> str:
        style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
                 "figure{margin:1em 0}img{max-width:100%}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;vertical-align:top}"
                 "pre{white-space:pre-wrap;background:#f6f6f6;padding:4px;font-size:12px}")
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
                + "\n".join(self.sections) + _SELF_CHECK + "</body></html>\n")


def _funnel(report: Report, stats: dict) -> None:
    buckets = [b for b in stats["buckets"]]
    reasons = sorted({r for f in stats["buckets"].values() for r in f["rejected"]})
    for unit, kept_key, rej_key in (("documents", "kept", None), ("characters", "chars_kept", "chars_rejected")):
        def draw(ax, unit=unit, kept_key=kept_key, rej_key=rej_key):
            kept = [stats["buckets"][b][kept_key] for b in buckets]
            ax.barh(buckets, kept, label="kept", color="#4c9a2a")
            left = list(kept)
            if rej_key is None:
                for reason in reasons:
                    values = [stats["buckets"][b]["rejected"].get(reason, 0) for b in buckets]
                    ax.barh(buckets, values, left=left, label=reason)
                    left = [a + v for a, v in zip(left, values)]
                errors = [stats["buckets"][b]["errors"] for b in buckets]
                ax.barh(buckets, errors, left=left, label="read errors", color="black")
            else:
                ax.barh(buckets, [stats["buckets"][b][rej_key] for b in buckets], left=left,
                        label="rejected", color="#c44")
            ax.set_xlabel(unit)
            ax.legend(fontsize=6, ncol=2, loc="lower right")
        report.plot(f"Filter funnel per bucket ({unit})", draw)
    t = stats["totals"]
    report.text("Accounting", f"<p>read {t['read']:,} = kept {t['kept']:,} + rejected {t['rejected_total']:,} + "
                f"errors {t['errors']:,}: <b>{'ok' if stats['accounting']['ok'] else 'BROKEN'}</b></p>")


def _languages(report: Report, kept: list[dict]) -> None:
    counts = Counter(r["lang"] or "?" for r in kept if r["bucket"] != "code")
    code = Counter(r["lang"] or "?" for r in kept if r["bucket"] == "code")
    for title, counter in (("Languages of kept text documents (fastText lid.176)", counts),
                           ("Languages of kept code documents (by extension)", code)):
        top = counter.most_common(20)
        report.plot(title, lambda ax, top=top: (ax.bar([k for k, _ in top], [v for _, v in top]),
                                                ax.set_ylabel("documents")))


def _lengths(report: Report, kept: list[dict], rejected: list[dict]) -> None:
    import numpy as np

    for bucket in BUCKETS:
        after = [len(r["text"]) for r in kept if r["bucket"] == bucket]
        before = after + [len(r["text"]) for r in rejected if r["bucket"] == bucket]
        if not before:
            continue

        def draw(ax, before=before, after=after):
            bins = np.logspace(0, np.log10(max(before) + 1), 40)
            ax.hist(before, bins=bins, alpha=0.5, label=f"before ({len(before)})")
            ax.hist(after, bins=bins, alpha=0.7, label=f"after ({len(after)})")
            ax.set_xscale("log")
            ax.set_xlabel("characters")
            ax.legend()
        report.plot(f"Document length, {bucket}: before and after curation", draw)


def _threshold(config: dict, stage: str, bucket: str, rule: str) -> float | None:
    """The configured limit behind ``rule`` where its name maps onto a config key (repetition's
    ``dup_5_gram`` -> ``dup_n_grams[5]``, ``dup_line_frac`` -> ``dup_line_frac``), else None; None
    too where the limit depends on the document's language (``fineweb2_fields``)."""
    limits = config.get(stage, {}).get(bucket, {})
    gram = re.fullmatch(r"(top|dup)_(\d+)_gram", rule)
    key = f"{gram.group(1)}_n_grams" if gram else rule
    if key in limits.get("fineweb2_fields", ()):
        return None
    value = limits.get(key, {}).get(gram.group(2)) if gram else limits.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _measured_rejections(report: Report, stats: dict, rejected: list[dict]) -> None:
    """Rejection details of the form ``rule=value`` are the measured value behind the decision:
    one strip chart per stage, a row per rule, with the configured limit marked where known."""
    by_stage: dict[str, dict[str, list[tuple[float, float | None]]]] = defaultdict(lambda: defaultdict(list))
    for r in rejected:
        stage = r["reason"].split(":", 1)[0]
        match = _MEASURED.match(r["detail"] or "")
        if stage in ("length", "repetition", "fineweb_quality", "quality") and match and float(match.group(2)) > 0:
            limit = _threshold(stats["config"], stage, r["bucket"], match.group(1))
            by_stage[stage][f"{match.group(1)} ({r['bucket']})"].append((float(match.group(2)), limit))
    for stage, rules in sorted(by_stage.items()):
        names = sorted(rules)

        def draw(ax, rules=rules, names=names):
            for row, name in enumerate(names):
                values = [v for v, _ in rules[name]]
                ax.scatter(values, [row] * len(values), s=12, alpha=0.6)
                limits = {limit for _, limit in rules[name] if limit}
                ax.scatter(list(limits), [row] * len(limits), marker="|", s=300, color="red")
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_xscale("log")
            ax.set_xlabel("measured value (log); red bar: configured limit")
        report.plot(f"Measured values behind {stage} rejections", draw,
                    note=f"{sum(map(len, rules.values()))} rejected documents")


def _dedup(report: Report, stats: dict) -> None:
    minhash = stats.get("stages", {}).get("dedup.minhash")
    if not minhash:
        return
    histogram = minhash.get("clusters", {}).get("size_histogram", {})
    if histogram:
        labels = list(histogram)
        report.plot("Near-duplicate cluster sizes (MinHash)",
                    lambda ax: (ax.bar(labels, [histogram[k] for k in labels]), ax.set_ylabel("clusters"),
                                ax.set_xlabel("documents per cluster")))
    report.text("Near-duplicates", f"<pre>{html.escape(json.dumps(minhash.get('removed', {}), indent=1))}</pre>")


def _pii(report: Report, stats: dict) -> None:
    pii = stats.get("stages", {}).get("pii")
    if not pii or not pii.get("by_type"):
        return
    types = sorted(pii["by_type"], key=lambda t: -pii["by_type"][t])

    def draw(ax):
        left = [0] * len(types)
        for bucket, per_bucket in sorted(pii.get("per_bucket", {}).items()):
            values = [per_bucket.get("by_type", {}).get(t, 0) for t in types]
            ax.barh(types, values, left=left, label=bucket)
            left = [a + v for a, v in zip(left, values)]
        ax.set_xlabel("findings")
        ax.legend()
    report.plot("PII findings per type (scrubbed to typed placeholders)", draw,
                note=f"{pii.get('docs_with_pii', 0):,} of {pii.get('docs', 0):,} documents had PII")


def _knowledge(report: Report, kept: list[dict]) -> None:
    def draw(ax):
        for bucket in BUCKETS:
            scores = [r["knowledge"] for r in kept if r["bucket"] == bucket]
            if scores:
                ax.hist(scores, bins=20, range=(0, 1), alpha=0.5, label=f"{bucket} ({len(scores)})")
        ax.set_xlabel("knowledge score")
        ax.legend()
    report.plot("Knowledge score per bucket", draw)


def _mixture(report: Report, manifest: dict) -> None:
    stages = manifest["stages"]  # corpus/manifest.py format

    def draw(ax):
        names = [s["name"] for s in stages]
        bottom = [0] * len(stages)
        for bucket in BUCKETS:
            values = [s["tokens_per_bucket"].get(bucket, 0) for s in stages]
            ax.bar(names, values, bottom=bottom, label=bucket)
            bottom = [a + v for a, v in zip(bottom, values)]
        ax.set_ylabel("tokens")
        ax.legend()
    report.plot("Final tokens per bucket and stage", draw)
    rows = "".join(f"<tr><td>{html.escape(s['name'])}</td><td>{s.get('seq_len')}</td>"
                   f"<td>{html.escape(json.dumps(s['tokens_per_bucket']))}</td>"
                   f"<td>{html.escape(json.dumps(s['fim']))}</td></tr>" for s in stages)
    report.text("Mixture and FIM", "<table><tr><th>stage</th><th>seq_len</th><th>tokens per bucket</th>"
                f"<th>FIM counts</th></tr>{rows}</table>")


def _samples(report: Report, kept: list[dict], rejected: list[dict]) -> None:
    from pii import scrub

    def cell(text: str) -> str:
        return f"<pre>{html.escape(scrub(text[:SAMPLE_CHARS]).text)}</pre>"

    by_reason: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rejected, key=lambda r: r["id"]):
        if len(by_reason[r["reason"]]) < SAMPLES_PER_REASON:
            by_reason[r["reason"]].append(r)
    for bucket in BUCKETS:
        by_reason[f"kept ({bucket})"] = sorted((r for r in kept if r["bucket"] == bucket),
                                               key=lambda r: r["id"])[:SAMPLES_PER_REASON]
    rows = "".join(f"<tr><td>{html.escape(reason)}</td><td>{html.escape(r['id'])}</td>"
                   f"<td>{html.escape(r.get('detail') or '')}</td><td>{cell(r['text'])}</td></tr>"
                   for reason, docs in sorted(by_reason.items()) for r in docs)
    report.text("Sample documents (PII-scrubbed, first 400 characters)",
                f"<table><tr><th>outcome</th><th>id</th><th>detail</th><th>text</th></tr>{rows}</table>")


def make_report(out: Path) -> Path:
    """Writes ``out/report.html`` from a finished run's outputs; returns its path."""
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    kept = _read_parquet_dir(out / "curated", ["id", "text", "bucket", "lang", "knowledge"])
    rejected = _read_parquet_dir(out / "rejected", ["id", "text", "bucket", "reason", "detail"])
    manifest_path = out / "corpus" / "manifest.json"
    report = Report()
    _funnel(report, stats)
    _languages(report, kept)
    _lengths(report, kept, rejected)
    _measured_rejections(report, stats, rejected)
    _dedup(report, stats)
    _pii(report, stats)
    _knowledge(report, kept)
    if manifest_path.exists():
        _mixture(report, json.loads(manifest_path.read_text(encoding="utf-8")))
    _samples(report, kept, rejected)
    path = out / "report.html"
    path.write_text(report.render(f"Corpus build report: {out}"), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write OUT/report.html for a finished run")
    parser.add_argument("out", type=Path)
    print(make_report(parser.parse_args().out))


if __name__ == "__main__":
    main()
