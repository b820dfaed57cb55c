"""Match rules, clustering, the library API, the incremental index and `crm dedupe`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.dedupe import DuplicateIndex, duplicate_findings, find_duplicates
from crm_sheets.dedupe.blocking import candidate_pairs
from crm_sheets.dedupe.cluster import cluster_edges
from crm_sheets.dedupe.normalize import name_forms
from crm_sheets.dedupe.score import (
    Profile,
    abbreviation_rule,
    align_gaps,
    combine,
    exact_rule,
    fuzzy_rule,
    inserted_word,
    score_pair,
)
from crm_sheets.model import Record, new_workbook

ROOT = Path(__file__).resolve().parents[1]


def score(a: str, b: str, **kw: str) -> int:
    pa = Profile(name_forms(a), kw.get("pa", ""), kw.get("ea", ""))
    pb = Profile(name_forms(b), kw.get("pb", ""), kw.get("eb", ""))
    return score_pair(pa, pb).score


# --- rules -----------------------------------------------------------------------------------

def test_exact_rule_positive_and_region_conflict():
    ev = exact_rule(name_forms("平安银行股份有限公司"), name_forms("平安银行（深圳）"))
    assert ev and ev.score == 100 and "(深圳)" in ev.removed
    assert exact_rule(name_forms("北京宏达科技有限公司"), name_forms("上海宏达科技有限公司")) is None


@pytest.mark.parametrize("short, long", [
    ("中国国航", "中国国际航空股份有限公司"), ("上汽集团", "上海汽车集团股份有限公司"),
    ("深物业A", "深圳市物业发展(集团)股份有限公司"), ("美丽生态", "深圳美丽生态股份有限公司"),
    ("川能动力", "四川省新能源动力股份有限公司"), ("科拓生物", "北京科拓恒通生物技术股份有限公司"),
    ("南玻A", "中国南玻集团股份有限公司"), ("广田集团", "深圳广田集团股份有限公司"),
])
def test_abbreviation_rule_finds_real_short_names(short, long):
    assert score(short, long) >= 85


@pytest.mark.parametrize("a, b", [
    ("中国银行", "中国建设银行"), ("中国银行股份有限公司", "中国建设银行股份有限公司"),
    ("中国工商银行", "中国银行"), ("东软集团", "东华软件股份公司"), ("渤海股份", "渤海租赁"),
    ("平安银行", "中国平安"), ("华夏银行", "华夏幸福"), ("北京银行", "上海银行"),
    ("长春科信食品有限公司", "长春科信建设食品有限公司"),
])
def test_hard_negatives_stay_quiet(a, b):
    assert score(a, b) < 85


def test_align_gaps():
    assert align_gaps("中国国航", "中国国际航空") == [0, 0, 1]
    assert align_gaps("中国银行", "中国建设银行") == [0, 2, 0]
    assert align_gaps("国航", "中国国际航空") is None  # must start at the first character
    assert align_gaps("上汽", "上海汽车") == [1]


def test_abbreviation_rule_needs_a_short_side_that_is_no_legal_name():
    a, b = name_forms("昆明鼎柏房地产开发有限公司"), name_forms("昆明鼎柏国际房地产开发有限公司")
    assert abbreviation_rule(a, b) is None


def test_fuzzy_rule_typo_and_inserted_word():
    typo = fuzzy_rule(name_forms("深圳市宏达精密机械有限公司"), name_forms("深圳市宏达精蜜机械有限公司"))
    assert typo.score >= 85
    assert inserted_word("康汇服装", "康汇国际服装") and not inserted_word("康汇服装", "康汇服饰")
    assert fuzzy_rule(name_forms("杭州康汇国际服装有限公司"),
                      name_forms("杭州康汇服装有限公司")).score <= 80
    assert fuzzy_rule(name_forms("宏达科技"), name_forms("恒泰物流")).score < 30


def test_phone_and_email_are_supporting_evidence():
    assert combine(70, True, False) >= 80 > 70
    assert combine(0, True, False) == 80  # contact alone: visible below the default threshold
    assert combine(0, True, True) >= 85
    assert combine(100, True, True) == 100
    assert combine(60, False, False) == 60
    typo = ("深圳宏达电子有限公司", "深圳宏大电子有限公司")
    assert score(*typo) < 85 <= score(*typo, pa="13800138000", pb="13800138000")
    assert score("甲公司", "乙公司", ea="a@x.cn", eb="a@x.cn") == 80


# --- clustering ------------------------------------------------------------------------------

def test_cluster_edges_strongest_first_and_apart():
    groups, kept = cluster_edges(4, [(0, 1, 90), (1, 2, 95), (2, 3, 86)], apart=[(0, 3)])
    # 1-2 (95) then 0-1 (90) join {0,1,2}; 2-3 would bring 3 next to 0, which must stay apart
    assert groups == [[0, 1, 2]]
    assert (2, 3, 86) not in kept


def test_cluster_edges_link_guard():
    groups, _ = cluster_edges(3, [(0, 1, 90), (0, 2, 90)], link_ok=lambda xs, ys: False)
    assert groups == []


# --- library ---------------------------------------------------------------------------------

def make_wb(rows: list[dict], lang: str = "zh"):
    wb = new_workbook(lang)
    for k, values in enumerate(rows):
        wb.customers.records.append(Record(row=k + 2, values=dict(values)))
    return wb


ROWS = [
    {"customer_id": "C20240101001", "name": "平安银行股份有限公司", "phone": "0755-22168888"},
    {"customer_id": "C20240101002", "name": "中国建设银行股份有限公司"},
    {"customer_id": "C20240101003", "name": "中国银行股份有限公司"},
    {"customer_id": "C20240101004", "name": "平 安 银 行（深圳）"},
    {"customer_id": "C20240101005", "name": "上海汽车集团股份有限公司"},
    {"customer_id": None, "name": "上汽集团"},
    {"customer_id": "C20240101006", "name": "深圳宏大电子有限公司", "phone": "13800138000"},
    {"customer_id": "C20240101007", "name": "深圳宏达电子有限公司", "phone": "+86 138 0013 8000"},
]


def test_find_duplicates_shape_and_order():
    res = find_duplicates(make_wb(ROWS))
    d = res.to_dict()
    assert set(d) == {"clusters"}
    ids = [c["customer_ids"] for c in d["clusters"]]
    assert ids[0] == ["C20240101001", "C20240101004"]  # exact: strongest first
    assert ["C20240101005", "row 7"] in ids  # unassigned ID → "row N"
    assert ["C20240101006", "C20240101007"] in ids
    assert not any("C20240101002" in c or "C20240101003" in c for c in ids)
    for c in d["clusters"]:
        for p in c["pairs"]:
            assert set(p) == {"a", "b", "score", "reason"} and 0 <= p["score"] <= 100
    scores = [max(p["score"] for p in c["pairs"]) for c in d["clusters"]]
    assert scores == sorted(scores, reverse=True)
    reasons = {p["reason"] for c in d["clusters"] for p in c["pairs"]}
    assert any("电话相同" in r for r in reasons)


def test_find_duplicates_threshold_setting_and_override():
    wb = make_wb(ROWS)
    assert len(find_duplicates(wb, threshold=100).clusters) == 1
    wb.settings["duplicate_threshold"] = 100
    assert len(find_duplicates(wb).clusters) == 1
    assert len(find_duplicates(wb, threshold=85).clusters) == 3


def test_reasons_follow_workbook_language():
    res = find_duplicates(make_wb(ROWS[:1] + ROWS[3:4], lang="en"))
    assert res.clusters[0].pairs[0].reason.startswith("same name after removing")


def test_not_duplicates_pair_is_never_reported_nor_joined_via_a_third():
    rows = [{"customer_id": "C1", "name": "宏达电子有限公司"},
            {"customer_id": "C2", "name": "宏达电子（深圳）"},
            {"customer_id": "C3", "name": "宏达电子"}]
    wb = make_wb(rows)
    assert find_duplicates(wb).clusters[0].customer_ids == ["C1", "C2", "C3"]
    wb.not_duplicates = [("C2", "C1")]
    res = find_duplicates(wb)
    pairs = {frozenset((p.a, p.b)) for c in res.clusters for p in c.pairs}
    assert frozenset(("C1", "C2")) not in pairs
    assert not any({"C1", "C2"} <= set(c.customer_ids) for c in res.clusters)
    assert not any(f.customer_id == "C2" and "C1" in f.message for f in duplicate_findings(wb))


def test_duplicate_findings_one_warning_per_later_customer():
    wb = make_wb(ROWS)
    fs = duplicate_findings(wb)
    assert {f.code for f in fs} == {"customer.possible_duplicate"}
    assert all(f.severity == "warning" and f.sheet == "Customers" and f.column == "name" for f in fs)
    by_row = {f.row: f for f in fs}
    assert set(by_row) == {5, 7, 9}  # the later member of each pair
    assert by_row[5].customer_id == "C20240101004"
    assert "C20240101001" in by_row[5].message and "平安银行股份有限公司" in by_row[5].message
    assert by_row[7].customer_id is None and "C20240101005" in by_row[7].message
    assert by_row[5].to_dict()["message"]


def test_empty_and_nameless_rows_are_fine():
    assert find_duplicates(new_workbook()).clusters == []
    assert duplicate_findings(make_wb([{"name": None}, {"name": "  "}])) == []


# --- incremental -----------------------------------------------------------------------------

def test_index_checks_one_record_or_dict():
    wb = make_wb(ROWS)
    idx = DuplicateIndex.from_workbook(wb)
    m = idx.check({"name": "平安銀行", "phone": None, "email": None})
    assert [x.other_id for x in m] == ["C20240101001", "C20240101004"]
    assert m[0].score == 100 and m[0].reason
    assert idx.check({"name": "中国农业银行"}) == []
    # a record already in the sheet is not its own duplicate
    own = wb.customers.records[4]
    assert [x.other_id for x in idx.check(own)] == ["row 7"]
    assert idx.check({"name": "某某科技", "phone": "13800138000"}) == []  # phone alone: 80
    m = idx.check({"name": "某某科技", "phone": "138 0013 8000"}, threshold=80)
    assert {x.other_id for x in m} == {"C20240101006", "C20240101007"}
    assert all(x.score == 80 and "电话相同" in x.reason for x in m)


def test_index_agrees_with_batch():
    sys.path.insert(0, str(ROOT / "bench"))
    from eval_dedupe import build_workbook, synthetic_set

    wb, _ = build_workbook(synthetic_set()[:300])
    res = find_duplicates(wb)
    idx = DuplicateIndex.from_workbook(wb)
    batch = {frozenset((p.a, p.b)) for c in res.clusters for p in c.pairs}
    for rec in wb.customers.records:
        found = {frozenset((rec.values["customer_id"], m.other_id)) for m in idx.check(rec)}
        mine = {p for p in batch if rec.values["customer_id"] in p}
        assert mine <= found  # clusters are a subset of all pairs above the threshold


def test_placeholder_phone_is_no_evidence():
    rows = [{"customer_id": f"C{k}", "name": n, "phone": "13800000000"}
            for k, n in enumerate(["甲科技", "乙物流", "丙食品", "丁建筑", "戊医药", "己教育", "庚化工"])]
    assert find_duplicates(make_wb(rows), threshold=70).clusters == []


def test_blocking_never_compares_all_pairs():
    from crm_sheets.dedupe.synthetic import company_names

    profiles = [Profile(name_forms(n)) for n in company_names(3000, seed=3)]
    pairs = candidate_pairs(profiles)
    assert len(pairs) < 3000 * 2999 / 2 / 50


# --- CLI -------------------------------------------------------------------------------------

def write_master(path: Path, rows: list[dict], not_dups: list[tuple[str, str]] = (),
                 lang: str = "zh") -> Path:
    import openpyxl

    from crm_sheets.schema import sheet_title
    from crm_sheets.template import build_workbook

    build_workbook(path, lang=lang, customers=rows)
    if not_dups:
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet_title("NotDuplicates", lang)]  # 非重复 in a Chinese master
        for a, b in not_dups:
            ws.append([a, b, "不同公司"])
        wb.save(path)
    return path


def test_cli_json_and_exit_codes(tmp_path):
    path = write_master(tmp_path / "m.xlsx", ROWS)
    res = CliRunner().invoke(cli, ["dedupe", str(path), "--format", "json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert data["clusters"][0]["customer_ids"] == ["C20240101001", "C20240101004"]
    clean = write_master(tmp_path / "c.xlsx", ROWS[1:3])
    res = CliRunner().invoke(cli, ["dedupe", str(clean)])
    assert res.exit_code == 0 and "没有发现" in res.output


def test_cli_text_threshold_and_language(tmp_path):
    path = write_master(tmp_path / "m.xlsx", ROWS, lang="en")
    res = CliRunner().invoke(cli, ["dedupe", str(path), "--threshold", "100"])
    assert res.exit_code == 1
    assert "1 groups of probable duplicates" in res.output and "same name" in res.output
    zh = write_master(tmp_path / "z.xlsx", ROWS)
    out = CliRunner().invoke(cli, ["dedupe", str(zh)]).output
    assert "疑似重复" in out and "简称" in out


def test_cli_not_duplicates_sheet(tmp_path):
    path = write_master(tmp_path / "m.xlsx", ROWS, not_dups=[("C20240101004", "C20240101001")])
    data = json.loads(CliRunner().invoke(cli, ["dedupe", str(path), "--format", "json"]).output)
    assert not any({"C20240101001", "C20240101004"} <= set(c["customer_ids"])
                   for c in data["clusters"])


def test_cli_bad_input(tmp_path):
    res = CliRunner().invoke(cli, ["dedupe", str(tmp_path / "missing.xlsx")])
    assert res.exit_code == 2 and "missing.xlsx" in res.output
    res = CliRunner().invoke(cli, ["dedupe", str(tmp_path / "x.xlsx"), "--threshold", "500"])
    assert res.exit_code == 2


# --- province/city, segment 简称, brand, blocking (issue 3, second pass) ---------------------

def loc_score(a: str, b: str, la: tuple[str, str], lb: tuple[str, str]) -> int:
    from crm_sheets.dedupe.normalize import location_codes

    pa = Profile(name_forms(a), location=location_codes(*la))
    pb = Profile(name_forms(b), location=location_codes(*lb))
    return score_pair(pa, pb).score


def test_location_codes():
    from crm_sheets.dedupe.normalize import location_codes

    assert location_codes("广东", "深圳市") == ("4403",)
    assert location_codes("", "深圳") == ("4403",)
    assert location_codes("北京", "") == ("11",)
    assert location_codes("北京", "朝阳区") == ("110105",)  # ambiguous city kept inside province
    assert location_codes("火星", "") == ()


def test_different_places_cap_a_match_and_the_same_city_supports_one():
    hz, huz, sz = ("浙江", "杭州市"), ("浙江", "湖州市"), ("广东", "深圳市")
    # 89 as a two-character prefix; different cities make it a weak hint
    assert score("万润股份", "深圳万润科技股份有限公司") >= 85
    assert loc_score("万润股份", "深圳万润科技股份有限公司", ("山东", "烟台市"), sz) <= 60
    # the row's city against the other name's region prefix also conflicts
    assert loc_score("万润股份", "深圳万润科技股份有限公司", ("山东", "烟台市"), ("", "")) <= 60
    # 2-character stem without its structure word: 80 alone, lifted by the same city
    assert score("首创股份", "首创环保") == 80
    assert loc_score("首创股份", "首创环保", ("北京", "北京市"), ("北京", "北京市")) >= 85
    assert loc_score("万马股份", "万马科技", hz, huz) < 85  # hard negative: other city
    assert score("万马股份", "万马科技") < 85  # and without cities
    # the same city does not lift fuzzy evidence (an inserted word stays a different company)
    bj = ("北京", "北京市")
    assert loc_score("中国银行", "中国建设银行", bj, bj) < 85
    assert loc_score("宏达科技", "恒泰物流", bj, bj) < 50


def test_contained_rule_segment_abbreviations():
    from crm_sheets.dedupe.score import contained_ok, distinctive_chars

    assert contained_ok("同花顺", "核新同花顺网络信息")
    assert contained_ok("博雅生物", "华润博雅生物制药")
    assert contained_ok("盈新发展", "铜官盈新文化旅游发展")
    assert not contained_ok("中国银行", "中国建设银行")  # 中国, 银行: nothing distinctive
    assert not contained_ok("新能源", "宁夏国运新能源")
    assert not contained_ok("万马股份", "万马科技")
    assert distinctive_chars("博雅生物") == 2 and distinctive_chars("科技发展") == 0
    assert score("同花顺", "浙江核新同花顺网络信息股份有限公司") >= 85
    assert score("博雅生物", "华润博雅生物制药集团股份有限公司") >= 85
    assert score("建设银行", "中国建设银行股份有限公司") >= 85
    assert score("中国银行", "中国建设银行股份有限公司") < 85


def test_brand_rule_is_weak_alone():
    from crm_sheets.dedupe.score import brand_rule

    ev = brand_rule(name_forms("国林科技"), name_forms("国林环保"))
    assert ev and ev.score == 80
    assert brand_rule(name_forms("华夏银行"), name_forms("华夏幸福")) is None  # 幸福 not generic
    assert brand_rule(name_forms("中国银行"), name_forms("中国电信")) is None  # 中国 no brand
    ev = brand_rule(name_forms("华锦股份"), name_forms("北方华锦化学工业股份有限公司"))
    assert ev and ev.score == 80
    pj = ("辽宁", "盘锦市")
    assert loc_score("华锦股份", "北方华锦化学工业股份有限公司", pj, pj) >= 85


def test_blocking_finds_region_kept_short_names_and_inner_stems():
    from crm_sheets.dedupe.synthetic import company_names

    names = ["上海新阳", "上海新阳半导体材料股份有限公司", "华锦股份", "北方华锦化学工业股份有限公司"]
    names += [f"上海{n}" for n in company_names(80, seed=5)]  # make 上海 a common term
    profiles = [Profile(name_forms(n)) for n in names]
    pairs = set(candidate_pairs(profiles))
    assert (0, 1) in pairs and (2, 3) in pairs
    idx = DuplicateIndex([Record(row=k + 2, values={"customer_id": f"C{k}", "name": n})
                          for k, n in enumerate(names[1:4])], threshold=80)
    assert {m.other_id for m in idx.check({"name": "上海新阳"})} >= {"C0"}
    assert {m.other_id for m in idx.check({"name": "华锦股份"}, threshold=80)} >= {"C2"}


def test_findings_only_for_pairs_inside_clusters():
    rows = [{"customer_id": "C1", "name": "万润股份", "province": "山东", "city": "烟台市"},
            {"customer_id": "C2", "name": "深圳万润科技股份有限公司", "province": "广东",
             "city": "深圳市"},
            {"customer_id": "C3", "name": "中节能万润股份有限公司", "province": "山东",
             "city": "烟台市"}]
    wb = make_wb(rows)
    clusters = {frozenset(c.customer_ids) for c in find_duplicates(wb).clusters}
    assert not any({"C1", "C2"} <= c for c in clusters)
    clustered = {i for c in clusters for i in c}
    assert {f.customer_id for f in duplicate_findings(wb)} <= clustered


def test_identical_name_and_location_is_a_duplicate_even_when_the_name_starts_with_another_city():
    """Regression: 哈尔滨… located in 佳木斯 was capped at 60 against its own twin."""
    from crm_sheets.dedupe import DuplicateIndex
    from crm_sheets.model import Record as _Record

    row = {"name": "哈尔滨电气集团佳木斯电机股份有限公司", "province": "黑龙江省", "city": "佳木斯市",
           "customer_id": "C20240101001"}
    idx = DuplicateIndex([_Record(row=2, values=row)])
    matches = idx.check({**row, "customer_id": None})
    assert matches and matches[0].score == 100


# --- status-marked two-character 简称 (ST慧业 ← 智慧农业) -------------------------------------

def test_status_short_rule_needs_the_same_city():
    js, nj, sh = ("江苏", "南京市"), ("江苏", "镇江市"), ("上海", "上海市")
    # the two characters in order anywhere in the other key: 80 alone, lifted by the city
    assert score("ST慧业", "智慧农业") == 80
    assert loc_score("ST慧业", "智慧农业", js, js) >= 85
    assert loc_score("*ST金泰", "上海金力泰化工股份有限公司", sh, sh) >= 85
    assert loc_score("*ST大洲", "新大洲A", sh, sh) >= 85  # fuzzy 80 does not hide it
    assert loc_score("ST慧业", "智慧农业", js, nj) <= 60  # other city
    assert loc_score("ST慧业", "智慧农业", js, ("", "")) < 85  # one row without cells
    # hard negatives: no status mark, characters out of order, generic characters only
    assert loc_score("慧业", "智慧农业", js, js) < 85
    assert loc_score("ST业慧", "智慧农业", js, js) < 85
    assert loc_score("*ST生物", "南华生物医药股份有限公司", sh, sh) < 85
    assert loc_score("ST慧业", "ST慧农", js, js) < 85  # two ST names are no 简称 of each other
    bj = ("北京", "北京市")
    assert loc_score("中国银行", "中国建设银行", bj, bj) < 85
    assert loc_score("万马股份", "万马科技", ("浙江", "杭州市"), ("浙江", "湖州市")) < 85


def test_status_short_blocking_batch_and_index_agree():
    js = {"province": "江苏", "city": "南京市"}
    rows = [{"customer_id": "C1", "name": "江苏农华智慧农业科技股份有限公司", **js},
            {"customer_id": "C2", "name": "ST慧业", **js},
            {"customer_id": "C3", "name": "ST慧业", "province": "浙江", "city": "杭州市"},
            {"customer_id": "C4", "name": "农业慧联科技", **js}]
    wb = make_wb(rows)
    clusters = [sorted(c.customer_ids) for c in find_duplicates(wb).clusters]
    assert ["C1", "C2"] in clusters
    assert not any("C3" in c or "C4" in c for c in clusters)
    idx = DuplicateIndex(wb.customers.records[:1])
    assert [m.other_id for m in idx.check(rows[1])] == ["C1"]
    assert idx.check(rows[2]) == []
    idx2 = DuplicateIndex(wb.customers.records[1:2])  # the ST row is the existing one
    assert [m.other_id for m in idx2.check(rows[0])] == ["C2"]


def test_reason_names_the_informal_name_as_the_short_one():
    """Issue 13.19c: a registered name (…有限公司) is the full name; the reason said it was the
    简称 of the school's name. The informal name is the 简称 of the registered one."""
    reg, school = "杭州育才有限公司", "杭州育才外国语学校"
    for a, b in ((reg, school), (school, reg)):
        res = find_duplicates(make_wb([{"customer_id": "C1", "name": a},
                                       {"customer_id": "C2", "name": b}]))
        why = res.clusters[0].pairs[0].reason
        assert f"「{school}」是「{reg}」的简称" in why, why
