"""Purchase and spend models of customer value: NBD, BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma.

Log-likelihoods (vectorised, weighted rows, log-parameters, analytic gradients except Pareto/NBD),
maximum-likelihood fits with scipy, and the conditional predictions CLV needs: P(alive), expected
purchases if alive, expected spend per purchase. :mod:`analysis.clv.value` builds customer value on these.

References: Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD); Batislam,
Denizel & Filiztekin (2007) (MBG/NBD); Schmittlein, Morrison & Colombo (1987) and Fader & Hardie
(2005) note 009 (Pareto/NBD); Fader, Hardie & Lee (2005) "RFM and CLV", Hardie note 025 (Gamma-Gamma).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController
from scipy.special import betaln, expit, gammaln, hyp2f1, psi

from analysis.clv.expectation import bgnbd_purchases_if_alive_integral, needs_integral

#: Parameter names of each model, in the order of the parameter vector.
PARAMS = {
    "nbd": ("r", "alpha"),
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "v"),
}
PURCHASE_MODELS = ("bgnbd", "mbgnbd", "pareto_nbd", "nbd")
#: Purchase models with drop-out; each nests the NBD (no drop-out) as a limit of its drop-out parameters.
DROPOUT_MODELS = ("bgnbd", "mbgnbd", "pareto_nbd")
#: Bounds of the log-parameters during the fit (time scaled so that the oldest customer's age is 1).
#: A fit that stops on one of them has run to the edge of the parameter space.
LOG_BOUND = 23.0
#: Loaded once: a fresh ``threadpool_limits`` inspects the loaded libraries again, ~8 ms a fit
#: (a bootstrap refits hundreds of times).
_THREADS = ThreadpoolController()


# --------------------------------------------------------------------------- prepared rows
def _dot(a, b) -> float:
    """Sum of products without BLAS (a threaded BLAS dot of two vectors stalls on a busy machine)."""
    return float(np.einsum("i,i->", a, b))



def codes(*cols):
    """Integer code of each row's combination of ``cols`` and the first row of each code."""
    code = np.zeros(len(cols[0]), np.int64)
    for c in cols:
        cc, uniq = pd.factorize(c)
        code, _ = pd.factorize(code * len(uniq) + cc)
    first = np.full(code.max() + 1 if len(code) else 0, -1, np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    return code, first


class _Rows:
    """Rows prepared once per fit for many likelihood evaluations.

    Every term of the purchase likelihoods depends on ``x`` alone, on the pair ``(x, T)`` or on the
    pair ``(x, t_x)``; those are computed on the (few) distinct values and pairs and gathered per
    row, so special functions (gammaln, psi, 2F1) run on thousands of values, not a million rows.
    """

    def __init__(self, x, t_x, T, w):
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.n = float(w.sum())
        self.ix, first = codes(x)
        self.ux = x[first]
        self.wx = np.bincount(self.ix, weights=w, minlength=len(first))
        self.iT, first = codes(x, T)  # (x, T) pairs
        self.T_k, self.T_x, self.T_T = self.ix[first], x[first], T[first]
        self.wT = np.bincount(self.iT, weights=w, minlength=len(first))
        self.it, first = codes(x, t_x)  # (x, t_x) pairs
        self.t_k, self.t_x, self.t_t = self.ix[first], x[first], t_x[first]


class _Spend:
    """Repeat customers' ``(x, m)`` rows prepared for the Gamma-Gamma likelihood (sums that do not change)."""

    def __init__(self, x, m, w):
        self.w, self.mx, self.n = w, m * x, float(w.sum())
        self.ix, first = codes(x)
        self.ux = x[first]
        self.wx = np.bincount(self.ix, weights=w, minlength=len(first))
        self.wxr = w * x
        lm = np.log(m)
        self.s_lm, self.s_xlm = _dot(w, lm), _dot(self.wxr, lm)
        self.s_x, self.wmx = float(self.wxr.sum()), w * self.mx


# --------------------------------------------------------------------------- log-likelihoods
def _nbd(theta, d: _Rows, gradient: bool):
    r, alpha = np.exp(theta)
    lT = np.log(alpha + d.T_T)  # per (x, T) pair
    total = _dot(d.wx, gammaln(r + d.ux) - gammaln(r)) + d.n * r * np.log(alpha) - _dot(d.wT, (r + d.T_x) * lT)
    if not gradient:
        return total
    d_r = _dot(d.wx, psi(r + d.ux) - psi(r)) + d.n * np.log(alpha) - _dot(d.wT, lT)
    d_alpha = d.n * r / alpha - _dot(d.wT, (r + d.T_x) / (alpha + d.T_T))
    return total, np.array([d_r, d_alpha]) * np.array([r, alpha])


def nbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """NBD log-likelihood (purchases without drop-out) in the BG/NBD convention (FHL 2005, eq. 6 with a -> 0).

    Per row ``lnG(r+x) - lnG(r) + r ln(alpha) - (r+x) ln(alpha+T)``: the density of the purchase
    times, so it is comparable with the drop-out models' log-likelihoods on the same data (the
    likelihood-ratio test of drop-out). ``t_x`` does not enter: without drop-out, when the last
    purchase happened says nothing more. ``theta`` is ``log(r, alpha)``.

    Example
    -------
    >>> one = np.array([1.0])
    >>> round(float(nbd_loglik(np.log([0.5, 10.0]), 2 * one, 30.0 * one, 40.0 * one, one)), 4)
    -8.9164
    """
    return _nbd(theta, _Rows(*(np.asarray(v, float) for v in (x, t_x, T, w))), gradient)


def _bgnbd(theta, d: _Rows, gradient: bool):
    r, alpha, a, b = np.exp(theta)
    ux = d.ux
    xs = np.maximum(ux, 1.0)  # keeps b + x - 1 > 0 for x = 0, which has no second term
    lab = betaln(a, b)
    lT, lt = np.log(alpha + d.T_T), np.log(alpha + d.t_t)
    D1 = (betaln(a, b + ux) - lab)[d.T_k] - (r + d.T_x) * lT  # per (x, T) pair
    D2 = np.where(ux > 0, betaln(a + 1, b + xs - 1) - lab, -np.inf)[d.t_k] - (r + d.t_x) * lt  # per (x, t_x)
    D1r, D2r = D1[d.iT], D2[d.it]
    L = np.logaddexp(D1r, D2r)
    total = _dot(d.wx, gammaln(r + ux) - gammaln(r) + r * np.log(alpha)) + _dot(d.w, L)
    if not gradient:
        return total
    wp2 = d.w * np.exp(D2r - L)
    P2t = np.bincount(d.it, weights=wp2, minlength=len(lt))
    P1T = d.wT - np.bincount(d.iT, weights=wp2, minlength=len(lT))
    P1x = np.bincount(d.T_k, weights=P1T, minlength=len(ux))
    P2x = np.bincount(d.t_k, weights=P2t, minlength=len(ux))
    psab, psabx = psi(a + b), psi(a + b + ux)
    d_r = _dot(d.wx, psi(r + ux) - psi(r) + np.log(alpha)) - _dot(P1T, lT) - _dot(P2t, lt)
    d_alpha = d.n * r / alpha - _dot(P1T, (r + d.T_x) / (alpha + d.T_T)) - _dot(P2t, (r + d.t_x) / (alpha + d.t_t))
    d_a = _dot(d.wx, psab - psabx) + P2x.sum() * (psi(a + 1) - psi(a))
    d_b = _dot(d.wx, psab - psabx - psi(b)) + _dot(P1x, psi(b + ux)) + _dot(P2x, psi(b + xs - 1))
    return total, np.array([d_r, d_alpha, d_a, d_b]) * np.array([r, alpha, a, b])


def bgnbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """BG/NBD log-likelihood (FHL 2005, eq. 6) summed over rows with weights ``w``.

    ``theta`` is ``log(r, alpha, a, b)``; with ``gradient`` also returns the gradient in ``theta``.

    Example
    -------
    >>> one = np.array([1.0])
    >>> round(float(bgnbd_loglik(np.log([0.243, 4.414, 0.793, 2.426]), 2 * one, 30.43 * one, 38.86 * one, one)), 4)
    -9.4586
    """
    return _bgnbd(theta, _Rows(*(np.asarray(v, float) for v in (x, t_x, T, w))), gradient)


def _mbgnbd(theta, d: _Rows, gradient: bool):
    r, alpha, a, b = np.exp(theta)
    ux = d.ux
    lT, lt = np.log(alpha + d.T_T), np.log(alpha + d.t_t)
    ET, Et = (r + d.T_x) * lT, (r + d.t_x) * lt
    A4 = (np.log(a) - np.log(b + ux))[d.T_k][d.iT] + ET[d.iT] - Et[d.it]
    per_x = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux + 1) - betaln(a, b)
    total = _dot(d.wx, per_x) - _dot(d.wT, ET) + _dot(d.w, np.logaddexp(A4, 0.0))
    if not gradient:
        return total
    ws4 = d.w * expit(A4)
    S_T = np.bincount(d.iT, weights=ws4, minlength=len(lT))
    S_t = np.bincount(d.it, weights=ws4, minlength=len(lt))
    S_x = np.bincount(d.T_k, weights=S_T, minlength=len(ux))
    psab, psabx = psi(a + b), psi(a + b + ux + 1)
    gT, gt = (r + d.T_x) / (alpha + d.T_T), (r + d.t_x) / (alpha + d.t_t)
    d_r = _dot(d.wx, psi(r + ux) - psi(r) + np.log(alpha)) - _dot(d.wT - S_T, lT) - _dot(S_t, lt)
    d_alpha = d.n * r / alpha - _dot(d.wT - S_T, gT) - _dot(S_t, gt)
    d_a = _dot(d.wx, psab - psabx) + S_x.sum() / a
    d_b = _dot(d.wx, psi(b + ux + 1) - psabx - psi(b) + psab) - _dot(S_x, 1 / (b + ux))
    return total, np.array([d_r, d_alpha, d_a, d_b]) * np.array([r, alpha, a, b])


def mbgnbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """MBG/NBD log-likelihood (Batislam et al. 2007): drop-out is possible at time 0 too."""
    return _mbgnbd(theta, _Rows(*(np.asarray(v, float) for v in (x, t_x, T, w))), gradient)


def _pareto_log_g(r, alpha, s, beta, x, t):
    """log of ``2F1(r+s+x, .; r+s+x+1; z) / (max(alpha, beta) + t)^(r+s+x)`` (FH note 009, eqs. 19-20).

    Written with Euler's transformation as ``2F1(1, .; r+s+x+1; z)``, which stays between 1 and
    a modest bound however large ``x`` and ``t`` are (the raw form overflows for heavy buyers).
    """
    c = r + s + x + 1
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        return -s * np.log(beta + t) - (r + x) * np.log(alpha + t) + np.log(hyp2f1(1.0, r + x, c, z))
    z = (beta - alpha) / (beta + t)
    return (1 - r - x) * np.log(alpha + t) - (1 + s) * np.log(beta + t) + np.log(hyp2f1(1.0, s + 1, c, z))


def _pareto_gone(log_s_rsx, g_tx, g_T):
    with np.errstate(divide="ignore"):
        return log_s_rsx + g_tx + np.log(-np.expm1(np.minimum(g_T - g_tx, 0.0)))  # -inf when t_x == T


def _pareto_terms(params, x, t_x, T):
    """The two log-terms of the Pareto/NBD likelihood: alive at T, and dropped out in (t_x, T]."""
    r, alpha, s, beta = params
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    g_tx, g_T = _pareto_log_g(r, alpha, s, beta, x, t_x), _pareto_log_g(r, alpha, s, beta, x, T)
    return alive, _pareto_gone(np.log(s) - np.log(r + s + x), g_tx, g_T)


def _pareto_value(theta, d: _Rows) -> float:
    r, alpha, s, beta = np.exp(theta)
    ux = d.ux
    alive = -(r + d.T_x) * np.log(alpha + d.T_T) - s * np.log(beta + d.T_T)  # per (x, T) pair
    g_T = _pareto_log_g(r, alpha, s, beta, d.T_x, d.T_T)
    g_tx = _pareto_log_g(r, alpha, s, beta, d.t_x, d.t_t)  # per (x, t_x) pair
    gone = _pareto_gone((np.log(s) - np.log(r + s + ux))[d.ix], g_tx[d.it], g_T[d.iT])
    return (_dot(d.wx, gammaln(r + ux) - gammaln(r)) + d.n * (r * np.log(alpha) + s * np.log(beta))
            + _dot(d.w, np.logaddexp(alive[d.iT], gone)))


def _pareto(theta, d: _Rows, gradient: bool, central: bool = True, h: float | None = None):
    """Value and, with ``gradient``, the gradient by central (4 extra pairs) or forward differences."""
    total = _pareto_value(theta, d)
    if not gradient:
        return total
    h = (1e-6 if central else 1e-7) if h is None else h
    g = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        hi = _pareto_value(theta + e, d)
        g[i] = (hi - _pareto_value(theta - e, d)) / (2 * h) if central else (hi - total) / h
    return total, g


def pareto_nbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """Pareto/NBD log-likelihood (FH note 009, eq. 18), numerically stable for large ``x`` and ``T``.

    The gradient is by central differences (step 1e-6 in log-parameters): the analytic one needs
    derivatives of 2F1 in its parameters. The 2F1 terms are evaluated once per distinct
    ``(x, t_x)`` and ``(x, T)`` pair.
    """
    return _pareto(theta, _Rows(*(np.asarray(v, float) for v in (x, t_x, T, w))), gradient)


def _gamma_gamma(theta, d: _Spend, gradient: bool):
    # written with betaln and log1p(m x / v): accurate far out on the ridge q, v -> infinity
    # (spend without heterogeneity), where gammaln(p x + q) - gammaln(q) loses its digits
    p, q, v = np.exp(theta)
    ux = d.ux
    pux = p * ux
    l1 = np.log1p(d.mx / v)
    xl1 = _dot(d.wxr, l1)
    total = (_dot(d.wx, pux * np.log(ux) - betaln(pux, q)) + p * (d.s_xlm - np.log(v) * d.s_x) - d.s_lm
             - p * xl1 - q * _dot(d.w, l1))
    if not gradient:
        return total
    ps = psi(pux + q)
    inv = 1.0 / (v + d.mx)
    d_p = _dot(d.wx, ux * (ps - psi(pux) + np.log(ux))) + d.s_xlm - np.log(v) * d.s_x - xl1
    d_q = _dot(d.wx, ps) - d.n * psi(q) - _dot(d.w, l1)
    d_v = q / v * _dot(d.wmx, inv) - p * _dot(d.wxr, inv)
    return total, np.array([d_p, d_q, d_v]) * np.array([p, q, v])


def gamma_gamma_loglik(theta, x, m, w, gradient: bool = False):
    """Gamma-Gamma log-likelihood of average spend ``m`` over ``x`` repeat purchases (Hardie note 025)."""
    return _gamma_gamma(theta, _Spend(*(np.asarray(v, float) for v in (x, m, w))), gradient)


LOGLIK = {"nbd": nbd_loglik, "bgnbd": bgnbd_loglik, "mbgnbd": mbgnbd_loglik, "pareto_nbd": pareto_nbd_loglik,
          "gamma_gamma": gamma_gamma_loglik}
_PREPARED = {"nbd": _nbd, "bgnbd": _bgnbd, "mbgnbd": _mbgnbd, "pareto_nbd": _pareto, "gamma_gamma": _gamma_gamma}


# --------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class Estimate:
    """A maximum-likelihood estimate: parameters, covariance of the log-parameters and how the optimiser ended."""

    model: str
    params: dict
    cov_log_params: np.ndarray | None  # None when the Hessian is not negative definite (no proper maximum)
    log_likelihood: float  # in the data's own time unit (comparable across models on the same data)
    converged: bool
    message: str
    at_bound: tuple  # parameters whose log stopped on LOG_BOUND
    start: str  # "moments" or "given" (the start that succeeded)

    def standard_errors(self) -> dict:
        """Delta method: se(theta) = theta * se(log theta)."""
        if self.cov_log_params is None:
            return {k: float("nan") for k in self.params}
        d = np.sqrt(np.clip(np.diag(self.cov_log_params), 0, None))
        return {k: float(v * s) for (k, v), s in zip(self.params.items(), d)}


def _hessian(grad, theta, h=1e-4):
    """Hessian from central differences of the gradient (symmetrised)."""
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        H[i] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return (H + H.T) / 2


def _moment_start(model: str, args) -> np.ndarray:
    if model == "gamma_gamma":
        x, m, w = args
        return np.log([2.0, 3.0, max(float(np.average(m, weights=w)), 1e-6)])
    x, _, T, w = args
    rate = max(float(np.average(x, weights=w)) / max(float(np.average(T, weights=w)), 1e-9), 1e-3)
    if model == "pareto_nbd":
        return np.log([1.0, 1.0 / rate, 1.0, 1.0])
    if model == "nbd":
        return np.log([1.0, 1.0 / rate])
    return np.log([1.0, 1.0 / rate, 1.0, 3.0])


def fit(model: str, data: dict, weights=None, start: dict | None = None, polish: bool = True) -> Estimate:
    """Maximum-likelihood fit of one model with L-BFGS-B on log-parameters, polished by Newton steps.

    Parameters
    ----------
    model : {"nbd", "bgnbd", "mbgnbd", "pareto_nbd", "gamma_gamma"}
    data : dict of arrays
        ``frequency, recency, T`` (purchase models) or ``frequency, monetary_value`` (Gamma-Gamma,
        repeat customers with positive spend only).
    weights : array, optional
        Customers per row (compressed rows); default 1 each.
    start : dict, optional
        Starting parameters (e.g. from a fit on a subsample); else simple moments.
    polish : bool
        Newton steps after L-BFGS-B to machine precision (False: the optimiser's own precision,
        enough to compare candidate models; the standard errors are computed either way).

    The optimiser stops at a gradient of about 1e-7 per customer (Pareto/NBD: its gradient there is
    by forward differences); the Hessian (central differences of the gradient) is computed once and
    serves both the Newton steps and the standard errors.

    Returns
    -------
    Estimate
        ``converged`` is False when the optimiser stopped without meeting its tolerances;
        ``at_bound`` names parameters that ran to the edge of the space; ``cov_log_params`` is None
        when the log-likelihood has no proper maximum there.

    Example
    -------
    >>> x, t_x, T = np.array([0., 2, 5]), np.array([0., 20, 60]), np.array([70., 70, 70])
    >>> est = fit("bgnbd", {"frequency": x, "recency": t_x, "T": T}, weights=np.array([40, 30, 30]))
    >>> est.converged, sorted(est.params)
    (True, ['a', 'alpha', 'b', 'r'])
    """
    names = PARAMS[model]
    x = np.asarray(data["frequency"], float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    f = _PREPARED[model]
    if model == "gamma_gamma":
        args = (x, np.asarray(data["monetary_value"], float), w)
        prepared = _Spend(*args)
        scale, time_idx = 1.0, ()
    else:  # time scaled so the oldest customer's age is 1: alpha and beta become O(1)
        T = np.asarray(data["T"], float)
        scale = 1.0 / T.max()
        args = (x, np.asarray(data["recency"], float) * scale, T * scale, w)
        prepared = _Rows(*args)
        time_idx = (1, 3) if model == "pareto_nbd" else (1,)
    shift = np.zeros(len(names))
    shift[list(time_idx)] = np.log(scale)
    n = w.sum()

    def value(theta):
        return -f(theta, prepared, False) / n

    def grad(theta):
        return -f(theta, prepared, True)[1] / n

    def neg(theta):  # what the optimiser sees: Pareto/NBD's gradient by forward differences there
        if model == "pareto_nbd":
            v, g = _pareto(theta, prepared, True, central=False)
        else:
            v, g = f(theta, prepared, True)
        return -v / n, -g / n

    starts = []
    if start is not None:
        starts.append(("given", np.log([start[k] for k in names]) + shift))
    starts.append(("moments", _moment_start(model, args)))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)
    gtol = 1e-6 if model == "pareto_nbd" else 1e-8
    best = None
    for label, theta0 in starts:
        with np.errstate(all="ignore"), _THREADS.limit(limits=1):  # 4 parameters: threads only cost
            out = minimize(neg, np.clip(theta0, -LOG_BOUND + 1, LOG_BOUND - 1), jac=True, method="L-BFGS-B",
                           bounds=bounds, options={"maxiter": 2000, "ftol": 1e-13, "gtol": gtol})
        if not np.isfinite(out.fun):
            continue
        if best is None or out.fun < best[1].fun - 1e-12:
            best = (label, out)
        if out.success:
            break
    if best is None:
        return Estimate(model, {k: float("nan") for k in names}, None, float("nan"), False,
                        "log-likelihood not finite at any start", (), "moments")
    label, out = best
    theta = out.x.copy()
    at_bound = tuple(k for k, t in zip(names, theta) if abs(t) >= LOG_BOUND - 1e-6)
    cov = None
    with np.errstate(all="ignore"):
        g = grad(theta)
        if not at_bound:
            H = _hessian(grad, theta)
            proper = bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0)
            # Newton steps with this Hessian: L-BFGS-B stops ~1e-8 short; two steps reach machine precision
            for _ in range(4 if (polish and proper) else 0):
                step = np.linalg.solve(H, g)
                if not np.all(np.isfinite(step)) or np.abs(step).max() > 1:
                    break
                trial = theta - step
                if value(trial) > value(theta) + 1e-15:
                    break
                theta = trial
                g = grad(theta)
                if np.abs(step).max() < 1e-10:
                    break
            if proper:
                cov = np.linalg.inv(H) / n
        ll = -value(theta) * n
    if model != "gamma_gamma":  # back to the data's own time unit
        ll += _dot(w, x) * np.log(scale)
    params = dict(zip(names, map(float, np.exp(theta - shift))))
    grad_ok = bool(np.all(np.isfinite(theta))) and float(np.abs(g).max()) < 1e-4
    return Estimate(model, params, cov, float(ll), bool(out.success or grad_ok), str(out.message), at_bound, label)


# --------------------------------------------------------------------------- predictions
def p_alive(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """Probability that a customer with history ``(x, t_x, T)`` is still active at ``T``.

    NaN for every customer under the NBD: a model without drop-out cannot estimate it (it is not 1:
    the data showed no evidence of leaving, which is not evidence that nobody leaves).
    """
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    if model == "nbd":
        return np.full(np.broadcast(x, t_x, T).shape, np.nan)
    if model == "bgnbd":
        r, alpha, a, b = (params[k] for k in PARAMS[model])
        log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
        return np.where(x == 0, 1.0, expit(-log_div))
    if model == "mbgnbd":
        r, alpha, a, b = (params[k] for k in PARAMS[model])
        return expit(-(np.log(a / (b + x)) + (r + x) * np.log((alpha + T) / (alpha + t_x))))
    if model == "pareto_nbd":
        with np.errstate(all="ignore"):
            alive, gone = _pareto_terms(tuple(params[k] for k in PARAMS[model]), x, t_x, T)
        return expit(alive - gone)
    raise KeyError(model)


def expected_purchases_if_alive(model: str, params: dict, t, x, t_x, T) -> np.ndarray:
    """Expected repeat purchases in ``(T, T + t]`` for a customer still active at ``T``.

    Times P(alive) this is the conditional expectation of FHL (2005) eq. 10 (BG/NBD), its MBG/NBD
    analogue and Schmittlein et al. (1987) eq. 22 (Pareto/NBD). It does not depend on ``t_x``.
    """
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    t = np.asarray(t, float)
    shape = np.broadcast(t, x).shape
    if np.all(t == 0):
        return np.zeros(shape)
    if model == "nbd":  # the posterior mean rate (r + x) / (alpha + T) times the window
        return (params["r"] + x) / (params["alpha"] + T) * t
    if model == "pareto_nbd":
        r, alpha, s, beta = (params[k] for k in PARAMS[model])
        lg = np.log((beta + T) / (beta + T + t))
        # (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), continuous at s = 1
        frac = -lg if abs(s - 1) < 1e-12 else -np.expm1((s - 1) * lg) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * frac
    r, alpha, a, b = (params[k] for k in PARAMS[model])
    if model not in ("bgnbd", "mbgnbd"):
        raise KeyError(model)
    _a, _b, _c = (r + x, b + x, a + b + x - 1) if model == "bgnbd" else (r + x, b + x + 1, a + b + x)
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        lead = _c / (a - 1)
        h = np.log(hyp2f1(_a, _b, _c, z))
        if not np.all(np.isfinite(h)):  # Euler's transformation, when h overflows
            h = np.where(np.isfinite(h), h, np.log(hyp2f1(_c - _a, _c - _b, _c, z)) + (_c - _a - _b) * np.log1p(-z))
        out = lead * (1 - np.exp(h + (r + x) * np.log((alpha + T) / (alpha + T + t))))
    # 2F1 undefined at c <= 0 (BG/NBD one-time buyers when a + b < 1) and 0/0 at a = 1: integrate instead
    extra = 0.0 if model == "bgnbd" else 1.0
    full = np.broadcast(t, x, T).shape
    out = np.broadcast_to(out, full).copy()
    bad = needs_integral(a, b, np.broadcast_to(x, full), extra) | ~np.isfinite(out)
    if bad.any():
        tt, xx, TT = (np.broadcast_to(v, full)[bad] for v in (t, x, T))
        out[bad] = bgnbd_purchases_if_alive_integral(r, alpha, a, b, tt, xx, TT, extra)
    return out


def survival_weight(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """The factor that turns "expected if alive" into "expected": P(alive), or 1 under the NBD (no drop-out)."""
    if model == "nbd":
        return np.ones(np.broadcast(np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)).shape)
    return p_alive(model, params, x, t_x, T)


def expected_purchases(model: str, params: dict, t, x, t_x, T) -> np.ndarray:
    """Conditional expected repeat purchases in ``(T, T + t]``: P(alive) x expected purchases if alive
    (under the NBD: the expected purchases themselves)."""
    return survival_weight(model, params, x, t_x, T) * expected_purchases_if_alive(model, params, t, x, t_x, T)


def expected_spend(params: dict, x, m) -> np.ndarray:
    """Gamma-Gamma conditional expected spend per purchase (Hardie note 025, eq. 5); NaN when q <= 1.

    A net-refund history (mean spend <= 0) counts as 0 spend, so it pulls the estimate down but
    never makes value negative.
    """
    p, q, v = (params[k] for k in PARAMS["gamma_gamma"])
    x = np.asarray(x, float)
    m = np.clip(np.where(x > 0, m, 0.0), 0.0, None)
    if q <= 1:
        return np.full(np.shape(x), np.nan)
    wt = p * x / (p * x + q - 1)
    return (1 - wt) * (v * p / (q - 1)) + wt * m


__all__ = ["PARAMS", "PURCHASE_MODELS", "DROPOUT_MODELS", "Estimate", "fit", "nbd_loglik", "bgnbd_loglik", "mbgnbd_loglik", "pareto_nbd_loglik",
           "gamma_gamma_loglik", "p_alive", "survival_weight", "expected_purchases_if_alive", "expected_purchases",
           "expected_spend"]
