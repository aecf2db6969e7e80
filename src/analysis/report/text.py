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

import pandas as pd

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


class LanguageFormats:
    """Number formats bound to ``self.language``, so notebooks and plots write ``tx.money(x)``."""

    language: str

    def number(self, x, decimals: int = 0) -> str:
        return fmt_number(x, self.language, decimals)

    def money(self, x, decimals: int = 0, case: str | None = None) -> str:
        return fmt_money(x, self.language, decimals, case=case)

    def pct(self, x, decimals: int = 1, signed: bool = False, case: str | None = None) -> str:
        return fmt_pct(x, self.language, decimals, signed, case=case)

    def date(self, d) -> str:
        return fmt_date(d, self.language)


class Text(LanguageFormats):
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

    def count(self, n, noun_key: str) -> str:
        """``n`` with the noun of ``noun_key`` (``"singular|plural"``; Finnish: nominative|partitive) in agreement.

        >>> Text("customer_base", "fi").count(1024, "noun_customer"), Text("customer_base", "en").count(1, "noun_customer")
        ('1\xa0024 asiakasta', '1 customer')
        """
        return fmt_count(n, self(noun_key), self.language)


#: Finnish case endings written after a unit symbol with a colon ("18 %:iin", "500 €:n"), by case:
#: the endings of "prosentti" and "euro" (Kielitoimisto: a symbol takes the ending of the word read aloud).
#: Nominative and partitive ("18 %", "kasvoi 18 %") take no ending.
CASE_ENDINGS = {
    "%": {"genitive": "n", "illative": "iin", "elative": "sta", "inessive": "ssa", "adessive": "lla",
          "ablative": "lta", "allative": "lle", "translative": "ksi", "essive": "na"},
    "€": {"genitive": "n", "illative": "oon", "elative": "sta", "inessive": "ssa", "adessive": "lla",
          "ablative": "lta", "allative": "lle", "translative": "ksi", "essive": "na"},
}


def with_case(formatted: str, language: str, case: str | None) -> str:
    """``formatted`` (ending in ``%`` or ``€``) with the Finnish case ending of the unit; unchanged in English.

    Example
    -------
    >>> with_case("18 %", "fi", "illative"), with_case("9,0 %", "fi", "elative"), with_case("18%", "en", "illative")
    ('18 %:iin', '9,0 %:sta', '18%')
    """
    if case is None or language != "fi" or formatted == "–" or case in ("nominative", "partitive"):
        return formatted
    unit = formatted[-1]
    try:
        return f"{formatted}:{CASE_ENDINGS[unit][case]}"
    except KeyError:
        raise ParameterError(f"case: got {case!r} after {unit!r}, expected one of "
                             f"{', '.join(CASE_ENDINGS.get(unit, {}))} (or nominative, partitive).") from None


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


def fmt_money(x, language: str = "en", decimals: int = 0, signed: bool = False, case: str | None = None) -> str:
    """Format euros: ``€1,234`` in English, ``1 234 €`` in Finnish (symbol after the number).

    ``case`` (Finnish only) adds the case ending: ``fmt_money(500, "fi", case="genitive")`` is ``500 €:n``.
    """
    if _is_missing(x):
        return "–"
    if language == "fi":
        return with_case(fmt_number(x, "fi", decimals, signed) + NBSP + "€", language, case)
    sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
    return f"{sign}€{abs(x):,.{decimals}f}"


def fmt_pct(x, language: str = "en", decimals: int = 1, signed: bool = False, case: str | None = None) -> str:
    """Format a share (0.123) as a percentage: ``12.3%`` / ``12,3 %``.

    ``case`` (Finnish only) adds the case ending: "nousi 18 %:iin" is ``fmt_pct(0.18, "fi", 0, case="illative")``.
    """
    if _is_missing(x):
        return "–"
    body = fmt_number(100 * x, language, decimals, signed)
    return with_case(body + (NBSP + "%" if language == "fi" else "%"), language, case)


def fmt_count(n, forms: str, language: str = "en") -> str:
    """A count with its noun: ``forms`` is ``"singular|plural"`` (Finnish: ``"asiakas|asiakasta"``, the
    partitive singular that follows every number but one).

    Example
    -------
    >>> fmt_count(1, "asiakas|asiakasta", "fi"), fmt_count(1024, "asiakas|asiakasta", "fi").replace(NBSP, " ")
    ('1 asiakas', '1 024 asiakasta')
    >>> fmt_count(0, "customer|customers"), fmt_count(2.0, "customer|customers")
    ('0 customers', '2 customers')
    """
    one, _, many = forms.partition("|")
    if _is_missing(n):
        return f"– {many or one}"
    return f"{fmt_number(n, language)} {one if n == 1 else (many or one)}"


def fmt_date(d, language: str = "en") -> str:
    """Format a date: ``2026-10-31`` in English (ISO), ``31.10.2026`` in Finnish."""
    if _is_missing(d):
        return "–"
    if not isinstance(d, (_dt.date, _dt.datetime)):

        d = pd.Timestamp(d)
    return f"{d.day}.{d.month}.{d.year}" if language == "fi" else d.strftime("%Y-%m-%d")
