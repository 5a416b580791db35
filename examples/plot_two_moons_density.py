"""
Two moons: a continuous 2-D density against GaussianMixture
===========================================================

Fit :class:`skarm.AutoregressiveDensityEstimator` (mixture-of-Gaussians conditionals,
``p(x) = p(x_0) p(x_1 | x_0)``) and a :class:`~sklearn.mixture.GaussianMixture` whose
number of components is chosen by held-out likelihood, on two moons. Plot each model's
density ``exp(score_samples)`` as a heat map beside samples drawn from it, and print both
held-out log-likelihoods (nats per point): both are log-densities in the data's units,
so they compare directly.

Run ``python examples/plot_two_moons_density.py --quick`` (or set ``SKARM_QUICK=1``)
for a few epochs only.
"""

# %%
# Data and settings
# -----------------
import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV

from skarm import AutoregressiveDensityEstimator

parser = argparse.ArgumentParser(description="Two-moons density: skarm against GMM.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="two_moons_density.png", help="where to write the PNG")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs only, far from the full run's figures.")

X, _ = make_moons(n_samples=4000, noise=0.08, random_state=0)
X_train, X_test = X[:3000], X[3000:]

# %%
# Fit both models
# ---------------
# Both columns are continuous, so ``distribution="auto"`` gives each conditional a
# mixture of Gaussians whose weights, means and scales depend on the preceding column.
# The GaussianMixture's number of components is chosen by 3-fold cross-validated
# held-out likelihood (its ``score``), the same rule skarm's estimators follow.
arm = AutoregressiveDensityEstimator(random_state=0, max_iter=5 if quick else 500)
arm.fit(X_train)
gmm = GridSearchCV(
    GaussianMixture(random_state=0),
    {"n_components": [2, 4, 8, 16, 32], "covariance_type": ["full"]},
    cv=3,
).fit(X_train)

print(f"skarm ({arm.distributions_[0]} conditionals): {arm.score(X_test):.3f} nats per point")
print(f"GaussianMixture {gmm.best_params_}: {gmm.score(X_test):.3f} nats per point")

# %%
# Densities and samples
# ---------------------
g0, g1 = np.linspace(-1.6, 2.6, 300), np.linspace(-1.1, 1.6, 200)
A, B = np.meshgrid(g0, g1)
grid = np.column_stack([A.ravel(), B.ravel()])
fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True, sharey=True)
for row, (name, model, samples) in enumerate(
    [
        ("skarm AutoregressiveDensityEstimator", arm, arm.sample(1000, random_state=0)),
        (
            f"GaussianMixture {gmm.best_params_['n_components']} components",
            gmm,
            gmm.best_estimator_.sample(1000)[0],
        ),
    ]
):
    density = np.exp(model.score_samples(grid)).reshape(A.shape)
    axes[row, 0].pcolormesh(A, B, density, shading="auto", cmap="viridis")
    axes[row, 0].set_title(f"{name}: density, test {model.score(X_test):.2f} nats/point")
    axes[row, 1].scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5)
    axes[row, 1].set_title(f"{name}: 1,000 samples")
fig.tight_layout()
fig.savefig(args.output, dpi=100)
print(f"wrote {args.output}")
plt.show()
