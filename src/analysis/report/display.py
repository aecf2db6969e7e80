"""Show narrative, tables and figures in a notebook so the rendered HTML reads well.

Notebooks call these instead of printing: headings and sentences become Markdown,
tables become compact responsive HTML, figures become embedded PNG images with a
title and alt text (self-contained HTML that can be e-mailed and read offline). The markup is in
``templates/display.html.j2`` (autoescape on).
"""
from __future__ import annotations

import base64
import html
import io
from typing import Mapping

import pandas as pd

from analysis.report.markup import Markup, macros


def _display(obj) -> None:
    from IPython.display import display  # local: heavy import, kept off the start-up path

    display(obj)


def plain_markdown(text: str) -> str:
    """Narrative as Markdown that cannot carry HTML: ``<``, ``>`` and ``&`` are escaped (ids and names from
    the data reach sentences; an experiment called ``<img onerror=...>`` must stay text). Markdown's own
    emphasis and lists still work.

    Example
    -------
    >>> plain_markdown("**Experiment** <img src=x onerror=alert(1)>")
    '**Experiment** &lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(str(text), quote=False)


def heading(text: str, level: int = 2) -> None:
    """Show a heading (level 1-4); the text is never read as HTML."""
    from IPython.display import Markdown  # local: heavy import, kept off the start-up path

    _display(Markdown("#" * level + " " + plain_markdown(text)))


def say(text: str) -> None:
    """Show a paragraph of narrative (Markdown, never HTML)."""
    from IPython.display import Markdown  # local: heavy import, kept off the start-up path

    _display(Markdown(plain_markdown(text)))


def table_html(df: pd.DataFrame, caption: str | None = None, index: bool = False) -> str:
    """A DataFrame as a compact HTML table that scrolls sideways on a phone (cells escaped by pandas).

    >>> out = table_html(pd.DataFrame({"a": ["<b>"]}), caption="A & B")
    >>> out.count("&lt;b&gt;"), "A &amp; B" in out
    (1, True)
    """
    body = Markup(df.to_html(index=index, border=0, classes="kanta-table", escape=True, na_rep="–"))
    return str(macros("display.html.j2").table(body, caption))


def show_table(df: pd.DataFrame, caption: str | None = None, index: bool = False) -> None:
    """Show a DataFrame as a captioned table (format numbers before, in the report's language)."""
    from IPython.display import HTML  # local: heavy import, kept off the start-up path

    _display(HTML(table_html(df, caption, index)))


def figure_html(fig, title: str, alt: str, dpi: int = 100) -> str:
    """A matplotlib figure as an embedded PNG ``<figure>`` with title and alt text."""
    return str(macros("display.html.j2").figure(figure_png(fig, dpi), title, alt))


def figure_png(fig, dpi: int = 100) -> str:
    """A matplotlib figure as base64 PNG (what an image output carries)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def show_figure(fig, title: str, alt: str) -> None:
    """Show a figure as an ordinary image output (``image/png``, so JupyterLab, ``nbconvert --to markdown``
    and the report all see an image) with its title and alt text in the output's metadata (the report's
    template turns them into ``<figure>``, ``alt`` and ``<figcaption>``), then close it so it is not drawn twice.
    """
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    _display_raw({"image/png": figure_png(fig), "text/plain": str(title)},
                 metadata={"image/png": {"alt": str(alt), "title": str(title)}})
    plt.close(fig)


def _display_raw(data: dict, metadata: dict) -> None:
    from IPython.display import display  # local: heavy import, kept off the start-up path

    display(data, raw=True, metadata=metadata)


def key_numbers_html(items: Mapping[str, tuple[str, str | None]]) -> str:
    """Cards of key numbers: ``{label: (value, change_text_or_None)}``.

    >>> "<div class='kanta-value' style='font-size:1.4em;font-weight:bold'>&lt;5</div>" in key_numbers_html(
    ...     {"Customers": ("<5", None)})
    True
    """
    return str(macros("display.html.j2").cards([(label, value, change) for label, (value, change) in items.items()]))


def show_key_numbers(items: Mapping[str, tuple[str, str | None]]) -> None:
    """Show key numbers as cards, most important first."""
    from IPython.display import HTML  # local: heavy import, kept off the start-up path

    _display(HTML(key_numbers_html(items)))
