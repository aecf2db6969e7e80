"""Purchase and spend models of customer value: BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma.

Log-likelihoods (vectorised, weighted rows, log-parameters, analytic gradients except Pareto/NBD),
maximum-likelihood fits with scipy, and the conditional predictions CLV needs: P(alive), expected
purchases if alive, expected spend per purchase. :mod:`analysis.clv` builds customer value on these.

References: Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD); Batislam,
Denizel & Filiztekin (2007) (MBG/NBD); Schmittlein, Morrison & Colombo (1987) and Fader & Hardie
(2005) note 009 (Pareto/NBD); Fader, Hardie & Lee (2005) "RFM and CLV", Hardie note 025 (Gamma-Gamma).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1, psi

#: Parameter names of each model, in the order of the parameter vector.
PARAMS = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "v"),
}
PURCHASE_MODELS = ("bgnbd", "mbgnbd", "pareto_nbd")
#: Bounds of the log-parameters during the fit (time scaled so that the oldest customer's age is 1).
#: A fit that stops on one of them has run to the edge of the parameter space.
LOG_BOUND = 23.0


# --------------------------------------------------------------------------- log-likelihoods
def bgnbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """BG/NBD log-likelihood (FHL 2005, eq. 6) summed over rows with weights ``w``.

    ``theta`` is ``log(r, alpha, a, b)``; with ``gradient`` also returns the gradient in ``theta``.

    Example
    -------
    >>> one = np.array([1.0])
    >>> round(float(bgnbd_loglik(np.log([0.243, 4.414, 0.793, 2.426]), 2 * one, 30.43 * one, 38.86 * one, one)), 4)
    -9.4586
    """
    r, alpha, a, b = np.exp(theta)
    rep = x > 0
    xs = np.maximum(x, 1.0)  # keeps b + x - 1 > 0 on rows that have no second term
    lab = betaln(a, b)
    A = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    D1 = betaln(a, b + x) - lab - (r + x) * np.log(alpha + T)
    D2 = np.where(rep, betaln(a + 1, b + xs - 1) - lab - (r + x) * np.log(alpha + t_x), -np.inf)
    L = np.logaddexp(D1, D2)
    total = float(w @ (A + L))
    if not gradient:
        return total
    p2 = np.exp(D2 - L)
    p1 = 1.0 - p2
    psab = psi(a + b)
    d_r = psi(r + x) - psi(r) + np.log(alpha) - p1 * np.log(alpha + T) - p2 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (p1 / (alpha + T) + p2 / (alpha + t_x))
    psabx = psi(a + b + x)
    d_a = p1 * (psab - psabx) + p2 * (psi(a + 1) - psi(a) + psab - psabx)
    d_b = p1 * (psi(b + x) - psabx - psi(b) + psab) + p2 * (psi(b + xs - 1) - psabx - psi(b) + psab)
    g = np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) * np.array([r, alpha, a, b])
    return total, g


def mbgnbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """MBG/NBD log-likelihood (Batislam et al. 2007): drop-out is possible at time 0 too."""
    r, alpha, a, b = np.exp(theta)
    la_T, la_t = np.log(alpha + T), np.log(alpha + t_x)
    A4 = np.log(a) - np.log(b + x) + (r + x) * (la_T - la_t)
    ll = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + 1) - betaln(a, b)
          - (r + x) * la_T + np.logaddexp(A4, 0.0))
    total = float(w @ ll)
    if not gradient:
        return total
    s4 = expit(A4)
    psab, psabx = psi(a + b), psi(a + b + x + 1)
    d_r = psi(r + x) - psi(r) + np.log(alpha) - la_T + s4 * (la_T - la_t)
    d_alpha = r / alpha - (r + x) / (alpha + T) + s4 * (r + x) * (1 / (alpha + T) - 1 / (alpha + t_x))
    d_a = psab - psabx + s4 / a
    d_b = psi(b + x + 1) - psabx - psi(b) + psab - s4 / (b + x)
    g = np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) * np.array([r, alpha, a, b])
    return total, g


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


def _pareto_terms(params, x, t_x, T):
    """The two log-terms of the Pareto/NBD likelihood: alive at T, and dropped out in (t_x, T]."""
    r, alpha, s, beta = params
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    g_tx, g_T = _pareto_log_g(r, alpha, s, beta, x, t_x), _pareto_log_g(r, alpha, s, beta, x, T)
    with np.errstate(divide="ignore"):
        log_a0 = g_tx + np.log(-np.expm1(np.minimum(g_T - g_tx, 0.0)))  # -inf when t_x == T
    gone = np.log(s) - np.log(r + s + x) + log_a0
    return alive, gone


def pareto_nbd_loglik(theta, x, t_x, T, w, gradient: bool = False):
    """Pareto/NBD log-likelihood (FH note 009, eq. 18), numerically stable for large ``x`` and ``T``.

    The gradient is by central differences (step 1e-6 in log-parameters): the analytic one needs
    derivatives of 2F1 in its parameters.
    """
    def ll(th):
        r, alpha, s, beta = np.exp(th)
        alive, gone = _pareto_terms((r, alpha, s, beta), x, t_x, T)
        return float(w @ (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                          + np.logaddexp(alive, gone)))

    total = ll(theta)
    if not gradient:
        return total
    h = 1e-6
    g = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        g[i] = (ll(theta + e) - ll(theta - e)) / (2 * h)
    return total, g


def gamma_gamma_loglik(theta, x, m, w, gradient: bool = False):
    """Gamma-Gamma log-likelihood of average spend ``m`` over ``x`` repeat purchases (Hardie note 025)."""
    p, q, v = np.exp(theta)
    px = p * x
    lvm = np.log(v + m * x)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x)
          - (px + q) * lvm)
    total = float(w @ ll)
    if not gradient:
        return total
    ps = psi(px + q)
    d_p = x * (ps - psi(px) + np.log(m) + np.log(x) - lvm)
    d_q = ps - psi(q) + np.log(v) - lvm
    d_v = q / v - (px + q) / (v + m * x)
    return total, np.array([w @ d_p, w @ d_q, w @ d_v]) * np.array([p, q, v])


LOGLIK = {"bgnbd": bgnbd_loglik, "mbgnbd": mbgnbd_loglik, "pareto_nbd": pareto_nbd_loglik,
          "gamma_gamma": gamma_gamma_loglik}


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


def _hessian(fun_grad, theta, h=1e-4):
    """Hessian from central differences of the gradient (symmetrised)."""
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        H[i] = (fun_grad(theta + e)[1] - fun_grad(theta - e)[1]) / (2 * h)
    return (H + H.T) / 2


def _moment_start(model: str, args) -> np.ndarray:
    if model == "gamma_gamma":
        x, m, w = args
        return np.log([2.0, 3.0, max(float(np.average(m, weights=w)), 1e-6)])
    x, _, T, w = args
    rate = max(float(np.average(x, weights=w)) / max(float(np.average(T, weights=w)), 1e-9), 1e-3)
    if model == "pareto_nbd":
        return np.log([1.0, 1.0 / rate, 1.0, 1.0])
    return np.log([1.0, 1.0 / rate, 1.0, 3.0])


def fit(model: str, data: dict, weights=None, start: dict | None = None, polish: bool = True) -> Estimate:
    """Maximum-likelihood fit of one model with L-BFGS-B on log-parameters, polished by Newton steps.

    Parameters
    ----------
    model : {"bgnbd", "mbgnbd", "pareto_nbd", "gamma_gamma"}
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
    f = LOGLIK[model]
    if model == "gamma_gamma":
        args = (x, np.asarray(data["monetary_value"], float), w)
        scale, time_idx = 1.0, ()
    else:  # time scaled so the oldest customer's age is 1: alpha and beta become O(1)
        T = np.asarray(data["T"], float)
        scale = 1.0 / T.max()
        args = (x, np.asarray(data["recency"], float) * scale, T * scale, w)
        time_idx = (1, 3) if model == "pareto_nbd" else (1,)
    shift = np.zeros(len(names))
    shift[list(time_idx)] = np.log(scale)
    n = w.sum()

    def neg(theta):
        v, g = f(theta, *args, gradient=True)
        return -v / n, -g / n

    starts = []
    if start is not None:
        starts.append(("given", np.log([start[k] for k in names]) + shift))
    starts.append(("moments", _moment_start(model, args)))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)
    best = None
    for label, theta0 in starts:
        with np.errstate(all="ignore"):
            out = minimize(neg, np.clip(theta0, -LOG_BOUND + 1, LOG_BOUND - 1), jac=True, method="L-BFGS-B",
                           bounds=bounds, options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
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
        if not at_bound:  # Newton polish: L-BFGS-B stops ~1e-8 short; two steps reach machine precision
            for _ in range(3 if polish else 0):
                H = _hessian(neg, theta)
                if not np.all(np.isfinite(H)) or np.linalg.eigvalsh(H).min() <= 0:
                    break
                step = np.linalg.solve(H, neg(theta)[1])
                if not np.all(np.isfinite(step)) or np.abs(step).max() > 1:
                    break
                trial = theta - step
                if neg(trial)[0] <= neg(theta)[0] + 1e-15:
                    theta = trial
                if np.abs(step).max() < 1e-10:
                    break
            H = _hessian(neg, theta)
            if np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0:
                cov = np.linalg.inv(H) / n
        ll = -neg(theta)[0] * n
    if model != "gamma_gamma":  # back to the data's own time unit
        ll += float(w @ x) * np.log(scale)
    params = dict(zip(names, map(float, np.exp(theta - shift))))
    grad_ok = bool(np.all(np.isfinite(theta))) and float(np.abs(neg(theta)[1]).max()) < 1e-4
    return Estimate(model, params, cov, float(ll), bool(out.success or grad_ok), str(out.message), at_bound, label)


# --------------------------------------------------------------------------- predictions
def p_alive(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """Probability that a customer with history ``(x, t_x, T)`` is still active at ``T``."""
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
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
    analogue and Schmittlein et al. (1987) eq. 22 (Pareto/NBD).
    """
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    t = np.asarray(t, float)
    shape = np.broadcast(t, x).shape
    if np.all(t == 0):
        return np.zeros(shape)
    if model == "pareto_nbd":
        r, alpha, s, beta = (params[k] for k in PARAMS[model])
        lg = np.log((beta + T) / (beta + T + t))
        # (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), continuous at s = 1
        frac = -lg if abs(s - 1) < 1e-12 else -np.expm1((s - 1) * lg) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * frac
    r, alpha, a, b = (params[k] for k in PARAMS[model])
    if model == "bgnbd":
        _a, _b, _c, lead = r + x, b + x, a + b + x - 1, (a + b + x - 1) / (a - 1)
    elif model == "mbgnbd":
        _a, _b, _c, lead = r + x, b + x + 1, a + b + x, (a + b + x) / (a - 1)
    else:
        raise KeyError(model)
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        h = np.log(hyp2f1(_a, _b, _c, z))
        alt = np.log(hyp2f1(_c - _a, _c - _b, _c, z)) + (_c - _a - _b) * np.log1p(-z)  # Euler, when h overflows
    h = np.where(np.isfinite(h), h, alt)
    return lead * (1 - np.exp(h + (r + x) * np.log((alpha + T) / (alpha + T + t))))


def expected_purchases(model: str, params: dict, t, x, t_x, T) -> np.ndarray:
    """Conditional expected repeat purchases in ``(T, T + t]``: P(alive) x expected purchases if alive."""
    return p_alive(model, params, x, t_x, T) * expected_purchases_if_alive(model, params, t, x, t_x, T)


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


__all__ = ["PARAMS", "PURCHASE_MODELS", "Estimate", "fit", "bgnbd_loglik", "mbgnbd_loglik", "pareto_nbd_loglik",
           "gamma_gamma_loglik", "p_alive", "expected_purchases_if_alive", "expected_purchases", "expected_spend"]
