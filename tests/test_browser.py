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
from analysis.report.text import fmt_money, fmt_number
from analysis.report.site import TOC_MIN_SECTIONS
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


def _open(browser, path: Path, width: int = 1280, media: str = "screen"):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.emulate_media(media=media)
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


#: Screen widths (a laptop, a phone) and the printable width of an A4 page at 96 px/inch
#: (210 mm less 2 x 12 mm margins); print is checked with the print style sheet applied.
VIEWS = (("screen", 1280), ("screen", 390), ("print", 703))

#: Every table either fits the width or sits in a box that scrolls sideways (on paper: fits).
CUT_OFF_TABLES = """print => {
  const vw = document.documentElement.clientWidth, bad = [];
  const inside = r => r.left >= -1 && r.right <= vw + 1;
  for (const t of document.querySelectorAll('table')) {
    if (t.getClientRects().length === 0) continue;  // not shown (e.g. hidden in print)
    if (inside(t.getBoundingClientRect())) continue;
    let el = t.parentElement, scrolls = false;
    for (; el && el !== document.body; el = el.parentElement) {
      const x = getComputedStyle(el).overflowX;
      if (x === 'auto' || x === 'scroll') { scrolls = inside(el.getBoundingClientRect()); break; }
    }
    if (print || !scrolls) bad.push((t.querySelector('th, td') || t).innerText.slice(0, 40));
  }
  return bad;
}"""

PAGE_FACTS = """() => ({
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  toc: [...document.querySelectorAll('nav.kanta-toc a')].map(a => a.getAttribute('href')),
  h2: [...document.querySelectorAll('main h2')].filter(h => h.getClientRects().length)
        .map(h => h.id || h.parentElement.id),
  wideImages: [...document.querySelectorAll('img')].filter(i => i.getClientRects().length
                 && i.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length,
  shownNav: [...document.querySelectorAll('nav.kanta-nav, nav.kanta-toc')].filter(n => n.getClientRects().length).length,
})"""


def test_every_page_reads_on_a_laptop_a_phone_and_paper(month, browser):
    """1280 px, 390 px and A4 print: no console errors, no cut-off table column, no image wider
    than the page, a table of contents whose links all land on a heading, no navigation on paper."""
    for path in _pages(month):
        for media, width in VIEWS:
            page, problems = _open(browser, path, width=width, media=media)
            cut = page.evaluate(CUT_OFF_TABLES, media == "print")
            facts = page.evaluate(PAGE_FACTS)
            targets = {h: page.evaluate("id => document.getElementById(id) !== null", h[1:]) for h in facts["toc"]}
            page.close()
            where = f"{path.relative_to(month['out'])} at {width}px {media}"
            assert problems == [], f"{where}: {problems}"
            assert cut == [], f"{where}: table columns cut off in tables starting {cut}"
            assert facts["wideImages"] == 0, f"{where}: an image is wider than the page"
            assert all(h.startswith("#") and ok for h, ok in targets.items()), f"{where}: ToC links {targets}"
            if media == "print":
                assert facts["shownNav"] == 0, f"{where}: navigation is printed"
                continue
            assert facts["overflow"] <= 1, f"{where}: the page scrolls sideways by {facts['overflow']}px"
            if len(facts["h2"]) >= TOC_MIN_SECTIONS:  # a long page lists its sections at the top
                assert [h[1:] for h in facts["toc"]] == facts["h2"], f"{where}: ToC does not match the sections"


def test_every_page_of_the_month_links_to_the_others(month, browser):
    month_dir = month["month_dir"]
    notebook_pages = sorted(p for p in month_dir.glob("*.html") if p.name != "index.html")
    assert notebook_pages
    for path in notebook_pages + sorted(month["out"].glob("experiments/*/index.html")):
        page, _ = _open(browser, path)
        hrefs = page.eval_on_selector_all("nav.kanta-nav a", "els => els.map(e => e.getAttribute('href'))")
        page.close()
        targets = {(path.parent / h).resolve() for h in hrefs}
        assert all(t.is_file() for t in targets), f"{path.name}: {hrefs}"
        assert month["out"] / "index.html" in targets and month_dir / "index.html" in targets, path.name
        if path.parent == month_dir:  # the month's notebook pages: every other page of the month, no self-link
            assert {p for p in notebook_pages if p != path} <= targets and path not in targets, path.name


def test_the_cut_off_check_finds_cut_off_columns(browser):
    """The check above is not vacuous: a wide table in a clipping box is found, a scrolling box
    is readable on screen, and on paper only a table that fits counts."""
    row = "<tr>" + "".join(f"<td>column&nbsp;number&nbsp;{i}</td>" for i in range(12)) + "</tr>"
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.set_content(f"<div style='overflow:hidden'><table>{row}</table></div>"
                     f"<div style='overflow-x:auto'><table>{row}</table></div>")
    assert len(page.evaluate(CUT_OFF_TABLES, False)) == 1
    assert len(page.evaluate(CUT_OFF_TABLES, True)) == 2
    page.close()
