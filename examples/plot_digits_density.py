"""
Digits density: held-out likelihood and samples
===============================================

Fit :class:`skarm.AutoregressiveDensityEstimator` on scikit-learn's bundled digits
(8x8 images, pixel values 0..16) with a gated PixelCNN (``architecture="pixelcnn"``, the
winner of the grid search in ``benchmarks/bench_digits.py``; ``--architecture made``
gives the default masked MLP), report the held-out negative log-likelihood in nats per
image and in bits per pixel, and save a grid of real test digits beside digits sampled
from the model.

The split follows the intro_dgm book code: rows 0-1349 train, rows 1350-1796 test.
Run ``python examples/plot_digits_density.py --quick`` (or set ``SKARM_QUICK=1``)
for a few epochs only.
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skarm import AutoregressiveDensityEstimator  # noqa: E402

parser = argparse.ArgumentParser(description="Fit skarm on digits and plot samples.")
parser.add_argument("--quick", action="store_true", help="a few epochs only (CI smoke run)")
parser.add_argument("--output", default="digits_samples.png", help="where to write the PNG")
parser.add_argument("--architecture", default="pixelcnn", choices=["pixelcnn", "made", "linear"])
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("SKARM_QUICK") == "1"

X = load_digits().data
X_train, X_test = X[:1350], X[1350:]

if args.architecture == "pixelcnn":  # pixels as an 8x8 image, one network
    est = AutoregressiveDensityEstimator(
        architecture="pixelcnn", image_shape=(8, 8), ensemble_size=1, random_state=0, verbose=1
    )
else:
    est = AutoregressiveDensityEstimator(architecture=args.architecture, random_state=0, verbose=1)
if quick:
    est.set_params(max_iter=3)
start = time.perf_counter()
est.fit(X_train)
seconds = time.perf_counter() - start

nll = -est.score(X_test)
print(f"fitted in {seconds:.1f} s, {est.n_iter_} epochs")
print(f"held-out log-likelihood: {-nll:.2f} nats per image")
print(f"held-out NLL: {nll:.2f} nats per image = {nll / (64 * np.log(2)):.3f} bits per pixel")
print(f"(uniform over 17 levels: {64 * np.log(17):.1f} nats per image)")

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
