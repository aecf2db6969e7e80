"""Choosing the purchase model: drop-out tested against the nested NBD, then one stated rule.
Every candidate gets its numbers, an eligibility and a reason; auto picks by the rule written with them.

The rule (:func:`choose`): among eligible candidates, the lowest holdout mean absolute error of
per-customer purchases on a calibration/holdout refit; candidates within :data:`TIE_TOLERANCE` (relative)
of the lowest are tied, and a tie goes to the lowest BIC on the whole history (it uses all the data
and charges each extra parameter, so a simpler model wins a tie it cannot lose on evidence). Without
a holdout, the lowest BIC. A drop-out model is eligible only when its fit stayed inside the parameter
space and it is significantly better than the NBD (:func:`dropout_test`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc  # the chi-square survival function (scipy.stats costs half a second to import)

from analysis.clv import likelihoods as pm

#: Significance level of the likelihood-ratio test of drop-out against the NBD.
LR_LEVEL = 0.05
#: Holdout errors within this share of the lowest count as tied (differences the holdout cannot tell apart).
TIE_TOLERANCE = 0.01
#: The candidate key a tie is broken on (minimised; present on every candidate).
TIE_BREAK = "bic"


@dataclass(frozen=True)
class DropoutTest:
    """Likelihood-ratio test of a drop-out model against the NBD nested in it (no drop-out).

    The NBD is the drop-out model with its drop-out parameter on the edge of the space, so the
    statistic ``2 (ll_dropout - ll_nbd)`` follows a 50:50 mixture of chi-square(0) and chi-square(1)
    under "nobody leaves" (Self & Liang 1987): ``p = 0.5 P(chi2_1 > stat)``, and 1 when ``stat <= 0``.
    """

    model: str
    statistic: float
    p_value: float
    level: float = LR_LEVEL

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.level)

    def to_dict(self) -> dict:
        return {"model": self.model, "statistic": self.statistic, "p_value": self.p_value, "level": self.level,
                "significant": self.significant}


def dropout_test(model: str, ll_dropout: float, ll_nbd: float, level: float = LR_LEVEL) -> DropoutTest:
    """The boundary-corrected likelihood-ratio test of drop-out (see :class:`DropoutTest`).

    Example
    -------
    >>> t = dropout_test("bgnbd", -1000.0, -1002.0)
    >>> round(t.statistic, 3), round(t.p_value, 4), t.significant
    (4.0, 0.0228, True)
    >>> dropout_test("bgnbd", -1000.0, -1000.0 + 1e-9).p_value
    1.0
    """
    stat = 2.0 * (float(ll_dropout) - float(ll_nbd))
    p = 1.0 if not np.isfinite(stat) or stat <= 0 else float(0.5 * chdtrc(1, stat))
    return DropoutTest(model, stat if np.isfinite(stat) else float("nan"), p, level)


def common_rate(fit) -> bool:
    """Whether an NBD fit ran off only along ``r, alpha -> inf`` with a finite ratio: every customer buys at one
    rate (the Poisson limit). Its predictions, ``(r + x) / (alpha + T)`` per unit of time, are the well-defined
    limit, so such a fit stays eligible (the record still says it reached the boundary)."""
    r, alpha = fit.params["r"], fit.params["alpha"]
    return bool(np.isfinite(r) and np.isfinite(alpha) and r > 1e2 and alpha > 0 and np.isfinite(r / alpha))


def eligibility(model: str, fit, boundary_reason: str | None, test: DropoutTest | None) -> tuple[bool, str | None]:
    """Whether a candidate may be chosen, and the reason code when not.

    ``no_convergence`` (no fit), ``boundary_fit`` / ``boundary_common_dropout`` (ran to the edge),
    ``no_evidence_of_dropout`` (a drop-out model not significantly better than the NBD),
    ``nbd_not_fitted`` (no NBD to test against).
    """
    if fit is None:
        return False, boundary_reason or "no_convergence"
    if boundary_reason is not None:
        return False, boundary_reason
    if model in pm.DROPOUT_MODELS:
        if test is None:
            return False, "nbd_not_fitted"
        if not test.significant:
            return False, "no_evidence_of_dropout"
    return True, None


def choose(candidates: list[dict], tie_tolerance: float = TIE_TOLERANCE, tie_break: str = TIE_BREAK,
           order=pm.PURCHASE_MODELS, holdout: bool = True) -> dict:
    """Apply the stated rule to candidate records; return ``{"model", "choice_rule", "choice_reason", ...}``.

    ``candidates`` are dicts with ``model, eligible, holdout_mae, bic`` (as in the params JSON);
    ``holdout`` says whether a calibration/holdout split was available at all.
    Rule ``holdout_mae`` when some eligible candidate has a holdout error, else ``bic`` (with the
    reason ``no_holdout``: the history gives no calibration/holdout split, or ``holdout_not_scored``:
    no eligible candidate could be scored on it).

    Example
    -------
    >>> c = [{"model": "pareto_nbd", "eligible": True, "holdout_mae": 1.00, "bic": 10.0},
    ...      {"model": "nbd", "eligible": True, "holdout_mae": 1.005, "bic": 9.0},
    ...      {"model": "bgnbd", "eligible": False, "holdout_mae": 0.5, "bic": 1.0}]
    >>> choose(c)["model"]
    'nbd'
    """
    ok = [c for c in candidates if c["eligible"]]
    if not ok:
        return {"model": None, "choice_rule": None, "choice_reason": "no_eligible_candidate",
                "tie_tolerance": None, "tie_break": None}
    rank = {m: i for i, m in enumerate(order)}
    scored = [c for c in ok if c.get("holdout_mae") is not None and np.isfinite(c["holdout_mae"])]
    if scored:
        best = min(c["holdout_mae"] for c in scored)
        tied = [c for c in scored if c["holdout_mae"] <= best * (1 + tie_tolerance)]
        pick = min(tied, key=lambda c: (c[tie_break], rank.get(c["model"], 99)))
        return {"model": pick["model"], "choice_rule": "holdout_mae", "choice_reason": None,
                "tie_tolerance": tie_tolerance, "tie_break": tie_break}
    pick = min(ok, key=lambda c: (c["bic"], rank.get(c["model"], 99)))
    return {"model": pick["model"], "choice_rule": "bic",
            "choice_reason": "holdout_not_scored" if holdout else "no_holdout",
            "tie_tolerance": None, "tie_break": None}
