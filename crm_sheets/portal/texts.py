"""Every line the portal shows, in zh and en (the home's language picks one)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "app": ("CRM 团队门户", "CRM team portal"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"),
    "user": ("账户名", "Account"), "password": ("密码", "Password"),
    "password2": ("再输入一次", "Repeat it"),
    "totp": ("6 位验证码（或恢复码）", "6-digit code (or a recovery code)"),
    "totp_step": ("两步验证", "Two-factor login"),
    "totp_hint": ("打开手机上的验证器，输入当前的 6 位验证码。", "Open the authenticator on your phone "
                  "and type the current 6-digit code."),
    "continue": ("继续", "Continue"),
    "setup": ("首次登录：设置你自己的密码", "First login: choose your own password"),
    "setup_code": ("管理员给你的设置码", "Setup code from your admin"),
    "setup_hint": ("请输入管理员给你的一次性设置码，再设置只有你自己知道的密码。",
                   "Type the one-time setup code your admin gave you, then choose a password "
                   "only you know."),
    "mismatch": ("两次输入的密码不一致", "the two passwords differ"),
    "enrol": ("启用两步验证", "Set up two-factor login"),
    "enrol_hint": ("本主目录要求两步验证。用手机上的验证器（如 Microsoft Authenticator、Google "
                   "身份验证器）扫描二维码，然后输入显示的 6 位验证码。",
                   "This home requires two-factor login. Scan the QR code with an authenticator "
                   "app on your phone, then type the 6-digit code it shows."),
    "secret": ("无法扫码时手动输入密钥", "Key to type when you cannot scan"),
    "recovery": ("恢复码（只显示这一次）", "Recovery codes (shown only this once)"),
    "recovery_hint": ("请把这些恢复码抄下或打印，放在安全的地方。手机丢失时，每个恢复码可代替验证码登录一次。",
                      "Write these down or print them and keep them safe. If you lose your phone, "
                      "each code logs you in once instead of the 6-digit code."),
    "done": ("我已保存，继续", "I saved them, continue"),
    "nav_workbook": ("我的工作簿", "My workbook"), "nav_dashboard": ("看板", "Dashboard"),
    "nav_query": ("查询导出", "Query & export"), "nav_findings": ("问题", "Findings"),
    "nav_admin": ("管理", "Admin"),
    "download_title": ("下载我的工作簿", "Download my workbook"),
    "download_hint": ("每次下载都是根据当前主工作簿新生成的，只含你有权查看的客户和跟进记录。用 Excel、WPS "
                      "或 LibreOffice 编辑后，在下面上传。",
                      "Each download is built fresh from the current master with only the "
                      "customers and follow-ups you may see. Edit it in Excel, WPS or "
                      "LibreOffice, then upload it below."),
    "download": ("下载", "Download"),
    "upload_title": ("上传修改后的工作簿", "Upload your edited workbook"),
    "upload": ("上传", "Upload"), "file": ("文件", "File"),
    "result_title": ("上传结果", "Upload result"),
    "landed": ("已合并", "Landed"), "rejected": ("已拒绝", "Rejected"),
    "conflicts": ("冲突", "Conflicts"), "row_findings": ("你的行上的问题", "Findings on your rows"),
    "nothing": ("无", "none"),
    "findings_later": ("主工作簿较大，完整的问题列表正在后台重新检查，稍后请看「问题」页。",
                       "The master is large: its findings are being rechecked in the "
                       "background; see the Findings page shortly."),
    "summary": ("合并 {landed} 项，拒绝 {rejected} 项，冲突 {conflicts} 项",
                "{landed} landed, {rejected} rejected, {conflicts} conflicts"),
    "written": ("已写入主工作簿", "written to the master"),
    "not_written": ("主工作簿无需改动", "the master needed no change"),
    "sheet": ("工作表", "Sheet"), "row": ("行", "Row"), "column": ("列", "Column"),
    "customer": ("客户", "Customer"), "message": ("说明", "What"), "severity": ("级别", "Severity"),
    "bad_file": ("无法读取上传的文件", "The upload could not be read"),
    "dash_title": ("看板", "Dashboard"),
    "dl_xlsx": ("下载 Excel", "Download Excel"), "dl_pdf": ("下载 PDF", "Download PDF"),
    "dl_csv": ("下载 CSV", "Download CSV"),
    "query_title": ("查询导出", "Query and export"), "search": ("查询", "Search"),
    "f_industry": ("所属行业", "Industry"), "f_stage": ("商机阶段", "Stage"),
    "f_type": ("客户类型", "Customer type"), "f_source": ("客户来源", "Source"),
    "f_owner": ("负责人", "Owner"), "f_province": ("省", "Province"), "f_city": ("市", "City"),
    "f_status": ("状态", "Status"), "f_followed_within": ("多少天内有跟进（如 30d）",
                                                        "Followed up within (e.g. 30d)"),
    "f_not_followed_within": ("多少天内未跟进（如 30d）", "Not followed up within (e.g. 30d)"),
    "f_dormant": ("只看休眠客户", "Dormant only"),
    "count": ("共 {n} 位客户", "{n} customers"), "shown": ("显示前 {n} 位", "first {n} shown"),
    "no_export": ("你的角色不能导出", "your role cannot export"),
    "findings_title": ("问题", "Findings"),
    "findings_none": ("没有你能看到的问题", "no findings you may see"),
    "admin_title": ("管理", "Admin"),
    "accounts": ("账户", "Accounts"), "backups": ("备份", "Backups"),
    "audit": ("审计日志", "Audit log"), "home_findings": ("主目录当前的问题", "The home's findings"),
    "display_name": ("显示名（表格中负责人的名字）", "Display name (the owner name in the sheet)"),
    "role": ("角色", "Role"), "add": ("添加", "Add"), "status": ("状态", "Status"),
    "enabled": ("正常", "enabled"), "disabled": ("已停用", "disabled"), "locked": ("已锁定", "locked"),
    "setup_pending": ("待设置密码", "waiting for first login"),
    "totp_on": ("已启用两步验证", "two-factor on"),
    "change_role": ("改角色", "Change role"), "disable": ("停用", "Disable"),
    "enable": ("启用", "Enable"), "unlock": ("解锁", "Unlock"),
    "reset_pw": ("重置密码", "Reset password"), "reset_totp": ("重置两步验证", "Reset two-factor"),
    "setup_code_is": ("账户 {user} 的一次性设置码（7 天内有效，只显示一次）：",
                      "One-time setup code for {user} (valid 7 days, shown once):"),
    "run_backup": ("立即备份", "Back up now"), "verify": ("校验", "Verify"),
    "restore": ("恢复", "Restore"), "restore_confirm": ("恢复前会先备份当前文件。", "The current "
                                                        "files are backed up before a restore."),
    "created": ("时间", "Created"), "reason": ("原因", "Reason"), "size": ("大小", "Size"),
    "kind": ("类型", "Kind"), "verify_ok": ("全部备份完好", "every backup is intact"),
    "filter": ("筛选", "Filter"), "person": ("人员", "Person"), "since": ("起始日期", "From"),
    "until": ("截止日期", "To"), "when": ("时间", "When"), "who": ("人员", "Who"),
    "action": ("操作", "Action"), "detail": ("详情", "Details"),
    "done_ok": ("已完成", "Done"),
    "error_title": ("出错了", "Something went wrong"),
    "forbidden": ("你的角色不能打开这个页面", "your role cannot open this page"),
    "not_found": ("找不到这个页面", "no such page"),
    "login_required": ("请先登录", "please log in first"),
    "csrf": ("页面已过期，请刷新后再试", "the page expired: reload it and try again"),
    "bad_credentials": ("账户名或密码不正确", "wrong account name or password"),
    "back": ("返回", "Back"), "signed_in_as": ("当前账户", "Signed in as"),
}

ROLE_NAMES = {"admin": ("管理员", "admin"), "manager": ("管理层", "manager"),
              "sales": ("销售", "sales"), "service": ("客服", "service"),
              "marketing": ("市场", "marketing")}


class Texts:
    """`T.key` (or `T["key"]`) in one language; `T.f("key", n=3)` fills placeholders."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.i = 0 if lang == "zh" else 1

    def __getattr__(self, key: str) -> str:
        try:
            return TEXTS[key][self.i]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> str:
        return TEXTS[key][self.i]

    def f(self, key: str, **kw: object) -> str:
        return TEXTS[key][self.i].format(**kw)

    def role(self, role: str) -> str:
        return ROLE_NAMES.get(role, (role, role))[self.i]
