"""Time units shared by the models and the command line (no heavy imports: ``kanta --help`` reads them).

>>> round(12 * DAYS_PER_MONTH, 2)
365.25
"""
from __future__ import annotations

#: Days in one unit of the purchase models' time axis (lifetimes' ``freq``).
UNIT_DAYS = {"D": 1.0, "W": 7.0}
#: Average Gregorian month (365.25 / 12 days); the default conversion of horizons in months.
DAYS_PER_MONTH = 30.4375
