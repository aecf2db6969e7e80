"""The settings of a month's customer state: the churn rule, CLV and segment settings, checked once.

:class:`BaseSettings` is what the CLI and the notebooks pass to :meth:`analysis.base.state.CustomerBase.build`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from analysis.errors import ParameterError


@dataclass(frozen=True)
class BaseSettings:
    """The settings of a month's state. ``inactivity_days=None`` is data-driven (resolved by :meth:`CustomerBase.build`).

    Parameters
    ----------
    inactivity_days : int, optional
        The one churn rule: a buyer with no purchase for this many days or more has churned
        (lifecycle stage "passive"); a purchase within fewer days makes them active.
    horizon_months, discount_rate : int, float
        CLV horizon and monthly discount rate (customer equity, value at risk).
    p_alive_threshold : float
        An active customer whose P(alive) is below this is "at risk".
    contact_p_alive_floor : float
        The contact-first list keeps at-risk customers whose P(alive) is still at least this: below it a
        customer is very likely gone already, and a retention offer reaches nobody.
    a_share, b_share, value_basis, n_clusters, new_days, returned_days : segment settings
        (:class:`analysis.segments.SegmentSettings`).
    clv_model : {"auto", "bgnbd", "mbgnbd", "pareto_nbd"}
        The CLV purchase model (:class:`analysis.clv.CLVModel`); auto chooses by holdout error.
    """

    inactivity_days: int | None = None
    horizon_months: int = 12
    discount_rate: float = 0.01
    p_alive_threshold: float = 0.5
    contact_p_alive_floor: float = 0.2
    a_share: float = 0.05
    b_share: float = 0.15
    value_basis: str = "spend"
    n_clusters: object = "auto"
    new_days: int = 30
    returned_days: int = 30
    clv_model: str = "auto"

    def __post_init__(self):
        d = self.inactivity_days
        if d is not None and (isinstance(d, bool) or int(d) != d or d < 1):
            raise ParameterError(f"inactivity_days: got {d!r}, expected a whole number of days >= 1.")
        if not isinstance(self.p_alive_threshold, (int, float)) or not 0 < self.p_alive_threshold < 1:
            raise ParameterError(f"p_alive_threshold: got {self.p_alive_threshold!r}, "
                                 "expected a probability between 0 and 1 (e.g. 0.5).")

    @classmethod
    def from_params(cls, params: dict) -> "BaseSettings":
        """Settings from notebook/CLI parameters; names that are not settings are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names and v is not None})

    def values(self) -> dict:
        return dataclasses.asdict(self)
