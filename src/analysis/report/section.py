"""One page pattern: a :class:`Section` is what one notebook section shows, built from results, shown once.

A page method returns a Section of headings, paragraphs, tables, figures, key numbers and findings in
order. In a notebook it displays itself (figures as ordinary image outputs with title and alt text,
tables with the small-group footnote, key numbers and findings recorded for the manifest); in a test it
is plain data (:meth:`Section.texts`, :attr:`Section.parts`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.findings import Finding
from analysis.report.display import heading, say, show_figure
from analysis.report.numbers import KeyNumber, record, record_details, record_verdict, show_finding, show_numbers
from analysis.report.pii import show_group_table

__all__ = ["Section"]


@dataclass
class Section:
    """What one notebook section shows, in order: headings, paragraphs, tables, figures, key numbers, findings.

    Displayed in a notebook (``_ipython_display_``) it shows its parts with :mod:`analysis.report.display`
    and records key numbers and findings with :mod:`analysis.report.numbers`; built without a
    notebook it is plain data for tests (``texts()``).
    """

    language: str
    parts: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> "Section":
        self.parts.append(("heading", text, level))
        return self

    def text(self, text: str | None) -> "Section":
        if text:
            self.parts.append(("text", text))
        return self

    def table(self, df: pd.DataFrame, caption: str | None = None, index: bool = False) -> "Section":
        self.parts.append(("table", df, caption, index))
        return self

    def figure(self, ax, title: str, alt: str) -> "Section":
        self.parts.append(("figure", ax.figure, title, alt))
        return self

    def numbers(self, numbers: list[KeyNumber]) -> "Section":
        if numbers:
            self.parts.append(("numbers", list(numbers)))
        return self

    def record(self, numbers: list[KeyNumber]) -> "Section":
        """Record key numbers for the manifest without a card (numbers a sentence states, or the rest of a list)."""
        if numbers:
            self.parts.append(("record", list(numbers)))
        return self

    def details(self, details: dict) -> "Section":
        """Record the language-free numbers behind the sentences and tables for the manifest (shows nothing)."""
        if details:
            self.parts.append(("details", dict(details)))
        return self

    def finding(self, finding: Finding) -> "Section":
        self.parts.append(("finding", finding))
        return self

    def verdict(self, experiment_id: str, code: str) -> "Section":
        """Record the page's verdict code for the manifest (shows nothing)."""
        self.parts.append(("verdict", experiment_id, code))
        return self

    def texts(self) -> list[str]:
        """The headings and paragraphs as plain strings (for tests and logs)."""
        return [p[1] for p in self.parts if p[0] in ("heading", "text")]

    def __bool__(self) -> bool:
        return bool(self.parts)

    def _ipython_display_(self) -> None:
        for kind, *rest in self.parts:
            if kind == "heading":
                heading(rest[0], rest[1])
            elif kind == "text":
                say(rest[0])
            elif kind == "table":
                show_group_table(rest[0], rest[1], self.language, index=rest[2])  # with the footnote when small groups are blank
            elif kind == "figure":
                show_figure(*rest)
            elif kind == "numbers":
                show_numbers(rest[0], self.language)
            elif kind == "finding":
                show_finding(rest[0], self.language)
            elif kind == "record":
                record(rest[0])
            elif kind == "verdict":
                record_verdict(*rest)
            elif kind == "details":
                record_details(rest[0])
