"""Shared fixtures for the views tests (test_views*.py, test_merge*.py): a CRM home with
accounts for two reps, service, marketing and a manager, and a small master with
recognisable customers for each rep."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from crm_sheets import accounts
from crm_sheets.home import CrmHome, create_home
from crm_sheets.permissions import Actor
from crm_sheets.sample_data import generate
from crm_sheets.template import build_workbook

PW = "correct horse battery"
TODAY = dt.date(2024, 6, 1)
REPS = {"li": "李四", "wang": "王五"}
# Customers planted so tests can search for them; li's and wang's must never cross.
LI_CUSTOMER = {"customer_id": "C20240102001", "name": "北京李氏独有科技有限公司", "industry": "信息技术",
               "province": "北京市", "city": "北京市", "district": "海淀区", "contact_name": "李小龙",
               "phone": "13911112222", "email": "lixiaolong.unique@example.com",
               "customer_type": "意向客户", "source": "转介绍",
               "first_contact": dt.date(2024, 1, 2), "owner": "李四", "stage": "意向",
               "expected_amount": 50.0, "notes": "li note"}
WANG_CUSTOMER = {"customer_id": "C20240102002", "name": "上海王家秘密贸易有限公司", "industry": "零售",
                 "province": "上海市", "city": "上海市", "district": "浦东新区",
                 "contact_name": "王秘书", "phone": "13800138000",
                 "email": "zhang.wangsecret@example.com", "customer_type": "潜在客户",
                 "source": "展会推荐", "first_contact": dt.date(2024, 1, 2), "owner": "王五",
                 "stage": "线索", "expected_amount": 80.0, "notes": "身份证 110101199003074258"}
WANG_FOLLOWUP = {"followup_id": "F202401030001", "customer_id": "C20240102002",
                 "customer_name": "上海王家秘密贸易有限公司",
                 "start": dt.datetime(2024, 1, 3, 10, 0), "end": dt.datetime(2024, 1, 3, 10, 30),
                 "method": "电话", "content": "王家机密沟通内容", "owner": "王五"}
LI_FOLLOWUP = {"followup_id": "F202401030002", "customer_id": "C20240102001",
               "customer_name": "北京李氏独有科技有限公司",
               "start": dt.datetime(2024, 1, 3, 11, 0), "end": dt.datetime(2024, 1, 3, 11, 30),
               "method": "拜访", "content": "李四的拜访记录", "owner": "李四"}


@dataclass
class ViewHome:
    home: CrmHome
    master: Path

    def actor(self, name: str) -> Actor:
        u = accounts.get_user(self.home, name)
        return Actor(name=u.name, role=u.role, display_name=u.display_name)


def make_view_home(root: Path, n: int = 30) -> ViewHome:
    home = create_home(root / "home")
    accounts.create_first_admin(home, "admin", PW, display_name="管理员")
    for name, display in REPS.items():
        accounts.add_user(home, name, "sales", by="admin", password=PW, display_name=display)
    accounts.add_user(home, "kefu", "service", by="admin", password=PW, display_name="客服一号")
    accounts.add_user(home, "shichang", "marketing", by="admin", password=PW,
                      display_name="市场一号")
    accounts.add_user(home, "boss", "manager", by="admin", password=PW, display_name="经理一号")
    cust, fol = generate(n, 2, seed=3, today=TODAY, owners=tuple(REPS.values()),
                         service=("客服一号",))
    cust = [LI_CUSTOMER, WANG_CUSTOMER, *cust]
    fol = [LI_FOLLOWUP, WANG_FOLLOWUP, *fol]
    build_workbook(home.master, customers=cust, followups=fol,
                   lists={"owners": list(REPS.values()), "service": ["客服一号"]},
                   meta={"revision": "7"})
    return ViewHome(home=home, master=home.master)


def xlsx_text(path: Path) -> str:
    """Every XML part of an xlsx, unzipped, as one string."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def edit_view(path: Path, sheet: str, edits: dict[tuple[str, str], Any] | None = None,
              append: list[dict[str, Any]] | None = None, delete_ids: tuple[str, ...] = (),
              author: str | None = None) -> None:
    """Edit a view like a user in Excel: (row id, header) -> value, rows appended by header."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    headers = {c.value: c.column for c in ws[1]}
    ids = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for (rid, header), value in (edits or {}).items():
        ws.cell(ids[rid], headers[header]).value = value
    for rid in delete_ids:
        ws.delete_rows(ids[rid])
        ids = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for row in append or []:
        r = ws.max_row + 1
        for header, value in row.items():
            ws.cell(r, headers[header]).value = value
    if author is not None:
        wb.properties.lastModifiedBy = author
    wb.save(path)


UNO_PROBE = r"""
import json, subprocess, sys, time, uuid
import uno
from com.sun.star.beans import PropertyValue

def prop(name, value):
    p = PropertyValue(); p.Name = name; p.Value = value; return p

profile, items = sys.argv[1], sys.argv[2:]
pipe = "crmviews" + uuid.uuid4().hex[:8]
proc = subprocess.Popen(["soffice", "-env:UserInstallation=" + profile, "--headless",
                         "--invisible", "--nologo", "--norestore",
                         "--accept=pipe,name=%s;urp;" % pipe],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ctx = uno.getComponentContext()
resolver = ctx.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", ctx)
smgr = None
for _ in range(120):
    try:
        rctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        smgr = rctx.ServiceManager
        break
    except Exception:
        time.sleep(0.5)
desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", rctx)
report = {}
for i in range(0, len(items), 2):
    path, password = items[i], items[i + 1]
    props = [prop("Hidden", True), prop("RepairPackage", False), prop("Silent", True)]
    if password:
        props.append(prop("Password", password))
    entry = {"loaded": False}
    try:
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(path), "_blank", 0,
                                           tuple(props))
        if doc is not None:
            sheets = doc.getSheets()
            names = list(sheets.getElementNames())
            first = sheets.getByIndex(0)
            entry = {"loaded": True, "sheets": names,
                     "a1": first.getCellByPosition(0, 0).getString(),
                     "b2": first.getCellByPosition(1, 1).getString()}
            doc.close(True)
    except Exception as exc:
        entry["error"] = type(exc).__name__
    report[path + "|" + password] = entry
try:
    desktop.terminate()
except Exception:
    pass
try:
    proc.wait(timeout=30)
except Exception:
    proc.kill()
print(json.dumps(report, ensure_ascii=False))
"""


def run_uno(files: list[tuple[Path, str]], tmp_path: Path) -> dict[str, dict]:
    """Open files in headless LibreOffice via UNO (system python3): {"path|password": info}."""
    import json

    profile = tmp_path / f"lo-{uuid.uuid4().hex[:8]}"
    py = "/usr/bin/python3"
    assert Path(py).exists() and shutil.which("soffice"), "LibreOffice with python3-uno needed"
    args = [a for path, pw in files for a in (str(path), pw)]
    out = subprocess.run([py, "-c", UNO_PROBE, profile.as_uri(), *args], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_ = sys
