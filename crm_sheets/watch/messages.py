"""The watcher's log lines in the home's language (zh / en)."""

from __future__ import annotations

from typing import Any

_MSG: dict[str, tuple[str, str]] = {
    "started": ("开始监视 {root}（{mode}，防抖 {debounce}s）", "watching {root} ({mode}, debounce {debounce}s)"),
    "stopped": ("已停止监视", "stopped watching"),
    "save_detected": ("检测到保存：{name}（{events}）", "save detected: {name} ({events})"),
    "unchanged": ("{name} 内容未变，跳过", "{name} content unchanged, skipped"),
    "engine_write": ("{name} 是引擎自己的写入，忽略", "{name} is the engine's own write, ignored"),
    "retry": ("{name} 尚未写完或无法读取（{reason}），第 {attempt} 次重试",
              "{name} is incomplete or unreadable ({reason}); retry {attempt}"),
    "corrupt": ("{name} 保存的文件已损坏，放弃（{reason}）；请在编辑器中重新保存",
                "{name}: the saved file is damaged, giving up ({reason}); save it again from the editor"),
    "missing": ("{name} 不存在（已删除或正在保存）", "{name} is missing (deleted, or a save in progress)"),
    "findings": ("校验 {name}：{findings} 条问题（{errors} 个错误，{warnings} 个警告），"
                 "变更 {changed} 行，保存者 {author}，用时 {seconds}s",
                 "validated {name}: {findings} findings ({errors} errors, {warnings} warnings), "
                 "{changed} rows changed, saved by {author}, {seconds}s"),
    "ownership": ("越权修改：{message}", "ownership violation: {message}"),
    "locked": ("{name} 正被 {holder} 打开：只校验，不写入；关闭后再应用",
               "{name} is open by {holder}: validated only, not written; will apply once closed"),
    "applied": ("已应用：{changes} 处修改写入 {name}（备份 {backup}）",
                "applied: {changes} changes written to {name} (backup {backup})"),
    "apply_unchanged": ("无需写入：{name} 已是最新", "nothing to write: {name} is up to date"),
    "apply_refused": ("拒绝写入 {name}：{message}", "refused to write {name}: {message}"),
    "merged": ("已合并 {name}：落地 {landed}，拒绝 {rejected}，冲突 {conflicts} → {dest}（逐项说明：{findings}）",
               "merged {name}: {landed} landed, {rejected} rejected, {conflicts} conflicts → {dest} "
               "(details: {findings})"),
    "merge_rejected": ("已拒绝 {name}：{message} → {dest}", "rejected {name}: {message} → {dest}"),
    "merge_counts": ("拒绝 {rejected} 项，冲突 {conflicts} 项，原因见 {findings}",
                     "{rejected} rejected, {conflicts} conflicts; reasons in {findings}"),
    "merge_set_aside": ("{name} 已放到一边，等待管理员处理：{message} → {dest}",
                        "{name} set aside for an admin: {message} → {dest}"),
    "merge_deferred": ("{name} 暂不合并：{message}", "{name} not merged yet: {message}"),
    "merge_unavailable": ("{name} 未合并：{message}", "{name} not merged: {message}"),
    "folder_missing": ("监视的文件夹 {root} 不见了（共享断开？），每 {every}s 重试",
                       "the watched folder {root} is gone (share disconnected?); retrying every {every}s"),
    "rearmed": ("文件夹 {root} 已恢复，重新开始监视并全量扫描",
                "folder {root} is back; watching again and rescanning"),
    "rescan": ("定期扫描发现 {name} 有变化", "periodic rescan found a change to {name}"),
    "backup": ("已备份：{name}", "backup made: {name}"),
    "pruned": ("按保留策略删除 {count} 个旧备份", "pruned {count} old backups by the retention policy"),
    "error": ("内部错误（继续监视）：{message}", "internal error (still watching): {message}"),
}


def text(kind: str, lang: str, **params: Any) -> str:
    zh, en = _MSG.get(kind, (kind, kind))
    try:
        return (zh if lang == "zh" else en).format(**params)
    except (KeyError, IndexError):
        return f"{kind} {params}"
