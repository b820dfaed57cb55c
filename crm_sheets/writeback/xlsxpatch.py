"""Patch cells of an .xlsx by editing the sheet XML directly: nothing else changes.

openpyxl's load/save drops shapes, x14 validations, extLst content, comment formatting
and more. The engine therefore never regenerates a user's workbook: it edits the sheet
XML of the few sheets that change, as bytes, and copies every other zip member byte
for byte (same compressed bytes, same CRC).

What a patch can do:
- set cells: `{(sheet name, excel row, 0-based column): value}`; a value is `str`
  (written as an inline string, so IDs and phones stay text), `int`/`float`,
  `bool`, `datetime.date`/`datetime.datetime` (an Excel serial number with a date style
  that exists in the file; a cellXfs entry is added to styles.xml when none fits) or
  `None` (clears the value, keeps the cell's style). Missing cells and rows are created
  in order; the sheet's `<dimension>` is widened when needed.
- replace an engine sheet's rows from some row on (`SheetRows`), with internal
  hyperlinks (`location`, no relationships needed).

Only the touched rows of a patched sheet are re-serialised; all other bytes of that
sheet (columns, views, conditional formats, validations, extLst) are copied as they
are. If a replaced cell held a formula, calcChain.xml is dropped (Excel rebuilds it).
"""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zipfile import BadZipFile, ZipFile

from defusedxml import ElementTree as SafeET

from ..errors import CrmError
from ..model import column_letter
from .zipcopy import Deflated, ZipWriter, deflate

CellKey = tuple[str, int, int]  # (sheet name, 1-based Excel row, 0-based column)
MAX_PART_BYTES = 1 << 30  # refuse to inflate a single XML part over 1 GiB (zip bombs)

_REL_NS_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL_NS_STRICT = "http://purl.oclc.org/ooxml/officeDocument/relationships"
_DATE_FMT = "yyyy-mm-dd"
_DATETIME_FMT = "yyyy-mm-dd hh:mm"
# Built-in number formats that show a date or time (ECMA-376 18.8.30 plus CJK ids).
_BUILTIN_DATE_IDS = set(range(14, 23)) | set(range(27, 37)) | {45, 46, 47} | set(range(50, 59))
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


class PatchError(CrmError):
    """The workbook cannot be patched (missing sheet, malformed part)."""


@dataclass
class SheetRows:
    """Replacement rows for an engine-owned sheet: everything from `first_row` on.

    `rows[0]` goes to Excel row `first_row`. `links` maps (excel row, column) to an
    internal location such as `'Customers'!K12`. Rows above `first_row` (a header the
    template styled) stay byte for byte.
    """

    rows: list[list[Any]]
    first_row: int = 1
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    link_font: bool = False  # show link cells in the hyperlink font (blue, underlined)
    header_row: int | None = None  # this row's cells take the style of the old A-cell there


ENGINE_CF_MARK = "crm-sheets:"  # string literal in the formula of every rule the engine owns
ENGINE_HIDDEN = ("_meta", "_view")  # engine sheets that stay very hidden
# Differential formats (what a conditional format applies; cell styles never change).
DXF = {
    "error": b'<font><color rgb="FF9C0006"/></font><fill><patternFill patternType="solid">'
             b'<bgColor rgb="FFFFC7CE"/></patternFill></fill>',
    "warning": b'<font><color rgb="FF9C5700"/></font><fill><patternFill patternType="solid">'
               b'<bgColor rgb="FFFFEB9C"/></patternFill></fill>',
    "info": b'<font><color rgb="FF1F4E78"/></font><fill><patternFill patternType="solid">'
            b'<bgColor rgb="FFDDEBF7"/></patternFill></fill>',
    "overdue": b'<font><b/><color rgb="FFC00000"/></font><fill><patternFill patternType="solid">'
               b'<bgColor rgb="FFFCE4D6"/></patternFill></fill>',
}


@dataclass
class CfRule:
    """One engine-owned conditional format: `formula` (relative to the top-left cell of
    `sqref`, without '=') shows the `kind` dxf on the cells of `sqref` ('K5 L9:L12')."""

    kind: str
    sqref: str
    formula: str = "TRUE"


@dataclass
class SheetDress:
    """What the engine keeps on a sheet besides cell values, refreshed on every write.

    `rules` replace the engine's earlier conditional formats on that sheet (recognised by
    `ENGINE_CF_MARK`; the user's own formats stay); `autofilter` sets the sheet's filter
    range (engine sheets only); `print_setup` = N adds A4 landscape, N pages wide, when
    the sheet has no page setup (print titles are a workbook matter: `patch_workbook`).
    """

    rules: list[CfRule] = field(default_factory=list)
    autofilter: str | None = None
    print_setup: int = 0  # pages wide (0: leave the page setup alone)


@dataclass
class PatchResult:
    patched_parts: list[str]
    removed_parts: list[str]
    part_crc: dict[str, int]  # CRC-32 of every part written anew (for verification)
    cells_written: int = 0


# ---------------------------------------------------------------------------- helpers


column_letters = column_letter  # 0-based index -> A, B, …, AA (one definition, in model)


def column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_REF = re.compile(rb"([A-Za-z]{1,3})(\d+)")


_COLS: dict[bytes, int] = {}


def _split_ref(ref: bytes) -> tuple[int, int]:
    m = _REF.fullmatch(ref) or _REF.fullmatch(ref.strip().replace(b"$", b""))
    if not m:
        raise PatchError(f"bad cell reference {ref!r}")
    letters = m.group(1)
    col = _COLS.get(letters)
    if col is None:
        col = _COLS[letters] = column_index(letters.decode())
    return int(m.group(2)), col


def quote_sheet(name: str) -> str:
    """A sheet name as used in a formula or hyperlink location: 'Name'."""
    return "'" + name.replace("'", "''") + "'"


def cell_location(sheet: str, row: int, col: int) -> str:
    return f"{quote_sheet(sheet)}!{column_letters(col)}{row}"


def escape_text(value: str) -> str:
    """XML-escape a cell text; control characters become OOXML `_xHHHH_` escapes."""
    value = _ESCAPE_LIKE.sub(r"_x005F_\1", value)
    value = _ILLEGAL_XML.sub(lambda m: f"_x{ord(m.group()):04X}_" if ord(m.group()) < 0xD800
                             else "\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr_escape(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_part(zf: ZipFile, name: str) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > MAX_PART_BYTES:
        raise PatchError(f"{name} is too large ({info.file_size} bytes)")
    try:
        return zf.read(name)
    except (BadZipFile, OSError, ValueError) as exc:  # zlib.error is a subclass of Exception
        raise PatchError(f"cannot read {name}: {exc}") from exc
    except Exception as exc:  # zlib.error
        raise PatchError(f"cannot read {name}: {exc}") from exc


def _read_part_own(src: Path, name: str) -> bytes:
    """`_read_part` through a zip handle of its own (for a reader thread)."""
    try:
        zf = ZipFile(src)
    except (BadZipFile, OSError) as exc:
        raise PatchError(f"{src} is not a readable xlsx: {exc}") from exc
    with zf:
        return _read_part(zf, name)


def _parse(xml: bytes, name: str) -> Any:
    try:
        return SafeET.fromstring(xml)
    except Exception as exc:  # defusedxml raises on entities; ParseError on junk
        raise PatchError(f"{name} is not valid XML: {exc}") from exc


@dataclass
class Package:
    """Where things are in the package: sheet name -> part, styles, date system."""

    sheets: dict[str, str]  # sheet name -> part name (e.g. xl/worksheets/sheet1.xml)
    workbook_part: str
    styles_part: str | None
    date1904: bool
    calc_chain: str | None


def read_package(zf: ZipFile) -> Package:
    names = set(zf.namelist())
    root_rels = _parse(_read_part(zf, "_rels/.rels"), "_rels/.rels") if "_rels/.rels" in names \
        else None
    wb_part = "xl/workbook.xml"
    if root_rels is not None:
        for rel in root_rels:
            if rel.get("Type", "").endswith("/officeDocument"):
                wb_part = rel.get("Target", wb_part).lstrip("/")
    if wb_part not in names:
        raise PatchError("the workbook part is missing")
    wb = _parse(_read_part(zf, wb_part), wb_part)
    base = posixpath.dirname(wb_part)
    rels_name = posixpath.join(base, "_rels", posixpath.basename(wb_part) + ".rels")
    targets: dict[str, tuple[str, str]] = {}
    if rels_name in names:
        for rel in _parse(_read_part(zf, rels_name), rels_name):
            target = rel.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join(base, target))
            targets[rel.get("Id", "")] = (rel.get("Type", ""), part)
    sheets: dict[str, str] = {}
    date1904 = False
    for el in wb.iter():
        tag = _local(el.tag)
        if tag == "workbookPr":
            date1904 = date1904 or el.get("date1904", "0").lower() in ("1", "true")
        elif tag == "sheet":
            rid = el.get(f"{{{_REL_NS_DOC}}}id") or el.get(f"{{{_REL_NS_STRICT}}}id")
            if rid in targets:
                sheets[el.get("name", "")] = targets[rid][1]
    styles = next((p for t, p in targets.values() if t.endswith("/styles")), None)
    chain = next((p for t, p in targets.values() if t.endswith("/calcChain")), None)
    return Package(sheets=sheets, workbook_part=wb_part,
                   styles_part=styles if styles in names else None, date1904=date1904,
                   calc_chain=chain if chain in names else None)


def _resolve_keys(pkg: Package, names: Iterable[str]) -> dict[str, str]:
    """Let callers name an engine sheet by its stable key ('Customers') when the tab
    carries the home's title (客户): {key: tab} for the names that are not tabs."""
    from ..schema import identify_sheets

    wanted = [n for n in names if n not in pkg.sheets]
    if not wanted:
        return {}
    found, _ = identify_sheets(list(pkg.sheets))
    return {key: found[key] for key in wanted if key in found}


def excel_serial(value: dt.date, date1904: bool = False) -> float | int:
    """A date or datetime as an Excel serial number."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        base = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
        delta = value - base
        secs = round(delta.seconds + delta.microseconds / 1e6)
        return delta.days + secs / 86400 if secs else delta.days
    base_d = dt.date(1904, 1, 1) if date1904 else dt.date(1899, 12, 30)
    return (value - base_d).days


# ---------------------------------------------------------------------------- styles


_XF = re.compile(rb"<(?:[\w.-]+:)?xf\b[^>]*?(?:/>|>.*?</(?:[\w.-]+:)?xf>)", re.S)
_NUMFMT = re.compile(rb"<(?:[\w.-]+:)?numFmt\b([^>]*?)/?>")


_ATTR_RES: dict[bytes, re.Pattern[bytes]] = {}


def _attr(attrs: bytes, name: bytes) -> bytes | None:
    rx = _ATTR_RES.get(name)
    if rx is None:
        rx = _ATTR_RES[name] = re.compile(rb"(?:^|\s)" + name +
                                          rb"\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
    m = rx.search(attrs)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def _is_date_code(code: str) -> bool:
    code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.', "", code.lower())
    code = code.split(";")[0]
    return bool(re.search(r"[dmyhs]", code)) and "general" not in code


class Styles:
    """cellXfs and numFmts of styles.xml: which xf shows dates, and adding one."""

    def __init__(self, xml: bytes | None) -> None:
        self.xml = xml
        self.changed = False
        self.xf_fmt: list[int] = []
        self.xf_xml: list[bytes] = []
        self.codes: dict[int, str] = {}
        self._added: dict[tuple[int, str], int] = {}
        if xml is None:
            return
        m = re.search(rb"<(?:[\w.-]+:)?cellXfs\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?cellXfs>)", xml,
                      re.S)
        if m and m.group(1):
            for xm in _XF.finditer(m.group(1)):
                head = xm.group(0).split(b">", 1)[0]
                self.xf_fmt.append(int(_attr(head, b"numFmtId") or b"0"))
                self.xf_xml.append(xm.group(0))
        for nm in _NUMFMT.finditer(xml):
            fid, code = _attr(nm.group(1), b"numFmtId"), _attr(nm.group(1), b"formatCode")
            if fid is not None and code is not None:
                self.codes[int(fid)] = _unescape(code.decode("utf-8"))

    def is_date(self, xf: int | None) -> bool:
        if xf is None or xf >= len(self.xf_fmt):
            return False
        fid = self.xf_fmt[xf]
        if fid in self.codes:
            return _is_date_code(self.codes[fid])
        return fid in _BUILTIN_DATE_IDS

    def date_style(self, base: int | None, with_time: bool) -> int:
        """An xf index like `base` but with a date (or date-time) number format."""
        code = _DATETIME_FMT if with_time else _DATE_FMT
        base = base if base is not None and base < len(self.xf_xml) else 0
        key = (base, code)
        if key in self._added:
            return self._added[key]
        if self.xml is None:
            raise PatchError("the workbook has no styles part; cannot format a date")
        fid = next((i for i, c in self.codes.items() if c == code), None)
        if fid is None:
            fid = max([163, *self.codes]) + 1
            self._add_numfmt(fid, code)
        # an existing xf that only differs by number format would do; keep it simple:
        # reuse an xf with this format and the base's font/fill/border, else clone base.
        template = self.xf_xml[base] if self.xf_xml else b'<xf numFmtId="0" fontId="0" ' \
            b'fillId="0" borderId="0" xfId="0"/>'
        new = self._with_numfmt(template, fid)
        for i, existing in enumerate(self.xf_xml):
            if existing == new:
                self._added[key] = i
                return i
        self._append_xf(new)
        idx = len(self.xf_xml) - 1
        self.xf_fmt.append(fid)
        self._added[key] = idx
        return idx

    @staticmethod
    def _with_numfmt(xf: bytes, fid: int) -> bytes:
        head, sep, rest = xf.partition(b">")
        closing = head.endswith(b"/")
        if closing:
            head = head[:-1]
        head = re.sub(rb'\s(numFmtId|applyNumberFormat)\s*=\s*("[^"]*"|\'[^\']*\')', b"", head)
        head = head.rstrip() + f' numFmtId="{fid}" applyNumberFormat="1"'.encode()
        return head + (b"/" if closing else b"") + sep + rest

    def _prefix(self) -> bytes:
        assert self.xml is not None
        m = re.search(rb"<((?:[\w.-]+:)?)styleSheet\b", self.xml)
        if not m:
            raise PatchError("styles.xml has no styleSheet element")
        return m.group(1)

    def dxf(self, body: bytes) -> int:
        """The index of a differential format `<dxf>body</dxf>` (added when none is equal).

        A dxf is what a conditional format applies; it never changes a cell's own style."""
        if self.xml is None:
            raise PatchError("the workbook has no styles part; cannot add a conditional format")
        p = self._prefix()
        if p:  # our bodies are written without a prefix
            body = re.sub(rb"<(/?)(?=[a-zA-Z])", b"<\\1" + p, body)
        entry = b"<" + p + b"dxf>" + body + b"</" + p + b"dxf>"
        m = re.search(rb"<(?:[\w.-]+:)?dxfs\b[^>]*?(/?)>", self.xml)
        if m and not m.group(1):
            close = re.compile(rb"</(?:[\w.-]+:)?dxfs>").search(self.xml, m.end())
            if close is None:
                raise PatchError("styles.xml: dxfs is not closed")
            existing = re.findall(rb"<(?:[\w.-]+:)?dxf\b[^>]*?(?:/>|>.*?</(?:[\w.-]+:)?dxf>)",
                                  self.xml[m.end():close.start()], re.S)
            if entry in existing:
                return existing.index(entry)
            self.xml = self.xml[:close.start()] + entry + self.xml[close.start():]
            n = len(existing)
        else:
            block = b"<" + p + b'dxfs count="1">' + entry + b"</" + p + b"dxfs>"
            if m:  # <dxfs/>
                self.xml = self.xml[:m.start()] + block + self.xml[m.end():]
            else:  # after cellStyles (or cellXfs), before tableStyles/colors/extLst
                after = None
                for tag in (b"cellStyles", b"cellXfs"):
                    am = re.search(rb"</(?:[\w.-]+:)?" + tag + rb">|<(?:[\w.-]+:)?" + tag +
                                   rb"\b[^>]*/>", self.xml)
                    if am:
                        after = am.end()
                        break
                if after is None:
                    raise PatchError("styles.xml has no cellXfs list")
                self.xml = self.xml[:after] + block + self.xml[after:]
            n = 0
        self.xml = self._bump_count(self.xml, b"dxfs", n + 1)
        self.changed = True
        return n

    def link_style(self, base: int | None) -> int:
        """An xf like `base` whose font is the hyperlink font (blue, underlined)."""
        key = (base if base is not None else -1, "link")
        if key in self._added:
            return self._added[key]
        if self.xml is None:
            raise PatchError("the workbook has no styles part")
        p = self._prefix()
        font = (b"<" + p + b"font><" + p + b'u/><' + p + b'sz val="11"/><' + p +
                b'color rgb="FF0563C1"/><' + p + b'name val="\xe7\xad\x89\xe7\xba\xbf"/></' + p +
                b"font>")
        m = re.search(rb"<(?:[\w.-]+:)?fonts\b[^>]*>(.*?)</(?:[\w.-]+:)?fonts>", self.xml, re.S)
        if not m:
            raise PatchError("styles.xml has no fonts list")
        fonts = re.findall(rb"<(?:[\w.-]+:)?font\b[^>]*?(?:/>|>.*?</(?:[\w.-]+:)?font>)",
                           m.group(1), re.S)
        if font in fonts:
            fid = fonts.index(font)
        else:
            self.xml = self.xml[:m.end(1)] + font + self.xml[m.end(1):]
            fid = len(fonts)
            self.xml = self._bump_count(self.xml, b"fonts", fid + 1)
            self.changed = True
        b = base if base is not None and base < len(self.xf_xml) else 0
        template = self.xf_xml[b] if self.xf_xml else b'<xf numFmtId="0" fontId="0" ' \
            b'fillId="0" borderId="0" xfId="0"/>'
        head, sep, rest = template.partition(b">")
        closing = head.endswith(b"/")
        if closing:
            head = head[:-1]
        head = re.sub(rb'\s(fontId|applyFont)\s*=\s*("[^"]*"|\'[^\']*\')', b"", head)
        new = head.rstrip() + f' fontId="{fid}" applyFont="1"'.encode() + \
            (b"/" if closing else b"") + sep + rest
        if new in self.xf_xml:
            idx = self.xf_xml.index(new)
        else:
            self._append_xf(new)
            idx = len(self.xf_xml) - 1
            self.xf_fmt.append(self.xf_fmt[b] if self.xf_fmt else 0)
        self._added[key] = idx
        return idx

    def _append_xf(self, xf: bytes) -> None:
        assert self.xml is not None
        m = re.search(rb"</((?:[\w.-]+:)?)cellXfs>", self.xml)
        if not m:
            raise PatchError("styles.xml has no cellXfs list")
        self.xml = self.xml[:m.start()] + xf + self.xml[m.start():]
        self.xf_xml.append(xf)
        self.xml = self._bump_count(self.xml, b"cellXfs", len(self.xf_xml))
        self.changed = True

    def _add_numfmt(self, fid: int, code: str) -> None:
        assert self.xml is not None
        m = re.search(rb"<((?:[\w.-]+:)?)styleSheet\b[^>]*>", self.xml)
        if not m:
            raise PatchError("styles.xml has no styleSheet element")
        prefix = m.group(1)
        entry = b"<" + prefix + f'numFmt numFmtId="{fid}" formatCode="{_attr_escape(code)}"/>'.encode()
        close = re.search(rb"</(?:[\w.-]+:)?numFmts>", self.xml)
        empty = re.search(rb"<(?:[\w.-]+:)?numFmts\b[^>]*/>", self.xml)
        if close:
            self.xml = self.xml[:close.start()] + entry + self.xml[close.start():]
        elif empty:
            tag = b"<" + prefix + b'numFmts count="1">' + entry + b"</" + prefix + b"numFmts>"
            self.xml = self.xml[:empty.start()] + tag + self.xml[empty.end():]
        else:
            tag = b"<" + prefix + b'numFmts count="1">' + entry + b"</" + prefix + b"numFmts>"
            self.xml = self.xml[:m.end()] + tag + self.xml[m.end():]
        self.codes[fid] = code
        self.xml = self._bump_count(self.xml, b"numFmts", len(self.codes))
        self.changed = True

    @staticmethod
    def _bump_count(xml: bytes, tag: bytes, n: int) -> bytes:
        m = re.search(rb"<(?:[\w.-]+:)?" + tag + rb"\b([^>]*)>", xml)
        if not m:
            return xml
        attrs = m.group(1)
        if re.search(rb"\scount\s*=", attrs):
            new_attrs = re.sub(rb'(\scount\s*=\s*)("[^"]*"|\'[^\']*\')', rb'\g<1>"%d"' % n, attrs,
                               count=1)
        else:
            new_attrs = (b' count="%d"' % n) + attrs
        return xml[:m.start(1)] + new_attrs + xml[m.end(1):]


def _unescape(s: str) -> str:
    return (s.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<")
            .replace("&gt;", ">").replace("&amp;", "&"))


# ---------------------------------------------------------------------------- cells


@dataclass
class _Ctx:
    styles: Styles
    date1904: bool
    prefix: bytes
    col_styles: list[tuple[int, int, int]]  # (min col, max col, style) 0-based
    dropped_formula: bool = False
    cells_written: int = 0

    def col_style(self, col: int) -> int | None:
        for lo, hi, st in self.col_styles:
            if lo <= col <= hi:
                return st
        return None


def _cell_xml(ctx: _Ctx, row: int, col: int, value: Any, style: int | None) -> bytes:
    """One `<c>` element for a typed value; `style` is the cell's current xf (or None)."""
    p = ctx.prefix
    ref = f"{column_letters(col)}{row}"
    if style is None:
        style = ctx.col_style(col)
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    if isinstance(value, dt.date):
        with_time = isinstance(value, dt.datetime)
        if not ctx.styles.is_date(style):
            style = ctx.styles.date_style(style, with_time)
        serial = excel_serial(value, ctx.date1904)
        s_attr = f' s="{style}"'
        return b"<" + p + f'c r="{ref}"{s_attr}><'.encode() + p + f"v>{serial!r}</".encode() + p \
            + b"v></" + p + b"c>"
    s_attr = f' s="{style}"' if style not in (None, 0) else ""
    if value is None or value == "":
        return b"<" + p + f'c r="{ref}"{s_attr}/>'.encode() if s_attr else b""
    if isinstance(value, bool):
        return b"<" + p + f'c r="{ref}"{s_attr} t="b"><'.encode() + p + \
            f"v>{int(value)}</".encode() + p + b"v></" + p + b"c>"
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            text = str(int(value))
        return b"<" + p + f'c r="{ref}"{s_attr}><'.encode() + p + f"v>{text}</".encode() + p + \
            b"v></" + p + b"c>"
    text = str(value)
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return (b"<" + p + f'c r="{ref}"{s_attr} t="inlineStr"><'.encode() + p + b"is><" + p
            + f"t{space}>{escape_text(text)}</".encode() + p + b"t></" + p + b"is></" + p
            + b"c>")


# ---------------------------------------------------------------------------- sheets


@dataclass
class _Row:
    r: int
    start: int
    tag_end: int  # index just past the opening tag
    self_closing: bool
    attrs: bytes


def _sheet_regexes(prefix: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    row = re.compile(b"<" + re.escape(prefix) + rb"row\b([^>]*?)(/?)>")
    cell = re.compile(b"<" + re.escape(prefix) + rb"c\b([^>]*?)(?:/>|>(.*?)</" + re.escape(prefix)
                      + rb"c>)", re.S)
    return row, cell


def _iter_rows(xml: bytes, start: int, end: int, row_re: re.Pattern[bytes]) -> Iterator[_Row]:
    prev = 0
    for m in row_re.finditer(xml, start, end):
        r = _attr(m.group(1), b"r")
        prev = int(r) if r else prev + 1
        yield _Row(prev, m.start(), m.end(), m.group(2) == b"/", m.group(1))


def _patch_row(xml: bytes, row: _Row, changes: Mapping[int, Any], ctx: _Ctx,
               cell_re: re.Pattern[bytes]) -> tuple[bytes, int, int]:
    """Rewrite one row with `changes` (col -> value). Returns (xml, end index, max col)."""
    p = ctx.prefix
    close = b"</" + p + b"row>"
    if row.self_closing:
        body, end = b"", row.tag_end
    else:
        end_at = xml.find(close, row.tag_end)
        if end_at < 0:
            raise PatchError(f"row {row.r} is not closed")
        body, end = xml[row.tag_end:end_at], end_at + len(close)
    cells: list[tuple[int, bytes]] = []
    tail = b""
    prev = -1
    pos = 0
    last_change = max(changes)
    for m in cell_re.finditer(body):
        ref = _attr(m.group(1), b"r")
        col = _split_ref(ref)[1] if ref else prev + 1
        prev = col
        cells.append((col, m.group(0)))
        pos = m.end()
        if col >= last_change:
            break
    tail = body[pos:]
    pending = dict(changes)
    out: list[bytes] = []
    for col, cell in cells:
        for c in sorted(k for k in pending if k < col):
            out.append(_cell_xml(ctx, row.r, c, pending.pop(c), None))
            ctx.cells_written += 1
        if col in pending:
            head = cell.split(b">", 1)[0]
            st = _attr(head, b"s")
            inner = cell[len(head):]
            if re.search(b"<" + re.escape(p) + rb"f\b", inner):
                if re.search(b"<" + re.escape(p) + rb"f\b[^>]*\bt=\"shared\"[^>]*\bref=", inner) \
                        or re.search(b"<" + re.escape(p) + rb"f\b[^>]*\bref=[^>]*\bt=\"shared\"",
                                     inner):
                    raise PatchError(f"cell {column_letters(col)}{row.r} holds a shared formula "
                                     "that other cells use; remove it before the engine writes")
                ctx.dropped_formula = True
            out.append(_cell_xml(ctx, row.r, col, pending.pop(col),
                                 int(st) if st is not None else None))
            ctx.cells_written += 1
        else:
            out.append(cell)
    for c in sorted(pending):
        out.append(_cell_xml(ctx, row.r, c, pending[c], None))
        ctx.cells_written += 1
    attrs = row.attrs
    max_col = max([c for c, _ in cells] + list(changes), default=0)
    spans = _attr(attrs, b"spans")
    if spans and b":" in spans:
        lo, _, hi = spans.partition(b":")
        try:
            lo_i, hi_i = int(lo), int(hi)
            min_col = min([c for c, _ in cells] + list(changes), default=0)
            if min_col + 1 < lo_i or max_col + 1 > hi_i:
                new = b"%d:%d" % (min(lo_i, min_col + 1), max(hi_i, max_col + 1))
                attrs = re.sub(rb'(\sspans\s*=\s*)("[^"]*"|\'[^\']*\')', b'\\1"' + new + b'"',
                               attrs, count=1)
        except ValueError:
            pass
    text = b"<" + p + b"row" + attrs + b">" + b"".join(out) + tail + close
    return text, end, max_col


def _new_row(ctx: _Ctx, r: int, changes: Mapping[int, Any],
             styles: Mapping[int, int] | None = None) -> tuple[bytes, int]:
    cells = []
    for c in sorted(changes):
        cells.append(_cell_xml(ctx, r, c, changes[c], (styles or {}).get(c)))
        ctx.cells_written += 1
    body = b"".join(cells)
    if not body:
        return b"", 0
    p = ctx.prefix
    return b"<" + p + f'row r="{r}">'.encode() + body + b"</" + p + b"row>", max(changes)


_AFTER_HYPERLINKS = (b"printOptions", b"pageMargins", b"pageSetup", b"headerFooter", b"rowBreaks",
                     b"colBreaks", b"customProperties", b"cellWatches", b"ignoredErrors",
                     b"smartTags", b"drawing", b"legacyDrawing", b"legacyDrawingHF",
                     b"drawingHF", b"picture", b"oleObjects", b"controls", b"webPublishItems",
                     b"tableParts", b"extLst")


_AFTER_AUTOFILTER = (b"sortState", b"dataConsolidate", b"customSheetViews", b"mergeCells",
                     b"phoneticPr", b"conditionalFormatting", b"dataValidations", b"hyperlinks",
                     *_AFTER_HYPERLINKS)
_AFTER_CF = (b"dataValidations", b"hyperlinks", *_AFTER_HYPERLINKS)
_AFTER_PAGE_SETUP = _AFTER_HYPERLINKS[3:]  # headerFooter, rowBreaks, … extLst


def _insert_before(tail: bytes, names: tuple[bytes, ...], block: bytes, prefix: bytes) -> bytes:
    """Insert `block` before the first element of `names` in `tail` (else before the
    closing worksheet tag): the schema's element order."""
    p = re.escape(prefix)
    at = None
    for nm in names:
        m = re.search(b"<" + p + nm + rb"\b", tail)
        if m and (at is None or m.start() < at):
            at = m.start()
    if at is None:
        m = re.search(b"</" + p + rb"worksheet\s*>", tail)
        at = m.start() if m else len(tail)
    return tail[:at] + block + tail[at:]


def _cf_formula(rule: CfRule) -> str:
    mark = f'"{ENGINE_CF_MARK}{rule.kind}"<>""'
    return f"AND({mark},{rule.formula})"


def _dress(head: bytes, tail: bytes, dress: SheetDress, styles: Styles,
           prefix: bytes) -> tuple[bytes, bytes]:
    """Apply a `SheetDress` to the parts of a sheet around its sheetData."""
    p = re.escape(prefix)
    cf_re = re.compile(b"<" + p + rb"conditionalFormatting\b[^>]*>.*?</" + p +
                       rb"conditionalFormatting>", re.S)
    mark = ENGINE_CF_MARK.encode()
    kept_end = None
    out, pos = [], 0
    for m in cf_re.finditer(tail):
        out.append(tail[pos:m.start()])
        if mark not in m.group(0):
            out.append(m.group(0))
        pos = m.end()
    tail = b"".join(out) + tail[pos:]
    priorities = [int(x) for x in re.findall(rb'\spriority="(\d+)"', b"".join(
        m.group(0) for m in cf_re.finditer(tail)))]
    prio = max(priorities, default=0)
    blocks = []
    for rule in dress.rules:
        if not rule.sqref or styles.xml is None:  # no styles part: nowhere to put a dxf
            continue
        prio += 1
        dxf = styles.dxf(DXF[rule.kind])
        blocks.append(
            b"<" + prefix + f'conditionalFormatting sqref="{_attr_escape(rule.sqref)}"><'.encode()
            + prefix + f'cfRule type="expression" dxfId="{dxf}" priority="{prio}"><'.encode()
            + prefix + f"formula>{escape_text(_cf_formula(rule))}</".encode() + prefix
            + b"formula></" + prefix + b"cfRule></" + prefix + b"conditionalFormatting>")
    if blocks:
        last = None
        for m in cf_re.finditer(tail):
            last = m.end()
        kept_end = last
        if kept_end is not None:
            tail = tail[:kept_end] + b"".join(blocks) + tail[kept_end:]
        else:
            tail = _insert_before(tail, _AFTER_CF, b"".join(blocks), prefix)
    if dress.autofilter:
        af = b"<" + prefix + f'autoFilter ref="{dress.autofilter}"/>'.encode()
        af_re = re.compile(b"<" + p + rb"autoFilter\b[^>]*?(?:/>|>.*?</" + p + rb"autoFilter>)",
                           re.S)
        if af_re.search(tail):
            tail = af_re.sub(lambda _m: af, tail, count=1)
        else:
            tail = _insert_before(tail, _AFTER_AUTOFILTER, af, prefix)
    if dress.print_setup and not re.search(b"<" + p + rb"pageSetup\b", tail):
        block = b"<" + prefix + (b'pageSetup paperSize="9" orientation="landscape" '
                                 b'fitToWidth="%d" fitToHeight="0"/>' % int(dress.print_setup))
        if not re.search(b"<" + p + rb"pageMargins\b", tail):
            block = b"<" + prefix + (b'pageMargins left="0.4" right="0.4" top="0.6" '
                                     b'bottom="0.6" header="0.3" footer="0.3"/>') + block
        tail = _insert_before(tail, _AFTER_PAGE_SETUP, block, prefix)
        head = _fit_to_page(head, prefix)
    return head, tail


def _fit_to_page(head: bytes, prefix: bytes) -> bytes:
    """sheetPr/pageSetUpPr fitToPage="1" (what makes fitToWidth count)."""
    p = re.escape(prefix)
    m = re.search(b"<" + p + rb"pageSetUpPr\b([^>]*?)/?>", head)
    if m:
        if _attr(m.group(1), b"fitToPage") is not None:
            attrs = re.sub(rb'(\sfitToPage\s*=\s*)("[^"]*"|\'[^\']*\')', b'\\1"1"', m.group(1))
        else:
            attrs = m.group(1) + b' fitToPage="1"'
        return head[:m.start(1)] + attrs + head[m.end(1):]
    pr = b"<" + prefix + b'pageSetUpPr fitToPage="1"/>'
    m = re.search(b"<" + p + rb"sheetPr\b([^>]*?)(/?)>", head)
    if m and m.group(2):
        return head[:m.start()] + b"<" + prefix + b"sheetPr" + m.group(1) + b">" + pr + \
            b"</" + prefix + b"sheetPr>" + head[m.end():]
    if m:
        close = re.compile(b"</" + p + rb"sheetPr>").search(head, m.end())
        if close:
            return head[:close.start()] + pr + head[close.start():]
        return head
    m = re.search(b"<" + p + rb"worksheet\b[^>]*>", head)
    if not m:
        return head
    return head[:m.end()] + b"<" + prefix + b"sheetPr>" + pr + b"</" + prefix + b"sheetPr>" + \
        head[m.end():]


def patch_workbook_xml(xml: bytes, print_titles: Mapping[str, str] | None = None,
                       filters: Mapping[str, str] | None = None) -> bytes:
    """workbook.xml with the engine's sheets very hidden again (a LibreOffice save makes
    them merely hidden), print titles (repeated header rows) where a sheet has none, and
    each engine filter's `_xlnm._FilterDatabase` name matching its range."""
    m0 = re.search(rb"<((?:[\w.-]+:)?)workbook\b", xml)
    prefix = m0.group(1) if m0 else b""
    p = re.escape(prefix)
    sheet_re = re.compile(b"<" + p + rb"sheet\b([^>]*?)(/?)>")
    order: list[str] = []
    hidden_idx: list[int] = []

    def fix(m: re.Match[bytes]) -> bytes:
        name = _unescape((_attr(m.group(1), b"name") or b"").decode("utf-8"))
        order.append(name)
        attrs = m.group(1)
        if name in ENGINE_HIDDEN:
            hidden_idx.append(len(order) - 1)
            state = _attr(attrs, b"state")
            if state != b"veryHidden":
                if state is None:
                    attrs = attrs + b' state="veryHidden"'
                else:
                    attrs = re.sub(rb'(\sstate\s*=\s*)("[^"]*"|\'[^\']*\')', b'\\1"veryHidden"',
                                   attrs, count=1)
        return b"<" + prefix + b"sheet" + attrs + m.group(2) + b">"

    new = sheet_re.sub(fix, xml)
    av = re.search(b"<" + p + rb"workbookView\b([^>]*?)/?>", new)
    if av is not None:
        active = _attr(av.group(1), b"activeTab")
        if active is not None and active.isdigit() and int(active) in hidden_idx:
            visible = next((i for i in range(len(order)) if i not in hidden_idx), 0)
            attrs = re.sub(rb'(\sactiveTab\s*=\s*)("[^"]*"|\'[^\']*\')',
                           b'\\1"%d"' % visible, av.group(1), count=1)
            new = new[:av.start(1)] + attrs + new[av.end(1):]
    for sheet, rows in (print_titles or {}).items():
        if sheet in order:
            text = ",".join(f"{quote_sheet(sheet)}!{part}" for part in rows.split(","))
            new = _defined_name(new, prefix, b"_xlnm.Print_Titles", order.index(sheet), text,
                                replace=False)
    for sheet, ref in (filters or {}).items():
        if sheet in order:
            lo, _, hi = ref.partition(":")
            absolute = ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", x) for x in (lo, hi or lo))
            new = _defined_name(new, prefix, b"_xlnm._FilterDatabase", order.index(sheet),
                                f"{quote_sheet(sheet)}!{absolute}", replace=True)
    return new


def _defined_name(xml: bytes, prefix: bytes, name: bytes, idx: int, text: str, *,
                  replace: bool) -> bytes:
    """Add a sheet-local defined name (or, with `replace`, set the text of the existing one)."""
    p = re.escape(prefix)
    body = escape_text(text).encode()
    for m in re.finditer(b"<" + p + rb"definedName\b([^>]*)>(.*?)</" + p + rb"definedName>", xml,
                         re.S):
        if _attr(m.group(1), b"name") == name and \
                _attr(m.group(1), b"localSheetId") == str(idx).encode():
            same = m.group(2).rpartition(b"!")[2] == body.rpartition(b"!")[2]  # quotes aside
            return xml[:m.start(2)] + body + xml[m.end(2):] if replace and not same else xml
    hidden = b' hidden="1"' if name == b"_xlnm._FilterDatabase" else b""
    dn = (b"<" + prefix + b'definedName name="' + name + b'" localSheetId="%d"' % idx + hidden +
          b">" + body + b"</" + prefix + b"definedName>")
    close = re.search(b"</" + p + rb"definedNames>", xml)
    empty = re.search(b"<" + p + rb"definedNames\s*/>", xml)
    block = b"<" + prefix + b"definedNames>" + dn + b"</" + prefix + b"definedNames>"
    if close:
        return xml[:close.start()] + dn + xml[close.start():]
    if empty:
        return xml[:empty.start()] + block + xml[empty.end():]
    sm = re.search(b"</" + p + rb"sheets>", xml)
    return xml[:sm.end()] + block + xml[sm.end():] if sm else xml


def _col_styles(head: bytes) -> list[tuple[int, int, int]]:
    out = []
    for m in re.finditer(rb"<(?:[\w.-]+:)?col\b([^>]*?)/?>", head):
        lo, hi, st = (_attr(m.group(1), k) for k in (b"min", b"max", b"style"))
        if lo and hi and st:
            out.append((int(lo) - 1, int(hi) - 1, int(st)))
    return out


def patch_sheet_xml(xml: bytes, changes: Mapping[int, Mapping[int, Any]],
                    replacement: SheetRows | None, styles: Styles, date1904: bool,
                    name: str = "sheet", dress: SheetDress | None = None
                    ) -> tuple[list[bytes | memoryview], bool, int]:
    """Patch one worksheet part. Returns (output chunks, dropped a formula, cells written)."""
    m = re.search(rb"<((?:[\w.-]+:)?)sheetData\b[^>]*?(/?)>", xml)
    if not m:
        raise PatchError(f"{name} has no sheetData")
    prefix = m.group(1)
    row_re, cell_re = _sheet_regexes(prefix)
    ctx = _Ctx(styles=styles, date1904=date1904, prefix=prefix,
               col_styles=_col_styles(xml[:m.start()]))
    if m.group(2) == b"/":
        data_start = data_end = m.end()
        open_tag = xml[m.start():m.end() - 2].rstrip() + b">"
        close_tag = b"</" + prefix + b"sheetData>"
        head, tail_start = xml[:m.start()] + open_tag, m.end()
    else:
        data_start = m.end()
        close = re.compile(b"</" + re.escape(prefix) + rb"sheetData\s*>")
        cm = close.search(xml, data_start)
        if not cm:
            raise PatchError(f"{name}: sheetData is not closed")
        data_end = cm.start()
        head, close_tag, tail_start = xml[:data_start], b"", data_end

    chunks: list[bytes | memoryview] = []  # views into `xml`: no copies of untouched rows
    mv = memoryview(xml)
    max_row, max_col = 0, 0
    pos = data_start
    if replacement is not None:
        new_rows: dict[int, dict[int, Any]] = {}
        for i, values in enumerate(replacement.rows):
            new_rows[replacement.first_row + i] = {c: v for c, v in enumerate(values)
                                                   if v is not None and v != ""}
        header_style: int | None = None
        for row in _iter_rows(xml, data_start, data_end, row_re):
            if row.r < replacement.first_row:
                continue
            if row.r == replacement.header_row and not row.self_closing:
                cm = cell_re.search(xml, row.tag_end)
                st = _attr(cm.group(1), b"s") if cm else None
                header_style = int(st) if st is not None else None
            chunks.append(mv[pos:row.start])
            if row.self_closing:
                pos = row.tag_end
            else:
                end_at = xml.find(b"</" + prefix + b"row>", row.tag_end)
                if end_at < 0:
                    raise PatchError(f"{name}: row {row.r} is not closed")
                pos = end_at + len(prefix) + 6
        chunks.append(mv[pos:data_end])
        body = []
        linked: dict[int, dict[int, int]] = {}
        if replacement.link_font and styles.xml is not None:
            link_xf: dict[int, int] = {}
            for rr, c in replacement.links:
                if c not in link_xf:
                    link_xf[c] = styles.link_style(ctx.col_style(c))
                linked.setdefault(rr, {})[c] = link_xf[c]
        for r in sorted(new_rows):
            row_styles = dict(linked.get(r, {}))
            if r == replacement.header_row and header_style is not None:
                row_styles.update({c: header_style for c in new_rows[r]})
            text, mc = _new_row(ctx, r, new_rows[r], row_styles)
            if text:
                body.append(text)
                max_row, max_col = max(max_row, r), max(max_col, mc)
        chunks.append(b"".join(body))
        pos = data_end
    else:
        targets = sorted(changes)
        first = row_re.search(xml, data_start, data_end)
        if first is None or _attr(first.group(1), b"r") is not None:
            chunks, pos, max_row, max_col = _patch_rows_indexed(
                xml, mv, data_start, data_end, changes, targets, ctx, row_re, cell_re)
        else:  # rows without r attributes: count them from the top
            ti = 0
            for row in _iter_rows(xml, data_start, data_end, row_re):
                if ti >= len(targets):
                    break
                while ti < len(targets) and targets[ti] < row.r:
                    text, mc = _new_row(ctx, targets[ti], changes[targets[ti]])
                    if text:
                        chunks.append(mv[pos:row.start])
                        pos = row.start
                        chunks.append(text)
                        max_row, max_col = max(max_row, targets[ti]), max(max_col, mc)
                    ti += 1
                if ti < len(targets) and targets[ti] == row.r:
                    chunks.append(mv[pos:row.start])
                    text, pos, mc = _patch_row(xml, row, changes[row.r], ctx, cell_re)
                    chunks.append(text)
                    max_row, max_col = max(max_row, row.r), max(max_col, mc)
                    ti += 1
            chunks.append(mv[pos:data_end])
            pos = data_end
            for r in targets[ti:]:
                text, mc = _new_row(ctx, r, changes[r])
                if text:
                    chunks.append(text)
                    max_row, max_col = max(max_row, r), max(max_col, mc)
    tail = xml[tail_start:]
    if replacement is not None:
        tail = _replace_hyperlinks(tail, replacement.links, prefix)
    if dress is not None:
        head, tail = _dress(head, tail, dress, styles, prefix)
    head = _widen_dimension(head, max_row, max_col, prefix)
    return [head, *chunks, close_tag, tail], ctx.dropped_formula, ctx.cells_written


def _patch_rows_indexed(xml: bytes, mv: memoryview, data_start: int, data_end: int,
                        changes: Mapping[int, Mapping[int, Any]], targets: list[int], ctx: _Ctx,
                        row_re: re.Pattern[bytes], cell_re: re.Pattern[bytes]
                        ) -> tuple[list[bytes | memoryview], int, int, int]:
    """Patch rows that carry r attributes: jump to each target row with a byte search
    (`<row r="N"`, how Excel and most writers start a row) instead of parsing every row;
    fall back to scanning row tags when a row is written differently or is new."""
    p = ctx.prefix
    chunks: list[bytes | memoryview] = []
    pos = scan = data_start
    max_row = max_col = 0
    for t in targets:
        row: _Row | None = None
        insert_at = data_end
        needle = b"<" + p + b'row r="%d"' % t
        i = xml.find(needle, scan, data_end)
        if i >= 0 and xml[i + len(needle)] in b" \t\r\n/>":
            m = row_re.match(xml, i)
            if m is None:
                raise PatchError(f"row {t} is malformed")
            row = _Row(t, i, m.end(), m.group(2) == b"/", m.group(1))
        else:
            for m in row_re.finditer(xml, scan, data_end):
                r = int(_attr(m.group(1), b"r") or 0)
                if r == t:
                    row = _Row(t, m.start(), m.end(), m.group(2) == b"/", m.group(1))
                    break
                if r > t:
                    insert_at = m.start()
                    break
        if row is not None:
            chunks.append(mv[pos:row.start])
            text, pos, mc = _patch_row(xml, row, changes[t], ctx, cell_re)
            chunks.append(text)
            scan = pos
        else:
            text, mc = _new_row(ctx, t, changes[t])
            if not text:
                continue
            chunks.append(mv[pos:insert_at])
            chunks.append(text)
            pos = scan = insert_at
        max_row, max_col = max(max_row, t), max(max_col, mc)
    chunks.append(mv[pos:data_end])
    return chunks, data_end, max_row, max_col


def _widen_dimension(head: bytes, max_row: int, max_col: int, prefix: bytes) -> bytes:
    if not max_row:
        return head
    m = re.search(b"<" + re.escape(prefix) + rb"dimension\b([^>]*?)/?>", head)
    if not m:
        return head
    ref = _attr(m.group(1), b"ref") or b"A1"
    lo, _, hi = ref.partition(b":")
    try:
        r0, c0 = _split_ref(lo)
        r1, c1 = _split_ref(hi or lo)
    except PatchError:
        return head
    nr, nc = max(r1, max_row), max(c1, max_col)
    if (nr, nc) == (r1, c1):
        return head
    new_ref = f"{column_letters(c0)}{r0}:{column_letters(nc)}{nr}".encode()
    new_tag = b"<" + prefix + b'dimension ref="' + new_ref + b'"/>'
    return head[:m.start()] + new_tag + head[m.end():]


def _replace_hyperlinks(tail: bytes, links: Mapping[tuple[int, int], str], prefix: bytes) -> bytes:
    p = re.escape(prefix)
    tail = re.sub(b"<" + p + rb"hyperlinks\b[^>]*?(?:/>|>.*?</" + p + rb"hyperlinks>)", b"", tail,
                  flags=re.S)
    if not links:
        return tail
    items = b"".join(
        b"<" + prefix + f'hyperlink ref="{column_letters(c)}{r}" location="{_attr_escape(loc)}"'
        f' display="{_attr_escape(loc)}"/>'.encode()
        for (r, c), loc in sorted(links.items()))
    block = b"<" + prefix + b"hyperlinks>" + items + b"</" + prefix + b"hyperlinks>"
    at = len(tail)
    for name in _AFTER_HYPERLINKS:
        m = re.search(b"<" + p + name + rb"\b", tail)
        if m and m.start() < at:
            at = m.start()
    return tail[:at] + block + tail[at:]


# ---------------------------------------------------------------------------- package


def _drop_calc_chain(zf: ZipFile, pkg: Package, chain: str) -> dict[str, bytes]:
    """Parts that change when calcChain.xml is removed: content types and workbook rels."""
    out: dict[str, bytes] = {}
    ct = _read_part(zf, "[Content_Types].xml")
    out["[Content_Types].xml"] = re.sub(
        rb'<(?:[\w.-]+:)?Override\b[^>]*PartName="/' + re.escape(chain.encode()) + rb'"[^>]*/>',
        b"", ct)
    base = posixpath.dirname(pkg.workbook_part)
    rels_name = posixpath.join(base, "_rels", posixpath.basename(pkg.workbook_part) + ".rels")
    rels = _read_part(zf, rels_name)
    out[rels_name] = re.sub(rb'<(?:[\w.-]+:)?Relationship\b[^>]*/calcChain"[^>]*/>', b"", rels)
    return out


def _group_cells(cells: Mapping[CellKey, Any]) -> dict[str, dict[int, dict[int, Any]]]:
    by_sheet: dict[str, dict[int, dict[int, Any]]] = {}
    for (sheet, row, col), value in cells.items():
        if row < 1 or col < 0:
            raise PatchError(f"bad cell position {sheet}!{row},{col}")
        by_sheet.setdefault(sheet, {}).setdefault(row, {})[col] = value
    return by_sheet


def _same_cells(a: dict[str, dict[int, dict[int, Any]]],
                b: dict[str, dict[int, dict[int, Any]]]) -> bool:
    """The same cells in the same order, each value of the same type (1 == 1.0 == True,
    but each is written differently)."""
    if list(a) != list(b):
        return False
    for sheet, rows_a in a.items():
        rows_b = b[sheet]
        if list(rows_a) != list(rows_b):
            return False
        for r, ca in rows_a.items():
            cb = rows_b[r]
            if list(ca) != list(cb):
                return False
            for c, va in ca.items():
                vb = cb[c]
                if va is not vb and (type(va) is not type(vb) or va != vb):
                    return False
    return True


@dataclass
class PatchAhead:
    """The cell-patched sheets of one file state, deflated before the write (apply does
    this while it validates: `SheetPrefetch`). `patch_workbook` takes them only for
    the same cells, in the same order, and no formats (`dress`) on those sheets."""

    by_sheet: dict[str, dict[int, dict[int, Any]]]  # resolved tab -> row -> col -> value
    level: int
    styles: Styles  # after patching these sheets (new date styles)
    parts: dict[str, Future[Deflated]]
    dropped: bool
    written: int


def _by_tab(by_sheet: dict[str, dict[int, dict[int, Any]]], tab: Mapping[str, str]
            ) -> dict[str, dict[int, dict[int, Any]]]:
    """Cells grouped by stable sheet key, regrouped by the tab each key names (two keys of
    one tab merge)."""
    merged: dict[str, dict[int, dict[int, Any]]] = {}
    for sheet, rows in by_sheet.items():
        for r, row_cells in rows.items():
            merged.setdefault(tab.get(sheet, sheet), {}).setdefault(r, {}).update(row_cells)
    return merged

def patch_ahead(zf: ZipFile, pkg: Package, cells: Mapping[CellKey, Any],
                xml_of: dict[str, bytes], pool: ThreadPoolExecutor, level: int = 2,
                keep: bool = True, pace: Callable[[Future[Deflated]], None] | None = None
                ) -> PatchAhead | None:
    """Patch the sheets `cells` touch, as `patch_workbook` patches them first, and deflate
    them on `pool`; `xml_of`: parts already inflated, and where the ones inflated here
    are put. With `keep=False` each is taken out of it once patched, and deflated before
    the next sheet is inflated (`pace(future)` returns when it may go on; default: the
    deflate is done): one sheet's XML in memory at a time (the deflates run on the one
    core a validation leaves anyway). None when the cells name a sheet the file does not
    have (the write will say so)."""
    by_sheet = _group_cells(cells)
    tab = _resolve_keys(pkg, by_sheet)
    if tab:
        by_sheet = _by_tab(by_sheet, tab)
    if any(s not in pkg.sheets for s in by_sheet):
        return None
    styles = Styles(_read_part(zf, pkg.styles_part) if pkg.styles_part else None)
    parts: dict[str, Future[Deflated]] = {}
    dropped = False
    written = 0
    for sheet in by_sheet:
        part = pkg.sheets[sheet]
        xml = xml_of.get(part)
        if xml is None:
            xml = xml_of[part] = _read_part(zf, part)
        chunks, drop, n = patch_sheet_xml(xml, by_sheet[sheet], None, styles, pkg.date1904,
                                          part, None)
        del xml
        if not keep:
            xml_of.pop(part, None)
        parts[part] = pool.submit(deflate, chunks, level)
        del chunks
        if not keep:  # its XML goes with its chunks when deflated
            if pace is not None:
                pace(parts[part])
            else:
                wait([parts[part]])
        dropped = dropped or drop
        written += n
    return PatchAhead(by_sheet, level, styles, parts, dropped, written)


def patch_workbook(src: Path, dest: Path, cells: Mapping[CellKey, Any] | None = None,
                   replace: Mapping[str, SheetRows] | None = None, *,
                   level: int = 2, inflated: dict[str, bytes] | None = None,
                   dress: Mapping[str, SheetDress] | None = None,
                   print_titles: Mapping[str, str] | None = None,
                   ahead: PatchAhead | None = None) -> PatchResult:
    """Write `dest`: a copy of `src` with `cells` set and `replace`d engine sheets.

    Every zip member that need not change is copied byte for byte (compressed data and
    CRC included). A sheet may be named by its stable key ('Customers') when the tab
    has the home's name (客户). `dress`: engine conditional formats, filter and page
    setup per sheet; `print_titles`: header rows to repeat, added where missing. The
    engine's `_meta`/`_view` sheets are made very hidden again whenever they are not.
    `dest` must differ from `src`; the safe write path
    (`writeback.safe_write`) wraps this with locks, backup, atomic replace and audit.
    `inflated`: sheet parts already read from this very file (`SheetPrefetch`), taken
    instead of reading them again; `ahead`: its cell-patched sheets (`patch_ahead`),
    taken when they were patched with exactly these cells and get no `dress` here (the
    same bytes as patching them now), else ignored.
    """
    inflated = inflated if inflated is not None else {}
    cells = cells or {}
    replace = replace or {}
    dress = dress or {}
    by_sheet = _group_cells(cells)
    if set(by_sheet) & set(replace):
        raise PatchError("a sheet cannot be both patched and replaced in one write")
    try:
        zf = ZipFile(src)
    except (BadZipFile, OSError) as exc:
        raise PatchError(f"{src} is not a readable xlsx: {exc}") from exc
    with zf:
        pkg = read_package(zf)
        tab = _resolve_keys(pkg, (*by_sheet, *replace, *dress, *(print_titles or {})))
        if tab:
            by_sheet = _by_tab(by_sheet, tab)
            replace = {tab.get(k, k): v for k, v in replace.items()}
            dress = {tab.get(k, k): v for k, v in dress.items()}
            print_titles = {tab.get(k, k): v for k, v in (print_titles or {}).items()}
            if set(by_sheet) & set(replace):
                raise PatchError("a sheet cannot be both patched and replaced in one write")
        missing = [s for s in (*by_sheet, *replace, *dress) if s not in pkg.sheets]
        if missing:
            raise PatchError(f"sheet {missing[0]!r} is not in {Path(src).name}")
        new_parts: dict[str, Future[Deflated]] = {}
        dropped = False
        written = 0
        sheets = [*by_sheet, *replace, *(s for s in dress if s not in by_sheet and s not in replace)]
        if ahead is not None and ahead.level == level and not set(by_sheet) & set(dress) \
                and _same_cells(ahead.by_sheet, by_sheet):
            # the cell-patched sheets come first: the styles they added are the ones
            # the sheets after them see, as if patched here
            styles = ahead.styles
            new_parts.update(ahead.parts)
            dropped, written = ahead.dropped, ahead.written
            sheets = sheets[len(by_sheet):]
        else:
            styles = Styles(_read_part(zf, pkg.styles_part) if pkg.styles_part else None)
        # Two threads inflate the sheets ahead and deflate the patched ones (zlib runs
        # without the GIL); patching itself stays in order on this thread, since a new
        # date style it adds is shared by the sheets after it.
        with ThreadPoolExecutor(max_workers=2) as pool:
            xmls = {s: pool.submit(_read_part_own, src, pkg.sheets[s]) for s in sheets
                    if pkg.sheets[s] not in inflated}
            for sheet in sheets:
                part = pkg.sheets[sheet]
                xml = inflated.pop(part) if part in inflated else xmls.pop(sheet).result()
                chunks, drop, n = patch_sheet_xml(xml, by_sheet.get(sheet, {}),
                                                  replace.get(sheet), styles, pkg.date1904, part,
                                                  dress.get(sheet))
                del xml  # the chunks keep what they need of it until deflated
                new_parts[part] = pool.submit(deflate, chunks, level)
                del chunks
                dropped = dropped or drop
                written += n
            wb_xml = _read_part(zf, pkg.workbook_part)
            new_wb = patch_workbook_xml(wb_xml, print_titles,
                                        {k: d.autofilter for k, d in dress.items() if d.autofilter})
            if new_wb != wb_xml:
                new_parts[pkg.workbook_part] = pool.submit(deflate, [new_wb], level)
            if styles.changed and pkg.styles_part and styles.xml is not None:
                new_parts[pkg.styles_part] = pool.submit(deflate, [styles.xml], level)
            removed: list[str] = []
            if dropped and pkg.calc_chain:
                removed.append(pkg.calc_chain)
                for name, data in _drop_calc_chain(zf, pkg, pkg.calc_chain).items():
                    new_parts[name] = pool.submit(deflate, [data], level)
            crcs: dict[str, int] = {}
            with open(dest, "wb") as out:
                writer = ZipWriter(out)
                for info in zf.infolist():
                    if info.filename in removed:
                        continue
                    if info.filename in new_parts:
                        crcs[info.filename] = writer.write_deflated(
                            info.filename, new_parts[info.filename].result(),
                            date_time=info.date_time, external_attr=info.external_attr)
                    else:
                        writer.copy_raw(zf, info)
                writer.close()
                out.flush()
    return PatchResult(patched_parts=sorted(new_parts), removed_parts=removed, part_crc=crcs,
                       cells_written=written)
