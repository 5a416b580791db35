"""
Anomaly detection on digits, with per-pixel explanations
========================================================

Corrupted images are mixed into sklearn's digits: some carry a bright 3x3 patch, some
have three rows of pixels wiped out, some a scatter of noisy pixels. An
:class:`skarm.AutoregressiveOutlierDetector` is fitted *unsupervised* on the contaminated
training images (3 % corrupted) and scores held-out images by their log-likelihood.
``explain`` splits each image's score over its pixels: the surprise of pixel ``j`` is
how many nats less likely its conditional ``p(x_j | x_<j)`` finds the value than for a
typical training image, so the heat maps show *where* an image is anomalous.
IsolationForest on the same data is shown for comparison.

The figure: the anomaly-score histogram of clean and corrupted test images with the
detector's threshold, and the six least likely test images beside their surprise maps.

What it shows (full run): salt noise is found perfectly (AUROC 0.999) and the surprise
maps point at the noisy pixels; bright patches are found less well (0.75). Wiped-out
rows are the known pitfall of likelihood-based detection (AUROC 0.34, *below* chance):
blank pixels are the most likely values of a digit image, so removing ink makes an image
*more* likely, however unusual it looks. IsolationForest (0.90 overall against skarm's
0.69) sees the wiped rows as unusual instead. See the user guide, "Known pitfalls".

Run ``python examples/plot_digits_anomalies.py --quick`` for a few epochs only.
"""

# %%
# Data and settings
# -----------------
# Three kinds of corruption, one per image in turn: a bright 3x3 patch, three rows wiped
# out, or ten pixels of salt noise. 3 % of the training images are corrupted, and the
# detector is not told which.
import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skarm import AutoregressiveOutlierDetector

parser = argparse.ArgumentParser(description="Digits anomalies with per-pixel explanations.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="digits_anomalies.png")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs only, far from the full run's figures.")

rng = np.random.RandomState(0)


def corrupt(images: np.ndarray) -> np.ndarray:
    """A bright patch, three wiped-out rows or salt noise, one kind per image in turn."""
    out = images.copy().reshape(-1, 8, 8)
    for i, image in enumerate(out):
        r, c = rng.randint(0, 6, size=2)
        if i % 3 == 0:
            image[r : r + 3, c : c + 3] = 16
        elif i % 3 == 1:
            image[r : r + 3, :] = 0
        else:
            flat = image.reshape(-1)
            flat[rng.choice(64, 10, replace=False)] = rng.randint(8, 17, size=10)
    return out.reshape(len(images), 64)


digits = load_digits().data
perm = rng.permutation(len(digits))
train, test = digits[perm[:1400]], digits[perm[1400:]]
X_train = np.vstack([train, corrupt(train[:42])])  # 3 % of the training rows corrupted
X_test = np.vstack([test, corrupt(test[:24])])
is_anomaly = np.r_[np.zeros(len(test), bool), np.ones(24, bool)]

# %%
# Fit unsupervised, score by log-likelihood
# -----------------------------------------
# ``score_samples`` is ``log p(x)`` in nats: the lower, the more anomalous, so the
# AUROC is computed on its negative. ``contamination="auto"`` sets the threshold
# ``offset_`` at the log-likelihood that 1 % of the images the model itself generates
# fall below.
detector = AutoregressiveOutlierDetector(random_state=0, max_iter=3 if quick else 500)
detector.fit(X_train)
scores = detector.score_samples(X_test)
forest = IsolationForest(random_state=0).fit(X_train)
print(f"AUROC, skarm: {roc_auc_score(is_anomaly, -scores):.3f}")
print(f"AUROC, IsolationForest: {roc_auc_score(is_anomaly, -forest.score_samples(X_test)):.3f}")
kind = np.r_[np.full(len(test), -1), np.arange(24) % 3]  # -1 clean, else corruption type
for k, name in enumerate(["bright patch", "wiped-out rows", "salt noise"]):
    rows = (kind == -1) | (kind == k)
    print(f"  AUROC on {name}: {roc_auc_score(is_anomaly[rows], -scores[rows]):.3f}")
flagged = detector.predict(X_test) == -1
print(
    f"flagged at contamination='auto': {flagged[is_anomaly].sum()} of {is_anomaly.sum()} "
    f"corrupted, {flagged[~is_anomaly].sum()} of {(~is_anomaly).sum()} clean"
)

# %%
# Where is each image anomalous?
# ------------------------------
# ``explain`` returns, per pixel, the surprise: how many nats less likely its conditional
# finds the pixel's value than it finds a typical training image's. The six least likely
# test images are shown beside their surprise maps.
worst = np.argsort(scores)[:6]
explanation = detector.explain(X_test[worst])

fig = plt.figure(figsize=(12, 7.5))
grid = fig.add_gridspec(3, 6, height_ratios=[1.3, 1, 1])
ax = fig.add_subplot(grid[0, :])
bins = np.linspace(scores[np.isfinite(scores)].min(), scores.max(), 50)
ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, density=True, label="clean test digits")
ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True, label="corrupted test digits")
ax.axvline(detector.offset_, color="k", ls="--", label="threshold (contamination='auto')")
ax.set_xlabel("log-likelihood (nats per image): low is anomalous")
ax.legend()
for k, i in enumerate(worst):
    ax = fig.add_subplot(grid[1, k])
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    kind = "corrupted" if is_anomaly[i] else "clean"
    ax.set_title(f"{kind}\n{scores[i]:.0f} nats", fontsize=9)
    ax.axis("off")
    ax = fig.add_subplot(grid[2, k])
    surprise = np.clip(explanation.surprise[k], 0, None).reshape(8, 8)
    ax.imshow(surprise, cmap="magma")
    ax.set_title(f"surprise (max {surprise.max():.0f})", fontsize=9)
    ax.axis("off")
fig.suptitle("Unsupervised anomaly detection on digits: the least likely test images")
fig.tight_layout()
fig.savefig(args.output, dpi=110)
print(f"wrote {args.output}")
plt.show()
