"""The team portal (`crm serve`, issue 14) through an HTTP client: login, sessions, CSRF,
headers, every page and API route for every role, the role × route × another person's
data matrix, uploads (rights, bad files, twice, at once) and the admin pages."""

from __future__ import annotations

import io
import re
import threading
import time
import warnings
import zipfile

import openpyxl
import pyotp
import pytest
from test_views_support import (
    LI_CUSTOMER,
    PW,
    WANG_CUSTOMER,
    WANG_FOLLOWUP,
    edit_view,
    make_view_home,
)

from crm_sheets import accounts, audit
from crm_sheets.reader import load

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crm_sheets.portal import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TODAY = "2024-06-01"
LI, WANG = LI_CUSTOMER["customer_id"], WANG_CUSTOMER["customer_id"]
# what li (sales) must never see: wang's customer, contact, phone, e-mail, follow-up text
WANG_SECRETS = [WANG_CUSTOMER["name"], WANG_CUSTOMER["phone"], WANG_CUSTOMER["email"],
                WANG_CUSTOMER["contact_name"], WANG_FOLLOWUP["content"], WANG]
ACCOUNTS = {"admin": "admin", "manager": "boss", "sales": "li", "service": "kefu",
            "marketing": "shichang"}


@pytest.fixture
def vh(tmp_path, crm_state_dir, monkeypatch):
    monkeypatch.setenv("CRM_TODAY", TODAY)
    return make_view_home(tmp_path)


@pytest.fixture
def app(vh):
    return create_app(vh.home.root)


def client(app, user: str | None = None, **kw) -> TestClient:
    c = TestClient(app, **kw)
    if user is not None:
        r = c.post("/api/login", json={"user": user, "password": PW})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def body_text(r) -> str:
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        return xlsx_text(r.content)
    if "pdf" in ctype:
        return r.content.decode("latin-1")
    return r.content.decode("utf-8", "replace")


# ------------------------------------------------------------------ login and sessions

def test_healthz_and_login_required(app):
    c = client(app)
    assert c.get("/healthz").text == "ok"
    r = c.get("/api/me")
    assert r.status_code == 401 and r.json()["error"] == "login_required"
    assert r.json()["message"] == "请先登录"
    r = c.get("/workbook", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "登录" in c.get("/login").text


def test_login_answer_cookie_and_me(app):
    c = client(app)
    r = c.post("/api/login", json={"user": "li", "password": PW})
    assert r.status_code == 200
    data = r.json()
    assert {k: data[k] for k in ("user", "role", "display_name")} == \
        {"user": "li", "role": "sales", "display_name": "李四"}
    assert len(data["csrf"]) >= 20
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert c.get("/api/me").json() == {"user": "li", "role": "sales", "display_name": "李四"}


def test_cookie_is_secure_under_tls(vh):
    c = client(create_app(vh.home.root, secure_cookies=True), base_url="https://testserver")
    r = c.post("/api/login", json={"user": "li", "password": PW})
    assert "Secure" in r.headers["set-cookie"]
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in client(create_app(vh.home.root)).get("/login").headers


def test_portal_login_leaves_the_cli_session_file_alone(app, vh):
    from crm_sheets.accounts.sessions import session_path

    client(app, "li")
    assert not session_path(vh.home).exists()


def test_unknown_account_and_wrong_password_answer_the_same(app):
    c = client(app)
    t0 = time.perf_counter()
    a = c.post("/api/login", json={"user": "nobody", "password": "wrong password 1"})
    t1 = time.perf_counter()
    b = c.post("/api/login", json={"user": "li", "password": "wrong password 1"})
    t2 = time.perf_counter()
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json() == {"error": "bad_credentials", "message": "账户名或密码不正确"}
    assert "set-cookie" not in a.headers and "set-cookie" not in b.headers
    slow, fast = max(t1 - t0, t2 - t1), min(t1 - t0, t2 - t1)
    assert slow < fast * 3 + 0.2  # both run one password hash check


def test_lockout_answers_423_with_until(app):
    c = client(app)
    for _ in range(accounts.MAX_FAILURES):
        c.post("/api/login", json={"user": "li", "password": "wrong password 1"})
    r = c.post("/api/login", json={"user": "li", "password": PW})
    assert r.status_code == 423
    assert r.json()["error"] == "locked" and r.json()["until"]


def test_bad_login_body_is_400_not_500(app):
    c = client(app)
    for body in (b"not json", b"[1, 2]", b'{"user": 3}'):
        r = c.post("/api/login", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_request"


def _enrol(vh, name: str) -> pyotp.TOTP:
    e = accounts.enrol_totp(vh.home, name)
    totp = pyotp.TOTP(e.secret)
    accounts.confirm_totp(vh.home, name, totp.now())
    return totp


def test_totp_required_then_accepted_api_and_page(app, vh):
    totp = _enrol(vh, "li")
    # a fresh step for each login: the replay guard refuses a code used before
    c = client(app)
    r = c.post("/api/login", json={"user": "li", "password": PW})
    assert r.status_code == 401 and r.json()["error"] == "totp_required"
    step = int(time.time() // 30)
    code = totp.at((step + 1) * 30)
    r = c.post("/api/login", json={"user": "li", "password": PW, "totp": code})
    assert r.status_code == 200, r.text
    totp = _enrol(vh, "wang")  # a second account: codes of li's window are spent
    p = client(app)
    r = p.post("/login", data={"user": "wang", "password": PW})
    assert r.status_code == 200 and 'name="code"' in r.text and "两步验证" in r.text
    r = p.post("/login/totp", data={"code": "000000"}, follow_redirects=False)
    assert r.status_code == 401 and "验证码" in r.text
    r = p.post("/login/totp", data={"code": totp.at((step + 1) * 30)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/workbook"
    assert p.get("/api/me").json()["user"] == "wang"


def test_csrf_required_on_every_post(app):
    c = client(app, "li")
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/logout").status_code == 403
    r = c.post("/api/workbook", files={"file": ("a.xlsx", b"x")})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    r = c.post("/logout", data={"csrf": "forged"})
    assert r.status_code == 403
    assert c.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 204
    assert c.get("/api/me").status_code == 401


def test_idle_and_absolute_expiry(app):
    c = client(app, "li")
    token = c.cookies.get("crm_session")
    store = app.state.portal.sessions
    assert store.get(token) is not None
    assert store.get(token, now=time.time() + 31 * 60) is None  # idle 30 min
    assert c.get("/api/me").status_code == 401
    c2 = client(app, "li")
    t2 = c2.cookies.get("crm_session")
    assert store.get(t2, now=time.time() + 9 * 3600) is None  # absolute 8 h


def test_disabling_an_account_ends_its_portal_session(app, vh):
    c = client(app, "li")
    accounts.disable_user(vh.home, "li", by="admin")
    assert c.get("/api/me").status_code == 401


def test_login_and_download_are_audited_with_client_address(app, vh):
    c = client(app, "li")
    assert c.get("/api/workbook").status_code == 200
    events = audit.read(vh.home.state)
    login = [e for e in events if e["action"] == "login" and e["who"] == "li"]
    assert login and login[-1]["client"] == "testclient"
    dl = [e for e in events if e["action"] == "portal.download"]
    assert dl and dl[-1]["who"] == "li" and dl[-1]["client"] == "testclient"


# ------------------------------------------------------------------ headers

def test_security_headers_on_pages_and_api(app):
    c = client(app, "li")
    for path in ("/workbook", "/api/customers", "/api/workbook", "/login", "/dashboard"):
        r = c.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
    page = c.get("/dashboard").text
    assert "<script" not in page and " style=" not in page
    assert c.get("/static/portal.css").status_code == 200


# ------------------------------------------------------------------ rights matrix

GET_ROUTES = ["/workbook", "/workbook/download", "/dashboard", "/query", "/query?owner=王五",
              f"/query?owner={WANG_CUSTOMER['owner']}&industry=零售", "/findings",
              "/api/me", "/api/workbook", "/api/findings", "/api/customers",
              "/api/customers?owner=王五", "/api/export?format=csv",
              "/api/export?format=xlsx&owner=王五", "/api/dashboard?format=xlsx",
              "/query/export?format=csv", "/admin", "/admin/backups", "/admin/audit",
              "/admin/audit?customer=" + WANG, "/api/admin/accounts", "/api/admin/backups",
              "/api/admin/audit", "/api/admin/audit?customer=" + WANG,
              f"/api/customers?customer_id={WANG}", "/workbook/download?user=wang",
              "/api/workbook?user=wang&file=sales-wang.xlsx", "/static/../CRM.xlsx",
              "/views/sales-wang.xlsx", "/api/views/sales-wang.xlsx"]
ALLOWED = {  # route prefix -> roles that get 200 (the first matching prefix decides)
    "/admin/audit": {"admin", "manager"}, "/admin": {"admin"}, "/api/admin/accounts": {"admin"}, "/api/admin/backups": {"admin"},
    "/api/admin/audit": {"admin", "manager"},
    "/api/export": {"admin", "manager"}, "/query/export": {"admin", "manager"},
}


def _expected_ok(role: str, path: str) -> bool | None:
    base = path.split("?")[0]
    if base in ("/static/../CRM.xlsx", "/views/sales-wang.xlsx", "/api/views/sales-wang.xlsx"):
        return False
    for prefix, roles in ALLOWED.items():
        if base == prefix or base.startswith(prefix + "/"):
            return role in roles
    return True


@pytest.mark.parametrize("role", sorted(ACCOUNTS))
def test_role_route_matrix(app, vh, role):
    """Every role × every GET route: allowed ones answer 200, the rest 403/404 with nothing
    of the data; a sales rep never sees the other rep's customer by any URL or parameter;
    marketing never sees a raw phone number."""
    c = client(app, ACCOUNTS[role])
    checked = 0
    for path in GET_ROUTES:
        r = c.get(path, follow_redirects=False)
        ok = _expected_ok(role, path)
        if ok:
            assert r.status_code == 200, (role, path, r.status_code, r.text[:300])
        else:
            assert r.status_code in (403, 404), (role, path, r.status_code)
            text = body_text(r)
            for secret in (LI_CUSTOMER["name"], LI_CUSTOMER["phone"], *WANG_SECRETS):
                assert secret not in text, (role, path, secret)
            if path.startswith("/api/"):
                assert set(r.json()) == {"error", "message"}
        text = body_text(r)
        if role == "sales":
            for secret in WANG_SECRETS:
                assert secret not in text, (path, secret)
        if role == "marketing":
            for phone in (LI_CUSTOMER["phone"], WANG_CUSTOMER["phone"]):
                assert phone not in text, (path, phone)
        checked += 1
    assert checked == len(GET_ROUTES)


def test_sales_sees_own_rows_only(app):
    c = client(app, "li")
    data = c.get("/api/customers").json()
    owners = {row["owner"] for row in data["customers"]}
    assert owners == {"李四"} and data["count"] >= 1
    assert LI in {row["customer_id"] for row in data["customers"]}
    assert c.get("/api/customers?owner=王五").json()["count"] == 0
    wb = openpyxl.load_workbook(io.BytesIO(c.get("/api/workbook").content))
    ids = {row[0] for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True)}
    assert LI in ids and WANG not in ids


def test_findings_are_scoped(app):
    rep = client(app, "li").get("/api/findings").json()["findings"]
    boss = client(app, "boss").get("/api/findings").json()["findings"]
    assert len(boss) > len(rep)
    assert all(f["customer_id"] != WANG for f in rep)
    assert any(f["customer_id"] == WANG for f in boss)  # the ID number in wang's notes
    page = client(app, "admin").get("/findings").text
    assert WANG in page


def test_export_for_manager_in_three_formats(app, vh):
    c = client(app, "boss")
    r = c.get("/api/export?format=csv&owner=王五")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert WANG_CUSTOMER["name"] in r.content.decode("utf-8-sig")
    assert LI_CUSTOMER["name"] not in r.content.decode("utf-8-sig")
    assert "attachment" in r.headers["content-disposition"]
    assert c.get("/api/export?format=xlsx").content[:2] == b"PK"
    assert c.get("/api/export?format=pdf").content[:4] == b"%PDF"
    r = c.get("/api/export?format=doc")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert any(e["action"] == "export" and e["who"] == "boss" for e in audit.read(vh.home.state))
    r = c.get("/api/customers?followed_within=banana")
    assert r.status_code == 400 and set(r.json()) == {"error", "message"}


def test_dashboard_page_and_downloads(app):
    c = client(app, "boss")
    page = c.get("/dashboard").text
    assert "<svg" in page and "商机漏斗" in page or "漏斗" in page
    assert c.get("/api/dashboard?format=xlsx").content[:2] == b"PK"
    assert c.get("/api/dashboard?format=pdf").content[:4] == b"%PDF"
    rep = client(app, "li").get("/dashboard").text
    assert "李四" in rep and WANG_CUSTOMER["name"] not in rep


def test_query_page_filters_and_export_links(app):
    c = client(app, "boss")
    page = c.get("/query?owner=王五").text
    assert WANG_CUSTOMER["name"] in page and LI_CUSTOMER["name"] not in page
    assert "/query/export?format=xlsx" in page
    rep = client(app, "li").get("/query").text
    assert "/query/export" not in rep and "你的角色不能导出" in rep


# ------------------------------------------------------------------ uploads

def _my_copy(c, tmp_path, name="copy.xlsx"):
    r = c.get("/api/workbook")
    assert r.status_code == 200
    path = tmp_path / name
    path.write_bytes(r.content)
    return path


def _edit_li(path, phone="13922223333", content="门户上传的跟进"):
    edit_view(path, "客户", {(LI, "联系方式"): phone})
    edit_view(path, "跟进记录", append=[{"客户编号": LI, "沟通开始": "2024-05-30 10:00",
                                      "沟通方式": "电话", "沟通内容": content}])


def test_upload_lands_and_twice_lands_new_rows_once(app, vh, tmp_path):
    c = client(app, "li")
    path = _my_copy(c, tmp_path)
    _edit_li(path)
    before = len(load(vh.master).followups.records)
    r = c.post("/api/workbook", files={"file": ("copy.xlsx", path.read_bytes())})
    assert r.status_code == 200, r.text
    data = r.json()
    assert set(data) >= {"landed", "rejected", "conflicts", "findings"}
    cols = {(f["customer_id"], f["column"]) for f in data["landed"]}
    assert (LI, "phone") in cols
    wb = load(vh.master)
    assert wb.customers_by_id()[LI].values["phone"] == "13922223333"
    assert len(wb.followups.records) == before + 1
    assert any(f.values.get("content") == "门户上传的跟进" for f in wb.followups.records)
    r2 = c.post("/api/workbook", files={"file": ("copy.xlsx", path.read_bytes())})
    assert r2.status_code == 200
    assert len(load(vh.master).followups.records) == before + 1
    events = [e for e in audit.read(vh.home.state) if e["action"] == "portal.upload"]
    assert len(events) == 2 and events[0]["client"] == "testclient"


def test_upload_page_shows_result_cell_by_cell(app, tmp_path):
    c = client(app, "li")
    path = _my_copy(c, tmp_path)
    edit_view(path, "客户", {(LI, "联系方式"): "13922224444", (LI, "负责人"): "王五"})
    r = c.post("/workbook/upload", files={"file": ("copy.xlsx", path.read_bytes())},
               data={"csrf": c.headers["X-CSRF-Token"]})
    assert r.status_code == 200
    landed = r.text.split('id="landed"')[1].split('id="rejected"')[0]
    rejected = r.text.split('id="rejected"')[1].split('id="conflicts"')[0]
    assert "13922224444" in landed and "<td>联系方式</td>" in landed and LI in landed
    assert "<td>负责人</td>" in rejected and "<td>客户</td>" in rejected and "已拒绝" in r.text


def test_upload_findings_on_the_uploaders_rows(app, vh, tmp_path, monkeypatch):
    from crm_sheets.portal import service

    c = client(app, "li")
    path = _my_copy(c, tmp_path)
    edit_view(path, "客户", {(LI, "备注"): "改了备注"})
    edit_view(vh.master, "客户", {(LI, "邮箱"): "li at example"})  # a problem already there
    data = c.post("/api/workbook", files={"file": ("c.xlsx", path.read_bytes())}).json()
    assert not data["findings_later"] and data["written"]
    late = [f for f in data["findings"] if f["customer_id"] == LI and f["column"] == "email"]
    assert late and late[0]["row"] == 2 and late[0]["severity"] == "error", data["findings"]
    assert all(f["customer_id"] == LI for f in data["findings"])
    monkeypatch.setattr(service, "SYNC_FINDINGS_BYTES", 0)  # a big master: no waiting
    edit_view(path, "客户", {(LI, "备注"): "big master"})
    r = c.post("/workbook/upload", files={"file": ("c.xlsx", path.read_bytes())},
               data={"csrf": c.headers["X-CSRF-Token"]})
    assert r.status_code == 200 and 'id="findings-later"' in r.text
    assert any(f["code"] == late[0]["code"] for f in c.get("/api/findings").json()["findings"])


def test_bad_uploads_are_one_line_400(app, vh, monkeypatch):
    from crm_sheets.portal import service

    c = client(app, "li")
    sha = vh.master.read_bytes()
    for data in (b"not a workbook", b"PK\x03\x04 broken zip", b""):
        r = c.post("/api/workbook", files={"file": ("mine.xlsx", data)})
        assert r.status_code == 400 and r.json()["error"] == "bad_file", data
        assert "\n" not in r.json()["message"] and "upload-" not in r.json()["message"]
    r = c.post("/workbook/upload", files={"file": ("mine.xlsx", b"junk")},
               data={"csrf": c.headers["X-CSRF-Token"]})
    assert r.status_code == 400 and "mine.xlsx" in r.text and "Traceback" not in r.text
    monkeypatch.setattr(service, "MAX_UPLOAD_BYTES", 1000)
    r = c.post("/api/workbook", files={"file": ("big.xlsx", b"PK" + b"0" * 5000)})
    assert r.status_code == 400 and "过大" in r.json()["message"]
    monkeypatch.setattr(service, "MAX_UPLOAD_BYTES", 10)  # refused by Content-Length alone
    r = c.post("/api/workbook", files={"file": ("big.xlsx", b"PK" + b"0" * 200_000)})
    assert r.status_code == 400 and "过大" in r.json()["message"]
    r = c.post("/api/workbook", data={"nofile": "x"})
    assert r.status_code == 400 and r.json()["error"] == "bad_file"
    assert vh.master.read_bytes() == sha


def test_upload_of_another_persons_copy_is_403_and_changes_nothing(app, vh, tmp_path):
    wang = client(app, "wang")
    path = _my_copy(wang, tmp_path, "wang.xlsx")
    edit_view(path, "客户", {(WANG, "备注"): "li was here"})
    sha = vh.master.read_bytes()
    r = client(app, "li").post("/api/workbook", files={"file": ("wang.xlsx", path.read_bytes())})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert vh.master.read_bytes() == sha
    assert WANG_CUSTOMER["name"] not in r.text


def test_uploads_arriving_together_all_land(app, vh, tmp_path):
    li, wang = client(app, "li"), client(app, "wang")
    p_li, p_wang = _my_copy(li, tmp_path, "li.xlsx"), _my_copy(wang, tmp_path, "wang.xlsx")
    edit_view(p_li, "客户", {(LI, "备注"): "li 同时上传"})
    edit_view(p_wang, "客户", {(WANG, "备注"): "wang 同时上传"})
    answers: list = []

    def go(c, p):
        answers.append(c.post("/api/workbook", files={"file": (p.name, p.read_bytes())}))

    threads = [threading.Thread(target=go, args=a) for a in ((li, p_li), (wang, p_wang))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert sorted(r.status_code for r in answers) == [200, 200], [r.text for r in answers]
    by_id = load(vh.master).customers_by_id()
    assert by_id[LI].values["notes"] == "li 同时上传"
    assert by_id[WANG].values["notes"] == "wang 同时上传"


# ------------------------------------------------------------------ admin

def _csrf(c) -> dict:
    return {"csrf": c.headers["X-CSRF-Token"]}


def test_admin_adds_account_and_first_login_sets_password(app, vh):
    a = client(app, "admin")
    r = a.post("/admin/accounts", data={"name": "zhao", "display_name": "赵六", "role": "sales",
                                        **_csrf(a)})
    assert r.status_code == 200
    code = re.search(r'id="setup-code".*?<code>([^<]+)</code>', r.text, re.S).group(1)
    new = client(app)
    r = new.post("/login", data={"user": "zhao", "password": "anything at all"})
    assert 'name="setup_code"' in r.text
    r = new.post("/login/setup", data={"user": "zhao", "setup_code": code,
                                       "password": "zhao's own pass 42",
                                       "password2": "zhao's own pass 42"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/workbook"
    assert new.get("/api/me").json()["user"] == "zhao"
    assert any(e["action"] == "portal.admin.user_add" and e["client"] == "testclient"
               for e in audit.read(vh.home.state))


def test_require_totp_setting_makes_a_new_user_enrol(vh, tmp_path, monkeypatch):
    from test_views_support import LI_FOLLOWUP

    from crm_sheets.template import build_workbook

    build_workbook(vh.master, customers=[LI_CUSTOMER], followups=[LI_FOLLOWUP],
                   lists={"owners": ["李四", "王五"]}, settings={"require_totp": 1})
    app = create_app(vh.home.root)
    c = client(app)
    r = c.post("/login", data={"user": "li", "password": PW}, follow_redirects=False)
    assert r.headers["location"] == "/workbook"
    r = c.get("/workbook", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/enrol"
    page = c.get("/enrol").text
    assert "<svg" in page and "<script" not in page
    secret = re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = c.post("/enrol", data={"csrf": token, "code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([^<]+)</code></li>", r.text)
    assert len(codes) == 10
    assert c.get("/workbook", follow_redirects=False).status_code == 200
    r = c.get("/enrol", follow_redirects=False)  # codes shown once; no silent re-enrolment
    assert r.status_code == 303 and r.headers["location"] == "/workbook"


def test_admin_account_actions(app, vh):
    a = client(app, "admin")
    li = client(app, "li")
    r = a.post("/admin/accounts/li/role", data={"role": "service", **_csrf(a)})
    assert r.status_code == 200
    assert accounts.get_user(vh.home, "li").role == "service"
    assert li.get("/api/me").status_code == 401  # role change ends sessions
    r = a.post("/admin/accounts/li/reset-password", data=_csrf(a))
    assert 'id="setup-code"' in r.text
    assert accounts.get_user(vh.home, "li").pending_setup
    r = a.post("/api/admin/accounts/wang/disable")
    assert r.status_code == 200 and accounts.get_user(vh.home, "wang").disabled
    assert a.post("/api/admin/accounts/wang/enable").status_code == 200
    assert a.post("/api/admin/accounts/wang/unlock").status_code == 200
    assert a.post("/api/admin/accounts/wang/reset-totp").status_code == 200
    assert a.post("/api/admin/accounts/wang/explode").status_code == 404
    r = a.post("/api/admin/accounts/nobody/disable")
    assert r.status_code == 400 and set(r.json()) == {"error", "message"}
    for bad in (b"nope", b"[1]"):
        r = a.post("/api/admin/accounts", content=bad, headers={"content-type": "application/json"})
        assert r.status_code == 400 and set(r.json()) == {"error", "message"}
    r = a.post("/api/admin/accounts/wang/role", content=b"[1]")
    assert r.status_code == 400  # no role given: one line, not a 500
    r = a.post("/api/admin/accounts", json={"user": "qian", "role": "marketing"})
    assert r.status_code == 201 and r.json()["setup_code"]
    actions = {e["action"] for e in audit.read(vh.home.state) if e.get("via") == "portal"}
    assert {"portal.admin.role", "portal.admin.reset-password", "portal.admin.disable"} <= actions


def test_admin_backups_run_verify_restore(app, vh):
    a = client(app, "admin")
    r = a.post("/admin/backups/run", data=_csrf(a))
    assert r.status_code == 200 and "已完成" in r.text
    listing = a.get("/api/admin/backups").json()["backups"]
    assert listing
    r = a.post("/admin/backups/verify", data=_csrf(a))
    assert "全部备份完好" in r.text
    home_backup = next(b for b in listing if b["kind"] == "home")
    r = a.post("/admin/backups/restore", data={"backup_id": home_backup["id"], **_csrf(a)})
    assert r.status_code == 200 and "已完成" in r.text
    r = a.post("/admin/backups/restore", data={"backup_id": "no-such", **_csrf(a)})
    assert r.status_code == 200 and 'class="msg err"' in r.text


def test_admin_audit_filtered_by_person_customer_and_date(app, vh, tmp_path):
    li = client(app, "li")
    path = _my_copy(li, tmp_path)
    edit_view(path, "客户", {(LI, "备注"): "审计测试"})
    assert li.post("/api/workbook", files={"file": ("c.xlsx", path.read_bytes())}).status_code == 200
    client(app, "wang")
    a = client(app, "admin")
    page = a.get("/admin/audit?person=li").text
    assert "testclient" in page and "wang" not in page.split("<tbody>")[1]
    page = a.get(f"/admin/audit?customer={LI}").text
    assert "审计测试" in page
    assert a.get("/admin/audit?since=2999-01-01").text.split("<tbody>")[1].startswith("</tbody>")
    r = a.get("/admin/audit?since=notadate")
    assert r.status_code in (200, 400) and "Traceback" not in r.text
    events = a.get(f"/api/admin/audit?customer={LI}").json()["events"]
    assert events and all(e.get("customer_id") == LI for e in events)


def test_english_home_pages(tmp_path, crm_state_dir, monkeypatch):
    import json

    vh = make_view_home(tmp_path)
    marker = vh.home.root / ".crm-home.json"
    info = json.loads(marker.read_text(encoding="utf-8"))
    marker.write_text(json.dumps(info | {"lang": "en"}), encoding="utf-8")
    app = create_app(vh.home.root)
    c = client(app)
    assert "Log in" in c.get("/login").text
    assert c.get("/api/me").json()["message"] == "please log in first"
    c = client(app, "li")
    assert "My workbook" in c.get("/workbook").text
    assert c.get("/admin").status_code == 403 and "your role cannot open" in c.get("/admin").text


POST_ADMIN = [("/admin/accounts", {"name": "evil", "role": "admin"}),
              ("/admin/accounts/wang/disable", {}), ("/admin/accounts/li/role", {"role": "admin"}),
              ("/admin/accounts/admin/reset-password", {}), ("/admin/backups/run", {}),
              ("/admin/backups/restore", {"backup_id": "x"}),
              ("/api/admin/accounts/wang/disable", None), ("/api/admin/backups", None),
              ("/api/admin/backups/verify", None), ("/api/admin/backups/x/restore", None)]


@pytest.mark.parametrize("role", ["manager", "sales", "service", "marketing"])
def test_admin_posts_are_refused_for_other_roles(app, vh, role):
    c = client(app, ACCOUNTS[role])
    users_before = [(u.name, u.role, u.disabled) for u in accounts.list_users(vh.home)]
    for path, form in POST_ADMIN:
        if form is None:
            r = c.post(path)
        else:
            r = c.post(path, data={**form, "csrf": c.headers["X-CSRF-Token"]},
                       follow_redirects=False)
        assert r.status_code == 403, (role, path, r.status_code)
        assert "evil" not in r.text and "setup-code" not in r.text
    assert [(u.name, u.role, u.disabled) for u in accounts.list_users(vh.home)] == users_before
    assert not any(vh.home.backups.glob("*portal*"))
