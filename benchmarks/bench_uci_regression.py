"""Probabilistic regression on the UCI benchmarks: skarm against NGBoost.

The protocol of Hernandez-Lobato & Adams (2015) and Gal & Ghahramani (2016), as in
``<data>/README.md``: the fixed train/test splits (20 per set, 5 for protein), every model
fitted on the training part only, and the test negative log-likelihood per point in y's
original units, reported as mean +- standard error over the splits.

* skarm: ``ConditionalNLLRegressor(random_state=split)``, defaults otherwise (it
  standardises X and y inside and adds y's log-Jacobian); ``--config`` overrides
  parameters, e.g. ``--config '{"distribution": "student_t"}'``.
* NGBoost: ``NGBRegressor(random_state=split, verbose=False)`` with its defaults (Normal,
  500 trees, learning rate 0.01), run on this machine on the same splits
  (``pip install ngboost``; skipped with ``--no-ngboost``).

Each fitted (model, set, split) appends one JSON line to ``--out`` so that an interrupted
run can be resumed and several runs (e.g. two processes on two cores) combined; the table
is printed from every line in the file. Usage::

    python benchmarks/bench_uci_regression.py                        # all sets and splits
    python benchmarks/bench_uci_regression.py --sets yacht --splits 5
    python benchmarks/bench_uci_regression.py --table-only           # print the table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _results import append_record, key, read_records

from skarm import ConditionalNLLRegressor

SETS = {
    "bostonHousing": "boston",
    "concrete": "concrete",
    "energy": "energy",
    "kin8nm": "kin8nm",
    "naval-propulsion-plant": "naval",
    "power-plant": "power",
    "protein-tertiary-structure": "protein",
    "wine-quality-red": "wine",
    "yacht": "yacht",
}
#: Published test NLLs (NGBoost paper, Duan et al. 2020, table 1).
PUBLISHED = {
    "boston": (2.43, 2.46, 2.41),
    "concrete": (3.04, 3.04, 3.06),
    "energy": (0.60, 1.99, 1.38),
    "kin8nm": (-0.49, -0.95, -1.20),
    "naval": (-5.34, -3.80, -5.63),
    "power": (2.79, 2.80, 2.79),
    "protein": (2.81, 2.89, 2.83),
    "wine": (0.91, 0.93, 0.94),
    "yacht": (0.20, 1.55, 1.18),
}


def load_split(root: Path, name: str, split: int):
    """``(X_train, y_train, X_test, y_test)`` of one fixed split, raw units."""
    d = root / "uci-regression" / name
    data = np.loadtxt(d / "data.txt")
    features = np.atleast_1d(np.loadtxt(d / "index_features.txt", dtype=int))
    target = int(np.loadtxt(d / "index_target.txt"))
    tr = np.loadtxt(d / f"index_train_{split}.txt", dtype=int)
    te = np.loadtxt(d / f"index_test_{split}.txt", dtype=int)
    return data[tr][:, features], data[tr, target], data[te][:, features], data[te, target]


def n_splits(root: Path, name: str) -> int:
    return int(np.loadtxt(root / "uci-regression" / name / "n_splits.txt"))


def fit_skarm(Xtr, ytr, Xte, yte, split: int, config: dict) -> tuple[float, float]:
    start = time.perf_counter()
    model = ConditionalNLLRegressor(random_state=split, **config).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    return -model.score(Xte, yte), seconds


def fit_ngboost(Xtr, ytr, Xte, yte, split: int) -> tuple[float, float]:
    from ngboost import NGBRegressor

    start = time.perf_counter()
    model = NGBRegressor(random_state=split, verbose=False).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    return float(-model.pred_dist(Xte).logpdf(yte).mean()), seconds


def table(records: list[dict], label: str) -> str:
    """Markdown table: mean +- s.e. of test NLL and mean fit time per set and model."""
    lines = [
        f"| set | splits | skarm ({label}) | NGBoost (this machine) | fit s skarm / NGBoost "
        "| NGBoost (paper) | MC dropout | Deep Ens. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for short in SETS.values():
        res = {}
        for model in ("skarm", "ngboost"):
            rows = [r for r in records if r["set"] == short and r["model"] == model]
            if model == "skarm":
                rows = [r for r in rows if r["label"] == label]
            res[model] = rows
        if not res["skarm"] and not res["ngboost"]:
            continue

        def fmt(rows):
            if not rows:
                return "—", "—"
            nll = np.array([r["nll"] for r in rows])
            se = nll.std(ddof=0) / np.sqrt(len(nll))
            return f"{nll.mean():.2f} ± {se:.2f}", f"{np.mean([r['seconds'] for r in rows]):.1f}"

        (s_nll, s_t), (n_nll, n_t) = fmt(res["skarm"]), fmt(res["ngboost"])
        count = max(len(res["skarm"]), len(res["ngboost"]))
        pub = " | ".join(f"{v:.2f}" for v in PUBLISHED[short])
        lines.append(f"| {short} | {count} | {s_nll} | {n_nll} | {s_t} / {n_t} | {pub} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--splits", type=int, default=None, help="first N splits (default all)")
    parser.add_argument("--first-split", type=int, default=0, help="start at this split")
    parser.add_argument("--config", default="{}", help="JSON overrides of skarm's parameters")
    parser.add_argument("--label", default="default", help="name of the skarm configuration")
    parser.add_argument("--no-ngboost", action="store_true")
    parser.add_argument("--no-skarm", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/uci_regression.jsonl", type=Path)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    config = json.loads(args.config)
    if not args.table_only:
        done = {key(r) for r in read_records(args.out)}
        for name in args.sets:
            short = SETS[name]
            count = n_splits(args.data, name)
            for split in range(args.first_split, min(count, args.splits or count)):
                data = load_split(args.data, name, split)
                jobs = []
                if not args.no_skarm:
                    jobs.append(("skarm", args.label))
                if not args.no_ngboost:
                    jobs.append(("ngboost", None))
                for model, label in jobs:
                    if (short, split, model, label) in done:
                        continue
                    if model == "skarm":
                        nll, seconds = fit_skarm(*data, split, config)
                    else:
                        nll, seconds = fit_ngboost(*data, split)
                    rec = dict(
                        set=short,
                        split=split,
                        model=model,
                        label=label,
                        nll=nll,
                        seconds=seconds,
                        config=config if model == "skarm" else None,
                    )
                    append_record(args.out, rec)
                    print(
                        f"{short} split {split} {model}: NLL {nll:.3f} ({seconds:.1f} s)",
                        flush=True,
                    )
    print(table(read_records(args.out), args.label))


if __name__ == "__main__":
    main()
