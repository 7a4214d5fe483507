"""What a person sees during a long run: one progress line per phase, Beam's own logging in a file.

Progress. Beam's metrics reach the launching process only when a job ends on the local runners, so
the pipeline reports progress itself: ``Tap`` is a pass-through ``ParDo`` that adds the elements it
sees (and their text bytes) to per-process counters, and each worker process writes its counters,
at most once a second and at the end of every bundle, to a small JSON file in a local directory.
``PhaseProgress`` (in the launching process) sums those files every second and prints

    curate 1-filter   read 12,345 docs 45.6 MB | kept 10,000 | rejected 2,300 | errors 45 | 1,234 docs/s 4.6 MB/s | 0:00:10 | ETA 0:04:56 (23% of 1.2 GB of input files)

as one updating line on a terminal, or one plain line every ``PLAIN_EVERY_S`` seconds otherwise. The
ETA comes from the share of the phase's input done: input file bytes of the files read so far for
a phase that reads the inputs, documents read against the previous phase's documents otherwise.
The files only work where workers share the launching machine's disk: the direct runner (in memory
or multi-processing) and a portable runner with a ``LOOPBACK`` environment. On Dataflow (and other
remote runners) the line says where the job's counters are instead (``runner_note``). Counts are
live figures: a retried bundle counts twice; stats.json holds the accounting.

Logging. Unless ``--verbose``, Beam's loggers (pipeline options, SDK harness start-up, "apitools
not found", worker warnings) and every INFO line go to ``OUTPUT/_logs/<command>.log`` (``log_path``);
the console keeps the warnings and errors of this project's own modules.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, PortableOptions

from corpus import storage
from corpus.local_runner import DIRECT_RUNNER_NAMES, new_pipeline, runner_name

READ, KEPT, REJECTED, ERRORS, INPUT_BYTES = "read", "kept", "rejected", "errors", "input_bytes"
LOG_DIR = "_logs"
FLUSH_EVERY_S = 1.0
PLAIN_EVERY_S = 30.0
LOCAL_RUNNERS = {*DIRECT_RUNNER_NAMES, "bundlebaseddirectrunner", "fnapirunner", "prismrunner"}

# -- worker side ---------------------------------------------------------------------------------
_counters: dict[str, dict[str, list[int]]] = {}  # progress dir -> channel -> [count, bytes]
_flushed: dict[str, float] = {}
_lock = threading.Lock()
_PROCESS_FILE = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"


def _add(directory: str, channel: str, count: int, size: int) -> None:
    with _lock:
        entry = _counters.setdefault(directory, {}).setdefault(channel, [0, 0])
        entry[0] += count
        entry[1] += size


def _flush(directory: str, force: bool) -> None:
    now = time.monotonic()
    with _lock:
        if not force and now - _flushed.get(directory, 0.0) < FLUSH_EVERY_S:
            return
        _flushed[directory] = now
        text = json.dumps(_counters.get(directory, {}))
    name = f"{os.getpid()}-{_PROCESS_FILE.split('-', 1)[1]}"  # a forked worker gets a file of its own
    temporary = os.path.join(directory, f".{name}.{threading.get_ident()}")
    try:
        with open(temporary, "w", encoding="utf-8") as sink:
            sink.write(text)
        os.replace(temporary, os.path.join(directory, name))
    except OSError:  # progress must never fail a run (the directory is gone once the phase ended)
        pass


def text_bytes(element: Any) -> int:
    """UTF-8 bytes of a Document's, a Rejection's or a ReadError's text (0 for anything else)."""
    doc = getattr(element, "doc", element)
    text = getattr(doc, "text", None)
    return len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0


class _TapFn(beam.DoFn):
    def __init__(self, directory: str, channels: tuple[str, ...], weigh):
        self._directory, self._channels, self._weigh = directory, channels, weigh

    def process(self, element: Any) -> Iterable:
        count, size = self._weigh(element)
        for channel in self._channels:
            _add(self._directory, channel, count, size)
        _flush(self._directory, force=False)
        yield element

    def finish_bundle(self) -> None:
        _flush(self._directory, force=True)


def _documents(element: Any) -> tuple[int, int]:
    return getattr(element, "records", 1), text_bytes(element)


class Tap(beam.PTransform):
    """Passes ``pcoll`` through unchanged, counting it into ``channels`` of the progress directory
    (``weigh(element) -> (count, bytes)``; default: records and text bytes). With no directory (a
    remote runner) it is the identity and adds no step to the graph."""

    def __init__(self, directory: str | None, *channels: str, weigh=_documents):
        super().__init__()
        self.directory, self.channels, self.weigh = directory, channels, weigh

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        if self.directory is None:
            return pcoll
        return pcoll | beam.ParDo(_TapFn(self.directory, self.channels, self.weigh))


# -- launching side ------------------------------------------------------------------------------
def shares_local_disk(options: PipelineOptions) -> bool:
    """Whether the runner's workers write to this machine's disk (see the module docstring)."""
    runner = runner_name(options).lower()
    if runner in LOCAL_RUNNERS:
        return True
    environment = (options.view_as(PortableOptions).environment_type or "").upper()
    return runner == "portablerunner" and environment == "LOOPBACK"


def dataflow_job_url(job_id: str, project: str, region: str) -> str:
    return f"https://console.cloud.google.com/dataflow/jobs/{region}/{job_id}?project={project}"


def runner_note(options: PipelineOptions, job_id: str | None) -> str:
    """Where a remote job's progress is, for the console."""
    runner = runner_name(options)
    if runner == "DataflowRunner":
        gcp = options.view_as(GoogleCloudOptions)
        where = (dataflow_job_url(job_id, gcp.project, gcp.region) if job_id else
                 f"the Dataflow console of project {gcp.project}, region {gcp.region}")
        return (f"job {job_id}: {where} (progress: the job graph's element counts; counters under "
                f"'Job metrics' -> 'Custom counters': read/records, <step>/kept, <step>/rejected:<rule>)")
    return f"runner {runner}: progress is in the runner's own UI (Beam counters read/records, <step>/kept, ...)"


@dataclass
class Expected:
    """What the phase reads in all: input bytes (a phase that reads the inputs) or documents."""

    input_bytes: int | None = None
    documents: int | None = None


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.2f} GB"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(label: str, totals: dict[str, list[int]], elapsed: float, expected: Expected,
                  finished: bool = False) -> str:
    """The console line for one phase from summed counters (see the module docstring); ``finished``:
    the last line, once the job ended."""
    def get(channel: str) -> tuple[int, int]:
        count, size = totals.get(channel, (0, 0))
        return count, size
    (read, read_bytes), (kept, _), (rejected, _), (errors, _) = get(READ), get(KEPT), get(REJECTED), get(ERRORS)
    line = (f"{label}  read {read:,} docs {_mb(read_bytes)} | kept {kept:,} | rejected {rejected:,} | "
            f"errors {errors:,} | ")
    if elapsed > 0:
        rate = read / elapsed
        line += f"{rate:,.0f} docs/s " if rate >= 100 else f"{rate:.1f} docs/s "
        line += f"{_mb(read_bytes / elapsed)}/s | "
    line += _clock(elapsed)
    done = None
    if expected.input_bytes:
        done = get(INPUT_BYTES)[1] / expected.input_bytes
        share = f" ({min(done, 1.0):.0%} of {_mb(expected.input_bytes)} of input files)"
    elif expected.documents:
        done = read / expected.documents
        share = f" ({min(done, 1.0):.0%} of {expected.documents:,} docs)"
    if done is not None and finished:
        line += share.replace(" (", " | read ", 1).rstrip(")")
    elif done is not None:
        eta = _clock(elapsed * (1 - done) / done) if 0 < done < 1 else ("writing" if done >= 1 else "?")
        line += f" | ETA {eta}{share}"
    return line + (" | done" if finished else "")


def read_totals(directory: str) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for path in Path(directory).glob("*.json"):
        try:
            counters = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # mid-replace on a filesystem without atomic rename: next poll
            continue
        for channel, (count, size) in counters.items():
            entry = totals.setdefault(channel, [0, 0])
            entry[0] += count
            entry[1] += size
    return totals


@dataclass
class PhaseProgress:
    """Prints one phase's progress while its job runs (``with PhaseProgress(...) as progress``);
    ``progress.directory`` is what the phase's ``Tap``s write to (None: no local progress)."""

    label: str
    options: PipelineOptions
    expected: Expected = field(default_factory=Expected)
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    directory: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> "PhaseProgress":
        self._started = time.monotonic()
        if shares_local_disk(self.options):
            self.directory = tempfile.mkdtemp(prefix="korpus-progress-")
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def job_started(self, job_id: str | None) -> None:
        if self.directory is None:
            print(f"{self.label}  {runner_note(self.options, job_id)}", file=self.stream, flush=True)

    def _tty(self) -> bool:
        return hasattr(self.stream, "isatty") and self.stream.isatty()

    def _line(self, finished: bool = False) -> str:
        return progress_line(self.label, read_totals(self.directory), time.monotonic() - self._started,
                             self.expected, finished)

    def _poll(self) -> None:
        last_plain = time.monotonic()
        while not self._stop.wait(1.0):
            if self._tty():
                print("\r" + self._line() + "\x1b[K", end="", file=self.stream, flush=True)
            elif time.monotonic() - last_plain >= PLAIN_EVERY_S:
                last_plain = time.monotonic()
                print(self._line(), file=self.stream, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        _flush(self.directory, force=True)  # the launching process's own taps (in-memory runner)
        ending = "\r" if self._tty() else ""
        print(ending + self._line(finished=exc[0] is None) + ("\x1b[K" if ending else ""), file=self.stream, flush=True)
        for path in Path(self.directory).iterdir():
            path.unlink()
        os.rmdir(self.directory)
        with _lock:
            _counters.pop(self.directory, None)


def run_pipeline(options: PipelineOptions, wire, progress: PhaseProgress) -> None:
    """Wire (``wire(pipeline)``) and run one job to its end, telling ``progress`` the job id."""
    pipeline = new_pipeline(options)
    wire(pipeline)
    result = pipeline.run()
    job_id = getattr(result, "job_id", None)
    progress.job_started(job_id() if callable(job_id) else None)
    result.wait_until_finish()


# -- logging -------------------------------------------------------------------------------------
_PROJECT_LOGGERS = ("corpus", "transforms", "mixtures", "trainer", "pii", "__main__", "beam_pipeline")


class _ProjectWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and record.name.split(".")[0] in _PROJECT_LOGGERS


def log_path(command: str, output: str) -> Path:
    """``OUTPUT/_logs/<command>.log``, or in the temp directory for an object-store output."""
    if storage.is_url(output):
        return Path(tempfile.gettempdir()) / "korpus-logs" / f"{command}.log"
    return Path(output).resolve() / LOG_DIR / f"{command}.log"


class _LazyFileHandler(logging.FileHandler):
    """Creates its directory and file at the first record (a command that fails before any work, a
    bad glob, leaves no output directory behind); a log that cannot be written (a full disk) is
    dropped rather than printed over the one-line error the command ends with."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class _Console(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (not when configured)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(command: str, output: str | None, verbose: bool) -> Path | None:
    """Route logging (see the module docstring); returns the log file, or None with ``verbose``.
    Replaces the handlers an earlier call installed (``run`` calls each step's command in turn)
    and leaves any other handler of the root logger alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_korpus", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO)
    console = _Console()
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    path = None
    if not verbose and output is not None:
        console.addFilter(_ProjectWarnings())
        path = log_path(command, output)
        to_file = _LazyFileHandler(path, encoding="utf-8", delay=True)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(to_file)
    for handler in handlers:
        handler._korpus = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return path
