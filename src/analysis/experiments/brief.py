"""A campaign's brief: what the source's optional ``campaigns`` table says about one experiment.

Goal, channel, audience, the declared primary metric and the cost; nothing is assumed when the data has no brief.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

import pandas as pd

from analysis.errors import DataError
from analysis.stats import Result

__all__ = ["CampaignBrief", "campaign_brief"]


@dataclass(frozen=True)
class CampaignBrief(Result):
    """What the source's optional ``campaigns`` table says about one experiment (any field may be missing).

    Text fields (``goal``, ``channel``, ``audience``) are shown as the data has them; a column of the same name
    with a language suffix (``goal_fi``, ``audience_en``) gives the text in that language (``translations``:
    ``(field, language, text)`` triples; :meth:`text_in`). ``cost_fixed`` plus ``cost_per_contact`` times the
    customers contacted is the campaign's cost.
    """

    experiment_id: str
    goal: str | None = None
    channel: str | None = None
    audience: str | None = None
    primary_metric: str | None = None
    cost_fixed: float | None = None
    cost_per_contact: float | None = None
    margin_rate: float | None = None
    translations: tuple = ()

    def text_in(self, name: str, language: str) -> str | None:
        """The text field ``name`` as the data gives it in ``language`` (its ``<name>_<language>`` column), or None.

        >>> CampaignBrief("e", goal="Grow spend", translations=(("goal", "fi", "Kasvata ostoja"),)).text_in("goal", "fi")
        'Kasvata ostoja'
        """
        return next((t for f, lang, t in self.translations if f == name and lang == language), None)

    def cost(self, contacts: int) -> float | None:
        """The campaign's cost for ``contacts`` customers contacted; None when the brief gives no cost."""
        if self.cost_fixed is None and self.cost_per_contact is None:
            return None
        return float((self.cost_fixed or 0.0) + (self.cost_per_contact or 0.0) * contacts)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"value": [getattr(self, f.name) for f in fields(self)]},
                            index=[f.name for f in fields(self)])


_BRIEF_TEXT = ("goal", "channel", "audience", "primary_metric")
_BRIEF_NUMBERS = ("cost_fixed", "cost_per_contact", "margin_rate")
#: A text field in one language: ``goal_fi``, ``audience_en``, ...
_TRANSLATED = re.compile(r"^(goal|channel|audience)_([a-z]{2})$")


def campaign_brief(source, experiment_id: str) -> CampaignBrief | None:
    """The experiment's row of the source's ``campaigns`` table, or None when the source has no brief for it.

    Only the data says what a campaign was for and what it cost; nothing is assumed.

    Example
    -------
    >>> from analysis.data import load_source
    >>> brief = campaign_brief(load_source("data/sample", as_of="2026-10-31"), "reactivation-2026-03")
    >>> brief.primary_metric, brief.cost(contacts=180)
    ('conversion', 390.0)
    """
    if not hasattr(source, "has") or not source.has("campaigns"):
        return None
    cols = set(source.columns("campaigns"))
    rows = source.sql("SELECT * FROM campaigns WHERE CAST(experiment_id AS VARCHAR) = ?", [str(experiment_id)])
    if rows.empty:
        return None
    row = rows.iloc[0]

    def value(name, kind):
        if name not in cols or pd.isna(row[name]):
            return None
        return str(row[name]) if kind is str else float(row[name])

    translations = tuple((m.group(1), m.group(2), value(c, str)) for c in sorted(cols)
                         if (m := _TRANSLATED.match(c)) and value(c, str))
    brief = CampaignBrief(str(experiment_id), **{k: value(k, str) for k in _BRIEF_TEXT},
                          **{k: value(k, float) for k in _BRIEF_NUMBERS}, translations=translations)
    for k in ("cost_fixed", "cost_per_contact"):
        if getattr(brief, k) is not None and getattr(brief, k) < 0:
            raise DataError(f"campaigns.{k}: experiment {experiment_id!r} has {getattr(brief, k)}; expected a cost >= 0.")
    if brief.margin_rate is not None and not 0 < brief.margin_rate <= 1:
        raise DataError(f"campaigns.margin_rate: experiment {experiment_id!r} has {brief.margin_rate}; expected the "
                        "share of sales the company keeps, a number above 0 and at most 1 (e.g. 0.35).")
    if brief.primary_metric is not None:
        metric = brief.primary_metric.strip().lower()
        if metric not in ("conversion", "revenue"):
            raise DataError(f"campaigns.primary_metric: experiment {experiment_id!r} has {brief.primary_metric!r}; "
                            "expected conversion or revenue.")
        brief = replace(brief, primary_metric=metric)
    return brief
