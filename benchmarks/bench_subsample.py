"""What the dimension-subsampled objective saves: time per epoch and test NLL.

Usage::

    python benchmarks/bench_subsample.py [--fractions 1 0.5 0.25 0.1] [--sides 8 28]
    python benchmarks/bench_subsample.py --steps-only    # the cost of a training step only

For each data set, one MADE (``ensemble_size=1``, otherwise the defaults) with
``subsample_dimensions`` = each fraction (1 = the ordinary objective), side by side in
one run:

1. the cost of a training step (forward, backward, Adam; batch 128): each fraction
   trains ``--rounds`` epochs in turn, round-robin, so that the fractions share any
   change in the machine's load; the median epoch gives milliseconds per step;
2. a full fit (early stopping as by default, at most ``--max-iter`` epochs): test NLL
   (nats per image), epochs and fit time.

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
import torch
from scipy.ndimage import zoom

from skarm import AutoregressiveDensityEstimator
from skarm._density_fit import _training_log_lik
from skarm._engine import Trainer

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


def _estimator(fraction, seed):
    return AutoregressiveDensityEstimator(
        ensemble_size=1,
        subsample_dimensions=None if fraction >= 1 else fraction,
        n_categories=17,
        random_state=seed,
    )


def step_costs(train, fractions, rounds, seed):
    """Median milliseconds per training step of each fraction, epochs run round-robin."""
    est = _estimator(1.0, seed).set_params(max_iter=1).fit(train[:256])  # column typing
    z = torch.as_tensor(est.coder_.transform(train), dtype=torch.float32)
    trainers = {}
    for fraction in fractions:
        torch.manual_seed(seed)
        module = est._build(est.coder_, est.order_).float()
        n_columns = _estimator(fraction, seed)._n_subsampled_columns(z.shape[1])
        log_lik = _training_log_lik(None, n_columns)
        trainers[fraction] = Trainer(module, log_lik, est._train_config())
        trainers[fraction]._epoch((z,), len(z))  # warm-up
    times = {f: [] for f in fractions}
    steps = -(-len(z) // est.batch_size)
    for _ in range(rounds):
        for fraction, trainer in trainers.items():
            t0 = time.perf_counter()
            trainer._epoch((z,), len(z))
            times[fraction].append((time.perf_counter() - t0) / steps * 1e3)
    return {f: float(np.median(t)) for f, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.25, 0.1])
    parser.add_argument("--sides", type=int, nargs="+", default=[8, 28])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-only", action="store_true", help="skip the full fits")
    parser.add_argument("--fit-sides", type=int, nargs="+", default=None, help="fit these only")
    parser.add_argument("--max-iter", type=int, default=500, help="epoch cap of the fits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"torch threads={torch.get_num_threads()}")
    print("| D | subsample_dimensions | ms per step | speed-up |")
    print("|---|---|---|---|")
    for side in args.sides:
        train, _ = images(side)
        costs = step_costs(train, args.fractions, args.rounds, args.seed)
        for fraction, ms in costs.items():
            speedup = costs[args.fractions[0]] / ms
            print(f"| {side * side} | {fraction:g} | {ms:.1f} | {speedup:.2f}x |", flush=True)
    if args.steps_only:
        return
    print()
    print("| D | subsample_dimensions | test NLL (nats/image) | epochs | fit (s) | s/epoch |")
    print("|---|---|---|---|---|---|")
    curves = {}
    for side in args.fit_sides or args.sides:
        train, test = images(side)
        for fraction in args.fractions:
            est = _estimator(fraction, args.seed).set_params(max_iter=args.max_iter)
            t0 = time.perf_counter()
            est.fit(train)
            seconds = time.perf_counter() - t0
            curves[side, fraction] = (seconds / est.n_iter_, est.validation_scores_)
            print(
                f"| {side * side} | {fraction:g} | {-est.score(test):.2f} | {est.n_iter_} | "
                f"{seconds:.1f} | {seconds / est.n_iter_:.3f} |",
                flush=True,
            )
    # Equal time: the best held-out (early-stopping) NLL each fraction had reached after
    # the wall time of the fastest fit, from its per-epoch validation scores.
    print()
    print("| D | subsample_dimensions | time budget (s) | epochs in budget | best held-out NLL |")
    print("|---|---|---|---|---|")
    for side in args.fit_sides or args.sides:
        runs = {f: c for (s_, f), c in curves.items() if s_ == side}
        budget = min(per_epoch * len(scores) for per_epoch, scores in runs.values())
        for fraction, (per_epoch, scores) in runs.items():
            epochs = max(1, min(len(scores), int(budget / per_epoch)))
            print(
                f"| {side * side} | {fraction:g} | {budget:.0f} | {epochs} | "
                f"{-max(scores[:epochs]):.2f} |"
            )


if __name__ == "__main__":
    main()
