"""Tabular joint densities: skarm's default estimator against GaussianMixture and KernelDensity.

Each UCI regression set (``<data>/uci-regression``) is treated as a joint density of all
its columns (features and target). For the first ``--splits`` fixed splits, every column
is standardised with the training part's mean and standard deviation, each model is fitted
on the training part, and the held-out mean log-likelihood (nats per row, standardised
units, the same for every model) is reported as mean +- standard error over splits.

* skarm: ``AutoregressiveDensityEstimator(random_state=split)``, defaults otherwise
  (``--config`` overrides parameters, recorded under ``--label``);
* GaussianMixture: ``n_components`` (1 to 128) and ``covariance_type`` by 3-fold
  GridSearchCV on held-out likelihood;
* KernelDensity: Gaussian kernel, ``bandwidth`` (18 values from 0.0008 to 2) by 3-fold
  GridSearchCV.

Columns that are constant on a training part (two in naval: T1 and P1) have no density
and are dropped for every model; records fitted before P1 was dropped (naval with 16
columns instead of 15, session 11) are ignored. Each fitted (model, set, split) appends
one JSON line to ``--out``, so an interrupted run resumes and several processes (one per
core) combine; the table is printed from every line in the file. Usage::

    python benchmarks/bench_uci_density.py                       # all 9 sets, 5 splits
    python benchmarks/bench_uci_density.py --sets power-plant --splits 1
    python benchmarks/bench_uci_density.py --models skarm --label ens \
        --config '{"order": "ensemble"}'
    python benchmarks/bench_uci_density.py --table-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _results import append_record, key, read_records
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
MODELS = ("skarm", "gmm", "kde")
GMM_GRID = {"n_components": [1, 2, 4, 8, 16, 32, 64, 128], "covariance_type": ["full", "diag"]}
KDE_GRID = {"bandwidth": np.logspace(-3.1, 0.3, 18)}
#: Label of the peers' records on the grids above. Until session 11 the grids stopped at
#: 32 components and a bandwidth of 0.03 (label None), the edge most sets chose.
PEER_LABEL = "grid-s11"
#: Column counts the loader no longer gives: until session 11 naval kept its constant
#: P1 column (see :func:`load_split`), so its records with 16 columns are stale.
STALE_WIDTHS = {"naval-propulsion-plant": 16}


def is_current(record: dict) -> bool:
    """Whether a result was fitted on the columns :func:`load_split` gives today."""
    return STALE_WIDTHS.get(record["set"]) != record["n_features"]


def load_split(root: Path, name: str, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised (train, test) joint data of one split; training-constant columns dropped."""
    d = root / "uci-regression" / name
    data = np.loadtxt(d / "data.txt")
    features = np.atleast_1d(np.loadtxt(d / "index_features.txt", dtype=int))
    target = int(np.loadtxt(d / "index_target.txt"))
    data = data[:, [*features.tolist(), target]]
    train = data[np.loadtxt(d / f"index_train_{split}.txt", dtype=int)]
    test = data[np.loadtxt(d / f"index_test_{split}.txt", dtype=int)]
    # A column is constant when its training values are all equal. Testing ``std > 0``
    # is not enough: naval's P1 (0.998 in every row) has a float-rounding standard
    # deviation of 2e-13, and standardising it gives exactly 1.0 everywhere.
    keep = np.ptp(train, axis=0) > 0
    std = train.std(axis=0)
    mean = train.mean(axis=0)
    return (train[:, keep] - mean[keep]) / std[keep], (test[:, keep] - mean[keep]) / std[keep]


def make_model(name: str, seed: int, config: dict):
    """One of the three compared models, unfitted."""
    if name == "skarm":
        return AutoregressiveDensityEstimator(random_state=seed, **config)
    if name == "gmm":
        return GridSearchCV(
            GaussianMixture(random_state=seed, max_iter=200), GMM_GRID, cv=3, n_jobs=1
        )
    return GridSearchCV(KernelDensity(rtol=1e-4), KDE_GRID, cv=3, n_jobs=1)


def fit_one(model_name: str, train, test, seed: int, config: dict) -> dict:
    """Fit one model on a training part; held-out mean log-likelihood, time and choice."""
    model = make_model(model_name, seed, config)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    # Mean log-likelihood per row: KernelDensity.score is a sum, so use score_samples.
    score = float(np.mean(model.score_samples(test)))
    detail = {"epochs": model.n_iter_} if model_name == "skarm" else model.best_params_
    return {"score": score, "seconds": seconds, "detail": detail}


def fmt(values) -> str:
    v = np.asarray(values)
    return f"{v.mean():.2f} ± {v.std() / np.sqrt(len(v)):.2f}"


def table(records: list[dict], label: str) -> str:
    """Markdown table: mean +- s.e. of held-out log-likelihood and mean fit time per set."""
    lines = [
        f"| set | D | n_train | splits | skarm ({label}) | GaussianMixture (grid) | "
        "KernelDensity (grid) | skarm − best peer | fit s: skarm / GMM grid / KDE grid |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    gaps = []
    for name in SETS:
        rows = {
            m: [
                r
                for r in records
                if r["set"] == name
                and r["model"] == m
                and r["label"] == (label if m == "skarm" else PEER_LABEL)
            ]
            for m in MODELS
        }
        if not any(rows.values()):
            continue
        # Compare on the splits every model has finished.
        common = set.intersection(*({r["split"] for r in v} for v in rows.values()))
        rows = {
            m: sorted((r for r in v if r["split"] in common), key=lambda r: r["split"])
            for m, v in rows.items()
        }
        if not common:
            continue
        s = {m: [r["score"] for r in v] for m, v in rows.items()}
        t = {m: np.mean([r["seconds"] for r in v]) for m, v in rows.items()}
        gap = np.mean(s["skarm"]) - max(np.mean(s["gmm"]), np.mean(s["kde"]))
        gaps.append(gap)
        first = rows["skarm"][0]
        lines.append(
            f"| {name} | {first['n_features']} | {first['n_train']} | {len(common)} | "
            f"{fmt(s['skarm'])} | {fmt(s['gmm'])} | {fmt(s['kde'])} | {gap:+.2f} | "
            f"{t['skarm']:.0f} / {t['gmm']:.0f} / {t['kde']:.0f} |"
        )
    if gaps:
        lines.append(
            f"\nMean gap to the best peer: {np.mean(gaps):+.2f} nats per row; skarm ahead "
            f"on {sum(g > 0 for g in gaps)} of {len(gaps)} sets."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--sets", nargs="*", default=SETS, choices=SETS)
    parser.add_argument("--splits", type=int, default=5, help="first N splits")
    parser.add_argument("--first-split", type=int, default=0, help="start at this split")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--config", type=json.loads, default={}, help="skarm params as JSON")
    parser.add_argument("--label", default="default", help="name of the skarm configuration")
    parser.add_argument("--out", default="benchmarks/results/uci_density.jsonl", type=Path)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    if not args.table_only:
        done = {key(r) for r in read_records(args.out, is_current)}
        for name in args.sets:
            for split in range(args.first_split, args.splits):
                train, test = load_split(args.data, name, split)
                for model in args.models:
                    label = args.label if model == "skarm" else PEER_LABEL
                    if (name, split, model, label) in done:
                        continue
                    result = fit_one(model, train, test, split, args.config)
                    rec = dict(
                        set=name,
                        split=split,
                        model=model,
                        label=label,
                        n_features=train.shape[1],
                        n_train=len(train),
                        config=args.config if model == "skarm" else None,
                        **result,
                    )
                    append_record(args.out, rec)
                    print(
                        f"{name} split {split} {model}: {result['score']:.3f} "
                        f"({result['seconds']:.0f} s, {result['detail']})",
                        flush=True,
                    )
    print(table(read_records(args.out, is_current), args.label))


if __name__ == "__main__":
    main()
