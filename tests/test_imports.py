"""No hidden fixed costs (issue 15): a command imports only the libraries it uses.

Each case runs the real CLI in a fresh interpreter and looks at `sys.modules` when it
ends, so a heavy import that creeps back at module level (the template writer in
`crm validate`, pydantic for the field tables, the duplicate scan in `crm query`) fails
here instead of silently costing every run its start-up time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TODAY, customer, followup, make_master

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
sys.argv = ["crm", *sys.argv[1:]]
from crm_sheets.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""

# Not needed by any of the commands below (the Issues sheet, dropdown synonyms of the
# template, pydantic models, apply's rules and write path, python-stdnum, email_validator
# and phonenumbers past their fast pre-checks and tables, pandas).
NEVER = (
    "xlsxwriter",
    "pydantic",
    "pandas",
    "stdnum",
    "email_validator",
    "phonenumbers",
    "crm_sheets.template",
    "crm_sheets.issues_sheet",
    "crm_sheets.apply.rules",
    "crm_sheets.apply.run",
    "crm_sheets.writeback.xlsxpatch",
    "crm_sheets.writeback.safe",
    "crm_sheets.accounts",
    "crm_sheets.watch",
    "crm_sheets.importer",
)
# A report reads columns: no rules, no duplicate scan.
REPORTS_NEVER = (
    *NEVER,
    "crm_sheets.validation",
    "crm_sheets.rules",
    "crm_sheets.checkcache",
    "crm_sheets.dedupe",
    "rapidfuzz",
    "opencc",
)


def imported(args: list[str], cwd: Path) -> set[str]:
    env = {
        **os.environ,
        "CRM_STATE_DIR": str(cwd / "state"),
        "CRM_TODAY": TODAY.isoformat(),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CRM_HOME", None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def loaded(mods: set[str], names: tuple[str, ...]) -> list[str]:
    """The `names` imported, as a package or any module inside it."""
    return [n for n in names if n in mods or any(m.startswith(n + ".") for m in mods)]


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("imports")
    custs = [
        customer(
            customer_id=f"C2024031500{i}",
            name=f"华东精密机械{i}有限公司",
            phone=f"1380013800{i}",
            email=f"li{i}@example.com",
        )
        for i in range(1, 6)
    ]
    return make_master(d / "CRM.xlsx", custs, [followup(customer_id="C20240315001")])


@pytest.mark.parametrize("args", [["validate", "--format", "json"], ["validate"]])
def test_validate_imports(master: Path, args: list[str]) -> None:
    mods = imported([*args, master.name], master.parent)
    assert "crm_sheets.validation" in mods  # the probe did run the check
    assert loaded(mods, NEVER) == []


@pytest.mark.parametrize(
    "args", [["query", "--stage", "意向"], ["query", "--format", "json"], ["dashboard"]]
)
def test_report_imports(master: Path, args: list[str]) -> None:
    mods = imported([*args, master.name], master.parent)
    assert "crm_sheets.report_load" in mods
    allowed = ("xlsxwriter",) if args[0] == "dashboard" else ()  # the dashboard writes an xlsx
    assert loaded(mods, tuple(n for n in REPORTS_NEVER if n not in allowed)) == []


def test_schema_without_pydantic() -> None:
    code = "import sys, crm_sheets.model, crm_sheets.schema; print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "False"


def test_field_tables_as_pydantic_made_them() -> None:
    """The dataclass tables equal the pydantic models they replace: the repr of every
    field (key, types, width as a float, aliases as a tuple…) hashed at 68d0256."""
    import hashlib

    from crm_sheets import schema as s

    text = "\n".join(repr(x) for x in (s.CUSTOMERS, s.FOLLOWUPS, s.NOT_DUPLICATES, *s.SETTINGS))
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "cb3320c6f466e2918bb6e84c0657fa41fc84ef15c483aa203f22798f60165c08"
    )
    f = s.Field(key="k", zh="键", en="Key", width=9, aliases=["a"])  # type: ignore[arg-type]
    assert (f.width, f.aliases, f.kind) == (9.0, ("a",), s.Kind.TEXT)
    assert f == s.Field(key="k", zh="键", en="Key", width=9.0, aliases=("a",))
    assert hash(f) == hash(s.Field(key="k", zh="键", en="Key", width=9.0, aliases=("a",)))
    with pytest.raises(TypeError):  # keyword-only, as a pydantic model
        s.Field("k", "键", "Key")  # type: ignore[misc]
    with pytest.raises(AttributeError):  # frozen
        f.key = "x"  # type: ignore[misc]


def _tables(seed: int, count: int):
    """Random query tables: CJK and Latin words, empty cells, right-aligned columns, cells
    up to and past a column's 40 cells, a few with spaces rich would treat differently."""
    import random

    rng = random.Random(seed)
    alpha = "abcXYZ012 -._/()（）客户编号名称制造广东省深圳市意向李娜€é"

    def text(n: int) -> str:
        t = "".join(rng.choice(alpha) for _ in range(n))
        return " ".join(t.split()) if rng.random() < 0.99 else t

    for _ in range(count):
        nc = rng.randint(1, 12)
        headers = [text(rng.randint(1, 8)) or "h" for _ in range(nc)]
        right = [rng.random() < 0.3 for _ in range(nc)]
        sizes = [0, 0, 1, 3, 8, 15, 20] * 30 + [41, 30]
        rows = [[text(rng.choice(sizes)) for _ in range(nc)] for _ in range(rng.randint(0, 30))]
        yield headers, rows, right


def test_query_table_without_rich_is_richs(capsys: pytest.CaptureFixture[str]) -> None:
    """The piped query table drawn without rich is character for character rich's."""
    from rich.cells import cell_len

    from crm_sheets.cli.report_cmds import plain_table, rich_table

    drawn = 0
    for headers, rows, right in _tables(15, 1500):
        widths = [
            max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)
        ]
        plain = plain_table(headers, rows, widths, right)
        if plain is None:
            continue
        rich_table(headers, rows, widths, right, terminal=False)
        assert capsys.readouterr().out == plain, (headers, rows, right)
        drawn += 1
    assert drawn > 500  # most tables take the plain path
    assert plain_table(["a"], [["x" * 41]], [41], [False]) is None  # rich folds it
    assert plain_table(["a"], [[" x"]], [2], [False]) is None


def test_query_table_imports(master: Path) -> None:
    mods = imported(["query", master.name], master.parent)
    assert loaded(mods, ("rich.console", "rich.table")) == []


_HELP = """
import importlib, json, sys
from crm_sheets.cli import CrmGroup, cli
if sys.argv[1] == "imported":  # every command module imported: click's own listing
    for mod in sorted(set(CrmGroup.lazy.values())):
        importlib.import_module(f"crm_sheets.cli.{mod}")
from click.testing import CliRunner
out = CliRunner().invoke(cli, ["--help"], prog_name="crm").output
print(json.dumps([out, sorted(m for m in sys.modules if m.startswith("crm_sheets.cli."))]))
"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_help_lists_commands_without_importing_them(tmp_path: Path, lang: str) -> None:
    (tmp_path / ".crm-home.json").write_text(json.dumps({"lang": lang}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CRM_HOME", None)

    def run(mode: str) -> tuple[str, list[str]]:
        out = subprocess.run(
            [sys.executable, "-c", _HELP, mode],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return tuple(json.loads(out.stdout.strip().splitlines()[-1]))

    listed, mods = run("listed")
    full, _ = run("imported")
    assert listed == full
    assert ("validate" in listed) and (("检查工作簿" in listed) == (lang == "zh"))
    assert mods == ["crm_sheets.cli.app", "crm_sheets.cli.help_zh"]


def test_mobile_prefix_table_is_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """data/cn_mobile_prefixes.json gives phonenumbers' verdict on every prefix 10000-19999
    (regenerate with `crm_sheets.phones.mobile_prefix_table()` after a phonenumbers update:
    until then the table is not used and every prefix is asked, as before)."""
    from crm_sheets import phones

    table = json.loads(phones._PREFIXES.read_text(encoding="utf-8"))
    if table["phonenumbers"] != phones._phonenumbers().__version__:
        pytest.skip("table made for another phonenumbers: unused (regenerate it)")
    assert phones._known_prefixes() == table["valid"]
    assert table == phones.mobile_prefix_table()
    for i in range(10000):
        p = f"1{i:04d}"
        assert phones._mobile_prefix_ok.__wrapped__(p) == phones._ask_prefix(p), p
    cells = [
        "13800138000",
        "12012345678",
        "19912345678",
        "14000000000",
        "138 0013 8000",
        "+8613800138000",
        "0086 138-0013-8000",
        "13800138000/13900139000",
        "1380013800",
        "１３８００１３８０００",
        "010-12345678",
        "+1 202 555 0143",
        "400-800-8888",
    ]
    new = [phones.is_valid(c) for c in cells]
    phones._mobile_prefix_ok.cache_clear()
    monkeypatch.setattr(phones, "_known_prefixes", lambda: None)
    assert [phones.is_valid(c) for c in cells] == new
    phones._mobile_prefix_ok.cache_clear()


def test_mobile_prefix_table_only_for_its_release(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_sheets import phones

    monkeypatch.setattr(phones, "_installed_phonenumbers", lambda: "0.0.1")
    phones._known_prefixes.cache_clear()
    try:
        assert phones._known_prefixes() is None
    finally:
        phones._known_prefixes.cache_clear()
