"""The predictive distribution p(y | x) of a fitted regressor, one row per input row.

:meth:`skarm.ConditionalNLLRegressor.predict_dist` returns a
:class:`PredictiveDistribution`: for each row ``i`` a finite mixture

.. math:: p(y \\mid x_i) = \\sum_m w_{im} \\, f(y; \\theta_{im})

of one ``scipy.stats`` family ``f`` (a single component for "normal", "laplace",
"student_t", "lognormal" and "poisson"; ``n_components`` for "mixture"; times
``ensemble_size`` when an ensemble is averaged), with parameters already in the units
of ``y``. Densities, CDFs, moments and samples are closed-form or exact sums over the
components; quantiles of a mixture are found by bisection on its CDF, bracketed by the
components' quantiles, to machine precision.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from skarm._base import check_n_samples
from skarm._quantiles import MixtureQuantiles

__all__ = ["PredictiveDistribution", "FAMILIES"]

#: scipy.stats family of each output distribution, and its parameter names.
FAMILIES = {
    "normal": (stats.norm, ("loc", "scale")),
    "mixture": (stats.norm, ("loc", "scale")),
    "laplace": (stats.laplace, ("loc", "scale")),
    "student_t": (stats.t, ("df", "loc", "scale")),
    "lognormal": (stats.lognorm, ("s", "scale")),
    "poisson": (stats.poisson, ("mu",)),
}


class PredictiveDistribution(MixtureQuantiles):
    """Per-row predictive distributions ``p(y | x_i)`` of a fitted regressor.

    Each row is a mixture of components of one family, weighted by ``weights``; all
    parameters are in the units of ``y``. Instances are returned by
    :meth:`ConditionalNLLRegressor.predict_dist`; they are plain numpy objects (no
    torch), cheap to keep and to pickle.

    Parameters
    ----------
    family : {"normal", "laplace", "student_t", "lognormal", "poisson", "mixture"}
        The output family.
    weights : ndarray of shape (n_rows, n_components)
        Mixture weights; each row sums to one.
    params : dict of str to ndarray of shape (n_rows, n_components)
        The ``scipy.stats`` parameters of every component: ``loc``/``scale`` (normal,
        mixture, laplace), ``df``/``loc``/``scale`` (student_t), ``s``/``scale`` (lognormal:
        ``log y ~ N(log scale, s)``), ``mu`` (poisson).

    Attributes
    ----------
    n_rows : int
        Number of rows (input points).
    discrete : bool
        True for "poisson": :meth:`logpdf` and :meth:`pdf` are then the log-pmf and pmf.

    Examples
    --------
    >>> import numpy as np
    >>> from skarm.predictive import PredictiveDistribution
    >>> d = PredictiveDistribution("normal", np.ones((2, 1)),
    ...                            {"loc": np.zeros((2, 1)), "scale": np.ones((2, 1))})
    >>> d.ppf(0.5)
    array([0., 0.])
    >>> d.cdf([0.0, 1.0]).round(4)
    array([0.5   , 0.8413])
    """

    def __init__(self, family: str, weights: np.ndarray, params: dict) -> None:
        if family not in FAMILIES:
            raise ValueError(f"Unknown family {family!r}; expected one of {sorted(FAMILIES)}.")
        self.family = family
        self.weights = np.asarray(weights, dtype=np.float64)
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        if self.weights.ndim != 2:
            raise ValueError("weights must have shape (n_rows, n_components).")
        dist, names = FAMILIES[family]
        if set(self.params) != set(names):
            raise ValueError(f"{family} needs the parameters {names}, got {sorted(self.params)}.")
        for name, value in self.params.items():
            if value.shape != self.weights.shape:
                raise ValueError(
                    f"Parameter {name!r} has shape {value.shape}; expected {self.weights.shape}."
                )
        self._components = dist(**self.params)
        self.discrete = family == "poisson"

    @classmethod
    def concatenate(cls, parts: list[PredictiveDistribution]) -> PredictiveDistribution:
        """Stack the rows of distributions of one family (and component count).

        Parameters
        ----------
        parts : list of PredictiveDistribution
            Distributions of the same family with the same number of components.

        Returns
        -------
        dist : PredictiveDistribution
            Their rows, in order.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> PredictiveDistribution.concatenate([dist, dist])
        PredictiveDistribution(family='normal', n_rows=4, n_components=1)
        """
        first = parts[0]
        return cls(
            first.family,
            np.concatenate([p.weights for p in parts]),
            {k: np.concatenate([p.params[k] for p in parts]) for k in first.params},
        )

    # ------------------------------------------------------------------ helpers
    @property
    def n_rows(self) -> int:
        """Number of rows (input points), as ``len(dist)``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.n_rows, len(dist)
        (2, 2)
        """
        return self.weights.shape[0]

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return (
            f"PredictiveDistribution(family={self.family!r}, n_rows={self.n_rows}, "
            f"n_components={self.weights.shape[1]})"
        )

    def _values(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 0:
            y = np.full(self.n_rows, float(y))
        if y.shape != (self.n_rows,):
            raise ValueError(f"Expected one value per row, shape ({self.n_rows},); got {y.shape}.")
        return y[:, None]

    def _log_weights(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.weights)

    # ------------------------------------------------------------------ densities
    def logpdf(self, y) -> np.ndarray:
        """Log-density of ``y[i]`` under row ``i`` (log-pmf for "poisson"), in nats.

        Parameters
        ----------
        y : array-like of shape (n_rows,) or float
            One value per row (a float is used for every row).

        Returns
        -------
        log_density : ndarray of shape (n_rows,)
            ``log p(y[i] | x_i)``; ``-inf`` outside the support.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.logpdf([0.0, 1.0]).round(4)  # each row's density at its own mean
        array([-0.9189, -1.6121])
        """
        y = self._values(y)
        if self.discrete:
            comp = self._components.logpmf(y)
        else:
            comp = self._components.logpdf(y)
        return logsumexp(self._log_weights() + comp, axis=1)

    def pdf(self, y) -> np.ndarray:
        """Density of ``y[i]`` under row ``i`` (pmf for "poisson").

        Parameters
        ----------
        y : array-like of shape (n_rows,) or float
            One value per row (a float is used for every row).

        Returns
        -------
        density : ndarray of shape (n_rows,)
            ``exp(logpdf(y))``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.pdf(0.0).round(4)
        array([0.3989, 0.176 ])
        """
        return np.exp(self.logpdf(y))

    def cdf(self, y) -> np.ndarray:
        """Cumulative distribution function ``P(Y_i <= y[i])`` of each row.

        A calibrated model's ``cdf(y_test)`` (the probability integral transform) is
        uniform on ``[0, 1]``.

        Parameters
        ----------
        y : array-like of shape (n_rows,) or float
            One value per row (a float is used for every row).

        Returns
        -------
        probability : ndarray of shape (n_rows,)
            ``P(Y_i <= y[i])``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.cdf([0.0, 1.0])
        array([0.5, 0.5])
        """
        return np.sum(self.weights * self._components.cdf(self._values(y)), axis=1)

    # ------------------------------------------------------------------ moments
    def mean(self) -> np.ndarray:
        """Mean of each row.

        Returns
        -------
        mean : ndarray of shape (n_rows,)
            The mixture's mean, the weighted mean of its components' means.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(  # one row: two Gaussians at -1 and +1
        ...     "mixture", [[0.5, 0.5]], {"loc": [[-1.0, 1.0]], "scale": [[0.5, 0.5]]}
        ... )
        >>> dist.mean()
        array([0.])
        """
        return np.sum(self.weights * self._components.mean(), axis=1)

    def var(self) -> np.ndarray:
        """Variance of each row (law of total variance over the components).

        Returns
        -------
        variance : ndarray of shape (n_rows,)
            The mean of the components' variances plus the variance of their means.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(  # one row: two Gaussians at -1 and +1
        ...     "mixture", [[0.5, 0.5]], {"loc": [[-1.0, 1.0]], "scale": [[0.5, 0.5]]}
        ... )
        >>> dist.var()  # 0.5 ** 2 + 1
        array([1.25])
        """
        means = self._components.mean()
        second = self._components.var() + means**2
        mean = np.sum(self.weights * means, axis=1)
        return np.maximum(np.sum(self.weights * second, axis=1) - mean**2, 0.0)

    def std(self) -> np.ndarray:
        """Standard deviation of each row.

        Returns
        -------
        std : ndarray of shape (n_rows,)
            ``sqrt(var())``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.std()
        array([1., 2.])
        """
        return np.sqrt(self.var())

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n_samples`` values from every row.

        Parameters
        ----------
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw.

        Returns
        -------
        draws : ndarray of shape (n_samples, n_rows)
            Column ``i`` holds draws from row ``i``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.sample(1000, random_state=0).shape
        (1000, 2)
        """
        n_samples = check_n_samples(n_samples)
        rng = check_random_state(random_state)
        cum = np.cumsum(self.weights, axis=1)
        u = rng.uniform(size=(n_samples, self.n_rows, 1)) * cum[None, :, -1:]
        pick = np.minimum((u > cum[None]).sum(axis=2), self.weights.shape[1] - 1)
        rows = np.arange(self.n_rows)
        chosen = {k: v[rows[None, :], pick] for k, v in self.params.items()}
        dist, _ = FAMILIES[self.family]
        return dist(**chosen).rvs(size=pick.shape, random_state=rng).astype(np.float64)
