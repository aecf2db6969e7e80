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
"""
from analysis.base.actions import (ACTIONS, FALLING_BELOW, LIST_COLUMNS, TREND_COLUMNS, Action, Trend, month_actions,
                                   trends, unusual)
from analysis.base.concepts import (CONCEPTS, MARGIN_CONCEPTS, MONEY_BASES, UNITS, Concept, KeyNumber, concept,
                                    label_key, plain_value)
from analysis.base.plan import EXCLUSIONS, HOLDOUT_SHARE, PRIORITY, ContactPlan, contact_plan, holdout_size
from analysis.base.plan_results import ActionResult, measure_plan
from analysis.base.settings import BaseSettings
from analysis.base.state import FLOW_MONTHS, SEGMENT_COLUMNS, STATE_COLUMNS, CustomerBase, previous_p_alive
from analysis.base.value import CLV_COLUMNS, attach_intervals, attach_value, fit_customer_value, margin_rates, value_basis
from analysis.base.store import STATE_FORMAT, STORED_PARTS, load_state, save_state

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
    "measure_plan",
]
