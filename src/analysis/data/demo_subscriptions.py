"""The demo's lottery-subscription company: contracts that end (sBG), single purchases whose rate and drop-out
depend on the sales channel (Pareto/NBD with covariates) and weekly draw tickets (BG/BB), with the truth.

Three independent processes, each drawn from a known model so that tests can check that the package recovers it:

- **subscriptions**: every customer signs a monthly lottery subscription at ``signup_date``; it renews at each
  monthly anniversary with a chance ``1 - theta``, ``theta ~ Beta(alpha, beta)`` (shifted-beta-geometric, FH 2007);
  ``churn_date`` is the anniversary of the first renewal not taken (empty while the contract runs);
- **single purchases** (``transactions``): the first on the signup day, then a Pareto/NBD per day whose purchase
  and drop-out rates are multiplied by the customer's ``acquisition_channel`` (CLVTools' parameterisation, as
  :mod:`analysis.clv.covariates`);
- **weekly draws** (``draws.csv``): a ticket on the signup day, then at most one ticket per ISO week from a
  BG/BB (Fader, Hardie & Shang 2010). It is a transactions table of its own (one row per customer and draw
  played): merged into ``transactions`` it would break both the continuous-time purchase model and BG/BB's
  one-purchase-per-opportunity, so it sits beside them, to be read as a source's transactions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.demo_simulation import END, SIMULATE_UNTIL, START
from analysis.errors import ParameterError

#: Contract ends: monthly renewal, churn chance per month ~ Beta(alpha, beta) (mean 0.1).
TRUE_SBG = {"alpha": 0.8, "beta": 7.2}
#: Single purchases, per day, for the reference channel (retail_store).
TRUE_PARETO_NBD = {"r": 0.8, "alpha": 25.0, "s": 0.6, "beta": 300.0}
#: Channels and their shares; the multipliers of the purchase and the drop-out rate against retail_store.
CHANNELS = {"retail_store": 0.5, "online": 0.35, "phone": 0.15}
CHANNEL_EFFECTS = {"purchase": {"acquisition_channel=online": 1.4, "acquisition_channel=phone": 1.0},
                   "dropout": {"acquisition_channel=online": 0.6, "acquisition_channel=phone": 1.3}}
REGIONS = {"Uusimaa": 0.4, "Pirkanmaa": 0.2, "Varsinais-Suomi": 0.15, "Pohjois-Pohjanmaa": 0.25}
#: Weekly draws: p (chance to play a draw while alive) ~ Beta(alpha, beta), theta (chance to stop at the
#: start of a draw week) ~ Beta(gamma, delta).
TRUE_BGBB = {"alpha": 1.2, "beta": 0.8, "gamma": 1.5, "delta": 12.0}
#: Streams of the three processes, so each is the same whatever the others draw.
STREAMS = {"customers": 24, "subscriptions": 25, "purchases": 26, "draws": 27}


def _customers(rng, n: int) -> pd.DataFrame:
    horizon = (END - START).days
    signup = START + pd.to_timedelta(np.sort(rng.integers(0, horizon - 30, n)), unit="D")
    ch, rg = list(CHANNELS), list(REGIONS)
    return pd.DataFrame({
        "customer_id": [f"S{100000 + i:06d}" for i in range(n)],
        "signup": signup,
        "acquisition_channel": np.array(ch)[rng.choice(len(ch), n, p=list(CHANNELS.values()))],
        "region": np.array(rg)[rng.choice(len(rg), n, p=list(REGIONS.values()))],
    })


def _churn_dates(rng, signup: pd.Series) -> pd.Series:
    """The anniversary of the first renewal not taken, empty when after SIMULATE_UNTIL."""
    theta = rng.beta(TRUE_SBG["alpha"], TRUE_SBG["beta"], len(signup))
    k = np.minimum(rng.geometric(theta), 1200)  # the period whose renewal is not taken (1 = the first anniversary)
    # signup + k months, the day clipped to the month's length (as pandas' DateOffset and DuckDB's intervals)
    month = signup.to_numpy().astype("datetime64[M]") + k.astype("timedelta64[M]")
    length = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(int)
    day = np.minimum(signup.dt.day.to_numpy(), length) - 1
    ends = pd.Series(month.astype("datetime64[D]") + day.astype("timedelta64[D]")).astype("datetime64[ns]")
    return ends.where(ends <= SIMULATE_UNTIL)


def _purchases(rng, cust: pd.DataFrame) -> pd.DataFrame:
    n = len(cust)
    p = TRUE_PARETO_NBD
    mult = {proc: np.ones(n) for proc in ("purchase", "dropout")}
    for proc, block in CHANNEL_EFFECTS.items():
        for key, m in block.items():
            mult[proc] *= np.where(cust["acquisition_channel"].to_numpy() == key.partition("=")[2], m, 1.0)
    lam = rng.gamma(p["r"], 1.0 / p["alpha"], n) * mult["purchase"]
    mu = rng.gamma(p["s"], 1.0 / p["beta"], n) * mult["dropout"]
    span = ((SIMULATE_UNTIL - cust["signup"]).dt.days).to_numpy(float)
    life = np.minimum(rng.exponential(1.0 / mu), span)
    x = rng.poisson(lam * life)
    who = np.repeat(np.arange(n), x)
    at = np.concatenate([[0.0] * n, rng.uniform(0.0, np.repeat(life, x))])  # the first purchase on the signup day
    who = np.concatenate([np.arange(n), who])
    ts = cust["signup"].to_numpy()[who] + pd.to_timedelta(np.round(at * 86400), unit="s")
    amount = np.round(rng.gamma(3.0, 4.0, len(who)) + 1.0, 2)
    return pd.DataFrame({"customer_id": cust["customer_id"].to_numpy()[who], "timestamp": ts, "amount": amount,
                         "category": "instant_games"})


def _draws(rng, cust: pd.DataFrame) -> pd.DataFrame:
    """A ticket on the signup day, then BG/BB over the ISO weeks after the signup week (draws on Saturdays)."""
    n, b = len(cust), TRUE_BGBB
    week0 = cust["signup"] - pd.to_timedelta(cust["signup"].dt.weekday, unit="D")  # Monday of the signup week
    weeks = ((SIMULATE_UNTIL - week0).dt.days // 7).to_numpy()  # draw weeks after the signup week, up to the end
    p, theta = rng.beta(b["alpha"], b["beta"], n), rng.beta(b["gamma"], b["delta"], n)
    alive = np.minimum(rng.geometric(theta) - 1, weeks)  # alive for opportunities 1..alive
    who = np.repeat(np.arange(n), alive)
    k = np.arange(len(who)) - np.repeat(np.cumsum(alive) - alive, alive) + 1
    played = rng.uniform(size=len(who)) < p[who]
    who, k = who[played], k[played]
    day = week0.to_numpy()[who] + pd.to_timedelta(7 * k + 5, unit="D")
    first = cust["signup"].to_numpy()
    ts = pd.Series(np.concatenate([first, day]))
    ids = cust["customer_id"].to_numpy()
    out = pd.DataFrame({"customer_id": np.concatenate([ids, ids[who]]), "timestamp": ts,
                        "amount": 2.0, "category": "lottery_draw"})
    out = out[out["timestamp"] <= SIMULATE_UNTIL]
    return out.assign(timestamp=out["timestamp"].dt.strftime("%Y-%m-%d"))  # a draw is a date


def make_subscription_data(n_customers: int = 2_000, seed: int = 2026) -> dict:
    """Simulate the subscription company and return its tables and truth (nothing is written).

    Returns
    -------
    dict with ``customers``, ``transactions``, ``draws`` (DataFrames) and ``truth`` (dict).
    """
    if n_customers < 100:
        raise ParameterError(f"--customers: got {n_customers}, expected at least 100.")
    cust = _customers(np.random.default_rng([seed, STREAMS["customers"]]), n_customers)
    churn = _churn_dates(np.random.default_rng([seed, STREAMS["subscriptions"]]), cust["signup"])
    tx = _purchases(np.random.default_rng([seed, STREAMS["purchases"]]), cust)
    draws = _draws(np.random.default_rng([seed, STREAMS["draws"]]), cust)
    customers = pd.DataFrame({"customer_id": cust["customer_id"], "signup_date": cust["signup"].dt.strftime("%Y-%m-%d"),
                              "churn_date": churn.dt.strftime("%Y-%m-%d").fillna(""),
                              "acquisition_channel": cust["acquisition_channel"], "region": cust["region"]})
    order = ["customer_id", "timestamp", "amount", "category"]
    tx = tx.sort_values(["timestamp", "customer_id"], kind="stable")[order].reset_index(drop=True)
    draws = draws.sort_values(["timestamp", "customer_id"], kind="stable")[order].reset_index(drop=True)
    truth = {
        "description": "Synthetic lottery-subscription company (Kanta demo, kanta demo-data --subscriptions).",
        "seed": seed, "n_customers": int(n_customers), "start": str(START.date()), "end": str(END.date()),
        "simulated_until": str(SIMULATE_UNTIL.date()),
        "sbg": {**TRUE_SBG, "period": "month",
                "notes": "Each contract renews at every monthly anniversary of signup_date with chance 1 - theta, "
                         "theta ~ Beta(alpha, beta); churn_date is the anniversary of the first renewal not taken."},
        "pareto_nbd": {**TRUE_PARETO_NBD, "time_unit": "D", "reference": {"acquisition_channel": "retail_store"},
                       "covariates": {proc: {k: {"multiplier": m} for k, m in block.items()}
                                      for proc, block in CHANNEL_EFFECTS.items()},
                       "notes": "transactions: single purchases, the first on the signup day. Rates of the reference "
                                "channel; a channel multiplies the purchase and the drop-out rate of its customers."},
        "bgbb": {**TRUE_BGBB, "opportunity": "week", "file": "draws.csv",
                 "notes": "draws.csv: a ticket on the signup day, then at most one per ISO week (BG/BB). Read it as a "
                          "source's transactions table; it is not merged into transactions."},
        "notes": "The three processes are independent of each other.",
    }
    return {"customers": customers, "transactions": tx, "draws": draws, "truth": truth}


__all__ = ["make_subscription_data", "TRUE_SBG", "TRUE_PARETO_NBD", "CHANNEL_EFFECTS", "TRUE_BGBB"]
