"""One call for the churn notebook: everything the churn page shows, computed once for one ``as_of``.

Parts that cannot be estimated on valid data degrade to a :class:`~analysis.findings.Finding`; the rest is still there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from analysis.churn.drivers import ChurnCox, early_behaviour, early_categories, fit_churn_cox
from analysis.churn.kaplan_meier import (MIN_GROUP_CUSTOMERS, GroupSurvival, KaplanMeierResult, kaplan_meier,
                                         kaplan_meier_by_group)
from analysis.churn.results import json_value, summary_html
from analysis.churn.retention import RetentionKPIs, cohort_retention, retention_kpis
from analysis.churn.risk import churn_risk
from analysis.churn.rule import (ATTRIBUTES, ChurnDefinition, as_of_date, churn_table, define_churn, gap_table,
                                 purchase_days, source_at)
from analysis.errors import ModelError, ParameterError
from analysis.findings import Estimation, Finding


def _churn_basis(source_or_path, as_of, inactivity_days, method: str = "auto"):
    """What every churn summary starts from: the source, purchase days, their gaps, the rule and the duration table."""
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of)
    gaps = gap_table(src, as_of)  # once, in DuckDB: the rule, the KPIs and the risk list all read them
    definition = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method=method)
    return src, as_of, days, gaps, definition, churn_table(src, as_of, definition=definition, days=days)


@dataclass(frozen=True)
class ChurnAnalysis:
    """Everything the churn page shows, computed once for one ``as_of``.

    ``by_group`` and ``cox`` are None when they could not be estimated on this data; ``findings``
    then says why (:class:`~analysis.findings.Finding`, analyses ``"survival.groups"`` and
    ``"survival.cox"``), and everything else is still there.
    """

    as_of: pd.Timestamp
    definition: ChurnDefinition
    table: pd.DataFrame = field(repr=False)
    overall: KaplanMeierResult = field(repr=False)
    by_group: GroupSurvival | None = field(repr=False)
    cox: ChurnCox | None = field(repr=False)
    kpis: RetentionKPIs = field(repr=False)
    cohorts: pd.DataFrame = field(repr=False)
    risk: pd.DataFrame = field(repr=False)
    findings: tuple = ()

    def finding(self, analysis: str) -> Finding | None:
        """The finding of one part (``"survival.groups"``, ``"survival.cox"``), or None when it was estimated."""
        return next((f for f in self.findings if f.analysis == analysis), None)

    def summary(self) -> pd.DataFrame:
        """The page's numbers in one column (language-free names)."""
        k, km = self.kpis, self.overall
        s12 = km.survival_at_months((12,))[12]
        rows = {"inactivity_days": self.definition.inactivity_days, "customers": km.n, "churned": km.n_events,
                "median_lifetime_days": km.median, "survival_12m": s12, "retention_rate": k.retention_rate,
                "monthly_churn_rate": k.monthly_churn_rate, "annual_churn_rate": k.annual_churn_rate,
                "customers_due_next_month": self.risk.attrs.get("n_due"),
                "logrank_p": self.by_group.multivariate["p"] if self.by_group is not None else None,
                "cox_concordance": self.cox.cox.concordance if self.cox is not None else None}
        return pd.Series(rows, name="value", dtype="object").to_frame()

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.date().isoformat(),
                **{k: json_value(v) for k, v in self.summary()["value"].items()},
                "definition": self.definition.to_dict(), "overall": self.overall.to_dict(),
                "by_group": self.by_group.to_dict() if self.by_group is not None else None,
                "cox": self.cox.to_dict() if self.cox is not None else None,
                "kpis": self.kpis.to_dict(), "findings": [f.to_dict() for f in self.findings]}

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), f"Churn analysis as of {self.as_of.date()}")


def analyse(source_or_path=None, as_of=None, inactivity_days: int | None = None, *, base=None,
            group_by: str | None = "acquisition_channel", cox_attributes: Sequence[str] = ATTRIBUTES,
            window_days: int = 90, ph_action: str = "note", risk_top: int = 20, use_clv: bool = True,
            min_group_size: int = MIN_GROUP_CUSTOMERS, min_cohort_size: int = 20) -> ChurnAnalysis:
    """Run the whole churn analysis: definition, curves, log-rank, Cox, KPIs, cohorts, "due next month" list.

    Parameters
    ----------
    source_or_path, as_of, inactivity_days
        The data and the rule, when no ``base`` is given.
    base : analysis.base.state.CustomerBase, optional
        The month's customer state. Given, the analysis uses its source, ``as_of``, its one churn
        rule (``settings.inactivity_days``: silent that many days or more = churned, the same
        customers as ``base.customers.is_churned``), its month flows and its CLV values, so the
        churn page agrees with every other page.
    group_by : str or None
        Attribute for the curves by group.
    min_group_size : int
        Groups with fewer customers are pooled (:func:`kaplan_meier_by_group`).

    The curves by group and the Cox model degrade: when they cannot be estimated, they are None
    and :attr:`ChurnAnalysis.findings` says why.

    Example
    -------
    >>> a = analyse("data/sample", "2026-10-31", use_clv=False)
    >>> a.definition.inactivity_days, a.findings
    (150, ())
    """
    value = None
    flows = None
    if base is not None:
        source_or_path, as_of, inactivity_days = base.source, base.as_of, base.settings.inactivity_days
        flows = base.flows
        if base.estimated("clv"):
            value = base.customers.loc[base.customers["is_buyer"], ["customer_id", "clv", "p_alive"]]
    elif source_or_path is None:
        raise ParameterError("analyse: give a source or the month's customer base (base=...).")
    method = "inactivity" if base is not None else "auto"
    src, as_of, days, gaps, definition, table = _churn_basis(source_or_path, as_of, inactivity_days, method)
    if base is not None and getattr(base, "churn_rule", None) is not None:
        definition = base.churn_rule  # the month's rule as the base decided it (days and how), not decided again
    elif base is not None and not definition.data_driven:
        # a state saved without its rule holds only the number; say "data-driven" when that is where it came from
        try:
            derived = define_churn(src, as_of, None, days=days, gaps=gaps, method="inactivity")
        except ModelError:  # no repeat purchases: the number can only have been given
            derived = definition
        if derived.inactivity_days == definition.inactivity_days:
            definition = derived
    overall = kaplan_meier(table["duration_days"], table["churned"])
    estimation = Estimation()
    by_group = None
    if group_by:
        def compare_groups():
            if group_by not in table.columns:  # valid data without that attribute: nothing to compare by
                available = ", ".join(a for a in ATTRIBUTES if a in table.columns) or "none"
                raise ModelError(f"group_by: {group_by!r} is not a customer attribute in this data "
                                 f"(available: {available}).", reason="attribute_missing",
                                 facts={"attribute": group_by, "available": available})
            return kaplan_meier_by_group(table["duration_days"], table["churned"], table[group_by],
                                         group_by=group_by, min_group_size=min_group_size)

        by_group = estimation.attempt("survival.groups", compare_groups, reason="groups_not_comparable")
    early = early_behaviour(days, (30, window_days)).merge(early_categories(src, as_of, (30, window_days)),
                                                            on="customer_id", how="left")
    cox = estimation.attempt("survival.cox", lambda: fit_churn_cox(
        table, early, as_of, window_days=window_days, attributes=cox_attributes, ph_action=ph_action),
        reason="cox_not_estimable")
    n_activity = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    kpis = retention_kpis(src, as_of, n_activity, days=days, flows=flows, gaps=gaps)
    cohorts = cohort_retention(src, as_of, days=days, min_cohort_size=min_cohort_size)
    risk = churn_risk(src, as_of, n_activity, days=days, gaps=gaps, top=risk_top, value=value,
                      use_clv=use_clv and base is None)
    return ChurnAnalysis(as_of=as_of, definition=definition, table=table, overall=overall, by_group=by_group,
                         cox=cox, kpis=kpis, cohorts=cohorts, risk=risk, findings=tuple(estimation.findings))
