"""The runner of a local job: Beam's FnApiRunner wherever ``--runner=DirectRunner`` (or no runner) is asked for.

Beam 2.77's DirectRunner first tries Prism: it downloads the Prism binary from GitHub at run time
and, where that works, runs the job there in a LOOPBACK environment, every SDK worker a thread of
the launching process (``--direct_num_workers`` and ``--direct_running_mode`` are then ignored:
one core's worth of Python for the whole job). Where the download fails it falls back to the
FnApiRunner, with worker processes as asked. The same command would so run one way on a machine
with internet and another without, and only the second is what the tests, the benchmarks and the
memory figures in docs/ measure. korpus skips the attempt and runs what the DirectRunner falls back
to, with the same pipeline options provisioned to the workers (less the few the failed Prism attempt
rewrites on its way, ``environment_type`` and ``sdk_location``, which no local worker reads).
``--runner=PrismRunner`` still chooses Prism; any other runner is Beam's to resolve.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

# Lower-cased, as Beam's ``create_runner`` resolves them (it also tries the name + "runner").
DIRECT_RUNNER_NAMES = {"direct", "directrunner", "switchingdirect", "switchingdirectrunner"}


class FnApiDirectRunner(PipelineRunner):
    """The DirectRunner's batch path without its Prism attempt."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: PipelineOptions):
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


def runner_name(options: PipelineOptions) -> str:
    """The runner's class name as given (``DirectRunner`` where none is), without its module path."""
    return (options.view_as(StandardOptions).runner or "DirectRunner").rsplit(".", 1)[-1]


def is_direct(options: PipelineOptions) -> bool:
    return runner_name(options).lower() in DIRECT_RUNNER_NAMES


def new_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A pipeline for ``options``, run by ``FnApiDirectRunner`` where they ask for the DirectRunner."""
    return beam.Pipeline(runner=FnApiDirectRunner() if is_direct(options) else None, options=options)
