"""The concepts the report counts and values: one id, one unit, one rule each.

Every page, headline, CLI output and the glossary refer to these ids, so a word carries one
number across the month. The rules themselves are computed in :mod:`analysis.base.state`;
their words (labels and glossary definitions) live in ``strings/concepts.json``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: Units a key number can have; the report layer formats each one (no unit is guessed from a name).
UNITS = ("count", "money", "money_cents", "share", "number", "days")


@dataclass(frozen=True)
class Concept:
    """One concept: a stable snake_case id, its unit, and the settings its rule depends on.

    ``settings`` names the customer-base settings (e.g. ``inactivity_days``) that the glossary
    fills into the definition, so the reader sees the threshold and dates actually used.
    """

    id: str
    unit: str
    settings: tuple[str, ...] = ()
    in_glossary: bool = True

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"concept {self.id}: unit {self.unit!r} is not one of {UNITS}")


_ALL = (
    # stocks at as_of (the one churn rule)
    Concept("customers_registered", "count"),
    Concept("customers_buyers", "count"),
    Concept("customers_active", "count", ("inactivity_days",)),
    Concept("customers_churned", "count", ("inactivity_days",)),
    Concept("customers_prospects", "count"),
    # flows of the month
    Concept("customers_new", "count"),
    Concept("customers_lost", "count", ("inactivity_days",)),
    Concept("customers_returned", "count", ("inactivity_days",)),
    # lifecycle stages (one customer, one stage)
    Concept("stage_new", "count", ("new_days",)),
    Concept("stage_active", "count"),
    Concept("stage_recently_returned", "count", ("returned_days", "inactivity_days")),
    Concept("stage_lapsing", "count", ("lapsing_factor", "lapsing_min_days", "p_alive_threshold")),
    Concept("stage_passive", "count", ("inactivity_days",)),
    Concept("stage_prospect", "count"),
    # sales of the month
    Concept("revenue", "money"),
    Concept("avg_purchase", "money_cents"),
    Concept("purchase_frequency", "number"),
    # value (CLV)
    Concept("customer_equity", "money", ("horizon_months", "discount_rate")),
    Concept("customers_valued", "count"),
    Concept("customers_at_risk", "count", ("p_alive_threshold", "inactivity_days")),
    Concept("value_at_risk", "money", ("p_alive_threshold", "horizon_months")),
    Concept("customers_to_contact", "count", ("p_alive_threshold", "contact_p_alive_floor")),
    Concept("a_revenue_share", "share", ("a_share",)),
    Concept("customers_class_a", "count", ("a_share",)),
    Concept("customers_class_b", "count", ("b_share",)),
    Concept("customers_class_c", "count"),
    # retention
    Concept("retention_rate", "share", ("inactivity_days",)),
    Concept("monthly_churn_rate", "share", ("inactivity_days",)),
    Concept("annual_churn_rate", "share", ("inactivity_days",)),
    Concept("median_lifetime_days", "days", ("inactivity_days",)),
    Concept("survival_12m", "share", ("inactivity_days",)),
    Concept("customers_due_next_month", "count", ("inactivity_days",)),
    # experiments
    Concept("experiments_concluded", "count", in_glossary=False),
    Concept("experiment_conversion_control", "share", in_glossary=False),
    Concept("experiment_conversion_treatment", "share", in_glossary=False),
    Concept("experiment_incremental_revenue", "money", in_glossary=False),
    Concept("experiment_incremental_margin", "money", in_glossary=False),
    Concept("experiment_campaign_cost", "money", in_glossary=False),
    Concept("experiment_roi", "share", in_glossary=False),
    Concept("experiment_cost_per_purchase", "money_cents", in_glossary=False),
    # contacts (only a source with a contacts table has them; defined on the contacts page, not the glossary)
    Concept("complaints_month", "count", in_glossary=False),
    Concept("complaints_first_contact_share", "share", in_glossary=False),
    Concept("customers_over_contact_threshold", "count", in_glossary=False),
    # subscriptions (only a source with customers.churn_date; defined on the retention page, not the glossary)
    Concept("subscribers_running", "count", in_glossary=False),
    Concept("subscriber_renewal_rate", "share", in_glossary=False),
    Concept("subscriber_derl_months", "number", in_glossary=False),
    Concept("subscriber_derl_years", "number", in_glossary=False),
    Concept("subscriber_residual_value", "money_cents", in_glossary=False),
)

#: Every concept by id.
CONCEPTS: dict[str, Concept] = {c.id: c for c in _ALL}

#: Money bases a value can be on: what customers pay ("sales") or what the company keeps of it
#: ("margin"; for a games-of-chance company gross gaming revenue, stakes minus prizes).
MONEY_BASES = ("sales", "margin")
#: Concepts valued on margin when the data has margin (their labels then say so).
MARGIN_CONCEPTS = ("customer_equity", "value_at_risk")


def label_key(concept_id: str, money_basis: str = "sales") -> str:
    """The strings key of a concept's label on a money basis (``strings/concepts.json``).

    Example
    -------
    >>> label_key("customer_equity"), label_key("customer_equity", "margin"), label_key("customers_active", "margin")
    ('label_customer_equity', 'label_customer_equity_margin', 'label_customers_active')
    """
    concept(concept_id)
    if money_basis not in MONEY_BASES:
        raise ValueError(f"money basis {money_basis!r} is not one of {MONEY_BASES}")
    suffix = "_margin" if money_basis == "margin" and concept_id in MARGIN_CONCEPTS else ""
    return f"label_{concept_id}{suffix}"


def concept(concept_id: str) -> Concept:
    """The concept with this id; a clear error for an unknown one (a typo would publish an unlabelled number).

    Example
    -------
    >>> concept("customers_active").unit
    'count'
    """
    try:
        return CONCEPTS[concept_id]
    except KeyError:
        raise KeyError(f"unknown concept {concept_id!r}; known: {', '.join(sorted(CONCEPTS))}") from None


@dataclass(frozen=True)
class KeyNumber:
    """One number as a page shows it: a concept id, its value and (optionally) last month's.

    The unit and the label come from the concept (:mod:`analysis.base.concepts`, ``strings/concepts.json``),
    never from the key's spelling. ``value`` None means "could not be computed": ``reason`` names
    the finding (``finding_<reason>`` in the strings) and the card shows "–".

    Example
    -------
    >>> KeyNumber("customers_active", 1125, previous=1090).to_dict()
    {'concept': 'customers_active', 'value': 1125, 'unit': 'count', 'previous': 1090}
    """

    concept: str
    value: float | int | None
    previous: float | int | None = None
    reason: str | None = None
    label_key: str | None = None

    def __post_init__(self):
        concept(self.concept)  # unknown ids fail where they are written

    @property
    def unit(self) -> str:
        return concept(self.concept).unit

    def to_dict(self) -> dict:
        """JSON-able: money rounded to cents (sums of floats carry noise like 138226.38000000006)."""
        cents = self.unit in ("money", "money_cents")
        out = {"concept": self.concept, "value": plain_value(self.value, cents), "unit": self.unit}
        if self.previous is not None:
            out["previous"] = plain_value(self.previous, cents)
        if self.reason:
            out["reason"] = self.reason
        return out


def plain_value(value, cents: bool = False):
    """numpy scalars to Python; NaN and infinities to None (JSON has neither); ``cents``: rounded to 0.01."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if cents and isinstance(value, float):
        return round(value, 2)
    return value
