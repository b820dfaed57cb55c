"""Shared test helpers: workbooks from Python literals, LibreOffice headless, fixtures."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from crm_sheets.template import build_workbook

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "xlsx"  # copies, see PROVENANCE.md
COMPANIES = Path(__file__).resolve().parent / "fixtures" / "companies" / "a_share_aliases_first600.csv"
TODAY = dt.date(2024, 6, 1)
OWNERS = ["张伟", "李娜"]


def customer(**over: Any) -> dict[str, Any]:
    """A valid customer row; override any field."""
    row = {
        "customer_id": "C20240315001", "name": "北京华信科技有限公司", "industry": "信息技术",
        "employees": 120, "annual_revenue": 3500.5, "province": "北京市", "city": "北京市",
        "district": "海淀区", "contact_name": "王强", "contact_title": "总经理",
        "phone": "13800138000", "email": "wang@huaxin.com.cn", "customer_type": "意向客户",
        "source": "展会推荐", "first_contact": dt.date(2024, 3, 15), "owner": "张伟", "stage": "意向",
        "expected_amount": 50.0,
    }
    row.update(over)
    return row


def followup(**over: Any) -> dict[str, Any]:
    row = {
        "followup_id": "F202403200001", "customer_id": "C20240315001", "customer_name": "北京华信科技有限公司",
        "start": dt.datetime(2024, 3, 20, 14, 0), "end": dt.datetime(2024, 3, 20, 15, 0), "method": "电话",
        "content": "介绍产品", "next_action": "发送报价", "next_date": dt.date(2024, 3, 27), "owner": "张伟",
        "recorded_at": dt.datetime(2024, 3, 20, 16, 0),
    }
    row.update(over)
    return row


def make_master(path: Path, customers: list[dict] | None = None, followups: list[dict] | None = None,
                lang: str = "zh", **kw: Any) -> Path:
    lists = kw.pop("lists", {"owners": OWNERS, "service": ["赵敏"]})
    return build_workbook(path, lang=lang, customers=customers if customers is not None else [customer()],
                          followups=followups if followups is not None else [followup()], lists=lists, **kw)


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    assert exe, "LibreOffice (soffice) is required: .ci/run installs libreoffice-calc"
    return exe


def libreoffice_convert(src: Path, fmt: str, outdir: Path) -> Path:
    """Convert with LibreOffice headless; assert the output exists (soffice exits 0 on failure)."""
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    try:
        subprocess.run([soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
                        "--convert-to", fmt, "--outdir", str(outdir), str(src)],
                       capture_output=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    out = outdir / (src.stem + "." + fmt.split(":")[0])
    assert out.exists() and out.stat().st_size > 0, f"LibreOffice could not open {src.name}"
    return out


class Sheet:
    """Edit a master with openpyxl by header names (a team's edit between two checks)."""

    def __init__(self, path: Path) -> None:
        import openpyxl

        self.path = path
        self.book = openpyxl.load_workbook(path)

    def ws(self, name: str):  # noqa: ANN201
        return self.book[name]

    def col(self, sheet: str, header: str) -> int:
        for c in self.ws(sheet)[1]:
            if c.value is not None and str(c.value).lstrip("*") == header:
                return c.column
        raise KeyError(header)

    def get(self, sheet: str, row: int, header: str):  # noqa: ANN201
        return self.ws(sheet).cell(row, self.col(sheet, header)).value

    def set(self, sheet: str, row: int, header: str, value) -> None:  # noqa: ANN001
        self.ws(sheet).cell(row, self.col(sheet, header)).value = value

    def row_values(self, sheet: str, row: int) -> list:
        return [c.value for c in self.ws(sheet)[row]]

    def put_row(self, sheet: str, row: int, values: list) -> None:
        ws = self.ws(sheet)
        for k, v in enumerate(values, start=1):
            ws.cell(row, k).value = v

    def save(self) -> None:
        self.book.save(self.path)


def benchmark_workbook(path: Path, customers: int, followups: int) -> Path:
    """bench/gen.py's generated master (in the repository), at a test's size."""
    from bench.gen import make_benchmark_workbook

    return make_benchmark_workbook(path, customers, followups)
