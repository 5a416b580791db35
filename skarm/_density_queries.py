"""Scoring and sampling of a fitted :class:`~skarm.AutoregressiveDensityEstimator`.

The queries a fitted density model answers, kept apart from how it is fitted
(skarm/density.py): exact log-likelihoods (per row and per column, in the user's units,
averaged over fixed noise draws for dequantized columns), and ancestral sampling,
unconditional or continuing given leading variables.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import qmc
from sklearn.utils.validation import check_array, check_is_fitted

from skarm._base import check_n_samples, release_freed_memory
from skarm.heads import OUT_OF_SUPPORT

__all__ = ["DensityQueries"]


class DensityQueries:
    """Mixin of :class:`~skarm.AutoregressiveDensityEstimator`: what a fitted model
    answers. Uses the estimator's fitted ``module_``, ``coder_``, ``order_`` and
    ``device_`` and its ``_validate``, ``_to_tensor``, ``_seed_from`` and ``_torch_rng``."""

    def _dequantization_shifts(self) -> torch.Tensor | None:
        """Fixed quasi-random noise draws ``u_s * noise_scale`` (scrambled Sobol points,
        the same for every row), or None without dequantized columns."""
        if not self.coder_.dequantized.any():
            return None
        u = qmc.Sobol(self.n_features_in_, scramble=True, seed=0).random(
            self._n_dequantization_points
        )
        return self._to_tensor(u * self.coder_.noise_scale)

    def _evaluate(self, X, fn) -> np.ndarray:
        """Apply ``fn`` to internal-unit batches of validated ``X``; bounded memory.

        With dequantized columns, ``fn`` is averaged over fixed noise draws: a
        deterministic estimate of ``E_u[fn(x + u)]``.
        """
        check_is_fitted(self, "module_")
        X = self._validate(X, reset=False)
        self.module_.eval()
        step = self.eval_batch_size
        shifts = self._dequantization_shifts()
        result = None  # allocated once, filled batch by batch: no concatenated copy
        with torch.no_grad():
            for s in range(0, max(X.shape[0], 1), step):
                z = self._to_tensor(self.coder_.transform(X[s : s + step]))
                if shifts is None:
                    out = fn(z)
                else:
                    out = torch.stack([fn(z + u) for u in shifts]).mean(dim=0)
                if result is None:
                    result = np.empty((X.shape[0], *out.shape[1:]))
                result[s : s + len(z)] = out.cpu().numpy()
                del z, out
                release_freed_memory()
        return result

    def conditional_log_likelihood(self, X) -> np.ndarray:
        """Per-column conditional log-likelihoods ``log p(x_j | x_<j)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        log_lik : ndarray of shape (n_samples, n_features)
            Column ``j`` (in the input's column order, whatever the model's order) holds
            ``log p(x_j | x_<j)`` in nats, in user units; rows sum to ``score_samples``.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(100, 4))  # 4 columns of codes 0..2
        >>> est = AutoregressiveDensityEstimator(max_iter=3, random_state=0).fit(X)
        >>> log_lik = est.conditional_log_likelihood(X[:5])
        >>> log_lik.shape
        (5, 4)
        >>> bool(np.allclose(log_lik.sum(axis=1), est.score_samples(X[:5])))
        True
        """
        log_lik = self._evaluate(X, lambda z: self.module_.conditional_log_prob(z))
        log_lik -= np.log(self.coder_.scale)  # in place: the array may be large
        return log_lik

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood ``log p(x)`` of each row, in nats (user units).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``-inf`` for rows holding a discrete value outside the fitted support.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(100, 4))  # 4 columns of codes 0..2
        >>> est = AutoregressiveDensityEstimator(max_iter=3, random_state=0).fit(X)
        >>> est.score_samples(X[:3]).shape
        (3,)
        >>> est.score_samples([[0, 1, 2, 5]])  # 5 lies outside the fitted support 0..2
        array([-inf])
        """
        return self._evaluate(X, lambda z: self.module_(z)) + self.coder_.log_jacobian

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of ``X`` in nats per row (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``mean(score_samples(X))``; held-out values select models in GridSearchCV.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(100, 4))  # 4 columns of codes 0..2
        >>> from sklearn.model_selection import GridSearchCV
        >>> est = AutoregressiveDensityEstimator(max_iter=3, ensemble_size=1, random_state=0)
        >>> search = GridSearchCV(est, {"alpha": [0.1, 10.0]}, cv=2).fit(X)  # by score
        >>> sorted(search.best_params_)
        ['alpha']
        >>> nats = search.score(X)  # mean log-likelihood, nats per row
        >>> bits_per_dimension = -nats / (X.shape[1] * np.log(2))
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state=None, *, prefix=None) -> np.ndarray:
        """Draw rows from the fitted distribution, or continue given leading values.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows (per prefix row, with ``prefix``).
        random_state : int, RandomState instance or None, default=None
            Seed of the draw; the same value gives the same rows.
        prefix : array-like of shape (n_prefixes, k) or (k,), default=None
            Values of the first ``k`` variables *in the model's order* (the first ``k``
            columns with the default ``order=None``), ``1 <= k < n_features``. Each prefix
            row is continued ``n_samples`` times by drawing the other variables from
            ``p(x_rest | prefix)``, exactly the model's conditional: a window model
            becomes a probabilistic forecaster, a table model imputes trailing columns.
            Needs one order shared by all members (not ``order="ensemble"``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) or (n_prefixes * n_samples, n_features)
            Samples in user units; discrete columns hold integer codes. With ``prefix``,
            rows ``i * n_samples`` to ``(i + 1) * n_samples - 1`` continue prefix row ``i``
            and hold its values unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(100, 4))  # 4 columns of codes 0..2
        >>> est = AutoregressiveDensityEstimator(max_iter=3, random_state=0).fit(X)
        >>> est.sample(3, random_state=0).shape
        (3, 4)
        >>> rows = est.sample(2, random_state=0, prefix=[0, 1])  # given x_0 = 0, x_1 = 1
        >>> rows[:, :2]
        array([[0., 1.],
               [0., 1.]])
        """
        check_is_fitted(self, "module_")
        n_samples = check_n_samples(n_samples)
        given = None if prefix is None else self._check_prefix(prefix)
        seed = self._seed_from(random_state)
        self.module_.eval()
        step = self.eval_batch_size
        if given is not None:
            rows, k = given
            rows = np.repeat(rows, n_samples, axis=0)
            cols = self.order_[:k]
            # Dequantized prefix columns get fresh noise u, as in training (0 elsewhere).
            noise = self._to_tensor(self.coder_.noise_scale[cols])
        n_rows = n_samples if given is None else len(rows)
        X = np.empty((n_rows, self.n_features_in_))  # filled batch by batch
        with self._torch_rng(seed, self.device_):
            for s in range(0, n_rows, step):
                if given is None:
                    draws = self.module_.sample(min(step, n_rows - s))
                else:
                    x = self._to_tensor(self.coder_.transform(rows[s : s + step]))
                    x[:, cols] += torch.rand_like(x[:, cols]) * noise
                    draws = self.module_.sample(len(x), x=x, start=k)
                X[s : s + len(draws)] = self.coder_.inverse_transform(draws.cpu().numpy())
                release_freed_memory()
        if given is not None:
            X[:, cols] = rows[:, cols]  # the given values exactly, not their round trip
        return X

    def _check_prefix(self, prefix) -> tuple[np.ndarray, int]:
        """Validated prefix as full-width rows (zeros after it) and its length ``k``."""
        if self.order_.ndim != 1:
            raise ValueError(
                "prefix needs one variable order shared by all members; with "
                "order='ensemble' each member has its own."
            )
        P = check_array(
            prefix,
            ensure_2d=False,
            dtype=np.float64,
            ensure_min_samples=0,
            ensure_min_features=0,
            input_name="prefix",
        )
        P = P.reshape(1, -1) if P.ndim == 1 else P
        n_features = self.n_features_in_
        if P.ndim != 2 or not 1 <= P.shape[1] < n_features:
            raise ValueError(
                f"prefix must hold the first k of the {n_features} variables in the model's "
                f"order, 1 <= k < {n_features}; got shape {np.shape(prefix)}."
            )
        if P.shape[0] == 0:
            raise ValueError("prefix has no rows to continue.")
        k = P.shape[1]
        cols = self.order_[:k]
        rows = np.zeros((len(P), n_features))
        rows[:, cols] = P
        disc = ~self.coder_.continuous[cols]
        if disc.any():
            Z = self.coder_.transform(rows)[:, cols[disc]]
            if np.any(Z == OUT_OF_SUPPORT):
                raise ValueError(
                    "prefix holds a value outside the support of a discrete column; such a "
                    "prefix has probability zero and cannot be continued."
                )
        return rows, k
