"""Memory of batched scoring: peak RSS growth of ``score_samples`` on 1,000,000 x 64 rows.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000]

Fits a small model on digits, then builds a 1,000,000 x 64 float64 array of digit-like
codes (512 MB, allocated before the baseline is taken) and scores it. Reported: the peak
resident set size growth during ``score_samples`` (``ru_maxrss`` minus the RSS just
before the call), the wall time and rows per second.
"""

import argparse
import resource
import time
import warnings

import numpy as np

from skarm import AutoregressiveDensityEstimator

from _digits import digits_split


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    train, _ = digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = AutoregressiveDensityEstimator(max_iter=2, random_state=0).fit(train)
    rng = np.random.RandomState(0)
    X = train[rng.randint(0, len(train), args.rows)]
    est.score_samples(X[:10])  # warm up torch
    before = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    scores = est.score_samples(X)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if peak <= peak_before:
        raise SystemExit("scoring did not raise the peak RSS; cannot measure its growth")
    growth = peak - before
    print(
        f"rows={args.rows} features={X.shape[1]} input={X.nbytes / 2**20:.0f} MB "
        f"finite={np.isfinite(scores).all()} rss_before={before:.0f} MB "
        f"peak_before={peak_before:.0f} MB peak_after={peak:.0f} MB"
    )
    print("| rows scored | peak RSS growth (MB) | wall time (s) | rows/s |")
    print("|---|---|---|---|")
    print(
        f"| {args.rows:,} x {X.shape[1]} | {growth:.0f} | {seconds:.1f} | "
        f"{args.rows / seconds:,.0f} |"
    )


if __name__ == "__main__":
    main()
