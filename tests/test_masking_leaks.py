"""Nothing leaks (issue 17.1–17.3, issue 13.9), tested as an attacker would: plant resident
IDs and bank card numbers in the forms people type, in every free-text cell, run the whole
team's path (validate, apply, views, export, query, dashboard), then search every file the
engine produced (unzipped xlsx XML, pdftotext, audit JSONL, findings JSON, state folder)
for the digits. Then the same for a marketing user and the phone numbers / e-mail addresses
typed into free text."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import customer, followup
from test_views_support import PW, TODAY

from crm_sheets import accounts
from crm_sheets.cli import cli
from crm_sheets.home import create_home
from crm_sheets.prohibited import normalise
from crm_sheets.template import build_workbook

ID_A = "11010519491231002X"  # typed full-width into 备注
ID_B = "510108199001010014"  # glued to 证件, straddling apply's cut of the follow-up summary
ID_C = "110105491231002"  # pre-1999 15-digit ID, in 后续计划 (copied to 下次跟进)
CARD_BOC = "6013823456789012347"  # Bank of China legacy range, typed with dots
CARD_ABC = "9559912345678901234"  # Agricultural Bank 95599…, in 后续计划
# What must never appear once separators are dropped: region + birth date, card middles.
CORES = {"ID_A": "0519491231", "ID_B": "0819900101", "ID_C": "0105491231",
         "CARD_BOC": CARD_BOC[4:15], "CARD_ABC": CARD_ABC[4:15]}

PHONE = "13987654321"
EMAIL = "secret.buyer@corp-example.cn"

FW = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "Ｘ" for c in ID_A)
DOTTED = ".".join(CARD_BOC[i:i + 4] for i in range(0, len(CARD_BOC), 4))
PAD20 = "客户询问分期付款的具体流程并要求提供资料"  # 20 characters: ID_B then spans the cut


def _luhn(d: str) -> bool:
    from stdnum import luhn

    return luhn.is_valid(d)


def _planted_master(path: Path) -> Path:
    cust = [
        customer(customer_id="C20240315001", notes=f"法人证件{FW}已核验；手机{PHONE}，邮箱{EMAIL}",
                 contact_title=f"财务 卡号{DOTTED}"),
        customer(customer_id="C20240315002", name="上海明远贸易有限公司", phone="13600136000",
                 email="li@mingyuan.cn", contact_name="李明", notes="常规客户",
                 first_contact=f"约{PHONE}见面"),  # a phone typed into a date: findings quote it
    ]
    fus = [
        followup(followup_id="F202405200001", customer_id="C20240315001",
                 start=dt.datetime(2024, 5, 20, 10, 0), end=dt.datetime(2024, 5, 20, 10, 30),
                 content=f"{PAD20}证件{ID_B}已核对无误，另付款卡{DOTTED}",
                 next_action=f"回访核对旧证{ID_C}和卡{CARD_ABC}，联系{PHONE}",
                 next_date=dt.date(2024, 5, 25), recorded_at=None),
        followup(followup_id="F202405200002", customer_id="C20240315002",
                 start=dt.datetime(2024, 5, 21, 10, 0), end=dt.datetime(2024, 5, 21, 10, 30),
                 content="常规回访", next_action="发报价", next_date=dt.date(2024, 6, 20)),
    ]
    return build_workbook(path, customers=cust, followups=fus,
                          lists={"owners": ["张伟", "李娜"], "service": ["赵敏"]})


def test_planted_numbers_are_real_and_each_core_is_found_in_the_input():
    """The attack is real: every planted number is a valid ID/card, and the search finds
    each core in the master the test builds (so an absence later means something)."""
    from crm_sheets.prohibited import find

    assert _luhn(CARD_BOC) and _luhn(CARD_ABC)
    for text in (FW, f"证件{ID_B}", ID_C, DOTTED, CARD_ABC):
        assert find(text), text


def _flat(text: str) -> str:
    """Text normalised (full-width digits → ASCII) with separators dropped."""
    return re.sub(r"[\s.\-/_–—－．]", "", normalise(text))


def _file_texts(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    if path.suffix == ".pdf":
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout
    if path.suffix == ".zip":
        return ""  # backups of the master: a copy of the user's own file, see below
    return path.read_bytes().decode("utf-8", "replace")


def _leaks(text: str, cores: dict[str, str]) -> list[str]:
    flat = _flat(text)
    return [name for name, core in cores.items() if core in flat]


@pytest.fixture
def attacked_home(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    accounts.create_first_admin(home, "admin", PW, display_name="管理员")
    accounts.add_user(home, "boss", "manager", by="admin", password=PW, display_name="经理一号")
    accounts.add_user(home, "shichang", "marketing", by="admin", password=PW,
                      display_name="市场一号")
    _planted_master(home.master)
    assert _leaks(_file_texts(home.master), CORES) == list(CORES)  # the search can fail
    return home


def _run(*args: str) -> str:
    r = CliRunner().invoke(cli, [*args])
    assert r.exit_code in (0, 1), (args, r.output)
    return r.output


def test_nothing_the_engine_writes_holds_a_prohibited_number(attacked_home, tmp_path,
                                                              crm_state_dir):
    home = attacked_home
    master = str(home.master)
    today = ["--today", TODAY.isoformat()]
    accounts.login(home, "admin", PW)
    outputs = {"validate.json": _run("validate", master, "--format", "json", *today)}
    findings = json.loads(outputs["validate.json"])["findings"]
    flagged = {(f["sheet"], f["row"], f["code"]) for f in findings if f["code"].startswith("prohibited.")}
    assert {code for _, _, code in flagged} == {"prohibited.id_number", "prohibited.bank_card"}
    assert len(flagged) >= 3  # 备注/职位 of customer 1, content and plan of its follow-up
    _run("apply", master, *today)
    _run("views", "build", master, *today)
    outputs["query.json"] = _run("query", master, "--format", "json", *today)
    outputs["query.csv"] = _run("query", master, "--format", "csv", *today)
    outputs["query.txt"] = _run("query", master, *today)
    for ext in ("xlsx", "csv", "pdf"):
        _run("export", master, "--to", str(tmp_path / f"out.{ext}"), *today)
    _run("dashboard", master, "--to", str(tmp_path / "dash.pdf"), *today)
    outputs["validate-after.json"] = _run("validate", master, "--format", "json", *today)

    # the engine's own cells in the master: 跟进记录摘要, 下次跟进, 客户名称 copies, Issues
    import openpyxl

    wb = openpyxl.load_workbook(home.master, read_only=True)
    ws = wb["客户"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    engine_text = "\n".join(str(r[head.index(h)]) for r in rows[1:]
                            for h in ("跟进记录摘要", "下次跟进"))
    assert "证件510***" in engine_text  # the summary was written, masked before the cut
    issues = "\n".join(str(c) for r in wb["问题"].iter_rows(values_only=True) for c in r if c) \
        if "问题" in wb.sheetnames else ""
    wb.close()
    assert _leaks(engine_text, CORES) == []
    assert _leaks(issues, CORES) == []

    produced: dict[str, str] = dict(outputs)
    for folder in (home.views, home.reports, tmp_path):
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and p.suffix in (".xlsx", ".csv", ".pdf", ".json", ".txt"):
                if p.resolve() != home.master.resolve() and "_crm_state" not in p.parts:
                    produced[str(p)] = _file_texts(p)
    for p in sorted(Path(crm_state_dir).rglob("*")):  # audit log, findings, state, sessions
        if p.is_file() and p.suffix not in (".db", ".key", ".zip", ".xlsx"):
            produced[str(p)] = _file_texts(p)
    assert any(k.endswith("audit.log") for k in produced)
    assert any(k.endswith(".pdf") for k in produced) and any(k.endswith(".xlsx") for k in produced)
    leaks = {name: hit for name, text in produced.items() if (hit := _leaks(text, CORES))}
    assert leaks == {}


def test_validate_flags_an_id_cut_short_by_an_older_engine(tmp_path):
    """A master written before the fix holds 17 of 18 digits in 跟进记录摘要: validate checks
    what the engine derived, not only what was typed, and flags it."""
    master = build_workbook(tmp_path / "old.xlsx", customers=[customer(
        followup_summary=f"2024-05-20 电话：{PAD20[:12]}证件{ID_B[:17]}…")],
        followups=[followup()], lists={"owners": ["张伟", "李娜"], "service": ["赵敏"]})
    r = CliRunner().invoke(cli, ["validate", str(master), "--format", "json",
                                 "--today", TODAY.isoformat()])
    found = [f for f in json.loads(r.output)["findings"] if f["code"] == "prohibited.id_number"]
    assert [f["column"] for f in found] == ["跟进记录摘要"] or \
        [f["column"] for f in found] == ["followup_summary"]
    assert _leaks(r.output, CORES) == []


def test_apply_masks_before_cutting_the_summary():
    from crm_sheets.apply.rules import SUMMARY_CHARS, shorten

    text = f"{PAD20}证件{ID_B}已核对无误"
    cut = shorten(text)
    assert len(cut) <= SUMMARY_CHARS
    assert "510" in cut and _leaks(cut, CORES) == []
    # without masking first, the cut keeps 17 digits (what the attack found)
    assert CORES["ID_B"] in _flat(text[:SUMMARY_CHARS - 1])


def test_audit_log_masks_old_and_new_values(tmp_path):
    from crm_sheets import audit
    from crm_sheets.writeback.safe import append_audit

    audit.record(tmp_path, "admin", "cell.change", old=f"旧{FW}", new=[f"卡{DOTTED}"],
                 detail={"plan": f"旧证{ID_C}"})
    append_audit(tmp_path, "engine", "apply", [{"old": f"证件{ID_B}", "new": CARD_ABC}])
    text = audit.audit_path(tmp_path).read_text(encoding="utf-8")
    assert _leaks(text, CORES) == []
    assert "510***" in text and "9559 ****" in text


def test_a_finding_message_quoting_a_typed_value_is_masked():
    """Messages quote what was typed (「…」不是有效的日期): they go to the Issues sheet,
    latest-findings.json and the terminal, so prohibited numbers are masked in them."""
    from crm_sheets.findings import make

    f = make("date.invalid", "zh", sheet="Customers", row=2, column="first_contact",
             header="首次接触时间", value=f"证件{ID_B}")
    assert _leaks(f.message, CORES) == [] and "510***" in f.message


# --------------------------------------------------------------- 13.9 contacts in free text

CONTACT_CORES = {"phone": PHONE, "email": "secret.buyer"}


def test_marketing_receives_no_phone_or_email_from_free_text(attacked_home, tmp_path):
    home = attacked_home
    master = str(home.master)
    today = ["--today", TODAY.isoformat()]
    accounts.login(home, "admin", PW)
    _run("apply", master, *today)
    _run("views", "build", master, *today)
    accounts.login(home, "shichang", PW)
    outputs = {
        "query.json": _run("query", master, "--format", "json", *today),
        "query.csv": _run("query", master, "--format", "csv", *today),
        "query.txt": _run("query", master, *today),
    }
    # marketing's query shows 备注 (masked), so the test can fail
    data = json.loads(outputs["query.json"])
    assert any("139****4321" in str(c.get("notes")) for c in data["customers"])
    _run("dashboard", master, "--to", str(tmp_path / "mkt-dash.pdf"), *today)
    r = CliRunner(env={"CRM_HOME": str(home.root)}).invoke(
        cli, ["views", "mine", "--out", str(tmp_path / "mine"), *today])
    assert r.exit_code == 0, r.output

    # exports as marketing receives them (the portal calls the same selection)
    from crm_sheets.export import export
    from crm_sheets.permissions import current_actor
    from crm_sheets.query import Filters, run_query
    from crm_sheets.reader import load

    res = run_query(load(home.master), Filters(), today=TODAY, actor=current_actor(home))
    for ext in ("xlsx", "csv", "pdf"):
        export(res, tmp_path / f"mkt.{ext}")

    produced = dict(outputs)
    for p in [*sorted(tmp_path.glob("mkt*")), *sorted((tmp_path / "mine").glob("*")),
              home.views / "marketing.xlsx", *sorted(home.reports.glob("*"))]:
        if p.is_file():
            produced[str(p)] = _file_texts(p)
    from crm_sheets.portal.service import visible_findings

    messages = [f.message for f in visible_findings(home, current_actor(home))]
    assert any("139****4321" in m for m in messages)  # the quoting finding is there, masked
    produced["portal findings"] = "\n".join(messages)
    mkt_view = produced[str(home.views / "marketing.xlsx")]
    assert mkt_view.count("139****4321见面") >= 2  # the cell and its finding in the Issues sheet
    assert any("mine" in k for k in produced)
    assert any(k.endswith(".pdf") for k in produced)
    leaks = {name: [k for k, core in CONTACT_CORES.items() if core in _flat(text)]
             for name, text in produced.items()}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_mask_contacts_in_text_covers_the_forms_people_type():
    from crm_sheets.permissions import mask_contacts_in_text, projector
    from crm_sheets.schema import CUSTOMERS

    for text, secret in ((f"手机{PHONE}", PHONE), ("电话 139-8765-4321 找王总", "98765"),
                         ("+86 139 8765 4321", "98765"), ("１３９８７６５４３２１", "８７６５"),
                         ("座机010-62345678转8", "62345678"), (f"邮箱{EMAIL}", "secret.buyer"),
                         ("邮箱 secret.buyer＠corp-example.cn", "secret.buyer")):
        out = mask_contacts_in_text(text)
        assert secret not in out and "*" in out, (text, out)
    for quiet in ("订单C20240315001 金额50000元", "2024-03-15 拜访", "报价 1380000 元"):
        assert mask_contacts_in_text(quiet) == quiet
    from crm_sheets.permissions import Actor

    row = {"name": "甲公司", "notes": f"手机{PHONE}", "phone": PHONE}
    mkt = projector(Actor("m", "marketing", "市场"), CUSTOMERS)(row)
    assert PHONE not in json.dumps(mkt, ensure_ascii=False)
    mgr = projector(Actor("b", "manager", "经理"), CUSTOMERS)(row)
    assert mgr["notes"] == f"手机{PHONE}"  # other roles see free text as typed


# --------------------------------------------------- the doors in: import and view merges


def test_import_rejects_rows_with_ids_and_cards_in_any_typed_form(tmp_path):
    import csv

    from crm_sheets.importer import run_import
    from crm_sheets.reader import load

    forms = [FW, f"证件{ID_B}", f"旧证 {ID_C[:6]} {ID_C[6:12]} {ID_C[12:]}", DOTTED,
             "–".join((CARD_ABC[:6], CARD_ABC[6:])), f"ID{ID_B}号"]
    rows = [["客户名称", "联系人", "手机", "负责人", "备注"]]
    rows += [[f"测试{i}号贸易有限公司", "张三", f"1380013800{i}", "张伟", f"备注 {form}"]
             for i, form in enumerate(forms)]
    rows.append(["正常客户贸易有限公司", "李四", "13900139000", "张伟", "订单号 2024031512345678"])
    src = tmp_path / "s.csv"
    with open(src, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    m = build_workbook(tmp_path / "m.xlsx", customers=[], followups=[])
    out = run_import(src, m, today=TODAY)
    assert out.summary["imported"] == 1  # only the clean row; each planted form is refused
    names = [r.values.get("name") for r in load(m).customers.records]
    assert names == ["正常客户贸易有限公司"]
    rejects = _file_texts(out.rejects_path)  # the rejects file shows the rows, masked
    assert "测试0号贸易有限公司" in rejects and _leaks(rejects, CORES) == []


def test_a_view_merge_refuses_a_followup_with_a_card_in_a_new_form(tmp_path, crm_state_dir):
    from test_views_support import LI_CUSTOMER, edit_view, make_view_home

    from crm_sheets.reader import load
    from crm_sheets.views import build_views, merge_view

    vh = make_view_home(tmp_path)
    [p] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    li = LI_CUSTOMER["customer_id"]
    edit_view(p, "跟进记录", append=[
        {"客户编号": li, "沟通开始": dt.datetime(2024, 5, 30, 10), "沟通方式": "电话",
         "沟通内容": f"客户给了卡号 {DOTTED}"},
        {"客户编号": li, "沟通开始": dt.datetime(2024, 5, 30, 11), "沟通方式": "电话",
         "沟通内容": f"身份证{FW}"},
        {"客户编号": li, "沟通开始": dt.datetime(2024, 5, 30, 12), "沟通方式": "电话",
         "沟通内容": "电话回访，一切正常"},
    ])
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert len(res.added_followups) == 1
    contents = [r.values.get("content") for r in load(vh.master).followups.records]
    assert "电话回访，一切正常" in contents
    assert not any(_leaks(str(c), CORES) for c in contents)


def test_reading_an_old_audit_log_never_shows_an_unmasked_number(tmp_path, logged_in_home):
    """A log written before masking (17.3) still holds old → new values in full: `crm audit`
    and the portal's audit page (both `audit.query`) mask them when they read."""
    from crm_sheets import audit

    li = logged_in_home("admin")
    line = {"at": "2024-05-20T02:00:00+00:00", "who": "engine", "action": "apply",
            "sheet": "Customers", "row": 2, "column": "next_followup", "customer_id": "C20240315001",
            "old": "", "new": f"回访核对旧证{ID_C}和卡{CARD_ABC}"}
    path = audit.audit_path(li.home.state)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    assert _leaks(path.read_text(encoding="utf-8"), CORES)  # the old line is there in full
    events = audit.query(li.home.state, customer="C20240315001")
    assert events and _leaks(json.dumps(events, ensure_ascii=False), CORES) == []
    r = CliRunner(env={"CRM_HOME": str(li.home.root)}).invoke(
        cli, ["audit", "--customer", "C20240315001", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "C20240315001" in r.output and _leaks(r.output, CORES) == []


def test_apply_output_never_prints_an_old_value_in_full(tmp_path):
    """apply replaces a summary an older version cut (17 digits of an ID) and prints
    old → new (`--verbose`, `--format json`): the old value is shown masked."""
    old_summary = f"2024-05-20 电话：{PAD20[:12]}证件{ID_B[:17]}…"
    master = build_workbook(tmp_path / "old.xlsx", customers=[customer(
        followup_summary=old_summary, next_followup=f"旧证{ID_C}")],
        followups=[followup()], lists={"owners": ["张伟", "李娜"], "service": ["赵敏"]})
    outs = []
    for extra in (["--dry-run", "--verbose"], ["--dry-run", "--format", "json"]):
        r = CliRunner().invoke(cli, ["apply", str(master), "--today", TODAY.isoformat(), *extra])
        assert r.exit_code in (0, 1), r.output
        outs.append(r.output)
    data = json.loads(outs[1])
    olds = [c["old"] for c in data["changes"] if c["column"] in ("followup_summary", "next_followup")]
    assert len(olds) == 2 and all(o for o in olds)  # both old values are reported
    assert "跟进记录摘要" in outs[0]
    assert [_leaks(o, CORES) for o in outs] == [[], []]
