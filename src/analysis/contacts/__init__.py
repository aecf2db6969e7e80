"""Contacts, complaints and satisfaction: how service and marketing contacts relate to staying.

Layer 5 (beside ``experiments``): may import ``data``, ``customers``, ``stats``, ``clv``, ``segments``,
``churn`` and the root modules (errors, units, findings); never ``base``, ``report`` or ``cli``.

Language-free results from the optional ``contacts`` table of the data contract (validated in
:mod:`analysis.data.table_checks`): complaint volume and handling, what follows a complaint, the
marketing pressure above which more contacts stop helping, and satisfaction (CSAT, NPS).
Modules, bottom to top:

- :mod:`~analysis.contacts.table`: the contacts table of a source.
- :mod:`~analysis.contacts.dropout`: the drop-out model (complaint hazard ratios, the marketing threshold).
- :mod:`~analysis.contacts.complaints`: complaint handling, the complaint effect, the month's complaint numbers.
- :mod:`~analysis.contacts.pressure`: marketing pressure and the customers over its threshold.
- :mod:`~analysis.contacts.satisfaction`: CSAT, NPS and contact frequency by segment.
- :mod:`~analysis.contacts.analysis`: :func:`analyse`, everything the contacts page shows in one call.
"""
from analysis.contacts.analysis import ContactsAnalysis, analyse
from analysis.contacts.complaints import ComplaintHandling, complaint_effect, complaint_handling, month_numbers
from analysis.contacts.dropout import (COMPLAINT_STATES, FIRST_CONTACT_HOURS, MAX_CONTACTS, MIN_COMPLAINT_PURCHASES,
                                       MIN_DROPOUTS, SEARCH_CUSTOMERS, THRESHOLD_CANDIDATES, DropoutModel, HazardRatio,
                                       dropout_model)
from analysis.contacts.pressure import MarketingPressure, customers_over_threshold, marketing_pressure
from analysis.contacts.satisfaction import (DETRACTOR_MAX, PROMOTER_MIN, contact_counts, contact_frequency, nps,
                                            nps_retention, satisfaction_by)
from analysis.contacts.table import require_contacts

__all__ = [
    # the drop-out model
    "COMPLAINT_STATES", "FIRST_CONTACT_HOURS", "MAX_CONTACTS", "MIN_COMPLAINT_PURCHASES", "MIN_DROPOUTS",
    "SEARCH_CUSTOMERS", "THRESHOLD_CANDIDATES", "DropoutModel", "HazardRatio", "dropout_model",
    # complaints
    "ComplaintHandling", "complaint_effect", "complaint_handling", "month_numbers",
    # marketing pressure
    "MarketingPressure", "customers_over_threshold", "marketing_pressure",
    # satisfaction and contact frequency
    "DETRACTOR_MAX", "PROMOTER_MIN", "contact_counts", "contact_frequency", "nps", "nps_retention", "satisfaction_by",
    # the contacts table
    "require_contacts",
    # one call for the notebook
    "ContactsAnalysis", "analyse",
]
