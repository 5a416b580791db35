"""
Heteroscedastic regression: predictive bands that widen where the noise does
============================================================================

Fit :class:`skarm.ConditionalNLLRegressor` (its default Student-t head: location, scale
*and* degrees of freedom from the network, so the noise level may depend on ``x``) and
scikit-learn's :class:`~sklearn.linear_model.BayesianRidge` on polynomial features to
1-D data whose noise grows with ``|x|``. Plot each model's predictive mean with its 50 %
and 90 % intervals, print the held-out mean conditional log-likelihood (nats per point)
and the empirical coverage of the 90 % intervals.

BayesianRidge has one noise level for every ``x``: its bands are too wide near zero and
too narrow at the edges, and the held-out likelihood says so.

Run ``python examples/plot_heteroscedastic_regression.py --quick`` for a few epochs only.
"""

# %%
# Data and settings
# -----------------
# ``y = sin(1.5 x) + noise``, with a noise standard deviation from 0.05 at ``x = 0`` to
# 0.8 at ``|x| = 3``.
import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from sklearn.linear_model import BayesianRidge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from skarm import ConditionalNLLRegressor

parser = argparse.ArgumentParser(description="Heteroscedastic regression with skarm.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="heteroscedastic_regression.png")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs only, far from the full run's figures.")

rng = np.random.RandomState(0)


def draw(n):
    x = rng.uniform(-3, 3, size=(n, 1))
    noise = 0.05 + 0.25 * x[:, 0] ** 2 / 3
    return x, np.sin(1.5 * x[:, 0]) + noise * rng.randn(n)


X, y = draw(2000)
X_test, y_test = draw(2000)

# %%
# Fit, then score by held-out likelihood
# --------------------------------------
# ``reg.score`` is the mean conditional log-likelihood ``log p(y | x)`` of the test
# points, not R². BayesianRidge's predictive distribution is a Gaussian with the
# mean and standard deviation its ``predict(return_std=True)`` returns, scored the same
# way. ``predict_dist(X).interval(0.9)`` is each point's central 90 % interval.
reg = ConditionalNLLRegressor(random_state=0, max_iter=5 if quick else 1000).fit(X, y)
ridge = make_pipeline(PolynomialFeatures(7), StandardScaler(), BayesianRidge()).fit(X, y)

mean_r, std_r = ridge.predict(X_test, return_std=True)
ll_ridge = stats.norm.logpdf(y_test, mean_r, std_r).mean()
lo, hi = reg.predict_dist(X_test).interval(0.9)
print(
    f"skarm ConditionalNLLRegressor: {reg.score(X_test, y_test):.3f} nats per point, "
    f"90% interval coverage {np.mean((y_test >= lo) & (y_test <= hi)):.3f}"
)
cover_r = np.mean(np.abs(y_test - mean_r) <= stats.norm.ppf(0.95) * std_r)
print(
    f"BayesianRidge (degree-7 polynomial): {ll_ridge:.3f} nats per point, "
    f"90% interval coverage {cover_r:.3f}"
)

# %%
# Predictive bands
# ----------------
# ``predict_quantiles`` gives the 5 %, 25 %, 75 % and 95 % quantiles of ``p(y | x)``.
grid = np.linspace(-3, 3, 400)[:, None]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
q = reg.predict_quantiles(grid, [0.05, 0.25, 0.75, 0.95])
panels = [
    (
        "skarm ConditionalNLLRegressor",
        reg.predict(grid),
        q[:, [0, 3]],
        q[:, [1, 2]],
        reg.score(X_test, y_test),
    ),
]
m, s = ridge.predict(grid, return_std=True)
z90, z50 = stats.norm.ppf(0.95), stats.norm.ppf(0.75)
panels.append(
    (
        "BayesianRidge",
        m,
        np.column_stack([m - z90 * s, m + z90 * s]),
        np.column_stack([m - z50 * s, m + z50 * s]),
        ll_ridge,
    )
)
for ax, (name, mean, band90, band50, ll) in zip(axes, panels, strict=True):
    ax.scatter(X_test[:600, 0], y_test[:600], s=3, color="k", alpha=0.3, label="test data")
    ax.fill_between(grid[:, 0], *band90.T, alpha=0.25, label="90% interval")
    ax.fill_between(grid[:, 0], *band50.T, alpha=0.4, label="50% interval")
    ax.plot(grid[:, 0], mean, lw=2, label="predictive mean")
    ax.set_title(f"{name}: test {ll:.2f} nats/point")
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].legend(loc="upper left")
fig.tight_layout()
fig.savefig(args.output, dpi=100)
print(f"wrote {args.output}")
plt.show()
