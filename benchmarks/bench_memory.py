"""Memory of batched inference: peak RSS growth of scoring, predicting and sampling.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000] [--sample-rows 200000]
        [--methods score_samples conditional_log_likelihood predict sample]
        [--eval-batch-size 2048]

Each method runs in a fresh Python process (the peak RSS, ``ru_maxrss``, is a per-process
high-water mark). The process fits a small model, builds its input (allocated before the
baseline is taken), then calls the method once. Reported per method: the peak resident set
size growth during the call (``ru_maxrss`` minus the RSS just before it), the size of the
array the call returns (part of the growth, unavoidable), the wall time and rows per second.

- ``score_samples`` and ``conditional_log_likelihood``: the default density estimator
  (an ensemble of four MADEs) fitted on digits for 2 epochs, on 1,000,000 x 64
  digit-like rows (512 MB of float64).
- ``predict``: the default ``ConditionalNLLRegressor`` (five members) fitted on 2,000 x 64
  synthetic rows, predicting mean and standard deviation for 1,000,000 x 64 rows.
- ``sample``: ``--sample-rows`` draws from a one-network density model (64 hidden units;
  sampling the default ensemble costs about 6 ms per row on 2 cores, 100 minutes for a
  million).
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

from skarm import AutoregressiveDensityEstimator, ConditionalNLLRegressor

from _digits import digits_split

METHODS = ["score_samples", "conditional_log_likelihood", "predict", "sample"]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(method: str, rows: int, sample_rows: int, batch: int) -> dict:
    """Fit, build the input, and measure one call of ``method`` in this process."""
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    train, _ = digits_split()
    if method == "predict":
        Xt = rng.normal(size=(2000, 64))
        est = ConditionalNLLRegressor(max_iter=2, random_state=0, eval_batch_size=batch)
        est.fit(Xt, Xt[:, :4].sum(axis=1) + rng.normal(size=2000))
        X = rng.normal(size=(rows, 64))
        call = lambda: est.predict(X, return_std=True)  # noqa: E731
    elif method == "sample":
        est = AutoregressiveDensityEstimator(
            max_iter=2,
            ensemble_size=1,
            hidden_layer_sizes=(64,),
            random_state=0,
            eval_batch_size=batch,
        ).fit(train)
        rows = sample_rows
        call = lambda: est.sample(rows, random_state=0)  # noqa: E731
    else:
        est = AutoregressiveDensityEstimator(max_iter=2, random_state=0, eval_batch_size=batch)
        est.fit(train)
        X = train[rng.randint(0, len(train), rows)]
        call = lambda: getattr(est, method)(X)  # noqa: E731
    if method == "sample":
        est.sample(10, random_state=1)  # warm up torch
    elif method == "predict":
        est.predict(X[:10])
    else:
        getattr(est, method)(X[:10])
    before, peak_before = rss_mb(), peak_mb()
    t0 = time.perf_counter()
    out = call()
    seconds = time.perf_counter() - t0
    peak = peak_mb()
    out_mb = sum(a.nbytes for a in (out if isinstance(out, tuple) else (out,))) / 2**20
    return {
        "method": method,
        "rows": rows,
        "eval_batch_size": batch,
        "growth_mb": max(peak - before, 0.0),
        "peak_raised": peak > peak_before,
        "output_mb": out_mb,
        "seconds": seconds,
        "finite": bool(np.isfinite(out if not isinstance(out, tuple) else out[0]).all()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample-rows", type=int, default=200_000)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    parser.add_argument("--eval-batch-size", type=int, default=2048)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.child, args.rows, args.sample_rows, args.eval_batch_size)
        print(json.dumps(result))
        return
    print(
        "| method | rows | eval_batch_size | peak RSS growth (MB) | of which output (MB) "
        "| wall time (s) | rows/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for method in args.methods:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            method,
            "--rows",
            str(args.rows),
            "--sample-rows",
            str(args.sample_rows),
            "--eval-batch-size",
            str(args.eval_batch_size),
        ]
        r = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        assert r["finite"], f"{method} returned non-finite values"
        print(
            f"| `{method}` | {r['rows']:,} | {r['eval_batch_size']} | {r['growth_mb']:.0f} | "
            f"{r['output_mb']:.0f} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
