

def test_first_apply_on_an_existing_sheet_does_not_flag_every_follow_up_late(tmp_path):
    """recorded-at is stamped on the first apply; those rows were not entered late."""
    import datetime as _dt

    from helpers import customer as _customer
    from helpers import followup as _followup
    from helpers import make_master as _make_master

    from crm_sheets import load as _load
    from crm_sheets import validate as _validate
    from crm_sheets.apply import run_apply as _run_apply

    path = _make_master(tmp_path / "old.xlsx", [_customer()], [_followup(recorded_at=None)])
    out = _run_apply(path, today=_dt.date(2024, 6, 1))
    assert not [f for f in out.findings if f.code == "followup.late_entry"]
    wb = _load(path)
    assert wb.followups.records[0].values["recorded_at"] is not None
    assert "baseline_at" in wb.meta
    assert not [f for f in _validate(wb, today=_dt.date(2024, 6, 1)).findings if f.code == "followup.late_entry"]


def test_second_apply_leaves_updated_at_alone_even_for_a_duplicated_id(tmp_path):
    """Issue 13.8: `crm apply` rewrote 更新时间 on rows where nothing changed, every run, on the
    two rows of a duplicated customer ID. No change, no write, no audit line."""
    from click.testing import CliRunner
    from helpers import customer as _customer
    from helpers import make_master as _make_master

    from crm_sheets import audit as _audit
    from crm_sheets import load as _load
    from crm_sheets.apply.state import state_dir_for
    from crm_sheets.cli import cli as _cli

    twin = "C20240315009"
    path = _make_master(tmp_path / "CRM.xlsx", [
        _customer(customer_id="C20240315001"),
        _customer(customer_id=twin, name="上海甲乙贸易有限公司", phone="13900139001",
                  email="a@jiayi.cn"),
        _customer(customer_id=twin, name="广州丙丁物流有限公司", phone="13700137002",
                  email="b@bingding.cn"),
    ], [])

    def apply_at(hour: int):
        r = CliRunner().invoke(_cli, ["apply", str(path), "--today", "2024-06-01"],
                               env={"CRM_NOW": f"2024-06-01T{hour:02d}:00:00"})
        assert r.exit_code in (0, 1), r.output
        return [e for e in _audit.read(state_dir_for(path)) if e.get("column") == "updated_at"]

    first = apply_at(8)
    assert len(first) == 3  # every profile is stamped once
    stamped = [c.values["updated_at"] for c in _load(path).customers.records]
    assert apply_at(9) == first  # the second run: no updated_at line at all
    assert [c.values["updated_at"] for c in _load(path).customers.records] == stamped
