"""`crm serve` options: one line in the home's language for bad usage (exit 2), and the
watcher runs inside the server and stops with it."""

from __future__ import annotations

import time

from click.testing import CliRunner
from test_views_support import make_view_home

from crm_sheets.cli import cli


def test_serve_bad_options_are_one_line(tmp_path, crm_state_dir):
    vh = make_view_home(tmp_path, n=5)
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", str(vh.home.root), "--cert", str(tmp_path / "c.pem")])
    assert r.exit_code == 2 and "--cert 和 --key 需要一起给出" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(cli, ["serve", str(vh.home.root), "--cert", str(tmp_path / "c.pem"),
                            "--key", str(tmp_path / "k.pem")])
    assert r.exit_code == 2 and "找不到文件" in r.output
    r = runner.invoke(cli, ["serve", str(tmp_path / "nohome")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_app_runs_the_watcher_and_stops_it(tmp_path, crm_state_dir, monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from crm_sheets.portal import create_app
    from crm_sheets.watch import WatchOptions

    vh = make_view_home(tmp_path, n=5)
    app = create_app(vh.home.root, watch=True,
                     watch_options=WatchOptions(polling=True, interval=0.2, debounce=0.2))
    with TestClient(app) as c:
        assert c.get("/healthz").text == "ok"
        deadline = time.monotonic() + 20
        thread = None
        while time.monotonic() < deadline:
            import threading

            thread = next((t for t in threading.enumerate() if t.name == "crm-watch"), None)
            if thread is not None:
                break
            time.sleep(0.1)
        assert thread is not None and thread.is_alive()
    thread.join(15)
    assert not thread.is_alive()  # the lifespan's end stopped the watcher
