"""The contacts page's analysis in one call: complaint handling and effect, marketing pressure, satisfaction.

What cannot be estimated on valid data becomes a finding and its part is None.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.contacts.complaints import ComplaintHandling, complaint_effect, complaint_handling
from analysis.contacts.dropout import DropoutModel, start_dropout_model
from analysis.contacts.pressure import MarketingPressure, customers_over_threshold, marketing_pressure
from analysis.contacts.satisfaction import contact_counts, contact_frequency, nps_retention, satisfaction_by
from analysis.contacts.table import open_source, require_contacts
from analysis.findings import Estimation


@dataclass
class ContactModels:
    """The month's drop-out model (complaint states and marketing pressure) and its marketing-pressure threshold,
    fitted once a month (:func:`contact_models`): the customer base keeps them, and the contacts page and the
    contact plan read the same threshold. ``findings`` say why a part is None."""

    model: DropoutModel | None
    pressure: MarketingPressure | None
    findings: list = field(default_factory=list)

    @property
    def threshold(self) -> int | None:
        """Monthly marketing contacts above which leaving grows faster; None without a pressure fit."""
        return None if self.pressure is None else int(self.pressure.threshold)


def contact_models(src, as_of, inactivity_days: int | None) -> ContactModels:
    """Fit the drop-out model and the marketing pressure on it; what valid data defeats is a finding."""
    return start_contact_models(src, as_of, inactivity_days)()


def start_contact_models(src, as_of, inactivity_days: int | None, detach: bool | None = None):
    """:func:`contact_models` begun: returns a function that finishes it. On a big base the drop-out fit runs in a
    child process meanwhile (:func:`analysis.contacts.dropout.start_dropout_model`); the source is read here and
    when finishing, never by the child."""
    est = Estimation()
    affects = ("customers_over_contact_threshold",)
    wait = est.attempt("contacts.dropout", lambda: start_dropout_model(src, as_of, detach=detach), affects=affects)

    def finish() -> ContactModels:
        model = est.attempt("contacts.dropout", wait, affects=affects) if wait is not None else None
        pressure = est.attempt("contacts.pressure", lambda: marketing_pressure(model, src, as_of, inactivity_days),
                               reason="pressure_too_few", affects=affects) if model is not None else None
        return ContactModels(model, pressure, est.findings)

    return finish


@dataclass
class ContactsAnalysis:
    """Everything the contacts page shows; ``None`` parts could not be estimated (see ``findings``)."""

    as_of: pd.Timestamp
    handling: ComplaintHandling
    complaint: DropoutModel | None
    pressure: MarketingPressure | None
    satisfaction: pd.DataFrame
    frequency: dict = field(default_factory=dict)
    customers_over_threshold: int | None = None
    findings: list = field(default_factory=list)
    #: The month's segment settings (lifecycle stage windows) when built from a customer base, for the stages' names.
    segment_settings: object = None
    #: Share still active by NPS group (:func:`nps_retention`; None without a customer base).
    retention_by_nps: pd.DataFrame | None = None

    def numbers(self) -> dict:
        """The key numbers: complaints this month, share resolved at first contact, customers over the threshold."""
        m = self.handling.this_month()
        return {"complaints_month": m["complaints"], "complaints_first_contact_share": m["first_contact_share"],
                "customers_over_contact_threshold": self.customers_over_threshold}

    def summary(self) -> pd.DataFrame:
        rows = dict(self.numbers())
        if self.complaint is not None:
            r = self.complaint.ratios["open"]
            rows.update(complaint_hazard_ratio=r.hazard_ratio, ci_low=r.ci_low, ci_high=r.ci_high)
        if self.pressure is not None:
            rows.update(contact_threshold_per_month=self.pressure.threshold)
        return pd.Series(rows, name="value", dtype="object").to_frame()

    def to_dict(self) -> dict:
        out = {"as_of": str(self.as_of.date()), "numbers": self.numbers(), "handling": self.handling.to_dict(),
               "findings": [f.to_dict() for f in self.findings]}
        if self.complaint is not None:
            r = self.complaint.ratios["open"]
            out["complaint_hazard_ratio"] = {"value": r.hazard_ratio, "ci_low": r.ci_low, "ci_high": r.ci_high}
            out["dropout_model"] = self.complaint.to_dict()
        if self.pressure is not None:
            p = self.pressure
            out["contact_threshold_per_month"] = {"value": p.threshold, "ci_low": p.ci_low, "ci_high": p.ci_high}
            out["marketing_pressure"] = p.to_dict()
        out["satisfaction"] = self.satisfaction.to_dict("records")
        return out


def analyse(source=None, as_of=None, *, base=None, inactivity_days: int | None = None) -> ContactsAnalysis:
    """The contacts page's analysis: complaint handling and effect, marketing pressure, satisfaction, frequency.

    ``base`` (a :class:`analysis.base.state.CustomerBase`) supplies the churn rule, the segments and the month's
    drop-out and pressure fits (:class:`ContactModels`);
    without it the data-driven churn rule is used and the by-segment tables are left empty. What cannot be
    estimated on valid data becomes a finding (``findings``) and its part is None.
    """
    src = base.source if base is not None and source is None else open_source(source, as_of)
    require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    if base is not None:
        inactivity_days = base.settings.inactivity_days
    est = Estimation()
    handling = complaint_handling(src, as_of)
    # the month's fits when the base holds them (computed once, read by the contact plan too)
    fits = getattr(base, "contact_models", None) if base is not None else None
    fits = fits if fits is not None else contact_models(src, as_of, inactivity_days)
    model, pressure = fits.model, fits.pressure
    for f in fits.findings:
        if f.analysis != "contacts.pressure":
            est.add(f)
    effect = est.attempt("contacts.complaints", lambda: complaint_effect(model),
                         reason="complaints_too_few") if model is not None else None
    for f in fits.findings:
        if f.analysis == "contacts.pressure":
            est.add(f)
    over = customers_over_threshold(src, as_of, pressure.threshold) if pressure is not None else None
    groups = None
    frequency = {}
    if base is not None:
        table = base.customers
        counts = contact_counts(src, as_of, table)
        for by in ("abc_class", "lifecycle_stage", "strategy_group"):
            if by in table:
                frequency[by] = contact_frequency(src, as_of, table, by, counts=counts)
        if "abc_class" in table:
            groups = table.set_index(table["customer_id"].astype(str))["abc_class"]
        retention = nps_retention(src, as_of, table, base.settings.inactivity_days)
    else:
        retention = None
    satisfaction = satisfaction_by(src, as_of, groups)
    settings = getattr(base, "segment_settings", None)
    return ContactsAnalysis(as_of, handling, effect, pressure, satisfaction, frequency, over, est.findings, settings,
                            retention)
