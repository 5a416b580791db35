"""
Probabilistic forecasting: sample the future given the past
===========================================================

An autoregressive model of windows of a time series is a forecaster. Fit
:class:`skarm.AutoregressiveDensityEstimator` on sliding windows of 36 consecutive
months, in time order (the default ``order=None``), so that it learns
``p(x_1, ..., x_36) = prod_t p(x_t | x_<t)``. Given the last 24 observed months,
``sample(n, prefix=last_24)`` draws the next 12 from the model's exact conditional
``p(x_25, ..., x_36 | x_1, ..., x_24)``: ``n`` sample paths, whose quantiles are the
forecast's bands, and ``conditional_log_likelihood`` scores what came, exactly.

The series is the monthly sea-surface temperature of the Nino 1+2 region of the Pacific,
1950 to 2010 (NOAA's ERSST v3b, public domain; bundled with statsmodels as
``statsmodels.datasets.elnino``). The first 75 % of it (to September 1995) trains the
model, the rest is held out. The plot shows sample paths and 50 % and 90 % bands at three
forecast origins of the held-out stretch; the script prints how often the 90 % bands
cover the values that came, and the held-out log-likelihood of the next 12 months given
the last 24, against statsmodels' ``AutoReg`` (a Gaussian AR(p), ``p`` by AIC) on the
same windows.

Training windows overlap, so a random early-stopping split would hold out windows that
share most of their values with training windows and score them optimistically. The
number of epochs is chosen by blocked cross-validation instead: the training months are
cut into four consecutive blocks; for each block, a model trains with ``partial_fit`` on
the windows that share no month with the block's forecasts (before or after it) and
scores the windows that forecast it, one epoch at a time. The epoch that forecasts the
four blocks best together is kept, and a fresh model trains that many epochs on all
training windows. For autoregressions such blocked folds are a valid and less noisy
guide than one validation stretch at the end (Bergmeir, Hyndman and Koo, 2018).

In a full run (seed 0, 31 epochs) the model forecasts slightly worse than the AR model:
-9.96 against -9.69 nats per 12-month window (0.02 nats per month). Its 90 % bands cover
87 % of the held-out months and the median of its paths is off by 0.85 °C on average
(the AR model: 86 % for its Gaussian bands, 0.87 °C for its mean;
``benchmarks/bench_forecasting.py``). The held-out years (the strong 1997-98 El Nino
and the 2007 La Nina, both in the plot) are harder for both models, and with about 550
monthly values to learn from, harder still for the network: more networks in the
mixture help there (four, epochs chosen on the last quarter: -10.27 for the same seed),
because their spread widens the bands where the networks disagree. docs/benchmarks.md
repeats this over five seeds (0.25 nats per window behind the AR model on this series)
and two more series; on the monthly differences of Mauna Loa's CO2 the same model is
ahead of the AR model on every seed.

Run ``python examples/plot_forecasting.py --quick`` (or set ``SKARM_QUICK=1``) for a
few epochs only.
"""

# %%
# The series and its windows
# --------------------------
import argparse
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import elnino
from statsmodels.tsa.ar_model import ar_select_order

from skarm import AutoregressiveDensityEstimator

parser = argparse.ArgumentParser(description="Probabilistic forecasting with prefix sampling.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="forecasting.png", help="where to write the PNG")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs only, far from the full run's figures.")

table = elnino.load_pandas().data  # one row per year: YEAR, JAN, ..., DEC
series = table.drop(columns="YEAR").to_numpy(float).ravel()  # 732 months, in time order
years = 1950 + np.arange(len(series)) / 12
history, horizon = 24, 12
width = history + horizon


def windows(x):
    """Every run of ``width`` consecutive values, one per row."""
    return np.lib.stride_tricks.sliding_window_view(x, width)


n_train = int(0.75 * len(series))  # January 1950 to September 1995
X_train = windows(series[:n_train])  # X_train[s] holds months s, ..., s + 35
X_test = windows(series[n_train - history :])  # every window forecasting held-out months
print(f"{len(X_train)} training windows, {len(X_test)} test windows of {width} months")

# Four blocked folds: each validates on the windows whose forecast starts in its block of
# months and fits on the windows that share no month with those forecasts.
start = np.arange(len(X_train))
edges = np.linspace(0, n_train, 5).astype(int)
folds = []
for b0, b1 in zip(edges[:-1], edges[1:], strict=True):
    validate = (start + history >= b0) & (start + history < b1)
    fit = (start + width - 1 < b0) | (start >= b1 + horizon - 1)
    folds.append((X_train[fit], X_train[validate]))


def horizon_log_lik(est, X):
    """log p(next 12 | last 24) per window: the chain rule over the horizon columns."""
    return est.conditional_log_likelihood(X)[:, history:].sum(axis=1)


# %%
# Fit the joint density of a window
# ---------------------------------
# Dilated causal convolutions share their weights across positions: every month of a
# window is predicted by the same network from the months before it. Each conditional
# ``p(x_t | x_<t)`` is a mixture of Gaussians; eight networks form a mixture. The epochs
# are chosen by the four folds together, then a fresh model trains on all the windows.
params = dict(
    architecture="conv",
    hidden_layer_sizes=(32,) * 5,
    ensemble_size=8,
    atoms=None,
    learning_rate_init=3e-3,  # the step size this configuration was chosen with
    random_state=0,
)
max_epochs, patience = (2, 2) if quick else (300, 25)
models = [AutoregressiveDensityEstimator(**params) for _ in folds]
curve = []  # per epoch: the folds' held-out log-likelihood, nats per window
for epoch in range(max_epochs):
    total = 0.0
    for est, (X_fit, X_val) in zip(models, folds, strict=True):
        est.partial_fit(X_fit)  # one more epoch on this fold's fitting windows
        total += horizon_log_lik(est, X_val).sum()
    curve.append(total / sum(len(v) for _, v in folds))
    if epoch - np.argmax(curve) >= patience:
        break
epochs = int(np.argmax(curve)) + 1
est = AutoregressiveDensityEstimator(**params)
for _ in range(epochs):
    est.partial_fit(X_train)
print(f"{epochs} epochs (cross-validated: {max(curve):.2f} nats per window)")

# %%
# Against a Gaussian AR(p)
# ------------------------
# ``AutoReg`` with the lag order chosen by AIC (at most 24) on the training segment; its
# log-likelihood of the 12 months given the 24 before is the Gaussian chain rule, each
# month's mean computed from the true months before it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ar = ar_select_order(series[:n_train], maxlag=history, ic="aic").model.fit()
p = len(ar.params) - 1
c, phi, sigma2 = ar.params[0], ar.params[1:], ar.sigma2
ar_log_lik = 0.0
for t in range(history, width):
    mean = c + X_test[:, t - p : t][:, ::-1] @ phi  # phi[0] weighs the month just before
    ar_log_lik += -0.5 * (np.log(2 * np.pi * sigma2) + (X_test[:, t] - mean) ** 2 / sigma2)
print(
    f"held-out log p(next 12 | last 24), nats per window: "
    f"skarm {horizon_log_lik(est, X_test).mean():.2f}, AutoReg(p={p}) {ar_log_lik.mean():.2f}"
)

# %%
# Forecast by sampling
# --------------------
# Each test window's first 24 months are a prefix; 200 paths (20 in a quick run) continue
# each of them, one cached network step per drawn month. The 5 % and 95 % quantiles of
# the paths at each step form the 90 % band.
n_paths = 20 if quick else 200
paths = est.sample(n_paths, random_state=0, prefix=X_test[:, :history])
future = paths[:, history:].reshape(len(X_test), n_paths, horizon)
lo, hi = np.quantile(future, [0.05, 0.95], axis=1)
truth = X_test[:, history:]
print(f"90 % bands cover {np.mean((truth >= lo) & (truth <= hi)):.1%} of the held-out months")
median = np.median(future, axis=1)
print(f"mean absolute error of the median forecast: {np.mean(np.abs(median - truth)):.2f} °C")

# %%
# Fan charts
# ----------
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
for ax, k in zip(axes, [18, 72, 138], strict=True):
    o = n_train - history + k  # the window's first month in the series
    past, ahead = years[o : o + history], years[o + history : o + width]
    q05, q25, q50, q75, q95 = np.quantile(future[k], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.plot(past, series[o : o + history], "k", label="observed")
    ax.plot(ahead, future[k, :20].T, color="C0", alpha=0.15, lw=0.8)
    ax.fill_between(ahead, q05, q95, color="C0", alpha=0.2, label="90 % band")
    ax.fill_between(ahead, q25, q75, color="C0", alpha=0.35, label="50 % band")
    ax.plot(ahead, q50, color="C0", lw=2, label="median")
    ax.plot(ahead, truth[k], "k--", label="what came")
    m = o + history  # the first forecast month
    ax.set_title(f"forecast from {1950 + m // 12}-{m % 12 + 1:02d}")
    ax.set_xlabel("year")
axes[0].set_ylabel("Nino 1+2 sea-surface temperature (°C)")
axes[0].legend(loc="upper left", fontsize=8)
fig.suptitle(f"sample({n_paths}, prefix=last 24 months): 20 of the paths, and their bands")
fig.tight_layout()
fig.savefig(args.output, dpi=100)
print(f"wrote {args.output}")
plt.show()
