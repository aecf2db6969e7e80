"""The month's customer state: one row per customer with every state the report uses, computed once.

Every page, headline, list and CLI export of a month reads this one object, so a word carries
one number everywhere: the one churn rule decides "active", "churned" (= lifecycle stage
"passive") and the month's "lost" and "returned"; the one CLV fit gives P(alive), CLV, "at risk"
and "value at risk"; the one segmentation gives classes, strategy groups and stages. The customer
table and the month flows are computed in DuckDB (:mod:`analysis.customers.table`,
:mod:`analysis.customers.activity`); the models run on that per-customer table. An analysis that
cannot be estimated on valid data leaves its columns empty and a :class:`~analysis.findings.Finding`
in :attr:`CustomerBase.findings`.
"""
from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import data, segments
from analysis.base.concepts import CONCEPTS, KeyNumber
from analysis.base.concepts import label_key as basis_label_key
from analysis.base.settings import BaseSettings
from analysis.base.value import attach_value, start_customer_value, margin_rates
from analysis.base.store import STORED_PARTS, StoredPart, load_state, save_state, share_text
from analysis.churn.rule import define_churn
from analysis.contacts.analysis import start_contact_models
from analysis.contacts.complaints import month_numbers
from analysis.customers import table as customers
from analysis.customers.activity import monthly_activity
from analysis.data import location
from analysis.data.contract import permission_values
from analysis.data.privacy import pseudonymize
from analysis.errors import DataError, ParameterError
from analysis.findings import Estimation, Finding

#: Months of flows kept with the state (this month, the previous 12, and one in front for "previous" counts).
FLOW_MONTHS = 13

#: Columns the segment step adds (empty when the step could not be estimated); the CLV columns: base.value.
SEGMENT_COLUMNS = ("abc_class", "strategy_group", "lifecycle_stage", "rfm_segment", "cluster", "potential_value")
STATE_COLUMNS = ("is_buyer", "is_active", "is_churned", "lifecycle_stage", "abc_class", "strategy_group")


def _customer_states(table: pd.DataFrame, inactivity_days: int) -> pd.DataFrame:
    """The one churn rule on a customer table: is_buyer, days_silent, is_active, is_churned."""
    t = share_text(table.copy())
    t["customer_id"] = t["customer_id"].astype(str)
    t["is_buyer"] = t["n_purchases"].fillna(0).astype(int) > 0
    t["days_silent"] = t["days_since_last_purchase"].astype("Int64")
    silent = t["days_since_last_purchase"].astype(float)
    t["is_churned"] = t["is_buyer"] & (silent >= inactivity_days)
    t["is_active"] = t["is_buyer"] & (silent < inactivity_days)
    return t


def _has_permission(t: pd.DataFrame) -> pd.Series:
    """The data contract's reading of marketing_permission (NA everywhere when the data has no such column)."""
    if "marketing_permission" not in t:
        return pd.Series(pd.NA, index=t.index, dtype="boolean")
    return permission_values(t["marketing_permission"]).fillna(False)


def allowed_to_contact(t: pd.DataFrame) -> tuple[pd.Series, bool]:
    """Who a marketing list may hold, and whether permission was filtered at all.

    With a permission column only customers with a recorded yes (a blank, an unknown customer: no); without one
    the data cannot say, so nobody is filtered out and every list says so.
    """
    filtered = "has_permission" in t and t["has_permission"].notna().any()  # a column read: never NA (blank = no)
    if not filtered:
        return pd.Series(True, index=t.index), False
    return t["has_permission"].fillna(False).astype(bool), True


def _segment(src, table: pd.DataFrame, as_of, settings: BaseSettings, inactivity_days: int, clv_values,
             previous_clusters):
    """Pyramid class, strategy group, lifecycle stage, RFM segment and cluster for every customer."""
    # A short churn threshold (e.g. 30 days early in a base's life) caps the windows that must be shorter than it.
    below = max(1, int(inactivity_days) - 1)
    s = segments.SegmentSettings(a_share=settings.a_share, b_share=settings.b_share, value_basis=settings.value_basis,
                                 n_clusters=settings.n_clusters, passive_days=int(inactivity_days),
                                 new_days=min(settings.new_days, below), returned_days=min(settings.returned_days, below),
                                 lapsing_min_days=min(segments.SegmentSettings.lapsing_min_days, below),
                                 p_alive_threshold=settings.p_alive_threshold, horizon_months=settings.horizon_months)
    back = segments.return_dates(src, as_of, inactivity_days)
    # The month's one churn rule is purchase silence (flows, active, passive alike); a contract end
    # (customers.churn_date) is the retention page's concept, so the stages do not mix it in.
    t = table.drop(columns="churn_date", errors="ignore").merge(back, on="customer_id", how="left")
    clv = clv_values if settings.value_basis == "clv" else None
    seg = segments.assign_segments(t, as_of, s, clv=clv, previous_clusters=previous_clusters)
    rate = margin_rates(seg.table)
    if rate is not None:  # strategy groups on margin: margin so far (current) x potential value in margin
        g = seg.table  # current_value stays sales (the pages' revenue shares); the margin so far is current_margin
        g["current_margin"] = g["total_spend"].astype(float).fillna(0.0) * rate
        if clv is None:  # run-rate potential (sales) to margin; a margin CLV passed in is margin already
            g["potential_value"] = g["potential_value"] * rate
        g["strategy_group"] = segments.strategy_groups(g.assign(total_spend=g["current_margin"]), g["potential_value"],
                                                       s.keep_share, s.potential_share)
    return seg


def previous_p_alive(fitted, previous_table: pd.DataFrame) -> pd.Series:
    """P(alive) at the previous month end: the month's fitted purchase model on the histories of that date.

    The parameters are this month's (no refit), so a change from last month to this month is the
    customer's own history moving on (a month more of silence, or new purchases), not a change of
    model. Customers who had not bought by then, and every customer when the model could not be
    estimated, get NaN.
    """
    out = pd.Series(np.nan, index=previous_table.index, dtype=float)
    if fitted is None:
        return out
    buyers = previous_table["n_purchases"].fillna(0).astype(int) > 0
    if buyers.any():
        rows = previous_table.loc[buyers, ["frequency", "recency", "T"]].astype(float).reset_index(drop=True)
        out[buyers] = fitted.model.purchases(rows, fitted.horizon_months, fitted.discount_rate,
                                             fitted.days_per_month)["p_alive"].to_numpy()
    return out


#: Each live state's key numbers with the parts they were computed from (:meth:`CustomerBase.numbers`).
_NUMBERS: dict[int, tuple] = {}


@dataclass
class CustomerBase:
    """The customer base of one month: states per customer, the month flows and what could not be estimated.

    Build it with :meth:`build` (or read a saved one with :meth:`load`); never construct it by hand.

    Attributes
    ----------
    as_of : Timestamp
        The month's last day (purchases on that day count).
    settings : BaseSettings
        With ``inactivity_days`` resolved to the number of days actually used.
    customers : DataFrame
        One row per customer (buyers, and registered customers who never bought): ``customer_id``,
        ``pseudonym``, the customer-table columns (:func:`analysis.customers.table.customer_table`),
        ``is_buyer``, ``days_silent``, ``is_active``, ``is_churned``, ``has_permission``, the CLV
        columns (``p_alive``, ``expected_purchases``, ``expected_avg_value``, ``clv``, ``clv_if_alive``,
        ``value_at_stake`` = clv_if_alive − clv, ``is_at_risk``), ``p_alive_previous`` (P(alive) at the
        previous month end from the same fit, see :func:`previous_p_alive`) and the segment columns
        (``abc_class`` (buyers only), ``strategy_group``, ``lifecycle_stage``, ``rfm_segment``, ``cluster``).
        With margin in the data (a ``margin_rate`` column), ``clv``, ``clv_if_alive`` and
        ``value_at_stake`` are margin (the sales CLV times the customer's margin rate; the sales CLV
        stays in ``clv_sales``) and :attr:`money_basis` is ``"margin"``.
    previous : DataFrame
        ``customer_id``, the state columns and ``p_alive`` at the previous month end (for transitions
        and changes).
    flows : DataFrame
        :func:`analysis.customers.activity.monthly_activity` for the last :data:`FLOW_MONTHS` months.
    clv : CLVResult or None
        The fitted CLV models (None when they could not be estimated; see ``findings``).
    segmentation, previous_segmentation : Segmentation
    findings : list of Finding

    Example
    -------
    >>> base = CustomerBase.build("data/sample", "2026-10-31", BaseSettings(n_clusters=3))
    >>> base.settings.inactivity_days
    150
    >>> n = base.numbers()
    >>> n["customers_active"] == int(base.flows["active"].iloc[-1])
    True
    """

    as_of: pd.Timestamp
    settings: BaseSettings
    customers: pd.DataFrame
    previous: pd.DataFrame
    flows: pd.DataFrame
    clv: object = None
    segmentation: object = None
    previous_segmentation: object = None
    findings: list = field(default_factory=list)
    source_path: str | None = None
    _source: object = field(default=None, repr=False, compare=False)
    #: The month's complaint numbers when the source has contacts (:func:`analysis.contacts.complaints.month_numbers`).
    contact_numbers: dict = field(default_factory=dict)
    #: The month's drop-out model and marketing-contact threshold when the source has contacts
    #: (:class:`analysis.contacts.analysis.ContactModels`), fitted once: the contacts page and the plan read it.
    contact_models: object = None
    #: In a monthly run: where the month's churn threshold came from in its report series
    #: (:meth:`analysis.report.series.SeriesThreshold.to_dict`); empty outside a series.
    series_threshold: dict = field(default_factory=dict)
    #: The month's churn rule as decided (:class:`analysis.churn.rule.ChurnDefinition`: the days and whether they
    #: came from the gap distribution); pages read it instead of deciding the rule again.
    churn_rule: object = None

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, source, as_of=None, settings: BaseSettings | None = None, *,
              previous_centroids=None) -> "CustomerBase":
        """Compute the month's state from one load of ``source``.

        Parameters
        ----------
        source : path or analysis.data.Source
        as_of : date-like, optional
            Default: the source's ``as_of``.
        settings : BaseSettings
        previous_centroids : DataFrame or path, optional
            Last month's published cluster centroids, so cluster numbers keep their meaning.
        """
        settings = settings or BaseSettings()
        src = source if isinstance(source, data.Source) else data.load_source(source, as_of=as_of)
        as_of = data.parse_date(as_of) if as_of is not None else src.as_of
        est = Estimation()
        rule = define_churn(src, as_of, settings.inactivity_days, method="inactivity")  # decided once, kept with how
        days = int(rule.inactivity_days)
        settings = dataclasses.replace(settings, inactivity_days=days)
        # the contact drop-out fit needs only the churn rule: on a big base it runs in a child process meanwhile
        contacts_fit = start_contact_models(src, as_of, days) if src.has("contacts") else None

        table = customers.customer_table(src, as_of, include_prospects=True)
        t = _customer_states(table, days)
        t["pseudonym"] = pseudonymize(t["customer_id"]).to_numpy()
        t["has_permission"] = _has_permission(t)

        buyers = t[t["is_buyer"]]
        clv_affects = ("customer_equity", "value_at_risk", "customers_at_risk", "customers_valued",
                       "customers_to_contact")
        # on a big base the CLV fit runs in a child process while last month's table and segments are computed
        finish_value = est.attempt("clv", lambda: start_customer_value(src, buyers, as_of, settings),
                                   reason="not_estimable", affects=clv_affects)
        previous_end = data.previous_month_end(as_of)
        prev_table = _customer_states(customers.customer_table(src, previous_end, include_prospects=True), days)
        prev_centroids = previous_centroids
        if isinstance(previous_centroids, (str, Path)):  # last month's file: damaged, it is a finding, not a stop
            try:
                prev_centroids = segments.read_centroids(previous_centroids)
            except (DataError, ParameterError) as exc:
                prev_centroids = None
                est.add(Finding("segments.previous_centroids", "previous_centroids_unreadable",
                                {"file": Path(previous_centroids).name}, str(exc)))
        # noqa below: ruff reads the `del prev_table` further down as the name being undefined in the lambda
        prev_seg = est.attempt("segments", lambda: _segment(src, prev_table, previous_end, settings, days, None,  # noqa: F821
                                                            prev_centroids))
        flows = monthly_activity(src, as_of, months=FLOW_MONTHS, inactivity_days=days)
        fitted = est.attempt("clv", finish_value, reason="not_estimable", affects=clv_affects) \
            if finish_value is not None else None
        t = attach_value(t, fitted)
        rate = margin_rates(t)
        t["value_at_stake"] = (t["clv_if_alive"] - t["clv"]).clip(lower=0)
        # P(alive) not estimable (NBD: no evidence of leaving): nobody can be called at risk by it
        t["is_at_risk"] = (t["is_active"] & (t["p_alive"] < settings.p_alive_threshold)).astype("boolean")
        t.loc[t["p_alive"].isna(), "is_at_risk"] = pd.NA
        if fitted is not None and t.loc[t["is_buyer"], "p_alive"].isna().all():
            est.add(Finding("at_risk", "p_alive_not_estimable", facts={"model": fitted.model.purchase_model_},
                            detail="P(alive) cannot be estimated (no evidence that customers leave), so no customer "
                                   "is called at risk by it; the churn rule still decides who has churned.",
                            affects=("customers_at_risk", "value_at_risk", "customers_to_contact")))

        # The strategy groups' potential value is the CLV only with value_basis "clv" (else the run rate).
        clv_values = fitted.values if fitted is not None and settings.value_basis == "clv" else None
        if clv_values is not None and rate is not None:  # potential value in margin: the margin CLV
            clv_values = clv_values.assign(clv=clv_values["customer_id"].astype(str).map(
                t.set_index("customer_id")["clv"]).to_numpy())
        seg = est.attempt("segments", lambda: _segment(src, t, as_of, settings, days, clv_values,
                                                       prev_seg.clusters if prev_seg is not None else prev_centroids))
        t = _attach_segments(t, seg)
        prev_table = _attach_segments(prev_table, prev_seg)
        if seg is not None:  # e.g. too few buyers to cluster: the other labels stand
            for f in getattr(seg, "findings", ()):
                est.add(f)

        prev_table["p_alive"] = previous_p_alive(fitted, prev_table)
        t["p_alive_previous"] = t["customer_id"].map(prev_table.set_index("customer_id")["p_alive"]).astype(float)
        previous = prev_table[["customer_id", *STATE_COLUMNS, "cluster", "p_alive"]].reset_index(drop=True)
        del prev_table  # the wide table of the previous month end: only its states are kept
        t.reset_index(drop=True, inplace=True)  # in place: no second copy of the customer table
        base = cls(as_of=pd.Timestamp(as_of), settings=settings, customers=t,
                   previous=previous, flows=flows, clv=fitted, segmentation=seg, previous_segmentation=prev_seg,
                   findings=est.findings, source_path=str(location(src.path)) if getattr(src, "path", None) else None,
                   _source=src, churn_rule=rule)
        if contacts_fit is not None:
            base.contact_numbers = month_numbers(src, as_of)
            base.contact_models = contacts_fit()
        base.check()
        return base

    def check(self) -> None:
        """The identities every month must satisfy; a failure is a bug, never a data problem."""
        f = self.flows.iloc[-1]
        n = self.numbers()
        problems = []
        if n["customers_active"] != int(f["active"]):
            problems.append(f"active stock {n['customers_active']} != flow table {int(f['active'])}")
        # With a threshold shorter than a month, a customer can arrive and lapse within the same month,
        # so the flow identity holds only for thresholds of a month or more.
        if len(self.flows) > 1 and self.settings.inactivity_days >= 31:
            p = self.flows.iloc[-2]
            if int(p["active"]) - int(f["lost"]) + int(f["new"]) + int(f["returned"]) != int(f["active"]):
                problems.append("active != previous active - lost + new + returned")
        if "lifecycle_stage" in self.customers and self.customers["lifecycle_stage"].notna().any():
            passive = int((self.customers["lifecycle_stage"] == "passive").sum())
            if passive != n["customers_churned"]:
                problems.append(f"stage passive {passive} != churned {n['customers_churned']}")
        if problems:
            raise AssertionError("customer base identities broken: " + "; ".join(problems))

    # --- reading -------------------------------------------------------------------------------
    @property
    def source(self):
        """The validated source (opened again when this state was read from a file).

        A state saved by the run that validated its source carries that validation's record, so a
        notebook kernel reopens the same files without checking every row again
        (:func:`analysis.data.reopen_source`; a file changed since is validated in full).
        """
        if self._source is None:
            record = self.__dict__.get("source_record")
            if record:
                self._source = data.reopen_source(record)
            elif self.source_path is None:
                raise ParameterError("customer base: no source path stored; build it from a source.")
            else:
                self._source = data.load_source(self.source_path, as_of=self.as_of)
        return self._source

    @property
    def period(self) -> str:
        return self.as_of.strftime("%Y-%m")

    def finding(self, analysis: str) -> Finding | None:
        """The first finding of ``analysis`` (e.g. ``"clv"``), or None when it was estimated."""
        return next((f for f in self.findings if f.analysis == analysis), None)

    def numbers(self) -> dict:
        """Every concept this state defines, by concept id (None where it could not be computed).

        Computed once per state (each key-number card reads it): the cache is keyed on the parts it reads, so a
        state whose tables are replaced computes afresh. The dict returned is a copy.
        """
        parts = (self.customers, self.flows, getattr(self, "contact_numbers", None))  # the CLV lives in customers
        cached = _NUMBERS.get(id(self))
        if cached is None or any(a is not b for a, b in zip(cached[0], parts)):
            if cached is None:  # kept beside the state, not in it (its fields stay its fields), freed with it
                weakref.finalize(self, _NUMBERS.pop, id(self), None)
            cached = _NUMBERS[id(self)] = (parts, self._numbers())
        return dict(cached[1])

    def _numbers(self) -> dict:
        t, f = self.customers, self.flows.iloc[-1]
        buyers = t["is_buyer"]
        clv_ok = self.estimated("clv")  # a loaded state's fit stays on file
        at_risk = t["is_at_risk"].astype("boolean").fillna(False).astype(bool)
        # with P(alive) not estimable (NBD) "at risk" has no value: a finding, never a silent 0
        risk_ok = clv_ok and bool(t.loc[buyers, "p_alive"].notna().any())
        out = {
            "customers_registered": int(f["registered"]),
            "customers_buyers": int(buyers.sum()),
            "customers_active": int(t["is_active"].sum()),
            "customers_churned": int(t["is_churned"].sum()),
            "customers_prospects": int((~buyers).sum()),
            "customers_new": int(f["new"]), "customers_lost": int(f["lost"]),
            "customers_returned": int(f["returned"]),
            "revenue": float(f["revenue"]),
            "avg_purchase": None if pd.isna(f["avg_purchase"]) else float(f["avg_purchase"]),
            "purchase_frequency": None if pd.isna(f["purchase_frequency"]) else float(f["purchase_frequency"]),
            "customer_equity": float(t["clv"].sum()) if clv_ok else None,
            "customers_valued": int(t["clv"].notna().sum()) if clv_ok else None,
            "customers_at_risk": int(at_risk.sum()) if risk_ok else None,
            "value_at_risk": float(t.loc[at_risk, "value_at_stake"].sum()) if risk_ok else None,
            "customers_to_contact": int(len(self.contact_list())) if risk_ok else None,
        }
        if "lifecycle_stage" in t and t["lifecycle_stage"].notna().any():
            stages = t["lifecycle_stage"].value_counts()
            for stage, cid in (("new", "stage_new"), ("active", "stage_active"), ("returned", "stage_recently_returned"),
                               ("lapsing", "stage_lapsing"), ("passive", "stage_passive"), ("prospect", "stage_prospect")):
                out[cid] = int(stages.get(stage, 0))
            classes = t.loc[buyers, "abc_class"].value_counts()
            for c in ("a", "b", "c"):
                out[f"customers_class_{c}"] = int(classes.get(c.upper(), 0))
            total = float(t.loc[buyers, "total_spend"].sum())
            a_rev = float(t.loc[buyers & (t["abc_class"] == "A"), "total_spend"].sum())
            out["a_revenue_share"] = a_rev / total if total else None
        out.update(getattr(self, "contact_numbers", None) or {})  # a state saved before contacts existed has none
        return out

    def previous_numbers(self) -> dict:
        """The same stocks and flows at the previous month end (for "change vs previous month")."""
        p = self.previous
        out = {"customers_active": int(p["is_active"].sum()), "customers_churned": int(p["is_churned"].sum()),
               "customers_buyers": int(p["is_buyer"].sum()), "customers_prospects": int((~p["is_buyer"]).sum())}
        if len(self.flows) > 1:
            f = self.flows.iloc[-2]
            out.update({"customers_registered": int(f["registered"]), "customers_new": int(f["new"]),
                        "customers_lost": int(f["lost"]), "customers_returned": int(f["returned"]),
                        "revenue": float(f["revenue"]),
                        "avg_purchase": None if pd.isna(f["avg_purchase"]) else float(f["avg_purchase"]),
                        "purchase_frequency": None if pd.isna(f["purchase_frequency"]) else float(f["purchase_frequency"])})
        if "lifecycle_stage" in p and p["lifecycle_stage"].notna().any():
            stages = p["lifecycle_stage"].value_counts()
            for stage, cid in (("new", "stage_new"), ("active", "stage_active"), ("returned", "stage_recently_returned"),
                               ("lapsing", "stage_lapsing"), ("passive", "stage_passive"), ("prospect", "stage_prospect")):
                out[cid] = int(stages.get(stage, 0))
        return out

    def key_number(self, concept_id: str, label_key: str | None = None):
        """The concept as a typed key number with last month's value and, when missing, the reason."""
        if concept_id not in CONCEPTS:
            raise KeyError(f"unknown concept {concept_id!r}")
        value = self.numbers().get(concept_id)
        reason = None
        if value is None:
            f = next((f for f in self.findings if concept_id in f.affects), None)
            reason = f.reason if f is not None else "no_data"
        if label_key is None and self.money_basis == "margin":
            label_key = basis_label_key(concept_id, "margin")
            label_key = None if label_key == f"label_{concept_id}" else label_key
        return KeyNumber(concept_id, value, previous=self.previous_numbers().get(concept_id), reason=reason,
                         label_key=label_key)

    @property
    def money_basis(self) -> str:
        """``"margin"`` when values (CLV, equity, value at stake) are margin, ``"sales"`` otherwise."""
        return "margin" if "clv_sales" in self.customers else "sales"

    def contact_list(self, limit: int | None = None) -> pd.DataFrame:
        """The one "contact first" list: active customers at risk, still likely alive, who allow marketing,
        most value at stake first.

        Customers already churned are not on it (win-back is another decision), nor those whose P(alive)
        is below ``contact_p_alive_floor`` (very likely gone already), nor those without a known
        marketing permission when the data has permission.
        """
        t = self.customers
        allowed, _ = allowed_to_contact(t)
        mask = (t["is_at_risk"].astype("boolean").fillna(False).astype(bool) & allowed
                & (t["p_alive"] >= self.settings.contact_p_alive_floor))
        cols = ["customer_id", "pseudonym", "p_alive", "clv", "clv_if_alive", "value_at_stake", "days_silent",
                "n_purchases", "total_spend", "abc_class", "lifecycle_stage"]
        out = t.loc[mask, [c for c in cols if c in t]].sort_values(["value_at_stake", "customer_id"],
                                                                  ascending=[False, True], kind="mergesort")
        out = out.reset_index(drop=True)
        return out.head(limit) if limit else out

    def glossary(self) -> list[dict]:
        """Every glossary concept with the setting values its definition names (language-free)."""
        s = self.settings.values()
        seg = self.segment_settings
        extra = {k: getattr(seg, k) for k in ("lapsing_factor", "lapsing_min_days", "new_days", "returned_days")} \
            if seg is not None else {}
        values = {**s, **extra, "as_of": str(self.as_of.date())}
        return [{"concept": c.id, "settings": {k: values.get(k) for k in c.settings}}
                for c in CONCEPTS.values() if c.in_glossary]

    # --- results protocol ------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Concept, value and unit of every number this month's state defines."""
        n = self.numbers()
        return pd.DataFrame([{"concept": k, "value": v, "unit": CONCEPTS[k].unit} for k, v in n.items()])

    def to_dict(self) -> dict:
        return {"as_of": str(self.as_of.date()), "settings": self.settings.values(), "numbers": self.numbers(),
                "findings": [f.to_dict() for f in self.findings]}

    def _repr_html_(self) -> str:
        head = f"<p><strong>Customer base on {self.as_of.date()}</strong> (churn rule: {self.settings.inactivity_days} days)</p>"
        return head + self.summary().to_html(index=False, na_rep="–")

    # --- storage (one run computes it, every notebook of the run reads it) -------------------------
    def save(self, path) -> Path:
        """Write this state to the folder ``path`` for the notebooks of the same run (replaced when it exists).

        The folder holds one Arrow file per table and ``state.json`` with the rest (settings, findings,
        the fitted models as their parameters; :func:`analysis.base.store.save_state`). Each of
        :data:`~analysis.base.store.STORED_PARTS` is read back by :meth:`load` only when a page first uses it,
        its tables mapped from their files.
        """
        return save_state(self, path)

    @classmethod
    def load(cls, path, source=None) -> "CustomerBase":
        """Read a state written by :meth:`save`; each stored part is read on first use.

        Parameters
        ----------
        path : path
            The folder :meth:`save` wrote (a folder in another format is refused with one sentence).
        source : analysis.data.Source, optional
            The validated source of the same data (e.g. in the run that saved the state), so that
            :attr:`source` does not load and validate it again.
        """
        return load_state(cls, path, source)

    def __getstate__(self) -> dict:
        """Every part read (a copy or pickle of a loaded state holds its data, not its folder); no source."""
        for name in STORED_PARTS:
            getattr(self, name)
        return {k: v for k, v in self.__dict__.items() if k not in ("_stored", "_source")} | {"_source": None}

    def estimated(self, part: str) -> bool:
        """Whether the month's ``"clv"`` fit or ``"segmentation"`` could be estimated.

        Unlike ``base.clv is not None`` this does not read the part of a loaded state from its folder.
        """
        if part not in ("clv", "segmentation", "previous_segmentation"):
            raise ValueError(f"estimated: got {part!r}, expected 'clv', 'segmentation' or 'previous_segmentation'.")
        stored = self.__dict__.get("_stored")
        return (stored is not None and part in stored.parts) or getattr(self, part) is not None

    @property
    def segment_settings(self):
        """The segmentation's settings (:class:`analysis.segments.SegmentSettings`), or None without one.

        Read without the segmentation's tables (a loaded state keeps them on file until used).
        """
        if "_segment_settings" in self.__dict__:
            return self.__dict__["_segment_settings"]
        return self.segmentation.settings if self.segmentation is not None else None


def _attach_segments(t: pd.DataFrame, seg) -> pd.DataFrame:
    """Segment columns onto the state table (empty when the segmentation could not be estimated)."""
    if seg is None:
        for c in SEGMENT_COLUMNS:
            t[c] = pd.NA
        return t
    s = seg.table.set_index(seg.table["customer_id"].astype(str))
    for c in SEGMENT_COLUMNS:
        if c in s:
            t[c] = t["customer_id"].map(s[c])
    # classes rank buyers; a prospect has no class (counted apart, never as C)
    t.loc[~t["is_buyer"], "abc_class"] = pd.NA
    return t


for _name in STORED_PARTS:  # after the dataclass is made: its __init__ keeps the fields' defaults
    setattr(CustomerBase, _name, StoredPart(_name))
