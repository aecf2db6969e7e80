"""The month's customer base: one state per customer computed once, its concepts and the actions it suggests.

Layer 6: may import everything below (``data``, ``customers``, ``stats``, ``clv``, ``segments``, ``churn``,
``experiments``, ``contacts``) and the root modules; never ``report`` or ``cli``.

- :mod:`~analysis.base.settings`: :class:`BaseSettings`, the churn rule, CLV and segment settings.
- :mod:`~analysis.base.state`: :class:`CustomerBase`, the month's states per customer, flows and numbers.
- :mod:`~analysis.base.value`: the month's CLV fit and its margin basis, shared with ``kanta clv``.
- :mod:`~analysis.base.store`: saving and loading a state for the notebooks of a run: a folder of Arrow tables
  (:mod:`~analysis.base.store_tables`) and ``state.json`` (settings, findings, fitted models as parameters).
- :mod:`~analysis.base.concepts`: every number's concept id, unit and definition; :class:`KeyNumber`.
- :mod:`~analysis.base.actions`: the month's action rules and the trends of its key numbers.
- :mod:`~analysis.base.plan`: the contact plan (each customer once, exclusions, a holdout per action).
- :mod:`~analysis.base.plan_results`: last month's plan measured, contact group against holdout.
- :mod:`~analysis.base.plan_uplift`: each action's results pooled over the last months; the priority they decide.
"""
from __future__ import annotations

from analysis.lazy import lazy_exports

#: Where each public name lives. Names are imported on first use (PEP 562), so ``import analysis.base.settings``
#: (the CLI's argument defaults) does not load the whole month's machinery (segments, scikit-learn, ...).
_HOMES = {
    "ACTIONS": "analysis.base.actions",
    "FALLING_BELOW": "analysis.base.actions",
    "LIST_COLUMNS": "analysis.base.actions",
    "TREND_COLUMNS": "analysis.base.actions",
    "Action": "analysis.base.actions",
    "Trend": "analysis.base.actions",
    "month_actions": "analysis.base.actions",
    "trends": "analysis.base.actions",
    "unusual": "analysis.base.actions",
    "CONCEPTS": "analysis.base.concepts",
    "MARGIN_CONCEPTS": "analysis.base.concepts",
    "MONEY_BASES": "analysis.base.concepts",
    "UNITS": "analysis.base.concepts",
    "Concept": "analysis.base.concepts",
    "KeyNumber": "analysis.base.concepts",
    "concept": "analysis.base.concepts",
    "label_key": "analysis.base.concepts",
    "plain_value": "analysis.base.concepts",
    "EXCLUSIONS": "analysis.base.plan",
    "HOLDOUT_SHARE": "analysis.base.plan",
    "PRIORITY": "analysis.base.plan",
    "ContactPlan": "analysis.base.plan",
    "contact_plan": "analysis.base.plan",
    "holdout_size": "analysis.base.plan",
    "ActionResult": "analysis.base.plan_results",
    "measure_plan": "analysis.base.plan_results",
    "ActionUplift": "analysis.base.plan_uplift",
    "expected_gain": "analysis.base.plan_uplift",
    "measured_priority": "analysis.base.plan_uplift",
    "pool_results": "analysis.base.plan_uplift",
    "BaseSettings": "analysis.base.settings",
    "FLOW_MONTHS": "analysis.base.state",
    "SEGMENT_COLUMNS": "analysis.base.state",
    "STATE_COLUMNS": "analysis.base.state",
    "CustomerBase": "analysis.base.state",
    "previous_p_alive": "analysis.base.state",
    "CLV_COLUMNS": "analysis.base.value",
    "attach_intervals": "analysis.base.value",
    "attach_value": "analysis.base.value",
    "fit_customer_value": "analysis.base.value",
    "margin_rates": "analysis.base.value",
    "value_basis": "analysis.base.value",
    "STORED_PARTS": "analysis.base.store",
    "STATE_FORMAT": "analysis.base.store",
    "load_state": "analysis.base.store",
    "save_state": "analysis.base.store",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = [
    # the month's state
    "BaseSettings", "CustomerBase", "FLOW_MONTHS", "CLV_COLUMNS", "SEGMENT_COLUMNS", "STATE_COLUMNS", "margin_rates",
    "attach_intervals",
    "previous_p_alive",
    # the month's customer value (one path for the report and kanta clv)
    "fit_customer_value", "attach_value", "value_basis",
    # saving and loading it
    "STATE_FORMAT", "STORED_PARTS", "load_state", "save_state",
    # concepts and key numbers
    "CONCEPTS", "MARGIN_CONCEPTS", "MONEY_BASES", "UNITS", "Concept", "KeyNumber", "concept", "label_key",
    "plain_value",
    # actions and trends
    "ACTIONS", "FALLING_BELOW", "LIST_COLUMNS", "TREND_COLUMNS", "Action", "Trend", "month_actions", "trends",
    "unusual",
    # the contact plan and its measurement
    "EXCLUSIONS", "HOLDOUT_SHARE", "PRIORITY", "ContactPlan", "contact_plan", "holdout_size", "ActionResult",
    "measure_plan", "ActionUplift", "expected_gain", "measured_priority", "pool_results",
]
