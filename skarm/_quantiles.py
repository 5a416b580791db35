"""Quantiles of per-row finite mixtures, the quantile half of
:class:`skarm.predictive.PredictiveDistribution`.

A mixture's CDF ``F(y) = sum_m w_m F_m(y)`` has no closed-form inverse: its ``q``-quantile
lies between the smallest and the largest of its components' ``q``-quantiles, and
bisection on ``F`` inside that bracket finds it to about one ulp (integer bisection for
a discrete family). A single component is its own quantile function.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

__all__ = ["MixtureQuantiles"]

#: Bisection steps for mixture quantiles: enough to shrink any float64 bracket to 1 ulp.
_BISECTION_STEPS = 200


class MixtureQuantiles:
    """Mixin of :class:`~skarm.predictive.PredictiveDistribution`: ``ppf``, ``interval``
    and ``median``. Uses the instance's ``weights`` ``(n_rows, n_components)``,
    ``_components`` (the frozen ``scipy.stats`` components), ``discrete`` and ``cdf``."""

    def ppf(self, q) -> np.ndarray:
        """Quantiles: the smallest ``y`` with ``cdf(y) >= q`` for each row.

        Parameters
        ----------
        q : float or array-like of shape (n_quantiles,)
            Probability levels in ``[0, 1]``.

        Returns
        -------
        quantiles : ndarray of shape (n_rows,) or (n_rows, n_quantiles)
            The first shape for a float ``q``. For a mixture (an ensemble, or
            "mixture") found by bisection on the CDF, to about one ulp.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(  # one row: two Gaussians at -1 and +1
        ...     "mixture", [[0.5, 0.5]], {"loc": [[-1.0, 1.0]], "scale": [[0.5, 0.5]]}
        ... )
        >>> dist.ppf([0.05, 0.95]).round(4)
        array([[-1.6408,  1.6408]])
        """
        scalar = isinstance(q, Real)
        levels = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if levels.ndim != 1 or np.any(~np.isfinite(levels)) or np.any((levels < 0) | (levels > 1)):
            raise ValueError(f"Quantile levels must be a float or 1-D array in [0, 1]; got {q!r}.")
        out = np.column_stack([self._ppf_one(float(level)) for level in levels])
        return out[:, 0] if scalar else out

    def _ppf_one(self, q: float) -> np.ndarray:
        comp = self._components.ppf(np.full(self.weights.shape, q))
        if self.weights.shape[1] == 1:
            return comp[:, 0]
        used = self.weights > 0
        lo = np.where(used, comp, np.inf).min(axis=1)
        hi = np.where(used, comp, -np.inf).max(axis=1)
        if q in (0.0, 1.0) or not np.all(np.isfinite(lo) & np.isfinite(hi)):
            return lo if q == 0.0 else hi
        if self.discrete:  # smallest integer k with F(k) >= q, with F(lo - 1) < q <= F(hi)
            lo = lo - 1.0
            while np.any(hi - lo > 1):
                mid = np.floor((lo + hi) / 2)
                above = self.cdf(mid) >= q
                hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
            return hi
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            above = self.cdf(mid) >= q
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
            if np.all(hi - lo <= 4 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))):
                break
        return hi

    def interval(self, confidence: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``confidence`` of each row's mass.

        Parameters
        ----------
        confidence : float, default=0.9
            Probability mass inside the interval, in ``(0, 1)``.

        Returns
        -------
        lower, upper : ndarray of shape (n_rows,)
            The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> lower, upper = dist.interval(0.9)
        >>> lower.round(3), upper.round(3)
        (array([-1.645, -2.29 ]), array([1.645, 4.29 ]))
        """
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}.")
        bounds = self.ppf([(1 - confidence) / 2, (1 + confidence) / 2])
        return bounds[:, 0], bounds[:, 1]

    def median(self) -> np.ndarray:
        """Median of each row.

        Returns
        -------
        median : ndarray of shape (n_rows,)
            ``ppf(0.5)``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import PredictiveDistribution
        >>> dist = PredictiveDistribution(
        ...     "normal", np.ones((2, 1)), {"loc": [[0.0], [1.0]], "scale": [[1.0], [2.0]]}
        ... )
        >>> dist.median()
        array([0., 1.])
        """
        return self.ppf(0.5)
