"""
Model selection by held-out likelihood: a validation curve and GridSearchCV
===========================================================================

The mean log-likelihood of rows a model has not seen estimates how close the model is
to the data's distribution in KL divergence (up to the data's entropy, the same for
every model; see :doc:`the user guide </user_guide>`). It is what
:meth:`skarm.AutoregressiveDensityEstimator.score` returns, so scikit-learn's model
selection tools choose density models by it with their default ``scoring=None``.

On the digits, this example draws the validation curve of the prior strength ``alpha``
(the precision of a Gaussian prior on the weights, fitted by MAP) with
:func:`~sklearn.model_selection.validation_curve`. In a full run the training folds'
log-likelihood rises as the prior weakens, from -100.6 nats per image at ``alpha=100``
to -78.8 at ``alpha=0.5``, while the held-out folds' peaks at ``alpha=2`` (-91.8) and
falls again (-92.6 at ``alpha=0.1``): the peak is the choice. Then
:class:`~sklearn.model_selection.GridSearchCV` chooses ``alpha`` and the hidden width
together (a full run picks 256 units with ``alpha=5``; the wider network wants the
stronger prior), refits the best model on all training rows and scores it on the test
rows (88.8 nats per image, 2.00 bits per pixel).

Run ``python examples/plot_model_selection.py --quick`` (or set ``SKARM_QUICK=1``) for a
few epochs per fit only; a full run takes about six minutes on one CPU core.
"""

# %%
# Data and settings
# -----------------
# 1,350 training images and 447 test images. ``n_categories=17`` declares the pixels'
# support, 0..16, so that a cross-validation fold whose training rows never reach a
# level still gives it a probability (without it, such a fold would score ``-inf``).
# One network of modest width (``ensemble_size=1``) keeps each of the many fits short.
import argparse
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, validation_curve

from skarm import AutoregressiveDensityEstimator

parser = argparse.ArgumentParser(description="Choose alpha by held-out likelihood.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="model_selection.png", help="where to write the PNG")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs per fit only, far from the full run's figures.")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # stopped at max_iter

X = load_digits().data
X_train, X_test = X[:1350], X[1350:]
base = AutoregressiveDensityEstimator(
    n_categories=17,
    ensemble_size=1,
    hidden_layer_sizes=(128,),
    max_iter=3 if quick else 500,
    random_state=0,
)
cv = KFold(n_splits=3, shuffle=True, random_state=0)

# %%
# The validation curve of ``alpha``
# ---------------------------------
# ``validation_curve`` fits one model per value and fold and scores it with ``score``
# on the fold's training rows and on its held-out rows: mean log-likelihoods in nats per
# image, higher is better. Add ``n_jobs=2`` to fit two models at a time.
alphas = np.array([0.1, 0.5, 2.0, 5.0, 20.0, 100.0])
train_scores, test_scores = validation_curve(
    base, X_train, None, param_name="alpha", param_range=alphas, cv=cv
)
for a, tr, te in zip(alphas, train_scores.mean(axis=1), test_scores.mean(axis=1), strict=True):
    print(f"alpha={a:6.1f}: training folds {tr:8.2f}, held-out folds {te:8.2f} nats per image")
best_alpha = alphas[np.argmax(test_scores.mean(axis=1))]
print(f"the held-out likelihood peaks at alpha={best_alpha}")

# %%
# ``alpha`` and the hidden width together, with GridSearchCV
# ----------------------------------------------------------
# The default ``scoring=None`` calls ``score``: the search keeps the candidate with the
# highest mean held-out log-likelihood, refits it on all 1,350 training rows, and its
# ``score`` on the test rows is an unbiased estimate of the chosen model's quality.
search = GridSearchCV(
    base,
    {"alpha": [0.5, 5.0, 20.0], "hidden_layer_sizes": [(64,), (256,)]},
    cv=cv,
)
search.fit(X_train)
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
):
    print(f"{params}: held-out {score:.2f} nats per image")
test_nll = -search.score(X_test)
print(f"best: {search.best_params_}, cross-validated {search.best_score_:.2f} nats per image")
print(f"refitted on all training rows: test NLL {test_nll:.2f} nats per image")
print(f"= {test_nll / (64 * np.log(2)):.3f} bits per pixel")

# %%
# The curves
# ----------
# Left: the validation curve (mean and standard deviation over the three folds). The
# gap between the two curves is the overfitting that a weaker prior allows; the training
# score cannot choose ``alpha``, as it always prefers the weakest prior. Right: the grid
# search's held-out scores.
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for scores, label in [(train_scores, "training folds"), (test_scores, "held-out folds")]:
    mean, std = scores.mean(axis=1), scores.std(axis=1)
    ax.plot(alphas, mean, "o-", label=label)
    ax.fill_between(alphas, mean - std, mean + std, alpha=0.2)
ax.axvline(best_alpha, color="k", ls="--", label=f"best held-out: alpha={best_alpha:g}")
ax.set_xscale("log")
ax.set_xlabel("alpha (prior precision on the weights)")
ax.set_ylabel("mean log-likelihood (nats per image)")
ax.set_title("validation_curve: 3-fold CV on 1,350 digits")
ax.legend()
results = search.cv_results_
for width in [(64,), (256,)]:
    rows = [i for i, p in enumerate(results["params"]) if p["hidden_layer_sizes"] == width]
    ax2.errorbar(
        [results["params"][i]["alpha"] for i in rows],
        results["mean_test_score"][rows],
        yerr=results["std_test_score"][rows],
        marker="o",
        capsize=3,
        label=f"hidden_layer_sizes={width}",
    )
ax2.set_xscale("log")
ax2.set_xlabel("alpha")
ax2.set_ylabel("held-out log-likelihood (nats per image)")
ax2.set_title(f"GridSearchCV: best {search.best_params_}", fontsize=10)
ax2.legend()
fig.tight_layout()
fig.savefig(args.output, dpi=100)
print(f"wrote {args.output}")
plt.show()
