"""Contacts, complaints and satisfaction: how service and marketing contacts relate to staying.

Language-free results from the optional ``contacts`` table of the data contract (validated in
:func:`analysis.data.sources._contacts`): complaint volume and handling, what follows a complaint, the
marketing pressure above which more contacts stop helping, and satisfaction (CSAT, NPS).

One model, :func:`dropout_model`, answers both "what follows a complaint" and "how much marketing
is too much": survival with the complaint state and the month's marketing pressure as
**time-varying covariates on the purchase scale** (not a landmark design, not calendar-time Cox).
In non-contractual data nobody is seen leaving; BG/NBD (the CLV page's model) explains the
purchase log by a purchase rate and a chance to leave right after each repeat purchase. A
calendar-time Cox model on "no purchase for N days" would compare frequent buyers, who complain
more because complaints follow purchases, with rare ones, would count alive but slow customers
as lost, and would dilute the ratio because customers differ so much in their chance to leave
(the high-risk complainers leave first and the survivors look loyal: hazard ratios do not
collapse over such frailty). Here every repeat purchase j is a chance to leave with probability
1 - (1 - p) ** m_j, with

    log m_j = beta[state of the latest complaint when the purchase's day began]
              + eta [no marketing that month] + b1 min(c_j, k) + b2 max(c_j - k, 0),

c_j the month's outbound marketing contacts, and the purchase rate (gamma) and p (beta) are
integrated out in closed form as in BG/NBD (with every m = 1 the likelihood is BG/NBD's). The
complaint states are none, open (not yet, or never, resolved), resolved within
:data:`FIRST_CONTACT_HOURS` hours and resolved later; exp(beta) are the individual customer's
hazard ratios of leaving, with Wald intervals. The threshold k (the level above which more
contacts stop helping and start to drive customers away) maximises the profile likelihood over
1..10; its interval is the set of k within the 95 % likelihood-ratio bound (approximate: a change
point is not a smooth parameter). The demo base's truth is recovered (tests/test_contacts.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import DataError, ModelError
from analysis.findings import Estimation

#: A complaint is resolved at first contact when it is closed within this many hours.
FIRST_CONTACT_HOURS = 24
#: Complaint states (the latest complaint at a purchase): never complained, still open, resolved fast, slowly.
COMPLAINT_STATES = ("none", "open", "resolved_fast", "resolved_slow")
#: Repeat purchases in a complaint state that its hazard ratio needs (fewer: pooled with "no complaint").
MIN_COMPLAINT_PURCHASES = 30
#: Customers with a repeat purchase that the drop-out model needs at all.
MIN_DROPOUTS = 30
#: Contacts per month pooled from this count upwards; hinge candidates of the pressure model.
MAX_CONTACTS = 12
THRESHOLD_CANDIDATES = tuple(range(1, 11))
#: Above this many customers the thresholds are screened on a seeded subsample of this size and only the best
#: one and its neighbours are fitted on everyone (see :func:`dropout_model`); below it every threshold is.
SEARCH_CUSTOMERS = 50_000
#: NPS groups on the 0-10 scale (the standard definition).
PROMOTER_MIN, DETRACTOR_MAX = 9, 6


def _source(source, as_of):
    from analysis.data import sources as data

    return source if isinstance(source, data.Source) else data.load_source(source, as_of=as_of)


def _require_contacts(src) -> None:
    if not src.has("contacts"):
        raise DataError(f"contacts: the source {src.path} has no contacts table (contacts.csv, contacts.parquet, a "
                        "contacts/ folder or a view named contacts); expected one for the contact analyses.")


def _date(ts: pd.Timestamp) -> str:
    return f"TIMESTAMP '{ts.strftime('%Y-%m-%d')}'"


@dataclass
class HazardRatio:
    """A drop-out hazard ratio with its 95 % interval; ``purchases`` are the repeat purchases it rests on."""

    state: str
    hazard_ratio: float
    ci_low: float
    ci_high: float
    purchases: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("state", "hazard_ratio", "ci_low", "ci_high", "purchases")}


@dataclass
class DropoutModel:
    """BG/NBD with the complaint state and marketing pressure multiplying the drop-out hazard per repeat purchase
    (see the module docstring).

    Attributes
    ----------
    ratios : dict of HazardRatio
        Complaint states against none (``open``, ``resolved_fast``, ``resolved_slow``; a state with fewer than
        :data:`MIN_COMPLAINT_PURCHASES` repeat purchases is pooled with none and has no ratio).
    threshold : int or None
        Monthly outbound marketing contacts above which the hazard changes slope (None: no marketing data).
    threshold_low, threshold_high : int or None
        The thresholds whose profile likelihood is within the 95 % likelihood-ratio bound of the best.
    above : HazardRatio or None
        Hazard ratio per marketing contact above the threshold (``state`` = ``"per_contact_above"``).
    profile : pandas.DataFrame
        Log-likelihood per candidate threshold.
    r, alpha, a, b : float
        The BG/NBD parameters (per day) of the fit.
    """

    ratios: dict
    threshold: int | None
    threshold_low: int | None
    threshold_high: int | None
    above: HazardRatio | None
    profile: pd.DataFrame
    as_of: pd.Timestamp
    r: float
    alpha: float
    a: float
    b: float
    customers: int

    def summary(self) -> pd.DataFrame:
        rows = [r.to_dict() for r in self.ratios.values()] + ([self.above.to_dict()] if self.above else [])
        return pd.DataFrame(rows).set_index("state")

    def to_dict(self) -> dict:
        return {"method": "BG/NBD, drop-out hazard per repeat purchase multiplied by complaint state and marketing "
                          "pressure (time-varying covariates)",
                "customers": self.customers, "bgnbd": {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b},
                "ratios": {k: r.to_dict() for k, r in self.ratios.items()},
                "threshold": self.threshold, "threshold_low": self.threshold_low,
                "threshold_high": self.threshold_high, "above": self.above.to_dict() if self.above else None}


def _histories_sql(as_of: pd.Timestamp) -> str:
    """Every purchase day up to ``as_of`` with the customer's purchase number, the state of the latest complaint
    when the day began and the month's outbound marketing contacts, aggregated per customer and cell; ``last``
    marks the customer's last purchase day, and ``t`` its days after the first one."""
    from analysis.customers.table import purchase_days_sql

    return f"""
    WITH days AS (SELECT customer_id, CAST(day AS TIMESTAMP) AS day FROM ({purchase_days_sql()})
                  WHERE is_purchase = 1 AND day <= CAST({_date(as_of)} AS DATE)),
    c AS (SELECT customer_id, timestamp AS c_at, resolved_at FROM contacts WHERE type = 'complaint'),
    mk AS (SELECT customer_id, date_trunc('month', timestamp) AS month, count(*) AS n FROM contacts
           WHERE type = 'marketing' AND direction = 'outbound' GROUP BY 1, 2),
    p AS (SELECT customer_id, day, row_number() OVER w AS k, count(*) OVER (PARTITION BY customer_id) AS x1,
                 date_diff('day', first_value(day) OVER w, day) AS t
          FROM days WINDOW w AS (PARTITION BY customer_id ORDER BY day)),
    s AS (SELECT p.*, CASE WHEN c.c_at IS NULL THEN 0 WHEN c.resolved_at IS NULL OR c.resolved_at >= p.day THEN 1
                           WHEN c.resolved_at - c.c_at <= INTERVAL {FIRST_CONTACT_HOURS} HOUR THEN 2 ELSE 3 END AS state
          FROM p ASOF LEFT JOIN c ON p.customer_id = c.customer_id AND p.day > c.c_at)
    SELECT s.customer_id, s.state, least(coalesce(mk.n, 0), {MAX_CONTACTS}) AS contacts,
           CAST(s.k = s.x1 AS INTEGER) AS last, s.k >= 2 AS repeat, max(s.t) AS t,
           max(date_diff('day', s.day - INTERVAL (s.t) DAY, {_date(as_of)})) AS age, count(*) AS n
    FROM s LEFT JOIN mk ON mk.customer_id = s.customer_id AND mk.month = date_trunc('month', s.day)
    GROUP BY ALL"""


def _design(states: list, k: int | None) -> np.ndarray:
    """d log(multiplier) / d parameter for every (complaint state, contacts) cell (columns: the state ratios, then
    no-marketing level, slope up to ``k``, slope above ``k``)."""
    width = MAX_CONTACTS + 1
    m = np.tile(np.arange(width, dtype=float), len(COMPLAINT_STATES))
    s = np.repeat(np.arange(len(COMPLAINT_STATES)), width)
    cols = [(s == i).astype(float) for i in states]
    if k is not None:
        cols += [(m == 0).astype(float), np.minimum(m, k), np.maximum(m - k, 0.0)]
    return np.column_stack(cols) if cols else np.zeros((len(m), 0))


def _nll_rows(theta, counts, last_cell, x, t_x, age, design) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of BG/NBD with a drop-out hazard multiplier per repeat purchase, and its gradient.

    Purchases come at rate lambda ~ Gamma(r, alpha) while alive; right after the j-th repeat purchase (cell
    c_j) a customer with drop-out probability p ~ Beta(a, b) leaves with probability 1 - (1 - p) ** m_j,
    log m = ``design`` @ theta[4:]. With x repeat purchases, the last t_x days after the first purchase, and
    ``age`` days of observation: L = G(x, age) B(a, b + M_x) / B(a, b) + [x > 0] G(x, t_x) (B(a, b + M_{x-1})
    - B(a, b + M_x)) / B(a, b), G(x, t) = Gamma(r + x) / Gamma(r) alpha^r / (alpha + t)^(r + x), M_j the
    multipliers' sum up to purchase j. With every m = 1 this is the BG/NBD likelihood of Fader, Hardie and
    Lee (2005).

    One term per customer: the definition, which :func:`_nll` computes on distinct histories (the same value);
    kept as the reference the tests compare it with.
    """
    from scipy.special import betaln, digamma, gammaln

    r, alpha, a, b = np.exp(theta[:4])
    m = np.exp(design @ theta[4:])
    rep = x > 0
    before = counts @ m
    total = before + np.where(rep, m[last_cell], 0.0)
    g = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    base = betaln(a, b)
    bl_t, bl_b = betaln(a, b + total), betaln(a, b + before)
    d = np.minimum(bl_t - bl_b, -1e-12)
    log1m = np.log(-np.expm1(d))
    alive = g - (r + x) * np.log(alpha + age) + bl_t - base
    gone = g - (r + x) * np.log(alpha + t_x) + bl_b - base + log1m
    ll = np.where(rep, np.logaddexp(alive, np.where(rep, gone, -np.inf)), alive)
    wa, wg = np.exp(alive - ll), np.where(rep, np.exp(gone - ll), 0.0)
    dl1 = -np.exp(d) / -np.expm1(d)  # d log(1 - e^D) / dD
    psi_ab, psi_b = digamma(a + b), digamma(b)
    psi_t, psi_bt = digamma(a + b + total), digamma(b + total)
    psi_bb, psi_abb = digamma(b + before), digamma(a + b + before)
    dg_r = digamma(r + x) - digamma(r) + np.log(alpha)
    grad = np.empty(len(theta))
    grad[0] = r * np.sum(dg_r - wa * np.log(alpha + age) - wg * np.log(alpha + t_x))
    grad[1] = alpha * np.sum(r / alpha - wa * (r + x) / (alpha + age) - wg * (r + x) / (alpha + t_x))
    grad[2] = a * np.sum(wa * (psi_ab - psi_t) + wg * (psi_ab - psi_abb + dl1 * (psi_abb - psi_t)))
    grad[3] = b * np.sum(wa * (psi_bt - psi_t - psi_b + psi_ab)
                         + wg * (psi_bb - psi_abb - psi_b + psi_ab + dl1 * (psi_bt - psi_t - psi_bb + psi_abb)))
    d_total = wa * (psi_bt - psi_t) + wg * dl1 * (psi_bt - psi_t)
    d_before = wg * (psi_bb - psi_abb) * (1 - dl1)
    d_m = counts.T @ (d_total + d_before) + np.bincount(last_cell[rep], weights=d_total[rep], minlength=len(m))
    grad[4:] = design.T @ (d_m * m)
    return float(-ll.sum()), -grad


@dataclass(frozen=True)
class _Histories:
    """The customers' histories in the form :func:`_nll` evaluates them: each costly term once per distinct value.

    Customers without a repeat purchase contribute ``(alpha / (alpha + age)) ** r`` and are kept as distinct ages
    with counts. For repeat buyers the Beta-function terms depend on the purchases before the last one per cell
    (the *pattern*, a few thousand distinct rows) and the last purchase's cell; the Gamma terms on ``x``, ``age``
    and ``t_x``, which take a few hundred distinct values each. ``i*`` map every repeat buyer to their distinct
    value; ``combo_pattern`` and ``combo_last`` give each distinct (pattern, last cell) pair.
    """

    age0: np.ndarray
    n_age0: np.ndarray
    x: np.ndarray
    ux: np.ndarray
    n_ux: np.ndarray
    ix: np.ndarray
    uage: np.ndarray
    iage: np.ndarray
    utx: np.ndarray
    itx: np.ndarray
    patterns: np.ndarray
    combo_pattern: np.ndarray
    combo_last: np.ndarray
    icombo: np.ndarray


def _first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return first


def _histories(counts: np.ndarray, last_cell: np.ndarray, x: np.ndarray, t_x: np.ndarray,
               age: np.ndarray) -> _Histories:
    """Distinct values of the customer arrays of :func:`_nll_rows` (see :class:`_Histories`); exact, no rounding."""
    rep = x > 0
    age0, n_age0 = np.unique(age[~rep], return_counts=True)
    c = np.ascontiguousarray(counts[rep], dtype=np.float64)
    # identical rows have identical bytes (counts are sums of positive whole numbers): factorise the rows as bytes
    pattern, keys = pd.factorize(c.view(f"S{c.shape[1] * c.itemsize}").ravel()) if len(c) else (np.zeros(0, int), [])
    patterns = c[_first_rows(pattern, len(keys))]
    last = last_cell[rep].astype(np.int64)
    icombo, combos = pd.factorize(pattern * counts.shape[1] + last)
    first = _first_rows(icombo, len(combos))
    ux, ix, n_ux = np.unique(x[rep], return_inverse=True, return_counts=True)
    uage, iage = np.unique(age[rep], return_inverse=True)
    utx, itx = np.unique(t_x[rep], return_inverse=True)
    return _Histories(age0.astype(float), n_age0.astype(float), x[rep].astype(float), ux, n_ux.astype(float), ix,
                      uage, iage, utx, itx, patterns, pattern[first], last[first], icombo)


def _nll(theta, h: _Histories, design) -> tuple[float, np.ndarray]:
    """:func:`_nll_rows` (value and gradient) on distinct histories: the special functions run once per distinct
    value, not per customer, and sums over customers become weighted sums over distinct values."""
    from scipy.special import betaln, digamma, gammaln

    r, alpha, a, b = np.exp(theta[:4])
    m = np.exp(design @ theta[4:])
    la = np.log(alpha)
    # customers without a repeat purchase: log L = r log(alpha / (alpha + age))
    l0 = la - np.log(alpha + h.age0)
    ll0 = r * (h.n_age0 @ l0)
    # repeat buyers
    x = h.x
    gx = gammaln(r + h.ux) - gammaln(r) + r * la
    dg_r = digamma(r + h.ux) - digamma(r) + la
    lage, ltx = np.log(alpha + h.uage)[h.iage], np.log(alpha + h.utx)[h.itx]
    before = h.patterns @ m
    total = before[h.combo_pattern] + m[h.combo_last]
    base = betaln(a, b)
    bl_b = betaln(a, b + before)[h.combo_pattern]  # per (pattern, last cell) pair from here on
    bl_t = betaln(a, b + total)
    d = np.minimum(bl_t - bl_b, -1e-12)
    log1m = np.log(-np.expm1(d))
    alive = gx[h.ix] - (r + x) * lage + (bl_t - base)[h.icombo]
    gone = gx[h.ix] - (r + x) * ltx + (bl_b - base + log1m)[h.icombo]
    ll = np.logaddexp(alive, gone)
    wa, wg = np.exp(alive - ll), np.exp(gone - ll)
    n_combo = len(total)
    sa, sg = np.bincount(h.icombo, wa, minlength=n_combo), np.bincount(h.icombo, wg, minlength=n_combo)
    dl1 = -np.exp(d) / -np.expm1(d)  # d log(1 - e^D) / dD
    psi_ab, psi_b = digamma(a + b), digamma(b)
    psi_t, psi_bt = digamma(a + b + total), digamma(b + total)
    psi_bb, psi_abb = digamma(b + before)[h.combo_pattern], digamma(a + b + before)[h.combo_pattern]
    grad = np.empty(len(theta))
    grad[0] = r * (h.n_ux @ dg_r - wa @ lage - wg @ ltx + h.n_age0 @ l0)
    grad[1] = alpha * (len(x) * r / alpha - wa @ ((r + x) / (alpha + h.uage)[h.iage])
                       - wg @ ((r + x) / (alpha + h.utx)[h.itx])
                       + h.n_age0 @ (r / alpha - r / (alpha + h.age0)))
    grad[2] = a * (sa @ (psi_ab - psi_t) + sg @ (psi_ab - psi_abb + dl1 * (psi_abb - psi_t)))
    grad[3] = b * (sa @ (psi_bt - psi_t - psi_b + psi_ab)
                   + sg @ (psi_bb - psi_abb - psi_b + psi_ab + dl1 * (psi_bt - psi_t - psi_bb + psi_abb)))
    d_total = (sa + sg * dl1) * (psi_bt - psi_t)
    d_before = sg * (psi_bb - psi_abb) * (1 - dl1)
    d_m = h.patterns.T @ np.bincount(h.combo_pattern, d_total + d_before, minlength=len(before)) \
        + np.bincount(h.combo_last, d_total, minlength=len(m))
    grad[4:] = design.T @ (d_m * m)
    return float(-(ll.sum() + ll0)), -grad


def approx_fprime_jacobian(theta: np.ndarray, f) -> np.ndarray:
    """The Hessian as central differences of the analytic gradient of ``f`` (which returns value and gradient)."""
    h = 1e-5 * np.maximum(1.0, np.abs(theta))
    cols = []
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h[j]
        cols.append((f(theta + e)[1] - f(theta - e)[1]) / (2 * h[j]))
    hess = np.column_stack(cols)
    return (hess + hess.T) / 2


def _customer_arrays(long: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Per customer (sorted ids): repeat purchases before the last one per cell (``counts``, float32: whole
    numbers), the last repeat purchase's cell, repeat purchases ``x``, ``t_x`` and ``age`` (:func:`_histories_sql`
    rows in, :func:`_nll_rows`' arguments out)."""
    row, ids = pd.factorize(long["customer_id"], sort=True)
    ids = np.asarray(ids)
    width = MAX_CONTACTS + 1
    cell = long["state"].to_numpy(int) * width + long["contacts"].to_numpy(int)
    last = long["last"].to_numpy(int) == 1
    rep = long["repeat"].to_numpy(bool)
    n = long["n"].to_numpy(float)
    counts = np.zeros((len(ids), len(COMPLAINT_STATES) * width), dtype=np.float32)
    before = rep & ~last
    np.add.at(counts, (row[before], cell[before]), n[before])
    x = np.zeros(len(ids))
    np.add.at(x, row[rep], n[rep])
    last_cell = np.zeros(len(ids), dtype=int)
    t_x = np.zeros(len(ids))
    lr = last & rep
    last_cell[row[lr]], t_x[row[lr]] = cell[lr], long["t"].to_numpy(float)[lr]
    age = np.zeros(len(ids))
    np.maximum.at(age, row, long["age"].to_numpy(float))
    return ids, counts, last_cell, x, t_x, age


def dropout_model(source, as_of=None) -> DropoutModel:
    """Fit the drop-out model: complaint hazard ratios and the marketing threshold (see the module docstring).

    Parameters
    ----------
    source : path or analysis.data.sources.Source
    as_of : date-like

    Raises
    ------
    ModelError
        ``dropout_too_few`` when fewer than :data:`MIN_DROPOUTS` customers made a repeat purchase;
        ``not_estimable`` when the information matrix is singular or the fit runs to the edge of its parameters.
    """
    from threadpoolctl import threadpool_limits

    src = _source(source, as_of)
    _require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    long = src.sql(_histories_sql(as_of))
    # small matrix products (a few thousand distinct histories x 52 cells): BLAS threads cost more than they save
    with threadpool_limits(1):
        return _fit_dropout(long, as_of)


def _fit_dropout(long: pd.DataFrame, as_of: pd.Timestamp) -> DropoutModel:
    from scipy import optimize

    ids, counts, last_cell, x, t_x, age = _customer_arrays(long)
    width = MAX_CONTACTS + 1
    if (x > 0).sum() < MIN_DROPOUTS:
        raise ModelError(f"only {int((x > 0).sum())} customers made a repeat purchase by {as_of.date()}; at least "
                         f"{MIN_DROPOUTS} are needed", "dropout_too_few",
                         {"repeat_customers": int((x > 0).sum()), "min_customers": MIN_DROPOUTS})
    # purchases per complaint state: every repeat purchase (the last included) is a chance to leave in its state
    per_state = counts.reshape(len(ids), len(COMPLAINT_STATES), width).sum(axis=(0, 2), dtype=np.float64) \
        + np.bincount(last_cell[x > 0] // width, minlength=len(COMPLAINT_STATES))
    states = [i for i in range(1, len(COMPLAINT_STATES)) if per_state[i] >= MIN_COMPLAINT_PURCHASES]
    contacts_seen = long.loc[long["contacts"] > 0, "contacts"]
    candidates = [k for k in THRESHOLD_CANDIDATES if len(contacts_seen) and k < contacts_seen.max()]

    everyone = _histories(counts, last_cell, x, t_x, age)
    subsample = {}

    def fit_at(k, start, rows=None):
        if rows is not None and not subsample:
            subsample["h"] = _histories(counts[rows], last_cell[rows], x[rows], t_x[rows], age[rows])
        f = functools.partial(_nll, h=everyone if rows is None else subsample["h"], design=_design(states, k))
        return optimize.minimize(f, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000}), f

    todo = list(candidates or [None])
    start = np.concatenate([np.log([0.5, 20.0, 0.8, 4.0]), np.zeros(len(states) + (3 if candidates else 0))])
    fits = {}
    if len(ids) <= SEARCH_CUSTOMERS or len(todo) == 1:
        for k in todo:  # each threshold starts from the previous one's fit (the profile is smooth)
            fits[k] = fit_at(k, start)
            start = fits[k][0].x
    else:
        # Big bases: the thresholds are screened on a seeded subsample of SEARCH_CUSTOMERS customers; everyone is
        # then fitted at the best one and at its neighbours, outwards for as long as a neighbour is within the 95 %
        # likelihood-ratio bound of the best, so the estimate, its interval and the threshold's interval all come
        # from fits on every customer (the profile lists the thresholds fitted on everyone).
        rows = np.sort(np.random.default_rng(0).choice(len(ids), SEARCH_CUSTOMERS, replace=False))
        screened = {}
        for k in todo:
            screened[k] = fit_at(k, start, rows)[0]
            start = screened[k].x
        lo = hi = min(range(len(todo)), key=lambda i: screened[todo[i]].fun)
        fits[todo[lo]] = fit_at(todo[lo], screened[todo[lo]].x)

        def within(i):
            best_ll = max(-r.fun for r, _ in fits.values())
            return 2 * (best_ll + fits[todo[i]][0].fun) <= 3.841

        while True:
            grew = False
            if lo > 0 and within(lo):
                lo -= 1
                fits[todo[lo]] = fit_at(todo[lo], screened[todo[lo]].x)
                grew = True
            if hi < len(todo) - 1 and within(hi):
                hi += 1
                fits[todo[hi]] = fit_at(todo[hi], screened[todo[hi]].x)
                grew = True
            if not grew:
                break
        fits = dict(sorted(fits.items()))
    profile = pd.DataFrame({"threshold": list(fits), "log_likelihood": [-r.fun for r, _ in fits.values()]})
    best = max(fits, key=lambda k: -fits[k][0].fun) if candidates else None
    res, f = fits[best]
    res = optimize.minimize(f, res.x, jac=True, method="BFGS", options={"gtol": 1e-7})
    try:
        cov = np.linalg.inv(approx_fprime_jacobian(res.x, f))
    except np.linalg.LinAlgError:
        raise ModelError("the drop-out model's information matrix is singular", "not_estimable") from None
    se = np.sqrt(np.diag(cov))
    if not np.all(np.isfinite(se)) or np.any(np.abs(res.x[:4]) > 15):
        raise ModelError("the drop-out model ran to the edge of its parameters", "not_estimable",
                         dict(zip(("r", "alpha", "a", "b"), np.exp(res.x[:4]).round(6).tolist())))

    def ratio(name, j, purchases):
        z = 1.959964 * se[j]
        return HazardRatio(name, float(np.exp(res.x[j])), float(np.exp(res.x[j] - z)), float(np.exp(res.x[j] + z)),
                           int(purchases))

    ratios = {COMPLAINT_STATES[i]: ratio(COMPLAINT_STATES[i], 4 + j, per_state[i]) for j, i in enumerate(states)}
    low = high = above = None
    if best is not None:
        ok = profile.loc[2 * (profile["log_likelihood"].max() - profile["log_likelihood"]) <= 3.841, "threshold"]
        low, high = int(ok.min()), int(ok.max())
        over = counts.reshape(len(ids), len(COMPLAINT_STATES), width)[:, :, best + 1:].sum(dtype=np.float64) \
            + int(((last_cell % width) > best)[x > 0].sum())
        above = ratio("per_contact_above", len(res.x) - 1, over)
    r_, alpha_, a_, b_ = np.exp(res.x[:4])
    return DropoutModel(ratios, best, low, high, above, profile, as_of, float(r_), float(alpha_), float(a_),
                        float(b_), int(len(ids)))


def complaint_effect(model: DropoutModel) -> DropoutModel:
    """The complaint part of a fitted :class:`DropoutModel`; ModelError ``complaints_too_few`` without an open-complaint
    ratio (fewer than :data:`MIN_COMPLAINT_PURCHASES` repeat purchases while a complaint was open)."""
    if "open" not in model.ratios:
        raise ModelError("too few repeat purchases while a complaint was open to estimate its hazard ratio",
                         "complaints_too_few", {"min_purchases": MIN_COMPLAINT_PURCHASES})
    return model


@dataclass
class ComplaintHandling:
    """Complaint volume and handling: per month, with time to resolution and first-contact resolution."""

    monthly: pd.DataFrame
    open_at_as_of: int
    first_contact_hours: int = FIRST_CONTACT_HOURS

    def this_month(self) -> dict:
        row = self.monthly.iloc[-1] if len(self.monthly) else None
        return {"complaints": int(row["complaints"]) if row is not None else 0,
                "first_contact_share": float(row["first_contact_share"]) if row is not None else float("nan")}

    def summary(self) -> pd.DataFrame:
        return self.monthly

    def to_dict(self) -> dict:
        return {"open_at_as_of": self.open_at_as_of, "first_contact_hours": self.first_contact_hours,
                "monthly": self.monthly.assign(month=self.monthly["month"].astype(str)).to_dict("records")}


def complaint_handling(source, as_of=None, months: int = 13) -> ComplaintHandling:
    """Complaints per month of the last ``months``: count, resolved, median hours to resolution, share
    resolved at first contact (closed within :data:`FIRST_CONTACT_HOURS` hours), still open at ``as_of``."""
    src = _source(source, as_of)
    _require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    start = (as_of.replace(day=1) - pd.DateOffset(months=months - 1))
    m = src.sql(f"""
        SELECT date_trunc('month', timestamp) AS month, count(*) AS complaints,
               count(resolved_at) AS resolved,
               median(date_diff('second', timestamp, resolved_at) / 3600.0) AS median_hours_to_resolution,
               avg(CASE WHEN resolved_at IS NOT NULL AND resolved_at - timestamp <= INTERVAL {FIRST_CONTACT_HOURS} HOUR
                        THEN 1.0 ELSE 0.0 END) AS first_contact_share
        FROM contacts WHERE type = 'complaint' AND timestamp >= {_date(start)}
        GROUP BY 1 ORDER BY 1""")
    grid = pd.DataFrame({"month": pd.date_range(start, as_of, freq="MS")})
    m["month"] = pd.to_datetime(m["month"])
    m = grid.merge(m, on="month", how="left")
    m[["complaints", "resolved"]] = m[["complaints", "resolved"]].fillna(0).astype(int)
    m["month"] = m["month"].dt.to_period("M")
    n_open = int(src.sql("SELECT count(*) AS n FROM contacts WHERE type = 'complaint' AND resolved_at IS NULL")["n"][0])
    return ComplaintHandling(m, n_open)


# --------------------------------------------------------------------------------------------
# marketing pressure
# --------------------------------------------------------------------------------------------
@dataclass
class MarketingPressure:
    """Outbound marketing contacts per customer-month against leaving and buying, and the threshold above which
    more contacts raise the drop-out hazard (the irritation threshold, from :func:`dropout_model`).

    ``table`` has one row per monthly contact count (pooled from :data:`MAX_CONTACTS`): customer-months at
    risk, last purchases (``events``), months with a purchase, and their rates. ``ci_low``/``ci_high`` bound
    the thresholds within the 95 % likelihood-ratio interval of the profile likelihood (an approximate
    interval: a change point is not a smooth parameter).
    """

    table: pd.DataFrame
    threshold: int
    ci_low: int
    ci_high: int
    per_contact_above: HazardRatio
    profile: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "per_contact_above": self.per_contact_above.to_dict(),
                "profile": self.profile.to_dict("records"), "table": self.table.to_dict("records")}


def _pressure_sql(as_of: pd.Timestamp, window: pd.Timestamp) -> str:
    from analysis.customers.table import purchase_days_sql

    return f"""
    WITH days AS (SELECT customer_id, CAST(day AS DATE) AS day FROM ({purchase_days_sql()})
                  WHERE is_purchase = 1 AND day <= CAST({_date(as_of)} AS DATE)),
    life AS (SELECT customer_id, date_trunc('month', min(day)) AS m0, max(day) AS last_day,
                    last_day <= CAST({_date(window)} AS DATE) AS churned FROM days GROUP BY 1),
    months AS (SELECT l.customer_id, CAST(m AS DATE) AS month, l.churned, l.last_day
               FROM life l, LATERAL (SELECT unnest(generate_series(l.m0, date_trunc('month', least(l.last_day,
                    CAST({_date(window)} AS DATE))), INTERVAL 1 MONTH)) AS m)),
    mk AS (SELECT customer_id, CAST(date_trunc('month', timestamp) AS DATE) AS month, count(*) AS n
           FROM contacts WHERE type = 'marketing' AND direction = 'outbound' GROUP BY 1, 2),
    bought AS (SELECT DISTINCT customer_id, CAST(date_trunc('month', day) AS DATE) AS month FROM days)
    SELECT least(coalesce(mk.n, 0), {MAX_CONTACTS}) AS contacts, count(*) AS months,
           sum(CASE WHEN m.churned AND date_trunc('month', m.last_day) = m.month THEN 1 ELSE 0 END) AS events,
           sum(CASE WHEN b.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS months_bought
    FROM months m LEFT JOIN mk USING (customer_id, month) LEFT JOIN bought b USING (customer_id, month)
    GROUP BY 1 ORDER BY 1"""


def marketing_pressure(model: DropoutModel, source, as_of=None,
                       inactivity_days: int | None = None) -> MarketingPressure:
    """The irritation threshold of a fitted :class:`DropoutModel`, with the customer-month table beside it (a
    customer-month "ends" with the customer's last purchase when ``inactivity_days`` have passed after it).

    Raises ModelError ``pressure_too_few`` when the source has no outbound marketing contacts to speak of.
    """
    from analysis.churn import survival

    if model.threshold is None:
        raise ModelError("no outbound marketing contacts in the months customers bought", "pressure_too_few", {})
    src = _source(source, as_of)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    days = int(survival.churn_threshold(src, as_of, inactivity_days))
    table = src.sql(_pressure_sql(as_of, as_of - pd.Timedelta(days=days)))
    table["churn_rate"] = table["events"] / table["months"]
    table["purchase_share"] = table["months_bought"] / table["months"]
    return MarketingPressure(table, model.threshold, model.threshold_low, model.threshold_high, model.above,
                             model.profile)


def month_numbers(source, as_of) -> dict:
    """The month's complaint numbers for the customer state: complaints made in ``as_of``'s month and the share
    of them resolved at first contact (None without complaints); computed once, read by every page.

    Example
    -------
    >>> month_numbers("data/sample", "2026-10-31")  # doctest: +SKIP
    {'complaints_month': 19, 'complaints_first_contact_share': 0.63...}
    """
    m = complaint_handling(source, as_of, months=1).this_month()
    return {"complaints_month": m["complaints"],
            "complaints_first_contact_share": m["first_contact_share"] if m["complaints"] else None}


def customers_over_threshold(source, as_of, threshold: int) -> int:
    """Customers who got more than ``threshold`` outbound marketing contacts in ``as_of``'s month."""
    src = _source(source, as_of)
    _require_contacts(src)
    as_of = pd.Timestamp(as_of).normalize()
    return int(src.sql(f"""
        SELECT count(*) AS n FROM (SELECT customer_id FROM contacts
        WHERE type = 'marketing' AND direction = 'outbound' AND timestamp >= {_date(as_of.replace(day=1))}
        GROUP BY 1 HAVING count(*) > {int(threshold)})""")["n"][0])


# --------------------------------------------------------------------------------------------
# satisfaction and contact frequency by segment
# --------------------------------------------------------------------------------------------
def nps(scores) -> float:
    """Net Promoter Score on the 0-10 scale: % promoters (9-10) minus % detractors (0-6).

    Example
    -------
    >>> nps([10, 9, 8, 7, 6, 0])
    0.0
    >>> nps([10, 10, 9, 5])
    50.0
    """
    s = pd.Series(scores, dtype=float).dropna()
    if s.empty:
        return float("nan")
    return float(100.0 * ((s >= PROMOTER_MIN).mean() - (s <= DETRACTOR_MAX).mean()))


def satisfaction_by(src, as_of, groups: pd.Series | None = None, since_months: int = 12) -> pd.DataFrame:
    """CSAT (1-5: mean and share of 4-5) and NPS (0-10) per group, from the last ``since_months`` months.

    ``groups`` maps customer_id to a segment (e.g. ``abc_class``); None gives one row, ``all``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    since = as_of.replace(day=1) - pd.DateOffset(months=since_months - 1)
    s = src.sql(f"""SELECT customer_id, satisfaction, satisfaction_scale FROM contacts
                    WHERE satisfaction IS NOT NULL AND timestamp >= {_date(since)}""")
    s["group"] = "all" if groups is None else s["customer_id"].map(groups).fillna("(unknown)").astype(str)
    csat = s[s["satisfaction_scale"] == "1-5"].groupby("group")["satisfaction"].agg(
        csat_responses="size", csat_mean="mean", csat_top2=lambda x: float((x >= 4).mean()))
    n = s[s["satisfaction_scale"] == "0-10"].groupby("group")["satisfaction"].agg(nps_responses="size", nps=nps)
    return csat.join(n, how="outer").reset_index()


def nps_retention(src, as_of, table: pd.DataFrame, inactivity_days: int) -> pd.DataFrame:
    """Whether customers who recommend stay: the share still active at ``as_of`` by NPS group, with Wilson 95 %
    intervals.

    Each customer's latest 0-10 answer given at least ``inactivity_days`` before ``as_of`` (so that leaving after
    it could be seen) puts them in a group: promoter (9-10), passive (7-8), detractor (0-6). ``table`` is the
    month's customer table with ``is_active``.
    """
    from analysis.experiments.analysis import wilson_interval

    as_of = pd.Timestamp(as_of).normalize()
    cutoff = as_of - pd.Timedelta(days=int(inactivity_days))
    s = src.sql(f"""SELECT customer_id, arg_max(satisfaction, timestamp) AS score FROM contacts
                    WHERE satisfaction_scale = '0-10' AND timestamp < {_date(cutoff)} GROUP BY 1""")
    active = table.set_index(table["customer_id"].astype(str))["is_active"]
    s["active"] = s["customer_id"].map(active).fillna(False).astype(bool)
    s["group"] = np.select([s["score"] >= PROMOTER_MIN, s["score"] <= DETRACTOR_MAX], ["promoter", "detractor"],
                           "passive")
    rows = []
    for g in ("promoter", "passive", "detractor"):
        part = s[s["group"] == g]
        k, n = int(part["active"].sum()), len(part)
        lo, hi = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        rows.append({"group": g, "customers": n, "active": k, "share_active": k / n if n else float("nan"),
                     "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def contact_counts(src, as_of, table: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    """Contacts in the last ``months`` months per customer, type and channel (``customer_id``, ``type``, ``channel``,
    ``n``), with ``row``: the customer's position in ``table`` (-1 when not in it), matched once for every grouping
    of :func:`contact_frequency`."""
    as_of = pd.Timestamp(as_of).normalize()
    since = as_of.replace(day=1) - pd.DateOffset(months=months - 1)
    per = src.sql(f"""SELECT customer_id, type, channel, count(*) AS n FROM contacts
                      WHERE timestamp >= {_date(since)} GROUP BY ALL""")
    per["row"] = pd.Index(table["customer_id"].astype(str)).get_indexer(per["customer_id"].astype(str))
    return per


def contact_frequency(src, as_of, table: pd.DataFrame, by: str, months: int = 12,
                      counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Contacts per customer in the last ``months`` months by ``by`` (a column of the customer table, e.g.
    ``abc_class``, ``lifecycle_stage``), per type and channel (``channel_<name>``), beside what the group is worth
    (mean ``clv`` and ``total_spend`` when the table has them). A customer without contacts counts as 0.

    ``counts``: :func:`contact_counts` of the same ``table`` and months, when already computed (the page groups
    the same counts three ways). Sums per group and type are counted with ``bincount``, not a customer x type
    pivot (a million customers' string ids grouped once, not per column).
    """
    if counts is None:
        counts = contact_counts(src, as_of, table, months)
    labels = table[by]
    labelled = labels.notna().to_numpy()
    codes, groups = pd.factorize(labels[labelled], sort=True)
    group_of_row = np.full(len(table), -1)
    group_of_row[labelled] = codes
    customers = np.bincount(codes, minlength=len(groups))
    g = np.where(counts["row"].to_numpy() >= 0, group_of_row[counts["row"].to_numpy()], -1)
    n = counts["n"].to_numpy(float)
    out = pd.DataFrame({by: groups, "customers": customers})
    for column, prefix in (("type", ""), ("channel", "channel_")):
        kinds, names = pd.factorize(counts[column], sort=True)
        ok = (g >= 0) & (kinds >= 0)
        sums = np.bincount(g[ok] * len(names) + kinds[ok], weights=n[ok],
                           minlength=len(groups) * len(names)).reshape(len(groups), len(names))
        for j, name in enumerate(names):
            out[f"{prefix}{name}"] = sums[:, j] / customers
    values = [c for c in ("clv", "total_spend") if c in table]
    if values:
        means = table.loc[labelled, [by, *values]].groupby(by)[values].mean()
        for c in values:
            out[f"mean_{c}"] = means[c].reindex(groups).to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# the page's analysis
# --------------------------------------------------------------------------------------------
@dataclass
class ContactsAnalysis:
    """Everything the contacts page shows; ``None`` parts could not be estimated (see ``findings``)."""

    as_of: pd.Timestamp
    handling: ComplaintHandling
    complaint: DropoutModel | None
    pressure: MarketingPressure | None
    satisfaction: pd.DataFrame
    frequency: dict = field(default_factory=dict)
    customers_over_threshold: int | None = None
    findings: list = field(default_factory=list)
    #: The month's segment settings (lifecycle stage windows) when built from a customer base, for the stages' names.
    segment_settings: object = None
    #: Share still active by NPS group (:func:`nps_retention`; None without a customer base).
    retention_by_nps: pd.DataFrame | None = None

    def numbers(self) -> dict:
        """The key numbers: complaints this month, share resolved at first contact, customers over the threshold."""
        m = self.handling.this_month()
        return {"complaints_month": m["complaints"], "complaints_first_contact_share": m["first_contact_share"],
                "customers_over_contact_threshold": self.customers_over_threshold}

    def summary(self) -> pd.DataFrame:
        rows = dict(self.numbers())
        if self.complaint is not None:
            r = self.complaint.ratios["open"]
            rows.update(complaint_hazard_ratio=r.hazard_ratio, ci_low=r.ci_low, ci_high=r.ci_high)
        if self.pressure is not None:
            rows.update(contact_threshold_per_month=self.pressure.threshold)
        return pd.Series(rows, name="value", dtype="object").to_frame()

    def to_dict(self) -> dict:
        out = {"as_of": str(self.as_of.date()), "numbers": self.numbers(), "handling": self.handling.to_dict(),
               "findings": [f.to_dict() for f in self.findings]}
        if self.complaint is not None:
            r = self.complaint.ratios["open"]
            out["complaint_hazard_ratio"] = {"value": r.hazard_ratio, "ci_low": r.ci_low, "ci_high": r.ci_high}
            out["dropout_model"] = self.complaint.to_dict()
        if self.pressure is not None:
            p = self.pressure
            out["contact_threshold_per_month"] = {"value": p.threshold, "ci_low": p.ci_low, "ci_high": p.ci_high}
            out["marketing_pressure"] = p.to_dict()
        out["satisfaction"] = self.satisfaction.to_dict("records")
        return out


def analyse(source=None, as_of=None, *, base=None, inactivity_days: int | None = None) -> ContactsAnalysis:
    """The contacts page's analysis: complaint handling and effect, marketing pressure, satisfaction, frequency.

    ``base`` (a :class:`analysis.base.state.CustomerBase`) supplies the churn rule and the segments;
    without it the data-driven churn rule is used and the by-segment tables are left empty. What cannot be
    estimated on valid data becomes a finding (``findings``) and its part is None.
    """
    src = base.source if base is not None and source is None else _source(source, as_of)
    _require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    if base is not None:
        inactivity_days = base.settings.inactivity_days
    est = Estimation()
    handling = complaint_handling(src, as_of)
    model = est.attempt("contacts.dropout", lambda: dropout_model(src, as_of),
                        affects=("customers_over_contact_threshold",))
    effect = pressure = None
    if model is not None:
        effect = est.attempt("contacts.complaints", lambda: complaint_effect(model), reason="complaints_too_few")
        pressure = est.attempt("contacts.pressure", lambda: marketing_pressure(model, src, as_of, inactivity_days),
                               reason="pressure_too_few", affects=("customers_over_contact_threshold",))
    over = customers_over_threshold(src, as_of, pressure.threshold) if pressure is not None else None
    groups = None
    frequency = {}
    if base is not None:
        table = base.customers
        counts = contact_counts(src, as_of, table)
        for by in ("abc_class", "lifecycle_stage", "strategy_group"):
            if by in table:
                frequency[by] = contact_frequency(src, as_of, table, by, counts=counts)
        if "abc_class" in table:
            groups = table.set_index(table["customer_id"].astype(str))["abc_class"]
        retention = nps_retention(src, as_of, table, base.settings.inactivity_days)
    else:
        retention = None
    satisfaction = satisfaction_by(src, as_of, groups)
    settings = getattr(base, "segment_settings", None)
    return ContactsAnalysis(as_of, handling, effect, pressure, satisfaction, frequency, over, est.findings, settings,
                            retention)
