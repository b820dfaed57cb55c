"""What the portal's pages and JSON API do, as plain functions over the library.

Every function takes the home and the acting account (a `permissions.Actor`) and
returns data or bytes; the Starlette routes only translate HTTP to these calls. Rights
are applied by the library (`permissions`, the view builder, `merge_view`,
`run_query`, `dashboard_for`); nothing here decides who may see a row on its own
beyond filtering findings by the rows the actor may see.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit, permissions
from ..errors import CrmError, Refused
from ..findings import Finding
from ..home import CrmHome
from ..permissions import Actor

MAX_UPLOAD_BYTES = 64 * 1024**2
# up to this master size (≈ 25,000 customers) an upload's answer includes the findings on
# the uploader's rows, rechecked after the write; above it the recheck runs in the background
SYNC_FINDINGS_BYTES = 8 * 1024**2


def today() -> dt.date:
    """The rules' date: CRM_TODAY when set (tests, demos), else today."""
    env = os.environ.get("CRM_TODAY")
    return dt.date.fromisoformat(env.strip()) if env else dt.date.today()


def work_dir(home: CrmHome) -> Path:
    """A private scratch folder for builds and uploads (never the shared home)."""
    path = Path(home.state) / "portal-work"
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)
    return path


def record(home: CrmHome, who: str, action: str, client: str | None, **details: Any) -> None:
    """Audit one portal action with the client address."""
    audit.record(home.state, who, action, client=client or "", via="portal", **details)


# --- my workbook ------------------------------------------------------------------------

@dataclass
class Download:
    name: str
    data: bytes
    media_type: str


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def my_workbook(home: CrmHome, actor: Actor) -> Download:
    """The caller's own copy, built fresh from the master by the view builder."""
    from ..views import build_views, mine_audience

    if not permissions.allowed(actor.role, "views_mine"):
        raise Refused(permissions.refusal_message("views_mine", home.lang))
    out = Path(tempfile.mkdtemp(prefix="view-", dir=work_dir(home)))
    try:
        [path] = build_views(home.master, home, out_dir=out, today=today(),
                             audience_list=[mine_audience(actor)])
        return Download(name=path.name, data=path.read_bytes(), media_type=XLSX)
    finally:
        shutil.rmtree(out, ignore_errors=True)


@dataclass
class UploadResult:
    """What an upload did, as the page and `POST /api/workbook` show it."""

    landed: list[Finding] = field(default_factory=list)
    rejected: list[Finding] = field(default_factory=list)
    conflicts: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    refused: bool = False
    written: bool = False
    not_yours: bool = False
    findings_later: bool = False  # a big master: its findings are rechecked in the background

    def to_dict(self) -> dict[str, Any]:
        return {"landed": [f.to_dict() for f in self.landed],
                "rejected": [f.to_dict() for f in self.rejected],
                "conflicts": [f.to_dict() for f in self.conflicts],
                "findings": [f.to_dict() for f in self.findings],
                "written": self.written, "findings_later": self.findings_later}


def upload_workbook(home: CrmHome, actor: Actor, data: bytes, filename: str) -> UploadResult:
    """Merge an uploaded copy with the uploader's rights, one writer at a time.

    Raises CrmError (one line) for an unreadable, encrypted or oversized file.
    """
    from ..views import merge_view
    from ..writeback.writer import master_writer

    zh = home.lang == "zh"
    if len(data) > MAX_UPLOAD_BYTES:
        raise CrmError(too_large(home.lang))
    if not data:
        raise CrmError("没有收到文件" if zh else "no file was received")
    tmp = work_dir(home) / f"upload-{secrets.token_hex(8)}.xlsx"
    tmp.write_bytes(data)
    try:
        with master_writer(home.state, lang=home.lang):
            result = merge_view(home.master, tmp, home=home, runner=actor, today=today())
    except CrmError as exc:
        shown = Path(filename).name or "upload.xlsx"
        line = _one_line(str(exc).replace(tmp.name, shown), home.lang)
        if shown not in line:
            line = f"{shown}：{line}" if zh else f"{shown}: {line}"
        raise CrmError(line) from None
    finally:
        tmp.unlink(missing_ok=True)
    out = UploadResult(landed=result.landed, rejected=result.rejected,
                       conflicts=result.conflicts, refused=result.refused,
                       written=result.written)
    out.not_yours = result.refused and any(f.code == "merge.wrong_account"
                                           for f in result.rejected)
    if not out.not_yours:
        out.findings = list(result.notes)
        if home.master.stat().st_size <= SYNC_FINDINGS_BYTES:
            ids = {f.customer_id for f in (*result.landed, *result.rejected, *result.conflicts)
                   if f.customer_id}
            ids.update(result.added_customers)
            out.findings += [f for f in visible_findings(home, actor) if f.customer_id in ids]
        else:  # a big master: the answer does not wait for a full recheck (the 问题 page has it)
            out.findings_later = True
            threading.Thread(target=_refresh_findings, args=(home,), daemon=True).start()
    return out


def _refresh_findings(home: CrmHome) -> None:
    """Recheck the master after a write, in the background (one at a time)."""
    if not _findings_lock.acquire(blocking=False):
        return  # one is running; a request finding it stale rechecks
    try:
        _findings_lock.release()
        master_findings(home)
    except Exception:  # noqa: BLE001 - the 问题 page rechecks and reports
        pass


def too_large(lang: str) -> str:
    """The one line for an upload over the size cap."""
    mb = max(1, MAX_UPLOAD_BYTES // 1024**2)
    return (f"文件过大（上限 {mb} MB）" if lang == "zh" else
            f"the file is too large (limit {mb} MB)")


def _one_line(text: str, lang: str) -> str:
    """Library messages written as 'zh / en' become the home's half."""
    line = text.strip().splitlines()[0] if text.strip() else text
    parts = re.split(r"\s*/\s+", line, maxsplit=1)
    if len(parts) == 2 and _CJK.search(parts[0]) and not _CJK.search(parts[1]):
        return parts[0] if lang == "zh" else parts[1]
    return line


_CJK = re.compile(r"[\u4e00-\u9fff]")


# --- findings ---------------------------------------------------------------------------

_cache: dict[str, tuple[tuple[int, ...], Any]] = {}
_loading = threading.Lock()
_findings_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def master_findings(home: CrmHome) -> tuple[Any, list[Finding]]:
    """(loaded master, its findings), recomputed when the master file changes."""
    from ..validation import check_file

    key = f"findings:{home.master}"
    with _findings_lock:
        stamp = _stamp(home.master)
        hit = _cache.get(key)
        if hit is None or hit[0] != stamp:
            wb, report = check_file(home.master, today())
            hit = (stamp, (wb, list(report.findings)))
            _cache[key] = hit
    return hit[1]


def visible_findings(home: CrmHome, actor: Actor) -> list[Finding]:
    """The master's findings on rows the actor may see, masked columns left out.

    Findings not tied to a customer (settings, lists) are for admins and managers.
    """
    wb, findings = master_findings(home)
    if actor.role in ("admin", "manager"):
        return findings
    cust = {r.values.get("customer_id") for r in wb.customers.records
            if permissions.visible_customer(actor, r)}
    cust.discard(None)
    masked = {getattr(f, "key", f) for f in permissions.masked_fields(actor)}
    sees_followups = permissions.allowed(actor.role, "followups_see")
    out = []
    for f in findings:
        if not f.customer_id or f.customer_id not in cust:
            continue
        if f.column in masked:
            continue
        if f.sheet != "Customers" and not sees_followups:
            continue
        if masked:  # a phone or e-mail quoted in a message is masked like its column
            from dataclasses import replace

            f = replace(f, message=permissions.mask_contacts_in_text(f.message))
        out.append(f)
    return out


# --- query and export -------------------------------------------------------------------

FILTER_KEYS = ("industry", "stage", "type", "source", "owner", "province", "city", "status",
               "followed_within", "not_followed_within", "dormant")


def filters_from(params: Any) -> Any:
    """query.Filters from query parameters named like the CLI's options."""
    from ..query import Filters

    opts: dict[str, Any] = {}
    for key in FILTER_KEYS:
        values = [v for v in params.getlist(key) if v.strip()] if hasattr(params, "getlist") \
            else ([params[key]] if params.get(key) else [])
        if key == "dormant":
            opts[key] = bool(values) and values[0].lower() not in ("0", "false", "no", "")
        elif key in ("followed_within", "not_followed_within"):
            opts[key] = values[0] if values else None
        else:
            opts[key] = values
    return Filters.from_options(**opts)


def customers(home: CrmHome, actor: Actor, filters: Any) -> Any:
    """The QueryResult `crm query` gives this actor (rows and columns scoped by role)."""
    from ..cli.report_cmds import select

    return select(home.master, filters, today(), actor)


def customers_json(result: Any) -> dict[str, Any]:
    from ..cli.report_cmds import result_json

    return result_json(result)


EXPORT_TYPES = {"xlsx": XLSX, "pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


def export_file(home: CrmHome, actor: Actor, filters: Any, fmt: str) -> Download:
    """The selection as xlsx/PDF/CSV (roles with the export right only)."""
    from ..export import export

    if not permissions.allowed(actor.role, "export"):
        raise Refused(permissions.refusal_message("export", home.lang))
    if fmt not in EXPORT_TYPES:
        raise CrmError("格式须为 xlsx、pdf 或 csv" if home.lang == "zh" else
                       "format must be xlsx, pdf or csv")
    result = customers(home, actor, filters)
    out = Path(tempfile.mkdtemp(prefix="export-", dir=work_dir(home)))
    try:
        path = export(result, out / f"export.{fmt}")
        name = ("客户导出" if home.lang == "zh" else "customers") + f"-{today():%Y%m%d}.{fmt}"
        return Download(name=name, data=path.read_bytes(), media_type=EXPORT_TYPES[fmt])
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- dashboard --------------------------------------------------------------------------

def dashboard(home: CrmHome, actor: Actor) -> Any:
    """The actor's audience's Dashboard figures (charts_data.Dashboard)."""
    from ..dashboard import dashboard_for

    wb = _dash_master(home)
    scope = permissions.dashboard_scope(actor)
    key = (f"board:{home.master}:{scope}:{actor.name if scope == 'own' else ''}:"
           f"{actor.owner_name if scope == 'own' else ''}:{today()}")
    stamp = _stamp(home.master)
    hit = _cache.get(key)
    # the stage events the funnel reads from the audit log are written with the master,
    # so the figures change only when the master does
    if hit is None or hit[0] != stamp:
        hit = (stamp, dashboard_for(wb, today=today(), actor=actor))
        _cache[key] = hit
    return hit[1]


def _dash_master(home: CrmHome) -> Any:
    """The master read for reports, kept until the file changes."""
    from ..report_load import load_for_dashboard

    key = f"dash:{home.master}"
    with _loading:  # one read at a time: a request arriving during the warm-up waits for it
        stamp = _stamp(home.master)
        hit = _cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, load_for_dashboard(home.master))
            _cache[key] = hit
    return hit[1]


def dashboard_file(home: CrmHome, actor: Actor, fmt: str) -> Download:
    """The dashboard as xlsx (native charts) or PDF."""
    from ..dashboard import dashboard_file_name, write_dashboard_xlsx
    from ..export.pdf import write_dashboard_pdf

    if fmt not in ("xlsx", "pdf"):
        raise CrmError("格式须为 xlsx 或 pdf" if home.lang == "zh" else "format must be xlsx or pdf")
    dash = dashboard(home, actor)
    out = Path(tempfile.mkdtemp(prefix="dash-", dir=work_dir(home)))
    try:
        stem = Path(dashboard_file_name(actor)).stem
        path = out / f"{stem}.{fmt}"
        if fmt == "xlsx":
            write_dashboard_xlsx(dash, path)
        else:
            write_dashboard_pdf(dash, path)
        return Download(name=path.name, data=path.read_bytes(), media_type=EXPORT_TYPES[fmt])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def master_settings(home: CrmHome) -> dict[str, int]:
    """The master's Settings (cached with the dashboard read)."""
    return dict(_dash_master(home).settings)
