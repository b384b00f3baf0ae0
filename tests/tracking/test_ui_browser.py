"""The MLflow UI in a real browser: headless Chromium (Debian's package, driven through its own
chromedriver; nothing is downloaded) against `regseg ui` serving a small smoke-like store
tracked through the worker's Tracker: 4 arms x 2 seeds.

Checks what a user sees on opening the URL `regseg ui` prints: the runs table in MLflow's
"Model training" mode (not the GenAI overview), the 4 arms as rows, each arm expanding to its
2 seed runs, and the arm's aggregate (mean best mIoU^R) in the column the README says to add.
Screenshots go to the test's tmp dir. Without Chromium the test skips; under CI=true it fails
(``tools/ensure-chromium`` installs it).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from _tracking_helpers import UiServer

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
GROUP = "ui_smoke"
ARMS = ("exp48_decoder14", "exp48_decoder26", "exp30_decoder14", "exp30_decoder26")
#: best_mIoU_reduced per (arm, seed); each arm's mean has two decimals (what the table shows)
REDUCED = {arm: (60.5 + 2 * i, 62.0 + 2 * i) for i, arm in enumerate(ARMS)}
METRIC_COLUMN = "best_mIoU_reduced"
#: what the README tells a user to change in "Columns": the aggregate in, empty attributes out
ADD_COLUMNS = (METRIC_COLUMN, "best_mIoU_reduced_n", "best_mIoU_reduced_ci95_low",
               "best_mIoU_reduced_ci95_high")
DROP_COLUMNS = ("Dataset", "Source", "Models")
WAIT_S = 60


def _browser_or_skip():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        reason = f"no browser for the UI test: {', '.join(missing)} (run tools/ensure-chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _track_store(uri: str, artifact_root: Path, make_job, train_config) -> None:
    """4 arms x 2 seeds through the worker's calls: create, log the final metrics, finish."""
    from mlflow.entities import Metric

    from orchestrator.tracking import Tracker

    tracker = Tracker(uri, artifact_root=artifact_root)
    for arm in ARMS:
        for seed, reduced in enumerate(REDUCED[arm]):
            cfg = train_config.model_copy(update={"model_name": arm, "seed": seed})
            job = make_job(config=cfg.model_dump(mode="json"), run_hash=cfg.run_hash(),
                           group=GROUP, spec_name="smoke")
            run_id = tracker.ensure_run(job)
            curve = [Metric("mIoU_reduced", reduced - 3 + e, 0, e) for e in range(4)]
            tracker.client.log_batch(run_id, metrics=curve + [
                Metric("best_mIoU_reduced", reduced, 0, 3),
                Metric("best_mIoU", reduced - 4, 0, 3)])
            tracker.finish_run(run_id, "FINISHED")


@pytest.fixture
def browser(tmp_path):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1700,900", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(arg)
    # An explicit driver path: selenium-manager never looks for (or downloads) a browser.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.25).until(
        condition, message=f"the UI never showed {what}")


def _run_name_cells(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, '[role="gridcell"][col-id$="Run Name`"]')


def _name(cell) -> str:
    """The run name in a Run Name cell (its link; the cell also holds the colour swatch)."""
    from selenium.webdriver.common.by import By

    links = cell.find_elements(By.TAG_NAME, "a")
    return links[0].text.strip() if links else ""


def _shown_names(driver) -> set[str]:
    return {_name(cell) for cell in _run_name_cells(driver)}


def _toggle_column(driver, name: str) -> None:
    """Columns -> search -> click ``name`` (ticks or unticks it), as a user does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.XPATH, "//button[normalize-space()='Columns']").click()
    search = _wait(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, "input[placeholder='Search columns']"), "the column search")
    search.send_keys(name)
    node = _wait(driver, lambda d: d.find_element(  # a node of the column tree
        By.XPATH, f"//*[contains(@class, 'tree-title')][normalize-space()='{name}']"),
        f"the column {name} in the Columns menu")
    node.click()
    search.send_keys(Keys.ESCAPE)


def _tidy(driver) -> None:
    """Close the assistant panel, set the columns, and widen Run Name so names are not cut."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    for close in driver.find_elements(By.CSS_SELECTOR,
                                      "button[data-component-id$='chat_panel.close']"):
        close.click()
    for name in DROP_COLUMNS + ADD_COLUMNS:
        _toggle_column(driver, name)
    handle = driver.find_element(
        By.CSS_SELECTOR, '[role="columnheader"][col-id$="Run Name`"] .ag-header-cell-resize')
    ActionChains(driver).drag_and_drop_by_offset(handle, 110, 0).perform()


def _cell(driver, row_id: str, column: str) -> str:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(
        By.CSS_SELECTOR, f'[role="row"][row-id="{row_id}"] [col-id$="{column}`"]')
    return " ".join(c.text.strip() for c in cells).strip()


def _row_id(cell) -> str:
    from selenium.webdriver.common.by import By

    return cell.find_element(By.XPATH, "./ancestor::*[@role='row'][1]").get_attribute("row-id")


def test_runs_table_shows_arms_with_seeds_and_the_aggregate(tmp_path, make_job, train_config,
                                                            browser):
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _track_store(uri, tmp_path / "mlartifacts", make_job, train_config)
    tracked = time.monotonic()
    server = UiServer(tracking_uri=uri, home=tmp_path / "home", port=_free_port(),
                      log_path=tmp_path / "ui.log").start()
    served = time.monotonic()
    try:
        runs_url = server.printed[f"Runs of regseg/{GROUP}"]
        assert runs_url.endswith("?workflowType=machine_learning")
        assert server.printed["All experiments"] == f"{server.url}/#/experiments"
        browser.get(runs_url)
        _wait(browser, lambda d: set(ARMS) <= _shown_names(d), "the 4 arms")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Run Name" in body and "Model training" in body
        assert "/runs" in browser.current_url and "workflowType=machine_learning" in \
            browser.current_url
        assert _shown_names(browser) == set(ARMS)  # seeds folded under their arm
        browser.save_screenshot(str(tmp_path / "runs_table.png"))

        _tidy(browser)
        for cell in _run_name_cells(browser):
            cell.find_element(By.CSS_SELECTOR, "button").click()  # the arm's expander
        seeds = {f"{arm} · s{seed}" for arm in ARMS for seed in (0, 1)}
        _wait(browser, lambda d: seeds <= _shown_names(d), "the 8 seed runs under their arms")
        shown = {}
        for cell in _run_name_cells(browser):
            shown[_name(cell)] = _cell(browser, _row_id(cell), METRIC_COLUMN)
        browser.save_screenshot(str(tmp_path / "runs_table_expanded.png"))
        browser.find_element(By.XPATH, "//input[@value='CHART']/ancestor::label").click()
        _wait(browser, lambda d: d.find_elements(
            By.CSS_SELECTOR, "[data-testid='experiment-view-compare-runs-card']"), "the charts")
        browser.save_screenshot(str(tmp_path / "chart_view.png"))
    finally:
        server.stop()
    for arm in ARMS:
        mean = sum(REDUCED[arm]) / 2
        assert shown[arm] == f"{mean:g}", (arm, shown)
        for seed, value in enumerate(REDUCED[arm]):
            assert shown[f"{arm} · s{seed}"] == f"{value:g}", (arm, seed, shown)
    print(f"UI test: {time.monotonic() - started:.1f} s (store {tracked - started:.1f} s, "
          f"regseg ui {served - tracked:.1f} s, browser {time.monotonic() - served:.1f} s); "
          f"screenshots in {tmp_path}")


def _free_port() -> int:
    from orchestrator.tracking.server import free_port

    return free_port()
