"""The scan's fast paths give what the code before them gave (kept here as reference):
`clean` skipping the table/space/OpenCC passes when none applies, and ASCII phones and
e-mails skipping NFKC and the regexes."""

from __future__ import annotations

import random
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_sheets.dedupe import normalize as nz
from crm_sheets.dedupe.synthetic import T2S_SAMPLE, company_names, variant


def clean_before(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).translate(nz._CLEAN_TABLE)
    if nz._SPACE_RE.search(s) is not None:
        s = nz._WS_RE.sub(" ", nz._WS_NEAR_CJK.sub("", s)).strip()
    cc, triggers, _ = nz._t2s()
    if not triggers.isdisjoint(s):
        s = cc.convert(s)
    return s.casefold() if not s.isascii() or s.lower() != s else s


def phone_before(value: object) -> str:
    if value is None:
        return ""
    s = nz.nfkc(str(value))
    if isinstance(value, float) and value.is_integer():
        s = str(int(value))
    s = s.split("转")[0].split("ext")[0].split("#")[0]
    digits = re.sub(r"\D", "", s)
    for cc in ("0086", "86"):
        if digits.startswith(cc) and len(digits) - len(cc) >= 10:
            digits = digits[len(cc) :]
            break
    return digits if len(digits) >= 7 else ""


def email_before(value: object) -> str:
    if value is None:
        return ""
    s = nz.remove_whitespace(nz.nfkc(str(value))).casefold()
    return s if "@" in s and not s.startswith("@") and not s.endswith("@") else ""


ODD = (
    " \t\n\u3000\u00a0\u200b\ufeff\u00ad\x1c\x1f（）【】[]{}《》「」〈〉﹙﹚()ＡＢ１２"
    "ＴＣＬ@＠.-_+#转ext０８６٣²"
) + "".join(T2S_SAMPLE.values())


def _texts(rng: random.Random, n: int) -> list[str]:
    kinds = ("spaces", "brackets", "region_add", "traditional", "typo", "fullwidth", "short")
    names = company_names(n, seed=rng.randrange(1000))
    out = [variant(x, kinds[k % len(kinds)], rng) for k, x in enumerate(names)] + names
    for _ in range(n):
        base = rng.choice(names)
        k = rng.randrange(len(base) + 1)
        out.append(base[:k] + "".join(rng.choice(ODD) for _ in range(rng.randint(1, 3))) + base[k:])
    return out


def test_clean_same_as_before_on_names() -> None:
    for s in _texts(random.Random(3), 3000):
        assert nz.clean(s) == clean_before(s), s


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(ODD + "平安银行华为科技上海深圳abcXYZ0123"), max_size=14))
def test_clean_same_as_before_on_odd_text(s: str) -> None:
    assert nz.clean(s) == clean_before(s)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_clean_same_as_before_on_any_text(s: str) -> None:
    assert nz.clean(s) == clean_before(s)


def test_contacts_same_as_before() -> None:
    rng = random.Random(7)
    values: list[object] = [None, "", 13800138000, 13800138000.0, 1.5, 86, True, "١٢٣٤٥٦٧٨"]
    for _ in range(4000):
        values.append(
            "".join(rng.choice("0123456789" * 4 + ODD) for _ in range(rng.randint(0, 16)))
        )
        values.append(f"{rng.randrange(10**12)}")
        values.append(f"A{rng.randrange(99)}@Mail.COM" + rng.choice(("", " ", "\t", "@", "\x7f")))
    for v in values:
        assert nz.normalize_phone(v) == phone_before(v), repr(v)
        assert nz.normalize_email(v) == email_before(v), repr(v)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False)))
def test_contacts_same_as_before_on_any_value(v: object) -> None:
    assert nz.normalize_phone(v) == phone_before(v)
    assert nz.normalize_email(v) == email_before(v)


def test_shared_tuples_change_no_form(monkeypatch) -> None:  # noqa: ANN001
    names = _texts(random.Random(9), 1500)
    shared = [nz._name_forms.__wrapped__(s) for s in names]
    monkeypatch.setattr(nz, "_shared", lambda t: t)
    assert [nz._name_forms.__wrapped__(s) for s in names] == shared
    assert any(f.surface is f.raw for f in shared)
