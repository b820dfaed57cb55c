"""Company-name normalisation: each step a small named function, composed by `name_forms`.

Sales reps type one company many ways (平安银行股份有限公司, 平安银行, 平安银行（深圳）,
平 安 银 行, ＰＩＮＧ ＡＮ, 平安銀行). Every step below removes one kind of noise and is
idempotent, so the composed key is too. `name_forms` also keeps what it removed, so a
match can explain itself ("same name after removing 有限公司 and (深圳)").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from .region_data import REGIONS

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{CJK}]")

# Characters that are not whitespace to Python but are invisible in a cell.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_WS_RE = re.compile(rf"[\s{ZERO_WIDTH}]+")
_ZW_TABLE = {ord(c): None for c in ZERO_WIDTH}
_ZW_SET = frozenset(ZERO_WIDTH)
_WS_NEAR_CJK = re.compile(rf"\s+(?=[{CJK}(])|(?<=[{CJK})])\s+")

# Bracket styles people type (after NFKC the full-width （） are already ASCII).
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "〔": "(", "〕": ")",
                           "[": "(", "]": ")", "「": "(", "」": ")", "〈": "(", "〉": ")",
                           "《": "(", "》": ")", "{": "(", "}": ")", "﹙": "(", "﹚": ")"})
_BRACKET_SET = frozenset(chr(c) for c in _BRACKETS)

# Legal forms, longest first; they may repeat ("有限公司(集团)"), so strip in a loop.
LEGAL_FORMS_ZH = (
    "股份有限公司", "有限责任公司", "股份合作公司", "集团有限公司", "有限公司", "股份公司",
    "有限合伙", "普通合伙", "合伙企业", "个人独资企业", "总公司", "公司", "有限",
)
# Generic words that name a corporate structure, not a company (集团, 控股, 股份).
GENERIC_ZH = ("控股集团", "集团控股", "集团", "控股", "股份", "企业")
LEGAL_FORMS_EN = re.compile(
    r"(?:[\s,.&()-]*\b(?:co|company|corp|corporation|inc|incorporated|ltd|limited|llc|plc|"
    r"gmbh|ag|sa|bv|holdings?|group|pte|pty|l\.?p)\b\.?)+[\s,.]*$")

# A-share status and share-class marks: *ST, ST, S*ST, XD/XR/DR, N/C (new listing), A/B, -U/-W.
_STATUS_PREFIX = re.compile(rf"^(?:s?\*?st|xd|xr|dr|n|c)(?=[{CJK}])", re.I)
_STATUS_FIRST = frozenset("sSnNcCxXdD*")
_CLASS_LAST = frozenset("aAbBuUwW股")
_CLASS_SUFFIX = re.compile(rf"(?<=[{CJK}])(?:[ab]股?|-[uw]{{1,2}})$", re.I)

# Official one-character province abbreviations (京, 沪, 粤…): 粤水电, 川能动力, 鄂武商.
PROVINCE_ABBR: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "黔",
    "53": "滇", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}
COUNTRY_WORDS = ("中华人民共和国", "中国")
MIN_CORE = 3  # a region prefix is kept when the rest would be shorter (深圳能源 stays whole)

_REGIONS_BY_HEAD: dict[str, list[str]] = {}
for _name in sorted(REGIONS, key=len, reverse=True):
    _REGIONS_BY_HEAD.setdefault(_name[:2], []).append(_name)
_PAREN_RE = re.compile(r"\(([^()]*)\)")


# --- the steps -------------------------------------------------------------------------------

def nfkc(s: str) -> str:
    """Unicode NFKC: full-width letters, digits and brackets become half-width (Ａ→A, （→()."""
    return unicodedata.normalize("NFKC", s)


def _drop_zero_width(s: str) -> str:
    return s if _ZW_SET.isdisjoint(s) else s.translate(_ZW_TABLE)


def remove_whitespace(s: str) -> str:
    """Drop every kind of space: ASCII, full-width U+3000, NBSP, tabs and zero-width (U+200B…)."""
    return _WS_RE.sub("", _drop_zero_width(s))


def tidy_whitespace(s: str) -> str:
    """Remove zero-width characters and spaces next to CJK; collapse the rest to one space.

    Latin names keep single spaces between words so legal forms ("Co., Ltd.") stay words.
    """
    s = _drop_zero_width(s)
    if _WS_RE.search(s) is None:
        return s
    s = _WS_NEAR_CJK.sub("", s)
    return _WS_RE.sub(" ", s).strip()


def unify_brackets(s: str) -> str:
    """Every bracket style becomes ASCII ( ): （深圳）, 【深圳】, [深圳] → (深圳)."""
    return s if _BRACKET_SET.isdisjoint(s) else s.translate(_BRACKETS)


def fold_case(s: str) -> str:
    """Case-insensitive comparison for Latin names (TCL, Ping An)."""
    return s.casefold()


@lru_cache(maxsize=1)
def _t2s() -> tuple[object, frozenset[str], frozenset[str]]:
    """OpenCC's t2s converter, the characters it may change, and those together with the
    characters `clean`'s table folds (a name holding none of either skips both)."""
    from opencc import OpenCC

    cc = OpenCC("t2s")
    cc.convert("")  # loads the dictionaries
    triggers: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                first = str(v).split(" ")[0]
                if len(k) != len(first):
                    triggers.update(k)
                else:  # only the characters that actually change
                    triggers.update(a for a, b in zip(k, first, strict=True) if a != b)
        elif isinstance(node, (list, tuple)):
            for x in node:
                walk(x)

    walk(cc._dict_chain_data)  # only to build the fast-path filter
    return cc, frozenset(triggers), frozenset(triggers | {chr(c) for c in _CLEAN_TABLE})


def to_simplified(s: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s): 平安銀行 → 平安银行.

    OpenCC is slow (~75 µs a name); names without a traditional character skip it.
    """
    cc, triggers, _ = _t2s()
    if triggers.isdisjoint(s):
        return s
    return cc.convert(s)  # type: ignore[attr-defined]


def strip_status_marks(s: str) -> tuple[str, list[str]]:
    """Remove A-share status and share-class marks: *ST美丽 → 美丽, 南玻A → 南玻, 科兴-U → 科兴."""
    removed: list[str] = []
    if s[:1] not in _STATUS_FIRST and s[-1:] not in _CLASS_LAST:
        return s, removed
    while True:
        m = _STATUS_PREFIX.search(s)
        if not m or len(s) - m.end() < 2:
            break
        removed.append(m.group(0).upper())
        s = s[m.end():]
    while True:  # repeated marks (…A股A股) go too, so the step is idempotent
        m = _CLASS_SUFFIX.search(s)
        if not m or m.start() < 2:
            break
        removed.append(m.group(0).upper())
        s = s[:m.start()]
    return s, removed


_LEGAL_ZH_RE = re.compile(
    "(?:" + "|".join(re.escape(f) for f in LEGAL_FORMS_ZH) + r"|\((?:"
    + "|".join(re.escape(f) for f in GENERIC_ZH + LEGAL_FORMS_ZH) + r")\))$")


_LEGAL_TAILS = tuple({f[-1] for f in LEGAL_FORMS_ZH} | {")"})


def strip_legal_form(s: str) -> tuple[str, list[str]]:
    """Remove legal forms at the end (股份有限公司, 有限公司, (集团), Co., Ltd.), repeatedly.

    Keeps at least two characters, so a name is never stripped to nothing.
    """
    removed: list[str] = []
    while True:
        if not s.endswith(_LEGAL_TAILS) and not s[-1:].isascii():
            return s, removed
        m = _LEGAL_ZH_RE.search(s)
        if m is None or m.start() < 2:
            m = LEGAL_FORMS_EN.search(s) if s[-1:].isascii() else None
            if m is None or m.start() < 2:
                return s, removed
        removed.append(m.group(0).strip(" ,"))
        s = s[: m.start()].rstrip(" ,")


def strip_generic(s: str) -> tuple[str, list[str]]:
    """Remove structure words that do not identify a company: 集团, 控股, 股份 (end or bracketed)."""
    removed: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(1) in GENERIC_ZH or m.group(1) in LEGAL_FORMS_ZH:
            removed.append(m.group(0))
            return ""
        return m.group(0)

    if "(" in s:
        s = _PAREN_RE.sub(repl, s)
    changed = s.endswith(GENERIC_ZH)
    while changed:
        changed = False
        for word in GENERIC_ZH:
            if s.endswith(word) and len(s) - len(word) >= 2:
                s = s[: -len(word)]
                removed.append(word)
                changed = True
                break
    return s, removed


def region_codes(name: str) -> tuple[str, ...]:
    """Division codes of a region name (北京 → 11, 深圳市 → 4403), or () when not a region."""
    return REGIONS.get(name, ())


def strip_bracketed_regions(s: str) -> tuple[str, list[str], list[str]]:
    """Remove bracketed regions anywhere ((深圳), (中国)) and unwrap other brackets.

    Returns the name, the removed parts and the division codes found.
    """
    removed: list[str] = []
    codes: list[str] = []
    if "(" not in s and ")" not in s:
        return s, removed, codes

    def repl(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner in COUNTRY_WORDS:
            removed.append(m.group(0))
            return ""
        rc = region_codes(inner)
        if rc:
            removed.append(m.group(0))
            codes.extend(rc)
            return ""
        return inner

    out = _PAREN_RE.sub(repl, s)
    out = out.replace("(", "").replace(")", "")
    return out, removed, codes


def strip_region_prefix(s: str, min_rest: int = MIN_CORE) -> tuple[str, list[str], list[str]]:
    """Remove leading region names (广东省深圳市…, 北京, 内蒙古) while the rest stays ≥ min_rest.

    `name_forms` keeps the region in the key when the rest would be too short to name a
    company on its own (深圳能源, 北京银行).
    """
    removed: list[str] = []
    codes: list[str] = []
    while True:
        for name in _REGIONS_BY_HEAD.get(s[:2], ()):
            if s.startswith(name) and len(s) - len(name) >= min_rest and (
                    not codes or _nested(codes, REGIONS[name])):
                removed.append(name)
                codes.extend(REGIONS[name])
                s = s[len(name):]
                break
        else:
            return s, removed, codes


def _nested(outer: list[str], inner: tuple[str, ...]) -> bool:
    """True when a following region lies inside the previous one (广东省 → 深圳市 → 南山区)."""
    return any(i.startswith(o) and i != o for o in outer for i in inner)


_NON_DIGIT_RE = re.compile(r"\D")


def normalize_phone(value: object) -> str:
    """Digits only, without a +86/0086 country code: '+86 138-0013-8000' → '13800138000'."""
    if value is None:
        return ""
    if type(value) is str and value.isascii() and value.isdigit():
        digits = value  # ASCII digits only: NFKC, the cuts and the filter leave it whole
    else:
        s = nfkc(str(value))
        if isinstance(value, float) and value.is_integer():
            s = str(int(value))
        s = s.split("转")[0].split("ext")[0].split("#")[0]
        digits = _NON_DIGIT_RE.sub("", s)
    for cc in ("0086", "86"):
        if digits.startswith(cc) and len(digits) - len(cc) >= 10:
            digits = digits[len(cc):]
            break
    return digits if len(digits) >= 7 else ""


def normalize_email(value: object) -> str:
    """Trimmed, NFKC, lower-case address; '' when it does not look like one."""
    if value is None:
        return ""
    if type(value) is str and value.isascii() and value.isprintable() and " " not in value:
        s = value.lower()  # printable ASCII without a space: NFKC, no whitespace, casefold=lower
    else:
        s = remove_whitespace(nfkc(str(value))).casefold()
    return s if "@" in s and not s.startswith("@") and not s.endswith("@") else ""


# --- composition ----------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class NameForms:
    """The forms of one company name that matching compares.

    full: legal form, status marks and bracketed regions removed, region prefix kept;
    key: also region prefix and generic words (集团, 控股) removed while at least three
         characters remain: the exact-match key (深圳能源集团 → 深圳能源, 美丽生态 stays);
    stem: generic words removed whatever remains (天龙集团 → 天龙), used only as a short name;
    abbrs: long forms a short name may abbreviate: the region cut to one character
           (深圳市物业发展 → 深物业发展, 四川省新能源 → 川新能源) and 中国… without 中国.
    """

    raw: str
    full: str
    key: str
    stem: str = ""
    generic: tuple[str, ...] = ()  # generic words the stem dropped (股份, 集团, 控股)
    surface: str = ""  # the cleaned name without spaces, before anything was stripped
    regions: tuple[str, ...] = ()  # regions removed from the key or bracketed: (深圳)
    weak_regions: tuple[str, ...] = ()  # also leading place names kept in the key (东方电热)
    removed: tuple[str, ...] = ()
    abbrs: tuple[str, ...] = field(default=())

    short_forms: tuple[str, ...] = ()  # forms offered as the shorter (abbreviating) side
    long_forms: tuple[str, ...] = ()  # forms offered as the longer (abbreviated) side
    legal: bool = False  # carries a legal form (…有限公司, Co., Ltd.): a registered name

    @property
    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.short_forms, *self.long_forms)))


_LEGAL_ENDINGS = ("公司", "ltd.", "ltd", "limited", "inc.", "inc", "corp", "corporation")


# one translate pass for the character-wise folds: zero-width characters dropped, every
# bracket style made ASCII (NFKC runs first, so full-width forms are already folded)
_CLEAN_TABLE = {**_ZW_TABLE, **_BRACKETS}
_SPACE_RE = re.compile(r"\s")


def clean(s: str) -> str:
    """Width, case, spaces, brackets and script folded: the surface form of a name.

    Same result as unify_brackets(fold_case(to_simplified(tidy_whitespace(nfkc(s))))) in
    fewer passes: NFKC, one str.translate, the space regexes only when a space is present.
    """
    s = unicodedata.normalize("NFKC", s)
    cc, triggers, folded = _t2s()
    if not folded.isdisjoint(s) or _SPACE_RE.search(s) is not None:
        s = s.translate(_CLEAN_TABLE)
        if _SPACE_RE.search(s) is not None:
            s = _WS_RE.sub(" ", _WS_NEAR_CJK.sub("", s)).strip()
        if not triggers.isdisjoint(s):
            s = cc.convert(s)  # type: ignore[attr-defined]
    # (else neither the table, the spaces nor OpenCC would change it)
    return s.casefold() if not s.isascii() or s.lower() != s else s


_KNOWN: dict[str, NameForms] = {}  # forms loaded from the on-disk cache (formcache.py)


def name_forms(raw: str) -> NameForms:
    """Normalise a company name into the forms matching compares (see NameForms)."""
    known = _KNOWN.get(raw)
    return known if known is not None else _name_forms(raw)


def remember_forms(forms: dict[str, NameForms]) -> None:
    """Make earlier results known (the worker's cache of a sheet's names)."""
    _KNOWN.update(forms)


def forget_forms() -> None:
    """Drop remembered and cached forms (tests, benchmarks)."""
    _KNOWN.clear()
    _name_forms.cache_clear()


@lru_cache(maxsize=200_000)
def _name_forms(raw: str) -> NameForms:
    s = clean(raw)
    surface = s.replace(" ", "") if " " in s else s
    s, removed = strip_status_marks(s)
    s, rm = strip_legal_form(s)
    removed += rm
    before = s
    s, rm, codes = strip_bracketed_regions(s)
    removed += rm
    if " " in s:
        s = s.replace(" ", "")
    if s != before:  # marks may sit before a stripped bracket: 南玻A(集团)
        s, rm = strip_status_marks(s)
        removed += rm
        s, rm = strip_legal_form(s)
        removed += rm
    full = s
    stem, generic = strip_generic(s)
    if len(stem) >= MIN_CORE:
        removed += generic
        s = stem
    # one pass over the leading regions of the full name; every form cuts a prefix of it
    _, parts, _ = strip_region_prefix(full, min_rest=1)
    cum = [0]
    for part in parts:
        cum.append(cum[-1] + len(part))
    cut = _cut_in(parts, cum)
    k_all = cut(s, 1)
    rest = s[cum[k_all]:]
    weak = list(codes)
    for part in parts[:k_all]:
        weak.extend(REGIONS[part])
    abbrs: list[str] = []
    if k_all:
        firsts = [part[0] for part in parts[:k_all]]
        for code in weak:
            a = PROVINCE_ABBR.get(code[:2])
            if a:
                firsts.append(a)
        abbrs.extend(ch + rest for ch in firsts)
    k_key = cut(s, MIN_CORE)
    key = s[cum[k_key]:]
    if key != raw and (key[-1:] in _CLASS_LAST or key[:1] in _STATUS_FIRST):
        # a mark the first pass could not see (1上A集团 → 1上a, whose own key is 1上):
        # the key is the key's key, so keying a key gives itself
        again = _name_forms(key).key
        key = again if again else key
    removed += parts[:k_key]
    for part in parts[:k_key]:
        codes.extend(REGIONS[part])
    for k in range(1, k_all):  # 江西新余国科 → 新余国科 as well as 国科
        abbrs.append(s[cum[k]:])
    # the name without its region even when short: 浙江华媒控股 → 华媒控股, 华媒
    abbrs.append(full[cum[cut(full, 2)]:])
    abbrs.append(stem[cum[cut(stem, 2)]:])
    for cw in COUNTRY_WORDS:  # 中国南玻 is also written 南玻
        if key.startswith(cw) and len(key) - len(cw) >= 2:
            abbrs.append(key[len(cw):])
    abbrs = _distinct([a for a in abbrs if a and a != key])
    legal = any(r.endswith(_LEGAL_ENDINGS) for r in removed)
    return NameForms(raw, full, key, stem, _shared(tuple(generic)),
                     raw if surface == raw else surface, _shared(_distinct(codes)),
                     _shared(_distinct(weak)), _shared(_distinct(removed)), abbrs,
                     _distinct([f for f in (key, full, stem) if f]),
                     _distinct([f for f in (key, full, *abbrs) if f]), legal)


# Equal tuples of removed words and region codes are one object (most names share them:
# ("有限公司", "深圳市")): a sheet's forms take ~30 % less memory. Bounded, values only.
_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {}
_SHARED_MAX = 50_000


def _shared(t: tuple[str, ...]) -> tuple[str, ...]:
    if not t:
        return t
    got = _SHARED.get(t)
    if got is not None:
        return got
    if len(_SHARED) < _SHARED_MAX:
        t = tuple(_SHARED_STR.setdefault(x, x) for x in t)
        _SHARED[t] = t
    return t


_SHARED_STR: dict[str, str] = {}


def _cut_in(parts: list[str], cum: list[int]) -> Callable[[str, int], int]:
    """cut(x, min_rest): how many leading regions to remove from x so at least min_rest
    characters stay (no regions: none)."""
    if not parts:
        return _no_cut

    def cut(x: str, min_rest: int) -> int:
        k = len(parts)
        while k and len(x) - cum[k] < min_rest:
            k -= 1
        return k

    return cut


def _no_cut(x: str, min_rest: int) -> int:
    return 0


def _distinct(items: list[str]) -> tuple[str, ...]:
    """The items without repeats, first occurrence kept (lists here are a few items:
    faster than dict.fromkeys)."""
    if len(items) < 2:
        return tuple(items)
    out: list[str] = []
    for x in items:
        if x not in out:
            out.append(x)
    return tuple(out)


def normalize_name(raw: str) -> str:
    """The exact-match key of a company name (平安银行（深圳）股份有限公司 → 平安银行)."""
    return name_forms(raw or "").key


@lru_cache(maxsize=4096)
def location_codes(province: str, city: str) -> tuple[str, ...]:
    """Division codes of a customer's province/city cells, most specific first available.

    广东 + 深圳市 → ('4403',); 深圳 alone → ('4403',); an ambiguous city (朝阳区) keeps the
    codes inside the province; unknown text → the province's codes, or () when none.
    """
    prov = REGIONS.get(remove_whitespace(nfkc(province or "")), ())
    cty = REGIONS.get(remove_whitespace(nfkc(city or "")), ())
    if cty and prov:
        inside = tuple(c for c in cty if any(c.startswith(p) for p in prov))
        return inside or prov
    return cty or prov


def regions_conflict(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when both names carry a region and no division of one contains one of the other."""
    if not a or not b:
        return False
    return not any(x.startswith(y) or y.startswith(x) for x in a for y in b)


def has_cjk(s: str) -> bool:
    return bool(_CJK_RE.search(s))
