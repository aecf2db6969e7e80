"""The demo's random processes and their true parameters: customers, purchases, experiments, contacts.

Each process draws from its own seeded stream; :mod:`analysis.data.demo` assembles the tables and the truth.
"""
from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

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
#: Gross gaming revenue per euro staked by product category (the house edge): about half of lottery
#: stakes and most betting stakes are paid back as prizes. The transactions' ``margin`` column is the
#: stake times its category's rate; the demo's mix of categories keeps the overall rate near MARGIN_RATE.
MARGIN_RATES = {"lottery": 0.50, "sports_betting": 0.12, "horse_racing": 0.18, "instant_games": 0.40}

# Contacts (issue 15): complaints, service, satisfaction surveys and marketing sends, with true effects on
# drop-out. Drop-out in BG/NBD happens right after a purchase with probability p; an effect with multiplier m
# makes it 1 - (1 - p) ** m, i.e. it multiplies the drop-out hazard at a purchase, -log(1 - p), by m (for a
# small p: the probability itself), a proportional-hazards effect on the purchase scale.
#: Chance that a purchase occasion leads to a complaint (by phone, e-mail or chat within three days).
COMPLAINT_PER_PURCHASE = 0.02
#: How complaints end: resolved within FAST_RESOLUTION_HOURS, resolved later, never resolved.
COMPLAINT_RESOLUTION = {"fast": 0.5, "slow": 0.3, "unresolved": 0.2}
FAST_RESOLUTION_HOURS = 24
#: Drop-out hazard multiplier by the state of the customer's latest complaint: open (not yet, or never,
#: resolved), resolved fast, resolved slowly. Fast resolution removes most of the harm.
COMPLAINT_HAZARD = {"open": 3.0, "fast": 1.2, "slow": 1.6}
#: Outbound marketing contacts per month above which drop-out rises (the irritation threshold), and the
#: drop-out hazard multiplier per contact above it: hazard x RATIO ** max(0, contacts - THRESHOLD).
CONTACT_THRESHOLD = 4
MARKETING_HAZARD_RATIO = 1.5
#: Mean monthly marketing contacts of the pressure groups the company's campaign calendar puts permission
#: holders in (sent to customers who bought in the 365 days before the month; independent of their rates).
MARKETING_INTENSITY = {0.5: 0.25, 1.5: 0.3, 3.0: 0.2, 4.5: 0.15, 6.5: 0.1}
MARKETING_ACTIVE_DAYS = 365
CONTACT_STREAM = 15  # the contacts' random stream: default_rng([seed, 15]), separate from the purchases'
#: The experiments' randomisation has a stream of its own, so who is in which arm does not depend on how many
#: draws the purchase and contact processes used before it (as a real randomiser does not).
ASSIGNMENT_STREAM = 13

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


def season_multiplier(days: np.ndarray) -> np.ndarray:
    """Multiplier of the purchase rate on each day (days since START)."""
    m = np.ones_like(days, dtype=float)
    for a, b, f in EVENTS:
        lo, hi = (pd.Timestamp(a) - START).days, (pd.Timestamp(b) - START).days
        m[(days >= lo) & (days <= hi)] = f
    return m


def simulate_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
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


def _purchase_days(rng, lam: float, p: float, first_day: int, horizon: int, season: np.ndarray, season_max: float,
                   effects: "_ContactEffects | None" = None):
    """Purchase days of one customer under BG/NBD with seasonal thinning; the drop-out day; complaints; and the
    drop-out day the customer would have had without contacts (None: alive at the horizon).

    The path without contacts is drawn exactly as without ``effects`` (same draws from ``rng``), so a
    customer whom no contact touches has the same purchases as before. With ``effects`` the customer
    drops out at the first purchase whose uniform draw is below 1 - (1 - p) ** m, m the contact multiplier
    (:meth:`_ContactEffects.multiplier`, at least 1): the same customer, leaving at or before the day
    they would have left anyway. Complaints follow purchases before that day, drawn from the contacts'
    own random stream. The returned days stop at the drop-out day.
    """
    days = [first_day]
    complaints: list = []
    drop = None
    if effects is not None:
        effects.maybe_complain(first_day, complaints)
    t = float(first_day)
    while True:
        t += rng.exponential(1.0 / (lam * season_max))
        if t >= horizon:
            return days, drop, complaints, None
        if rng.uniform() * season_max > season[int(t)]:
            continue  # thinned: no purchase at this candidate time
        u = rng.uniform()
        if drop is None:
            days.append(int(t))
            if u < (p if effects is None else 1.0 - (1.0 - p) ** effects.multiplier(t, days, complaints)):
                drop = int(t)
            elif effects is not None:
                effects.maybe_complain(int(t), complaints)
        if u < p:
            return days, drop, complaints, int(t)


class _ContactEffects:
    """The true effects of contacts on one customer's drop-out, and the complaints that purchases lead to."""

    def __init__(self, crng, marketing: np.ndarray | None, month_of_day: np.ndarray, month_start: np.ndarray):
        self.crng = crng
        self.marketing = marketing  # outbound marketing contacts planned per month (None: no permission)
        self.month_of_day = month_of_day
        self.month_start = month_start

    def maybe_complain(self, day: int, complaints: list) -> None:
        """A purchase on ``day`` leads to a complaint with COMPLAINT_PER_PURCHASE: (time, outcome, days to resolve)."""
        if self.crng.uniform() >= COMPLAINT_PER_PURCHASE:
            return
        at = day + self.crng.uniform(0.0, 3.0)
        kind = _RESOLUTION_KINDS[int(self.crng.choice(len(_RESOLUTION_KINDS), p=_RESOLUTION_P))]
        if kind == "fast":
            after = self.crng.uniform(0.2, FAST_RESOLUTION_HOURS - 4) / 24
        elif kind == "slow":
            after = self.crng.uniform(2.0, 30.0)
        else:
            after = np.inf
        complaints.append((at, kind, after))

    def multiplier(self, t: float, days: list, complaints: list) -> float:
        """Drop-out multiplier of a purchase at time ``t``: the latest complaint's state times the month's marketing
        pressure.

        The complaint state is read per day, as a purchase log shows it: the latest complaint made before the
        purchase's day began, open when it was not resolved by then.
        """
        m = 1.0
        day = float(int(t))
        for at, kind, after in reversed(complaints):
            if at < day:
                m *= COMPLAINT_HAZARD["open"] if at + after >= day else COMPLAINT_HAZARD[kind]
                break
        if self.marketing is not None:
            month = self.month_of_day[int(t)]
            excess = self.marketing[month] - CONTACT_THRESHOLD
            if excess > 0 and _recently_bought(days[:-1], self.month_start[month]):
                m *= MARKETING_HAZARD_RATIO ** excess
        return m


_RESOLUTION_KINDS = tuple(COMPLAINT_RESOLUTION)
_RESOLUTION_P = np.array(list(COMPLAINT_RESOLUTION.values()))


def _recently_bought(days: list, month_start: int) -> bool:
    """Whether a purchase fell in the MARKETING_ACTIVE_DAYS before ``month_start`` (the marketing audience rule)."""
    i = bisect.bisect_left(days, month_start)
    return i > 0 and days[i - 1] >= month_start - MARKETING_ACTIVE_DAYS


def months(horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Month index (since START) of every simulated day, and each month's first day."""
    dates = START + pd.to_timedelta(np.arange(horizon + 1), unit="D")
    month = ((dates.year - START.year) * 12 + dates.month - START.month).to_numpy()
    starts = np.array([(START + pd.DateOffset(months=k) - START).days for k in range(int(month.max()) + 1)])
    return month, starts


def marketing_plan(crng, cust: pd.DataFrame, n_months: int) -> np.ndarray:
    """Planned outbound marketing contacts per customer and month (permission holders only), before purchases."""
    levels = np.array(list(MARKETING_INTENSITY))
    mean = levels[crng.choice(len(levels), len(cust), p=np.array(list(MARKETING_INTENSITY.values())))]
    mean = np.where(cust["marketing_permission"].to_numpy() == "true", mean, 0.0)
    return crng.poisson(mean[:, None], (len(cust), n_months))


def occasions(rng, cust: pd.DataFrame, crng=None, plan: np.ndarray | None = None):
    """Purchase occasions of every customer; with ``crng`` and ``plan`` also their complaints (contacts' effects)."""
    horizon = (SIMULATE_UNTIL - START).days
    season = season_multiplier(np.arange(horizon + 1))
    season_max = float(season.max())
    month_of_day, month_start = months(horizon)
    perm = cust["marketing_permission"].to_numpy() == "true"
    rows_c, rows_d, complaints = [], [], []
    dropout = np.full(len(cust), -1)
    baseline = np.full(len(cust), -1)  # drop-out day without contacts' effects (truth only)
    for i, c in enumerate(cust.itertuples(index=False)):
        if c.prospect or c.first_day >= horizon:
            continue
        effects = None if crng is None else _ContactEffects(crng, plan[i] if perm[i] else None, month_of_day,
                                                            month_start)
        days, drop, comp, base = _purchase_days(rng, c.lam, c.p, c.first_day, horizon, season, season_max, effects)
        rows_c.extend([i] * len(days))
        rows_d.extend(days)
        complaints.extend((i, at, kind, after) for at, kind, after in comp if at < horizon)
        if drop is not None:
            dropout[i] = drop
        if base is not None:
            baseline[i] = base
    occ = pd.DataFrame({"cust": np.array(rows_c, dtype=int), "day": np.array(rows_d, dtype=int)})
    occ = occ.drop_duplicates(["cust", "day"]).reset_index(drop=True)  # same-day purchases are one occasion
    occ["value"] = rng.gamma(TRUE_GAMMA_GAMMA["p"], 1.0 / cust["nu"].to_numpy()[occ["cust"]])
    cust["dropout_day"] = dropout
    cust["dropout_day_without_contacts"] = baseline
    comp = pd.DataFrame(complaints, columns=["cust", "at", "kind", "after"])
    return occ, comp


def assign_experiments(rng, cust: pd.DataFrame, occ: pd.DataFrame):
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


def transactions(rng, cust: pd.DataFrame, occ: pd.DataFrame) -> pd.DataFrame:
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
    # gross gaming revenue of the line: the stake times the house edge of its category (refunds too)
    tx["margin"] = np.round(tx["amount"].to_numpy() * tx["category"].map(MARGIN_RATES).to_numpy(), 2)
    return tx[["transaction_id", "customer_id", "timestamp", "amount", "channel", "category", "margin"]
              ].reset_index(drop=True)


_COMPLAINT_TOPICS = ("prize payment delayed", "app login failed", "bet not settled", "ticket not registered",
                     "account locked", "wrong amount charged")
_SERVICE_TOPICS = ("password reset", "how to set a play limit", "change of address", "question about a draw")


def _timestamps(day: np.ndarray, secs: np.ndarray) -> pd.Series:
    return pd.Series(START + pd.to_timedelta(day, unit="D") + pd.to_timedelta(np.round(secs), unit="s"))


def contacts(crng, cust: pd.DataFrame, base_occ: pd.DataFrame, complaints: pd.DataFrame,
             plan: np.ndarray) -> pd.DataFrame:
    """The contacts table: marketing sends, complaints, service contacts, sales calls and NPS surveys.

    Everything is drawn from the contacts' own stream ``crng``. Marketing follows ``plan`` in the months
    when the customer bought in the MARKETING_ACTIVE_DAYS before the month (the same rule the drop-out
    effect used); complaints are the ones the purchase process drew. Free-text ``note`` holds what an agent
    would type, e-mail addresses included: it must never reach a page.
    """
    horizon = (SIMULATE_UNTIL - START).days
    month_of_day, month_start = months(horizon)
    ids = cust["customer_id"].to_numpy()
    emails = cust["email"].to_numpy()
    parts = []

    # marketing sends: customer-months of the plan whose audience rule holds
    occ = base_occ.sort_values(["cust", "day"], kind="mergesort")
    key = occ["cust"].to_numpy().astype(np.int64) * 100_000 + occ["day"].to_numpy()
    ci, mi = np.nonzero(plan)
    ms = month_start[mi]
    j = np.searchsorted(key, ci.astype(np.int64) * 100_000 + ms) - 1
    ok = (j >= 0) & (ms <= horizon)
    jj = np.clip(j, 0, None)
    ok &= (occ["cust"].to_numpy()[jj] == ci) & (occ["day"].to_numpy()[jj] >= ms - MARKETING_ACTIVE_DAYS)
    ci, mi, n = ci[ok], mi[ok], plan[ci[ok], mi[ok]]
    ci, mi = np.repeat(ci, n), np.repeat(mi, n)
    month_len = np.append(month_start[1:], horizon + 1)[mi] - month_start[mi]
    day = month_start[mi] + np.floor(crng.uniform(size=len(ci)) * month_len).astype(int)
    keep = day <= horizon
    ci, day = ci[keep], day[keep]
    channel = np.array(["newsletter", "sms", "email"])[crng.choice(3, len(ci), p=[0.6, 0.25, 0.15])]
    parts.append(pd.DataFrame({"cust": ci, "timestamp": _timestamps(day, crng.uniform(9 * 3600, 18 * 3600, len(ci))),
                               "direction": "outbound", "channel": channel, "type": "marketing",
                               "resolved_at": pd.NaT, "outcome": "", "satisfaction": np.nan,
                               "satisfaction_scale": "", "note": ""}))

    # complaints with their resolution (the state that changed the drop-out hazard)
    k = len(complaints)
    at = complaints["at"].to_numpy()
    when = _timestamps(np.floor(at), np.floor((at - np.floor(at)) * 86400))  # the simulated moment, to the second
    after = complaints["after"].to_numpy()
    resolved = _timestamps(np.floor(at + np.where(np.isfinite(after), after, 0.0)),
                           np.ceil(((at + np.where(np.isfinite(after), after, 0.0)) % 1.0) * 86400))
    resolved = resolved.where(np.isfinite(after))
    kind = complaints["kind"].to_numpy()
    csat = np.select([kind == "fast", kind == "slow"], [crng.choice([3, 4, 5], k, p=[0.15, 0.35, 0.5]),
                                                         crng.choice([2, 3, 4], k, p=[0.3, 0.4, 0.3])],
                     crng.choice([1, 2], k, p=[0.7, 0.3])).astype(float)
    csat[crng.uniform(size=k) > 0.6] = np.nan  # not everyone answers the survey
    channel = np.array(["phone", "email", "chat"])[crng.choice(3, k, p=[0.5, 0.3, 0.2])]
    topic = np.array(_COMPLAINT_TOPICS)[crng.integers(0, len(_COMPLAINT_TOPICS), k)]
    cc = complaints["cust"].to_numpy()
    note = np.where(channel == "email", [f"{t}; reply to {e}" for t, e in zip(topic, emails[cc])], topic)
    parts.append(pd.DataFrame({"cust": cc, "timestamp": when, "direction": "inbound", "channel": channel,
                               "type": "complaint", "resolved_at": resolved,
                               "outcome": np.where(np.isfinite(after), "resolved", "unresolved"),
                               "satisfaction": csat, "satisfaction_scale": "1-5", "note": note}))

    # service questions (5 % of purchase occasions) and sales calls (1 %), resolved the same day
    for kind_name, share, chans, chan_p, direction in (
            ("service", 0.05, ("phone", "chat", "email", "store"), (0.4, 0.3, 0.2, 0.1), "inbound"),
            ("sales", 0.01, ("phone",), (1.0,), "outbound")):
        pick = base_occ[crng.uniform(size=len(base_occ)) < share]
        m = len(pick)
        day = pick["day"].to_numpy() + crng.integers(0, 10, m)
        when = _timestamps(day, crng.uniform(8 * 3600, 20 * 3600, m))
        sat = crng.choice([3, 4, 5], m, p=[0.2, 0.4, 0.4]).astype(float)
        sat[crng.uniform(size=m) > (0.5 if kind_name == "service" else 0.0)] = np.nan
        keep = day <= horizon
        parts.append(pd.DataFrame({
            "cust": pick["cust"].to_numpy(), "timestamp": when, "direction": direction,
            "channel": np.array(chans)[crng.choice(len(chans), m, p=chan_p)], "type": kind_name,
            "resolved_at": when + pd.to_timedelta(crng.integers(120, 4 * 3600, m), unit="s"), "outcome": "resolved",
            "satisfaction": sat, "satisfaction_scale": np.where(np.isnan(sat), "", "1-5"),
            "note": np.array(_SERVICE_TOPICS)[crng.integers(0, len(_SERVICE_TOPICS), m)] if kind_name == "service"
            else ""})[keep])

    # NPS survey (0-10) a week after one purchase of a third of the buyers; loyal (low p) customers and
    # customers without an unresolved complaint recommend more
    first = base_occ.groupby("cust")["day"].agg(["min", "max"])
    asked = first[crng.uniform(size=len(first)) < 0.35]
    m = len(asked)
    day = (asked["min"] + np.floor(crng.uniform(size=m) * (asked["max"] - asked["min"] + 1))).astype(int).to_numpy() + 7
    c_idx = asked.index.to_numpy()
    p_rank = cust["p"].rank(pct=True).to_numpy()[c_idx]
    unresolved = np.isin(c_idx, complaints.loc[~np.isfinite(complaints["after"]), "cust"].to_numpy())
    score = np.clip(np.round(crng.normal(8.6 - 3.0 * p_rank - 2.5 * unresolved, 1.8)), 0, 10)
    keep = day <= horizon
    parts.append(pd.DataFrame({
        "cust": c_idx, "timestamp": _timestamps(day, crng.uniform(8 * 3600, 22 * 3600, m)), "direction": "inbound",
        "channel": "email", "type": "feedback", "resolved_at": pd.NaT, "outcome": "", "satisfaction": score,
        "satisfaction_scale": "0-10", "note": ""})[keep])

    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["timestamp", "cust"], kind="mergesort").reset_index(drop=True)
    out["customer_id"] = ids[out["cust"]]
    out["contact_id"] = [f"CT{i:08d}" for i in range(1, len(out) + 1)]
    out["satisfaction"] = out["satisfaction"].astype("Int64")
    return out[["contact_id", "customer_id", "timestamp", "direction", "channel", "type", "resolved_at", "outcome",
                "satisfaction", "satisfaction_scale", "note"]]

