"""The data contract: the tables a source may hold, their columns and allowed values.

Also the words a refusal uses: placeholders that mean "no value", and how a message names offending rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data import privacy

TABLES = ("transactions", "customers", "assignments", "campaigns", "contacts")
REQUIRED = {
    "transactions": ("customer_id", "timestamp", "amount"),
    "customers": ("customer_id", "signup_date"),
    "assignments": ("experiment_id", "customer_id", "variant", "assigned_at"),
    "campaigns": ("experiment_id",),
    "contacts": ("customer_id", "timestamp", "direction", "channel", "type"),
}
#: Optional numeric columns of the campaign briefs (costs in currency units, margin as a share).
CAMPAIGN_NUMBERS = ("cost_fixed", "cost_per_contact", "margin_rate")
# Columns that identify a person by name (English and Finnish; see analysis.data.privacy for the rules and the
# patterns that find personal data by value): never carried into the customer table or reports.
PII_COLUMNS = tuple(sorted(privacy.PERSONAL_COLUMN_NAMES))

#: Allowed values of contacts.direction and contacts.type (after trimming and lower-casing).
CONTACT_DIRECTIONS = ("inbound", "outbound")
CONTACT_TYPES = ("complaint", "service", "sales", "marketing", "feedback")
#: Satisfaction scales: CSAT 1-5 and 0-10 (NPS is computed on the 0-10 scale).
SATISFACTION_SCALES = {"1-5": (1.0, 5.0), "0-10": (0.0, 10.0)}
#: Columns of contacts that are loaded; any other (free text such as an agent's notes) stays out.
CONTACT_COLUMNS = ("contact_id", "customer_id", "timestamp", "direction", "channel", "type", "resolved_at", "outcome",
                   "satisfaction", "satisfaction_scale")

# Text an export writes for "no value": refused like an empty cell, never read as one customer called "nan".
NULL_WORDS = ("", "null", "nan", "none", "n/a", "#n/a", "na", "nat", "<na>", "nil", "undefined")
# Words DuckDB would read as dates (1970-01-01, 9999-12-31, the clock): never a real transaction time.
TIME_WORDS = ("epoch", "infinity", "+infinity", "-infinity", "allballs", "now", "today", "tomorrow", "yesterday")
OFFSET_RE = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?|UTC|GMT)$"
SHOW_ROWS = 3  # offending rows named in a message

#: customers.marketing_permission: the recognised words, compared after lower-casing, trimming and dropping a space,
#: ``_`` or ``-`` between letters (so ``Opt-In``, `` opt in `` and ``OPT_IN`` are one word, ``-1`` stays ``-1``) and a trailing ``.0`` of a number
#: (``1.0``); a blank means no permission; any other value is refused (a guess could mail an opted-out customer).
PERMISSION_YES = ("true", "t", "1", "yes", "y", "kyllä", "k", "ja", "j", "optin")
PERMISSION_NO = ("false", "f", "0", "no", "n", "ei", "e", "nej", "optout")
PERMISSION_BLANKS = tuple(sorted({w.replace(" ", "") for w in NULL_WORDS}))  # "", "null", "n/a", ...: no permission recorded
PERMISSION_WORDS = "true/false, 1/0, yes/no, y/n, kyllä/ei, ja/nej or opt-in/opt-out"


def permission_word_sql(x: str) -> str:
    """DuckDB SQL: the permission value ``x`` as the word compared with the vocabulary ('' for a blank)."""
    s = f"regexp_replace(trim(lower(coalesce(CAST({x} AS VARCHAR), ''))), '([a-z])[\\s_-]+([a-z])', '\\1\\2', 'g')"
    return f"regexp_replace({s}, '^([01])\\.0+$', '\\1')"


def permission_sql(x: str) -> str:
    """DuckDB SQL: TRUE for a recognised yes, FALSE for a no or a blank, NULL for anything else (refused)."""
    w = permission_word_sql(x)
    yes = ", ".join(f"'{v}'" for v in PERMISSION_YES)
    no = ", ".join(f"'{v}'" for v in (*PERMISSION_NO, *PERMISSION_BLANKS))
    return f"CASE WHEN {w} IN ({yes}) THEN TRUE WHEN {w} IN ({no}) THEN FALSE ELSE NULL END"


def permission_values(values: pd.Series) -> pd.Series:
    """The one reading of a permission column in Python: True/False by the vocabulary, a blank False, else NA.

    Each distinct value is read once (a column of a million customers holds a handful of spellings).
    """
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    w = pd.Series(uniques, dtype="string").str.lower().str.strip()
    w = w.str.replace(r"([a-z])[\s_-]+([a-z])", r"\1\2", regex=True).str.replace(r"^([01])\.0+$", r"\1", regex=True)
    read = np.full(len(w) + 1, None, dtype=object)  # the last slot: a missing value (code -1), a blank
    read[:-1][w.isin(PERMISSION_YES).to_numpy()] = True
    read[:-1][w.isin((*PERMISSION_NO, *PERMISSION_BLANKS)).to_numpy()] = False
    read[-1] = True if "" in PERMISSION_YES else False if "" in (*PERMISSION_NO, *PERMISSION_BLANKS) else None
    return pd.Series(read[codes], index=values.index, dtype="boolean")


def plural(n: int, one: str, many: str) -> str:
    """``1 row is`` / ``3 rows are``: messages read as sentences."""
    return f"{n:,} {one if n == 1 else many}"


def rows_text(rows: list, label: str = "line") -> str:
    shown = ", ".join(f"{label} {r[0]}: {privacy.shown_value(r[1])}" if isinstance(r[1], str) or r[1] is None
                      else f"{label} {r[0]}: {r[1]}"
                      for r in rows[:SHOW_ROWS])
    return f"e.g. {shown}"
