"""The month's contact plan on disk: its lists for the campaign tool, and last month's lists read back to measure them;
last month's published key numbers for the numbers the customer state cannot recompute for last month.

Only the report layer turns the report folder into data; the plan and its measurement live in
:mod:`analysis.base.plan` and :mod:`analysis.base.plan_results`.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from analysis.base.plan import GROUPS, PRIORITY
from analysis.base.plan_results import measure_plan
from analysis.base.plan_uplift import POOL_MONTHS, pool_results
from analysis.data import write_table


#: List columns in money (the data's basis): written rounded to cents, so a campaign tool reads 102.13, not
#: 102.13000000000001.
MONEY_COLUMNS = ("clv", "value_at_stake", "past_yearly_value", "total_spend", "potential_value")


def write_lists(plan, folder: Path) -> None:
    """One CSV per action in ``folder``: customer_id, pseudonym, action, reason, group, then the numbers behind it
    (money rounded to cents)."""
    folder.mkdir()
    for action in plan.actions:
        rows = action.customers
        money = [c for c in MONEY_COLUMNS if c in rows]
        write_table(rows.assign(**{c: rows[c].astype(float).round(2) for c in money}), folder / f"{action.name}.csv")


def previous_plan(out: Path, month: pd.Period) -> tuple[str, pd.DataFrame] | None:
    """Last month's plan as published in ``out``: its month and list rows (customer_id, action, group), or None.

    Lists written before plans had a holdout have no ``group``: every row was contacted (and nobody can be
    compared with them).
    """
    folder = out / str(month - 1)
    lists = list((folder / "lists").glob("*.csv")) if (folder / "lists").is_dir() else []
    lists.sort(key=lambda f: (PRIORITY.index(f.stem) if f.stem in PRIORITY else len(PRIORITY), f.stem))
    if not lists:
        return None
    plan_month = str(month - 1)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        plan_month = json.loads(manifest.read_text(encoding="utf-8")).get("period", plan_month)
    frames = []
    for f in lists:
        t = pd.read_csv(f, dtype={"customer_id": str}, usecols=lambda c: c in ("customer_id", "action", "group"))
        if "action" not in t:
            t["action"] = f.stem
        if "group" not in t:
            t["group"] = "contact"
        frames.append(t[t["group"].isin(GROUPS)])
    return plan_month, pd.concat(frames, ignore_index=True)


def measure_previous(source, out: Path, month: pd.Period, as_of) -> tuple[list, pd.DataFrame | None]:
    """Last month's plan measured over this month (``[]`` when there is none) and its list rows."""
    found = previous_plan(out, month)
    if found is None:
        return [], None
    plan_month, rows = found
    return measure_plan(source, rows, plan_month, as_of), rows


def published_results(out: Path, month: pd.Period, n_months: int = POOL_MONTHS) -> list[dict]:
    """The ``action_results`` published by the reports of the ``n_months`` months before ``month`` in ``out``,
    earliest first (a month without a report, or a report from before results were kept, adds nothing)."""
    found = []
    for k in range(n_months, 0, -1):
        manifest = out / str(month - k) / "manifest.json"
        if manifest.is_file():
            found += json.loads(manifest.read_text(encoding="utf-8")).get("action_results", [])
    return found


def action_uplift(out: Path, month: pd.Period, results: list, n_months: int = POOL_MONTHS) -> list:
    """Each action's uplift pooled over the plans of the ``n_months`` months before ``month``: the results published
    in ``out`` and this run's ``results`` (last month's plan, measured now)."""
    fresh = [r.to_dict() for r in results]
    return pool_results([*published_results(out, month, n_months), *fresh], str(month), n_months)


def with_published_previous(numbers: list, out: Path, month: pd.Period) -> list:
    """Key numbers whose last-month value is unknown (model numbers: equity, at risk) get the value last month's
    report published in ``out``, when there is one; the others are returned as they are."""
    manifest = out / str(month - 1) / "manifest.json"
    if not manifest.is_file():
        return numbers
    published = {n["concept"]: n.get("value") for n in json.loads(manifest.read_text(encoding="utf-8")).get("numbers", [])
                 if n.get("page") == "index.html"}
    return [dataclasses.replace(n, previous=published[n.concept])
            if n.previous is None and published.get(n.concept) is not None else n for n in numbers]
