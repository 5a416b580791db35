"""What the dimension-subsampled objective saves: time per epoch and test NLL.

Usage::

    python benchmarks/bench_subsample.py [--fractions 1 0.5 0.25 0.1] [--sides 8 28]

For each data set, one MADE (``ensemble_size=1``, otherwise the defaults) is fitted
with ``subsample_dimensions`` = each fraction (1 = the ordinary objective), side by side
in one run, and the script prints the fit time, epochs, seconds per epoch and test NLL
(nats per image).

- ``8``: sklearn's digits, 8 x 8 = 64 categorical pixels of 17 levels, the intro_dgm
  split (train rows 0-1349, test 1350-1796).
- ``28``: the same images upsampled to 28 x 28 = 784 pixels (bilinear, rounded back to
  the 17 levels): a high-dimensional version of real data, where the output layer of
  784 x 17 logits is most of a MADE's work.
"""

import argparse
import time
import warnings

import numpy as np
from scipy.ndimage import zoom

from skarm import AutoregressiveDensityEstimator

from _digits import digits_split


def images(side: int):
    """Digits train/test rows at ``side x side`` pixels, integer levels 0..16."""
    train, test = digits_split()
    if side == 8:
        return train, test

    def up(X):
        big = zoom(X.reshape(-1, 8, 8), (1, side / 8, side / 8), order=1)
        return np.clip(np.rint(big), 0, 16).reshape(len(X), -1)

    return up(train), up(test)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.25, 0.1])
    parser.add_argument("--sides", type=int, nargs="+", default=[8, 28])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| D | subsample_dimensions | test NLL (nats/image) | epochs | fit (s) | s/epoch |")
    print("|---|---|---|---|---|---|")
    for side in args.sides:
        train, test = images(side)
        for fraction in args.fractions:
            est = AutoregressiveDensityEstimator(
                ensemble_size=1,
                subsample_dimensions=None if fraction >= 1 else fraction,
                n_categories=17,
                random_state=args.seed,
            )
            t0 = time.perf_counter()
            est.fit(train)
            seconds = time.perf_counter() - t0
            print(
                f"| {side * side} | {fraction:g} | {-est.score(test):.2f} | {est.n_iter_} | "
                f"{seconds:.1f} | {seconds / est.n_iter_:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
