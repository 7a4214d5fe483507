"""Knowledge scoring: a score in [0, 1] per curated document, and the upsampling weight it implies.

HyperCLOVA X upsamples knowledge-containing data; this step scores, the build step repeats
(``corpus.upsampling.upsampling_weight`` is the mapping it imports, with the ``knowledge.upsampling`` config this
step records in stats.json: the build has no copy of its own). Per bucket family:

- text (korean, multilingual): P(knowledge) from a fastText classifier trained with
  ``beam_pipeline.py knowledge-train`` (``transforms/knowledge_model.py``), when ``text_model`` is set;
- code: heuristics (``CodeHeuristics``): comment/docstring line density, documentation files,
  test files.

and, for every document, an optional source prior: the first ``priors`` entry whose regex matches
``doc.source``. Combination rule: with both a model/heuristic score ``m`` and a prior ``p``,
``score = (1 - prior_weight) * m + prior_weight * p``; with only one, that one; with neither
(text without a model and no matching prior) ``0`` (no upsampling: nothing is known).

Scores are rounded to 6 decimals so that reruns write byte-identical Parquet. The step never
rejects a document for its score; a document whose scoring raises is rejected
``knowledge:exception`` by the shared ``FilterStep`` wrapper rather than losing the run.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import apache_beam as beam

from corpus.config import ConfigError
from corpus.document import BUCKETS, CODE, CODE_KIND, Document
from corpus.upsampling import UpsamplingConfig, upsampling_weight
from transforms.knowledge_model import (ClassifierTrainConfig, KnowledgeClassifier, KnowledgeModelError,
                                        WeakLabelConfig)
from transforms.curate_step import KEPT, REJECTED, STATS, DocumentFilter, FilterStep

NAME = "knowledge"
_MICRO = 1_000_000  # stats accumulate integer micro-units: float sums would depend on merge order


@dataclass
class SourcePrior:
    """Documents whose ``source`` matches ``pattern`` (a regex, ``re.search``) get ``prior``."""

    pattern: str = ""
    prior: float = 0.0


@dataclass
class CodeHeuristicsConfig:
    """Code knowledge heuristics (phi-1's "textbook quality" idea, Gunasekar et al. 2023: code that
    explains itself teaches more). Score = comment/docstring share of non-blank lines divided by
    ``comment_saturation`` (capped at 1); 0 above ``max_comment_fraction`` (0.8, the upper bound of
    SantaCoder's comment-to-code filter, Allal et al. 2023: such files are mostly licences or
    commented-out code); documentation files (README, .md/.rst/.txt/.adoc) score
    ``doc_file_score``; test files are multiplied by ``test_file_factor`` (assertions and fixtures
    carry little explanation).

    ``comment_saturation = 1`` (score = the comment share) is deliberately conservative: comment
    density is a weak proxy for knowledge (JSDoc boilerplate counts as much as an explanation), so
    with the default upsampling threshold only files with more comment than code lines are
    repeated. On the sample code the median comment share is 0.26 for Python, 0.21 Go, 0.40
    JavaScript (lodash), 0.60 TypeScript (rxjs); at saturation 0.5 files of 40-80% comments would score
    >= 0.8 (about a third of all files)."""

    comment_saturation: float = 1.0
    max_comment_fraction: float = 0.8
    doc_file_score: float = 1.0
    test_file_factor: float = 0.5


@dataclass
class KnowledgeConfig:
    text_model: str = ""  # fastText model from `knowledge-train`; "" = text scored by priors only
    priors: list[SourcePrior] = field(default_factory=list)
    prior_weight: float = 0.5
    code: CodeHeuristicsConfig = field(default_factory=CodeHeuristicsConfig)
    upsampling: UpsamplingConfig = field(default_factory=UpsamplingConfig)
    histogram_bins: int = 10
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)
    weak_labels: WeakLabelConfig = field(default_factory=WeakLabelConfig)


# Comment syntax per language: (line-comment prefixes, (block opener, block closer) pairs).
_HASH = (("#",), ())
_C_LIKE = (("//",), (("/*", "*/"),))
_COMMENT_SYNTAX = {
    "python": (("#",), (('"""', '"""'), ("'''", "'''"))),
    "shell": _HASH, "ruby": _HASH, "perl": _HASH, "r": _HASH, "yaml": _HASH, "toml": _HASH,
    "c": _C_LIKE, "cpp": _C_LIKE, "java": _C_LIKE, "javascript": _C_LIKE, "typescript": _C_LIKE,
    "go": _C_LIKE, "rust": _C_LIKE, "swift": _C_LIKE, "kotlin": _C_LIKE, "scala": _C_LIKE,
    "csharp": _C_LIKE, "php": _C_LIKE,
    "sql": (("--",), (("/*", "*/"),)), "lua": (("--",), (("--[[", "]]"),)), "haskell": (("--",), (("{-", "-}"),)),
}
_EXTENSION_LANG = {
    ".py": "python", ".sh": "shell", ".bash": "shell", ".rb": "ruby", ".pl": "perl", ".r": "r",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".c": "c", ".h": "c", ".cc": "cpp",
    ".cpp": "cpp", ".hpp": "cpp", ".java": "java", ".js": "javascript", ".mjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust", ".swift": "swift",
    ".kt": "kotlin", ".scala": "scala", ".cs": "csharp", ".php": "php", ".sql": "sql",
    ".lua": "lua", ".hs": "haskell",
}
_DOC_EXTENSIONS = {".md", ".rst", ".txt", ".adoc"}
_TEST_PATH = re.compile(r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$")


def comment_fraction(text: str, language: str) -> float:
    """Share of non-blank lines that are comments or docstrings (0 for unknown languages)."""
    prefixes, blocks = _COMMENT_SYNTAX.get(language, ((), ()))
    comment = total = 0
    closer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        total += 1
        if closer:
            comment += 1
            if closer in line:
                closer = ""
            continue
        if line.startswith(prefixes):
            comment += 1
            continue
        for opener, end in blocks:
            if line.startswith(opener):
                comment += 1
                if end not in line[len(opener):]:
                    closer = end
                break
    return comment / total if total else 0.0


class CodeHeuristics:
    def __init__(self, config: CodeHeuristicsConfig):
        self.config = config

    def score(self, doc: Document) -> float:
        path = doc.meta.get("path", "")
        pure = PurePosixPath(path.lower())
        if pure.suffix in _DOC_EXTENSIONS or pure.name.startswith("readme"):
            return self.config.doc_file_score
        language = doc.meta.get("lang", "").lower() or _EXTENSION_LANG.get(pure.suffix, "")
        fraction = comment_fraction(doc.text, language)
        if fraction > self.config.max_comment_fraction:
            return 0.0
        score = min(1.0, fraction / self.config.comment_saturation)
        if _TEST_PATH.search(path.lower()):
            score *= self.config.test_file_factor
        return score


class KnowledgeScorer(DocumentFilter):
    """Sets ``doc.knowledge``. The text model is verified when the scorer is built (in the
    launching process) and loaded once per worker in ``setup``."""

    name = NAME

    def __init__(self, config: KnowledgeConfig):
        self.config = config
        self._priors = _compile_priors(config.priors)
        if not 0.0 <= config.prior_weight <= 1.0:
            raise ConfigError(f"knowledge.prior_weight: must be in [0, 1], got {config.prior_weight}")
        self._code = CodeHeuristics(config.code)
        # Verifying here makes a missing or corrupt model fail the `curate` command before any
        # data is read; workers re-verify the checksum (the file could change under a long run).
        self.model_sha256 = KnowledgeClassifier.load(config.text_model).sha256 if config.text_model else ""
        self._classifier: KnowledgeClassifier | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_classifier"] = None  # workers load their own copy in setup()
        return state

    def setup(self) -> None:
        if self.config.text_model and self._classifier is None:
            classifier = KnowledgeClassifier.load(self.config.text_model)
            if classifier.sha256 != self.model_sha256:
                raise KnowledgeModelError(f"knowledge model {classifier.path} changed since the pipeline was built")
            self._classifier = classifier

    def model_score(self, doc: Document) -> float | None:
        if doc.kind == CODE_KIND or doc.bucket == CODE:
            return self._code.score(doc)
        if self.config.text_model:
            self.setup()
            return self._classifier.score(doc.text, doc.lang)
        return None

    def prior(self, doc: Document) -> float | None:
        for pattern, prior in self._priors:
            if pattern.search(doc.source):
                return prior
        return None

    def score(self, doc: Document) -> float:
        model, prior = self.model_score(doc), self.prior(doc)
        if model is None and prior is None:
            return 0.0
        if model is None or prior is None:
            combined = prior if model is None else model
        else:
            combined = (1.0 - self.config.prior_weight) * model + self.config.prior_weight * prior
        return round(min(1.0, max(0.0, combined)), 6)

    def apply(self, doc: Document) -> Document:
        return dataclasses.replace(doc, knowledge=self.score(doc))


def _compile_priors(priors: list[SourcePrior]) -> list[tuple[re.Pattern, float]]:
    compiled = []
    for index, entry in enumerate(priors):
        key = f"knowledge.priors[{index}]"
        if not 0.0 <= entry.prior <= 1.0:
            raise ConfigError(f"{key}.prior: must be in [0, 1], got {entry.prior}")
        try:
            compiled.append((re.compile(entry.pattern), entry.prior))
        except re.error as exc:
            raise ConfigError(f"{key}.pattern: not a valid regex: {exc}") from exc
    return compiled


class KnowledgeStatsFn(beam.CombineFn):
    """Per bucket: score histogram, documents, characters, and what upsampling will do to them.

    Token counts are estimated by characters (the tokenizer is trained after curation); within a
    bucket, tokens are close to proportional to characters, so the shares below carry over.
    """

    def __init__(self, config: KnowledgeConfig):
        self.bins = config.histogram_bins
        self.upsampling = config.upsampling

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, doc: Document) -> dict:
        bucket = acc.setdefault(doc.bucket, {"histogram": [0] * self.bins, "documents": 0, "chars": 0,
                                             "score_micro": 0, "weighted_chars_micro": 0,
                                             "upsampled_documents": 0, "upsampled_chars": 0,
                                             "upsampled_weighted_chars_micro": 0})
        weight_micro = round(upsampling_weight(doc.knowledge, self.upsampling) * _MICRO)
        chars = len(doc.text)
        bucket["histogram"][min(self.bins - 1, int(doc.knowledge * self.bins))] += 1
        bucket["documents"] += 1
        bucket["chars"] += chars
        bucket["score_micro"] += round(doc.knowledge * _MICRO)
        bucket["weighted_chars_micro"] += weight_micro * chars
        if weight_micro > _MICRO:
            bucket["upsampled_documents"] += 1
            bucket["upsampled_chars"] += chars
            bucket["upsampled_weighted_chars_micro"] += weight_micro * chars
        return acc

    def merge_accumulators(self, accumulators) -> dict:
        merged: dict = {}
        for acc in accumulators:
            for name, part in acc.items():
                into = merged.setdefault(name, {k: ([0] * self.bins if k == "histogram" else 0) for k in part})
                for key, value in part.items():
                    into[key] = [a + b for a, b in zip(into[key], value)] if key == "histogram" else into[key] + value
        return merged

    def extract_output(self, acc: dict) -> dict:
        edges = [round(i / self.bins, 6) for i in range(self.bins + 1)]
        buckets = {name: _bucket_summary(acc[name]) for name in BUCKETS if name in acc}
        buckets.update({name: _bucket_summary(part) for name, part in sorted(acc.items()) if name not in buckets})
        return {"histogram_edges": edges, "upsampling": dataclasses.asdict(self.upsampling),
                "token_estimate": "characters", "buckets": buckets}


def _bucket_summary(part: dict) -> dict:
    documents, chars = part["documents"], part["chars"]
    weighted = part["weighted_chars_micro"] / _MICRO
    return {
        "documents": documents,
        "chars": chars,
        "mean_score": round(part["score_micro"] / _MICRO / documents, 6) if documents else 0.0,
        "histogram": part["histogram"],
        "upsampled_documents": part["upsampled_documents"],
        "upsampled_chars": part["upsampled_chars"],
        # Characters after repetition / before: how much larger upsampling makes this bucket.
        "effective_multiplier": round(weighted / chars, 6) if chars else 1.0,
        # Share of the bucket's post-upsampling tokens that come from upsampled documents.
        "upsampled_token_share": (round(part["upsampled_weighted_chars_micro"] / _MICRO / weighted, 6)
                                  if weighted else 0.0),
    }


class KnowledgeStep(beam.PTransform):
    """Scores every document (``kept``) and emits one stats dict (``stats``)."""

    def __init__(self, config: KnowledgeConfig):
        super().__init__(label=NAME)
        config.upsampling.validate()
        if config.histogram_bins < 1:
            raise ConfigError(f"knowledge.histogram_bins: must be >= 1, got {config.histogram_bins}")
        self.config = config
        self.scorer = KnowledgeScorer(config)

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        scored = docs | "Score" >> FilterStep(self.scorer)
        stats = (scored[KEPT]
                 | "Stats" >> beam.CombineGlobally(KnowledgeStatsFn(self.config))
                 | "AddModel" >> beam.Map(_with_model, self.config.text_model, self.scorer.model_sha256))
        return {KEPT: scored[KEPT], REJECTED: scored[REJECTED], STATS: stats}


def _with_model(stats: dict, path: str, sha256: str) -> dict:
    return {**stats, "text_model": {"path": path, "sha256": sha256} if path else None}
