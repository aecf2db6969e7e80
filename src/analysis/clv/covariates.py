"""Pareto/NBD and BG/NBD with static customer covariates on the purchase and the drop-out process.
Fitted by maximum likelihood on distinct (x, t_x, T, covariates) rows; effects as multipliers of rates.

Parameterisation (CLVTools for Pareto/NBD; Hardie note 019 and pymc-marketing for BG/NBD):

- purchase rate, both models: ``alpha_i = alpha * exp(-gamma_p' z_i)``, so every customer's rate
  distribution, and its mean ``r / alpha_i``, is multiplied by ``exp(gamma_p' z_i)``;
- Pareto/NBD drop-out: ``beta_i = beta * exp(-gamma_d' z_i)``: the drop-out rate is multiplied by
  ``exp(gamma_d' z_i)``;
- BG/NBD drop-out: ``a_i = a * exp(gamma_a' z_i)``, ``b_i = b * exp(gamma_b' z_i)``; the effect is
  reported as the ratio of the mean drop-out probability per purchase ``a_i / (a_i + b_i)``.
  (CLVTools shares one coefficient between ``a`` and ``b``, which leaves that mean unchanged.)

An optional L2 penalty ``l2 * sum(gamma^2)`` is added to the mean negative log-likelihood per customer,
as CLVTools' ``reg.lambdas``. Standard errors come from the Hessian of the (penalised) log-likelihood.

Every row's log-likelihood depends on four numbers (``log r``, ``log alpha_i``, ``log s|a``,
``log beta_i|b``): derivatives are taken per row in those four directions (one shifted evaluation
gives every row's derivative at once) and carried to the coefficients by sums over covariate
patterns, so the cost grows with distinct rows, not with customers or coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from analysis.clv import likelihoods as pm
from analysis.clv.covariate_design import MIN_LEVEL_CUSTOMERS, Design
from analysis.errors import ModelError, ParameterError

MODELS = ("pareto_nbd", "bgnbd")
#: Covariate blocks of each model: (row direction, sign, design, name). Row directions are
#: 0 log r, 1 log alpha_i, 2 log s / log a_i, 3 log beta_i / log b_i.
BLOCKS = {
    "pareto_nbd": ((1, -1.0, "purchase", "purchase"), (3, -1.0, "dropout", "dropout")),
    "bgnbd": ((1, -1.0, "purchase", "purchase"), (2, 1.0, "dropout", "dropout_a"), (3, 1.0, "dropout", "dropout_b")),
}
Z95 = 1.959963984540054
#: Above this many customers the fit starts from a rough fit on a random subsample of this size: Newton's method
#: then needs one or two steps on the full data (each 15 passes over its rows) instead of five or six.
WARM_CUSTOMERS = 50_000
_H_GRAD, _H_HESS = 1e-5, 1e-4


# --------------------------------------------------------------------------- per-row log-likelihoods
def _pareto_log_g(r, alpha, s, beta, x, t):
    """Vectorised :func:`analysis.clv.likelihoods._pareto_log_g` (``alpha`` and ``beta`` per row)."""
    c = r + s + x + 1
    la, lb = np.log(alpha + t), np.log(beta + t)
    out = np.empty(np.shape(x))
    m = alpha >= beta
    z = (alpha[m] - beta[m]) / (alpha[m] + t[m])
    out[m] = -s * lb[m] - (r + x[m]) * la[m] + np.log(hyp2f1(1.0, r + x[m], c[m], z))
    n = ~m
    z = (beta[n] - alpha[n]) / (beta[n] + t[n])
    out[n] = (1 - r - x[n]) * la[n] - (1 + s) * lb[n] + np.log(hyp2f1(1.0, s + 1, c[n], z))
    return out


class _Rows:
    """Distinct (x, t_x, T, pattern) rows with weights; pairs (x, T, pattern) and (x, t_x, pattern) for 2F1."""

    def __init__(self, x, t_x, T, g, w):
        self.x, self.t_x, self.T, self.g, self.w = x, t_x, T, g, w
        self.iT, f = pm.codes(x, T, g)
        self.T_x, self.T_T, self.T_g = x[f], T[f], g[f]
        self.it, f = pm.codes(x, t_x, g)
        self.t_x_, self.t_t, self.t_g = x[f], t_x[f], g[f]


def _pareto_rows(th, d: _Rows) -> np.ndarray:
    """Per-row Pareto/NBD log-likelihood; ``th`` is (patterns x 4) log-parameters."""
    r, s = np.exp(th[0, 0]), np.exp(th[0, 2])
    alpha, beta = np.exp(th[:, 1]), np.exp(th[:, 3])
    aT, bT = alpha[d.T_g], beta[d.T_g]
    alive = -(r + d.T_x) * np.log(aT + d.T_T) - s * np.log(bT + d.T_T)
    g_T = _pareto_log_g(r, aT, s, bT, d.T_x, d.T_T)
    g_tx = _pareto_log_g(r, alpha[d.t_g], s, beta[d.t_g], d.t_x_, d.t_t)
    x = d.x
    with np.errstate(divide="ignore"):
        gone = (np.log(s) - np.log(r + s + x) + g_tx[d.it]
                + np.log(-np.expm1(np.minimum(g_T[d.iT] - g_tx[d.it], 0.0))))
    return (gammaln(r + x) - gammaln(r) + r * th[d.g, 1] + s * th[d.g, 3]
            + np.logaddexp(alive[d.iT], gone))


def _bgnbd_rows(th, d: _Rows) -> np.ndarray:
    """Per-row BG/NBD log-likelihood (FHL 2005 eq. 6) with per-pattern ``alpha``, ``a``, ``b``."""
    r = np.exp(th[0, 0])
    alpha, a, b = np.exp(th[d.g, 1]), np.exp(th[d.g, 2]), np.exp(th[d.g, 3])
    x = d.x
    lab = betaln(a, b)
    D1 = betaln(a, b + x) - lab - (r + x) * np.log(alpha + d.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        D2 = np.where(x > 0, betaln(a + 1, b + np.maximum(x, 1) - 1) - lab - (r + x) * np.log(alpha + d.t_x), -np.inf)
    return gammaln(r + x) - gammaln(r) + r * th[d.g, 1] + np.logaddexp(D1, D2)


_ROWS = {"pareto_nbd": _pareto_rows, "bgnbd": _bgnbd_rows}


# --------------------------------------------------------------------------- the parameter map
class _Problem:
    """Global parameters (4 log-parameters + coefficient blocks) <-> per-pattern row log-parameters."""

    def __init__(self, model, rows: _Rows, Zg: dict, l2: float):
        self.model, self.d, self.l2 = model, rows, float(l2)
        self.f = _ROWS[model]
        self.n = float(rows.w.sum())
        self.blocks = []  # (direction, sign, Z per pattern, slice of the parameter vector)
        at = 4
        for k, sign, which, name in BLOCKS[model]:
            Z = Zg[which]
            self.blocks.append((k, sign, Z, slice(at, at + Z.shape[1]), name))
            at += Z.shape[1]
        self.size = at
        self.G = next(iter(Zg.values())).shape[0]

    def theta(self, p) -> np.ndarray:
        th = np.tile(p[:4], (self.G, 1))
        for k, sign, Z, sl, _ in self.blocks:
            th[:, k] += sign * (Z @ p[sl])
        return th

    def penalty(self, p) -> float:
        return self.l2 * float(np.sum(p[4:] ** 2))

    def loglik(self, p) -> float:
        return float(np.dot(self.d.w, self.f(self.theta(p), self.d)))

    def _lift(self, per_row, k) -> np.ndarray:
        """Sum of ``w * per_row`` for the base parameter ``k`` and each coefficient of its block."""
        S = np.bincount(self.d.g, weights=self.d.w * per_row, minlength=self.G)
        out = np.zeros(self.size)
        out[k] = S.sum()
        for kk, sign, Z, sl, _ in self.blocks:
            if kk == k:
                out[sl] = sign * (Z.T @ S)
        return out

    def value(self, p) -> float:
        return -self.loglik(p) / self.n + self.penalty(p)

    def value_grad(self, p, central: bool = True):
        """Penalised mean negative log-likelihood and its gradient (per-row central or forward differences)."""
        th = self.theta(p)
        f0 = self.f(th, self.d)
        g = np.zeros(self.size)
        for k in range(4):
            e = np.zeros(4)
            e[k] = _H_GRAD
            if central:
                g += self._lift((self.f(th + e, self.d) - self.f(th - e, self.d)) / (2 * _H_GRAD), k)
            else:
                g += self._lift((self.f(th + e, self.d) - f0) / _H_GRAD, k)
        pen = np.zeros(self.size)
        pen[4:] = 2 * self.l2 * p[4:]
        return -float(np.dot(self.d.w, f0)) / self.n + self.penalty(p), -g / self.n + pen

    def derivatives(self, p, central_cross: bool | None = None):
        """Value, gradient and Hessian of the penalised mean negative log-likelihood at ``p``.

        Per-row differences in the four row directions, lifted to the coefficients: the gradient by central
        differences, the Hessian by second differences (cross terms central up to 100,000 rows, one-sided above,
        error O(h): 6 shifted evaluations instead of 24). 15 passes over the rows (33 with central cross terms).
        """
        th, h = self.theta(p), _H_HESS
        central_cross = len(self.d.w) <= 100_000 if central_cross is None else central_cross
        f0 = self.f(th, self.d)
        cache = {(): f0}

        def at(*steps):
            if steps not in cache:
                e = np.zeros(4)
                for k, s in steps:
                    e[k] += s * h
                cache[steps] = self.f(th + e, self.d)
            return cache[steps]

        maps = {k: [(k, 1.0, None)] for k in range(4)}
        for k, sign, Z, sl, _ in self.blocks:
            maps[k].append((sl, sign, Z))
        g = np.zeros(self.size)
        H = np.zeros((self.size, self.size))
        for k in range(4):
            g += self._lift((at((k, 1)) - at((k, -1))) / (2 * h), k)
            for ll in range(k, 4):
                if k == ll:
                    hk = (at((k, 1)) - 2 * f0 + at((k, -1))) / h ** 2
                elif central_cross:
                    hk = (at((k, 1), (ll, 1)) - at((k, 1), (ll, -1)) - at((k, -1), (ll, 1))
                          + at((k, -1), (ll, -1))) / (4 * h ** 2)
                else:
                    hk = (at((k, 1), (ll, 1)) - at((k, 1)) - at((ll, 1)) + f0) / h ** 2
                S = np.bincount(self.d.g, weights=self.d.w * hk, minlength=self.G)
                for ia, sa, Za in maps[k]:
                    A = np.ones((self.G, 1)) if Za is None else sa * Za
                    for ib, sb, Zb in maps[ll]:
                        B = np.ones((self.G, 1)) if Zb is None else sb * Zb
                        block = A.T @ (S[:, None] * B)
                        ra = [ia] if Za is None else range(ia.start, ia.stop)
                        rb = [ib] if Zb is None else range(ib.start, ib.stop)
                        H[np.ix_(list(ra), list(rb))] += block
                        if k != ll:
                            H[np.ix_(list(rb), list(ra))] += block.T
        H = -H / self.n
        H[4:, 4:] += 2 * self.l2 * np.eye(self.size - 4)
        pen = np.zeros(self.size)
        pen[4:] = 2 * self.l2 * p[4:]
        value = -float(np.dot(self.d.w, f0)) / self.n + self.penalty(p)
        return value, -g / self.n + pen, (H + H.T) / 2

    def hessian(self, p) -> np.ndarray:
        """Hessian of the penalised mean negative log-likelihood (:meth:`derivatives`)."""
        return self.derivatives(p)[2]


# --------------------------------------------------------------------------- the fit
def _newton(prob: _Problem, p, *, tol: float = 1e-5, iterations: int = 40, central_cross: bool | None = None):
    """Damped Newton steps from ``p``; returns ``(p, value, gradient, hessian)`` at the maximum, or None.

    Each iteration takes the value, gradient and Hessian from :meth:`_Problem.derivatives` (15 passes over the
    rows), adds to the Hessian what makes it positive definite where it is not (Levenberg-Marquardt), and
    quarters the step until the value does not rise. When the Hessian is positive definite and the Newton step
    moves no parameter by more than ``tol``, that last step is taken without new derivatives (convergence is
    quadratic: it lands within about ``tol**2`` of the maximum); the value is that at the returned point, the
    gradient and Hessian those one step (< ``tol``) before. None when no step lowers the value, the numbers stop
    being finite or ``iterations`` run out: the caller falls back to L-BFGS-B.
    """
    v, g, H = prob.derivatives(p, central_cross)
    for _ in range(iterations):
        if not (np.isfinite(v) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            return None
        eig = np.linalg.eigvalsh(H)
        damp = 0.0 if eig[0] > 1e-10 * max(eig[-1], 1e-300) else 1e-6 * max(abs(eig[-1]), 1.0) - eig[0]
        step = np.linalg.solve(H + damp * np.eye(len(p)), g)
        if not np.all(np.isfinite(step)):
            return None
        if damp == 0.0 and np.abs(step).max() < tol:
            last = prob.value(p - step)
            return (p - step, last, g, H) if last <= v + 1e-15 * max(abs(v), 1.0) else (p, v, g, H)
        step *= min(1.0, 2.0 / np.abs(step).max())  # no jump of more than 2 on the log scale
        t = 1.0
        while prob.value(p - t * step) > v + 1e-15 * max(abs(v), 1.0):
            t /= 4
            if t < 1e-6:
                return None
        p = p - t * step
        v, g, H = prob.derivatives(p, central_cross)
    return None


@dataclass(frozen=True)
class CovariateFit:
    """A fitted covariate model: base parameters, coefficients, their covariance and the design.

    ``params`` are the reference customer's parameters (``r, alpha, s, beta`` or ``r, alpha, a, b``,
    in the data's time unit); ``coefficients`` maps block name (``purchase``, ``dropout`` or
    ``dropout_a``/``dropout_b``) to ``{term key: gamma}``; ``cov`` is the covariance of the full
    parameter vector (log base parameters, then the coefficients), None without a proper maximum.
    """

    model: str
    params: dict
    coefficients: dict
    standard_errors: dict  # same shape as params (delta method) and coefficients
    cov: np.ndarray | None
    vector: np.ndarray  # log base parameters (data time unit) and coefficients
    log_likelihood: float
    n_customers: int
    n_rows: int
    l2: float
    converged: bool
    design: Design
    purchase_design: Design
    dropout_design: Design

    def summary(self) -> pd.DataFrame:
        """One row per parameter: ``parameter, estimate, std_error``."""
        rows = [(k, v, self.standard_errors["params"][k]) for k, v in self.params.items()]
        for block, coefs in self.coefficients.items():
            rows += [(f"{block}.{k}", v, self.standard_errors[block][k]) for k, v in coefs.items()]
        return pd.DataFrame(rows, columns=["parameter", "estimate", "std_error"])


def _prepare(table: pd.DataFrame, Zp: np.ndarray, Zd: np.ndarray, weights=None):
    x, t_x, T = (table[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    Z = np.hstack([Zp, Zd])
    g, first = pm.codes(*Z.T) if Z.shape[1] else (np.zeros(len(x), np.int64), np.array([0]))
    code, f = pm.codes(x, t_x, T, g)
    W = np.bincount(code, weights=w, minlength=len(f))
    return x[f], t_x[f], T[f], g[f], W, Zp[first], Zd[first], g


def _base_start(model, x, t_x, T, w, start):
    """The base parameters to start from: ``start`` or the fit without covariates."""
    if start is not None:
        return start
    base = pm.fit(model, {"frequency": x, "recency": t_x, "T": T}, weights=w, polish=False)
    if not np.all(np.isfinite(list(base.params.values()))):
        raise ModelError("the purchase model without covariates has no finite maximum on this data.",
                         reason="no_convergence")
    return base.params


def _lbfgsb_fit(prob: _Problem, model, x, t_x, T, w, start, shift, rough: bool):
    """The fallback when Newton's method finds no way down: L-BFGS-B from the fit without covariates, then up to
    5 Newton steps with the Hessian at its end (L-BFGS-B stops short of machine precision).
    Returns ``(p, value, gradient, hessian, proper)``."""
    start = _base_start(model, x, t_x, T, w, start)
    p0 = np.zeros(prob.size)
    p0[:4] = np.log([start[k] for k in pm.PARAMS[model]]) + shift[:4]
    grad = (lambda q: prob.value_grad(q, central=False)) if rough else prob.value_grad
    out = minimize(grad, p0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 3000, "ftol": 1e-11 if rough else 1e-14, "gtol": 1e-7 if rough else 1e-9})
    p = out.x
    if not np.isfinite(out.fun):
        raise ModelError("the covariate model's log-likelihood is not finite at its start.", reason="no_convergence")
    H = prob.hessian(p)
    proper = bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0)
    v = gr = None
    for _ in range(0 if rough or not proper else 5):
        v, gr = prob.value_grad(p)
        step = np.linalg.solve(H, gr)
        if not np.all(np.isfinite(step)) or np.abs(step).max() > 1 or np.abs(step).max() < 1e-9:
            break
        if prob.value(p - step) > v + 1e-15:
            break
        p, v = p - step, None
    if v is None:
        v, gr = prob.value_grad(p, central=not rough)
    if proper and not rough:
        H = prob.hessian(p)
        proper = bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0)
    return p, v, gr, H, proper


def fit_covariates(model: str, table: pd.DataFrame, purchase: Design, dropout: Design, l2: float = 0.0,
                   weights=None, start: dict | None = None, _rough: bool = False) -> CovariateFit:
    """Maximum-likelihood (optionally L2-penalised) fit of a purchase model with static covariates.

    Parameters
    ----------
    model : {"pareto_nbd", "bgnbd"}
    table : DataFrame
        ``frequency, recency, T`` and the design's columns, one row per customer (or per group with ``weights``).
    purchase, dropout : Design
        Covariates of the purchase and of the drop-out process (:func:`analysis.clv.covariate_design.build_design`).
    l2 : float
        Penalty ``l2 * sum(gamma^2)`` on the mean log-likelihood per customer (CLVTools' ``reg.lambdas``); 0: none.
    start : dict, optional
        Start of the base parameters (default: the fit without covariates).

    Returns
    -------
    CovariateFit

    Raises :class:`ModelError` (``no_convergence``) when no finite maximum is found.
    """
    if model not in MODELS:
        raise ParameterError(f"model: got {model!r}, expected one of {', '.join(MODELS)} with covariates.")
    if not np.isfinite(l2) or l2 < 0:
        raise ParameterError(f"--l2: got {l2!r}, expected a penalty >= 0 (0 = none).")
    Zp, Zd = purchase.matrix(table), dropout.matrix(table)
    x, t_x, T, g, w, Zpg, Zdg, _ = _prepare(table, Zp, Zd, weights)
    scale = 1.0 / T.max()  # time scaled so the oldest customer's age is 1: alpha and beta become O(1)
    rows = _Rows(x, t_x * scale, T * scale, g, w)
    prob = _Problem(model, rows, {"purchase": Zpg, "dropout": Zdg}, l2)
    time_idx = [1, 3] if model == "pareto_nbd" else [1]
    shift = np.zeros(prob.size)
    shift[time_idx] = np.log(scale)
    warm = None
    if weights is None and start is None and len(table) > WARM_CUSTOMERS:
        pick = np.sort(np.random.default_rng(0).choice(len(table), WARM_CUSTOMERS, replace=False))
        warm = fit_covariates(model, table.iloc[pick], purchase, dropout, l2=l2, _rough=True)
    with np.errstate(all="ignore"), threadpool_limits(1):
        if warm is not None and np.all(np.isfinite(warm.vector)):
            p0 = warm.vector + shift
        else:
            p0 = np.zeros(prob.size)
            base = _base_start(model, x, t_x, T, w, start)
            p0[:4] = np.log([base[k] for k in pm.PARAMS[model]]) + shift[:4]
        # A start for a larger fit (rough) needs a looser tolerance and one-sided cross differences: the larger
        # fit's own Newton steps finish the job.
        found = _newton(prob, p0, tol=1e-3 if _rough else 1e-5, central_cross=False if _rough else None)
        if found is not None:
            p, v, gr, H = found
            proper = bool(np.linalg.eigvalsh(H).min() > 0)
        else:
            p, v, gr, H, proper = _lbfgsb_fit(prob, model, x, t_x, T, w, start, shift, _rough)
        cov = np.linalg.inv(H) / prob.n if proper else None
        ll = (prob.penalty(p) - v) * prob.n + float(np.dot(w, x)) * np.log(scale)  # back to the data's time unit
    vector = p - shift
    names = pm.PARAMS[model]
    params = dict(zip(names, map(float, np.exp(vector[:4]))))
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None else np.full(prob.size, np.nan)
    ses = {"params": {k: float(params[k] * se_all[i]) for i, k in enumerate(names)}}
    coefs = {}
    for *_, sl, name in prob.blocks:
        terms = (purchase if name == "purchase" else dropout).terms
        coefs[name] = {t.key: float(vector[sl][j]) for j, t in enumerate(terms)}
        ses[name] = {t.key: float(se_all[sl][j]) for j, t in enumerate(terms)}
    converged = bool(np.isfinite(v) and np.abs(gr).max() < (1e-4 if _rough else 1e-5))
    merged = Design(tuple(dict.fromkeys(purchase.columns + dropout.columns)), purchase.terms + dropout.terms,
                    {**purchase.reference, **dropout.reference}, {**purchase.pooled, **dropout.pooled},
                    {**purchase.scale, **dropout.scale})
    return CovariateFit(model, params, coefs, ses, cov, vector, float(ll), int(round(prob.n)), len(x), float(l2),
                        converged, merged, purchase, dropout)


__all__ = ["MODELS", "BLOCKS", "CovariateFit", "fit_covariates"]


# --------------------------------------------------------------------------- effects
def _mean_dropout_log_ratio(v, ia, ib, ja, jb):
    """log of E[p | term] / E[p | reference] for BG/NBD, ``E[p] = a / (a + b)``, from the parameter vector."""
    la, lb = v[ia], v[ib]
    la1, lb1 = la + v[ja], lb + v[jb]
    return (la1 - np.logaddexp(la1, lb1)) - (la - np.logaddexp(la, lb))


def effects(fit: CovariateFit) -> pd.DataFrame:
    """Each term's effect as a multiplier of the process's rate against the reference level, with 95 % interval.

    Columns ``process`` (``purchase``, ``dropout``), ``key`` (``COL=LEVEL`` or ``COL``), ``column``, ``level``,
    ``customers``, ``multiplier``, ``ci_low``, ``ci_high``, ``log_multiplier``, ``std_error``.
    Purchase: the purchase rate multiplier ``exp(gamma)``; drop-out: Pareto/NBD's drop-out rate
    multiplier ``exp(gamma)``, BG/NBD's ratio of the mean drop-out probability per purchase
    (interval by the delta method on the log ratio). A numeric column's effect is per standard deviation.
    Intervals are NaN when the fit has no covariance (no proper maximum).
    """
    rows = []
    cov = fit.cov
    sizes = [len(fit.purchase_design.terms)] + [len(fit.dropout_design.terms)] * (len(BLOCKS[fit.model]) - 1)
    starts = 4 + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    v = fit.vector

    def add(process, term, logm, se):
        lo, hi = (logm - Z95 * se, logm + Z95 * se) if np.isfinite(se) else (np.nan, np.nan)
        rows.append({"process": process, "key": term.key, "column": term.column, "level": term.level,
                     "customers": term.customers, "multiplier": float(np.exp(logm)), "ci_low": float(np.exp(lo)),
                     "ci_high": float(np.exp(hi)), "log_multiplier": float(logm), "std_error": float(se)})

    for j, t in enumerate(fit.purchase_design.terms):
        i = starts[0] + j
        add("purchase", t, v[i], np.sqrt(cov[i, i]) if cov is not None else np.nan)
    for j, t in enumerate(fit.dropout_design.terms):
        if fit.model == "pareto_nbd":
            i = starts[1] + j
            add("dropout", t, v[i], np.sqrt(cov[i, i]) if cov is not None else np.nan)
            continue
        ja, jb = starts[1] + j, starts[2] + j
        logm = _mean_dropout_log_ratio(v, 2, 3, ja, jb)
        se = np.nan
        if cov is not None:
            grad = np.zeros(len(v))
            for i in (2, 3, ja, jb):
                e = np.zeros(len(v))
                e[i] = 1e-6
                grad[i] = (_mean_dropout_log_ratio(v + e, 2, 3, ja, jb)
                           - _mean_dropout_log_ratio(v - e, 2, 3, ja, jb)) / 2e-6
            se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
        add("dropout", t, logm, se)
    return pd.DataFrame(rows)


def covariates_json(fit: CovariateFit) -> dict:
    """The params JSON's ``covariates``: ``{purchase|dropout: {key: {multiplier, ci_low, ci_high}}}`` and the design.

    The reference levels are not listed among the effects (they are 1 by definition); ``reference``,
    ``pooled`` (levels under the small-group rule, pooled into ``other``) and ``per_sd`` (numeric columns,
    effects per standard deviation) say how to read them.
    """
    eff = effects(fit)

    def num(v):
        return None if not np.isfinite(v) else float(v)

    out = {p: {r.key: {"multiplier": num(r.multiplier), "ci_low": num(r.ci_low), "ci_high": num(r.ci_high)}
               for r in eff[eff["process"] == p].itertuples()} for p in ("purchase", "dropout")}
    d = fit.design
    out.update({"reference": dict(d.reference), "pooled": {c: list(v) for c, v in d.pooled.items()},
                "per_sd": {c: {"mean": m, "sd": s} for c, (m, s) in d.scale.items()},
                "coefficients": {b: dict(c) for b, c in fit.coefficients.items()},
                "standard_errors": {b: dict(c) for b, c in fit.standard_errors.items() if b != "params"},
                "min_level_customers": MIN_LEVEL_CUSTOMERS, "l2": fit.l2, "converged": fit.converged, "hessian_ok": fit.cov is not None,
                "drop_out_measure": "rate" if fit.model == "pareto_nbd" else "mean_probability_per_purchase"})
    return out


__all__ += ["effects", "covariates_json"]
