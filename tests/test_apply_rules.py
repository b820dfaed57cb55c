

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
