"""Decontamination: planted eval passages are caught in every disguise, innocent overlap is kept,
cutting keeps the rest, eval files are read in each format, and bad eval files fail early."""
from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import beam_pipeline
from corpus.config import ConfigError
from corpus.document import Document
from corpus.local_runner import new_pipeline
from transforms.decontamination import (DecontaminationConfig, DecontaminationStep, EvalSetConfig, cut_pieces,
                                        eval_items, with_cli_eval_sets)
from transforms.eval_ngrams import eval_item_words, ngram_hashes, word_hashes, words_of
from transforms.record_files import RecordFileError

# A KorQuAD-like context and an NSMC-like review, both longer than 13 words.
KO_PASSAGE = ("대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다. "
              "대한민국의 국민이 되는 요건은 법률로 정한다.")
EN_PASSAGE = ("The mitochondrion is the organelle that produces most of the chemical energy needed "
              "to power the biochemical reactions of the cell.")
SHORT_ITEM = "this movie was a complete waste of my evening"  # 9 words: matched whole
TINY_ITEM = "great movie"  # 2 words: below min_item_words, never matched
FILLER_A = " ".join(f"Paragraph A sentence {i} talks about gardening, soil and tomatoes." for i in range(12))
FILLER_B = " ".join(f"Paragraph B sentence {i} describes the weather in the mountains." for i in range(12))


def write_eval_set(tmp_path: Path) -> Path:
    path = tmp_path / "evalset.jsonl"
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                            for t in (KO_PASSAGE, EN_PASSAGE, SHORT_ITEM, TINY_ITEM)), encoding="utf-8")
    return path


def doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, text=text, source="web")


def run(config: DecontaminationConfig, docs: list[Document], out: Path) -> tuple[dict, dict, dict]:
    """(kept text by id, rejection reason by id, stats) of one DirectRunner run."""
    with new_pipeline(PipelineOptions()) as pipeline:
        result = pipeline | beam.Create(docs) | DecontaminationStep(config)
        _ = (result["kept"] | "K" >> beam.Map(lambda d: json.dumps(["kept", d.id, d.text]))
             | "WK" >> beam.io.WriteToText(str(out / "kept")))
        _ = (result["rejected"] | "R" >> beam.Map(lambda r: json.dumps(["rejected", r.doc.id, r.reason]))
             | "WR" >> beam.io.WriteToText(str(out / "rejected")))
        _ = result["stats"] | "S" >> beam.Map(json.dumps) | "WS" >> beam.io.WriteToText(str(out / "stats"))
    rows = [json.loads(line) for prefix in ("kept", "rejected") for p in sorted(out.glob(f"{prefix}-*"))
            for line in p.read_text().splitlines()]
    kept = {r[1]: r[2] for r in rows if r[0] == "kept"}
    rejected = {r[1]: r[2] for r in rows if r[0] == "rejected"}
    [stats] = [json.loads(line) for p in out.glob("stats-*") for line in p.read_text().splitlines()]
    return kept, rejected, stats


def test_planted_passages_are_caught_in_every_disguise_and_innocent_text_is_kept(tmp_path):
    eval_path = write_eval_set(tmp_path)
    config = DecontaminationConfig(eval_sets=[EvalSetConfig(name="toy_eval", paths=[str(eval_path)])])
    docs = [
        doc("exact-en", f"{FILLER_A} {EN_PASSAGE} {FILLER_B}"),
        doc("exact-ko", f"오늘의 공부. {KO_PASSAGE} 끝."),
        doc("whitespace-punct-case", "Intro. THE  mitochondrion -- is the organelle, that produces most of the "
                                     "chemical energy needed to power the biochemical reactions! Outro."),
        doc("split-lines-ko", "공부\n대한민국의 주권은 국민에게\n있고, 모든 권력은\n\n국민으로부터 나온다. 끝"),
        doc("short-item-whole", "Review: This movie was a COMPLETE waste of my evening!!! Never again."),
        doc("shares-common-phrases", "The mitochondrion is the organelle we study today. It was a great movie "
                                     "night and a complete waste of time for the cell biology homework."),
        doc("unrelated-ko", "대한민국의 국민은 법률이 정하는 바에 의하여 납세의 의무를 진다."),
    ]
    kept, rejected, stats = run(config, docs, tmp_path / "out")
    assert rejected == {i: "decontam:toy_eval" for i in
                        ("exact-en", "exact-ko", "whitespace-punct-case", "split-lines-ko", "short-item-whole")}
    assert set(kept) == {"shares-common-phrases", "unrelated-ko"}
    summary = stats["eval_sets"]["toy_eval"]
    assert summary["items"] == 4 and summary["whole_items"] == 1 and summary["skipped_short_items"] == 1
    assert summary["hits"]["documents"] == 5 and summary["hits"]["rejected"] == 5
    assert summary["hits"]["ids"] == sorted(rejected)


def test_cut_mode_removes_the_span_and_keeps_the_rest_intact(tmp_path):
    eval_path = write_eval_set(tmp_path)
    exact = DecontaminationConfig(eval_sets=[EvalSetConfig(name="toy_eval", paths=[str(eval_path)])],
                                  action="cut", cut_margin_chars=0, min_piece_chars=0)
    gpt3 = DecontaminationConfig(eval_sets=exact.eval_sets, action="cut")  # 200-char margins
    text = f"{FILLER_A}\n{EN_PASSAGE}\n{FILLER_B}"
    kept, _, stats = run(exact, [doc("d", text)], tmp_path / "exact")
    assert kept["d"] == f"{FILLER_A}\n\n{FILLER_B}"
    assert stats["eval_sets"]["toy_eval"]["hits"]["cut"] == 1
    kept, _, _ = run(gpt3, [doc("d", text)], tmp_path / "gpt3")
    assert "mitochondrion" not in kept["d"]
    assert kept["d"].startswith(FILLER_A[: len(FILLER_A) - 210]) and kept["d"].endswith(FILLER_B[210:])


def test_cut_mode_rejects_a_document_with_nothing_left(tmp_path):
    eval_path = write_eval_set(tmp_path)
    config = DecontaminationConfig(eval_sets=[EvalSetConfig(name="toy_eval", paths=[str(eval_path)])], action="cut")
    kept, rejected, _ = run(config, [doc("only-passage", f"Quote: {EN_PASSAGE}")], tmp_path / "out")
    assert rejected == {"only-passage": "decontam:toy_eval"} and not kept


def test_cut_pieces_rejects_documents_shattered_into_too_many_pieces():
    config = DecontaminationConfig(cut_margin_chars=0, min_piece_chars=0, max_pieces=2)
    text = "aa XX bb XX cc XX dd"
    spans = [(i, i + 2) for i in range(len(text)) if text.startswith("XX", i)]
    assert cut_pieces(text, spans[:1], config) == ["aa", "bb XX cc XX dd"]
    assert cut_pieces(text, spans, config) == []


def test_rolling_ngram_hash_equals_the_hash_of_the_same_words_alone():
    words = words_of("one two three four five six").words
    windows = ngram_hashes(word_hashes(words), 3)
    assert len(windows) == 4
    assert windows[1] == ngram_hashes(word_hashes(["two", "three", "four"]), 3)[0]
    assert len(ngram_hashes(word_hashes(words[:2]), 3)) == 0


def test_eval_normalization_folds_case_width_and_punctuation():
    assert eval_item_words("ＡＢＣ,  Hello—World!").words == eval_item_words("abc hello world").words
    assert words_of("대한민국은 민주공화국이다").words == ["대한민국", "은", "민주", "공화국", "이", "다"]


def test_eval_files_are_read_from_tsv_nested_json_and_parquet(tmp_path):
    tsv = tmp_path / "ratings_test.txt"  # NSMC layout: tab-separated with a header line
    tsv.write_text("id\tdocument\tlabel\n1\t굳 ㅋ\t1\n2\t이 영화는 정말 지루하고 배우들의 연기도 어색했다\t0\n", encoding="utf-8")
    korquad = tmp_path / "KorQuAD_v1.0_dev.json"
    korquad.write_text(json.dumps({"version": "1.0", "data": [{"title": "t", "paragraphs": [
        {"context": "문맥 하나", "qas": [{"question": "질문 하나?", "answers": []}]},
        {"context": "문맥 둘", "qas": []}]}]}, ensure_ascii=False), encoding="utf-8")
    parquet = tmp_path / "klue_sts.parquet"
    pq.write_table(pa.table({"sentence1": ["첫 문장"], "sentence2": ["둘째 문장"]}), parquet)
    assert list(eval_items(str(tsv), EvalSetConfig(name="nsmc", text_fields=["document"], format="tsv"))) == [
        "굳 ㅋ", "이 영화는 정말 지루하고 배우들의 연기도 어색했다"]
    fields = ["data.paragraphs.context", "data.paragraphs.qas.question"]
    assert list(eval_items(str(korquad), EvalSetConfig(name="korquad", text_fields=fields))) == [
        "문맥 하나", "문맥 둘", "질문 하나?"]  # field by field, in the configured order
    assert list(eval_items(str(parquet), EvalSetConfig(name="sts", text_fields=["sentence1", "sentence2"]))) == [
        "첫 문장", "둘째 문장"]


def test_empty_eval_file_is_a_clear_error_at_construction(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(RecordFileError, match=r"empty.jsonl has no text in fields \['text'\]"):
        DecontaminationStep(DecontaminationConfig(eval_sets=[EvalSetConfig(name="e", paths=[str(empty)])]))


def test_wrong_text_field_and_missing_file_are_clear_errors(tmp_path):
    eval_path = write_eval_set(tmp_path)
    with pytest.raises(RecordFileError, match="no text in fields"):
        DecontaminationStep(DecontaminationConfig(
            eval_sets=[EvalSetConfig(name="e", paths=[str(eval_path)], text_fields=["question"])]))
    with pytest.raises(RecordFileError, match="no file matches"):
        DecontaminationStep(DecontaminationConfig(eval_sets=[EvalSetConfig(name="e", paths=[str(tmp_path / "nope*")])]))
    with pytest.raises(ConfigError, match="unique, non-empty name"):
        DecontaminationStep(DecontaminationConfig(eval_sets=[EvalSetConfig(name="", paths=[str(eval_path)])]))


def test_cli_globs_become_one_eval_set_per_file_named_by_the_file(tmp_path):
    (tmp_path / "nsmc_test.jsonl.gz").write_bytes(b"")
    (tmp_path / "klue_ynat.parquet").write_bytes(b"")
    config = with_cli_eval_sets(DecontaminationConfig(cli_text_fields=["document"]), [str(tmp_path / "*")])
    assert [(s.name, s.text_fields) for s in config.eval_sets] == [("klue_ynat", ["document"]),
                                                                   ("nsmc_test", ["document"])]


def test_curate_cli_stops_on_an_empty_eval_file_before_reading_data(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(SystemExit, match="curate: .*empty.jsonl has no text"):
        beam_pipeline.main(["curate", "--input", str(tmp_path / "absent*.jsonl"), "--decontaminate", str(empty),
                            "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_table_lookup_finds_every_set_sharing_an_ngram():
    from transforms.eval_ngrams import build_table

    shared, only_b = np.array([5, 9], dtype=np.uint64), np.array([7], dtype=np.uint64)
    table = build_table(["a", "b"], [(3, 0, shared), (3, 1, np.concatenate([shared, only_b]))])
    positions, sets = table.match(np.array([9, 1, 7], dtype=np.uint64), 3)
    assert list(zip(positions.tolist(), sets.tolist())) == [(0, 0), (0, 1), (2, 1)]
