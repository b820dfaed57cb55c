"""The dashboard drawn in the page: key figures and server-rendered SVG charts.

No JavaScript and no inline style (the CSP forbids both): sizes are SVG attributes,
colours come from the vendored stylesheet's classes. The figures are the same
`charts_data.Dashboard` the xlsx and PDF dashboards are written from.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from ..charts_data import ChartTable, Dashboard, format_value

BAR_W, LABEL_W, ROW_H = 300, 150, 22
MAX_ROWS = 15


def _num(v: Any) -> float:
    try:
        return float(v or 0)
    except (TypeError, ValueError):
        return 0.0


def _bars(table: ChartTable, col: int) -> str:
    rows = table.rows[:MAX_ROWS]
    top = max((_num(r[col]) for r in rows), default=0) or 1
    h = ROW_H * len(rows) + 4
    width = LABEL_W + BAR_W + 90
    parts = [f'<svg class="chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" '
             f'role="img" aria-label="{escape(table.title)}">']
    for i, r in enumerate(rows):
        y = i * ROW_H + 2
        w = max(0.0, _num(r[col]) / top * BAR_W)
        label = escape(str(r[0]))[:24]
        value = escape(format_value(r[col], table.formats[col]))
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 15}" text-anchor="end" class="lbl">'
                     f'{label}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 7}" '
                     f'class="bar c{i % 6 if len(rows) <= 6 else 0}"/>')
        parts.append(f'<text x="{LABEL_W + w + 5:.1f}" y="{y + 15}" class="val">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _line(table: ChartTable, cols: tuple[int, ...]) -> str:
    rows = table.rows
    if not rows:
        return ""
    w, h, pad = 560, 200, 34
    top = max((_num(r[c]) for r in rows for c in cols), default=0) or 1
    step = (w - 2 * pad) / max(1, len(rows) - 1)
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h + 24}" width="{w}" height="{h + 24}" '
             f'role="img" aria-label="{escape(table.title)}">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class="axis"/>',
             f'<text x="{pad - 4}" y="{pad}" text-anchor="end" class="val">'
             f'{escape(format_value(top, table.formats[cols[0]]))}</text>']
    for k, c in enumerate(cols):
        pts = " ".join(f"{pad + i * step:.1f},{h - pad - _num(r[c]) / top * (h - 2 * pad):.1f}"
                       for i, r in enumerate(rows))
        parts.append(f'<polyline points="{pts}" class="line c{k % 6}"/>')
    for i, r in enumerate(rows):
        if len(rows) <= 12 or i % 2 == 0:
            parts.append(f'<text x="{pad + i * step:.1f}" y="{h - pad + 16}" text-anchor="middle" '
                         f'class="lbl">{escape(str(r[0]))[:8]}</text>')
    legend_y = h + 16
    for k, c in enumerate(cols):
        parts.append(f'<rect x="{pad + k * 130}" y="{legend_y - 9}" width="10" height="10" '
                     f'class="bar c{k % 6}"/><text x="{pad + k * 130 + 14}" y="{legend_y}" '
                     f'class="lbl">{escape(table.columns[c])[:14]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(table: ChartTable) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(
        f"<td>{escape(format_value(v, table.formats[i]) if i else str(v))}</td>"
        for i, v in enumerate(r)) + "</tr>" for r in table.rows[:MAX_ROWS])
    return f'<table class="grid small"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_table(table: ChartTable) -> str:
    """One figure: its chart (the first chart spec) and its table."""
    svg = ""
    if table.charts and table.rows:
        spec = table.charts[0]
        if spec.kind == "line":
            svg = _line(table, spec.values + spec.secondary)
        else:
            svg = _bars(table, spec.values[0])
    elif table.rows and len(table.columns) > 1:
        svg = _bars(table, 1)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    label = "数据" if _zh(table) else "Data"
    return (f'<section class="figure"><h3>{escape(table.title)}</h3>{svg}'
            f"<details><summary>{label}</summary>{_table(table)}{note}</details></section>")


def _zh(table: ChartTable) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in table.title)


def render_dashboard(dash: Dashboard) -> Markup:
    """Key figures then every figure of the audience's dashboard, as HTML + SVG."""
    kpis = "".join(
        f'<div class="kpi"><div class="kpi-v">{escape(format_value(k.value, k.kind))}</div>'
        f'<div class="kpi-l">{escape(k.label)}</div>'
        + (f'<div class="kpi-n">{escape(k.note)}</div>' if k.note else "") + "</div>"
        for k in dash.kpis)
    figs = "".join(render_table(t) for t in dash.tables)
    return Markup(f'<div class="kpis">{kpis}</div><div class="figures">{figs}</div>')
