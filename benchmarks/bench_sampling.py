"""Cached versus naive sampling for architecture="made", "conv", "transformer" and "pixelcnn".

Usage::

    python benchmarks/bench_sampling.py [--n-samples 2000] [--naive-positions 16]
        [--architectures made conv transformer pixelcnn] [--sides 8 28]

For D = 64 (8 x 8 binary images) and D = 784 (synthetic 28 x 28 binary images) a model
of each architecture (default widths, one network; the PixelCNN reads each row as a
``side x side`` image) is fitted for one epoch (speed does not depend on training), then
``module_.sample`` draws ``--n-samples`` rows with the cache (one network step per
variable; for MADE: a rank-``c`` update of the first layer's pre-activations, the layers
above it and the variable's own output units) and without it (the whole network rerun
per variable), from the same seed.

- D = 64: both draws are complete; the script checks that they are identical.
- ``--digits``: the same comparison for the default estimator fitted on sklearn's digits.
- D = 784: the naive draw would take hours on 2 cores, so its time is measured over the
  first ``--naive-positions`` variables (``start`` is not used: the loop is cut) and
  scaled by ``784 / naive_positions`` (every naive position costs the same full pass);
  identity is checked on 20 complete rows.
"""

import argparse
import time
import warnings

import numpy as np
import torch

from skarm import AutoregressiveDensityEstimator

ARCHITECTURES = ("made", "conv", "transformer", "pixelcnn")


class _Stop(Exception):
    pass


def naive_time(module, n, positions, seed):
    """Seconds for the first ``positions`` steps of naive sampling of ``n`` rows."""
    calls = {"k": 0}
    original = module._params

    def counted(x, context=None):
        if calls["k"] == positions:
            raise _Stop
        calls["k"] += 1
        return original(x, context)

    module._params = counted
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    try:
        module.sample(n, cache=False)
    except _Stop:
        pass
    finally:
        del module._params
    return time.perf_counter() - t0


def digits_default(n_samples: int) -> None:
    """Cached against naive draws of the default estimator (four MADE members of 512
    units, categorical pixels) fitted 3 epochs on sklearn's digits."""
    from sklearn.datasets import load_digits

    est = AutoregressiveDensityEstimator(max_iter=3, random_state=0).fit(load_digits().data)
    draws, seconds = {}, {}
    for cache in (True, False):
        torch.manual_seed(0)
        t0 = time.perf_counter()
        draws[cache] = est.module_.sample(n_samples, cache=cache)
        seconds[cache] = time.perf_counter() - t0
    print(
        f"digits default, {n_samples} draws: cached {seconds[True]:.2f} s, naive "
        f"{seconds[False]:.2f} s, {seconds[False] / seconds[True]:.1f}x, identical "
        f"{torch.equal(draws[True], draws[False])}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--naive-positions", type=int, default=16)
    parser.add_argument(
        "--architectures",
        nargs="+",
        choices=ARCHITECTURES,
        default=list(ARCHITECTURES),
        help="which architectures to run (default: all)",
    )
    parser.add_argument(
        "--sides", nargs="+", type=int, default=[8, 28], help="image sides: D = side**2"
    )
    parser.add_argument(
        "--digits",
        action="store_true",
        help="instead: the default estimator (all defaults) on sklearn's digits",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.digits:
        digits_default(args.n_samples)
        return
    rng = np.random.RandomState(0)
    print(f"torch threads={torch.get_num_threads()} n_samples={args.n_samples}")
    print("| architecture | D | cached (s) | naive (s) | speed-up | identical |")
    print("|---|---|---|---|---|---|")
    for side in args.sides:
        d = side * side
        X = (rng.rand(600, d) < 0.3).astype(float)
        for arch in args.architectures:
            shape = dict(image_shape=(side, side)) if arch == "pixelcnn" else {}
            est = AutoregressiveDensityEstimator(
                architecture=arch, ensemble_size=1, max_iter=1, random_state=0, **shape
            ).fit(X)
            module = est.module_
            torch.manual_seed(0)
            t0 = time.perf_counter()
            cached = module.sample(args.n_samples)
            t_cached = time.perf_counter() - t0
            if d <= 64:
                torch.manual_seed(0)
                t0 = time.perf_counter()
                naive = module.sample(args.n_samples, cache=False)
                t_naive, note = time.perf_counter() - t0, ""
                identical = torch.equal(cached, naive)
            else:
                t_part = naive_time(module, args.n_samples, args.naive_positions, 0)
                t_naive = t_part * d / args.naive_positions
                note = f" (extrapolated from {args.naive_positions} positions)"
                torch.manual_seed(1)
                a = module.sample(20)
                torch.manual_seed(1)
                identical = torch.equal(a, module.sample(20, cache=False))
            print(
                f"| {arch} | {d} | {t_cached:.2f} | {t_naive:.1f}{note} | "
                f"{t_naive / t_cached:.0f}x | {identical} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
