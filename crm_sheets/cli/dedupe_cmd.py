"""`crm dedupe WORKBOOK`: clusters of customers that are probably the same company."""

from __future__ import annotations

from pathlib import Path

import click

from ..dedupe import DedupeResult, find_duplicates
from ..errors import CrmError
from ..i18n import t
from ..reader import load
from .app import cli, echo_json, format_option

_TEXTS = {
    "none": ("没有发现疑似重复的客户（{customers} 个客户，阈值 {threshold}）",
             "no probable duplicates ({customers} customers, threshold {threshold})"),
    "head": ("发现 {n} 组疑似重复的客户（{customers} 个客户，阈值 {threshold}）：",
             "{n} groups of probable duplicates ({customers} customers, threshold {threshold}):"),
    "cluster": ("第 {k} 组（最高相似度 {score}）", "group {k} (best score {score})"),
    "member": ("  {id}  第 {row} 行  {name}", "  {id}  row {row}  {name}"),
    "pair": ("    {a} ↔ {b}  {score}  {reason}", "    {a} <-> {b}  {score}  {reason}"),
    "hint": ("不是同一客户？把两个客户编号填入 NotDuplicates（非重复）表，以后不再提示。",
             "Not the same? Put both IDs in the NotDuplicates sheet and they are not reported again."),
}


def _t(key: str, lang: str, **kw: object) -> str:
    zh, en = _TEXTS[key]
    return (zh if lang == "zh" else en).format(**kw)


def render_text(result: DedupeResult, lang: str) -> str:
    """The clusters as text for people, in the workbook's language."""
    if not result.clusters:
        return _t("none", lang, customers=result.customers, threshold=result.threshold)
    lines = [_t("head", lang, n=len(result.clusters), customers=result.customers,
                threshold=result.threshold)]
    for k, c in enumerate(result.clusters, start=1):
        lines.append("")
        lines.append(_t("cluster", lang, k=k, score=c.score))
        for cid, row, name in zip(c.customer_ids, c.rows, c.names, strict=True):
            lines.append(_t("member", lang, id=cid, row=row, name=name.strip()))
        for p in c.pairs:
            lines.append(_t("pair", lang, a=p.a, b=p.b, score=p.score, reason=p.reason))
    lines.append("")
    lines.append(_t("hint", lang))
    return "\n".join(lines)


@cli.command("dedupe")
@click.argument("workbook", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--threshold", type=click.IntRange(1, 100), default=None, metavar="N",
              help="Report pairs scoring at least N (0-100); default: Settings duplicate_threshold.")
@format_option
def dedupe_cmd(workbook: Path, threshold: int | None, fmt: str) -> None:
    """List customers that are probably the same company (exit 1 when there are some)."""
    if not workbook.exists():
        raise CrmError(t(f"没有这个工作簿：{workbook}", f"no such workbook: {workbook}"))
    wb = load(workbook)
    result = find_duplicates(wb, threshold)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        click.echo(render_text(result, wb.lang))
    raise SystemExit(1 if result.clusters else 0)
