"""Issue 13.19: small things a person noticed (totp --no-qr text, the demo's problem list)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from crm_sheets.cli import cli


def test_totp_no_qr_does_not_ask_to_scan(logged_in_home, monkeypatch):
    """13.19a: with --no-qr nothing is printed to scan, so the text must not say to scan."""
    li = logged_in_home("sales")
    monkeypatch.setenv("CRM_HOME", str(li.home.root))
    r = CliRunner().invoke(cli, ["user", "totp", "--no-qr"], input="")
    assert "otpauth://" in r.output
    # the random base32 secret in the URI may itself contain "QR": judge the prose only
    prose = re.sub(r"otpauth://\S+|\b[A-Z2-7]{16,}\b", " ", r.output)
    assert "扫描" not in prose and "二维码" not in prose and "QR" not in prose
    assert "手动添加" in r.output
    r = CliRunner().invoke(cli, ["user", "totp"], input="")
    assert "扫描下方二维码" in r.output  # with the QR code printed the scan hint stays


LINE = re.compile(r"^\s+(Customers|Followups)\s+(\d+)\s+(\S+)\s")


def test_demo_problem_list_is_what_validate_finds_after_apply(tmp_path, crm_state_dir):
    """13.19d: the printed list is the findings after the demo's own apply: sorted, the same
    count as `crm validate` straight after, and no problem apply already fixed."""
    home = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", str(home), "--today", "2026-11-28"])
    assert r.exit_code == 0, r.output
    listed = [(m.group(1), int(m.group(2)), m.group(3))
              for m in map(LINE.match, r.output.splitlines()) if m]
    v = CliRunner().invoke(cli, ["validate", str(home / "CRM.xlsx"), "--format", "json",
                                 "--today", "2026-11-28"])
    data = json.loads(v.output)
    found = [(f["sheet"], f["row"], f["code"]) for f in data["findings"]]
    assert len(listed) == len(found) >= 15
    assert sorted(listed) == sorted(found)
    order = {"Customers": 0, "Followups": 1}
    assert listed == sorted(listed, key=lambda x: (order[x[0]], x[1], x[2]))
    assert not [x for x in listed if x[2] == "stage.type_mismatch"]  # apply fixed that one
    assert "apply 已自动修正" in r.output and "stage.type_mismatch" in r.output
    s = data["summary"]
    assert f"{s['errors']} 个错误，{s['warnings']} 个警告" in r.output
