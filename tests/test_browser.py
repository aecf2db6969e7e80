"""The rendered month in a real browser (headless Chromium): what a stakeholder actually sees.

Uses Debian's ``chromium`` through Playwright (``executable_path``), since Playwright's own
browser download does not work offline; ``make browser`` installs it in CI.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis import report
from analysis.data import load_source
from analysis.i18n import fmt_money, fmt_number
from report_month import SAMPLE, rendered_month

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
        "--disable-extensions", "--no-first-run"]


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> dict:
    return rendered_month(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        # A missing browser must not turn the check green: `make test` installs it first.
        pytest.fail("Debian's chromium is not installed: run `make browser` (or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _pages(month) -> list[Path]:
    out = month["out"]
    return [out / "index.html", *sorted(month["month_dir"].glob("*.html")), *sorted(out.glob("experiments/*/index.html"))]


def _open(browser, path: Path, width: int = 1200):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"network request: {r.url}")
            if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def test_every_page_loads_offline_without_errors_and_every_image_shows(month, browser):
    for path in _pages(month):
        page, problems = _open(browser, path)
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
        page.close()
        assert problems == [], f"{path.name}: {problems}"
        assert all(done and width > 0 for done, width, _ in images), f"{path.name}: an image did not load"
        assert all(len(alt) > 10 for _, _, alt in images), f"{path.name}: an image lacks alt text"
    assert len(list(month["month_dir"].glob("*.html"))) >= 2


def test_no_code_cells_or_prompts_are_visible(month, browser):
    for path in _pages(month):
        page, _ = _open(browser, path)
        n_code = page.locator(".jp-InputArea, .jp-InputPrompt, .jp-OutputPrompt, .jp-Cell-inputWrapper, pre code").count()
        text = page.inner_text("body")
        page.close()
        assert n_code == 0, path.name
        for marker in ("import ", "In [", "Out[", "NBVAL", "show_figure(", "load_source("):
            assert marker not in text, f"{path.name} shows {marker!r}"


def test_key_numbers_are_on_the_landing_page(month, browser):
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    cur = {n["concept"]: n["value"] for n in m["numbers"] if n["page"] == "index.html"}
    page, _ = _open(browser, month["landing"])
    text = page.inner_text("body")
    links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    for label, value in (("Active customers", fmt_number(cur["customers_active"])),
                         ("New customers", fmt_number(cur["customers_new"])),
                         ("Lost customers this month", fmt_number(cur["customers_lost"])),
                         ("Returned customers", fmt_number(cur["customers_returned"])),
                         ("Churned customers", fmt_number(cur["customers_churned"])),
                         ("Revenue this month", fmt_money(cur["revenue"])),
                         ("Average purchase", fmt_money(cur["avg_purchase"], decimals=2))):
        assert label in text and value in text, (label, value)
    assert "vs previous month" in text and "Run details" in text
    for href in links:  # every link on the landing page leads to a published page (or a section of it)
        if href.startswith("#"):
            assert f"id='{href[1:]}'" in month["landing"].read_text(encoding="utf-8"), href
            continue
        assert (month["landing"].parent / href).resolve().is_file(), href


def test_pages_show_no_personal_data_from_the_input(month, browser):
    pii = report.pii_values(load_source(SAMPLE, as_of="2026-10-31"))
    for path in _pages(month):
        page, _ = _open(browser, path)
        shown = page.inner_text("body")
        page.close()
        assert report.find_pii(f"<p>{shown}</p>", pii) == [], path.name


def test_pages_fit_a_phone_screen(month, browser):
    for path in _pages(month):
        page, _ = _open(browser, path, width=390)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.close()
        assert overflow <= 1, f"{path.name} scrolls sideways by {overflow}px on a phone"
