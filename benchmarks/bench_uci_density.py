"""Tabular joint densities: skarm's default estimator against GaussianMixture and KernelDensity.

Each UCI regression set (``<data>/uci-regression``) is treated as a joint density of all
its columns (features and target). For the first ``--splits`` fixed splits, every column
is standardised with the training part's mean and standard deviation, each model is fitted
on the training part, and the held-out mean log-likelihood (nats per row, standardised
units, the same for every model) is reported as mean +- standard error over splits.

* skarm: ``AutoregressiveDensityEstimator(random_state=split)``, defaults otherwise;
* GaussianMixture: ``n_components`` and ``covariance_type`` by 3-fold GridSearchCV on
  held-out likelihood;
* KernelDensity: Gaussian kernel, ``bandwidth`` by 3-fold GridSearchCV.

Columns that are constant on a training part (two in naval) have no density and are
dropped for every model. Usage::

    python benchmarks/bench_uci_density.py                       # all 9 sets, 5 splits
    python benchmarks/bench_uci_density.py --sets power-plant --splits 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from skarm import AutoregressiveDensityEstimator

SETS = [
    "bostonHousing",
    "concrete",
    "energy",
    "kin8nm",
    "naval-propulsion-plant",
    "power-plant",
    "protein-tertiary-structure",
    "wine-quality-red",
    "yacht",
]
GMM_GRID = {"n_components": [1, 2, 4, 8, 16, 32], "covariance_type": ["full", "diag"]}
KDE_GRID = {"bandwidth": np.logspace(-1.5, 0.3, 10)}


def load_split(root: Path, name: str, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised (train, test) joint data of one split; training-constant columns dropped."""
    d = root / "uci-regression" / name
    data = np.loadtxt(d / "data.txt")
    features = np.atleast_1d(np.loadtxt(d / "index_features.txt", dtype=int))
    target = int(np.loadtxt(d / "index_target.txt"))
    data = data[:, [*features.tolist(), target]]
    train = data[np.loadtxt(d / f"index_train_{split}.txt", dtype=int)]
    test = data[np.loadtxt(d / f"index_test_{split}.txt", dtype=int)]
    std = train.std(axis=0)
    keep = std > 0
    mean = train.mean(axis=0)
    return (train[:, keep] - mean[keep]) / std[keep], (test[:, keep] - mean[keep]) / std[keep]


def fit_models(train: np.ndarray, seed: int, config: dict) -> dict:
    """Fit the three models on one training part; returns {name: (model, seconds)}."""
    models = {
        "skarm": AutoregressiveDensityEstimator(random_state=seed, **config),
        "gmm": GridSearchCV(
            GaussianMixture(random_state=seed, max_iter=200), GMM_GRID, cv=3, n_jobs=1
        ),
        "kde": GridSearchCV(KernelDensity(rtol=1e-4), KDE_GRID, cv=3, n_jobs=1),
    }
    out = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(train)
        out[name] = (model, time.perf_counter() - t0)
    return out


def run_set(root: Path, name: str, n_splits: int, config: dict) -> dict:
    scores = {"skarm": [], "gmm": [], "kde": []}
    times = {"skarm": [], "gmm": [], "kde": []}
    for split in range(n_splits):
        train, test = load_split(root, name, split)
        fitted = fit_models(train, split, config)
        for key, (model, seconds) in fitted.items():
            # Mean log-likelihood per row: KernelDensity.score is a sum, so use score_samples.
            scores[key].append(float(np.mean(model.score_samples(test))))
            times[key].append(seconds)
        print(
            f"  {name} split {split}: skarm {scores['skarm'][-1]:.3f} "
            f"({times['skarm'][-1]:.0f} s, {fitted['skarm'][0].n_iter_} epochs)  "
            f"gmm {scores['gmm'][-1]:.3f} {fitted['gmm'][0].best_params_}  "
            f"kde {scores['kde'][-1]:.3f} {fitted['kde'][0].best_params_}",
            flush=True,
        )
    return {"scores": scores, "times": times, "n_features": train.shape[1], "n_train": len(train)}


def fmt(values) -> str:
    v = np.asarray(values)
    return f"{v.mean():.3f} ± {v.std() / np.sqrt(len(v)):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument("--sets", nargs="*", default=SETS)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--config", type=json.loads, default={}, help="skarm params as JSON")
    args = parser.parse_args()
    root = Path(args.data)
    results = {name: run_set(root, name, args.splits, args.config) for name in args.sets}
    print(
        "\n| set | D | n_train | skarm | GaussianMixture (grid) | KernelDensity (grid) | "
        "skarm − best peer | fit s: skarm / GMM grid / KDE grid |"
    )
    print("|---|---|---|---|---|---|---|---|")
    gaps = []
    for name, r in results.items():
        s = r["scores"]
        gap = np.mean(s["skarm"]) - max(np.mean(s["gmm"]), np.mean(s["kde"]))
        gaps.append(gap)
        t = {k: np.mean(v) for k, v in r["times"].items()}
        print(
            f"| {name} | {r['n_features']} | {r['n_train']} | {fmt(s['skarm'])} | "
            f"{fmt(s['gmm'])} | {fmt(s['kde'])} | {gap:+.3f} | "
            f"{t['skarm']:.0f} / {t['gmm']:.0f} / {t['kde']:.0f} |"
        )
    print(
        f"\nmean gap to the best peer: {np.mean(gaps):+.3f} nats per row; "
        f"skarm ahead on {sum(g > 0 for g in gaps)} of {len(gaps)} sets"
    )


if __name__ == "__main__":
    main()
