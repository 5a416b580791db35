"""How :class:`~skarm.AutoregressiveDensityEstimator` is fitted.

Kept apart from the estimator's public surface (skarm/density.py: parameters, ``fit``,
``partial_fit``) and from what a fitted model answers (skarm/_density_queries.py): the
column typing, the network's construction, the training loop with its held-out split,
dequantization noise and dimension-subsampled objective, and the closed-form refit of
the output layer that follows early stopping (:mod:`skarm._refit`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from skarm._architectures import build_model, freeze_lower_layers, resolve_order
from skarm._data import ColumnCoder
from skarm._engine import History, Trainer, resolve_device
from skarm._refit import can_refit, refit_output_layer
from skarm.nn import AutoregressiveModel

__all__ = ["DensityTraining"]


def _training_log_lik(noise: torch.Tensor | None, n_columns: int | None):
    """The per-row ``log_lik`` the trainer maximises.

    In training mode, ``noise`` (dequantized columns) adds fresh uniform noise
    ``u * noise`` to every batch, and ``n_columns`` estimates the log-likelihood from that
    many random columns, scaled up (the unbiased dimension-subsampled objective). In
    eval mode (early stopping's held-out score) it is the model's exact log-likelihood.
    """

    def log_lik(module: AutoregressiveModel, x: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return module(x)
        if noise is not None:
            x = x + torch.rand_like(x) * noise
        if n_columns is not None:
            return module.subsampled_log_prob(x, n_columns)
        return module(x)

    return log_lik


class DensityTraining:
    """Mixin of :class:`~skarm.AutoregressiveDensityEstimator`: how it is fitted. Uses the
    estimator's parameters and its ``_validate``, ``_seed_from``, ``_torch_rng``,
    ``_check_fit_rows``, ``_train_config``, ``_inference_dtype`` and ``_record_history``."""

    def _hidden_layer_sizes(self):
        """``hidden_layer_sizes`` as the network is built (None: the architecture's default)."""
        return self.hidden_layer_sizes

    #: Rows passed to ``fit`` from which ``dropout="auto"`` takes the lower rate.
    _auto_dropout_rows = 5000

    def _dropout_for(self, n_rows: int) -> float:
        """The dropout rate a fresh fit on ``n_rows`` rows uses (resolves "auto")."""
        if isinstance(self.dropout, str):
            return 0.25 if n_rows >= self._auto_dropout_rows else 0.5
        return float(self.dropout)

    def _build(self, coder: ColumnCoder, order: np.ndarray, dropout: float) -> AutoregressiveModel:
        return build_model(
            coder,
            order,
            architecture=self.architecture,
            hidden_layer_sizes=self._hidden_layer_sizes(),
            image_shape=self.image_shape,
            dropout=dropout,
            ensemble_size=self.ensemble_size,
            categorical_encoding=self.categorical_encoding,
            n_components=self.n_components,
        )

    def _fitted_dropout(self) -> float:
        """``dropout_``; models fitted before it existed (files saved and pickles made by
        skarm before "auto") hold a numeric ``dropout``, which is the rate."""
        if "dropout_" in self.__dict__:
            return self.dropout_
        return float(self.dropout)

    def _rebuild_module(self) -> AutoregressiveModel:
        """An untrained module of the fitted configuration (for loading saved tensors)."""
        return self._build(self.coder_, self.order_, self._fitted_dropout())

    def _fit(self, X):
        warm = self.warm_start and hasattr(self, "module_")
        rng = np.random.RandomState(self._seed_from(self.random_state))
        X = self._validate(X, reset=not warm)
        n_val = int(np.ceil(self.validation_fraction * len(X))) if self.early_stopping else 0
        perm = rng.permutation(len(X))
        # Atoms come from the training rows only: a held-out row must not make its own
        # value an atom, or early stopping would reward peaks that do not generalise.
        Z, coder, order, device = self._prepare(X, not warm, rng, atom_rows=perm[n_val:])
        return self._train(Z, coder, order, device, perm[n_val:], perm[:n_val], rng, warm=warm)

    def _prepare(self, X, fresh: bool, rng: np.random.RandomState, atom_rows=None):
        """Type the columns of validated ``X`` (fresh fit; atoms found on ``atom_rows``)
        or reuse the fitted typing."""
        if fresh:
            self._check_fit_rows(X.shape[0])
            if self.architecture == "pixelcnn" and isinstance(self.order, str):
                # Checked on the parameter: a random draw may happen to be raster order.
                raise ValueError(
                    "architecture='pixelcnn' models pixels in raster order; use order=None "
                    f"(got order={self.order!r})."
                )
            coder = ColumnCoder.fit(
                X,
                self.distribution,
                self.n_categories,
                self.dequantize,
                self.atoms == "auto",
                atom_rows=atom_rows,
            )
            order = resolve_order(self.order, X.shape[1], self.ensemble_size, rng, X)
            device = resolve_device(self.device)
        else:
            coder, order, device = self.coder_, self.order_, self.device_
        Z = coder.transform(X)
        if np.any(Z[:, ~coder.continuous] < 0):
            raise ValueError(
                "X holds discrete values outside the support fixed when the model was first "
                "fitted; pass n_categories to declare the full support."
            )
        return Z, coder, order, device

    def _train(
        self, Z, coder, order, device, train_idx, val_idx, rng, warm, epochs=None, partial=False
    ):
        """Train a fresh or (warm) copied module; commit the fitted state only on success."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        with self._torch_rng(seed, device):
            frozen = warm and self.trainable_layers == "output"
            if warm:
                dropout = self._fitted_dropout()
                module = copy.deepcopy(self.module_).float()
                # Adam's moments do not carry over between fits that train other weights.
                state = None if frozen else self._optimizer_state
                if frozen:
                    freeze_lower_layers(module)
            else:
                dropout = self._dropout_for(len(Z))
                module = self._build(coder, order, dropout).to(device)
                state = None
            data = torch.as_tensor(Z, dtype=torch.float32, device=device)
            train = (data[torch.as_tensor(train_idx, device=device)],)
            validation = (data[torch.as_tensor(val_idx, device=device)],) if len(val_idx) else None
            noise = None
            if coder.dequantized.any():
                noise = torch.as_tensor(coder.noise_scale, dtype=torch.float32, device=device)
                if validation is not None:  # one fixed draw: a stable early-stopping target
                    validation = (validation[0] + torch.rand_like(validation[0]) * noise,)
            log_lik = _training_log_lik(noise, self._n_subsampled_columns(Z.shape[1]))
            trainer = Trainer(module, log_lik, self._train_config(), coder.log_jacobian, state)
            try:
                history = trainer.fit(
                    train,
                    validation,
                    epochs if epochs is not None else self.max_iter,
                    history=History(),
                    warn=not partial,
                )
            finally:
                module.requires_grad_(True)
            module = module.to(self._inference_dtype(device))
            n_params = len(list(module.parameters()))
            if not (partial or history.interrupted) and validation is not None and noise is None:
                self._refit_output(module, train[0], validation[0], history, coder)
        self.device_ = device
        self.coder_ = coder
        self.distributions_ = list(coder.kinds)
        self.order_ = np.asarray(order)
        self.dropout_ = dropout
        self.module_ = module
        self._record_history(trainer, history, warm, validated=validation is not None)
        if frozen or len(list(module.parameters())) != n_params:
            # Moments of the output layers only, or of fewer parameters than the model
            # has now (the refit attached its random features): a warm start restarts.
            self._optimizer_state = None
        return self

    def _refit_output(self, module, x_train, x_val, history, coder) -> None:
        """The closed-form refit of the Gaussian conditionals' output layer
        (``refit_rounds``; :mod:`skarm._refit`), in place; records the held-out score."""
        if self.refit_rounds == 0 or self.l1_ratio > 0 or not can_refit(module):
            return
        dtype = next(module.parameters()).dtype
        _, after = refit_output_layer(
            module,
            x_train.to(dtype),
            x_val.to(dtype),
            self.alpha,
            self.refit_rounds,
        )
        history.best_validation_score = after + coder.log_jacobian

    def _n_subsampled_columns(self, n_features: int) -> int | None:
        """Columns each training step scores (None: all of them)."""
        if self.subsample_dimensions is None:
            return None
        n_columns = int(np.ceil(self.subsample_dimensions * n_features))
        return n_columns if n_columns < n_features else None

    def _partial_fit(self, X):
        first = not hasattr(self, "module_")
        # A different seed per call, so that successive calls shuffle differently.
        calls = 0 if first else self.n_iter_
        rng = np.random.RandomState((self._seed_from(self.random_state) + calls) % 2**31)
        X = self._validate(X, reset=first)
        Z, coder, order, device = self._prepare(X, first, rng)
        idx = np.arange(len(Z))
        return self._train(
            Z, coder, order, device, idx, idx[:0], rng, warm=not first, epochs=1, partial=True
        )
