"""A seeded synthetic customer base of a Finnish games-of-chance company, with its ground truth.

Purchases follow BG/NBD (gamma purchase rates, beta drop-out) with Gamma-Gamma spend and a
mild sports-calendar seasonality; three experiments carry known true effects and true costs
(the ``campaigns`` table). ``truth.json`` and ``truth_customers.csv`` let tests check that the
models recover what was simulated.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import ParameterError

START = pd.Timestamp("2023-11-01")
END = pd.Timestamp("2026-10-31")  # truth is stated at this date
SIMULATE_UNTIL = pd.Timestamp("2026-11-15")  # a partial month after END, as real extracts have

# BG/NBD (per day) and Gamma-Gamma parameters of the simulated population.
TRUE_BGNBD = {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 6.0}
TRUE_GAMMA_GAMMA = {"p": 3.0, "q": 4.0, "v": 20.0}
PROSPECT_SHARE = 0.08

CATEGORIES = ("lottery", "sports_betting", "horse_racing", "instant_games")
REGIONS = {
    "Uusimaa": 0.31, "Pirkanmaa": 0.10, "Varsinais-Suomi": 0.09, "Pohjois-Pohjanmaa": 0.08,
    "Keski-Suomi": 0.05, "Pohjois-Savo": 0.05, "Satakunta": 0.04, "Päijät-Häme": 0.04,
    "Kanta-Häme": 0.03, "Lappi": 0.03, "Etelä-Pohjanmaa": 0.04, "Kymenlaakso": 0.03,
    "Pohjois-Karjala": 0.03, "Etelä-Savo": 0.03, "Pohjanmaa": 0.05,
}
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
ACQUISITION = ("online_ad", "retail_store", "referral", "tv_campaign", "organic_search")
FIRST_NAMES = ("Aino", "Eino", "Helmi", "Väinö", "Sofia", "Leo", "Emma", "Onni", "Olivia", "Elias", "Aada",
               "Oliver", "Lilja", "Veeti", "Ella", "Eetu", "Venla", "Juho", "Pihla", "Matias", "Kerttu", "Ilmari")
LAST_NAMES = ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
              "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi")

# Seasonality: big sports events lift play; mean multiplier ~1 so the BG/NBD rates stay the truth.
EVENTS = (
    ("2024-06-14", "2024-07-14", 1.35),  # UEFA Euro 2024
    ("2026-06-11", "2026-07-19", 1.35),  # FIFA World Cup 2026
    ("2024-05-10", "2024-05-26", 1.2),   # Ice hockey world championship
    ("2025-05-09", "2025-05-25", 1.2),
    ("2026-05-15", "2026-05-31", 1.2),
    ("2023-12-01", "2023-12-31", 1.15),  # Christmas lottery
    ("2024-12-01", "2024-12-31", 1.15),
    ("2025-12-01", "2025-12-31", 1.15),
)

# What the company keeps of its stakes (gross gaming revenue: stakes minus prizes), a mix of
# lottery (about half paid back) and betting (most paid back); the campaigns table states it.
MARGIN_RATE = 0.35

# Campaign costs are fixed numbers, not draws: adding them leaves every simulated table unchanged.
EXPERIMENTS = {
    "reactivation-2026-03": dict(
        goal="Win back lapsing customers with a newsletter offer",
        goal_fi="Voittaa takaisin passivoituvia asiakkaita uutiskirjeen tarjouksella",
        assigned_at="2026-03-02 09:00:00", channel="email", channel_fi="sähköposti", variants=("no_offer", "offer"),
        shares=(0.5, 0.5), window_days=30, extra_purchase_prob=0.06, value_multiplier=1.0,
        primary_metric="conversion", cost_fixed=300.0, cost_per_contact=0.5,  # design + offer redeemed
        eligible="last purchase 60-365 days before assignment, marketing permission",
        eligible_fi="viimeisin osto 60–365 päivää ennen jakoa, markkinointilupa"),
    "vip-bonus-2026-08": dict(
        goal="Grow spend of active high-frequency customers with a loyalty bonus",
        goal_fi="Kasvattaa aktiivisten, usein ostavien asiakkaiden ostoja kanta-asiakasbonuksella",
        assigned_at="2026-08-03 09:00:00", channel="app", channel_fi="sovellus", variants=("control", "bonus"),
        shares=(0.2, 0.8), window_days=30, extra_purchase_prob=0.0, value_multiplier=1.15,
        primary_metric="revenue", cost_fixed=500.0, cost_per_contact=2.0,  # app work + bonus credited
        eligible="3 or more purchase days in the 90 days before assignment",
        eligible_fi="vähintään 3 ostopäivää 90 päivän aikana ennen jakoa"),
    "newsletter-2026-09": dict(
        goal="Test a new newsletter layout (no change expected in purchasing)",
        goal_fi="Testata uutiskirjeen uutta ulkoasua (ostamisen ei odoteta muuttuvan)",
        assigned_at="2026-09-28 09:00:00", channel="email", channel_fi="sähköposti", variants=("old_layout", "new_layout"),
        shares=(0.5, 0.5), window_days=30, extra_purchase_prob=0.0, value_multiplier=1.0,
        primary_metric="conversion", cost_fixed=1500.0, cost_per_contact=0.01,  # layout design + sending
        eligible="marketing permission, bought in the last 180 days",
        eligible_fi="markkinointilupa, ostanut viimeisten 180 päivän aikana"),
}


def _season_multiplier(days: np.ndarray) -> np.ndarray:
    """Multiplier of the purchase rate on each day (days since START)."""
    m = np.ones_like(days, dtype=float)
    for a, b, f in EVENTS:
        lo, hi = (pd.Timestamp(a) - START).days, (pd.Timestamp(b) - START).days
        m[(days >= lo) & (days <= hi)] = f
    return m


def _simulate_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    horizon = (SIMULATE_UNTIL - START).days
    # Signups grow over time (a triangular-ish density), and stop a few weeks before the end.
    signup_day = np.floor(horizon * np.sqrt(rng.uniform(0.0, 1.0, n)) * 0.98).astype(int)
    lam = rng.gamma(TRUE_BGNBD["r"], 1.0 / TRUE_BGNBD["alpha"], n)
    p = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], n)
    nu = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1.0 / TRUE_GAMMA_GAMMA["v"], n)
    prospect = rng.uniform(size=n) < PROSPECT_SHARE
    first_delay = np.minimum(rng.exponential(4.0, n), 60).astype(int)

    # Attributes depend on the drawn rates, so they predict behaviour without changing the
    # BG/NBD mixture itself.
    p_rank = p.argsort().argsort() / n
    acq_probs = np.array([[0.30, 0.25, 0.15, 0.10, 0.20], [0.20, 0.25, 0.10, 0.30, 0.15]])
    acquisition = np.array([rng.choice(len(ACQUISITION), p=acq_probs[int(r > 0.5)]) for r in p_rank])
    lam_rank = lam.argsort().argsort() / n
    age_w = np.array([[0.16, 0.24, 0.20, 0.16, 0.14, 0.10], [0.06, 0.14, 0.18, 0.22, 0.22, 0.18]])
    age = np.array([rng.choice(len(AGE_BANDS), p=age_w[int(r > 0.5)]) for r in lam_rank])
    region_names = list(REGIONS)
    region_p = np.array(list(REGIONS.values()))
    region = rng.choice(len(region_names), n, p=region_p / region_p.sum())
    online_pref = rng.beta(2.0, 2.0, n)
    online_pref = np.clip(online_pref + np.where(np.isin(acquisition, [0, 4]), 0.25, -0.1), 0.02, 0.98)
    cat_pref = rng.dirichlet([2.0, 1.2, 0.5, 1.0], n)
    perm_u = rng.uniform(size=n)
    permission = np.where(perm_u < 0.70, "true", np.where(perm_u < 0.95, "false", ""))

    ids = [f"C{100000 + i:06d}" for i in range(n)]
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    phone = rng.integers(1_000_000, 9_999_999, n)
    return pd.DataFrame({
        "customer_id": ids,
        "signup_day": signup_day, "first_day": signup_day + first_delay, "prospect": prospect,
        "lam": lam, "p": p, "nu": nu,
        "region": [region_names[i] for i in region], "age_band": [AGE_BANDS[i] for i in age],
        "acquisition_channel": [ACQUISITION[i] for i in acquisition], "marketing_permission": permission,
        "online_pref": online_pref, "cat_pref": list(cat_pref),
        "name": [f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(first, last)],
        "email": [f"{FIRST_NAMES[a].lower()}.{LAST_NAMES[b].lower()}{i}@example.fi".replace("ä", "a").replace("ö", "o")
                  for i, (a, b) in enumerate(zip(first, last))],
        "phone": [f"+358 40 {x}" for x in phone],
    })


def _purchase_days(rng, lam: float, p: float, first_day: int, horizon: int, season: np.ndarray, season_max: float):
    """Purchase days of one customer under BG/NBD with seasonal thinning; and the drop-out day."""
    days = [first_day]
    t = float(first_day)
    while True:
        t += rng.exponential(1.0 / (lam * season_max))
        if t >= horizon:
            return days, None
        if rng.uniform() * season_max > season[int(t)]:
            continue  # thinned: no purchase at this candidate time
        days.append(int(t))
        if rng.uniform() < p:
            return days, int(t)


def _occasions(rng, cust: pd.DataFrame) -> pd.DataFrame:
    horizon = (SIMULATE_UNTIL - START).days
    season = _season_multiplier(np.arange(horizon + 1))
    season_max = float(season.max())
    rows_c, rows_d = [], []
    dropout = np.full(len(cust), -1)
    for i, c in enumerate(cust.itertuples(index=False)):
        if c.prospect or c.first_day >= horizon:
            continue
        days, drop = _purchase_days(rng, c.lam, c.p, c.first_day, horizon, season, season_max)
        rows_c.extend([i] * len(days))
        rows_d.extend(days)
        if drop is not None:
            dropout[i] = drop
    occ = pd.DataFrame({"cust": np.array(rows_c, dtype=int), "day": np.array(rows_d, dtype=int)})
    occ = occ.drop_duplicates(["cust", "day"]).reset_index(drop=True)  # same-day purchases are one occasion
    occ["value"] = rng.gamma(TRUE_GAMMA_GAMMA["p"], 1.0 / cust["nu"].to_numpy()[occ["cust"]])
    cust["dropout_day"] = dropout
    return occ


def _assign_experiments(rng, cust: pd.DataFrame, occ: pd.DataFrame):
    """Pick eligible customers, randomise, and add the treatment's effect to the occasions."""
    rows, truth, extra = [], {}, []
    occ = occ.copy()
    for exp_id, e in EXPERIMENTS.items():
        at = pd.Timestamp(e["assigned_at"])
        day0 = (at.normalize() - START).days
        before = occ[occ["day"] < day0]
        last = before.groupby("cust")["day"].max()
        gap = day0 - last
        perm = cust["marketing_permission"].to_numpy() == "true"
        if exp_id.startswith("reactivation"):
            elig = gap[(gap >= 60) & (gap <= 365)].index
            elig = elig[perm[elig]]
        elif exp_id.startswith("vip"):
            recent = before[before["day"] >= day0 - 90].groupby("cust").size()
            elig = recent[recent >= 3].index
        else:
            elig = gap[gap <= 180].index
            elig = elig[perm[elig]]
        elig = np.sort(np.asarray(elig))
        variants = rng.choice(len(e["variants"]), len(elig), p=e["shares"])
        treated = variants == len(e["variants"]) - 1
        w_lo, w_hi = day0, day0 + e["window_days"]
        in_window = occ["cust"].isin(elig) & (occ["day"] >= w_lo) & (occ["day"] < w_hi)
        base = occ[in_window].groupby("cust")["value"].sum().reindex(elig, fill_value=0.0)
        converted0 = base.to_numpy() > 0
        # Potential outcomes for everyone; the treatment arm realises the treated ones.
        gets_extra = rng.uniform(size=len(elig)) < e["extra_purchase_prob"]
        extra_day = w_lo + rng.integers(0, e["window_days"], len(elig))
        extra_val = rng.gamma(TRUE_GAMMA_GAMMA["p"], 1.0 / cust["nu"].to_numpy()[elig])
        rev_uplift = base.to_numpy() * (e["value_multiplier"] - 1.0) + gets_extra * extra_val
        conv_uplift = (~converted0) & gets_extra
        truth[exp_id] = {
            "goal": e["goal"], "goal_fi": e["goal_fi"], "assigned_at": e["assigned_at"],
            "channel": e["channel"], "channel_fi": e["channel_fi"], "eligible_fi": e["eligible_fi"],
            "variants": list(e["variants"]), "control": e["variants"][0], "treatment": e["variants"][-1],
            "planned_shares": dict(zip(e["variants"], e["shares"])), "window_days": e["window_days"],
            "eligible": e["eligible"], "n_assigned": int(len(elig)),
            "true_conversion_uplift": round(float(conv_uplift.mean()), 6) if len(elig) else 0.0,
            "true_revenue_uplift_per_customer": round(float(rev_uplift.mean()), 6) if len(elig) else 0.0,
            "control_conversion": round(float(converted0.mean()), 6) if len(elig) else 0.0,
            "primary_metric": e["primary_metric"], "cost_fixed": e["cost_fixed"],
            "cost_per_contact": e["cost_per_contact"], "margin_rate": MARGIN_RATE,
            "n_treated": int(treated.sum()),
            "true_cost": round(e["cost_fixed"] + e["cost_per_contact"] * int(treated.sum()), 2),
        }
        tcust = elig[treated]
        if e["value_multiplier"] != 1.0:
            mask = in_window & occ["cust"].isin(tcust)
            occ.loc[mask, "value"] *= e["value_multiplier"]
        add = treated & gets_extra
        if add.any():
            extra.append(pd.DataFrame({"cust": elig[add], "day": extra_day[add], "value": extra_val[add]}))
        pre = before[before["day"] >= day0 - 90].groupby("cust")["value"].sum().reindex(elig, fill_value=0.0)
        rows.append(pd.DataFrame({
            "experiment_id": exp_id, "cust": elig,
            "variant": [e["variants"][v] for v in variants], "assigned_at": e["assigned_at"],
            "is_control": variants == 0, "planned_share": [e["shares"][v] for v in variants],
            "pre_period_spend": pre.round(2).to_numpy(),
        }))
    if extra:
        occ = pd.concat([occ] + extra, ignore_index=True)
    return occ, pd.concat(rows, ignore_index=True), truth


def _transactions(rng, cust: pd.DataFrame, occ: pd.DataFrame) -> pd.DataFrame:
    """Split each occasion into 1-3 category lines, add channel, time of day and some refunds."""
    n_lines = 1 + rng.binomial(2, 0.2, len(occ))
    idx = np.repeat(np.arange(len(occ)), n_lines)
    share = rng.dirichlet([1.0, 1.0, 1.0], len(occ))
    line_no = np.concatenate([np.arange(k) for k in n_lines])
    frac = np.where(n_lines[idx] == 1, 1.0, share[idx, line_no] / share[idx, :n_lines.max()].cumsum(1)[
        np.arange(len(idx)), n_lines[idx] - 1])
    cu = occ["cust"].to_numpy()[idx]
    prefs = np.stack(cust["cat_pref"].to_numpy())[cu]
    cat = (prefs.cumsum(1) > rng.uniform(size=len(idx))[:, None]).argmax(1)
    online = rng.uniform(size=len(idx)) < cust["online_pref"].to_numpy()[cu]
    secs = np.where(online, rng.integers(0, 86400, len(idx)), rng.integers(9 * 3600, 21 * 3600, len(idx)))
    amount = np.round(occ["value"].to_numpy()[idx] * frac, 2)
    amount = np.maximum(amount, 0.5)
    tx = pd.DataFrame({
        "cust": cu, "day": occ["day"].to_numpy()[idx], "secs": secs, "amount": amount,
        "channel": np.where(online, "online", "retail"), "category": np.array(CATEGORIES)[cat],
    })
    # About 1 % of lines are refunded in part the same day (netted per customer-day downstream).
    ref = rng.uniform(size=len(tx)) < 0.01
    refunds = tx[ref].copy()
    refunds["amount"] = -np.round(refunds["amount"] * rng.uniform(0.2, 0.8, int(ref.sum())), 2)
    refunds["secs"] = np.minimum(refunds["secs"] + 600, 86399)
    tx = pd.concat([tx, refunds], ignore_index=True).sort_values(["day", "secs", "cust"], kind="mergesort")
    tx["timestamp"] = (START + pd.to_timedelta(tx["day"], unit="D") + pd.to_timedelta(tx["secs"], unit="s"))
    tx["customer_id"] = cust["customer_id"].to_numpy()[tx["cust"]]
    tx["transaction_id"] = [f"T{i:08d}" for i in range(1, len(tx) + 1)]
    return tx[["transaction_id", "customer_id", "timestamp", "amount", "channel", "category"]].reset_index(drop=True)


def make_demo_data(n_customers: int = 20_000, seed: int = 2026) -> dict:
    """Simulate the demo base and return its tables and truth (nothing is written).

    Returns
    -------
    dict with keys ``transactions``, ``customers``, ``assignments``, ``campaigns`` (DataFrames),
    ``truth`` (dict) and ``truth_customers`` (DataFrame).
    """
    if n_customers < 100:
        raise ParameterError(f"--customers: got {n_customers}, expected at least 100.")
    rng = np.random.default_rng(seed)
    cust = _simulate_customers(rng, n_customers)
    occ = _occasions(rng, cust)
    occ, assign, exp_truth = _assign_experiments(rng, cust, occ)
    tx = _transactions(rng, cust, occ)

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
    }
    return {"transactions": tx, "customers": customers, "assignments": assignments, "campaigns": campaigns,
            "truth": truth, "truth_customers": truth_customers}


def write_demo_data(out, n_customers: int = 20_000, seed: int = 2026, fmt: str | None = None) -> Path:
    """Write the demo base to ``out`` (Parquet by default; CSV when ``fmt='csv'``). Same seed, same bytes."""
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
    d = make_demo_data(n_customers, seed)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=False)
    for name in ("transactions", "customers", "assignments", "campaigns"):
        df = d[name]
        if fmt == "csv":
            df.to_csv(tmp / f"{name}.csv", index=False,
                      float_format="%.2f" if name not in ("assignments", "campaigns") else None)
        else:
            df.to_parquet(tmp / f"{name}.parquet", index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    d["truth_customers"].to_csv(tmp / "truth_customers.csv", index=False)
    (tmp / "truth.json").write_text(json.dumps(d["truth"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
