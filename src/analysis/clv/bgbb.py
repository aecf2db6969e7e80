"""The beta-geometric/beta-binomial (BG/BB) model of buying at discrete opportunities, fitted on (x, t_x, n) counts.
P(alive), expected transactions in the next opportunities and their discounted sum for CLV.

At each opportunity (a weekly draw, a yearly appeal) an alive customer buys with chance ``p``
(Beta(alpha, beta) across customers) and, after it, leaves for good with chance ``theta``
(Beta(gamma, delta)). A customer's history is summed up by ``x`` (repeat transactions in
opportunities 1..n), ``t_x`` (the opportunity of the last one, 0 without) and ``n``: the fit runs
on distinct ``(x, t_x, n)`` rows with counts, so its cost does not grow with customers.

Reference: Fader, Hardie & Shang (2010) "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6): likelihood eq. 5, P(alive) eq. 11, expected transactions eq. 13.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, psi
from threadpoolctl import threadpool_limits

from analysis.clv.likelihoods import codes
from analysis.errors import DataError, ModelError, ParameterError

PARAMS = ("alpha", "beta", "gamma", "delta")
LOG_BOUND = 15.0
#: Fewest customers with at least one repeat transaction the fit needs.
MIN_REPEAT_CUSTOMERS = 10


def check_counts(x, t_x, n, w=None):
    """Arrays of ``(x, t_x, n, w)`` as floats; :class:`DataError` unless ``0 <= x <= t_x <= n`` and ``x == 0`` iff ``t_x == 0``."""
    x, t_x, n = (np.asarray(v, float) for v in (x, t_x, n))
    w = np.ones(len(x)) if w is None else np.asarray(w, float)
    bad = ~(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(n)) | (x < 0) | (x > t_x) | (t_x > n) | ((x == 0) != (t_x == 0))
    bad |= (x != np.round(x)) | (t_x != np.round(t_x)) | (n != np.round(n)) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"BG/BB rows: {int(bad.sum())} rows are inconsistent, e.g. row {i} (x={x[i]:g}, t_x={t_x[i]:g}, "
                        f"n={n[i]:g}); expected whole numbers with 0 <= x <= t_x <= n, and t_x = 0 when x = 0.")
    return x, t_x, n, w


class _Rows:
    """Rows prepared once per fit: each row's sum over opportunities ``j = t_x .. n - 1`` is a difference of
    tail sums on an ``(x, j)`` grid, so an evaluation costs distinct ``x`` x longest ``n``, not rows x ``n``."""

    def __init__(self, x, t_x, n, w):
        self.x, self.t_x, self.n, self.w = x, t_x, n, w
        self.ix, first = codes(x)
        self.ux = x[first]
        self.j = np.arange(int(n.max()) + 1 if len(n) else 1, dtype=float)
        self.valid = self.j[None, :] >= self.ux[:, None]  # a last purchase at t_x >= x
        self.ti, self.ni = t_x.astype(int), n.astype(int)


def _log_terms(theta, d: _Rows, gradient: bool = False):
    """Per-row log-likelihood and, with ``gradient``, its derivatives in ``theta`` (rows x 4)."""
    alpha, beta, gamma, delta = np.exp(theta)
    lab, lgd = betaln(alpha, beta), betaln(gamma, delta)
    A = betaln(alpha + d.x, beta + d.n - d.x) - lab + betaln(gamma, delta + d.n) - lgd
    ux, j = d.ux[:, None], d.j[None, :]
    with np.errstate(all="ignore"):
        lf = np.where(d.valid, betaln(alpha + ux, beta + j - ux) + betaln(gamma + 1, delta + j), -np.inf) - lab - lgd
        top = lf.max(axis=1)
        e = np.exp(lf - top[:, None])

        def span(v):  # sum over j = t_x .. n - 1 of v[x, j] per row, as a difference of tail sums
            tail = np.concatenate([np.cumsum(v[:, ::-1], axis=1)[:, ::-1], np.zeros((len(d.ux), 1))], axis=1)
            return tail[d.ix, d.ti] - tail[d.ix, d.ni]

        # the terms fall with j, so tail(t_x) - tail(n) keeps its digits
        S = np.clip(span(e), 0.0, None)
        B = top[d.ix] + np.log(S)
        L = np.logaddexp(A, B)
        if not gradient:
            return L
        pab, pgd = psi(alpha) - psi(alpha + beta), psi(gamma) - psi(gamma + delta)
        qb, qd = psi(beta) - psi(alpha + beta), psi(delta) - psi(gamma + delta)
        x, n = d.x, d.n
        dA = np.stack([psi(alpha + x) - psi(alpha + beta + n) - pab, psi(beta + n - x) - psi(alpha + beta + n) - qb,
                       psi(gamma) - psi(gamma + delta + n) - pgd, psi(delta + n) - psi(gamma + delta + n) - qd], axis=1)
        grid = (psi(alpha + ux) - psi(alpha + beta + j) - pab, psi(beta + j - ux) - psi(alpha + beta + j) - qb,
                np.broadcast_to(psi(gamma + 1) - psi(gamma + delta + j + 1) - pgd, e.shape),
                np.broadcast_to(psi(delta + j) - psi(gamma + delta + j + 1) - qd, e.shape))
        dB = np.stack([np.where(S > 0, span(np.where(d.valid, e * g, 0.0)) / S, 0.0) for g in grid], axis=1)
        wA = np.exp(A - L)[:, None]
    return L, (wA * dA + (1 - wA) * np.nan_to_num(dB)) * np.array([alpha, beta, gamma, delta])


def bgbb_loglik(theta, x, t_x, n, w=None) -> float:
    """BG/BB log-likelihood (FHS 2010 eq. 5) summed over rows with weights ``w``; ``theta = log(alpha, beta, gamma, delta)``.

    Example
    -------
    >>> round(bgbb_loglik(np.log([1.204, 0.750, 0.657, 2.783]), [0], [0], [6], [3464]), 1)
    -4043.4
    """
    x, t_x, n, w = check_counts(x, t_x, n, w)
    return float(np.dot(w, _log_terms(np.asarray(theta, float), _Rows(x, t_x, n, w))))


@dataclass(frozen=True)
class BGBBFit:
    """A fitted BG/BB: parameters, standard errors (delta method on log-parameters), fit facts."""

    params: dict
    standard_errors: dict
    log_likelihood: float
    n_customers: int
    n_rows: int
    converged: bool

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"model": "bgbb", "parameter": list(self.params), "estimate": list(self.params.values()),
                             "std_error": [self.standard_errors[k] for k in self.params]})

    def to_dict(self) -> dict:
        return {"params": dict(self.params), "standard_errors": dict(self.standard_errors),
                "log_likelihood": self.log_likelihood, "n_customers": self.n_customers, "n_rows": self.n_rows}


def fit_bgbb(x, t_x, n, weights=None) -> BGBBFit:
    """Maximum-likelihood BG/BB fit (L-BFGS-B on log-parameters; Hessian by finite differences for the errors).

    Parameters
    ----------
    x, t_x, n : arrays
        Repeat transactions, opportunity of the last one (0 without) and opportunities observed.
    weights : array, optional
        Customers per row (default 1 each).

    Raises
    ------
    ModelError
        ``too_few_repeat_customers`` (under :data:`MIN_REPEAT_CUSTOMERS` with a repeat transaction),
        ``boundary_fit`` (a parameter ran to the edge of its space) or ``no_convergence``.

    Example
    -------
    >>> x = [0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6]
    >>> t_x = [0, 1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 3, 4, 5, 6, 4, 5, 6, 5, 6, 6]
    >>> donors = [3464, 1091, 277, 129, 78, 119, 129, 613, 255, 155, 173, 234, 322, 181, 225, 357, 240, 284, 512, 335,
    ...           728, 1203]
    >>> fit = fit_bgbb(x, t_x, [6] * 22, donors)  # the donations data of FHS (2010)
    >>> {k: round(v, 3) for k, v in fit.params.items()}
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    """
    x, t_x, n, w = check_counts(x, t_x, n, weights)
    repeat = float(w[x > 0].sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise ModelError(f"BG/BB: only {repeat:.0f} customers bought again; the model needs at least "
                         f"{MIN_REPEAT_CUSTOMERS}.", reason="too_few_repeat_customers",
                         facts={"n": int(repeat), "minimum": MIN_REPEAT_CUSTOMERS})
    d = _Rows(x, t_x, n, w)
    total = float(w.sum())

    def neg(theta):
        with np.errstate(all="ignore"):
            v = -float(np.dot(w, _log_terms(theta, d))) / total
        return v if np.isfinite(v) else 1e10

    def grad(theta):
        with np.errstate(all="ignore"):
            return -(w @ _log_terms(theta, d, True)[1]) / total

    def fun(theta):
        v = neg(theta)
        return v, grad(theta) if v < 1e10 else np.zeros(4)

    best = None
    for start in (np.zeros(4), np.log([1.0, 1.0, 0.5, 3.0])):
        for _ in range(3):  # a line search that stops short (finite-difference gradient) resumes from where it was
            with threadpool_limits(1):  # 4 parameters: a threaded BLAS only stalls
                out = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
                               options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000})
            if best is None or out.fun < best.fun:
                best = out
            if out.success:
                break
            start = out.x
    theta = best.x
    # a run towards the edge that stopped before it: a parameter beyond e^10 (or below e^-10) is on its way there
    edge = LOG_BOUND - 1e-3 if best.success else 10.0
    at_bound = [k for k, t in zip(PARAMS, theta) if abs(t) >= edge]
    if at_bound:
        k = at_bound[0]
        raise ModelError(f"BG/BB: the fit ran to the boundary of the parameter space ({k} = "
                         f"{np.exp(theta[PARAMS.index(k)]):.3g}); P(alive) cannot be estimated from this data.",
                         reason="boundary_fit", facts={"model": "bgbb", "parameter": k})
    H = np.array([(grad(theta + e) - grad(theta - e)) / 2e-4 for e in np.eye(4) * 1e-4]) * total
    H = (H + H.T) / 2
    ok = bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0)
    if not (best.success or ok):
        raise ModelError(f"BG/BB: the maximum-likelihood fit did not converge ({best.message}).",
                         reason="no_convergence", facts={"model": "bgbb"})
    se_log = np.sqrt(np.diag(np.linalg.inv(H))) if ok else np.full(4, np.nan)
    params = dict(zip(PARAMS, map(float, np.exp(theta))))
    return BGBBFit(params, {k: float(params[k] * s) for k, s in zip(PARAMS, se_log)}, float(-best.fun * total),
                   int(round(total)), len(x), bool(ok))


# --------------------------------------------------------------------------- predictions
def _p(params):
    return tuple(float(params[k]) for k in PARAMS)


def _loglik_rows(params, x, t_x, n):
    x, t_x, n, w = check_counts(x, t_x, n)
    return _log_terms(np.log(_p(params)), _Rows(x, t_x, n, w)), x, t_x, n


def p_alive(params: dict, x, t_x, n, future: int = 0) -> np.ndarray:
    """P(still alive at opportunity ``n + future``) given the history (FHS eq. 11 has ``future = 1``).

    ``future = 0`` (default) is "alive now", as lifetimes' ``conditional_probability_alive`` and the
    other purchase models' P(alive).
    """
    alpha, beta, gamma, delta = _p(params)
    L, x, t_x, n = _loglik_rows(params, x, t_x, n)
    return np.exp(betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + future)
                  - betaln(gamma, delta) - L)


def expected_transactions(params: dict, horizon, x, t_x, n) -> np.ndarray:
    """Expected transactions in the next ``horizon`` opportunities, ``n + 1 .. n + horizon`` (FHS eq. 13)."""
    alpha, beta, gamma, delta = _p(params)
    L, x, t_x, n = _loglik_rows(params, x, t_x, n)
    h = np.asarray(horizon, float)
    lead = np.exp(betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - L)
    if abs(gamma - 1) < 1e-9:  # the limit gamma -> 1: a sum of logs of (delta + n + k) / (delta + n + k) ratios
        gamma += 1e-9
    g = np.exp(gammaln(gamma + delta) - gammaln(1 + delta)) * delta / (gamma - 1)
    tail = np.exp(gammaln(1 + delta + n) - gammaln(gamma + delta + n)) - \
        np.exp(gammaln(1 + delta + n + h) - gammaln(gamma + delta + n + h))
    return lead * g * tail


def discounted_transactions(params: dict, horizon: int, discount_per_opportunity: float, x, t_x, n) -> np.ndarray:
    """Sum over ``k = 1..horizon`` of the expected transactions at opportunity ``n + k``, discounted by ``(1 + d)^k``."""
    if int(horizon) != horizon or horizon < 1:
        raise ParameterError(f"horizon: got {horizon!r}, expected a whole number of opportunities >= 1.")
    if not 0 <= discount_per_opportunity < 10:
        raise ParameterError(f"discount rate: got {discount_per_opportunity!r}, expected a rate >= 0.")
    cum = np.stack([expected_transactions(params, k, x, t_x, n) for k in range(0, int(horizon) + 1)])
    disc = (1.0 + discount_per_opportunity) ** -np.arange(1, int(horizon) + 1)
    return (np.diff(cum, axis=0) * disc[:, None]).sum(axis=0)


def p_alive_table(params: dict, n: int, future: int = 0) -> pd.DataFrame:
    """P(alive) for every possible history after ``n`` opportunities: rows ``x``, columns ``t_x`` (NaN where impossible)."""
    xs, ts = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    ok = (xs <= ts) & ((xs == 0) == (ts == 0))
    out = np.full(xs.shape, np.nan)
    out[ok] = p_alive(params, xs[ok], ts[ok], np.full(ok.sum(), n), future)
    return pd.DataFrame(out, index=pd.Index(range(n + 1), name="x"), columns=pd.Index(range(n + 1), name="t_x"))


__all__ = ["PARAMS", "MIN_REPEAT_CUSTOMERS", "BGBBFit", "fit_bgbb", "bgbb_loglik", "check_counts", "p_alive",
           "expected_transactions", "discounted_transactions", "p_alive_table"]
