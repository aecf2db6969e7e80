"""The drop-out model of the contacts page: what follows a complaint, and how much marketing is too much.

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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, digamma, gammaln
from threadpoolctl import threadpool_limits

from analysis import detached
from analysis.contacts.table import date_sql, open_source, require_contacts
from analysis.customers.table import purchase_days_sql
from analysis.errors import ModelError

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
    return f"""
    WITH days AS (SELECT customer_id, CAST(day AS TIMESTAMP) AS day FROM ({purchase_days_sql()})
                  WHERE is_purchase = 1 AND day <= CAST({date_sql(as_of)} AS DATE)),
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
           max(date_diff('day', s.day - INTERVAL (s.t) DAY, {date_sql(as_of)})) AS age, count(*) AS n
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
    source : path or analysis.data.Source
    as_of : date-like

    Raises
    ------
    ModelError
        ``dropout_too_few`` when fewer than :data:`MIN_DROPOUTS` customers made a repeat purchase;
        ``not_estimable`` when the information matrix is singular or the fit runs to the edge of its parameters.
    """
    return start_dropout_model(source, as_of, detach=False)()


def start_dropout_model(source, as_of=None, *, detach: bool | None = None):
    """Start :func:`dropout_model` and return a function that waits for it and returns its result (or raises its
    :class:`ModelError`).

    The purchase histories are queried here; the fit (numbers only, no data source) runs in a child process when
    ``detach`` is true, or by default from :data:`DETACH_ROWS` history rows, so the caller computes the month's
    other parts meanwhile on the other core. The child (a fresh interpreter, :mod:`analysis.detached`) runs the
    same function on the same rows (customers by sorted codes instead of ids), so the model is the same to the
    last bit; if the child cannot be started or dies, the fit runs here.
    """
    src = open_source(source, as_of)
    require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    long = src.sql(_histories_sql(as_of))
    if detach is None:
        detach = len(long) >= DETACH_ROWS
    if detach:  # customers as sorted codes: the same order as the ids, a fraction of the bytes to hand over
        coded = long.assign(customer_id=pd.factorize(long["customer_id"], sort=True)[0].astype(np.int64))
        return detached.start(_fit_rows, coded, as_of)
    return detached.run_here(_fit_rows, long, as_of)


#: From this many rows of purchase histories (about 75,000 customers with contacts) the drop-out fit runs in a
#: child process (:func:`start_dropout_model`); below it starting a process costs more than the fit.
DETACH_ROWS = 200_000


def _fit_rows(long: pd.DataFrame, as_of: pd.Timestamp) -> DropoutModel:
    # small matrix products (a few thousand distinct histories x 52 cells): BLAS threads cost more than they save
    with threadpool_limits(1):
        return _fit_dropout(long, as_of)


def _fit_dropout(long: pd.DataFrame, as_of: pd.Timestamp) -> DropoutModel:
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
