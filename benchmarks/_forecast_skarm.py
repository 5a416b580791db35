"""skarm's side of ``bench_forecasting.py``: its horizon score, how its epochs are chosen
(one validation stretch, or blocked cross-validation over the training segment) and its
training on windows."""

from __future__ import annotations

import numpy as np

from skarm import AutoregressiveDensityEstimator


def horizon_log_lik(est, w: np.ndarray, k: int) -> np.ndarray:
    """skarm's ``log p(horizon | prefix)`` per window: its chain rule over the horizon."""
    return est.conditional_log_likelihood(w)[:, k:].sum(axis=1)


def jittered(w: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """The windows with Gaussian noise of ``noise`` times their spread added (a fresh draw
    each epoch: noise regularisation; ``noise=0`` returns them unchanged)."""
    return w if noise == 0 else w + noise * w.std() * rng.standard_normal(w.shape)


def blocked_folds(w: np.ndarray, n_values: int, k: int, h: int, n_folds: int):
    """Blocked ``n_folds``-fold cross-validation over the windows of a training segment.

    ``w[s]`` is the window of values ``s .. s + k + h - 1``. The segment's values are cut
    into ``n_folds`` contiguous blocks; fold ``j`` validates on the windows whose horizon
    starts in block ``j`` and fits on the windows that share no value with those horizons
    (they end before the block or start after the last value it forecasts), as in
    Bergmeir, Hyndman and Koo (2018), "A note on the validity of cross-validation for
    evaluating autoregressive time series prediction". The last fold is the single
    validation stretch (the last quarter with four folds)."""
    starts = np.arange(len(w))
    edges = [int(j * n_values / n_folds) for j in range(n_folds + 1)]
    folds = []
    for b0, b1 in zip(edges[:-1], edges[1:], strict=True):
        val = (starts + k >= b0) & (starts + k < b1)
        fit = (starts + k + h - 1 < b0) | (starts >= b1 + h - 1)
        assert not (val & fit).any()
        folds.append((w[fit], w[val]))
    return folds


def choose_epochs_folds(config, seed, folds, k, max_epochs, patience, noise=0.0):
    """Epochs with the best horizon log-likelihood pooled over the folds' validation
    windows; one model per fold (same seed), all trained one epoch at a time in step.
    Returns the epochs and the pooled score at them (nats per window)."""
    models = [AutoregressiveDensityEstimator(random_state=seed, **config) for _ in folds]
    rngs = [np.random.default_rng(seed) for _ in folds]
    n_val = sum(len(val) for _, val in folds)
    curves: list[list[float]] = []  # per epoch, each fold's summed horizon log-likelihood
    for epoch in range(max_epochs):
        curves.append([])
        for est, rng, (fit_w, val_w) in zip(models, rngs, folds, strict=True):
            est.partial_fit(jittered(fit_w, noise, rng))
            curves[-1].append(float(horizon_log_lik(est, val_w, k).sum()))
        pooled = np.sum(curves, axis=1) / n_val
        if epoch - int(np.argmax(pooled)) >= patience:
            break
    if len(folds) > 1:  # each fold's own best epoch and score, for the log
        per_fold = np.asarray(curves) / [len(val) for _, val in folds]
        tops = per_fold.argmax(0) + 1
        best = ", ".join(f"{tops[i]} ({v:.2f})" for i, v in enumerate(per_fold.max(0)))
        print(f"  folds' best epochs: {best}; pooled {int(np.argmax(pooled)) + 1}", flush=True)
    return int(np.argmax(pooled)) + 1, float(pooled.max())


def train_skarm(config, seed, train_w, epochs, noise=0.0):
    """A fresh model trained ``epochs`` epochs (``partial_fit`` calls) on the windows."""
    est = AutoregressiveDensityEstimator(random_state=seed, **config)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        est.partial_fit(jittered(train_w, noise, rng))
    return est


def refit_rule_check(config, seed, folds, k, h, max_epochs, patience, batch_size):
    """Which refit rule the training segment prefers, without the test segment.

    The last of ``folds`` stands in for the test segment: blocked cross-validation with
    one fold fewer, on its fitting windows (the values before it), chooses ``E`` epochs;
    then one model trains on all those windows, and the last fold's score is read after
    ``E`` epochs (the benchmark's rule: as many epochs) and after as many updates as a
    fold model made in ``E`` epochs (fewer epochs: the refit has more windows per epoch).
    Returns ``(E, E_steps, score at E, score at E_steps, the curve)``."""
    fit_w, val_w = folds[-1]  # its fitting windows cover the values before its block
    inner = blocked_folds(fit_w, len(fit_w) + k + h - 1, k, h, len(folds) - 1)
    epochs, _ = choose_epochs_folds(config, seed, inner, k, max_epochs, patience)
    per_epoch = np.mean([-(-len(f) // batch_size) for f, _ in inner])  # batches per epoch
    steps_epochs = max(1, round(epochs * per_epoch / -(-len(fit_w) // batch_size)))
    est = AutoregressiveDensityEstimator(random_state=seed, **config)
    curve = []
    for _ in range(max(epochs, steps_epochs)):
        est.partial_fit(fit_w)
        curve.append(float(horizon_log_lik(est, val_w, k).mean()))
    return epochs, steps_epochs, curve[epochs - 1], curve[steps_epochs - 1], curve
