"""Behavioural clusters of buying customers whose numbers keep their meaning from month to month.
Features, KMeans or a Gaussian mixture, matching to last month's centroids, and the centroid files.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from analysis.data import write_table
from analysis.errors import DataError, ModelError, NotFittedError, ParameterError
from analysis.segments.settings import CLUSTER_FEATURES, SegmentSettings, buyer_mask, json_records, parse_n_clusters

if TYPE_CHECKING:
    from analysis.segments.segmentation import Segmentation  # local: type hint only; segmentation imports clusters


def cluster_features(table: pd.DataFrame) -> pd.DataFrame:
    """Behavioural features of buying customers (index = customer_id), before scaling.

    log_frequency = log1p(repeat purchases), recency_days, log_spend = log1p(spend >= 0),
    tenure_days, n_categories (breadth), online_share (channel mix), spend_trend
    (last 90 days vs the 90 before, clipped to [-1, 2]; missing = 0). Rows are sorted
    by customer_id so that the clustering does not depend on the input's row order.
    """
    b = table[buyer_mask(table)]
    freq = b["frequency"] if "frequency" in b else b["n_purchases"] - 1
    f = pd.DataFrame({
        "log_frequency": np.log1p(freq.astype(float).clip(lower=0)),
        "recency_days": b["days_since_last_purchase"].astype(float),
        "log_spend": np.log1p(b["total_spend"].astype(float).clip(lower=0)),
        "tenure_days": b["tenure_days"].astype(float) if "tenure_days" in b else 0.0,
        "n_categories": b["n_categories"].astype(float) if "n_categories" in b else 1.0,
        "online_share": b["online_share"].astype(float) if "online_share" in b else 0.0,
        "spend_trend": b["spend_trend"].astype(float).clip(-1, 2) if "spend_trend" in b else 0.0,
    }, index=b.index)
    f = f[list(CLUSTER_FEATURES)].replace([np.inf, -np.inf], np.nan)
    f = f.fillna(f.median()).fillna(0.0)
    f.index = b["customer_id"].astype(str).to_numpy()
    f.index.name = "customer_id"
    return f.sort_index(kind="mergesort")  # row order of the input must not change the clusters


def match_clusters(new_centroids, previous_centroids) -> dict[int, int]:
    """Map each new cluster to last month's closest cluster (Hungarian assignment on centroid distance).

    Parameters
    ----------
    new_centroids, previous_centroids : array-like or DataFrame (k x features)
        Centroids in the same (scaled) feature space. With DataFrames the index holds
        the cluster labels; with arrays the labels are the row positions.

    Returns
    -------
    dict new label -> previous label. If there are more new clusters than previous
    ones, the unmatched ones get fresh labels after the largest previous label.

    Example
    -------
    >>> prev = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]])
    >>> match_clusters(prev[[2, 0, 1]] + 0.1, prev)
    {0: 2, 1: 0, 2: 1}
    """
    new_ids = list(new_centroids.index) if isinstance(new_centroids, pd.DataFrame) else None
    prev_ids = list(previous_centroids.index) if isinstance(previous_centroids, pd.DataFrame) else None
    new = np.asarray(new_centroids, dtype=float)
    prev = np.asarray(previous_centroids, dtype=float)
    if new.ndim != 2 or prev.ndim != 2 or new.shape[1] != prev.shape[1]:
        raise ParameterError(
            f"match_clusters: got centroids of shapes {new.shape} and {prev.shape}, expected the same feature columns."
        )
    new_ids = new_ids or list(range(len(new)))
    prev_ids = prev_ids or list(range(len(prev)))
    rows, cols = linear_sum_assignment(cdist(new, prev))
    mapping = {int(new_ids[r]): int(prev_ids[c]) for r, c in zip(rows, cols)}
    fresh = max(prev_ids, default=-1) + 1
    for r in range(len(new)):
        if int(new_ids[r]) not in mapping:
            mapping[int(new_ids[r])] = fresh
            fresh += 1
    return mapping


class BehaviourClusters:
    """Behavioural clustering of buying customers with month-stable labels.

    Features (:func:`cluster_features`) are standardised; KMeans (k by the best
    silhouette on a fixed-seed subsample) or a Gaussian mixture (k by the lowest BIC).
    Without ``previous``, clusters are numbered 1..k from the highest mean spend down;
    with ``previous`` (last month's fitted model), each cluster takes the number of
    last month's nearest cluster (:func:`match_clusters`), so "segment 3" keeps its meaning,
    and ``n_clusters="auto"`` keeps last month's k (the curve is still computed and shown).

    Parameters
    ----------
    n_clusters : "auto" or int
    k_range : (int, int)
    method : {"kmeans", "gmm"}
    random_state : int
    selection_sample : int
        Customers used to choose k (silhouette and BIC); the final model uses everyone.

    Attributes
    ----------
    k_ : int
    selection_ : DataFrame[k, silhouette, bic, chosen]
    scaler_ : StandardScaler
    model_ : KMeans or GaussianMixture
    centroids_ : DataFrame (cluster x feature), in the original units
    centroids_scaled_ : DataFrame (cluster x feature), in standard deviations from the overall mean
    labels_ : Series of cluster numbers indexed by customer_id
    overall_mean_ : Series of feature means

    Example
    -------
    >>> model = BehaviourClusters(n_clusters="auto").fit(table)  # doctest: +SKIP
    >>> model.profile(table)                                     # doctest: +SKIP
    """

    def __init__(self, n_clusters="auto", k_range=(3, 8), method="kmeans", random_state=0,
                 selection_sample=2000):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.method = method
        self.random_state = random_state
        self.selection_sample = selection_sample

    def _new_model(self, k):
        # scikit-learn takes a second to import: only fitting clusters needs it, not every page of the month
        from sklearn.cluster import KMeans  # local: scikit-learn only when clusters are fitted
        from sklearn.mixture import GaussianMixture  # local: as above

        if self.method == "gmm":
            return GaussianMixture(n_components=k, covariance_type="full", random_state=self.random_state,
                                   reg_covar=1e-4)
        return KMeans(n_clusters=k, n_init=4, random_state=self.random_state)

    def fit(self, table: pd.DataFrame, previous: "BehaviourClusters | pd.DataFrame | None" = None
            ) -> "BehaviourClusters":
        """Choose k, fit on all buying customers, and number the clusters (stable against ``previous``).

        ``previous`` is last month's fitted model, or its ``centroids_`` table (e.g. read
        back from the file ``kanta segments --centroids-out`` wrote last month).
        """
        # a few thousand rows x 7 features: thread start-up costs more than it saves (20x on a busy
        # 2-core machine), and one thread gives the same numbers on every machine
        with threadpool_limits(1):
            return self._fit(table, previous)

    def _fit(self, table: pd.DataFrame, previous) -> "BehaviourClusters":
        SegmentSettings(n_clusters=self.n_clusters, k_range=tuple(self.k_range), cluster_method=self.method)
        feats = cluster_features(table)
        k_min, k_max = self.k_range
        fixed = parse_n_clusters(self.n_clusters)
        need = fixed if fixed != "auto" else k_min
        if len(feats) < max(need + 1, 10):
            raise ModelError(
                f"clustering: got {len(feats)} buying customers, expected at least {max(need + 1, 10)}.",
                reason="too_few_buyers_to_cluster", facts={"buyers": len(feats), "needed": max(need + 1, 10)},
            )
        from sklearn.preprocessing import StandardScaler  # local: see _new_model

        self.scaler_ = StandardScaler().fit(feats)
        z = self.scaler_.transform(feats)
        # "auto" chooses k from the data once; later months keep last month's k so the numbers persist
        prev_centroids = _previous_centroids(previous)
        keep_k = len(prev_centroids) if prev_centroids is not None and fixed == "auto" else None
        self.selection_ = self._select_k(z, fixed, keep_k)
        self.k_ = int(self.selection_.loc[self.selection_["chosen"], "k"].iloc[0])
        self.model_ = self._new_model(self.k_).fit(z)
        raw = np.asarray(self.model_.predict(z))
        centers = self.model_.cluster_centers_ if self.method == "kmeans" else self.model_.means_
        cz = pd.DataFrame(centers, columns=feats.columns)
        # order by value first (1 = highest mean spend), then align to last month when given
        order = cz["log_spend"].sort_values(ascending=False, kind="mergesort").index
        mapping = {int(old): i + 1 for i, old in enumerate(order)}
        if previous is not None:
            prev_z = pd.DataFrame(self.scaler_.transform(prev_centroids[feats.columns]),
                                  index=prev_centroids.index, columns=feats.columns)
            mapping = match_clusters(cz, prev_z)
        self.mapping_ = mapping
        self.labels_ = pd.Series([mapping[int(c)] for c in raw], index=feats.index, name="cluster")
        cz.index = [mapping[int(i)] for i in cz.index]
        self.centroids_scaled_ = cz.sort_index()
        self.centroids_ = pd.DataFrame(self.scaler_.inverse_transform(self.centroids_scaled_),
                                       index=self.centroids_scaled_.index, columns=feats.columns)
        self.centroids_.index.name = self.centroids_scaled_.index.name = "cluster"
        self.overall_mean_ = feats.mean()
        self.feature_names_ = list(feats.columns)
        return self

    def _select_k(self, z: np.ndarray, fixed, keep_k: int | None = None) -> pd.DataFrame:
        from sklearn.metrics import silhouette_score  # local: see _new_model

        rng = np.random.default_rng(self.random_state)
        sub = z if len(z) <= self.selection_sample else z[np.sort(rng.choice(len(z), self.selection_sample, False))]
        k_min, k_max = self.k_range
        ks = [fixed] if fixed != "auto" else sorted(set(range(k_min, k_max + 1)) | ({keep_k} - {None}))
        ks = [k for k in ks if k < len(sub)]
        rows = []
        for k in ks:
            model = self._new_model(k).fit(sub)
            labels = model.predict(sub)
            sil = silhouette_score(sub, labels, random_state=self.random_state) if len(set(labels)) > 1 else np.nan
            gmm = model if self.method == "gmm" else self._gmm(k).fit(sub)
            rows.append((k, float(sil), float(gmm.bic(sub))))
        sel = pd.DataFrame(rows, columns=["k", "silhouette", "bic"])
        if fixed != "auto":
            best = fixed
        elif keep_k is not None:
            best = keep_k
        elif self.method == "gmm":
            best = int(sel.loc[sel["bic"].idxmin(), "k"])
        else:
            best = int(sel.loc[sel["silhouette"].idxmax(), "k"])
        sel["chosen"] = sel["k"] == best
        return sel

    def _gmm(self, k):
        from sklearn.mixture import GaussianMixture  # local: see _new_model

        return GaussianMixture(n_components=k, covariance_type="full", random_state=self.random_state, reg_covar=1e-4)

    def predict(self, table: pd.DataFrame) -> pd.Series:
        """Cluster numbers of the buying customers of ``table`` (index customer_id)."""
        self._check_fitted()
        feats = cluster_features(table)
        with threadpool_limits(1):
            raw = np.asarray(self.model_.predict(self.scaler_.transform(feats)))
        return pd.Series([self.mapping_[int(c)] for c in raw], index=feats.index, name="cluster")

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("BehaviourClusters: not fitted yet, call fit(table) first.")

    def traits(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """What sets each cluster apart, as codes (the report turns them into a name).

        Up to two behaviour traits further than half a standard deviation from the mean
        (``trait_1``, ``trait_2``, e.g. ``"recency_days_high"``), the category the cluster
        over-buys (``category``, when ``table`` has ``share_<category>`` columns), the value level
        (``value_level``: high / mid / low spend) and the advice kind (:func:`cluster_advice_kind`).
        """
        self._check_fitted()
        cats = _category_leaning(table, self.labels_) if table is not None else {}
        rows = []
        for c, row in self.centroids_scaled_.iterrows():
            traits = row.drop("log_spend")
            traits = traits[traits.abs() > 0.5].sort_values(key=np.abs, ascending=False).head(2)
            codes = [f"{f}_{'high' if v > 0 else 'low'}" for f, v in traits.items()] + [None, None]
            level = "high" if row["log_spend"] > 0.5 else ("low" if row["log_spend"] < -0.5 else "mid")
            rows.append((int(c), codes[0], codes[1], cats.get(c), level, cluster_advice_kind(row)))
        return pd.DataFrame(rows, columns=["cluster", "trait_1", "trait_2", "category", "value_level", "advice"])

    def profile(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per cluster: customers, customer share, value (spend) share and the feature means in plain units."""
        self._check_fitted()
        b = table[buyer_mask(table)].set_index(table.loc[buyer_mask(table), "customer_id"].astype(str))
        spend = b["total_spend"].astype(float).reindex(self.labels_.index)
        g = pd.DataFrame({"cluster": self.labels_, "spend": spend})
        agg = g.groupby("cluster").agg(customers=("spend", "size"), spend=("spend", "sum"))
        agg["customer_share"] = agg["customers"] / agg["customers"].sum()
        agg["value_share"] = agg["spend"] / agg["spend"].sum() if agg["spend"].sum() else np.nan
        means = self.centroids_.copy()
        plain = pd.DataFrame({
            "purchase_days": np.expm1(means["log_frequency"]) + 1,
            "recency_days": means["recency_days"],
            "spend": np.expm1(means["log_spend"]),
            "tenure_days": means["tenure_days"],
            "n_categories": means["n_categories"],
            "online_share": means["online_share"],
            "spend_trend": means["spend_trend"],
        }, index=means.index)
        out = agg[["customers", "customer_share", "value_share"]].join(plain)
        out.index.name = "cluster"
        return out.reset_index()

    def summary(self) -> pd.DataFrame:
        """Per cluster: customers, customer share and the centroid in the original feature units."""
        self._check_fitted()
        sizes = self.labels_.value_counts().reindex(self.centroids_.index, fill_value=0)
        out = self.centroids_.copy()
        out.insert(0, "customer_share", sizes / max(int(sizes.sum()), 1))
        out.insert(0, "customers", sizes.astype(int))
        return out.reset_index()

    def to_dict(self) -> dict:
        """k, the method, the k-selection curve and the centroids (JSON-able)."""
        self._check_fitted()
        return {"k": int(self.k_), "method": self.method, "random_state": self.random_state,
                "selection": json_records(self.selection_), "clusters": json_records(self.summary())}

    def _repr_html_(self) -> str:
        if not hasattr(self, "labels_"):
            return f"<p>BehaviourClusters(n_clusters={self.n_clusters!r}, method={self.method!r}): not fitted</p>"
        return f"<p>BehaviourClusters: k = {self.k_} ({self.method})</p>" + self.summary().to_html(index=False)


def _previous_centroids(previous) -> pd.DataFrame | None:
    """Last month's centroids (cluster x feature, original units) from a model or a table; checked."""
    if previous is None:
        return None
    c = previous.centroids_ if isinstance(previous, BehaviourClusters) else previous
    if not isinstance(c, pd.DataFrame):
        raise ParameterError(f"previous clusters: got {type(c).__name__}, expected a fitted model or a centroid table.")
    if "cluster" in c.columns:
        c = c.set_index("cluster")
    missing = [f for f in CLUSTER_FEATURES if f not in c.columns]
    if missing or c.empty:
        raise DataError(f"previous centroids: column {missing[0] if missing else 'cluster'!r} is missing or the "
                        f"table is empty, expected cluster and {', '.join(CLUSTER_FEATURES)}.")
    bad = c[list(CLUSTER_FEATURES)].apply(pd.to_numeric, errors="coerce")
    if bad.isna().any().any() or not pd.api.types.is_integer_dtype(pd.Series(c.index)):
        raise DataError("previous centroids: expected whole-number cluster labels and numeric feature values.")
    return bad.set_axis(c.index.astype(int))


def _category_leaning(table: pd.DataFrame, labels: pd.Series) -> dict:
    """Cluster -> the category whose mean spend share in the cluster most exceeds the overall mean (by >= 0.10)."""
    share_cols = [c for c in table.columns if c.startswith("share_")]
    if not share_cols:
        return {}
    # rows of the labelled customers, by position (indexing the whole wide table by id copies every column)
    rows = pd.Index(table["customer_id"].astype(str)).get_indexer(labels.index)
    shares = table[share_cols].to_numpy(dtype=float)[np.maximum(rows, 0)]
    shares[rows < 0] = np.nan
    b = pd.DataFrame(shares, columns=share_cols).fillna(0)
    over = b.groupby(labels.to_numpy()).mean() - b.mean()
    out = {}
    for c, row in over.iterrows():
        if row.max() >= 0.10:
            out[c] = row.idxmax()[len("share_"):]
    return out


def read_centroids(path) -> pd.DataFrame | None:
    """Centroids written by a previous run (``centroids_out`` / ``--centroids-out``); None when no path is given."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"previous centroids: file {path.name!r} does not exist.")
    try:
        table = pd.read_csv(path, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise DataError(f"previous centroids: {path.name} could not be read as CSV ({type(exc).__name__}); expected "
                        "the segments_centroids.csv a previous run wrote.") from None
    try:
        return _previous_centroids(table)
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"previous centroids: {path.name} does not hold a centroid table ({type(exc).__name__}); "
                        "expected the segments_centroids.csv a previous run wrote.") from None


def write_centroids(seg: Segmentation, path) -> None:
    """Write this month's cluster centroids (cluster x feature) for next month's run to number against."""
    if seg.clusters is not None:
        write_table(seg.clusters.centroids_.reset_index(), path)


def cluster_advice_kind(centroid_scaled: pd.Series) -> str:
    """What to do with a cluster, from its centroid in standard deviations from the mean.

    "win_back" when it is long inactive, else "care" when its spend is high, else
    "onboard" when it joined recently, else "grow" (cross-sell, raise frequency).

    Example
    -------
    >>> cluster_advice_kind(pd.Series({"recency_days": 1.2, "log_spend": 0.9, "tenure_days": 0.0}))
    'win_back'
    """
    if centroid_scaled.get("recency_days", 0) > 0.5:
        return "win_back"
    if centroid_scaled.get("log_spend", 0) > 0.5:
        return "care"
    if centroid_scaled.get("tenure_days", 0) < -0.5:
        return "onboard"
    return "grow"
