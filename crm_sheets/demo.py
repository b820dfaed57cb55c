"""`crm demo`: a realistic demo home with planted problems, doubling as a training sandbox.

The planted problems are listed in `PLANTED` (code and the Excel row they sit on), so a
test can prove validation finds every one of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .home import CrmHome, create_home
from .sample_data import SALES_TEAM, SERVICE_STAFF, generate
from .template import build_workbook

DEMO_CUSTOMERS = 300


@dataclass(frozen=True)
class Planted:
    sheet: str
    row: int
    code: str
    note: str


@dataclass
class DemoResult:
    home: CrmHome
    master: Path
    planted: list[Planted]
    customers: int
    followups: int
    outputs: dict[str, Path] = field(default_factory=dict)


def _plant(customers: list[dict[str, Any]], followups: list[dict[str, Any]],
           today: dt.date) -> list[Planted]:
    """Put realistic mistakes into the clean rows; return where each one is."""
    planted: list[Planted] = []
    c_row = {i: i + 2 for i in range(len(customers))}  # Excel row of customers[i]

    def c(i: int, code: str, note: str, **changes: Any) -> None:
        customers[i].update(changes)
        planted.append(Planted("Customers", c_row[i], code, note))

    c(3, "phone.invalid", "电话少了几位", phone="1380013")
    c(7, "email.invalid", "邮箱写错", email="wang@@example")
    c(11, "region.city_unknown", "市与省不一致", province="广东省", city="杭州市", district=None)
    c(15, "required.missing", "联系人没填", contact_name=None)
    lost = next(i for i in range(20, len(customers)) if customers[i]["stage"] == "流失")
    c(lost, "stage.lost_reason_missing", "流失但没有原因", lost_reason=None)
    won = next(i for i in range(30, len(customers)) if customers[i]["stage"] == "成交")
    c(won, "stage.type_mismatch", "成交客户类型却是潜在客户", customer_type="潜在客户")
    c(41, "date.future", "首次接触时间在未来", first_contact=today + dt.timedelta(days=40))
    c(45, "number.negative", "员工人数为负", employees=-5)
    c(52, "prohibited.id_number", "备注里有身份证号", notes="法人身份证 11010519491231002X 已核验")
    with_followups = {fu["customer_id"] for fu in followups}
    lonely = next(i for i in range(58, len(customers)) if customers[i]["customer_id"] not in with_followups)
    c(lonely, "customer_id.duplicate", "客户编号重复", customer_id=customers[57]["customer_id"])
    # A near-duplicate company: the same firm typed the way a rep would.
    twin = dict(customers[5])
    base = twin["name"]
    short = base.replace("有限责任公司", "").replace("有限公司", "").replace("股份", "")
    twin.update(customer_id=None, name=short + " ",
                contact_name="周杰", phone="13912345678", email="zhou@example.cn", notes=None)
    customers.append(twin)
    c_row[len(customers) - 1] = len(customers) + 1
    planted.append(Planted("Customers", len(customers) + 1, "customer.possible_duplicate", f"与“{base}”重复"))

    f_row = {i: i + 2 for i in range(len(followups))}

    def f(i: int, code: str, note: str, **changes: Any) -> None:
        followups[i].update(changes)
        planted.append(Planted("Followups", f_row[i], code, note))

    f(4, "followup.end_before_start", "结束早于开始",
      end=followups[4]["start"] - dt.timedelta(hours=2))
    f(9, "followup.customer_unknown", "客户编号不存在", customer_id="C20200101999", customer_name=None)
    f(13, "prohibited.bank_card", "沟通内容里有银行卡号",
      content="客户提供付款账户 6222 0212 3456 7890 128，已转财务")
    f(17, "date.invalid", "日期写错", start="2024-13-45 10:00")
    other = next(i for i in range(20, len(followups)) if followups[i]["owner"] in SALES_TEAM)
    intruder = next(o for o in SALES_TEAM if o != followups[other]["owner"])
    f(other, "followup.not_owner", "非负责人跟进", owner=intruder)
    late = other + 3
    f(late, "followup.late_entry", "录入不及时",
      recorded_at=followups[late]["end"] + dt.timedelta(hours=72))
    return planted


def remaining_problems(planted: list[Planted], findings: list[Any]
                       ) -> tuple[list[Planted], list[Planted]]:
    """The problems a person finds after the demo's own apply, and the planted ones it fixed.

    The first list is every finding `crm validate` reports now (one line each, with the
    planted note where one was planted there, else the finding's message), sorted by sheet
    and row, so its length is validate's count; the second the planted problems apply fixed
    (a 成交 customer typed 潜在客户: the type follows the stage)."""
    notes = {(p.sheet, p.row, p.code): p.note for p in planted}
    order = {"Customers": 0, "Followups": 1}
    left = sorted((Planted(f.sheet, f.row or 0, f.code,
                           notes.get((f.sheet, f.row, f.code), f.message)) for f in findings),
                  key=lambda p: (order.get(p.sheet, 2), p.sheet, p.row, p.code))
    found = {(p.sheet, p.row, p.code) for p in left}
    fixed = [p for p in planted if (p.sheet, p.row, p.code) not in found]
    return left, fixed


def build_demo(root: Path, *, today: dt.date | None = None, lang: str = "zh",
               n_customers: int = DEMO_CUSTOMERS) -> DemoResult:
    """Create the demo home at `root` with its master workbook (validation is the caller's)."""
    today = today or dt.date.today()
    home = create_home(Path(root), lang=lang)
    customers, followups = generate(n_customers, 4.0, seed=2024, today=today)
    planted = _plant(customers, followups, today)
    lists = {"owners": list(SALES_TEAM), "service": list(SERVICE_STAFF)}
    build_workbook(home.master, lang=lang, customers=customers, followups=followups, lists=lists,
                   created=dt.datetime.combine(today, dt.time(9, 0)),
                   meta={"baseline_at": "2000-01-01 00:00:00"})  # the demo team has used it all along
    return DemoResult(home=home, master=home.master, planted=planted, customers=len(customers),
                      followups=len(followups))


DEMO_PASSWORD = "crm-demo-sandbox"  # sandbox only: printed by `crm demo`, never used elsewhere
DEMO_ACCOUNTS = (  # (account, role, display name = the owner name in the sheet)
    ("admin", "admin", "管理员"), ("manager1", "manager", "经理王总"),
    *((f"sales{i}", "sales", n) for i, n in enumerate(SALES_TEAM, start=1)),
    ("service1", "service", SERVICE_STAFF[0]), ("marketing1", "marketing", "市场刘洋"),
)


def create_demo_accounts(home: CrmHome) -> list[tuple[str, str, str]]:
    """The demo team's accounts (all with DEMO_PASSWORD), so every role can be tried."""
    from . import accounts

    (admin, _, admin_display), *others = DEMO_ACCOUNTS
    accounts.create_first_admin(home, admin, DEMO_PASSWORD, display_name=admin_display)
    for name, role, display in others:
        accounts.add_user(home, name, role, by=admin, password=DEMO_PASSWORD, display_name=display)
    return list(DEMO_ACCOUNTS)


def run_demo(root: Path, *, today: dt.date, lang: str = "zh", echo: Any = print) -> DemoResult:
    """Build the demo home and run every stage of the pipeline on it, printing a guided summary."""
    from .apply import run_apply
    from .dashboard import make_dashboard
    from .dedupe import find_duplicates
    from .export import export_selection
    from .messages import text
    from .query import Filters
    from .validation import check_file
    from .views import build_views

    result = build_demo(root, today=today, lang=lang)
    home, zh = result.home, lang == "zh"
    team = create_demo_accounts(home)
    applied = run_apply(result.master, today=today, home=home, who="admin")
    # what a person finds now: the same findings (and counts) as `crm validate` straight after
    wb, report = check_file(result.master, today=today)
    clusters = find_duplicates(wb).clusters
    dash = make_dashboard(wb, today=today)
    result.outputs["dashboard"] = dash.xlsx
    views = build_views(result.master, home, today=today)
    result.outputs["views"] = home.views
    selection = Filters.from_options(type="意向客户", not_followed_within="30d")
    for suffix in ("xlsx", "pdf"):
        result.outputs[f"export.{suffix}"] = export_selection(
            wb, home.reports / f"意向客户-30天未跟进.{suffix}", selection, today=today)

    echo(("演示 CRM 主目录：" if zh else "demo CRM home: ") + str(home.root))
    echo(("主工作簿（用 Excel/WPS 打开）：" if zh else "master workbook (open in Excel/WPS): ")
         + str(result.master))
    echo(("apply：" if zh else "apply: ") + (f"{len(applied.changes)} 处单元格已更新，问题已写入 Issues 工作表"
                                              if zh else f"{len(applied.changes)} cells updated, findings written to the Issues sheet"))
    echo(text("summary", lang, **report.summary()))
    echo(f"疑似重复客户：{len(clusters)} 组（crm dedupe 查看）" if zh
          else f"possible duplicate customers: {len(clusters)} cluster(s) (see crm dedupe)")
    left, fixed = remaining_problems(result.planted, report.findings)
    echo("预埋的问题（练习时逐个修正）：" if zh else "planted problems (fix them as practice):")
    for p in left:
        echo(f"  {p.sheet} {p.row:>4}  {p.code:<28} {p.note}")
    for p in fixed:
        echo(f"  （apply 已自动修正：{p.sheet} {p.row} {p.code} {p.note}）" if zh
             else f"  (already fixed by apply: {p.sheet} {p.row} {p.code} {p.note})")
    labels = {"dashboard": ("看板", "dashboard"), "views": ("各角色工作簿文件夹", "views folder"),
              "export.xlsx": ("示例导出（Excel）", "sample export (Excel)"),
              "export.pdf": ("示例导出（PDF）", "sample export (PDF)")}
    for label, path in result.outputs.items():
        zh_label, en_label = labels.get(label, (label, label))
        echo(f"{zh_label if zh else en_label}：{path}" if zh else f"{en_label}: {path}")
    echo(f"各角色工作簿：{len(views)} 份（每位销售一份，另有客服、市场、管理层各一份）" if zh
          else f"per-role workbooks: {len(views)} (one per sales rep, plus service, marketing, management)")
    accounts_line = ", ".join(f"{name}({role})" for name, role, _ in team)
    echo((f"演示账户（密码均为 {DEMO_PASSWORD}，仅限演示）：" if zh
          else f"demo accounts (password {DEMO_PASSWORD}, sandbox only): ") + accounts_line)
    echo(f"试试：CRM_HOME={home.root} crm login --user sales1" if zh
          else f"try: CRM_HOME={home.root} crm login --user sales1")
    return result
