"""The checks before any verdict: one variant per customer, sample ratio, finished window, enough customers.

Also finds the control and treatment arms; a one-arm experiment or a group of one is a finding, not a data error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.errors import ModelError, ParameterError
from analysis.stats import SRM_THRESHOLD, plain, srm_test

__all__ = ["Guard", "check_guards", "control_and_treatments", "MIN_CUSTOMERS_TO_ESTIMATE", "SRM_WARNING"]

SRM_WARNING = 0.01  # weaker evidence of a mismatch: the verdict stands, the check reads as a warning
MIN_CUSTOMERS_TO_ESTIMATE = 2  # per arm: fewer leaves no variance to test with (a finding, not a verdict)


# --- guards -----------------------------------------------------------------
@dataclass(frozen=True)
class Guard:
    """One pre-analysis check: its name, whether it passed and the plain facts behind it.

    Names: ``one_variant_per_customer``, ``sample_ratio``, ``window_finished``, ``enough_units``.
    ``passed`` False withholds the verdict; ``warning`` True (only with ``passed``) keeps the verdict
    but the check did not pass cleanly (e.g. a sample ratio mismatch at 0.001 <= p < 0.01), so it
    must never be shown as passed. ``status`` is ``"passed"``, ``"warning"`` or ``"failed"``.
    The report layer says each in the reader's language (:func:`analysis.report.pages.campaign.guard_message`).
    """

    name: str
    passed: bool
    facts: dict = field(default_factory=dict)
    warning: bool = False

    @property
    def status(self) -> str:
        return "failed" if not self.passed else "warning" if self.warning else "passed"

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "status": self.status, "facts": plain(self.facts)}


def control_and_treatments(outcomes: pd.DataFrame, control: str | None, experiment_id: str = "") -> tuple[str, list[str]]:
    """The control arm and the treatment arms; a one-arm experiment is a finding, not an error of the data."""
    counts = outcomes.groupby("variant").size()
    variants = sorted(counts.index)
    if len(variants) < 2:
        only = variants[0] if variants else ""
        raise ModelError(
            f"experiment {experiment_id}: every customer is in variant {only!r}; a comparison needs a control "
            "and a treatment group.", reason="one_arm",
            facts={"experiment": experiment_id, "variant": str(only), "customers": int(counts.sum())})
    if control is None:
        flagged = outcomes.loc[outcomes["is_control"].fillna(False).astype(bool), "variant"].unique() \
            if "is_control" in outcomes else []
        if len(flagged) == 1:
            control = flagged[0]
        else:
            raise ParameterError(
                f"control: could not tell the control arm among {', '.join(variants)} (assignments.is_control "
                "marks none or several); pass control=<variant name>."
            )
    if control not in variants:
        raise ParameterError(f"control: got {control!r}, expected one of the variants {', '.join(variants)}.")
    smallest = counts.idxmin()
    if counts.min() < MIN_CUSTOMERS_TO_ESTIMATE and "customer_id" in outcomes:
        raise ModelError(
            f"experiment {experiment_id}: group {smallest!r} has {int(counts.min())} customers; at least "
            f"{MIN_CUSTOMERS_TO_ESTIMATE} per group are needed to compare the groups.", reason="too_few_customers",
            facts={"experiment": experiment_id, "variant": str(smallest), "customers": int(counts.min()),
                   "minimum": MIN_CUSTOMERS_TO_ESTIMATE})
    return control, [v for v in variants if v != control]


def check_guards(outcomes: pd.DataFrame, as_of, conversion_window_days: int, min_units_per_arm: int = 30,
                 srm_threshold: float = SRM_THRESHOLD, srm_warning: float = SRM_WARNING) -> list[Guard]:
    """Checks that must pass before any verdict: SRM, one variant per customer, finished window, enough units.

    The sample ratio check fails (and withholds the verdict) at ``p < srm_threshold`` (0.001) and
    passes with a warning at ``p < srm_warning`` (0.01).

    Example
    -------
    >>> from analysis.experiments.outcomes import experiment_outcomes
    >>> out = experiment_outcomes("data/sample", "newsletter-2026-09", as_of="2026-10-31")
    >>> [g.name for g in check_guards(out, "2026-10-31", 30) if not g.passed]
    []
    """
    as_of = pd.Timestamp(as_of)
    guards = []
    counts = outcomes.groupby("variant").size()
    dup = outcomes.groupby("customer_id")["variant"].agg(["size", "nunique"])
    n_multi, n_twice = int((dup["nunique"] > 1).sum()), int(((dup["nunique"] == 1) & (dup["size"] > 1)).sum())
    guards.append(Guard("one_variant_per_customer", n_multi == 0 and n_twice == 0,
                        {"n_multi": n_multi, "n_twice": n_twice}))
    shares = outcomes.groupby("variant")["planned_share"].mean() if "planned_share" in outcomes else None
    split = {str(v): int(c) for v, c in counts.items()}
    if shares is None or shares.isna().any():
        guards.append(Guard("sample_ratio", True, {"planned_known": False, "split": split}))
    else:
        srm = srm_test(counts.to_numpy(), shares.reindex(counts.index).to_numpy(), srm_threshold)
        guards.append(Guard("sample_ratio", not srm.mismatch, {
            "planned_known": True, "split": split, "planned": {str(v): float(x) for v, x in shares.items()},
            "p_value": srm.p_value, "threshold": srm_threshold, "warning_threshold": srm_warning},
            warning=not srm.mismatch and srm.p_value < srm_warning))
    after = int((outcomes["assigned_at"] > as_of + pd.Timedelta(days=1)).sum())
    open_ = int((~outcomes["window_complete"]).sum()) - after
    last_end = (outcomes["assigned_at"].max() + pd.Timedelta(days=conversion_window_days)).date()
    guards.append(Guard("window_finished", after == 0 and open_ == 0,
                        {"n_after": after, "n_open": open_, "window_days": int(conversion_window_days),
                         "ends": last_end.isoformat(), "as_of": as_of.date().isoformat()}))
    smallest = counts.idxmin()
    guards.append(Guard("enough_units", int(counts.min()) >= min_units_per_arm,
                        {"variant": str(smallest), "n": int(counts.min()), "min": int(min_units_per_arm)}))
    return guards
