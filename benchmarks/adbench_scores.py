"""ADBench with other scores from one fitted detector: per-feature surprise against the sum.

``bench_adbench.py`` ranks rows by ``score_samples``, the sum over features of the
conditional log-likelihoods. The same fitted detector also gives each feature's surprise
(``explain(X).surprise``: the median training row's conditional log-likelihood minus the
row's), and this script compares, on ADBench's protocol (``bench_adbench.load_split``),
the AUROC of five scores of the same fit:

* ``loglik``: ``-score_samples``, the detector's score;
* ``positive``: the sum of the positive surprises, ``sum_j max(surprise_j, 0)``: a
  feature that is *more* likely than usual no longer offsets one that is less likely;
* ``robust-z``: each positive surprise divided by the spread of that feature's surprise
  on the training rows (its interquartile range, at least ``--floor`` nats), then
  summed: features whose conditional varies widely from row to row count less;
* ``fisher`` and ``chi2``: tests of the row against the model rather than densities.
  The Rosenblatt transform ``u_j = F(x_j | x_<j)`` (each conditional's CDF; the mid-p
  value ``F(x-) + p(x)/2`` for a discrete column) makes the features independent
  uniforms under the model. ``fisher`` is Fisher's combination ``-sum_j log p_j`` of the
  two-sided p-values ``p_j = 2 min(u_j, 1 - u_j)``; ``chi2`` is ``sum_j z_j^2`` with
  ``z_j = Phi^-1(u_j)``, the squared norm of the row mapped to a standard normal (the
  model read as a normalising flow: the log-likelihood without its volume term).

A screen, not a detector: nothing is recorded. Usage::

    python benchmarks/adbench_scores.py                  # 12 sets, seeds 1 2 3 (~10 min)
    python benchmarks/adbench_scores.py --sets 6_cardio --seeds 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_adbench import SEEDS, SETS, load_split
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from skarm import AutoregressiveOutlierDetector
from skarm._mixture import MixtureHead
from skarm.heads import BernoulliHead, CategoricalHead

SCORES = ("loglik", "positive", "robust-z", "fisher", "chi2")


def _log_tails(module, z: torch.Tensor) -> torch.Tensor:
    """``log min(u_j, 1 - u_j)`` of every column, ``u_j`` the conditional CDF at the row
    (mid-p for discrete columns), shape ``(n, D)`` in input column order. Reads the
    module's per-column parameters (one member: the detector's default)."""
    if module.n_members != 1:  # several members have no single chain of conditionals
        raise ValueError("The Rosenblatt scores need a detector with ensemble_size=1.")
    params = module._params(z)
    out = torch.zeros(z.shape, dtype=torch.float64, device=z.device)
    for i, head in enumerate(module.heads):
        cols = module._cols(i)
        x, p = z[:, cols].double(), params[i][0].double()
        if isinstance(head, MixtureHead):
            d = head.distribution(p)
            log_w = torch.log_softmax(d.mixture_distribution.logits, dim=-1)
            comp = d.component_distribution
            t = (x.unsqueeze(-1) - comp.loc) / comp.scale
            lower = torch.logsumexp(log_w + torch.special.log_ndtr(t), dim=-1)
            upper = torch.logsumexp(log_w + torch.special.log_ndtr(-t), dim=-1)
        elif isinstance(head, CategoricalHead | BernoulliHead):
            if isinstance(head, CategoricalHead):
                probs = head.distribution(p).probs
            else:
                p1 = torch.sigmoid(p[..., 0])
                probs = torch.stack([1 - p1, p1], dim=-1)
            code = x.clamp(min=0).long().unsqueeze(-1)
            pk = probs.gather(-1, code).squeeze(-1)
            mid = torch.cumsum(probs, dim=-1).gather(-1, code).squeeze(-1) - 0.5 * pk
            lower, upper = mid.clamp(min=1e-300).log(), (1 - mid).clamp(min=1e-300).log()
        else:
            raise TypeError(f"no CDF for {type(head).__name__}")
        out[:, cols] = torch.minimum(lower, upper)
    return out


def scores(det, X_tr, X_te, floor: float) -> dict[str, np.ndarray]:
    """Anomaly scores (higher = more anomalous) of the test rows, one per variant."""
    loglik = det.score_samples(X_te)
    surprise = det.explain(X_te).surprise
    q25, q75 = np.percentile(det.explain(X_tr).surprise, [25, 75], axis=0)
    spread = np.maximum(np.nan_to_num(q75 - q25, nan=floor, posinf=floor), floor)
    positive = np.clip(np.nan_to_num(surprise, posinf=1e9), 0, None)
    log_p = np.minimum(det._evaluate(X_te, lambda z: _log_tails(det.module_, z)) + np.log(2), 0)
    abs_z = norm.isf(np.exp(log_p) / 2)
    abs_z = np.where(np.isfinite(abs_z), abs_z, np.sqrt(-2 * log_p))  # beyond float range
    return {
        "loglik": -np.nan_to_num(loglik, neginf=-1e12),
        "positive": positive.sum(axis=1),
        "robust-z": (positive / spread).sum(axis=1),
        "fisher": -log_p.sum(axis=1),
        "chi2": np.square(abs_z).sum(axis=1),
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
