"""The portal in a real browser (issue 14): Debian's chromium + chromedriver driven by
selenium against `crm serve` started here on 127.0.0.1 and a free port. A sales rep logs
in with password and TOTP, downloads their workbook, edits a phone and adds a follow-up
with openpyxl, uploads it, sees the landed change on the result page; the master holds it.
Screenshots of the result page and a manager's dashboard are taken (and copied to
$CRM_PORTAL_SCREENSHOTS, e.g. docs/img, when set).

This test fails, never skips, without chromium: .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyotp
from test_views_support import LI_CUSTOMER, PW, edit_view, make_view_home

from crm_sheets import accounts
from crm_sheets.reader import load

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LI = LI_CUSTOMER["customer_id"]
NEW_PHONE = "13955556666"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"crm serve exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("crm serve did not answer /healthz in time")


def _browser(download_dir: Path):  # noqa: ANN202 - a selenium WebDriver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists(), "chromium is missing: apt-get install chromium chromium-driver"
    assert Path(CHROMEDRIVER).exists(), "chromedriver is missing: apt-get install chromium-driver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=1280,1500", "--lang=zh-CN"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False,
                                           "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(download_dir)})
    driver.profile_dir = profile  # type: ignore[attr-defined]
    return driver


def _wait_file(folder: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.xlsx") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no download in {folder}: {list(folder.iterdir())}")


def _screenshot(driver, path: Path, max_height: int = 4000) -> None:  # noqa: ANN001
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(800, height + 40), max_height))
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    target = os.environ.get("CRM_PORTAL_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _wait_for(driver, element_id: str, timeout: float = 90):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.ID, element_id)))


def _login(driver, base: str, user: str, code: str | None = None) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver.get(base + "login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PW)
    driver.find_element(By.ID, "login").click()
    if code is not None:
        _wait_for(driver, "code")
        assert "两步验证" in driver.page_source
        driver.find_element(By.ID, "code").send_keys(code)
        driver.find_element(By.ID, "verify").click()
    _wait_for(driver, "upload")
    assert driver.current_url.endswith("/workbook"), driver.page_source[:2000]


def test_rep_round_trip_in_a_real_browser(tmp_path, crm_state_dir):
    from selenium.webdriver.common.by import By

    vh = make_view_home(tmp_path, n=60)
    e = accounts.enrol_totp(vh.home, "li")
    totp = pyotp.TOTP(e.secret)
    accounts.confirm_totp(vh.home, "li", totp.now())
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, CRM_STATE_DIR=str(crm_state_dir), CRM_TODAY="2024-06-01")
    crm = shutil.which("crm", path=str(Path(sys.executable).parent)) or shutil.which("crm")
    assert crm, "the crm command is not installed in this environment"
    proc = subprocess.Popen([crm, "serve", str(vh.home.root),
                             "--port", str(port), "--no-watch"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver = None
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        _wait_up(base, proc)
        driver = _browser(downloads)
        # log in: password, then the next TOTP code (the enrolment used the current one)
        _login(driver, base, "li", totp.at(int(time.time()) + 30))
        assert "我的工作簿" in driver.page_source
        driver.find_element(By.ID, "download").click()
        copy = _wait_file(downloads)
        edit_view(copy, "客户", {(LI, "联系方式"): NEW_PHONE})
        edit_view(copy, "跟进记录", append=[{"客户编号": LI, "沟通开始": "2024-05-31 09:30",
                                          "沟通方式": "拜访", "沟通内容": "浏览器测试的拜访"}])
        driver.get(base + "workbook")
        driver.find_element(By.ID, "file").send_keys(str(copy))
        driver.find_element(By.ID, "upload").click()
        landed = _wait_for(driver, "landed").text
        assert NEW_PHONE in landed and LI in landed and "联系方式" in landed, \
            driver.page_source[:3000]
        assert "已写入主工作簿" in driver.find_element(By.ID, "summary").text
        _screenshot(driver, tmp_path / "portal-result.png")
        wb = load(vh.master)
        assert wb.customers_by_id()[LI].values["phone"] == NEW_PHONE
        assert any(f.values.get("content") == "浏览器测试的拜访" for f in wb.followups.records)
        # a manager's dashboard, drawn in the page
        driver.delete_all_cookies()
        _login(driver, base, "boss")
        driver.get(base + "dashboard")
        _wait_for(driver, "dash-xlsx")
        assert driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert driver.find_elements(By.CSS_SELECTOR, ".kpi")
        _screenshot(driver, tmp_path / "portal-dashboard.png", max_height=1700)
    finally:
        if driver is not None:
            driver.quit()
            shutil.rmtree(driver.profile_dir, ignore_errors=True)
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode is not None
    assert "门户已停止" in out or proc.returncode in (0, -15), out
