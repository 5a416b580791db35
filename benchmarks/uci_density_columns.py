"""Where a joint density wins or loses: per-column chain-rule scores on one UCI split.

For one set and split of ``bench_uci_density.py`` (same loader, same standardisation),
fits skarm (``AutoregressiveDensityEstimator(random_state=split, **config)``) and a
GaussianMixture with full covariances, and prints each column's mean held-out
conditional log-likelihood ``log p(x_j | x_<j)`` in the column order: skarm's from
``conditional_log_likelihood``, the mixture's from the marginals of its components
(``log p(x_<=j) - log p(x_<j)``, each a mixture of the components' sub-Gaussians). Each
row sums to the model's mean log-likelihood. Usage::

    python benchmarks/uci_density_columns.py --set naval-propulsion-plant --split 0
    python benchmarks/uci_density_columns.py --set naval-propulsion-plant \
        --config '{"dropout": 0.0}' --gmm-components 128
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_uci_density import SETS, load_split
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from skarm import AutoregressiveDensityEstimator


def gmm_conditionals(gmm: GaussianMixture, X: np.ndarray) -> np.ndarray:
    """Mean ``log p(x_j | x_<j)`` of a full-covariance mixture, for every column ``j``."""
    previous = np.zeros(len(X))
    out = []
    for j in range(1, X.shape[1] + 1):
        per_component = [
            np.log(w) + multivariate_normal(m[:j], c[:j, :j], allow_singular=True).logpdf(X[:, :j])
            for w, m, c in zip(gmm.weights_, gmm.means_, gmm.covariances_, strict=True)
        ]
        current = logsumexp(np.stack([np.reshape(p, -1) for p in per_component]), axis=0)
        out.append(float(np.mean(current - previous)))
        previous = current
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--set", default="naval-propulsion-plant", choices=SETS)
    parser.add_argument("--split", type=int, default=0)
    parser.add_argument("--config", type=json.loads, default={}, help="skarm params as JSON")
    parser.add_argument("--gmm-components", type=int, default=128)
    args = parser.parse_args()
    train, test = load_split(args.data, args.set, args.split)
    gmm = GaussianMixture(args.gmm_components, random_state=args.split, max_iter=200).fit(train)
    rows = {f"GaussianMixture ({args.gmm_components} full)": gmm_conditionals(gmm, test)}
    est = AutoregressiveDensityEstimator(random_state=args.split, **args.config)
    start = time.perf_counter()
    est.fit(train)
    seconds = time.perf_counter() - start
    rows[f"skarm {json.dumps(args.config)}"] = est.conditional_log_likelihood(test).mean(axis=0)
    print(f"{args.set}, split {args.split}: skarm fit {seconds:.0f} s, {est.n_iter_} epochs")
    header = " | ".join(str(j) for j in range(train.shape[1]))
    print(f"| model | {header} | total |\n|---|{'---|' * train.shape[1]}---|")
    for name, values in rows.items():
        cells = " | ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {cells} | {values.sum():.2f} |")


if __name__ == "__main__":
    main()
