# ==== accounts & permissions fixtures (issue 6; owner: accounts) ====================
# crm_state_dir: CRM_STATE_DIR in a tmp dir (never the real profile), CRM_HOME unset.
# logged_in_home(role="admin", ...): a new CRM home with an admin "admin" (display name
# 管理员) and, for another role, an account "<role>1" (display name e.g. 销售一号) of that
# role; logs that account in and returns a LoggedIn(home, name, password, actor).
# Call it again with home=... to add and log in another account in the same home.
import dataclasses as _acct_dc  # noqa: E402

import pytest as _acct_pytest  # noqa: E402

ACCOUNT_PASSWORD = "correct horse battery"
ACCOUNT_DISPLAY = {"admin": "管理员", "manager": "经理一号", "sales": "销售一号",
                   "service": "客服一号", "marketing": "市场一号"}


@_acct_dc.dataclass
class LoggedIn:
    home: object  # crm_sheets.home.CrmHome
    name: str
    password: str
    actor: object  # crm_sheets.permissions.Actor


@_acct_pytest.fixture
def crm_state_dir(tmp_path, monkeypatch):
    state = tmp_path / "_crm_state"
    monkeypatch.setenv("CRM_STATE_DIR", str(state))
    monkeypatch.delenv("CRM_HOME", raising=False)
    return state


@_acct_pytest.fixture
def logged_in_home(tmp_path, crm_state_dir):
    from crm_sheets import accounts
    from crm_sheets.home import create_home
    from crm_sheets.permissions import current_actor

    def make(role: str = "admin", *, name: str | None = None, display_name: str | None = None,
             lang: str = "zh", home=None) -> LoggedIn:
        if home is None:
            home = create_home(tmp_path / "home", lang=lang)
            accounts.create_first_admin(home, "admin", ACCOUNT_PASSWORD,
                                        display_name=ACCOUNT_DISPLAY["admin"])
        if name is None:
            name = "admin" if role == "admin" else f"{role}1"
        if name != "admin":
            accounts.add_user(home, name, role, by="admin", password=ACCOUNT_PASSWORD,
                              display_name=display_name or (
                                  ACCOUNT_DISPLAY[role] if name == f"{role}1" else name))
        accounts.login(home, name, ACCOUNT_PASSWORD)
        return LoggedIn(home=home, name=name, password=ACCOUNT_PASSWORD,
                        actor=current_actor(home))

    return make
# ==== end of accounts & permissions fixtures ==========================================


# ==== engine core fixtures (issue 2; owner: core) =========================================
# Every test runs with a private state folder in tmp (never the real profile) and without
# CRM_HOME / CRM_TODAY from the environment.
@_acct_pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CRM_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("CRM_HOME", raising=False)
    monkeypatch.delenv("CRM_TODAY", raising=False)
