"""The manifest every view carries in a very-hidden sheet, signed with the home's key.

Sheet `_view`, column A a tag, column B the text:

- `header`: JSON — format version, home id, view id, account, role, display name,
  department, the master's revision and SHA-256 it was built from, when, language,
  and for each data sheet the column keys the view holds;
- `C` / `F` rows: packed base rows of Customers / Followups, each
  `ID \\t fingerprints` (8 characters per column, in the header's key order), many
  rows per cell joined by newlines (a cell holds up to 32,767 characters);
- `sig`: HMAC-SHA256 (hex) over the header and every packed cell, in order.

Sheet protection is only guidance; the signature is what a merge trusts: a manifest
edited by hand (account, role, base values) fails verification and nothing is merged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from .common import FP_LEN, MANIFEST_SHEET

FORMAT = 1
CELL_CHARS = 30_000
TAGS = {"Customers": "C", "Followups": "F"}


@dataclass
class Manifest:
    home_id: str
    view_id: str
    account: str | None
    role: str
    display_name: str
    department: str | None
    revision: str
    master_sha256: str
    built_at: str
    lang: str
    keys: dict[str, list[str]]  # sheet -> column keys held by the view
    base: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet -> id -> fingerprints

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "home_id": self.home_id, "view_id": self.view_id,
                "account": self.account, "role": self.role, "display_name": self.display_name,
                "department": self.department, "revision": self.revision,
                "master_sha256": self.master_sha256, "built_at": self.built_at,
                "lang": self.lang, "keys": self.keys}

    def base_fingerprints(self, sheet: str, row_id: str) -> list[str] | None:
        packed = self.base.get(sheet, {}).get(row_id)
        if packed is None:
            return None
        return [packed[i:i + FP_LEN] for i in range(0, len(packed), FP_LEN)]


def _chunks(lines: list[str]) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for line in lines:
        if cur and size + len(line) + 1 > CELL_CHARS:
            out.append("\n".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line) + 1
    if cur:
        out.append("\n".join(cur))
    return out


def _mac(key: bytes, header_text: str, cells: list[tuple[str, str]]) -> str:
    h = hmac.new(key, digestmod=hashlib.sha256)
    h.update(header_text.encode("utf-8"))
    for tag, text in cells:
        h.update(b"\x00" + tag.encode("ascii") + b"\x00" + text.encode("utf-8"))
    return h.hexdigest()


def manifest_rows(m: Manifest, key: bytes) -> list[tuple[str, str]]:
    """The (tag, text) rows of the manifest sheet, signature last."""
    header_text = json.dumps(m.header(), ensure_ascii=False, sort_keys=True,
                             separators=(",", ":"))
    cells: list[tuple[str, str]] = []
    for sheet, tag in TAGS.items():
        rows = m.base.get(sheet)
        if rows:
            cells.extend((tag, c) for c in _chunks([f"{i}\t{fp}" for i, fp in rows.items()]))
    return [("header", header_text), *cells, ("sig", _mac(key, header_text, cells))]


def write_manifest(book: Any, m: Manifest, key: bytes) -> None:
    """Add the very-hidden, protected manifest sheet to an xlsxwriter workbook."""
    ws = book.add_worksheet(MANIFEST_SHEET)
    for r, (tag, text) in enumerate(manifest_rows(m, key)):
        ws.write_string(r, 0, tag)
        ws.write_string(r, 1, text)
    ws.protect()
    ws.very_hidden()


class ManifestError(Exception):
    """No manifest (`code` merge.not_a_view) or a bad signature (merge.signature_invalid)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def parse_manifest(rows: list[list[Any]], key: bytes) -> Manifest:
    """Verify the signature of the manifest sheet's rows and decode them."""
    pairs = [(str(r[0]), str(r[1])) for r in rows
             if len(r) >= 2 and isinstance(r[0], str) and isinstance(r[1], str) and r[0]]
    if not pairs or pairs[0][0] != "header":
        raise ManifestError("merge.not_a_view")
    if pairs[-1][0] != "sig":
        raise ManifestError("merge.signature_invalid")
    header_text = pairs[0][1]
    cells = pairs[1:-1]
    if not hmac.compare_digest(_mac(key, header_text, cells), pairs[-1][1].strip()):
        raise ManifestError("merge.signature_invalid")
    try:
        h = json.loads(header_text)
    except ValueError:
        raise ManifestError("merge.signature_invalid") from None
    if h.get("format") != FORMAT:
        raise ManifestError("merge.signature_invalid")
    base: dict[str, dict[str, str]] = {s: {} for s in TAGS}
    by_tag = {t: s for s, t in TAGS.items()}
    for tag, text in cells:
        sheet = by_tag.get(tag)
        if sheet is None:
            raise ManifestError("merge.signature_invalid")
        target = base[sheet]
        for line in text.split("\n"):
            rid, _, fps = line.partition("\t")
            target[rid] = fps
    return Manifest(home_id=h["home_id"], view_id=h["view_id"], account=h.get("account"),
                    role=h["role"], display_name=h.get("display_name") or "",
                    department=h.get("department"), revision=str(h.get("revision", "")),
                    master_sha256=h.get("master_sha256", ""), built_at=h.get("built_at", ""),
                    lang=h.get("lang", "zh"), keys={k: list(v) for k, v in h["keys"].items()},
                    base=base)
