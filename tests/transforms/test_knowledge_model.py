"""The knowledge classifier: training, held-out metrics, determinism, verified loading, the CLI."""
from __future__ import annotations

import dataclasses
import gzip
import json

import pytest

import beam_pipeline
from corpus.hashing import sha256_file
from tests.transforms.knowledge_fixtures import TEST_TRAIN_CONFIG, separable_examples, train_fixture_model
from transforms.knowledge_model import (ExampleFiles, KnowledgeClassifier, KnowledgeModelError, WeakLabelConfig,
                                        collect_examples, feature_text, roc_auc, sidecar_path, train_classifier)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return train_fixture_model(tmp_path_factory.mktemp("knowledge"))


def test_korean_features_are_mecab_morphemes_lowercased_on_one_line():
    assert feature_text("대한민국은 민주공화국이다.\nHello World", "ko").split() == [
        "대한민국", "은", "민주", "공화국", "이", "다", "hello", "world"]
    assert "\n" not in feature_text("line one\nline two", "en")


def test_classifier_ranks_unseen_positives_above_unseen_negatives(model_path):
    classifier = KnowledgeClassifier.load(model_path)
    unseen = separable_examples(20, seed=99)  # another seed: sentences the model never saw
    positives = [classifier.score(ex.text, ex.lang) for ex in unseen if ex.positive]
    negatives = [classifier.score(ex.text, ex.lang) for ex in unseen if not ex.positive]
    assert min(positives) > max(negatives)
    assert all(0.0 <= s <= 1.0 for s in positives + negatives)


def test_training_reports_heldout_metrics_of_a_separable_task(tmp_path):
    metrics = train_classifier(separable_examples(80, seed=1), TEST_TRAIN_CONFIG, tmp_path / "m.bin")
    assert metrics.heldout_positive > 0 and metrics.heldout_negative > 0
    assert metrics.train_positive + metrics.heldout_positive == 80
    assert metrics.auc == 1.0 and metrics.precision == 1.0 and metrics.recall == 1.0
    card = json.loads(sidecar_path(tmp_path / "m.bin").read_text())
    assert card["sha256"] == sha256_file(tmp_path / "m.bin")
    assert card["heldout_metrics"]["auc"] == 1.0


def test_training_twice_gives_a_byte_identical_model(tmp_path, model_path):
    again = train_fixture_model(tmp_path)
    assert sha256_file(again) == sha256_file(model_path)


def test_too_few_examples_are_refused_with_the_config_key(tmp_path):
    with pytest.raises(KnowledgeModelError, match=r"5 positive, 5 negative.*min_examples_per_class"):
        train_classifier(separable_examples(5, seed=1), TEST_TRAIN_CONFIG, tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()


def test_truncated_model_is_rejected_by_its_checksum(tmp_path, model_path):
    broken = tmp_path / "broken.bin"
    data = model_path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # fastText itself loads this without complaint
    sidecar_path(broken).write_text(sidecar_path(model_path).read_text())
    with pytest.raises(KnowledgeModelError, match="does not match its sidecar"):
        KnowledgeClassifier.load(broken)


def test_missing_model_or_sidecar_is_a_clear_error(tmp_path, model_path):
    with pytest.raises(KnowledgeModelError, match="no such file"):
        KnowledgeClassifier.load(tmp_path / "absent.bin")
    orphan = tmp_path / "orphan.bin"
    orphan.write_bytes(model_path.read_bytes())
    with pytest.raises(KnowledgeModelError, match="sidecar .* missing"):
        KnowledgeClassifier.load(orphan)


def test_roc_auc_counts_ties_half():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5


def _write_jsonl_gz(path, records):
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def test_weak_labels_take_matching_sources_and_skip_the_rest(tmp_path):
    records = [{"text": "a law text", "source": "kolaw/constitution.txt", "lang": "en"},
               {"text": "ls lists files", "source": "manpages-de 4.18", "lang": "en"},
               {"text": "unlabelled", "source": "gimp-help-ko", "lang": "en"}]
    _write_jsonl_gz(tmp_path / "in.jsonl.gz", records)
    weak = WeakLabelConfig(positive_sources=["kolaw/"], negative_sources=["^manpages-"])
    examples = collect_examples(ExampleFiles(weakly_labelled=[str(tmp_path / "*.jsonl.gz")]), weak)
    assert [(ex.text, ex.positive) for ex in examples] == [("a law text", True), ("ls lists files", False)]


def test_labelled_records_need_a_recognised_label(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text('{"text": "x", "lang": "en", "label": "maybe"}\n')
    with pytest.raises(KnowledgeModelError, match="record 0: `label` must be"):
        collect_examples(ExampleFiles(labelled=[str(path)]), WeakLabelConfig())


def test_records_without_lang_get_lid176_language(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps({"text": "대한민국은 민주공화국이다. 모든 권력은 국민으로부터 나온다.", "label": 1},
                               ensure_ascii=False) + "\n")
    [example] = collect_examples(ExampleFiles(labelled=[str(path)]), WeakLabelConfig())
    assert example.lang == "ko" and example.positive


def test_knowledge_train_cli_trains_from_positive_and_negative_files(tmp_path, capsys):
    examples = separable_examples(80, seed=1)
    for name, positive in (("pos", True), ("neg", False)):
        _write_jsonl_gz(tmp_path / f"{name}.jsonl.gz",
                        [{"text": ex.text, "lang": ex.lang} for ex in examples if ex.positive == positive])
    config = tmp_path / "config.yaml"
    config.write_text("knowledge:\n  train: {dim: 16, bucket: 10000, epoch: 25, lr: 0.5, holdout_fraction: 0.25,"
                      " min_examples_per_class: 20}\n")
    out = tmp_path / "model.bin"
    assert beam_pipeline.main(["knowledge-train", "--positive", str(tmp_path / "pos.jsonl.gz"),
                               "--negative", str(tmp_path / "neg.jsonl.gz"), "--config", str(config),
                               "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "precision 1.000 recall 1.000 AUC 1.000" in printed
    assert KnowledgeClassifier.load(out).sha256 == sha256_file(out)


def test_knowledge_train_cli_refuses_too_few_examples_without_a_traceback(tmp_path):
    _write_jsonl_gz(tmp_path / "pos.jsonl.gz", [{"text": "theorem", "lang": "en"}])
    _write_jsonl_gz(tmp_path / "neg.jsonl.gz", [{"text": "buy now", "lang": "en"}])
    with pytest.raises(SystemExit, match="knowledge-train: too few examples.*1 positive, 1 negative"):
        beam_pipeline.main(["knowledge-train", "--positive", str(tmp_path / "pos.jsonl.gz"),
                            "--negative", str(tmp_path / "neg.jsonl.gz"), "--output", str(tmp_path / "m.bin")])


def test_balancing_repeats_the_smaller_class_within_each_language():
    from transforms.knowledge_model import _balanced

    training = [(True, "ko", "ko+1"), *[(False, "ko", f"ko-{i}") for i in range(3)],
                (True, "en", "en+1"), (True, "en", "en+2"), (True, "de", "de+1")]
    lines = _balanced(training)
    assert sorted(lines) == sorted(["ko+1"] * 3 + [f"ko-{i}" for i in range(3)] + ["en+1", "en+2", "de+1"])


def test_diverging_training_is_a_clear_error_naming_the_cause(tmp_path):
    config = dataclasses.replace(TEST_TRAIN_CONFIG, lr=1.0e6)  # SGD overflows at once
    with pytest.raises(KnowledgeModelError, match=r"fastText training failed \(Encountered NaN\.\); lower knowledge"):
        train_classifier(separable_examples(60, seed=3), config, tmp_path / "model.bin")
    assert not (tmp_path / "model.bin").exists()
