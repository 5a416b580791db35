"""Predictions of a fitted :class:`~skarm.ConditionalNLLRegressor`.

The queries a fitted conditional model answers, kept apart from how it is fitted
(skarm/regression.py): exact conditional log-likelihoods ``log p(y | x)`` in the user's
units, the predictive distribution (means, standard deviations, quantiles) and samples.
:func:`from_torch` is the bridge from a head's ``torch.distributions`` object to the
plain-numpy :class:`~skarm.predictive.PredictiveDistribution`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from skarm._base import check_n_samples, release_freed_memory
from skarm.predictive import PredictiveDistribution

__all__ = ["RegressionQueries", "from_torch"]


def from_torch(family: str, dist, loc: float, scale: float) -> PredictiveDistribution:
    """Convert a fitted head's ``torch.distributions`` object to y's units.

    ``dist`` has batch shape ``(n_members, n_rows)`` and lives in internal units
    ``z = (y - loc) / scale``; the members are averaged as an equal-weight mixture.
    """

    def rows(t) -> np.ndarray:  # (K, n[, M]) -> (n, K * M)
        a = t.detach().double().cpu().numpy()
        a = a[..., None] if a.ndim == 2 else a
        return np.moveaxis(a, 0, 1).reshape(a.shape[1], -1)

    if family == "mixture":
        weights = rows(dist.mixture_distribution.probs)
        comp = dist.component_distribution
        params = {"loc": loc + scale * rows(comp.loc), "scale": scale * rows(comp.scale)}
    elif family in ("normal", "laplace"):
        params = {"loc": loc + scale * rows(dist.loc), "scale": scale * rows(dist.scale)}
    elif family == "student_t":
        params = {
            "df": rows(dist.df),
            "loc": loc + scale * rows(dist.loc),
            "scale": scale * rows(dist.scale),
        }
    elif family == "lognormal":  # y = scale * z, log z ~ N(mu, s)
        params = {"s": rows(dist.scale), "scale": scale * np.exp(rows(dist.loc))}
    elif family == "poisson":
        params = {"mu": rows(dist.rate)}
    else:
        raise ValueError(f"Unknown family {family!r}.")
    if family != "mixture":
        weights = np.ones_like(next(iter(params.values())))
    weights = weights / weights.sum(axis=1, keepdims=True)
    return PredictiveDistribution(family, weights, params)


class RegressionQueries:
    """Mixin of :class:`~skarm.ConditionalNLLRegressor`: what a fitted model answers.
    Uses the estimator's fitted ``module_``, ``coder_`` and ``device_``."""

    def _context(self, X) -> np.ndarray:
        """Validated features, in the user's units (standardised batch by batch)."""
        check_is_fitted(self, "module_")
        return validate_data(self, X, dtype=np.float64, reset=False)

    def _context_tensor(self, X: np.ndarray) -> torch.Tensor:
        """A batch of features, standardised as in training, as a tensor."""
        return self._tensor((X - self.x_loc_) / self.x_scale_)

    def _tensor(self, A: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(A, dtype=self._inference_dtype(self.device_), device=self.device_)

    def _targets(self, y, n_rows: int) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64) if not hasattr(y, "to_numpy") else y.to_numpy(float)
        Y = y.reshape(len(y), -1) if y.ndim in (1, 2) else None
        if Y is None or Y.shape != (n_rows, self.n_outputs_):
            raise ValueError(
                f"y must have shape ({n_rows},) or ({n_rows}, {self.n_outputs_}) for "
                f"{n_rows} rows of X; got {np.shape(y)}."
            )
        if not np.all(np.isfinite(Y)):
            raise ValueError("y holds NaN or infinite values.")
        return Y

    def score_samples(self, X, y) -> np.ndarray:
        """Conditional log-likelihood ``log p(y_i | x_i)`` of each row, in nats (y's units).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        log_lik : ndarray of shape (n_samples,)
            ``-inf`` where ``y`` lies outside the family's support (e.g. a negative
            count).

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> log_lik = reg.score_samples(X[:3], y[:3])  # log p(y_i | x_i), nats
        >>> log_lik.shape
        (3,)
        """
        C = self._context(X)
        Y = self._targets(y, len(C))
        Z = self.target_coder_.transform(Y)
        self.module_.eval()
        out, step = [], self.eval_batch_size
        with torch.no_grad():
            for s in range(0, max(len(C), 1), step):
                ll = self.module_(
                    self._tensor(Z[s : s + step]), context=self._context_tensor(C[s : s + step])
                )
                out.append(ll.double().cpu().numpy())
                release_freed_memory()
        return np.concatenate(out) + self.target_coder_.log_jacobian

    def score(self, X, y, sample_weight=None) -> float:
        """Mean conditional log-likelihood of ``y`` given ``X``, in nats per row.

        .. warning:: This is **not** R² (``RegressorMixin.score``): it is the held-out
            likelihood that model selection should maximise for a probabilistic model.
            Use ``sklearn.metrics.r2_score(y, reg.predict(X))`` for R².

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the mean.

        Returns
        -------
        score : float
            ``average(score_samples(X, y), weights=sample_weight)``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> score = reg.score(X, y)  # nats per point, not R^2
        >>> bool(np.isclose(score, reg.score_samples(X, y).mean()))
        True
        >>> from sklearn.metrics import r2_score
        >>> r2 = r2_score(y, reg.predict(X))  # R^2, when you want it
        """
        return float(np.average(self.score_samples(X, y), weights=sample_weight))

    def predict_dist(self, X) -> PredictiveDistribution:
        """The predictive distribution ``p(y | x_i)`` of every row, in y's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        dist : skarm.predictive.PredictiveDistribution
            Row ``i`` is ``p(y | x_i)``, with ``logpdf``, ``cdf``, ``ppf``, ``mean``,
            ``std``, ``interval`` and ``sample``. Only for a single output: the marginals
            of later outputs of an autoregressive model have no closed form (use
            :meth:`sample`).

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> dist = reg.predict_dist(X[:3])
        >>> dist
        PredictiveDistribution(family='student_t', n_rows=3, n_components=1)
        >>> lower, upper = dist.interval(0.9)  # central 90 % interval of each row
        >>> bool((lower < upper).all())
        True
        >>> bool(np.allclose(dist.logpdf(y[:3]), reg.score_samples(X[:3], y[:3])))
        True
        """
        C = self._context(X)
        if self.n_outputs_ != 1:
            raise ValueError(
                f"predict_dist describes a single output; this model has {self.n_outputs_}. "
                "Use sample() for the joint distribution of several outputs."
            )
        self.module_.eval()
        parts, step = [], self.eval_batch_size
        with torch.no_grad():
            for s in range(0, max(len(C), 1), step):
                ctx = self._context_tensor(C[s : s + step])
                params = self.module_._params(ctx.new_zeros(len(ctx), 1), context=ctx)[0]
                parts.append(
                    from_torch(
                        self.distributions_[0],
                        self.module_.heads[0].distribution(params[:, :, 0]),
                        self.target_coder_.loc[0],
                        self.target_coder_.scale[0],
                    )
                )
                release_freed_memory()
        return PredictiveDistribution.concatenate(parts)

    def sample(self, X, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw targets from ``p(y | x_i)`` for every row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Features.
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_rows) or (n_samples, n_rows, n_outputs)
            The second form when the model was fitted on a 2-D ``y``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> reg.sample(X[:3], n_samples=5, random_state=0).shape
        (5, 3)
        """
        C = self._context(X)
        n_samples = check_n_samples(n_samples)
        seed = self._seed_from(random_state)
        self.module_.eval()
        # Batches of rows, each row repeated n_samples times: about eval_batch_size draws.
        rows_per_batch = max(1, self.eval_batch_size // n_samples)
        Y = np.empty((n_samples, len(C), self.n_outputs_))  # filled batch by batch
        with self._torch_rng(seed, self.device_):
            for s in range(0, len(C), rows_per_batch):
                part = self._context_tensor(C[s : s + rows_per_batch])
                context = part.repeat(n_samples, 1)  # draw-major: (n_samples * b, F)
                draws = self.module_.sample(len(context), context=context)
                Z = draws.double().cpu().numpy().reshape(n_samples, len(part), -1)
                Y[:, s : s + len(part)] = self.target_coder_.inverse_transform(
                    Z.reshape(-1, self.n_outputs_)
                ).reshape(Z.shape)
                release_freed_memory()
        return Y if self._y_ndim == 2 else Y[..., 0]

    def predict(self, X, return_std: bool = False):
        """Predictive mean of ``y`` (and its standard deviation when asked).

        Exact for a single output; for several outputs, estimated from 512 draws per row
        of the joint model (a fixed seed, so repeatable).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        return_std : bool, default=False
            Also return the predictive standard deviation (as ``BayesianRidge``).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The mean of ``p(y | x_i)`` for each row.
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Its standard deviation; only returned when ``return_std`` is True.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> mean, std = reg.predict(X[:3], return_std=True)
        >>> mean.shape, std.shape
        ((3,), (3,))
        >>> bool((std > 0).all())
        True
        """
        if self._single():
            dist = self.predict_dist(X)
            mean, std = self._shape(dist.mean()), self._shape(dist.std())
        else:
            draws = self.sample(X, self._n_mc_samples, random_state=0)
            mean, std = draws.mean(axis=0), draws.std(axis=0)
        return (mean, std) if return_std else mean

    def predict_quantiles(self, X, quantiles) -> np.ndarray:
        """Predictive quantiles of ``y`` for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        quantiles : float or array-like of shape (n_quantiles,)
            Levels in ``[0, 1]``, e.g. ``[0.05, 0.5, 0.95]``.

        Returns
        -------
        quantiles : ndarray
            Of shape (n_samples,) for a float, (n_samples, n_quantiles) for an array;
            with several outputs, (n_samples, n_outputs[, n_quantiles]), estimated from
            512 draws per row.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import ConditionalNLLRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(200, 1))
        >>> y = X[:, 0] + 0.1 * rng.randn(200)
        >>> reg = ConditionalNLLRegressor(max_iter=5, ensemble_size=1, random_state=0).fit(X, y)
        >>> q = reg.predict_quantiles(X[:3], [0.05, 0.5, 0.95])
        >>> q.shape
        (3, 3)
        >>> bool((q[:, 0] < q[:, 1]).all() and (q[:, 1] < q[:, 2]).all())
        True
        """
        if self._single():
            return self.predict_dist(X).ppf(quantiles)
        levels = np.asarray(quantiles, dtype=np.float64)
        if levels.ndim > 1 or np.any(~np.isfinite(levels)) or np.any((levels < 0) | (levels > 1)):
            raise ValueError(
                f"Quantile levels must be a float or 1-D array in [0, 1]; got {quantiles!r}."
            )
        draws = self.sample(X, self._n_mc_samples, random_state=0)
        q = np.quantile(draws, levels, axis=0)  # (n_quantiles, n, K), or (n, K) for a float
        return np.moveaxis(q, 0, -1) if levels.ndim else q

    def _single(self) -> bool:
        check_is_fitted(self, "module_")
        return self.n_outputs_ == 1

    def _shape(self, values: np.ndarray) -> np.ndarray:
        return values[:, None] if self._y_ndim == 2 else values
