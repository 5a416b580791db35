"""The Gaussian AR baseline of ``bench_forecasting.py``: statsmodels' ``AutoReg`` with the
lag order by AIC, its exact horizon log-likelihood and multi-step bands (checked against
statsmodels), and the map between a series and the AR's one-step errors."""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tsa.ar_model import AutoReg, ar_select_order


def fit_autoreg(train: np.ndarray, k: int, diff: bool = False):
    """AR(p) with a constant, p <= k by AIC; (results, lags, c, phi, sigma^2).

    With ``diff`` the AR(p), p <= k - 1, is fitted to the differences (an ARIMA(p, 1, 0)
    with drift) and returned as the equivalent AR(p + 1) of the levels:
    ``(1 - L)(1 - sum_i phi_i L^i) = 1 - sum_i phi*_i L^i``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' frequency / future warnings
        data = np.diff(train) if diff else train
        sel = ar_select_order(data, maxlag=k - 1 if diff else k, ic="aic", trend="c")
        res = sel.model.fit()
    lags = list(sel.ar_lags or [])
    phi = np.zeros(max(lags, default=0))
    phi[np.asarray(lags, dtype=int) - 1] = res.params[1:]
    if diff:
        phi = -np.convolve(np.r_[1.0, -phi], [1.0, -1.0])[1:]
    return res, lags, float(res.params[0]), phi, float(res.sigma2)


def autoreg_scores(w: np.ndarray, k: int, c: float, phi: np.ndarray, sigma2: float):
    """Horizon log-likelihood per window, one-step means, and the multi-step forecast
    (mean and sd per step from the prefix alone)."""
    p, h = len(phi), w.shape[1] - k
    # One-step means from the true earlier values (p <= k): the exact chain rule.
    one_step = w[:, k:] - ar_innovations(w, c, phi)[:, k - p :]
    log_lik = -0.5 * (np.log(2 * np.pi * sigma2) + (w[:, k:] - one_step) ** 2 / sigma2)
    # Multi-step forecast: the recursion driven by zero errors; variance from psi weights.
    mean = ar_rebuild(w[:, :k], np.zeros((len(w), 1, h)), c, phi)[:, 0]
    psi = np.zeros(h)
    psi[0] = 1.0
    for j in range(1, h):
        psi[j] = sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    sd = np.sqrt(sigma2 * np.cumsum(psi**2))
    return log_lik.sum(axis=1), one_step, mean, sd


def check_autoreg(x, start, k, h, res, lags, one_step, mean, sd, sigma2):
    """Our numpy chain rule and forecast against statsmodels (first test window)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = AutoReg(x, lags=lags, trend="c").predict(res.params)  # one-step, all of x
        applied = res.apply(x[: start + k])  # same parameters, data up to the origin
        pred = applied.get_prediction(start=start + k, end=start + k + h - 1)
    assert np.allclose(one_step[0], full[start + k : start + k + h])
    assert np.allclose(mean[0], pred.predicted_mean)
    # apply() re-estimates sigma^2 on its data; the psi-weight profile is the same.
    ratio = pred.var_pred_mean / applied.sigma2
    assert np.allclose(sd**2 / sigma2, ratio), (sd**2 / sigma2, ratio)


def ar_innovations(x: np.ndarray, c: float, phi: np.ndarray) -> np.ndarray:
    """The AR's one-step errors ``e_t = x_t - c - sum_i phi_i x_{t-i}`` for ``t >= p``
    along the last axis (``e[..., j]`` belongs to time ``j + p``)."""
    p, n = len(phi), x.shape[-1]
    mean = c + sum(phi[i] * x[..., p - 1 - i : n - 1 - i] for i in range(p))
    return x[..., p:] - mean


def ar_rebuild(history: np.ndarray, e: np.ndarray, c: float, phi: np.ndarray) -> np.ndarray:
    """Values from innovations: ``x_t = c + sum_i phi_i x_{t-i} + e_t`` run forward from
    the true ``history`` (``(n, k)``, one row per window); ``e`` is ``(n, paths, h)``."""
    p, out = len(phi), []
    past = np.broadcast_to(history[:, None, :], e.shape[:-1] + history.shape[-1:])
    for t in range(e.shape[-1]):
        step = c + sum(phi[i] * past[..., -1 - i] for i in range(p)) + e[..., t]
        out.append(step)
        past = np.concatenate([past, step[..., None]], axis=-1)
    return np.stack(out, axis=-1)
