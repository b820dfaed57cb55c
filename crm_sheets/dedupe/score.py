"""Match rules and the combined 0–100 score of a candidate pair.

Name evidence (the strongest rule wins):
- exact: the normalised keys are equal and the regions do not contradict (北京 vs 上海);
- abbreviation: the shorter name takes characters in order from the longer one, starting
  at its first character and skipping at most one character at a time (中国国航 ←
  中国国际航空, 上汽 ← 上海汽车), or is its leading part (美丽 ← 美丽生态);
- fuzzy: rapidfuzz's normalised Indel similarity of the normalised names.
Phone and email equality are supporting evidence: they raise a name score (and alone make
a weak match), so a typo'd name with the same phone still surfaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Indel, Levenshtein

from .normalize import COUNTRY_WORDS, NameForms, has_cjk, regions_conflict


def COUNTRY_FREE(s: str) -> bool:  # noqa: N802
    return not s.startswith(COUNTRY_WORDS)

SCORE_EXACT = 100
SCORE_PREFIX = 92  # the short name is the leading part of the long one
SCORE_ABBREV = 88  # characters in order, single-character skips
SHORT_PENALTY = 3  # two-character names are weaker evidence
SCORE_WEAK = 80  # a two-character stem whose generic word (股份, 集团) the long name lacks
SCORE_BRAND = 86  # brand kept, middle words dropped (科拓生物 ← 科拓恒通生物技术)
BRAND_MIN = 4
WORD_INSERT_CAP = 80  # fuzzy score of two names that differ by one whole inserted word
SCORE_SAME_CORE = 95  # equal once a region prefix the key kept is removed
SUFFIX_MIN = 4  # a short name may drop up to SUFFIX_EXTRA leading characters
SUFFIX_EXTRA = 3
MAX_GAP = 1
EVIDENCE_WEIGHT = 0.35  # share of the remaining distance to 100 that one equal phone/email closes
EVIDENCE_FLOOR = {1: 70, 2: 80}  # a pair with equal contacts but unrelated names


@dataclass(slots=True, frozen=True)
class Evidence:
    """One rule that fired: its kind, name score and the words for the reason."""

    kind: str  # exact | prefix | abbreviation | fuzzy | none
    score: int
    short: str = ""
    long: str = ""
    removed: tuple[str, ...] = ()
    short_side: int = 0  # 0: the first name of the pair is the abbreviation, 1: the second
    short_len: int = 0  # length of the abbreviating form


@dataclass(slots=True, frozen=True)
class Profile:
    """What matching knows about one customer: name forms and normalised contacts."""

    forms: NameForms
    phone: str = ""
    email: str = ""
    location: tuple[str, ...] = ()  # division codes of the row's province/city cells


def exact_rule(a: NameForms, b: NameForms) -> Evidence | None:
    """Same normalised key, regions compatible: 平安银行股份有限公司 = 平安银行（深圳）."""
    if a.key and a.key == b.key and not regions_conflict(a.regions, b.regions):
        removed = tuple(x for x in (*a.removed, *b.removed)
                        if not (x in a.removed and x in b.removed))
        return Evidence("exact", SCORE_EXACT, removed=tuple(dict.fromkeys(removed)))
    return None


def align_gaps(short: str, long: str) -> list[int] | None:
    """Interior gaps of the best in-order alignment of `short` in `long`, anchored at long[0].

    Returns the lengths of the skipped runs between matched characters (the tail after the
    last match is free), choosing the alignment with the smallest largest gap; None when
    `short` is not a subsequence of `long` starting at its first character.
    """
    if not short or not long or short[0] != long[0] or len(short) > len(long):
        return None
    # DP over positions: best[i] = (max gap, gaps) for short[:k+1] ending at long index i.
    prev: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    for ch in short[1:]:
        cur: dict[int, tuple[int, list[int]]] = {}
        for i, (mg, gaps) in prev.items():
            j = long.find(ch, i + 1)
            while j != -1:
                gap = j - i - 1
                cand = (max(mg, gap), [*gaps, gap])
                if j not in cur or cand[0] < cur[j][0]:
                    cur[j] = cand
                j = long.find(ch, j + 1)
        if not cur:
            return None
        prev = cur
    return min(prev.values(), key=lambda t: t[0])[1]


def brand_gaps_ok(short: str, long: str) -> bool:
    """简称 that keeps the brand and drops middle words: 科拓生物 ← 科拓恒通生物技术.

    The first two characters (the brand) must open the long name contiguously and the
    rest (two or more characters) follow in order with any gaps. 中国银行 is not taken
    from 中国建设银行 this way: 中国 is no brand (country words are cut from the long forms).
    """
    if len(short) < BRAND_MIN or not long.startswith(short[:2]):
        return False
    pos = 2
    for ch in short[2:]:
        pos = long.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return True


# Words that name an industry or a corporate structure, not a company (generic knowledge,
# not taken from any data set): a 简称 must keep at least two characters outside them.
INDUSTRY_WORDS = (
    "中华人民共和国", "中国", "中华", "国际", "集团", "控股", "股份", "实业", "发展", "投资",
    "产业", "资本", "金融", "证券", "银行", "保险", "信托", "租赁", "科技", "技术", "高科",
    "高新", "信息", "网络", "数据", "数字", "软件", "通信", "通讯", "电子", "微电子", "电器",
    "电气", "电力", "电源", "电机", "电缆", "能源", "新能源", "环保", "环境", "生物", "医药",
    "制药", "药业", "医疗", "器械", "健康", "化工", "化学", "材料", "新材料", "新材", "工业",
    "工程", "制造", "智能", "装备", "设备", "机械", "精密", "精工", "汽车", "地产", "房地产",
    "置业", "建设", "建筑", "建工", "文化", "传媒", "旅游", "教育", "食品", "农业", "物流",
    "贸易", "商贸", "服务", "管理", "咨询", "矿业", "有色", "钢铁", "纺织", "服饰", "家居",
    "照明", "光电", "半导体", "航空", "航运", "港口", "交通", "水务", "燃气", "热电", "石油",
    "石化", "煤业", "纸业", "包装", "印刷", "传动", "创新", "设计", "研究", "发展",
)
_INDUSTRY_BY_HEAD: dict[str, tuple[str, ...]] = {}
for _w in sorted(set(INDUSTRY_WORDS), key=len, reverse=True):
    _INDUSTRY_BY_HEAD[_w[0]] = (*_INDUSTRY_BY_HEAD.get(_w[0], ()), _w)
CONTAINED_MIN = 3  # a short name found inside a long one needs this many characters
DISTINCT_MIN = 2  # …and this many characters outside industry words


def generic_mask(s: str) -> list[bool]:
    """Per character: True when it belongs to an industry/structure word (longest first)."""
    mask = [False] * len(s)
    i = 0
    while i < len(s):
        for w in _INDUSTRY_BY_HEAD.get(s[i], ()):
            if s.startswith(w, i):
                mask[i:i + len(w)] = [True] * len(w)
                i += len(w)
                break
        else:
            i += 1
    return mask


def distinctive_chars(s: str) -> int:
    """How many characters of s lie outside industry and structure words."""
    return sum(not g for g in generic_mask(s))


def contained_ok(short: str, long: str) -> bool:
    """简称 that names the distinctive middle of a long name (segment abbreviation).

    Either `short` occurs whole inside `long` (同花顺 ← 核新同花顺网络信息, 博雅生物 ←
    华润博雅生物制药), or it is a brand run followed by an industry word that starts a
    word later in `long` (盈新发展 ← 铜官盈新文化旅游发展). The brand part must hold at
    least two characters outside industry words, so 中国银行 is no 简称 of 中国建设银行
    (中国 and 银行 are both generic) and 新能源 names nobody.
    """
    n = len(short)
    if n < CONTAINED_MIN or n >= len(long):
        return False
    mask = generic_mask(short)
    if sum(not g for g in mask) < DISTINCT_MIN:
        return False
    pos = long.find(short, 1)
    if pos > 0:
        return True
    # brand run + trailing industry word (a word of long that starts later)
    k = n
    while k > 0 and mask[k - 1]:
        k -= 1
    brand, tail = short[:k], short[k:]
    if len(brand) < DISTINCT_MIN or not tail or distinctive_chars(brand) < DISTINCT_MIN:
        return False
    start = long.find(brand)
    if start < 0:
        return False
    lmask = generic_mask(long)
    j = long.find(tail, start + len(brand))
    while j >= 0:
        if lmask[j] and (j == 0 or not lmask[j - 1] or long[j:].startswith(
                _INDUSTRY_BY_HEAD.get(long[j], ()))):
            return True
        j = long.find(tail, j + 1)
    return False


def abbreviation_rule(a: NameForms, b: NameForms) -> Evidence | None:
    """The shorter name abbreviates the longer one (简称: characters kept in order)."""
    if regions_conflict(a.regions, b.regions):
        return None
    best: Evidence | None = None
    for side, (x, y) in enumerate(((a, b), (b, a))):
        for s in x.short_forms:
            cjk = has_cjk(s)
            if len(s) < (2 if cjk else 3):
                continue
            for lf in y.long_forms:
                if len(lf) < len(s) or (len(lf) == len(s) and (lf != s or s == x.key == y.key)):
                    continue
                if lf.startswith(s):
                    if len(lf) == len(s):  # same once the region is gone: 广田集团 = 深圳广田集团
                        score, kind = SCORE_SAME_CORE, "same_core"
                    else:
                        score, kind = SCORE_PREFIX, "prefix"
                    if len(s) == 2:
                        if regions_conflict(a.weak_regions, b.weak_regions):
                            continue
                        score = SCORE_PREFIX - SHORT_PENALTY
                        # 渤海股份 names 渤海…股份有限公司, not the short name 渤海租赁
                        if s == x.stem and s != x.key and not all(
                                g in y.surface for g in x.generic):
                            score = SCORE_WEAK
                elif is_legal_name(x):  # a registered name is no 简称 of another one
                    continue
                elif cjk and len(s) >= SUFFIX_MIN and lf.endswith(s) and \
                        len(lf) - len(s) <= SUFFIX_EXTRA:  # 博创科技 ← 长芯博创科技
                    score, kind = SCORE_BRAND, "abbreviation"
                elif cjk and len(s) >= 3 and lf[0] == s[0]:
                    gaps = align_gaps(s, lf)
                    if gaps is not None and max(gaps) <= MAX_GAP:
                        score, kind = SCORE_ABBREV, "abbreviation"
                    elif brand_gaps_ok(s, lf) and COUNTRY_FREE(lf):
                        score, kind = SCORE_BRAND, "abbreviation"
                    elif contained_ok(s, lf):
                        score, kind = SCORE_BRAND, "abbreviation"
                    else:
                        continue
                elif cjk and contained_ok(s, lf):
                    score, kind = SCORE_BRAND, "abbreviation"
                else:
                    continue
                if best is None or score > best.score:
                    best = Evidence(kind, score, short=x.raw, long=y.raw, short_side=side,
                                    short_len=len(s))
    return best


def inserted_word(a: str, b: str) -> bool:
    """True when b is a with one inserted word (two or more characters) or vice versa.

    中国银行 / 中国建设银行, 康汇服装 / 康汇国际服装: a whole word more is another company,
    where a typo changes, drops or swaps single characters.
    """
    if abs(len(a) - len(b)) < 2:
        return False
    ops = [op for op in Levenshtein.opcodes(a, b) if op.tag != "equal"]
    return len(ops) == 1 and ops[0].tag in ("insert", "delete")


def fuzzy_rule(a: NameForms, b: NameForms) -> Evidence:
    """Similarity of the normalised names (typos, a dropped or added character)."""
    best, pair = Indel.normalized_similarity(a.full, b.full), (a.full, b.full)
    if not regions_conflict(a.regions, b.regions):
        sim = Indel.normalized_similarity(a.key, b.key)
        if sim > best:
            best, pair = sim, (a.key, b.key)
    score = int(best * 100 + 1e-9)
    if score > WORD_INSERT_CAP and inserted_word(*pair):
        score = WORD_INSERT_CAP
    return Evidence("fuzzy", score)


def _brand_split(f: NameForms) -> tuple[str, str] | None:
    """(brand, rest) of a name whose key is two distinctive characters followed only by
    industry/structure words (国林科技 → 国林, 科技), else None."""
    key = f.key
    if len(key) < 3 or not has_cjk(key):
        return None
    mask = generic_mask(key)
    if mask[0] or mask[1] or not all(mask[2:]):
        return None
    return key[:2], key[2:]


def stem_inside(a: NameForms, b: NameForms) -> bool:
    """A two-character stem (万润股份 → 万润) that opens a distinctive run inside the other
    name after a leading word (中节能万润); the structure word itself is missing there."""
    for x, y in ((a, b), (b, a)):
        st = x.stem
        if len(st) == 2 and st != x.key and not x.legal and distinctive_chars(st) == 2:
            for lf in y.long_forms:
                if lf.find(st, 1) > 0:
                    return True
    return False


STATUS_MARKS = ("ST", "*ST", "S*ST", "SST")  # 特别处理 / 退市风险警示: the 简称 shrinks to 2+2


def is_status_short(f: NameForms) -> bool:
    """A status-marked two-character 简称 (ST慧业, *ST金泰): the exchange cut the name to
    two characters to make room for the mark, so they may come from anywhere in it."""
    return (len(f.key) == 2 and not f.legal and has_cjk(f.key) and f.key == f.full
            and any(m in STATUS_MARKS for m in f.removed) and distinctive_chars(f.key) == 2)


def in_order(chars: str, s: str) -> bool:
    """True when every character of chars occurs in s, in this order (gaps allowed)."""
    pos = 0
    for ch in chars:
        pos = s.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return True


def status_short_rule(a: NameForms, b: NameForms) -> Evidence | None:
    """ST慧业 ← 智慧农业, *ST金泰 ← 金力泰: the two characters of a status-marked 简称 in
    order in the other name's key. Weak alone (SCORE_WEAK, below the default threshold):
    only the same city in the rows' cells lifts it to a match."""
    for side, (x, y) in enumerate(((a, b), (b, a))):
        if is_status_short(x) and not is_status_short(y) and len(y.key) > 2 \
                and in_order(x.key, y.key):
            return Evidence("abbreviation", SCORE_WEAK, short=x.raw, long=y.raw,
                            short_side=side, short_len=2)
    return None


def brand_rule(a: NameForms, b: NameForms) -> Evidence | None:
    """Same two-character brand, only industry words differ (国林科技 / 国林环保), or a
    short stem found inside the other name: weak alone (SCORE_WEAK, below the default
    threshold); the same city lifts it, different places cap it."""
    if regions_conflict(a.regions, b.regions):
        return None
    sa, sb = _brand_split(a), _brand_split(b)
    if sa and sb and sa[0] == sb[0] and sa[1] != sb[1]:
        return Evidence("brand", SCORE_WEAK, short=a.raw, long=b.raw)
    if stem_inside(a, b):
        return Evidence("brand", SCORE_WEAK, short=a.raw, long=b.raw)
    return None


def name_evidence(a: NameForms, b: NameForms) -> Evidence:
    """The strongest name rule for a pair."""
    ev = exact_rule(a, b)
    if ev:
        return ev
    fz = fuzzy_rule(a, b)
    ab = abbreviation_rule(a, b)
    if ab and ab.score >= fz.score:
        return ab
    if fz.score < SCORE_WEAK:
        br = brand_rule(a, b)
        if br:
            return br
    if fz.score <= SCORE_WEAK:  # *ST大洲 / 新大洲: a 简称, not a typo, so the city may lift it
        st = status_short_rule(a, b)
        if st:
            return st
    return fz


LEGAL_DIFF = 0.8  # two legal names less similar than this name two companies


def is_legal_name(f: NameForms) -> bool:
    """The name carries a legal form (…有限公司, Co., Ltd.): it is a full registered name."""
    return f.legal


def clearly_different(a: NameForms, b: NameForms) -> bool:
    """Negative evidence: contradicting regions, or two different full legal names."""
    if a.key == b.key and not regions_conflict(a.regions, b.regions):
        return False
    if regions_conflict(a.regions, b.regions):
        return True
    if not (is_legal_name(a) and is_legal_name(b)):
        return False
    return Indel.normalized_similarity(a.full, b.full) < LEGAL_DIFF or inserted_word(a.key, b.key)


def combine(name_score: int, same_phone: bool, same_email: bool) -> int:
    """One 0–100 score: name evidence raised by equal phone and email."""
    k = int(same_phone) + int(same_email)
    if not k:
        return name_score
    s = max(float(name_score), EVIDENCE_FLOOR[k])
    s += (100 - s) * (1 - (1 - EVIDENCE_WEIGHT) ** k)
    return min(100, int(s + 1e-9))


@dataclass(slots=True, frozen=True)
class PairScore:
    score: int
    name: Evidence
    same_phone: bool
    same_email: bool
    same_city: bool = False


LOCATION_CONFLICT_CAP = 60  # two customers in different places: at most a weak hint
CITY_WEIGHT = 0.3  # share of the gap to 100 that the same city closes for an abbreviation
CITY_FLOOR = SCORE_WEAK  # the same city only supports a name that already abbreviates
_ABBREV_KINDS = frozenset(("prefix", "abbreviation", "same_core", "brand"))


def locations_conflict(a: Profile, b: Profile) -> bool:
    """The rows' province/city cells, or one row's cells and the other's name region
    (深圳万润科技 vs a row in 烟台), name places that do not contain one another.

    A row's own cells outrank the place in its name: 哈尔滨电气集团佳木斯电机 in 佳木斯
    is in 佳木斯, so two such rows agree even though the name starts with 哈尔滨.
    """
    if a.location and b.location:
        return regions_conflict(a.location, b.location)
    if a.location:
        return regions_conflict(a.location, b.forms.regions)
    if b.location:
        return regions_conflict(a.forms.regions, b.location)
    return False


MUNICIPALITIES = frozenset(("11", "12", "31", "50"))  # 北京, 天津, 上海, 重庆: city-level


def _city_level(codes: tuple[str, ...]) -> bool:
    return any(len(c) >= 4 or c in MUNICIPALITIES for c in codes)


def same_city(a: Profile, b: Profile) -> bool:
    """Both rows name a city (not only a province) and it is the same one."""
    return (_city_level(a.location) and _city_level(b.location)
            and not regions_conflict(a.location, b.location))


def score_pair(a: Profile, b: Profile) -> PairScore:
    """Score two customers from their names, contacts and province/city cells."""
    ev = name_evidence(a.forms, b.forms)
    same_phone = bool(a.phone) and a.phone == b.phone
    same_email = bool(a.email) and a.email == b.email
    name_score, city = ev.score, False
    if a.location or b.location:
        if locations_conflict(a, b):
            name_score = min(name_score, LOCATION_CONFLICT_CAP)
        elif ev.kind in _ABBREV_KINDS and name_score >= CITY_FLOOR and same_city(a, b):
            city = True
            name_score = min(100, int(name_score + (100 - name_score) * CITY_WEIGHT + 1e-9))
    return PairScore(combine(name_score, same_phone, same_email), ev, same_phone, same_email,
                     city)


# --- reasons --------------------------------------------------------------------------------

_TEXTS = {
    "identical": ("名称相同", "identical name"),
    "exact_removed": ("去掉{removed}后名称相同", "same name after removing {removed}"),
    "exact_surface": ("忽略空格、全半角、括号、大小写和繁简后名称相同",
                      "same name ignoring spaces, width, brackets, case and script"),
    "same_core": ("「{short}」与「{long}」去掉地区和公司类型后相同",
                  "'{short}' and '{long}' are the same without region and legal form"),
    "prefix": ("「{short}」是「{long}」的简称", "'{short}' is an abbreviation of '{long}'"),
    "abbreviation": ("「{short}」是「{long}」的简称", "'{short}' is an abbreviation of '{long}'"),
    "fuzzy": ("名称相似 {sim}%", "similar name ({sim}%)"),
    "brand": ("「{short}」与「{long}」字号相同", "'{short}' and '{long}' share the brand"),
    "phone": ("电话相同", "same phone"),
    "email": ("邮箱相同", "same email"),
    "city": ("同一城市", "same city"),
    "and": ("、", " and "),
    "sep": ("；", "; "),
}


def _t(key: str, lang: str, **kw: object) -> str:
    zh, en = _TEXTS[key]
    return (zh if lang == "zh" else en).format(**kw)


def reason(ps: PairScore, a: NameForms, b: NameForms, lang: str) -> str:
    """A human reason naming the evidence that fired, in the workbook's language."""
    parts: list[str] = []
    ev = ps.name
    if ev.kind == "same_core":
        parts.append(_t("same_core", lang, short=ev.short.strip(), long=ev.long.strip()))
    elif ev.kind == "exact":
        if a.raw.strip() == b.raw.strip():
            parts.append(_t("identical", lang))
        elif ev.removed:
            parts.append(_t("exact_removed", lang, removed=_t("and", lang).join(ev.removed)))
        else:
            parts.append(_t("exact_surface", lang))
    elif ev.kind in ("prefix", "abbreviation", "brand"):
        short, long = ev.short.strip(), ev.long.strip()
        short_f, long_f = (a, b) if ev.short == a.raw else (b, a)
        if ev.kind != "brand" and short_f.legal and not long_f.legal:
            # the registered name (…有限公司) is the full name, never the 简称 of an informal
            # one: 杭州育才有限公司 / 杭州育才外国语学校 matched through its core 杭州育才
            short, long = long, short
        parts.append(_t(ev.kind, lang, short=short, long=long))
    elif ev.score >= 50 or not (ps.same_phone or ps.same_email):
        parts.append(_t("fuzzy", lang, sim=ev.score))
    if ps.same_phone:
        parts.append(_t("phone", lang))
    if ps.same_email:
        parts.append(_t("email", lang))
    if ps.same_city:
        parts.append(_t("city", lang))
    return _t("sep", lang).join(parts)
