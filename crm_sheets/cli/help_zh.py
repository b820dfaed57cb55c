"""Chinese help texts of the commands and options, keyed by their English text.

The English help stays in the click decorators (an English home shows it); a Chinese home shows
these. `tests/test_language.py` fails when a command or option has no entry here.
"""

from __future__ import annotations

HELP_ZH: dict[str, str] = {
    "crm-sheets: a spreadsheet-native CRM (客户管理表格引擎).": "crm-sheets：以表格为本的客户管理（CRM）引擎。",
    "Show the version and exit.": "显示版本并退出。",
    "Per-role workbooks: build them, build your own, merge handed-back copies.":
        "各角色工作簿：生成、生成自己的一份、合并交回的副本。",
    "One workbook per sales rep and per department (admin).": "为每位销售和每个部门各生成一份工作簿（管理员）。",
    "Folder for the views (default: the home's views/).": "视图存放的文件夹（默认：主目录的 views/）。",
    "sales, service, marketing or management (repeatable; default: all).":
        "sales、service、marketing 或 management（可重复；默认：全部）。",
    "Build the view of this account only.": "只生成这个账户的视图。",
    "Encrypt every view with a password (asked).": "用密码加密每份视图（会询问密码）。",
    "Read the password from the first line of this file (for scripts).": "从这个文件的第一行读取密码（供脚本使用）。",
    "Fix the date rules use (YYYY-MM-DD); also CRM_TODAY.": "固定规则使用的日期（YYYY-MM-DD）；也可用 CRM_TODAY。",
    "Build your own copy of what your role may see.": "生成你的角色可见内容的个人副本。",
    "Folder for the view (default: the home's views/).": "视图存放的文件夹（默认：主目录的 views/）。",
    "Encrypt it with your account password (asked).": "用你的账户密码加密（会询问密码）。",
    "Merge a handed-back view into the master with the view owner's rights (admin).":
        "按副本所有人的权限把交回的视图合并进主表（管理员）。",
    "Print what would land; write nothing.": "只显示将会落地的内容，不写入。",
    "Watch a CRM home: revalidate every save, apply, merge the inbox, keep backups.":
        "监视 CRM 主目录：每次保存后重新检查、应用规则、合并收件箱、保留备份。",
    "Poll the folder (network shares: SMB/NFS).": "轮询文件夹（网络共享 SMB/NFS 时使用）。",
    "Polling interval in seconds.": "轮询间隔（秒）。",
    "Quiet time after the last event before a save is read.": "最后一次文件事件后等待多久再读取保存的文件。",
    "Full rescan period (backstop for missed events).": "全量重新扫描的周期（防止漏掉事件）。",
    "Scheduled backup period in days (0: off).": "定时备份的间隔天数（0：关闭）。",
    "Only validate; never write the master.": "只检查，不写主表。",
    "List every change, not a summary per rule.": "逐条列出每处修改，而不是按规则汇总。",
    "Assign IDs, fill engine columns, apply stage/dormancy rules, refresh Issues (safe write).":
        "分配编号、填写引擎列、执行阶段/休眠规则、刷新问题表（安全写入）。",
    "Print what would change; write nothing.": "只显示将会改动的内容，不写入。",
    "Merge DROP_ID into KEEP_ID: follow-ups move, blanks fill, DROP is marked 已合并.":
        "把 DROP_ID 合并进 KEEP_ID：跟进记录迁移、空白补齐，DROP 标记为已合并。",
    "Backups of the CRM home and its private state (admin).": "CRM 主目录及其私有状态的备份（管理员）。",
    "Back up the master and settings (and the private state folder).": "备份主表和设置（以及私有状态文件夹）。",
    "The CRM home (default: CRM_HOME or the current folder).": "CRM 主目录（默认：CRM_HOME 或当前文件夹）。",
    "A short label.": "简短的标签。",
    "Skip the private state folder.": "不备份私有状态文件夹。",
    "List backups, newest first.": "列出备份，最新的在前。",
    "Output format.": "输出格式。",
    "Re-read every backup fully and check every SHA-256; exit 1 on any damage.":
        "完整读取每个备份并核对每个 SHA-256；有损坏时退出码为 1。",
    "Restore backup BACKUP_ID (after backing up the current state).": "恢复备份 BACKUP_ID（先备份当前状态）。",
    "Delete backups outside the retention policy.": "删除保留策略之外的备份。",
    "Days to keep (Settings backup_daily).": "保留的天数（设置 backup_daily）。",
    "Weeks to keep (backup_weekly).": "保留的周数（backup_weekly）。",
    "Months to keep (backup_monthly).": "保留的月数（backup_monthly）。",
    "Only list what would be deleted.": "只列出将被删除的备份。",
    "Create a CRM home: master workbook from the template, folders, private state, first admin.":
        "创建 CRM 主目录：按模板生成主工作簿、文件夹、私有状态和第一个管理员。",
    "Language of headers and messages.": "表头和提示的语言。",
    "Name of the first admin account.": "第一个管理员账户的名称。",
    "File whose first line is the admin's password (for scripts).": "第一行是管理员密码的文件（供脚本使用）。",
    "Check a workbook and list every problem with its row (exit 1 on errors).":
        "检查工作簿，列出每个问题及其行号（有错误时退出码为 1）。",
    "Build a realistic demo CRM home (a training sandbox) and run the pipeline on it.":
        "生成一个逼真的演示 CRM 主目录（练习用沙盒）并在上面运行整个流程。",
    "List customers that are probably the same company (exit 1 when there are some).":
        "列出可能是同一家公司的客户（有疑似重复时退出码为 1）。",
    "Report pairs scoring at least N (0-100); default: Settings duplicate_threshold.":
        "只报告得分不低于 N（0-100）的客户对；默认：设置中的 duplicate_threshold。",
    "Log in: password, then the authenticator code once TOTP is enrolled.": "登录：输入密码；启用两步验证后再输入验证码。",
    "Account name (prompted when omitted).": "账户名（省略时会询问）。",
    "The 6-digit authenticator code, or a recovery code.": "6 位验证码，或一个恢复码。",
    "First login: the setup code from your admin (with --password-file: the password you choose).":
        "首次登录：管理员给你的设置码（配合 --password-file：你自己选的密码）。",
    "End this session.": "结束本次登录。",
    "Show the logged-in account: name, role, session expiry (exit 1 if none).":
        "显示当前登录的账户：名称、角色、会话到期时间（未登录时退出码为 1）。",
    "Accounts: add, list, disable, passwords, roles, two-factor login.": "账户：添加、列出、停用、密码、角色、两步验证。",
    "Add an account (admin). The user sets their password at first login.\n\n    In a home with no accounts yet, this creates the first admin instead (the OS\n    user who owns the private state folder bootstraps it, like `crm init --admin`).\n    ":
        "添加账户（管理员）。用户在首次登录时设置自己的密码。\n\n    在还没有账户的主目录中，这一步会创建第一个管理员（由拥有私有状态文件夹的系统用户完成，\n    与 `crm init --admin` 相同）。\n    ",
    "The account's role.": "账户的角色。",
    "The name used in the workbook's owner columns (default: NAME).": "在工作簿负责人列中使用的名字（默认：NAME）。",
    "List accounts: name, role, 2FA, last login, locked or disabled (admin).":
        "列出账户：名称、角色、两步验证、最近登录、是否锁定或停用（管理员）。",
    "Disable an account and end its sessions (admin).": "停用账户并结束其会话（管理员）。",
    "Enable a disabled account again (admin).": "重新启用已停用的账户（管理员）。",
    "Lift a lock after too many failed logins (admin).": "解除因多次登录失败造成的锁定（管理员）。",
    "Change an account's role; it logs in again (admin).": "修改账户的角色；该账户需重新登录（管理员）。",
    "Reset NAME's password (admin), or change your own (no NAME).": "重置 NAME 的密码（管理员），或修改你自己的密码（不写 NAME）。",
    "Changing your own password: the current one, from a file.": "修改自己的密码时：从文件读取当前密码。",
    "Enrol your authenticator app (two-factor login) and get recovery codes.": "绑定验证器应用（两步验证）并获取恢复码。",
    "Confirm an enrolment already started, with one code.": "用一个验证码确认已开始的绑定。",
    "Print only the otpauth:// URI, no QR code.": "只显示 otpauth:// 链接，不显示二维码。",
    "Remove NAME's authenticator and recovery codes, e.g. a lost phone (admin).":
        "移除 NAME 的验证器和恢复码，例如手机丢失时（管理员）。",
    "Import customers (and follow-ups) from SOURCE (.xlsx/.xls/.csv/.txt) into WORKBOOK.":
        "把 SOURCE（.xlsx/.xls/.csv/.txt）中的客户（及跟进记录）导入 WORKBOOK。",
    "Sheet of the source to read (default: the one whose columns look most like customers).":
        "要读取的源工作表（默认：列最像客户表的那一张）。",
    "TOML or YAML file: source header = field (see docs/import.md).": "TOML 或 YAML 文件：源表头 = 字段（见 docs/import.md）。",
    "What to do with a row that matches an existing customer.": "与已有客户匹配的行如何处理。",
    "Import rows that lack required fields (with their findings).": "导入缺少必填字段的行（并列出其问题）。",
    "Keep unrecognised columns in 备注 (notes).": "把无法识别的列保留到备注中。",
    "Owner (负责人) for rows that name none.": "未写负责人的行使用的负责人。",
    "Password of an encrypted source workbook.": "加密源工作簿的密码。",
    "Duplicate score threshold (default: the master's Settings).": "重复判定的分数阈值（默认：主表设置中的值）。",
    "Run `crm apply` right after importing (status, latest follow-up, Issues).":
        "导入后立即运行 `crm apply`（状态、最近跟进、问题表）。",
    "Show the mapping and what would happen; write nothing.": "显示列映射和将会发生的事，不写入。",
    "List the customers matching the filters (AND between filters, OR within one).":
        "列出符合筛选条件的客户（不同条件之间为“且”，同一条件的多个值之间为“或”）。",
    "所属行业, e.g. 制造业 or manufacturing.": "所属行业，例如 制造业。",
    "商机阶段: 线索/意向/谈判/成交/流失 or lead/intent/…": "商机阶段：线索/意向/谈判/成交/流失。",
    "客户类型: 潜在客户/意向客户/成交客户 or prospect/intent/customer.": "客户类型：潜在客户/意向客户/成交客户。",
    "客户来源, e.g. 展会推荐 or trade show.": "客户来源，例如 展会推荐。",
    "负责人.": "负责人。",
    "省 (广东 = 广东省).": "省（广东 = 广东省）。",
    "市 (深圳 = 深圳市).": "市（深圳 = 深圳市）。",
    "Last follow-up within this period (30d, 4w, 30).": "最近一次跟进在这段时间内（30d、4w、30）。",
    "No follow-up within this period (includes never contacted).": "这段时间内没有跟进（包括从未联系过的）。",
    "Only dormant (休眠) customers.": "只看休眠客户。",
    "状态: 正常/休眠/已合并 or normal/dormant/merged.": "状态：正常/休眠/已合并。",
    "Comma-separated column keys or headers for the table (default: a summary set).":
        "表格显示的列（列键或表头，逗号分隔；默认：一组摘要列）。",
    "Rows shown (table: default 200; JSON/CSV: default all; 0 = all).":
        "最多输出的行数（表格默认 200；JSON/CSV 默认全部；0 = 全部）。",
    "Write the customers the filters select to Excel, PDF or CSV (managers and admins).":
        "把筛选出的客户导出为 Excel、PDF 或 CSV（管理层和管理员）。",
    "FILE.xlsx, FILE.pdf or FILE.csv.": "FILE.xlsx、FILE.pdf 或 FILE.csv。",
    "Write reports/dashboard.xlsx (native Excel charts) and, with --to, a PDF.":
        "生成看板工作簿（原生 Excel 图表），加 --to 时另存 PDF。",
    "Also write the dashboard as FILE.pdf.": "另存一份 PDF 看板 FILE.pdf。",
    # crm audit
    "Read the audit log: who changed what and when (admin, manager).":
        "查看审计日志：谁在什么时候改了什么（管理员、管理层）。",
    "Only events about this customer ID.": "只看与这个客户编号有关的记录。",
    "Only events by or on behalf of this account (account or display name).":
        "只看这个账户做的或代其完成的记录（账户名或显示名）。",
    "From this day (YYYY-MM-DD) or time (YYYY-MM-DD HH:MM), inclusive.":
        "从这一天（YYYY-MM-DD）或时刻（YYYY-MM-DD HH:MM）起，含当天。",
    "Up to this day or time, inclusive.": "到这一天或时刻为止，含当天。",
    "Only this action (apply, import, views.merge, login, ...; a prefix like views matches views.*).":
        "只看这种操作（apply、import、views.merge、login 等；写 views 即匹配 views.*）。",
    "Output format (csv: UTF-8 with BOM, opens in Excel).": "输出格式（csv：带 BOM 的 UTF-8，可直接用 Excel 打开）。",
    "Only the newest N events (a table shows the newest 100 unless given).":
        "只看最近的 N 条（表格不指定时显示最近 100 条）。",
    # crm serve (the team portal)
    "Serve the team portal: everyone logs in from a browser (Ctrl-C stops it).":
        "运行团队门户：每个人用浏览器登录（按 Ctrl-C 停止）。",
    "Address to listen on (0.0.0.0: the office network).": "监听的地址（0.0.0.0：对局域网开放）。",
    "Port to listen on.": "监听的端口。",
    "TLS certificate (PEM) to serve HTTPS; needs --key.": "TLS 证书（PEM），用于 HTTPS；需同时给出 --key。",
    "TLS private key (PEM) for --cert.": "--cert 对应的 TLS 私钥（PEM）。",
    "Do not run the home's watcher alongside.": "不同时运行主目录的监视。",
}


def help_zh(text: str | None) -> str | None:
    """The Chinese help for an English help text (the English one when none is known)."""
    if text is None:
        return None
    return HELP_ZH.get(text, text)
