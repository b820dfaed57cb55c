"""Every line a person sees is in the home's language: each command's error paths in a zh home.

The commands run through CliRunner inside a Chinese home (CRM_HOME set, a sales rep logged in for
the refusals) and what they print — click's own usage errors and "Aborted!" included — is
searched for English sentences. Command names, options, paths, quoted values and metavars are
not sentences and are removed first.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from helpers import customer, make_master

from crm_sheets.cli import cli
from crm_sheets.i18n import CLICK_ZH, localize

_NOT_PROSE = [
    re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`|「[^」\n]*」"),  # quoted values
    re.compile(r"\S*[/\\]\S*|\S+\.(?:xlsx|csv|pdf|json)\b"),  # paths and file names
    re.compile(r"(?<!\w)--?[A-Za-z][\w-]*"),  # options
    re.compile(r"\bcrm(?:\s+[a-z][a-z-]*){0,2}"),  # command lines
    re.compile(r"\b[A-Z][A-Z0-9_]+\b|\[[A-Z]+\]"),  # metavars, env vars
]
_SENTENCE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){2,}")


def english_sentences(text: str) -> list[str]:
    for pattern in _NOT_PROSE:
        text = pattern.sub(" ", text)
    return _SENTENCE.findall(text)


def test_the_detector_finds_english_and_ignores_commands():
    assert english_sentences("crm: already a CRM home; refusing to overwrite")
    assert english_sentences("4 rejected, 0 conflicts, see the file")
    assert english_sentences("Aborted!") == []  # one word: covered by its own assertion below
    assert english_sentences("请先登录：crm login --user NAME --password-file FILE") == []
    assert english_sentences("用法： crm validate [OPTIONS] WORKBOOK") == []
    assert english_sentences("找不到 /tmp/some dir/file.xlsx") == []


def test_bilingual_messages_show_the_homes_half():
    assert localize("文件不存在 / no such file: x", "zh") == "文件不存在"
    assert localize("文件不存在 / no such file: x", "en") == "no such file: x"
    assert localize("plain message", "zh") == "plain message"


def test_click_catalogue_covers_what_users_hit():
    for msgid in ("Aborted!", "Missing argument", "No such option {name!r}.", "Usage:",
                  "Error: {message}", "Try '{command} {option}' for help.",
                  "No such command {name!r}.", "Invalid value for {param_hint}: {message}",
                  "{value!r} is not one of {choices}.", "Got unexpected extra argument ({args})"):
        assert re.search(r"[\u4e00-\u9fff]", CLICK_ZH[msgid]), msgid


@pytest.fixture
def zh_home(tmp_path, logged_in_home, monkeypatch):
    admin = logged_in_home("admin")
    home = admin.home
    make_master(home.master, [customer()])
    monkeypatch.setenv("CRM_HOME", str(home.root))
    monkeypatch.chdir(home.root)
    return home


def _error_paths(home, tmp_path) -> list[list[str]]:
    master = str(home.master)
    missing = str(tmp_path / "不存在.xlsx")
    not_xlsx = tmp_path / "notes.txt"
    not_xlsx.write_text("hello", encoding="utf-8")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    pw = tmp_path / "wrong.txt"
    pw.write_text("not the password\n", encoding="utf-8")
    return [
        ["nosuchcommand"],
        ["validate"],
        ["validate", master, "--bogus"],
        ["validate", master, "--format", "xml"],
        ["validate", missing],
        ["validate", str(not_xlsx)],
        ["validate", str(empty)],
        ["validate", master, "--today", "yesterday"],
        ["validate", master, "extra-argument"],
        ["dedupe", missing],
        ["dedupe", master, "--threshold", "many"],
        ["init", str(home.root)],
        ["apply", missing],
        ["query", master, "--industry", "火星采矿"],
        ["query", master, "--not-followed-within", "soon"],
        ["query", master, "--columns", "nosuchcolumn"],
        ["export", master, "--to", str(tmp_path / "out.txt")],
        ["dashboard", master, "--to", str(tmp_path / "d.txt")],
        ["import", missing, master],
        ["views", "merge", master, missing],
        ["views", "merge", master, str(not_xlsx)],
        ["backup", "restore", "no-such-backup"],
        ["user", "add"],
        ["user", "add", "x", "--role", "pirate"],
        ["login", "--user", "admin", "--password-file", str(pw)],
        ["login", "--user", "nobody", "--password-file", str(pw)],
        ["watch", str(tmp_path / "nohome")],
    ]


def test_error_paths_in_a_zh_home_print_no_english(zh_home, tmp_path):
    runner = CliRunner()
    offenders = []
    for args in _error_paths(zh_home, tmp_path):
        res = runner.invoke(cli, args, catch_exceptions=False, prog_name="crm")
        assert res.exit_code in (1, 2), (args, res.exit_code, res.output)
        text = res.output + (res.stderr if res.stderr_bytes is not None else "")
        assert "Traceback" not in text, (args, text)
        found = english_sentences(text)
        if found:
            offenders.append((args, found, text))
    assert offenders == [], "\n\n".join(f"{a}\n{t}" for a, _, t in offenders)


def test_abort_is_in_chinese(zh_home, tmp_path):
    # a prompt answered with end of input: click's "Aborted!"
    res = CliRunner().invoke(cli, ["user", "passwd"], input="")
    assert "Aborted!" not in res.output
    assert res.exit_code != 0


def test_an_english_home_speaks_english(tmp_path, crm_state_dir, monkeypatch):
    from crm_sheets.home import create_home

    home = create_home(tmp_path / "home", lang="en")
    monkeypatch.setenv("CRM_HOME", str(home.root))
    res = CliRunner().invoke(cli, ["validate"])
    assert "Missing argument" in res.output and "缺少" not in res.output
    res = CliRunner().invoke(cli, ["init", str(home.root)])
    assert "already a CRM home" in res.output


def _all_commands():
    import importlib

    import click

    from crm_sheets.cli import CrmGroup

    for module in set(CrmGroup.lazy.values()):
        importlib.import_module(f"crm_sheets.cli.{module}")

    def walk(cmd, path):
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])

    yield from walk(cli, [])


def test_every_help_text_has_a_chinese_entry():
    from crm_sheets.cli.help_zh import HELP_ZH

    missing = []
    for path, cmd in _all_commands():
        texts = [cmd.__dict__.get("_help_en", cmd.help)]
        texts += [p.__dict__.get("_help_en", getattr(p, "help", None)) for p in cmd.params]
        missing += [(path, x) for x in texts if x and x not in HELP_ZH]
    assert missing == []


def test_help_pages_of_a_zh_home_are_chinese(zh_home):
    runner = CliRunner()
    offenders = []
    for path, _cmd in _all_commands():
        res = runner.invoke(cli, [*path, "--help"], prog_name="crm")
        assert res.exit_code == 0, (path, res.output)
        # option metavars (TEXT, INTEGER) and choices are removed by the detector
        found = english_sentences(res.output)
        if found:
            offenders.append((path, found))
    assert offenders == []
