"""`crm import SOURCE WORKBOOK`: bring an existing customer list into the master.

Exit codes: 0 imported (or nothing to import); 1 some finding at error severity (a row
rejected, an imported value invalid) or refused (permissions, the master is open
in an editor, it changed while importing); 2 bad usage or an unreadable source/master.
Rows not imported are never lost: they go to `import-rejects-<time>.xlsx` beside the
source, each with its reasons.
"""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from ..home import home_for_workbook
from ..importer.mapping import target_label
from ..importer.run import ImportOutcome, Prepared, execute_import, prepare_import
from ..permissions import authorize
from .app import cli, echo_json, format_option, is_terminal, parse_today, today_option

MAX_FINDING_LINES = 60
PROGRESS_MIN_ROWS = 5000


def _t(zh: bool, a: str, b: str) -> str:
    return a if zh else b


def mapping_lines(prep: Prepared) -> list[str]:
    """The column mapping, as shown before anything is written."""
    zh = prep.master.lang == "zh"
    src = prep.source
    where = _t(zh, f"源文件 {src.path.name}，工作表 '{prep.sheet}'，表头在第 {prep.mapping.header_row + 1} 行",
               f"source {src.path.name}, sheet '{prep.sheet}', header on row "
               f"{prep.mapping.header_row + 1}")
    if src.encoding:
        delim = {"\t": "Tab", ",": ",", ";": ";", "|": "|"}.get(src.delimiter or ",", src.delimiter)
        where += _t(zh, f"（编码 {src.encoding}，分隔符 {delim}）",
                    f" (encoding {src.encoding}, delimiter {delim})")
    lines = [where, _t(zh, "列对应：", "Column mapping:")]
    how_txt = {"exact": "", "file": _t(zh, "（映射文件）", " (mapping file)"),
               "suffix": _t(zh, "（按词尾）", " (by ending)")}
    for c in prep.mapping.columns:
        if c.target is not None:
            how = how_txt.get(c.how, _t(zh, f"（近似 {c.score}）", f" (similar, {c.score})"))
            lines.append(f"  {c.header} → {target_label(c.target, prep.master.lang)}{how}")
    unknown = [c.header for c in prep.mapping.columns if c.target is None]
    if unknown:
        kept = prep.options.get("keep_unknown")
        tail = _t(zh, "（写入备注）" if kept else "（未导入；--keep-unknown 可保存到备注）",
                  " (kept in notes)" if kept else " (not imported; --keep-unknown keeps them in notes)")
        lines.append(_t(zh, "  未识别：", "  not mapped: ") + "、".join(unknown) + tail)
    return lines


def summary_lines(out: ImportOutcome) -> list[str]:
    zh = out.lang == "zh"
    s = out.summary
    lines = []
    shown = [f for f in out.findings if f.code not in ("import.column_unknown", "import.column_fuzzy")]
    for f in shown[:MAX_FINDING_LINES]:
        row = _t(zh, f"第 {f.row} 行", f"row {f.row}") if f.row else ""
        lines.append(f"{f.severity:<7} {row:<10} {f.code:<28} {f.message}")
    if len(shown) > MAX_FINDING_LINES:
        more = Counter(f.code for f in shown[MAX_FINDING_LINES:])
        lines.append(_t(zh, "……另有 ", "... and ") + ", ".join(f"{c} ×{n}" for c, n in more.items()))
    fu = ""
    if s["followups_imported"] or s["followups_skipped"] or s["followups_rejected"]:
        fu = _t(zh, f"；跟进记录导入 {s['followups_imported']}，跳过 {s['followups_skipped']}，"
                    f"拒绝 {s['followups_rejected']}",
                f"; follow-ups imported {s['followups_imported']}, skipped "
                f"{s['followups_skipped']}, rejected {s['followups_rejected']}")
    lines.append(_t(zh, f"读取 {s['read']} 行：导入 {s['imported']}，更新 {s['updated']}，"
                        f"跳过重复 {s['skipped']}，拒绝 {s['rejected']}{fu}",
                    f"{s['read']} rows read: {s['imported']} imported, {s['updated']} updated, "
                    f"{s['skipped']} skipped as duplicates, {s['rejected']} rejected{fu}"))
    if out.rejects_path:
        lines.append(_t(zh, f"未导入的行及原因已保存到：{out.rejects_path}",
                        f"rows not imported, with reasons: {out.rejects_path}"))
    if out.dry_run:
        lines.append(_t(zh, "试运行：没有写入任何文件", "dry run: nothing was written"))
    elif out.written:
        lines.append(_t(zh, f"已写入 {out.master.name}（备份 {out.backup.name if out.backup else '-'}）",
                        f"written to {out.master.name} (backup "
                        f"{out.backup.name if out.backup else '-'})"))
        lines.extend(out.apply_lines)
        if not out.apply_lines:
            lines.append(_t(zh, "提示：运行 crm apply（或等监视程序）刷新状态、最近跟进和问题表",
                            "hint: run crm apply (or let the watcher) to refresh status, latest "
                            "follow-up and the Issues sheet"))
    else:
        lines.append(_t(zh, "没有需要写入的内容", "nothing to write"))
    rejected_incomplete = any(f.code == "import.incomplete" for f in out.findings)
    if rejected_incomplete:
        lines.append(_t(zh, "提示：缺少必填项的行可补全后重新导入，或加 --allow-incomplete（以及 --owner 指定负责人）照常导入",
                        "hint: complete the rows missing required fields and import again, or "
                        "pass --allow-incomplete (and --owner to name an owner)"))
    return lines


class _Progress:
    """A rich progress bar on a terminal for long imports; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=max(total, 1))
        self.bar.update(self.tasks[stage], completed=done, total=max(total, 1))


@cli.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("workbook", type=click.Path(path_type=Path))
@click.option("--sheet", default=None, help="Sheet of the source to read (default: the one "
              "whose columns look most like customers).")
@click.option("--mapping", "mapping_file", default=None, type=click.Path(dir_okay=False),
              help="TOML or YAML file: source header = field (see docs/import.md).")
@click.option("--on-duplicate", type=click.Choice(["skip", "update", "create"]), default="skip",
              show_default=True, help="What to do with a row that matches an existing customer.")
@click.option("--allow-incomplete", is_flag=True,
              help="Import rows that lack required fields (with their findings).")
@click.option("--keep-unknown", is_flag=True, help="Keep unrecognised columns in 备注 (notes).")
@click.option("--owner", default=None, help="Owner (负责人) for rows that name none.")
@click.option("--password", default=None, help="Password of an encrypted source workbook.")
@click.option("--threshold", type=click.IntRange(1, 100), default=None,
              help="Duplicate score threshold (default: the master's Settings).")
@click.option("--apply/--no-apply", "apply_after", default=False, show_default=True,
              help="Run `crm apply` right after importing (status, latest follow-up, Issues).")
@click.option("--dry-run", is_flag=True, help="Show the mapping and what would happen; write nothing.")
@today_option
@format_option
def import_cmd(source: Path, workbook: Path, sheet: str | None, mapping_file: str | None,
               on_duplicate: str, allow_incomplete: bool, keep_unknown: bool, owner: str | None,
               password: str | None, threshold: int | None, apply_after: bool, dry_run: bool,
               today: str | None, fmt: str) -> None:
    """Import customers (and follow-ups) from SOURCE (.xlsx/.xls/.csv/.txt) into WORKBOOK."""
    home = home_for_workbook(workbook)
    actor = authorize("import", home=home, lang=home.lang if home is not None else None)
    day = parse_today(today)
    show = is_terminal() and fmt == "text"
    big = show and source.exists() and source.stat().st_size > PROGRESS_MIN_ROWS * 60
    with (_Progress(True) if big else nullcontext(None)) as progress:
        prep = prepare_import(source, workbook, sheet=sheet, mapping_file=mapping_file,
                              on_duplicate=on_duplicate, allow_incomplete=allow_incomplete,
                              keep_unknown=keep_unknown, owner=owner, today=day,
                              password=password, threshold=threshold, progress=progress)
    if fmt == "text":
        for line in mapping_lines(prep):
            click.echo(line)
    with (_Progress(True) if big else nullcontext(None)) as progress:
        out = execute_import(prep, dry_run=dry_run, who=actor.name, home=home,
                             apply_after=apply_after, progress=progress)
    if fmt == "json":
        echo_json(out.to_dict())
        if any(f.severity == "error" for f in out.findings):
            raise click.exceptions.Exit(1)
        return
    for line in summary_lines(out):
        click.echo(line)
    if any(f.severity == "error" for f in out.findings):
        raise click.exceptions.Exit(1)
