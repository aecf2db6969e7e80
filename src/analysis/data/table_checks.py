"""The contract's checks of the customers, assignments, campaigns and contacts tables, and their views.

Called by :func:`analysis.data.validation.validate_tables` after the transactions table.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from analysis.data import privacy
from analysis.data.contract import (CAMPAIGN_NUMBERS, CONTACT_COLUMNS, CONTACT_DIRECTIONS, CONTACT_TYPES, REQUIRED,
                                    PERMISSION_BLANKS, PERMISSION_WORDS, SATISFACTION_SCALES, SHOW_ROWS,
                                    permission_sql, permission_word_sql, plural,
                                    rows_text)
from analysis.data.engine import quote_ident, quote_literal
from analysis.data.source import Source
from analysis.errors import DataError

if TYPE_CHECKING:
    from analysis.data.validation import Validator  # local: annotations only (validation.py imports this module)


def _bool_sql(col: str) -> str:
    c = f"lower(trim(CAST({quote_ident(col)} AS VARCHAR)))"
    return (f"CASE WHEN {c} IN ('true','t','1','yes','y','kyllä','k') THEN TRUE "
            f"WHEN {c} IN ('false','f','0','no','n','ei','e') THEN FALSE ELSE NULL END")


def _check_permission(con) -> None:
    """Refuse a marketing_permission column with a value outside the vocabulary (:data:`PERMISSION_YES` / ``NO``)."""
    col = quote_ident("marketing_permission")
    bad = con.execute(f"""
        SELECT v, count(*) OVER () AS kinds, sum(n) OVER () AS rows FROM (
            SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM raw_customers
            WHERE ({permission_sql(col)}) IS NULL GROUP BY 1)
        ORDER BY v LIMIT {SHOW_ROWS + 2}""").fetchall()
    if bad:
        shown = ", ".join(privacy.shown_value(v if len(v) <= 24 else v[:24] + "…") for v, _, _ in bad)
        raise DataError(f"customers.marketing_permission: {plural(int(bad[0][2]), 'row holds', 'rows hold')} "
                        f"{plural(int(bad[0][1]), 'value', 'values')} that are not a recognised permission "
                        f"({shown}); expected {PERMISSION_WORDS}, a blank meaning no permission.")


def customers(v: Validator, src: Source) -> None:
    con = v.con
    cols = v.require("customers")
    v.not_null("customers", "customer_id")
    v.unique("customers", "customer_id", ("customer ID", "customer IDs"))
    v.parses("customers", "signup_date", "DATE", "a date like 2026-10-31")
    if "churn_date" in cols:
        v.parses("customers", "churn_date", "DATE", "a date like 2026-10-31", allow_null=True)
    extra = []
    for c in cols:
        if c in ("customer_id", "signup_date", "churn_date", "marketing_permission"):
            continue
        extra.append(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}")
    # the view carries marketing_permission only when the data has it: no column means "not filtered, said so"
    perm = ""
    if "marketing_permission" in cols:
        if not v.trusted:
            _check_permission(con)
        perm = f", {permission_sql(quote_ident('marketing_permission'))} AS marketing_permission"
    churn = v.value_sql("customers", "churn_date", "DATE") if "churn_date" in cols else "CAST(NULL AS DATE)"
    signup = v.value_sql("customers", "signup_date", "DATE")  # an instant with an offset: its business-zone day
    con.execute(f"""
        CREATE VIEW customers AS
        SELECT CAST(customer_id AS VARCHAR) AS customer_id, {signup} AS signup_date{perm},
               {churn} AS churn_date{''.join(', ' + e for e in extra)}
        FROM raw_customers""")
    if v.trusted:  # counts, notes and personal columns come with the run's record (reopen_source)
        return
    blank = permission_word_sql(quote_ident("marketing_permission"))
    no_perm_sql = (f"(SELECT count(*) FROM raw_customers WHERE {blank} IN ({', '.join(map(quote_literal, PERMISSION_BLANKS))}))"
                   if "marketing_permission" in cols else "(SELECT count(*) FROM customers)")
    n, no_perm, unknown_buyers = con.execute(f"""
        SELECT (SELECT count(*) FROM customers),
               {no_perm_sql},
               (SELECT count(DISTINCT t.customer_id) FROM transactions t ANTI JOIN customers c USING (customer_id))
    """).fetchone()
    if unknown_buyers:
        _refuse_near_misses(con, "transactions.customer_id", "SELECT DISTINCT customer_id FROM transactions_all",
                            "customers.customer_id", "SELECT customer_id FROM customers")
    src.quality.update(customers=n, missing_marketing_permission=no_perm, buyers_not_in_customers=unknown_buyers)
    _find_personal_columns(v, src, [c for c in cols if c not in ("customer_id", "signup_date", "churn_date",
                                                                  "marketing_permission")])
    if no_perm and "marketing_permission" in cols:
        src.notes.append(f"{no_perm:,} customers have no recorded marketing permission.")
    if unknown_buyers:
        src.notes.append(f"{unknown_buyers:,} customers in transactions are missing from the customers table.")


def _find_personal_columns(v: Validator, src: Source, columns: list[str]) -> None:
    """Customers columns that hold personal data, by name or by value (e-mail, phone, identity code).

    They stay in the ``customers`` view (the privacy gate looks for their values in pages) but are
    never carried into the customer table (:func:`analysis.customers.table.customer_columns`).
    """
    found = {c: "name" for c in columns if privacy.is_personal_column(c)}
    text = [c for c in columns if c not in found and v.type_of("customers", c) == "VARCHAR"]
    if text:
        counts = v.con.execute("SELECT " + ", ".join(
            f"count(*) FILTER (WHERE regexp_matches({quote_ident(c)}, {quote_literal(rx)}))"
            for c in text for rx in privacy.PATTERNS.values()) + " FROM raw_customers").fetchone()
        kinds = list(privacy.PATTERNS)
        for i, c in enumerate(text):
            hits = {k: counts[i * len(kinds) + j] for j, k in enumerate(kinds) if counts[i * len(kinds) + j]}
            if hits:
                kind = max(hits, key=hits.get)
                found[c] = kind
                src.notes.append(f"customers.{c} holds personal data ({kind.replace('_', ' ')} in "
                                 f"{plural(hits[kind], 'row', 'rows')}); it stays out of the customer table.")
        # names off the first-name list: a column of mostly distinct capitalised word pairs (privacy.name_like_column_sql)
        rest = [c for c in text if c not in found]
        if rest:
            shaped = v.con.execute("SELECT " + ", ".join(privacy.name_like_column_sql(quote_ident(c)) for c in rest)
                                   + " FROM raw_customers").fetchone()
            for c, is_names in zip(rest, shaped):
                if is_names:
                    found[c] = "name_like"
                    src.notes.append(f"customers.{c} holds personal data (values shaped like person names); "
                                     "it stays out of the customer table.")
    src.personal_columns.update(found)


def _normal_id_sql(x: str) -> str:
    """An ID as exports mangle it: trimmed, lower case, without a trailing ``.0`` and leading zeros."""
    s = f"regexp_replace(lower(trim(CAST({x} AS VARCHAR))), '\\.0+$', '')"
    return f"CASE WHEN ltrim({s}, '0') = '' THEN {s} ELSE ltrim({s}, '0') END"


_NORMALISATIONS = (("removing spaces", str.strip), ("ignoring case", str.lower),
                   ("dropping a trailing .0", lambda x: re.sub(r"\.0+$", "", x)),
                   ("dropping leading zeros", lambda x: x.lstrip("0") or x))


def _refuse_near_misses(con, what: str, ids_sql: str, other: str, known_sql: str) -> None:
    """Refuse IDs that match the other table only after normalisation: they would silently join to nothing."""
    pairs = f"""
        WITH a AS (SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM ({ids_sql}) AS t(id)),
             k AS (SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM ({known_sql}) AS t(id)),
             miss AS (SELECT id FROM a ANTI JOIN k USING (id))
        SELECT m.id, min(k.id) FROM miss m JOIN k ON {_normal_id_sql('m.id')} = {_normal_id_sql('k.id')}
        GROUP BY m.id"""
    n = con.execute(f"SELECT count(*) FROM ({pairs})").fetchone()[0]
    if not n:
        return
    examples = con.execute(f"SELECT * FROM ({pairs}) ORDER BY 1 LIMIT {SHOW_ROWS}").fetchall()
    raise near_miss_error(what, other, n, examples)


def near_miss_error(what: str, other: str, n: int, examples: list) -> DataError:
    """The sentence for ``n`` IDs of ``what`` that match ``other`` only after normalisation (any engine).

    ``examples`` are ``(id, matching id)`` pairs; the message names the normalisation steps, in order, that
    change some example on its way to a match.
    """
    steps, forms = [], list(examples)
    for label, fn in _NORMALISATIONS:
        after = [(fn(a), fn(b)) for a, b in forms]
        if after != forms:
            steps.append(label)
        forms = after
    eg = ", ".join(f"{a!r} vs {b!r}" for a, b in examples)
    return DataError(f"{what}: {plural(n, 'ID matches', 'IDs match')} {other} only after {' and '.join(steps)}, "
                     f"e.g. {eg}; expected the same spelling in both tables (fix the export or normalise the IDs "
                     "in a .sql source definition).")


def assignments(v: Validator, src: Source) -> None:
    con = v.con
    cols = v.require("assignments")
    for c in ("experiment_id", "customer_id", "variant"):
        v.not_null("assignments", c)
    v.parses("assignments", "assigned_at", "TIMESTAMP", "a date or datetime like 2026-10-31")
    known = "SELECT customer_id FROM customers" if src.has("customers") else \
        "SELECT DISTINCT customer_id FROM transactions_all"
    n, rows = v.offending("assignments", f"CAST(customer_id AS VARCHAR) NOT IN ({known})", "customer_id")
    if n:
        _refuse_near_misses(con, "assignments.customer_id", "SELECT customer_id FROM raw_assignments",
                            "customers.customer_id" if src.has("customers") else "transactions.customer_id", known)
        where = "the customers table" if src.has("customers") else "transactions"
        raise DataError(f"assignments.customer_id: {plural(n, 'row refers', 'rows refer')} to customers not in {where}, "
                        f"{rows_text(rows, v.label('assignments'))}; expected known customers.")
    both = [] if v.trusted else con.execute("""
        SELECT experiment_id, customer_id, string_agg(DISTINCT variant, ' and ' ORDER BY variant), min(__row)
        FROM raw_assignments GROUP BY 1, 2 HAVING count(DISTINCT variant) > 1 ORDER BY min(__row) LIMIT 3""").fetchall()
    if both:
        n = con.execute("""SELECT count(*) FROM (SELECT 1 FROM raw_assignments GROUP BY experiment_id, customer_id
                           HAVING count(DISTINCT variant) > 1)""").fetchone()[0]
        eg = "; ".join(f"customer {b[1]!r} in {b[2]} of {b[0]!r}" for b in both)
        raise DataError(f"assignments.variant: {plural(n, 'customer is', 'customers are')} in more than one variant of the same experiment, "
                        f"e.g. {eg}; expected one variant per customer and experiment.")
    optional = []
    for c in cols:
        if c in REQUIRED["assignments"]:
            continue
        if c == "is_control":
            optional.append(f"{_bool_sql(c)} AS is_control")
        elif c in ("planned_share", "pre_period_spend"):
            v.parses("assignments", c, "DOUBLE", "a number like 12.50", allow_null=True)
            optional.append(f"CAST({quote_ident(c)} AS DOUBLE) AS {quote_ident(c)}")
        else:
            optional.append(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}")
    con.execute(f"""
        CREATE VIEW assignments AS
        SELECT CAST(experiment_id AS VARCHAR) AS experiment_id, CAST(customer_id AS VARCHAR) AS customer_id,
               CAST(variant AS VARCHAR) AS variant, {v.value_sql("assignments", "assigned_at", "TIMESTAMP")} AS assigned_at
               {''.join(', ' + o for o in optional)}
        FROM raw_assignments""")
    if v.trusted:
        return
    n, k = con.execute("SELECT count(*), count(DISTINCT experiment_id) FROM assignments").fetchone()
    src.quality.update(assignments=n, experiments=k)


def campaigns(v: Validator, src: Source) -> None:
    """Campaign briefs: one row per experiment, costs as numbers (no cost is "not known", never a default)."""
    cols = v.require("campaigns")
    v.not_null("campaigns", "experiment_id")
    v.unique("campaigns", "experiment_id", ("experiment", "experiments"))
    select = ["CAST(experiment_id AS VARCHAR) AS experiment_id"]
    for c in cols:
        if c == "experiment_id":
            continue
        if c in CAMPAIGN_NUMBERS:
            v.parses("campaigns", c, "DOUBLE", "a number like 500.00", allow_null=True)
            select.append(f"CAST({quote_ident(c)} AS DOUBLE) AS {quote_ident(c)}")
        else:
            select.append(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}")
    v.con.execute(f"CREATE VIEW campaigns AS SELECT {', '.join(select)} FROM raw_campaigns")
    # a negative cost or a margin share outside (0, 1] is refused here, not at the end of the month's run
    for c, bad, expected in (("cost_fixed", "{c} < 0", "a cost >= 0"), ("cost_per_contact", "{c} < 0", "a cost >= 0"),
                             ("margin_rate", "NOT ({c} > 0 AND {c} <= 1)", "a share above 0 and at most 1 (e.g. 0.35)")):
        if c not in cols:
            continue
        found = v.con.execute(f"SELECT experiment_id, {quote_ident(c)}, count(*) OVER () FROM campaigns "
                              f"WHERE {bad.format(c=quote_ident(c))} ORDER BY experiment_id LIMIT {SHOW_ROWS}").fetchall()
        if found:
            shown = ", ".join(f"{e!r} ({x:g})" for e, x, _ in found)
            raise DataError(f"campaigns.{c}: {plural(int(found[0][2]), 'experiment has', 'experiments have')} "
                            f"{'a negative value' if c != 'margin_rate' else 'a value outside (0, 1]'}, e.g. {shown}; "
                            f"expected {expected}.")


def contacts(v: Validator, src: Source) -> None:
    """Customer contacts: one row per contact (service, complaint, sales, marketing, feedback), up to ``as_of``.

    ``direction`` and ``type`` are trimmed and lower-cased and must be one of :data:`CONTACT_DIRECTIONS` /
    :data:`CONTACT_TYPES`; ``channel`` and ``outcome`` are any text (trimmed, lower case). ``resolved_at``
    (optional) is when the case was closed: not before the contact, and NULL in the view when it is after
    ``as_of`` (the case was still open then). ``satisfaction`` (optional) is a score on the scale of
    ``satisfaction_scale`` (``1-5`` or ``0-10`` per row); without that column the scale is inferred for the
    whole table: every score within 1..5 reads as 1-5, else every score within 0..10 reads as 0-10, else
    the table is refused. Any other column (free text such as agents' notes, which can hold personal data)
    is not loaded, so it can never reach a page.
    """
    con = v.con
    cols = v.require("contacts")
    # every row check and the score range in one scan of the table (18M rows at a million customers);
    # a query naming offending rows runs only for a check that found some, refusals in this order
    checks: list = []

    def refuse_rows(condition: str, show: str, message):
        def refuse(_n: int) -> None:
            n, rows = v.offending("contacts", condition, show)
            raise DataError(message(plural, n, rows_text(rows, v.label("contacts"))))

        checks.append((condition, refuse))

    for c in ("customer_id", "direction", "channel", "type"):
        v.not_null("contacts", c, pending=checks)
    v.parses("contacts", "timestamp", "TIMESTAMP", "a date like 2026-10-31 or a datetime like 2026-10-31 14:05:00",
             pending=checks)
    for col, allowed in (("direction", CONTACT_DIRECTIONS), ("type", CONTACT_TYPES)):
        norm = f"lower(trim(CAST({quote_ident(col)} AS VARCHAR)))"
        refuse_rows(f"{norm} NOT IN ({', '.join(quote_literal(a) for a in allowed)})", quote_ident(col),
                    lambda count, n, rows, col=col, allowed=allowed: (
                        f"contacts.{col}: {count(n, 'row has', 'rows have')} an unknown value, {rows}; "
                        f"expected one of {', '.join(allowed)}."))
    ts = v.value_sql("contacts", "timestamp", "TIMESTAMP")
    resolved = "CAST(NULL AS TIMESTAMP)"
    if "resolved_at" in cols:
        v.parses("contacts", "resolved_at", "TIMESTAMP", "a datetime like 2026-10-31 14:05:00 or no value (still open)",
                 allow_null=True, pending=checks)
        resolved = v.value_sql("contacts", "resolved_at", "TIMESTAMP")
        refuse_rows(f"{resolved} < {ts}", f"CAST({quote_ident('resolved_at')} AS VARCHAR)",
                    lambda count, n, rows: (
                        f"contacts.resolved_at: {count(n, 'row is', 'rows are')} resolved before the contact itself, "
                        f"{rows}; expected resolved_at on or after timestamp."))
    score, scale, also = "CAST(NULL AS DOUBLE)", "CAST(NULL AS VARCHAR)", ()
    if "satisfaction" in cols:
        v.parses("contacts", "satisfaction", "DOUBLE", "a number such as 4 (1-5) or 9 (0-10)", allow_null=True,
                 pending=checks)
        score = v.value_sql("contacts", "satisfaction", "DOUBLE")
        if "satisfaction_scale" in cols:
            norm = (f"nullif(replace(replace(lower(trim(CAST({quote_ident('satisfaction_scale')} AS VARCHAR))), "
                    f"' ', ''), '\u2013', '-'), '')")
            refuse_rows(f"{score} IS NOT NULL AND ({norm} IS NULL OR {norm} NOT IN "
                        f"({', '.join(quote_literal(k) for k in SATISFACTION_SCALES)}))",
                        quote_ident("satisfaction_scale"),
                        lambda count, n, rows: (
                            f"contacts.satisfaction_scale: {count(n, 'row has', 'rows have')} a score without a known "
                            f"scale, {rows}; expected {' or '.join(SATISFACTION_SCALES)} in every row with a "
                            "satisfaction score."))
            scale = f"CASE WHEN {score} IS NOT NULL THEN {norm} END"
            bounds = " OR ".join(f"({scale} = {quote_literal(k)} AND {score} BETWEEN {a} AND {b})"
                                 for k, (a, b) in SATISFACTION_SCALES.items())
            refuse_rows(f"{score} IS NOT NULL AND NOT ({bounds})", f"CAST({quote_ident('satisfaction')} AS VARCHAR)",
                        lambda count, n, rows: (
                            f"contacts.satisfaction: {count(n, 'row is', 'rows are')} outside the row's scale, {rows}; "
                            "expected 1 to 5 on the 1-5 scale and 0 to 10 on the 0-10 scale."))
        else:
            also = (f"min({score})", f"max({score})")
    found = v.run("contacts", checks, also)
    if also:  # without a scale column the scale is inferred for the whole table, from the range of its scores
        lo, hi = found
        inferred = next((k for k, (a, b) in SATISFACTION_SCALES.items() if lo is not None and lo >= a and hi <= b),
                        None)
        if lo is not None and inferred is None:
            raise DataError(f"contacts.satisfaction: scores run from {lo:g} to {hi:g}, which fits neither scale; "
                            "expected scores within 1-5 or 0-10 (or a satisfaction_scale column per row).")
        scale = f"CASE WHEN {score} IS NOT NULL THEN {quote_literal(inferred or '')} END"
    if "contact_id" in cols:
        v.unique("contacts", "contact_id", ("contact ID", "contact IDs"))
    text = {c: (f"nullif(lower(trim(CAST({quote_ident(c)} AS VARCHAR))), '')" if c in cols else "CAST(NULL AS VARCHAR)")
            for c in ("contact_id", "outcome")}
    text["contact_id"] = "CAST(contact_id AS VARCHAR)" if "contact_id" in cols else "CAST(NULL AS VARCHAR)"
    end = f"TIMESTAMP {quote_literal((src.as_of + pd.Timedelta(days=1)).strftime('%Y-%m-%d'))}"
    con.execute(f"""
        CREATE VIEW contacts_all AS
        SELECT {text['contact_id']} AS contact_id, CAST(customer_id AS VARCHAR) AS customer_id, {ts} AS timestamp,
               lower(trim(CAST(direction AS VARCHAR))) AS direction, lower(trim(CAST(channel AS VARCHAR))) AS channel,
               lower(trim(CAST(type AS VARCHAR))) AS type, {resolved} AS resolved_at, {text['outcome']} AS outcome,
               {score} AS satisfaction, {scale} AS satisfaction_scale
        FROM raw_contacts""")
    con.execute(f"""
        CREATE VIEW contacts AS
        SELECT * REPLACE (CASE WHEN resolved_at < {end} THEN resolved_at END AS resolved_at)
        FROM contacts_all WHERE timestamp < {end}""")
    if v.trusted:
        return
    known = "SELECT customer_id FROM customers" if src.has("customers") else \
        "SELECT DISTINCT customer_id FROM transactions_all"
    n, later, unknown = con.execute(f"""
        SELECT count(*) FILTER (WHERE timestamp < {end}), count(*) FILTER (WHERE timestamp >= {end}),
               count(*) FILTER (WHERE timestamp < {end} AND customer_id NOT IN ({known}))
        FROM contacts_all""").fetchone()
    if unknown:
        _refuse_near_misses(con, "contacts.customer_id", "SELECT customer_id FROM contacts_all",
                            "customers.customer_id" if src.has("customers") else "transactions.customer_id", known)
        src.notes.append(f"{unknown:,} contacts belong to customers unknown to "
                         f"{'the customers table' if src.has('customers') else 'transactions'}; they are left out of "
                         "the contact analyses.")
    if later:
        src.notes.append(f"{later:,} contacts after as_of {src.as_of.date()} were excluded.")
    dropped = [c for c in cols if c not in CONTACT_COLUMNS]
    if dropped:
        src.notes.append(f"contacts column{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} "
                         f"{'are' if len(dropped) > 1 else 'is'} not loaded (free text never reaches a page).")
    src.quality.update(contacts=n, contacts_future_rows_excluded=later, contacts_unknown_customers=unknown)
