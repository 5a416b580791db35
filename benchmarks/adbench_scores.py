"""ADBench with other scores from one fitted detector: per-feature surprise against the sum.

``bench_adbench.py`` ranks rows by ``score_samples``, the sum over features of the
conditional log-likelihoods. The same fitted detector also gives each feature's surprise
(``explain(X).surprise``: the median training row's conditional log-likelihood minus the
row's), and this script compares, on ADBench's protocol (``bench_adbench.load_split``),
the AUROC of three scores of the same fit:

* ``loglik``: ``-score_samples``, the detector's score;
* ``positive``: the sum of the positive surprises, ``sum_j max(surprise_j, 0)``: a
  feature that is *more* likely than usual no longer offsets one that is less likely;
* ``robust-z``: each positive surprise divided by the spread of that feature's surprise
  on the training rows (its interquartile range, at least ``--floor`` nats), then
  summed: features whose conditional varies widely from row to row count less.

A screen, not a detector: nothing is recorded. Usage::

    python benchmarks/adbench_scores.py                  # 12 sets, seeds 1 2 3
    python benchmarks/adbench_scores.py --sets 6_cardio --seeds 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_adbench import SEEDS, SETS, load_split
from sklearn.metrics import roc_auc_score

from skarm import AutoregressiveOutlierDetector

SCORES = ("loglik", "positive", "robust-z")


def scores(det, X_tr, X_te, floor: float) -> dict[str, np.ndarray]:
    """Anomaly scores (higher = more anomalous) of the test rows, one per variant."""
    loglik = det.score_samples(X_te)
    surprise = det.explain(X_te).surprise
    q25, q75 = np.percentile(det.explain(X_tr).surprise, [25, 75], axis=0)
    spread = np.maximum(np.nan_to_num(q75 - q25, nan=floor, posinf=floor), floor)
    positive = np.clip(np.nan_to_num(surprise, posinf=1e9), 0, None)
    return {
        "loglik": -np.nan_to_num(loglik, neginf=-1e12),
        "positive": positive.sum(axis=1),
        "robust-z": (positive / spread).sum(axis=1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sets", nargs="*", default=SETS, choices=SETS)
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--floor", type=float, default=3.0, help="least spread, in nats")
    args = parser.parse_args()
    print("| set | " + " | ".join(SCORES) + " | s |")
    print("|---|" + "---|" * (len(SCORES) + 1))
    means = {s: [] for s in SCORES}
    for name in args.sets:
        start, auroc = time.perf_counter(), {s: [] for s in SCORES}
        for seed in args.seeds:
            X_tr, X_te, _, y_te = load_split(args.data, name, seed)
            det = AutoregressiveOutlierDetector(random_state=seed).fit(X_tr)
            for s, v in scores(det, X_tr, X_te, args.floor).items():
                auroc[s].append(roc_auc_score(y_te, v))
        row = [float(np.mean(auroc[s])) for s in SCORES]
        for s, v in zip(SCORES, row, strict=True):
            means[s].append(v)
        cells = " | ".join(f"{v:.3f}" for v in row)
        print(f"| {name} | {cells} | {time.perf_counter() - start:.0f} |", flush=True)
    cells = " | ".join(f"{np.mean(means[s]):.3f}" for s in SCORES)
    print(f"| mean of {len(args.sets)} | {cells} | |")


if __name__ == "__main__":
    main()
