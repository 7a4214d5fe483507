"""Korean road-name addresses (도로명주소, in use since 2014): administrative areas, a road name
ending in 로/길, and the building number, e.g. ``서울특별시 중구 세종대로 110`` or
``경기도 성남시 분당구 판교역로 235, 3층``.

At least one administrative area (…시/도/군/구) must precede the road: a bare ``세종대로 110``
reads the same as ``학교로 10명`` (to school, ten people). The number must end the address or be
followed by punctuation, a particle or building details, never by a counter (명, 년, 원, ...).
Lot-number addresses (지번) and non-Korean street addresses are not recognized.
"""
from __future__ import annotations

import regex

from pii.recognizers.base import ContextPatternRecognizer, Rule

_AREA = r"[가-힣]{1,8}(?:특별시|광역시|특별자치시|특별자치도|시|도|군|구)"
_TOWN = r"(?:[가-힣]{1,5}(?:읍|면) )?"
_ROAD = r"[가-힣0-9]{1,12}(?:로|길)(?: ?[0-9]{1,4}(?:번길|길))?"
_BUILDING_NUMBER = r"[0-9]{1,4}(?:-[0-9]{1,4})?"
# Optional building details: ", 3층", " 101동 1203호", " (역삼동)".
_DETAIL = r"(?:,? ?[0-9]{1,5}(?:동|층|호))*(?: ?\([가-힣0-9, ]{1,20}\))?"
_END = r"(?=$|[\s,.;:)\]\"'’”」』]|에|의|이|가|은|는|으로|로|까지|부터|입니다|번지)"


class KoreanAddressRecognizer(ContextPatternRecognizer):
    PII_TYPE = "street_address"
    TRIGGER = regex.compile(r"[0-9](?<=[로길] ?[0-9])")  # digit first: see shapes.py
    # Up to four areas, a town and a road before the number (~80 characters), details after it.
    WINDOW = (96, 96)
    RULES = (
        Rule("kr_road_address", rf"(?<![가-힣]){_AREA}(?: {_AREA}){{0,3}} {_TOWN}{_ROAD} ?{_BUILDING_NUMBER}{_DETAIL}{_END}",
             0.6),
    )
    CONTEXT = ("주소", "거주", "address", "배송지", "소재지")
