"""HTML for the report: Jinja templates with autoescape on, and an HTML-parser pass over finished pages.

Text from the data reaches pages only through a template, which escapes it; markup that is already
safe (a pandas table, a rendered section) is wrapped in :class:`markupsafe.Markup` where it is made.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from markupsafe import Markup, escape

__all__ = ["Markup", "escape", "environment", "macros", "render", "template_file", "with_toc", "TOC_MIN_SECTIONS"]


def template_file(name: str) -> Path:
    """A file of the package's ``templates`` folder."""
    return Path(str(resources.files("analysis") / "templates" / name))


@lru_cache(maxsize=None)
def environment():
    """The report's Jinja environment (``jinja2.Environment``): the package's templates, every value escaped
    unless it is Markup."""
    import jinja2  # local: heavy import, kept off the start-up path

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_file(""))), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def macros(name: str):
    """The macros of template ``name`` (``macros("site.html.j2").nav(...)``); each returns Markup."""
    return environment().get_template(name).module


def render(name: str, **values) -> Markup:
    """Template ``name`` rendered with ``values`` (text escaped, Markup kept)."""
    return Markup(environment().get_template(name).render(**values))


#: A page gets a table of contents from this many ``<h2>`` sections on.
TOC_MIN_SECTIONS = 4


def _slug(text: str) -> str:
    """``"Who to contact first?"`` -> ``"who-to-contact-first"`` (ASCII, for a link target).

    >>> _slug("Asiakkaat, jotka lähtevät?")
    'asiakkaat-jotka-lahtevat'
    """
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "section"


class _Headings(HTMLParser):
    """Where a page's ``<h1>`` ends and its ``<h2>`` start, with their text and ids (offsets into the page).

    An ``<h2>`` right inside a ``<section>`` or ``<div>`` with an id (nothing but white space between)
    is that section's heading: a link goes to the section. Text in ``<a class="anchor-link">`` (nbconvert's
    pilcrow) is not part of a heading.
    """

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.page = page
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", page)]
        self.ids: set[str] = set()
        self.h1_end: int | None = None
        self.h2: list[dict] = []
        self._heading: dict | None = None
        self._anchor_depth = 0
        self._opened_id: str | None = None  # the id of a section/div start tag with nothing after it yet

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def handle_starttag(self, tag, attrs):
        at = self._offset()
        found = dict(attrs)
        own_id = found.get("id")
        if own_id:
            self.ids.add(own_id)
        if tag == "h2" and self._heading is None:
            self._heading = {"start": at, "id": own_id, "section": self._opened_id, "text": []}
        elif self._heading is not None and tag == "a" and (
                self._anchor_depth or "anchor-link" in (found.get("class") or "").split()):
            self._anchor_depth += 1
        self._opened_id = own_id if tag in ("section", "div") and own_id else None

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "a" and self._anchor_depth:
            self._anchor_depth -= 1
        self._opened_id = None

    def handle_endtag(self, tag):
        self._opened_id = None
        if tag == "h1" and self.h1_end is None:
            self.h1_end = self.page.index(">", self._offset()) + 1
        elif tag == "a" and self._anchor_depth:
            self._anchor_depth -= 1
        elif tag == "h2" and self._heading is not None:
            h, self._heading = self._heading, None
            h["text"] = " ".join("".join(h["text"]).split())
            self.h2.append(h)

    def handle_data(self, data):
        if data.strip():
            self._opened_id = None
        if self._heading is not None and not self._anchor_depth:
            self._heading["text"].append(data)


def with_toc(page: str, title: str) -> str:
    """``page`` with an id on every ``<h2>`` and, when it has :data:`TOC_MIN_SECTIONS` or more, a
    ``<nav class='kanta-toc'>`` list of them after the page's ``<h1>`` (plain links, no script).

    The page is read with an HTML parser (headings in a style sheet or a comment are no headings); only
    the ids and the list are added, every other byte stays as it was.

    >>> sections = "".join(f"<h2>Part {i}</h2><p>text</p>" for i in range(4))
    >>> out = with_toc(f"<main><h1>Title</h1>{sections}</main>", "On this page")
    >>> out.count("<a href='#part-"), "<h2 id='part-3'>" in out, out.index("kanta-toc") > out.index("</h1>")
    (4, True, True)
    >>> with_toc("<h1>T</h1><h2>Only one</h2>", "On this page")
    "<h1>T</h1><h2 id='only-one'>Only one</h2>"
    >>> with_toc("<section id='glossary'><h2>Words</h2></section>", "On this page")
    "<section id='glossary'><h2>Words</h2></section>"
    """
    parsed = _Headings(page)
    parsed.feed(page)
    parsed.close()
    taken = set(parsed.ids)
    entries, inserts = [], []
    for h in parsed.h2:
        target = h["id"] or h["section"]
        if target is None:
            base = target = _slug(h["text"])
            n = 2
            while target in taken:
                target, n = f"{base}-{n}", n + 1
            taken.add(target)
            inserts.append((h["start"] + len("<h2"), Markup(" id='{}'").format(target)))
        entries.append((target, h["text"]))
    if len(entries) >= TOC_MIN_SECTIONS:
        at = parsed.h1_end if parsed.h1_end is not None else (parsed.h2[0]["start"] if parsed.h2 else len(page))
        inserts.append((at, macros("site.html.j2").toc(title, entries)))
    out, last = [], 0
    for at, text in sorted(inserts, key=lambda x: x[0]):
        out += [page[last:at], str(text)]
        last = at
    return "".join(out) + page[last:]
