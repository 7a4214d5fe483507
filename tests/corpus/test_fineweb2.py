"""FineWeb-2's vendored per-language values: what the filters default to and how labels map."""
from __future__ import annotations

import dataclasses

from corpus.fineweb2 import fineweb2_name, language_values
from transforms.fineweb_quality import KoreanFineWebQualityLimits
from transforms.quality import KoreanQualityLimits
from transforms.repetition import KoreanRepetitionLimits


def test_korean_defaults_are_the_vendored_kor_hang_values():
    values = language_values("ko")
    assert values.fineweb2 == "kor_Hang"
    for limits in (KoreanRepetitionLimits(), KoreanFineWebQualityLimits(), KoreanQualityLimits()):
        shared = {f.name for f in dataclasses.fields(limits)} & {f.name for f in dataclasses.fields(values)}
        assert shared, type(limits)
        for name in shared:
            published = getattr(values, name)
            assert getattr(limits, name) == (list(published) if isinstance(published, tuple) else published), name


def test_lid176_labels_map_to_fineweb2_names_as_datatrove_maps_them():
    assert [fineweb2_name(lang) for lang in ("zh", "ja", "de", "fr", "ar")] == [
        "cmn_Hani", "jpn_Jpan", "deu_Latn", "fra_Latn", "arb_Arab"]
    assert fineweb2_name("en") is None and language_values("en") is None  # FineWeb-2 has no English


def test_published_values_read_as_numbers_by_n():
    german = language_values("de")
    assert german.top_n_grams == {2: 0.169, 3: 0.153, 4: 0.137}
    assert sorted(german.dup_n_grams) == list(range(5, 11))
    assert german.line_punct_thr == 0.0 and "und" in german.stop_words
