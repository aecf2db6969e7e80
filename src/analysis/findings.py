"""Findings: an analysis that could not be estimated on valid data, said as data, not as a crash.

Bad data stops the run (:class:`~analysis.errors.DataError`). A model at its boundary, a group
too small to compare or a one-arm experiment is different: the data is fine, the question has no
answer this month. The analysis returns a :class:`Finding` (language-free: an analysis id, a
stable reason code and the facts); the report layer turns it into a sentence on the page, a
"–" on the landing page and an entry under ``"degraded"`` in the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from analysis.errors import ModelError


@dataclass(frozen=True)
class Finding:
    """What could not be computed and why.

    Parameters
    ----------
    analysis : str
        Which analysis, e.g. ``"clv"``, ``"survival.cox"``, ``"experiments.arms"``.
    reason : str
        Stable snake_case code; the report's strings have ``finding_<reason>`` in every language.
    facts : mapping
        Numbers and names the sentence fills in (JSON-able).
    detail : str
        One English sentence for logs and the manifest (the page uses ``reason`` + ``facts``).
    affects : tuple of str
        Concept ids (:mod:`analysis.base.concepts`) that have no value because of this finding.

    Example
    -------
    >>> f = Finding("clv", "boundary_fit", {"parameter": "a"}, "BG/NBD a ran to 0.", ("customer_equity",))
    >>> f.to_dict()["reason"]
    'boundary_fit'
    """

    analysis: str
    reason: str
    facts: Mapping[str, object] = field(default_factory=dict)
    detail: str = ""
    affects: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"analysis": self.analysis, "reason": self.reason, "facts": dict(self.facts),
                "detail": self.detail, "affects": list(self.affects)}


class Estimation:
    """Collects findings while a month is computed; ``attempt`` runs a step and keeps going on failure.

    Example
    -------
    >>> from analysis.errors import ModelError
    >>> est = Estimation()
    >>> def fit(): raise ModelError("only 3 repeat customers")
    >>> est.attempt("clv", fit, reason="not_estimable", affects=("customer_equity",)) is None
    True
    >>> est.findings[0].detail
    'only 3 repeat customers'
    """

    def __init__(self):
        self.findings: list[Finding] = []

    def attempt(self, analysis: str, step, *, reason: str = "not_estimable", affects: tuple[str, ...] = ()):
        """``step()``, or None with a finding when it raises :class:`~analysis.errors.ModelError`."""
        try:
            return step()
        except ModelError as exc:
            self.add(Finding(analysis, getattr(exc, "reason", None) or reason, dict(getattr(exc, "facts", {}) or {}),
                             str(exc), affects))
            return None

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
