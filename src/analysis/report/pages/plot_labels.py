"""The words of a figure: every plot takes ``labels``, a :class:`~analysis.report.text.Text` or a plain mapping.

:func:`plot_words` turns either into one callable with number formats, so a plot reads ``w("x_clv")``
and ``w.money(v)`` whichever it was given (a mapping may name its ``"language"``; English otherwise).
"""
from __future__ import annotations

from typing import Mapping

from analysis.report.text import LanguageFormats, Text

__all__ = ["PlotWords", "plot_words"]


class PlotWords(LanguageFormats):
    """A mapping of words with :class:`Text`'s call and number formats (for plots given plain labels).

    Example
    -------
    >>> w = PlotWords({"x_clv": "Value", "language": "fi"})
    >>> w("x_clv"), w.money(1234.5)
    ('Value', '1\\xa0234\\xa0€')
    """

    def __init__(self, words: Mapping[str, str]):
        self.language = str(words.get("language", "en"))
        self._words = {k: str(v) for k, v in words.items() if k != "language"}

    def __call__(self, key: str, **values) -> str:
        template = self._words[key]
        return template.format(**values) if values else template

    def has(self, key: str) -> bool:
        return key in self._words


def plot_words(labels: Text | Mapping[str, str]) -> Text | PlotWords:
    """``labels`` as something a plot can call for words and number formats."""
    return labels if isinstance(labels, (Text, PlotWords)) else PlotWords(labels)
