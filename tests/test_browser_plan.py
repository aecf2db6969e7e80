"""The landing page's plan parts read on a phone and on paper: no date or word broken over two lines.

Uses Debian's ``chromium`` through Playwright, as tests/test_browser.py does, on the two-month publication of
:mod:`plan_months` (cheap: one tiny notebook).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plan_months import published_two_months

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
        "--disable-extensions", "--no-first-run"]

#: Every place where a text node's characters move to a new line between two non-space characters (a break
#: inside a word or a date); a break after a hyphen between letters ("held-|out") is a normal line break.
BROKEN_JS = """(selector) => {
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    const r = document.createRange();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = walker.nextNode())) {
      const t = n.textContent; let prevTop = null;
      for (let i = 0; i < t.length; i++) {
        r.setStart(n, i); r.setEnd(n, i + 1);
        const rects = r.getClientRects(); if (!rects.length) continue;
        const top = Math.round(rects[0].top);
        const hyphenBreak = t[i - 1] === '-' && !/\\d/.test(t[i]);
        if (prevTop !== null && top > prevTop + 2 && /\\S/.test(t[i - 1]) && /\\S/.test(t[i]) && !hyphenBreak)
          out.push(t.slice(Math.max(0, i - 12), i) + '|' + t.slice(i, i + 12));
        prevTop = top;
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make browser` (or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.mark.parametrize("width, media", [(390, "screen"), (320, "screen"), (718, "print")])
def test_no_date_or_word_of_the_landing_breaks_over_two_lines(tmp_path_factory, browser, width, media):
    out = published_two_months(tmp_path_factory)["out"]
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.emulate_media(media=media)
        page.goto((out / "2026-10" / "index.html").as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        broken = page.evaluate(BROKEN_JS, "main > p, .kanta-glance, .kanta-actions, .kanta-label, .kanta-value, "
                                          ".kanta-change, #glossary p")
        assert broken == [], broken
    finally:
        page.close()
