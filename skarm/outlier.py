"""AutoregressiveOutlierDetector: anomalies are rows the fitted density finds unlikely."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import OutlierMixin, _fit_context
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skarm.density import AutoregressiveDensityEstimator

__all__ = ["AutoregressiveOutlierDetector"]


class AutoregressiveOutlierDetector(OutlierMixin, AutoregressiveDensityEstimator):
    """Unsupervised outlier detection by autoregressive log-likelihood, with explanations.

    Fits an :class:`AutoregressiveDensityEstimator` to the training rows (which may hold
    anomalies: the fit is unsupervised) and scores a row by its log-likelihood
    ``log p(x) = sum_j log p(x_j | x_<j)``: the lower, the more anomalous. Unlike
    distance- or tree-based detectors, the score is a calibrated quantity (nats) and it
    splits over the features, so :meth:`explain` says which features make a row unlikely.

    The API is scikit-learn's for outlier detectors (as ``IsolationForest``):
    ``score_samples`` (higher is more normal), ``decision_function = score_samples -
    offset_`` (negative for outliers), ``predict`` (+1 inlier, -1 outlier) and
    ``fit_predict``. ``score`` stays the mean log-likelihood, so ``GridSearchCV`` can
    tune every density parameter by held-out likelihood without labels.

    Parameters
    ----------
    contamination : "auto" or float, default="auto"
        How the threshold ``offset_`` is set. A float in ``(0, 0.5]`` is the share of
        training rows to flag: ``offset_`` is that quantile of their scores. "auto" sets
        it from the model alone, at the log-likelihood that 1 % of the rows the model
        itself generates fall below (estimated on 10,000 samples): a row is flagged when
        it is less likely than 99 % of what the model considers typical, a test of level
        1 % of "this row comes from the fitted distribution", whatever share of anomalies
        the training data held.
    trim : float in [0, 0.5), default=0.0
        Robust refit: drop this share of the training rows, those the first fit finds
        least likely (presumably anomalies), and fit again from scratch on the others.
        Twice the cost.
    distribution, n_categories, n_components, categorical_encoding, architecture, \
hidden_layer_sizes, image_shape, dropout, ensemble_size, order, dequantize, atoms, \
alpha, l1_ratio, batch_size, learning_rate_init, learning_rate, max_iter, \
early_stopping, validation_fraction, n_iter_no_change, tol, max_grad_norm, \
eval_batch_size, device, \
random_state, verbose, warm_start, trainable_layers, subsample_dimensions, \
refit_rounds : see AutoregressiveDensityEstimator
        The density model's parameters, with the same meaning and defaults except
        three, which make a smoother density: ``ensemble_size=1``, ``atoms=None`` and,
        for "made", ``hidden_layer_sizes=None`` meaning one hidden layer of 128 units
        (not 512). A density that fits the training rows more closely also fits the
        anomalies among them: on ADBench's sets (seed 1) four members or 512 units
        lowered the mean AUROC, and atoms put a peak on every repeated value, duplicated
        anomalies included (see the user guide and the benchmarks page). A fourth,
        ``learning_rate_init=3e-3`` (the density estimator's is 5e-3), and a fifth,
        ``dropout=0.5`` (the density estimator's is "auto", 0.25 from 5,000 rows), are
        the settings the ADBench figures were measured with. A sixth,
        ``refit_rounds=0``: the output refit fits the training rows, anomalies
        included, more closely and lowered the mean AUROC on ADBench (0.856 against
        0.862 over the 12 sets and 3 seeds; lower on 11 of them). A seventh,
        ``max_iter=300`` (not 500): on ADBench the epochs past 300 left the mean AUROC
        where it was (0.866 with 500, 0.867 with 300) and took optdigits' fit from 65 to
        34 s. An eighth, ``n_components=2`` (not 5): a conditional with fewer
        Gaussians has fewer spare components to spend on a cluster of anomalies in the
        training rows; on ADBench (12 sets, 3 seeds) the mean AUROC was 0.853 with one
        component, 0.881 with two, 0.876 with three and 0.867 with five (Ionosphere,
        whose training rows are a third anomalies, 0.831 with five and 0.946 with two).

    Attributes
    ----------
    offset_ : float
        Threshold on ``score_samples``: rows scoring below it are outliers.
    typical_log_likelihood_ : ndarray of shape (n_features,)
        Median over the training rows of each feature's conditional log-likelihood
        (averaged over the ensemble's members), the reference of :meth:`explain`.
    module_, coder_, distributions_, order_, dropout_, device_, n_iter_, loss_curve_, \
validation_scores_, best_validation_score_, n_features_in_, feature_names_in_
        As in :class:`AutoregressiveDensityEstimator`.

    See Also
    --------
    AutoregressiveDensityEstimator : the density model underneath.
    sklearn.ensemble.IsolationForest : a tree-based detector with the same API.
    sklearn.neighbors.LocalOutlierFactor : a density-ratio detector (``novelty=True``).

    Notes
    -----
    A feature's conditional ``p(x_j | x_<j)`` depends on the variable order: the same
    surprise is charged to whichever of two dependent features comes later. With
    ``order="ensemble"`` every member has its own order and :meth:`explain` averages the
    members' conditionals, an explanation averaged over orderings.

    Examples
    --------
    >>> import numpy as np
    >>> from skarm import AutoregressiveOutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(300, 2))
    >>> det = AutoregressiveOutlierDetector(max_iter=20, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0], [6.0, -6.0]])
    array([ 1, -1])
    >>> det.explain([[0.0, 8.0]]).top_features[0, 0]
    np.int64(1)
    """

    _parameter_constraints: dict = {
        **AutoregressiveDensityEstimator._parameter_constraints,
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "trim": [Interval(Real, 0, 0.5, closed="left")],
    }

    #: Model tail probability of ``contamination="auto"`` and the samples estimating it.
    _auto_tail = 0.01
    #: 10,000: the 1 % quantile of n draws has a standard error of about
    #: sqrt(0.01 * 0.99 / n) / 0.01 nats (0.22 at 2,000, where one seed in a hundred put the
    #: threshold 0.7 nats off; 0.10 now).
    _auto_samples = 10000

    def __init__(
        self,
        *,
        contamination="auto",
        trim=0.0,
        distribution="auto",
        n_categories="auto",
        n_components=2,
        categorical_encoding="ordinal",
        architecture="made",
        hidden_layer_sizes=None,
        image_shape=None,
        dropout=0.5,
        ensemble_size=1,
        order=None,
        dequantize=False,
        atoms=None,
        alpha=5.0,
        l1_ratio=0.0,
        batch_size=128,
        learning_rate_init=3e-3,
        learning_rate="adaptive",
        max_iter=300,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=1e-4,
        max_grad_norm=10.0,
        eval_batch_size=2048,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        trainable_layers="all",
        subsample_dimensions=None,
        refit_rounds=0,
    ):
        super().__init__(
            distribution=distribution,
            n_categories=n_categories,
            n_components=n_components,
            categorical_encoding=categorical_encoding,
            architecture=architecture,
            hidden_layer_sizes=hidden_layer_sizes,
            image_shape=image_shape,
            dropout=dropout,
            ensemble_size=ensemble_size,
            order=order,
            dequantize=dequantize,
            atoms=atoms,
            alpha=alpha,
            l1_ratio=l1_ratio,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            max_grad_norm=max_grad_norm,
            eval_batch_size=eval_batch_size,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            trainable_layers=trainable_layers,
            subsample_dimensions=subsample_dimensions,
            refit_rounds=refit_rounds,
        )
        self.contamination = contamination
        self.trim = trim

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the density to ``X`` (unsupervised) and set the threshold ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, anomalies included.
        y : None
            Ignored, present for API consistency.

        Returns
        -------
        self : AutoregressiveOutlierDetector
            The fitted detector.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveOutlierDetector
        >>> X = np.random.RandomState(0).normal(size=(300, 2))
        >>> det = AutoregressiveOutlierDetector(max_iter=20, random_state=0)
        >>> det.fit(X)
        AutoregressiveOutlierDetector(max_iter=20, random_state=0)
        >>> bool(det.score_samples([[0.0, 0.0]])[0] > det.offset_)  # the mode is an inlier
        True
        """
        with self._restore_on_failure():
            self._fit(X)
            if self.trim > 0:
                # The rows the first fit finds least likely are dropped and the model is
                # fitted afresh on the others (warm_start continues the first fit only).
                scores = self.score_samples(X)
                n_drop = int(np.floor(self.trim * len(scores)))
                keep = np.sort(np.argsort(scores, kind="stable")[n_drop:])
                del self.module_
                self._fit(_safe_indexing(X, keep))
            self.typical_log_likelihood_ = np.median(self._member_conditionals(X), axis=0)
            self.offset_ = self._threshold(X)
        return self

    @available_if(lambda self: False)
    def partial_fit(self, X, y=None):
        """Not available: the threshold and the typical values need the whole training
        set. Fit an :class:`AutoregressiveDensityEstimator` by ``partial_fit`` and
        threshold its ``score_samples`` instead."""
        raise NotImplementedError  # pragma: no cover (hidden by available_if)

    def _hidden_layer_sizes(self):
        if self.hidden_layer_sizes is None and self.architecture == "made":
            return self._made_hidden
        return self.hidden_layer_sizes

    #: Hidden widths of "made" when ``hidden_layer_sizes=None``.
    _made_hidden = (128,)

    def _threshold(self, X) -> float:
        if self.contamination == "auto":
            seed = self._seed_from(self.random_state)
            scores = self.score_samples(self.sample(self._auto_samples, random_state=seed))
            return float(np.quantile(scores, self._auto_tail))
        return float(np.percentile(self.score_samples(X), 100.0 * self.contamination))

    def _member_conditionals(self, X) -> np.ndarray:
        """Each feature's conditional log-likelihood, averaged over the members (each in
        its own order), in internal units: ``(n_samples, n_features)``."""
        return self._evaluate(X, lambda z: self.module_.member_log_prob(z).mean(dim=0))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Shifted log-likelihood in nats; ``-inf`` for impossible rows.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveOutlierDetector
        >>> X = np.random.RandomState(0).normal(size=(300, 2))
        >>> det = AutoregressiveOutlierDetector(max_iter=20, random_state=0).fit(X)
        >>> det.decision_function([[0.0, 0.0], [6.0, -6.0]]) > 0
        array([ True, False])
        """
        check_is_fitted(self, "offset_")
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """Label rows as inliers (+1) or outliers (-1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 where ``decision_function(X) >= 0``, else -1.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveOutlierDetector
        >>> X = np.random.RandomState(0).normal(size=(300, 2))
        >>> det = AutoregressiveOutlierDetector(max_iter=20, random_state=0).fit(X)
        >>> det.predict([[0.0, 0.0], [6.0, -6.0]])
        array([ 1, -1])
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def explain(self, X, n_top: int = 3) -> Bunch:
        """Which features make each row unlikely: per-feature surprise in nats.

        The surprise of feature ``j`` in row ``x`` is ``typical_log_likelihood_[j] -
        log p(x_j | x_<j)``: how many nats less likely its conditional finds the value
        than it finds the median training row's. Positive values are unusual, ``inf``
        marks a value outside a discrete feature's support. Averaged over the ensemble's
        members (over orderings with ``order="ensemble"``). Rescaling a feature shifts
        its conditional and its typical value alike, so surprises do not depend on units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to explain.
        n_top : int, default=3
            Number of most surprising features to list per row.

        Returns
        -------
        explanation : Bunch
            ``surprise``, ndarray of shape (n_samples, n_features): the surprise of
            every feature. ``top_features``, ndarray of int of shape (n_samples, n_top):
            feature indices by decreasing surprise. ``top_names``, ndarray of str of the
            same shape: their names (``feature_names_in_`` if fitted on a DataFrame,
            else ``"x0"``, ``"x1"``, ...).

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveOutlierDetector
        >>> X = np.random.RandomState(0).normal(size=(300, 2))
        >>> det = AutoregressiveOutlierDetector(max_iter=20, random_state=0).fit(X)
        >>> explanation = det.explain([[0.0, 8.0]])  # x1 = 8 is very unlikely
        >>> explanation.surprise.shape
        (1, 2)
        >>> explanation.top_names[0]
        array(['x1', 'x0'], dtype=object)
        """
        check_is_fitted(self, "typical_log_likelihood_")
        if isinstance(n_top, bool) or not isinstance(n_top, int | np.integer) or n_top < 1:
            raise ValueError(f"n_top must be a positive integer, got {n_top!r}.")
        surprise = self.typical_log_likelihood_ - self._member_conditionals(X)
        n_top = min(int(n_top), surprise.shape[1])
        top = np.argsort(-surprise, axis=1, kind="stable")[:, :n_top]
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.array([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
        return Bunch(surprise=surprise, top_features=top, top_names=np.asarray(names)[top])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
