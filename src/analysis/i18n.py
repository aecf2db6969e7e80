"""One source of report strings in English and Finnish, and number formats per language.

Strings live in ``strings/<domain>.json`` as ``{"key": {"en": "...", "fi": "..."}}``;
a notebook asks ``Text("clv", language)("key", n=...)`` and never holds its own copy.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from functools import lru_cache
from importlib import resources

from analysis.errors import ParameterError

LANGUAGES = ("en", "fi")
NBSP = "\u00a0"  # keeps "1 234 €" on one line


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ParameterError(f"language: got {language!r}, expected one of {', '.join(LANGUAGES)}.")
    return language


@lru_cache(maxsize=None)
def _strings(domain: str) -> dict:
    path = resources.files("analysis") / "strings" / f"{domain}.json"
    if not path.is_file():
        raise ParameterError(f"strings: no string file for domain {domain!r} (expected strings/{domain}.json).")
    return json.loads(path.read_text(encoding="utf-8"))


class Text:
    """Look up report strings of one domain in one language.

    Example
    -------
    >>> tx = Text("common", "fi")
    >>> tx("run_details")
    'Ajon tiedot'
    """

    def __init__(self, domain: str, language: str = "en"):
        self.domain = domain
        self.language = check_language(language)
        self._table = {**_strings("common"), **_strings(domain)}

    def __call__(self, key: str, **values) -> str:
        try:
            entry = self._table[key]
        except KeyError:
            raise ParameterError(f"strings/{self.domain}.json: no string {key!r}.") from None
        template = entry.get(self.language) or entry["en"]
        return template.format(**values) if values else template

    def has(self, key: str) -> bool:
        return key in self._table

    # number formats bound to this language, so notebooks write tx.money(x)
    def number(self, x, decimals: int = 0) -> str:
        return fmt_number(x, self.language, decimals)

    def money(self, x, decimals: int = 0) -> str:
        return fmt_money(x, self.language, decimals)

    def pct(self, x, decimals: int = 1, signed: bool = False) -> str:
        return fmt_pct(x, self.language, decimals, signed)

    def date(self, d) -> str:
        return fmt_date(d, self.language)


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_number(x, language: str = "en", decimals: int = 0, signed: bool = False) -> str:
    """Format a number: ``1,234.5`` in English, ``1 234,5`` in Finnish."""
    if _is_missing(x):
        return "–"
    x = 0.0 if round(x, decimals) == 0 else x  # no "-0.00"
    s = f"{x:+,.{decimals}f}" if signed else f"{x:,.{decimals}f}"
    if language == "fi":
        s = s.replace(",", NBSP).replace(".", ",").replace("-", "−")
    return s


def fmt_money(x, language: str = "en", decimals: int = 0, signed: bool = False) -> str:
    """Format euros: ``€1,234`` in English, ``1 234 €`` in Finnish (symbol after the number)."""
    if _is_missing(x):
        return "–"
    if language == "fi":
        return fmt_number(x, "fi", decimals, signed) + NBSP + "€"
    sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
    return f"{sign}€{abs(x):,.{decimals}f}"


def fmt_pct(x, language: str = "en", decimals: int = 1, signed: bool = False) -> str:
    """Format a share (0.123) as a percentage: ``12.3%`` / ``12,3 %``."""
    if _is_missing(x):
        return "–"
    body = fmt_number(100 * x, language, decimals, signed)
    return body + (NBSP + "%" if language == "fi" else "%")


def fmt_date(d, language: str = "en") -> str:
    """Format a date: ``2026-10-31`` in English (ISO), ``31.10.2026`` in Finnish."""
    if _is_missing(d):
        return "–"
    if not isinstance(d, (_dt.date, _dt.datetime)):
        import pandas as pd

        d = pd.Timestamp(d)
    return f"{d.day}.{d.month}.{d.year}" if language == "fi" else d.strftime("%Y-%m-%d")
