"""``OUT/report.html``: one self-contained page (plots embedded as PNG data URIs) that shows a person
what a run did. It opens with a headline: per bucket the documents read and kept, rejection and dedup
rates, read errors, PII findings and, once a corpus is built, tokens in and out, per context phase and
the FIM share; per context phase its rows, tokens, FIM share and padding. Then the filter funnel, languages, lengths before/after, the measured values behind the
repetition/quality rejections, dedup clusters, PII counts, knowledge scores, the final token mix and
FIM counts, and samples of kept and rejected documents per reason.

It reads only small files: stats.json, report_data.json (bounded histograms and samples that curate
collects with combiners, ``transforms/report_samples.py``; sample texts are PII-scrubbed there) and
the corpus's manifest.json, never the curated or rejected text, so it costs the same for any run
size: ``python -m corpus.report OUT`` (OUT a path or an object-store URL, where report.html is
written too).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from corpus import storage  # noqa: E402
from corpus.curate_stats import step_stats  # noqa: E402
from corpus.document import BUCKETS, CODE  # noqa: E402
from corpus.manifest import MANIFEST_NAME, upgraded  # noqa: E402
from corpus.report_bins import KNOWLEDGE_BINS, REPORT_DATA, bin_edges  # noqa: E402

# A sample whose text OUT/rejected/ does not hold (Rejection.keep_text, pii.side_output_text: omitted).
_NOT_STORED = ("<i>text not stored in rejected/ (an exact duplicate: detail locates its survivor; "
               "or pii.side_output_text: omitted)</i>")
# Marks the page once loaded with how many plots decoded: the browser test (and a curious reader's
# devtools) can tell a broken image from a missing one.
_SELF_CHECK = ("<script>window.addEventListener('load',()=>{const i=[...document.querySelectorAll('figure.plot img')];"
               "document.body.dataset.plots=i.length;document.body.dataset.plotsDecoded="
               "i.filter(x=>x.complete&&x.naturalWidth>0).length;});</script>")


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
        # The whole window: plots side by side (two or three a row on a wide screen), tables full width.
        style = ("body{font-family:sans-serif;margin:0 1.5em;padding:1em 0}"
                 "figure.plot{display:inline-block;vertical-align:top;box-sizing:border-box;margin:0.5em 0;"
                 "padding:0 0.5em;width:50%}img{width:100%}"
                 "@media (min-width:2000px){figure.plot{width:33.3%}}@media (max-width:1100px){figure.plot{width:100%}}"
                 "table{border-collapse:collapse;width:100%;margin:0.5em 0}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;vertical-align:top;text-align:left}"
                 "table.headline td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}"
                 "pre{white-space:pre-wrap;background:#f6f6f6;padding:4px;font-size:12px;margin:0}")
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
                + "\n".join(self.sections) + _SELF_CHECK + "</body></html>\n")


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='headline'><tr>{head}</tr>{body}</table>"


def _bucket_rows(stats: dict, manifest: dict | None) -> list[list[str]]:
    """One row per bucket and a total: curate's documents in and out, rejection and dedup rates,
    PII, and, with a built corpus, tokens in (unique curated tokens) and out, per context phase, FIM share."""
    pii = step_stats(stats).get("pii", {})
    balance = (manifest or {}).get("balance", {}).get("buckets", {})
    phases = (manifest or {}).get("phases", [])
    buckets = [b for b in BUCKETS if b in stats["buckets"]] + [b for b in stats["buckets"] if b not in BUCKETS]
    rows = []
    for bucket in [*buckets, "total"]:
        funnel = stats["totals"] if bucket == "total" else stats["buckets"][bucket]
        dedup = sum(n for reason, n in funnel["rejected"].items() if reason.startswith("dedup:"))
        found = pii if bucket == "total" else pii.get("per_bucket", {}).get(bucket, {})
        row = [bucket, f"{funnel['read']:,}", f"{funnel['kept']:,}", _pct(funnel["rejected_total"], funnel["read"]),
               _pct(dedup, funnel["read"]), f"{funnel['errors']:,}",
               f"{found.get('findings', 0):,} in {found.get('docs_with_pii', 0):,} docs" if pii else "off"]
        if manifest is not None:
            chosen = list(balance.values()) if bucket == "total" else [balance.get(bucket, {})]
            unique = sum(b.get("unique_tokens", 0) for b in chosen)
            out = sum(b.get("achieved", 0) for b in chosen)
            per_phase = [sum(p["tokens_per_bucket"].values()) if bucket == "total" else p["tokens_per_bucket"].get(bucket, 0)
                         for p in phases]
            fim = Counter()
            for phase in phases:
                per_bucket = phase.get("stats", {}).get("fim_per_bucket", {})
                for name, counts in per_bucket.items():
                    if bucket in ("total", name):
                        fim.update(counts)
            segments = sum(fim.values())
            row += [f"{unique:,}", f"{out:,}", f"{out / unique:.2f}" if unique else "–",
                    *(f"{n:,}" for n in per_phase), _pct(fim["psm"] + fim["spm"], segments)]
        rows.append(row)
    return rows


def _headline(report: Report, stats: dict, manifest: dict | None) -> None:
    """The run in two tables, first on the page: per bucket, and per context phase of the corpus."""
    header = ["bucket", "docs read", "docs kept", "rejected", "dedup", "errors", "PII findings"]
    if manifest is not None:
        header += ["tokens in (unique)", "tokens out", "out / in",
                   *(f"tokens {p['name']}" for p in manifest["phases"]), "FIM share"]
    body = _table(header, _bucket_rows(stats, manifest))
    t = stats["totals"]
    body += (f"<p>Accounting: read {t['read']:,} = kept {t['kept']:,} + rejected {t['rejected_total']:,} + "
             f"errors {t['errors']:,}: <b>{'ok' if stats['accounting']['ok'] else 'BROKEN'}</b>. Rejected and dedup "
             "are shares of the documents read; tokens in are the curated bucket's distinct tokens, tokens out what "
             "the corpus holds after balancing (repeats included).</p>")
    if manifest is not None:
        total = sum(sum(p["tokens_per_bucket"].values()) for p in manifest["phases"])
        rows = []
        for phase in manifest["phases"]:
            tokens = sum(phase["tokens_per_bucket"].values())
            packing = phase.get("stats", {}).get("packing", {})
            segments = sum(phase["fim"].values())
            rows.append([phase["name"], f"{phase['seq_len']:,}", f"{phase['rows']:,}", f"{tokens:,}", _pct(tokens, total),
                         _pct(phase["fim"].get("psm", 0) + phase["fim"].get("spm", 0), segments),
                         f"{packing['padding_fraction']:.2%}" if "padding_fraction" in packing else "–",
                         f"{packing['documents_split']:,}" if "documents_split" in packing else "–"])
        body += _table(["context phase", "seq_len", "rows", "tokens", "share of tokens", "FIM share of segments",
                        "padding", "documents split across rows"], rows)
    report.text("Headline", body)


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


def _languages(report: Report, data: dict) -> None:
    text, code = Counter(), Counter()
    for bucket, langs in data["languages"].items():
        (code if bucket == CODE else text).update(langs)
    for title, counter in (("Languages of kept text documents (fastText lid.176)", text),
                           ("Languages of kept code documents (by extension)", code)):
        top = counter.most_common(20)
        report.plot(title, lambda ax, top=top: (ax.bar([k for k, _ in top], [v for _, v in top]),
                                                ax.set_ylabel("documents")))


def _stairs(ax: plt.Axes, histogram: dict[str, int], numbers: list[int], edges: list[float], **style: Any) -> None:
    ax.stairs([histogram.get(str(i), 0) for i in numbers], edges, **style)


def _lengths(report: Report, data: dict) -> None:
    for bucket in BUCKETS:
        phases = data["length"].get(bucket, {})
        if not phases.get("before"):
            continue
        numbers, edges = bin_edges([int(i) for h in phases.values() for i in h], "length")
        edges[0] = max(edges[0], 0.5)  # log axis: the empty-text bin is drawn from 0.5

        def draw(ax, phases=phases, numbers=numbers, edges=edges):
            for phase, alpha in (("before", 0.5), ("after", 0.7)):
                histogram = phases.get(phase, {})
                _stairs(ax, histogram, numbers, edges, fill=True, alpha=alpha,
                        label=f"{phase} ({sum(histogram.values()):,})")
            ax.set_xscale("log")
            ax.set_xlabel("characters")
            ax.set_ylabel("documents")
            ax.legend()
        report.plot(f"Document length, {bucket}: before and after curation", draw)


def _threshold(config: dict, step: str, bucket: str, rule: str) -> float | None:
    """The configured limit behind ``rule`` where its name maps onto a config key (repetition's
    ``dup_5_gram`` -> ``dup_n_grams[5]``, ``dup_line_frac`` -> ``dup_line_frac``), else None; None
    too where the limit depends on the document's language (``fineweb2_fields``)."""
    limits = config.get(step, {}).get(bucket, {})
    gram = re.fullmatch(r"(top|dup)_(\d+)_gram", rule)
    key = f"{gram.group(1)}_n_grams" if gram else rule
    if key in limits.get("fineweb2_fields", ()):
        return None
    value = limits.get(key, {}).get(gram.group(2)) if gram else limits.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _measured_rejections(report: Report, stats: dict, data: dict) -> None:
    """Rejection details of the form ``rule=value`` are the measured value behind the decision:
    one chart per step, a row per (rule, bucket) with a dot per histogram bin (area by documents),
    the configured limit marked where known."""
    for step, rules in sorted(data["measured"].items()):
        rows = [(f"{rule} ({bucket})", histogram, _threshold(stats["config"], step, bucket, rule))
                for rule, per_bucket in sorted(rules.items()) for bucket, histogram in sorted(per_bucket.items())]
        total = sum(sum(h.values()) for _, h, _ in rows)

        def draw(ax, rows=rows):
            largest = max(max(h.values()) for _, h, _ in rows)
            for row, (_, histogram, limit) in enumerate(rows):
                numbers, edges = bin_edges([int(i) for i in histogram], "measured")
                centers = [(lo * hi) ** 0.5 for lo, hi in zip(edges, edges[1:])]
                counts = [histogram.get(str(i), 0) for i in numbers]
                ax.scatter(centers, [row] * len(centers), s=[4 + 200 * c / largest for c in counts], alpha=0.6)
                if limit:
                    ax.scatter([limit], [row], marker="|", s=300, color="red")
            ax.set_yticks(range(len(rows)), [name for name, _, _ in rows], fontsize=7)
            ax.set_xscale("log")
            ax.set_xlabel("measured value (log; dot area: documents); red bar: configured limit")
        report.plot(f"Measured values behind {step} rejections", draw, note=f"{total:,} rejected documents")


def _dedup(report: Report, stats: dict) -> None:
    minhash = step_stats(stats).get("dedup.minhash")
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
    pii = step_stats(stats).get("pii")
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


def _knowledge(report: Report, data: dict) -> None:
    numbers, edges = bin_edges(range(KNOWLEDGE_BINS), "knowledge")

    def draw(ax):
        for bucket in BUCKETS:
            histogram = data["knowledge"].get(bucket, {})
            if histogram:
                _stairs(ax, histogram, numbers, edges, fill=True, alpha=0.5,
                        label=f"{bucket} ({sum(histogram.values()):,})")
        ax.set_xlabel("knowledge score")
        ax.set_ylabel("documents")
        ax.legend()
    report.plot("Knowledge score per bucket", draw)


def _mixture(report: Report, manifest: dict) -> None:
    phases = manifest["phases"]  # corpus/manifest.py format

    def draw(ax):
        names = [s["name"] for s in phases]
        bottom = [0] * len(phases)
        for bucket in BUCKETS:
            values = [s["tokens_per_bucket"].get(bucket, 0) for s in phases]
            ax.bar(names, values, bottom=bottom, label=bucket)
            bottom = [a + v for a, v in zip(bottom, values)]
        ax.set_ylabel("tokens")
        ax.legend()
    report.plot("Final tokens per bucket and context phase", draw)
    rows = "".join(f"<tr><td>{html.escape(s['name'])}</td><td>{s.get('seq_len')}</td>"
                   f"<td>{html.escape(json.dumps(s['tokens_per_bucket']))}</td>"
                   f"<td>{html.escape(json.dumps(s['fim']))}</td></tr>" for s in phases)
    report.text("Mixture and FIM", "<table><tr><th>context phase</th><th>seq_len</th><th>tokens per bucket</th>"
                f"<th>FIM counts</th></tr>{rows}</table>")


def _sample_text(text: str | None) -> str:
    return _NOT_STORED if text is None else f"<pre>{html.escape(text)}</pre>"


def _samples(report: Report, data: dict) -> None:
    rows = "".join(f"<tr><td>{html.escape(bucket)}</td><td>{html.escape(outcome)}</td><td>{html.escape(d['id'])}</td>"
                   f"<td>{html.escape(d['detail'] or '')}</td><td>{_sample_text(d['text'])}</td></tr>"
                   for bucket, outcomes in sorted(data["samples"].items())
                   for outcome, docs in sorted(outcomes.items()) for d in docs)
    report.text(f"Sample documents (PII-scrubbed, first {data['sample_chars']} characters; "
                f"per bucket and outcome the {data['samples_per_key']} of smallest id hash)",
                f"<table><tr><th>bucket</th><th>outcome</th><th>id</th><th>detail</th><th>text</th></tr>{rows}</table>")


def _read_json(path: str) -> dict | None:
    if not storage.exists(path):
        return None
    with storage.open_read(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def make_report(out: str | Path, corpus: str | Path | None = None) -> str | Path:
    """Writes ``out/report.html`` from a finished run's outputs (``out`` a path or an object-store
    URL; the built corpus defaults to ``out/corpus``); returns its path."""
    stats = _read_json(storage.join(out, "stats.json"))
    if stats is None:
        raise FileNotFoundError(f"{storage.join(out, 'stats.json')}: not a finished curate run")
    data = _read_json(storage.join(out, REPORT_DATA))
    manifest = _read_json(storage.join(corpus if corpus is not None else storage.join(out, "corpus"), MANIFEST_NAME))
    manifest = upgraded(manifest) if manifest is not None else None
    report = Report()
    _headline(report, stats, manifest)
    _funnel(report, stats)
    if data is None:
        report.text("Histograms and samples", f"<p>{html.escape(REPORT_DATA)} is missing: the run predates it; "
                    "rerun curate for lengths, languages, measured values, knowledge scores and samples.</p>")
    else:
        _languages(report, data)
        _lengths(report, data)
        _measured_rejections(report, stats, data)
    _dedup(report, stats)
    _pii(report, stats)
    if data is not None:
        _knowledge(report, data)
    if manifest is not None:
        _mixture(report, manifest)
    if data is not None:
        _samples(report, data)
    path = storage.join(out, "report.html")
    with storage.create_atomic(path) as sink:
        sink.write(report.render(f"Corpus build report: {out}").encode("utf-8"))
    return path if storage.is_url(out) else Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write OUT/report.html for a finished run")
    parser.add_argument("out", help="the curate OUT (a path or an object-store URL)")
    parser.add_argument("--corpus", default=None, help="the built corpus (default OUT/corpus)")
    args = parser.parse_args()
    print(make_report(args.out, args.corpus))


if __name__ == "__main__":
    main()
