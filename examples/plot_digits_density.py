"""
Digits density: held-out likelihood and samples
===============================================

Fit :class:`skarm.AutoregressiveDensityEstimator` on scikit-learn's bundled digits
(8x8 images, pixel values 0..16) with a gated PixelCNN (``architecture="pixelcnn"``, the
winner of the grid search in ``benchmarks/bench_digits.py``; ``--architecture made``
gives the default masked MLP), report the held-out negative log-likelihood in nats per
image and in bits per pixel, and draw a grid of real test digits beside digits sampled
from the model (also written to ``--output``, ``digits_samples.png`` by default).

The split follows the intro_dgm book code: rows 0-1349 train, rows 1350-1796 test. A
full run reaches about 79 nats per test image (1.79 bits per pixel) in about 90 s on
two CPU cores (the benchmarks page). Run ``python examples/plot_digits_density.py
--quick`` (or set ``SKARM_QUICK=1``) for a few epochs only.
"""

# %%
# Settings
# --------
# Every pixel takes one of 17 levels, so the default ``distribution="auto"`` gives each
# a categorical conditional ``p(x_d | x_<d)``.
import argparse
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skarm import AutoregressiveDensityEstimator

parser = argparse.ArgumentParser(description="Fit skarm on digits and plot samples.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="digits_samples.png", help="where to write the PNG")
parser.add_argument("--architecture", default="pixelcnn", choices=["pixelcnn", "made", "linear"])
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"
if quick:
    print("Quick run: a few epochs only, far from the full run's figures.")

X = load_digits().data
X_train, X_test = X[:1350], X[1350:]

# %%
# Fit by maximum likelihood
# -------------------------
# The PixelCNN reads each row as an 8x8 image in raster order, as one network
# (``ensemble_size=1``). ``verbose=1`` shows a progress bar with the training loss and
# the held-out log-likelihood of each epoch.
if args.architecture == "pixelcnn":  # pixels as an 8x8 image, one network
    est = AutoregressiveDensityEstimator(
        architecture="pixelcnn", image_shape=(8, 8), ensemble_size=1, random_state=0, verbose=1
    )
else:
    est = AutoregressiveDensityEstimator(architecture=args.architecture, random_state=0, verbose=1)
if quick:
    est.set_params(max_iter=3, verbose=0)
start = time.perf_counter()
est.fit(X_train)
seconds = time.perf_counter() - start

# %%
# Held-out likelihood, in nats and in bits per pixel
# --------------------------------------------------
# ``score`` is the mean log-likelihood of the test images in nats per image; divided by
# ``64 ln 2`` it becomes bits per pixel. The uniform distribution over 17 levels is the
# baseline every model must beat.
nll = -est.score(X_test)
print(f"fitted in {seconds:.1f} s, {est.n_iter_} epochs")
print(f"held-out log-likelihood: {-nll:.2f} nats per image")
print(f"held-out NLL: {nll:.2f} nats per image = {nll / (64 * np.log(2)):.3f} bits per pixel")
print(f"(uniform over 17 levels: {64 * np.log(17):.1f} nats per image)")

# %%
# Samples
# -------
# ``sample`` draws pixel after pixel from the fitted conditionals (ancestral sampling).
samples = est.sample(32, random_state=0)
fig = plt.figure(figsize=(12, 3.8))
for subfig, images, title in zip(
    fig.subfigures(2, 1),
    (X_test[:32], samples),
    (
        "real test digits",
        f"sampled from the fitted AutoregressiveDensityEstimator ({args.architecture})",
    ),
    strict=True,
):
    subfig.suptitle(title)
    for ax, image in zip(subfig.subplots(2, 16).flat, images, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_axis_off()
fig.savefig(args.output, dpi=100, bbox_inches="tight")
print(f"wrote {args.output}")
plt.show()
