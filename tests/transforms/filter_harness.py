"""Runs one curation step on a few documents on Beam's DirectRunner and checks what came out.

Shared by the per-filter tests (langid, length, repetition, quality): they prove the filter's
decisions survive the real Beam wiring (tagged outputs, reasons, counters), not only ``apply``.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from corpus.document import Document
from corpus.local_runner import new_pipeline


def run_step(step: beam.PTransform, docs: list[Document], *, kept: list[tuple[str, str]],
              rejected: list[tuple[str, str]]) -> dict[str, int]:
    """Apply ``step`` to ``docs``; assert kept ``(id, bucket)`` and rejected ``(id, reason)``
    pairs (any order). Returns the step's committed counters, ``{name: value}``."""
    with new_pipeline(PipelineOptions()) as pipeline:
        outputs = pipeline | beam.Create(docs) | step
        assert_that(outputs["kept"] | "KeptIds" >> beam.Map(lambda d: (d.id, d.bucket)),
                    equal_to(kept), label="CheckKept")
        assert_that(outputs["rejected"] | "RejectedIds" >> beam.Map(lambda r: (r.doc.id, r.reason)),
                    equal_to(rejected), label="CheckRejected")
    result = pipeline.result
    counters = result.metrics().query(MetricsFilter().with_namespace(step.label))["counters"]
    return {c.key.metric.name: c.committed for c in counters}
