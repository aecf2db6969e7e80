"""A seeded synthetic customer base of a Finnish games-of-chance company, with its ground truth.

Purchases follow BG/NBD (gamma purchase rates, beta drop-out) with Gamma-Gamma spend and a
mild sports-calendar seasonality; three experiments carry known true effects and true costs
(the ``campaigns`` table). Contacts (complaints, service, NPS surveys, marketing sends) change the
drop-out hazard by known factors: an open complaint, its resolution speed, and marketing pressure
above a monthly threshold. ``truth.json`` and ``truth_customers.csv`` let tests check that the
models recover what was simulated.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import demo_simulation
from analysis.data.demo_simulation import (
    ASSIGNMENT_STREAM, COMPLAINT_HAZARD, COMPLAINT_PER_PURCHASE, COMPLAINT_RESOLUTION, CONTACT_STREAM,
    CONTACT_THRESHOLD, END, EVENTS, EXPERIMENTS, FAST_RESOLUTION_HOURS, MARGIN_RATE, MARGIN_RATES,
    MARKETING_ACTIVE_DAYS, MARKETING_HAZARD_RATIO, MARKETING_INTENSITY, PROSPECT_SHARE, SIMULATE_UNTIL, START,
    TRUE_BGNBD, TRUE_GAMMA_GAMMA)
from analysis.data.demo_subscriptions import make_subscription_data
from analysis.errors import ParameterError

TABLES = ("transactions", "customers", "assignments", "campaigns", "contacts")


def make_demo_data(n_customers: int = 20_000, seed: int = 2026) -> dict:
    """Simulate the demo base and return its tables and truth (nothing is written).

    Returns
    -------
    dict with keys ``transactions``, ``customers``, ``assignments``, ``campaigns``, ``contacts`` (DataFrames),
    ``truth`` (dict) and ``truth_customers`` (DataFrame).
    """
    if n_customers < 100:
        raise ParameterError(f"--customers: got {n_customers}, expected at least 100.")
    rng = np.random.default_rng(seed)
    crng = np.random.default_rng([seed, CONTACT_STREAM])
    cust = demo_simulation.simulate_customers(rng, n_customers)
    plan = demo_simulation.marketing_plan(crng, cust, len(demo_simulation.months((SIMULATE_UNTIL - START).days)[1]))
    occ, complaints = demo_simulation.occasions(rng, cust, crng, plan)
    base_occ = occ[["cust", "day"]].copy()
    occ, assign, exp_truth = demo_simulation.assign_experiments(np.random.default_rng([seed, ASSIGNMENT_STREAM]),
                                                                cust, occ)
    tx = demo_simulation.transactions(rng, cust, occ)
    contacts = demo_simulation.contacts(crng, cust, base_occ, complaints, plan)

    customers = pd.DataFrame({
        "customer_id": cust["customer_id"],
        "signup_date": (START + pd.to_timedelta(cust["signup_day"], unit="D")).dt.strftime("%Y-%m-%d"),
        "name": cust["name"], "email": cust["email"], "phone": cust["phone"],
        "region": cust["region"], "age_band": cust["age_band"],
        "acquisition_channel": cust["acquisition_channel"], "marketing_permission": cust["marketing_permission"],
    })
    customers = customers[customers["signup_date"] <= SIMULATE_UNTIL.strftime("%Y-%m-%d")]
    assign["customer_id"] = cust["customer_id"].to_numpy()[assign["cust"]]
    assignments = assign[["experiment_id", "customer_id", "variant", "assigned_at", "is_control", "planned_share",
                          "pre_period_spend"]]
    campaigns = pd.DataFrame([{
        "experiment_id": exp_id, "goal": e["goal"], "channel": e["channel"], "audience": e["eligible"],
        "primary_metric": e["primary_metric"], "cost_fixed": e["cost_fixed"], "cost_per_contact": e["cost_per_contact"],
        "margin_rate": MARGIN_RATE} for exp_id, e in EXPERIMENTS.items()])
    end_day = (END - START).days
    buyers = ~cust["prospect"] & (cust["first_day"] <= end_day)
    dropped = (cust["dropout_day"] >= 0) & (cust["dropout_day"] <= end_day)
    truth_customers = pd.DataFrame({
        "customer_id": cust["customer_id"],
        "is_buyer": buyers,
        "lambda_per_day": cust["lam"].round(6), "p_dropout": cust["p"].round(6),
        "mean_spend": (TRUE_GAMMA_GAMMA["p"] / cust["nu"]).round(4),
        "dropout_date": np.where(dropped, (START + pd.to_timedelta(cust["dropout_day"].clip(lower=0), unit="D"))
                                 .dt.strftime("%Y-%m-%d"), ""),
        "alive_at_end": buyers & ~dropped,
        # the same customer's drop-out without the contacts' effects (same draws; on or after dropout_date)
        "dropout_date_without_contacts": np.where(
            (cust["dropout_day_without_contacts"] >= 0) & (cust["dropout_day_without_contacts"] <= end_day),
            (START + pd.to_timedelta(cust["dropout_day_without_contacts"].clip(lower=0), unit="D"))
            .dt.strftime("%Y-%m-%d"),
            ""),
    })
    truth = {
        "description": "Synthetic Finnish games-of-chance customer base (Kanta demo).",
        "seed": seed, "n_customers": int(n_customers), "start": str(START.date()), "end": str(END.date()),
        "simulated_until": str(SIMULATE_UNTIL.date()), "time_unit": "D",
        "bgnbd": TRUE_BGNBD, "gamma_gamma": TRUE_GAMMA_GAMMA, "prospect_share": PROSPECT_SHARE,
        "seasonality": [{"from": a, "to": b, "multiplier": f} for a, b, f in EVENTS],
        "notes": ("BG/NBD parameters are per day. Drop-out happens right after a repeat purchase "
                  "(dropout_date = that purchase). Same-day purchases are one occasion. Experiment truths "
                  "are sample average treatment effects over all assigned customers within the window."),
        "experiments": exp_truth,
        "margin_rates": MARGIN_RATES,
        # contacts (issue 15): drop-out hazard ratios of the purchase process above
        "complaint_hazard_ratio": COMPLAINT_HAZARD["open"],
        "contact_threshold_per_month": CONTACT_THRESHOLD,
        "contacts": {
            "complaint_hazard_ratio_by_state": {"open": COMPLAINT_HAZARD["open"],
                                                "resolved_fast": COMPLAINT_HAZARD["fast"],
                                                "resolved_slow": COMPLAINT_HAZARD["slow"]},
            "fast_resolution_hours": FAST_RESOLUTION_HOURS,
            "complaint_per_purchase": COMPLAINT_PER_PURCHASE,
            "complaint_resolution_shares": COMPLAINT_RESOLUTION,
            "marketing_hazard_ratio_per_contact_above_threshold": MARKETING_HAZARD_RATIO,
            "marketing_intensity_shares": {str(k): v for k, v in MARKETING_INTENSITY.items()},
            "marketing_active_days": MARKETING_ACTIVE_DAYS,
            "n_contacts": int(len(contacts)),
            "n_complaints": int((contacts["type"] == "complaint").sum()),
            "notes": ("Drop-out right after a purchase has probability 1 - (1 - p) ** m, so the drop-out hazard "
                      "at a purchase, -log(1 - p), is multiplied by m: by the state of the customer's latest "
                      "complaint when the purchase's day began (open "
                      "= not yet or never resolved; resolved within fast_resolution_hours; resolved later), and "
                      "by marketing_hazard_ratio ** (contacts - threshold) in a month with more outbound "
                      "marketing contacts than the threshold (marketing goes to permission holders who bought "
                      "in the marketing_active_days before the month). complaint_hazard_ratio is an open "
                      "(unresolved) complaint against no complaint."),
        },
    }
    return {"transactions": tx, "customers": customers, "assignments": assignments, "campaigns": campaigns,
            "contacts": contacts, "truth": truth, "truth_customers": truth_customers}


def write_demo_data(out, n_customers: int = 20_000, seed: int = 2026, fmt: str | None = None,
                    subscriptions: bool = False) -> Path:
    """Write the demo base to ``out`` (Parquet by default; CSV when ``fmt='csv'``). Same seed, same bytes.

    ``subscriptions``: the lottery-subscription company instead (:mod:`analysis.data.demo_subscriptions`:
    contract ends, channel effects on buying and leaving, weekly draws in ``draws``).
    """
    out = Path(out)
    fmt = fmt or "parquet"
    if fmt not in ("csv", "parquet"):
        raise ParameterError(f"--format: got {fmt!r}, expected csv or parquet.")
    # an existing --out is replaced: only when it is an earlier demo-data folder (never a file or other work)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "truth.json").is_file())):
        raise ParameterError(f"--out: {out} exists and is not a demo-data folder; expected a new folder "
                             "or one written by kanta demo-data.")
    if not out.name:
        raise ParameterError(f"--out: got {str(out)!r}, expected a folder name such as data/demo.")
    d = make_subscription_data(n_customers, seed) if subscriptions else make_demo_data(n_customers, seed)
    tables = ("transactions", "customers", "draws") if subscriptions else TABLES
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=False)
    for name in tables:
        df = d[name]
        if fmt == "csv":
            df.to_csv(tmp / f"{name}.csv", index=False,
                      float_format="%.2f" if name not in ("assignments", "campaigns") else None)
        else:
            df.to_parquet(tmp / f"{name}.parquet", index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    if "truth_customers" in d:
        d["truth_customers"].to_csv(tmp / "truth_customers.csv", index=False)
    (tmp / "truth.json").write_text(json.dumps(d["truth"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
