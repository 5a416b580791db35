"""Does a dropout-free refinement after early stopping help? (a tried idea, not a default)

For one set and split of ``bench_uci_density.py`` (same loader, same standardisation),
fits skarm's default (``AutoregressiveDensityEstimator(random_state=split, **config)``),
then continues from its early-stopped weights with dropout switched off, on the same
training rows and against the same held-out rows that ``fit`` used (rebuilt from its
``random_state``), in one or more ways, each from the same start:

* ``adam``: Adam with fresh moments at ``--adam-lr``, the estimator's own trainer
  (prior, step-size halving, early stopping with its patience);
* ``lbfgs``: full-batch L-BFGS (``torch.optim.LBFGS``, strong Wolfe line search,
  ``--iters-per-step`` iterations per step, 20 by default) on the same MAP objective,
  the held-out score checked after every step, stopped after 3 steps without an
  improvement.

A refinement is kept only if its best held-out score beats the starting one (what an
estimator option would do); the printed test score is that of the kept weights. Usage::

    python benchmarks/uci_density_refine.py --set yacht
    python benchmarks/uci_density_refine.py --set naval-propulsion-plant --methods lbfgs
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bench_uci_density import SETS, load_split

from skarm import AutoregressiveDensityEstimator
from skarm._engine import History, Trainer, prior_penalty
from skarm.nn.made import Dropout


def _without_dropout(module: torch.nn.Module) -> torch.nn.Module:
    for layer in module.modules():
        if isinstance(layer, Dropout):
            layer.p = 0.0
    return module


def _held_out(module, rows: torch.Tensor, offset: float) -> float:
    module.eval()
    with torch.no_grad():
        return float(module(rows).mean()) + offset


def refine_adam(est, module, train, validation, lr: float, max_epochs: int) -> float:
    """Adam from fresh moments; the trainer restores its best epoch. Its best score."""
    config = est._train_config()
    config.learning_rate_init = lr
    trainer = Trainer(module, lambda m, x: m(x), config, est.coder_.log_jacobian)
    history = trainer.fit((train,), (validation,), max_epochs, history=History(), warn=False)
    return history.best_validation_score


def refine_lbfgs(est, module, train, validation, max_steps: int, iters: int) -> float:
    """Full-batch L-BFGS on the MAP objective; the best held-out step is restored."""
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.LBFGS(params, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")
    n_prior = len(train) * int(getattr(module, "n_members", 1))

    def closure():
        opt.zero_grad()
        loss = -module(train).mean()
        penalty = prior_penalty(module, est.alpha, est.l1_ratio)
        if penalty is not None:
            loss = loss + penalty / n_prior
        loss.backward()
        return loss

    best, state, stall = -math.inf, None, 0
    for step in range(max_steps):
        module.train()
        loss = float(opt.step(closure).detach())
        score = _held_out(module, validation, est.coder_.log_jacobian)
        print(f"  lbfgs step {step + 1}: train objective {-loss:.3f}, held-out {score:.3f}")
        if score > best + 1e-4:
            best, state, stall = score, copy.deepcopy(module.state_dict()), 0
        else:
            stall += 1
            if stall >= 3:
                break
    module.load_state_dict(state)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--set", default="yacht", choices=SETS)
    parser.add_argument("--split", type=int, default=0)
    parser.add_argument("--config", type=json.loads, default={}, help="skarm params as JSON")
    parser.add_argument("--methods", nargs="+", default=["adam", "lbfgs"])
    parser.add_argument("--adam-lr", type=float, default=1e-3)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--iters-per-step", type=int, default=20)
    args = parser.parse_args()
    train, test = load_split(args.data, args.set, args.split)
    est = AutoregressiveDensityEstimator(random_state=args.split, **args.config)
    start = time.perf_counter()
    est.fit(train)
    print(
        f"{args.set} split {args.split}: default fit {time.perf_counter() - start:.0f} s, "
        f"{est.n_iter_} epochs, held-out {est.best_validation_score_:.3f}, "
        f"test {est.score(test):.3f}"
    )
    # The rows fit() trained and stopped on: its first draw from random_state.
    rng = np.random.RandomState(est._seed_from(est.random_state))
    n_val = int(np.ceil(est.validation_fraction * len(train)))
    perm = rng.permutation(len(train))
    Z = torch.as_tensor(est.coder_.transform(train), dtype=torch.float32)
    rows_train, rows_val = Z[perm[n_val:]], Z[perm[:n_val]]
    fitted = est.module_
    start_score = _held_out(copy.deepcopy(fitted).float(), rows_val, est.coder_.log_jacobian)
    for method in args.methods:
        module = _without_dropout(copy.deepcopy(fitted).float())
        start = time.perf_counter()
        if method == "adam":
            best = refine_adam(est, module, rows_train, rows_val, args.adam_lr, args.max_epochs)
        else:
            best = refine_lbfgs(
                est, module, rows_train, rows_val, args.max_steps, args.iters_per_step
            )
        kept = best > start_score
        refined = copy.copy(est)
        refined.module_ = (module if kept else copy.deepcopy(fitted)).double().eval()
        print(
            f"{method}: held-out {start_score:.3f} -> {best:.3f} "
            f"({'kept' if kept else 'reverted'}), test {refined.score(test):.3f}, "
            f"{time.perf_counter() - start:.0f} s"
        )


if __name__ == "__main__":
    main()
