"""The knowledge classifier: a fastText supervised model, its training, and its feature text.

Features are the document's lowercased words joined by spaces, Korean words being MeCab morphemes
(``corpus.words``): fastText splits on whitespace only, so eojeol (stem + particles glued) would
make every inflected form a separate, rare feature. Training and scoring use the same
``feature_text``, so a model only ever sees features made the way it was trained.

Every model is saved with a sidecar ``MODEL.bin.json`` (sha256 of the model file, the positive
label, the training config and the held-out metrics). fastText itself loads a truncated model
file without complaint, so the checksum is what turns a corrupt model into an error at pipeline
construction instead of silently wrong scores for a whole run.
"""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from corpus.config import ConfigError
from corpus.hashing import blake2b, hash64, sha256_file
from corpus.words import word_tokenizer
from transforms.record_files import RecordFileError, expand_globs, iter_records

POSITIVE_LABEL = "__label__knowledge"
NEGATIVE_LABEL = "__label__other"
_SPLIT_BUCKETS = 10_000
_PROJECT_ROOT = Path(__file__).resolve().parents[1]  # where ``python -m transforms.…`` resolves


class KnowledgeModelError(ValueError):
    """A classifier cannot be trained (too few examples) or loaded (missing, corrupt, wrong labels)."""


@dataclass
class ClassifierTrainConfig:
    """fastText supervised training. Defaults are fastText's own supervised defaults (lr 0.1,
    epoch 5, dim 100, minCount 1, 2M hash buckets) with word bigrams, the setting of DCLM's
    fastText quality classifier (Li et al. 2024, "DataComp-LM"; also EleutherAI's Pile CC filter).
    The model file is about ``4 * dim * (vocabulary + bucket)`` bytes: ~0.8 GB at the defaults;
    lower ``dim``/``bucket`` for small label sets (the demo does).

    Determinism: one training thread (fastText's Hogwild SGD is only reproducible
    single-threaded), a fixed seed, and a clean interpreter for every training run
    (``transforms.fasttext_train``). The last is needed with fasttext-numpy2-wheel 0.9.2: trained
    inside a process that had imported or run other code, the same examples gave different models,
    and at dim 16-64 sometimes "Encountered NaN", so the result depended on what the process had
    done before. A spawned ``multiprocessing`` child was not enough: it imports the caller's modules,
    and an unrelated import added to one of them turned the test fixture's training into NaN.
    Training in the clean interpreter gives the byte-identical model every time
    (tests/transforms/test_knowledge_model.py).
    ``holdout_fraction`` of the examples (chosen by a hash of the text, so duplicates fall on one
    side) are kept out of training for the printed precision/recall/AUC. Training is refused with
    fewer than ``min_examples_per_class`` positives or negatives: below that the held-out metrics
    are noise and the model memorises sources rather than learning what knowledge looks like.
    ``balance_languages``: in each language the smaller class is repeated to the size of the larger
    one in the training split. Labels by source confound language with label (the demo's Korean has
    22 positive and 570 negative documents); without balancing the model learns "Korean means
    negative" instead of what separates the classes within a language.
    """

    dim: int = 100
    epoch: int = 5
    lr: float = 0.1
    word_ngrams: int = 2
    min_count: int = 1
    bucket: int = 2_000_000
    seed: int = 0
    holdout_fraction: float = 0.1
    min_examples_per_class: int = 50
    balance_languages: bool = True


@dataclass
class WeakLabelConfig:
    """Weak labels for ``knowledge-train --input``: a record whose ``source`` matches (``re.search``)
    one of ``positive_sources`` is a positive, one of ``negative_sources`` a negative; records
    matching neither are not used; matching both is an error (the config contradicts itself)."""

    positive_sources: list[str] = field(default_factory=list)
    negative_sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LabelledExample:
    text: str
    lang: str
    positive: bool


@dataclass
class HeldOutMetrics:
    """Classifier quality on the held-out split; precision/recall at a 0.5 score threshold."""

    train_positive: int
    train_negative: int
    heldout_positive: int
    heldout_negative: int
    precision: float
    recall: float
    auc: float

    def summary(self) -> str:
        return (f"train {self.train_positive} positive / {self.train_negative} negative; "
                f"held-out {self.heldout_positive} / {self.heldout_negative}: "
                f"precision {self.precision:.3f} recall {self.recall:.3f} AUC {self.auc:.3f}")


def feature_text(text: str, lang: str) -> str:
    """The single line fastText sees: lowercased words, Korean as MeCab morphemes."""
    return " ".join(word_tokenizer("ko" if lang == "ko" else "xx").word_tokenize(text.lower()))


@dataclass
class ExampleFiles:
    """Where labelled examples come from (the ``knowledge-train`` flags): whole files of positives
    and of negatives, labelled JSONL/Parquet (a ``label`` field), or inputs labelled by source."""

    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)
    weakly_labelled: list[str] = field(default_factory=list)


_LABEL_VALUES = {True: True, 1: True, "1": True, "positive": True, "true": True,
                 False: False, 0: False, "0": False, "negative": False, "false": False}


def collect_examples(files: ExampleFiles, weak: WeakLabelConfig) -> list[LabelledExample]:
    """All labelled examples, in file order. Records without ``lang`` get lid.176's language."""
    if files.weakly_labelled and not (weak.positive_sources and weak.negative_sources):
        raise KnowledgeModelError("weakly labelled inputs need knowledge.weak_labels.positive_sources "
                                  "and negative_sources in the config")
    positive_res = _compile_sources(weak.positive_sources, "positive_sources")
    negative_res = _compile_sources(weak.negative_sources, "negative_sources")
    detector = _LanguageDetector()
    examples = []
    for globs, rule in ((files.positive, lambda r: True), (files.negative, lambda r: False),
                        (files.labelled, _given_label),
                        (files.weakly_labelled, lambda r: _weak_label(r, positive_res, negative_res))):
        for path in expand_globs(globs) if globs else []:
            for index, record in enumerate(iter_records(path)):
                text = record.get("text")
                if not isinstance(text, str):
                    raise RecordFileError(f"{path}: record {index} has no string `text`")
                try:
                    label = rule(record)
                except KnowledgeModelError as exc:
                    raise KnowledgeModelError(f"{path}: record {index}: {exc}") from exc
                if label is not None and text.strip():
                    examples.append(LabelledExample(text, record.get("lang") or detector(text), label))
    return examples


def _compile_sources(patterns: list[str], key: str) -> list[re.Pattern]:
    compiled = []
    for index, pattern in enumerate(patterns):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"knowledge.weak_labels.{key}[{index}]: not a valid regex: {exc}") from exc
    return compiled


def _given_label(record: dict) -> bool:
    value = record.get("label")
    key = value.lower() if isinstance(value, str) else value
    if not isinstance(key, (str, int)) or key not in _LABEL_VALUES:
        raise KnowledgeModelError(f"`label` must be one of positive/negative, true/false, 1/0; got {value!r}")
    return _LABEL_VALUES[key]


def _weak_label(record: dict, positive: list[re.Pattern], negative: list[re.Pattern]) -> bool | None:
    source = str(record.get("source", ""))
    is_positive = any(p.search(source) for p in positive)
    is_negative = any(n.search(source) for n in negative)
    if is_positive and is_negative:
        raise KnowledgeModelError(f"source {source!r} matches both positive_sources and negative_sources")
    return True if is_positive else False if is_negative else None


class _LanguageDetector:
    """lid.176 (as in the langid step) for training records that carry no ``lang``."""

    def __init__(self) -> None:
        self._model = None

    def __call__(self, text: str) -> str:
        from transforms.langid import LangIdConfig, lid176_model_path, lid_sample

        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(str(lid176_model_path()))
        config = LangIdConfig()
        labels, _ = self._model.predict(lid_sample(text, config.sample_windows, config.window_chars), k=1)
        return labels[0].removeprefix("__label__") if labels else ""


def heldout_side(text: str, holdout_fraction: float) -> bool:
    """True if ``text`` belongs to the held-out split (stable across runs and machines)."""
    return hash64(text) % _SPLIT_BUCKETS < holdout_fraction * _SPLIT_BUCKETS


def train_classifier(examples: Iterable[LabelledExample], config: ClassifierTrainConfig,
                     output: str | Path) -> HeldOutMetrics:
    """Train on ``examples`` minus the held-out split, save ``output`` and its sidecar, and
    return the held-out metrics. Raises KnowledgeModelError when there are too few examples."""
    import fasttext

    lines = [(heldout_side(ex.text, config.holdout_fraction), ex.positive, ex.lang,
              f"{POSITIVE_LABEL if ex.positive else NEGATIVE_LABEL} {feature_text(ex.text, ex.lang)}")
             for ex in examples]
    _check_enough([(heldout, positive) for heldout, positive, _, _ in lines], config)
    training = [(positive, lang, line) for heldout, positive, lang, line in lines if not heldout]
    train_positive = sum(1 for positive, _, _ in training if positive)
    heldout = [(positive, line.split(" ", 1)[1]) for held, positive, _, line in lines if held]
    train = _balanced(training) if config.balance_languages else [line for _, _, line in training]
    # SGD sees the examples in a fixed order that interleaves the classes (input files are often
    # all-positive then all-negative) and spreads repeated copies; the order is a hash of the line
    # and its copy number, so it is the same on every run.
    order = [(blake2b(f"{copy}\x00{line}"), line)
             for copy, line in _numbered_copies(train)]
    train = [line for _, line in sorted(order)]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(train) + "\n", encoding="utf-8")
        _train_in_fresh_process(train_file, config, output)
    model = fasttext.load_model(str(output))
    metrics = _evaluate(model, heldout, train_positive, len(training) - train_positive)
    _write_sidecar(output, config, metrics)
    return metrics


def _balanced(training: list[tuple[bool, str, str]]) -> list[str]:
    """Training lines with, in every language that has both classes, the smaller class repeated
    (cyclically, in input order) up to the size of the larger one."""
    by_group: dict[tuple[str, bool], list[str]] = {}
    for positive, lang, line in training:
        by_group.setdefault((lang, positive), []).append(line)
    lines = []
    for lang in sorted({lang for lang, _ in by_group}):
        positives, negatives = by_group.get((lang, True), []), by_group.get((lang, False), [])
        target = max(len(positives), len(negatives)) if positives and negatives else 0
        for group in (positives, negatives):
            lines.extend(group[i % len(group)] for i in range(max(target, len(group))))
    return lines


def _numbered_copies(lines: list[str]) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    numbered = []
    for line in lines:
        seen[line] = seen.get(line, -1) + 1
        numbered.append((seen[line], line))
    return numbered


def _train_in_fresh_process(train_file: Path, config: ClassifierTrainConfig, output: Path) -> None:
    """Run fastText training in a clean interpreter (``transforms.fasttext_train``; see
    ClassifierTrainConfig: determinism)."""
    args = {"input": str(Path(train_file).resolve()), "output": str(Path(output).resolve()), "dim": config.dim, "epoch": config.epoch,
            "lr": config.lr, "wordNgrams": config.word_ngrams, "minCount": config.min_count,
            "bucket": config.bucket, "seed": config.seed, "thread": 1, "loss": "softmax", "verbose": 0}
    result = subprocess.run([sys.executable, "-m", "transforms.fasttext_train", json.dumps(args)],
                            cwd=_PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        error = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit code {result.returncode}"
        raise KnowledgeModelError(f"fastText training failed ({error}); "
                                  "lower knowledge.train.lr if it diverged (NaN)")


def _check_enough(lines: list[tuple[bool, bool]], config: ClassifierTrainConfig) -> None:
    positives = sum(1 for _, positive in lines if positive)
    negatives = len(lines) - positives
    if min(positives, negatives) < config.min_examples_per_class:
        raise KnowledgeModelError(
            f"too few examples to train the knowledge classifier: {positives} positive, {negatives} "
            f"negative; at least {config.min_examples_per_class} of each are required "
            "(knowledge.train.min_examples_per_class)")
    for side, name in ((True, "held-out"), (False, "training")):
        classes = {positive for heldout, positive in lines if heldout == side}
        if classes != {True, False}:
            raise KnowledgeModelError(
                f"the {name} split lacks a class (holdout_fraction={config.holdout_fraction}); "
                "add examples or change knowledge.train.holdout_fraction")


def _evaluate(model: object, heldout: list[tuple[bool, str]], train_positive: int,
              train_negative: int) -> HeldOutMetrics:
    scores = [positive_probability(model, features) for _, features in heldout]
    truth = [positive for positive, _ in heldout]
    predicted = [score >= 0.5 for score in scores]
    true_pos = sum(p and t for p, t in zip(predicted, truth))
    n_pos = sum(truth)
    return HeldOutMetrics(
        train_positive=train_positive, train_negative=train_negative,
        heldout_positive=n_pos, heldout_negative=len(truth) - n_pos,
        precision=true_pos / max(1, sum(predicted)), recall=true_pos / max(1, n_pos),
        auc=roc_auc(scores, truth))


def roc_auc(scores: list[float], truth: list[bool]) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative (Mann-Whitney U with ties counted half)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    n_pos = sum(truth)
    n_neg = len(truth) - n_pos
    if not n_pos or not n_neg:
        raise ValueError("AUC needs at least one positive and one negative")
    rank_sum = sum(rank for rank, positive in zip(ranks, truth) if positive)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def positive_probability(model: object, features: str) -> float:
    """P(knowledge) from a loaded fastText model, clamped to [0, 1] (fastText's softmax output
    carries a 1e-5 smoothing term and can exceed 1 by that much)."""
    labels, probs = model.predict(features, k=-1)
    for label, prob in zip(labels, probs):
        if label == POSITIVE_LABEL:
            return min(1.0, max(0.0, float(prob)))
    return 0.0


def sidecar_path(model_path: str | Path) -> Path:
    return Path(f"{model_path}.json")


def _write_sidecar(output: Path, config: ClassifierTrainConfig, metrics: HeldOutMetrics) -> None:
    card = {"sha256": sha256_file(output), "positive_label": POSITIVE_LABEL,
            "negative_label": NEGATIVE_LABEL, "train_config": dataclasses.asdict(config),
            "heldout_metrics": dataclasses.asdict(metrics)}
    sidecar_path(output).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class KnowledgeClassifier:
    """A verified, loaded classifier. ``load`` checks the sidecar checksum and labels, so every
    failure mode (missing file, truncated or replaced file, a model of another task) is a
    KnowledgeModelError naming the path."""

    def __init__(self, model: object, path: str, sha256: str):
        self._model = model
        self.path = path
        self.sha256 = sha256

    @classmethod
    def load(cls, path: str | Path) -> "KnowledgeClassifier":
        import fasttext

        path = Path(path)
        if not path.is_file():
            raise KnowledgeModelError(f"knowledge model {path}: no such file")
        card = read_sidecar(path)
        actual = sha256_file(path)
        if actual != card.get("sha256"):
            raise KnowledgeModelError(
                f"knowledge model {path}: sha256 {actual[:12]}… does not match its sidecar "
                f"{sidecar_path(path)} ({str(card.get('sha256'))[:12]}…): the file is corrupt or was replaced")
        try:
            model = fasttext.load_model(str(path))
        except ValueError as exc:
            raise KnowledgeModelError(f"knowledge model {path}: fastText cannot load it: {exc}") from exc
        if POSITIVE_LABEL not in model.labels:
            raise KnowledgeModelError(
                f"knowledge model {path}: labels {model.labels} lack {POSITIVE_LABEL}; "
                "train it with `beam_pipeline.py knowledge-train`")
        return cls(model, str(path), actual)

    def score(self, text: str, lang: str) -> float:
        return positive_probability(self._model, feature_text(text, lang))


def read_sidecar(path: str | Path) -> dict:
    card_path = sidecar_path(path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KnowledgeModelError(
            f"knowledge model {path}: sidecar {card_path} missing; models are trained with "
            "`beam_pipeline.py knowledge-train`, which writes it") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KnowledgeModelError(f"knowledge model {path}: sidecar {card_path} is not valid JSON") from exc
    if not isinstance(card, dict):
        raise KnowledgeModelError(f"knowledge model {path}: sidecar {card_path} is not a JSON object")
    return card
