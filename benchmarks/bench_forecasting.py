"""Probabilistic forecasting on a real series: skarm's window model against AutoReg.

A series bundled with statsmodels (no download; all three are public-domain US-government
data, see ``statsmodels.datasets.<name>.COPYRIGHT``):

* ``elnino`` (default): monthly sea-surface temperature of the Nino 1+2 region, in
  degrees C, January 1950 to December 2010 (732 values; NOAA CPC, ERSST v3b). The
  statsmodels table (a year per row) is read row by row, in time order.
* ``sunspots``: yearly mean sunspot number, 1700 to 2008 (309 values; NOAA NGDC).
* ``co2``: Mauna Loa CO2 in ppm, weekly 1958 to 2001 with 59 missing weeks, as monthly
  means (526 values; the 3 months without any measurement interpolated linearly).

Protocol (nothing is shuffled; every score is in the series' own units):

* Time-ordered split: the first 75 % of the series is the training segment, the rest the
  test segment. A window is ``L = k + h`` consecutive values: a prefix of ``k`` (history)
  and a horizon of ``h``. Training windows lie inside the training segment; test windows
  are every window whose horizon starts in the test segment (their prefix may reach back
  into the training segment: those values are known when the forecast is made).
* Metric: mean over test windows of ``log p(x_{k+1}, ..., x_L | x_1, ..., x_k)``, in
  nats per window (also divided by ``h``: nats per forecast step), higher is better.
* skarm: ``AutoregressiveDensityEstimator`` with one fixed configuration (``CONFIG``; the
  weight-shared dilated causal convolutions, ``architecture="conv"``, mixture
  conditionals) on the windows in column (= time) order. The score is the sum of
  ``conditional_log_likelihood`` over the ``h`` horizon columns: exactly the model's
  chain rule for the horizon given the prefix. Training windows overlap, so
  ``fit``'s random early-stopping split would hold out windows that share most of their
  values with training windows; instead the number of epochs is chosen in time order:
  the last 25 % of the training segment is a validation stretch, a model is trained
  with ``partial_fit`` (one epoch per call) on the windows before it, and the epoch with
  the best mean horizon log-likelihood on the validation stretch's windows (patience
  ``--patience`` epochs) is kept. A fresh model with the same seed is then trained for
  that many epochs on all training windows and scored once on the test segment. The test
  segment chooses nothing. Seeds ``--seeds``; the configuration was chosen on the
  validation stretch of ``elnino`` (see docs/benchmarks.md for what was tried).
* ``--cv K`` (K > 1): the epochs are chosen by blocked K-fold cross-validation over the
  whole training segment instead of its last quarter alone (Bergmeir, Hyndman and Koo,
  2018: for autoregressions, K-fold CV on blocks is valid and less noisy than one
  out-of-sample stretch). The segment's values are cut into K contiguous blocks; fold
  ``j`` validates on the windows whose horizon starts in block ``j`` and fits on the
  windows that share no value with those horizons (before or after them). K models, one
  per fold, train one epoch at a time in step; the epoch with the best horizon
  log-likelihood pooled over all folds' validation windows is kept, and the final model
  is trained as above. With K = 4 the last fold is the validation stretch above.
* ``--diff``: skarm models windows of first differences ``x_t - x_{t-1}`` (``k - 1``
  prefix and ``h`` horizon differences per window). Given the last prefix value the map
  from the horizon's values to its differences has unit Jacobian, so the score is still
  ``log p(horizon | prefix)`` in the series' units. The run then adds an AutoReg fitted
  to the differences (p <= k - 1 by AIC; an ARIMA(p, 1, 0) with drift), scored as the
  equivalent AR(p + 1) of the levels: the same preprocessing for both.
* ``--relative``: skarm models each window relative to its last prefix value: ``w`` maps
  to ``r`` with ``r_k = w_k`` (the level, kept so that mean reversion stays learnable)
  and ``r_t = w_t - w_k`` for ``t != k``. The map is triangular with a unit diagonal and
  ``w_k`` lies in the prefix, so ``log p(r_{k+1..L} | r_{1..k})`` equals
  ``log p(w_{k+1..L} | w_{1..k})`` exactly: the score is unchanged. A level shift moves
  only the column ``r_k``. Sample paths are mapped back with ``w_t = r_t + w_k``.
* ``--ar-residuals``: skarm models windows of the AR's one-step errors
  ``e_t = x_t - c - sum_i phi_i x_{t-i}`` (the AR below, chosen and fitted on the values
  before the stretch being forecast: the fitting part for the validation stretch, the
  training segment for the test one). Given the values before it, ``x_t`` maps to
  ``e_t`` with unit Jacobian, so ``log p(e_{k+1..L} | e_{1..k})`` is a predictive
  log-density of the horizon's values given the past (the prefix's errors reach ``p``
  values further back, all known at the forecast origin); sample paths are rebuilt by
  the AR recursion driven by the drawn errors. A screening option (docs/benchmarks.md).
* AutoReg: a Gaussian AR(p) with a constant, ``p <= k`` chosen by AIC with
  ``statsmodels.tsa.ar_model.ar_select_order(train, maxlag=k, ic="aic")`` and fitted on
  the training segment. Its horizon log-likelihood is the exact Gaussian chain rule:
  ``sum_t log N(x_t; c + sum_i phi_i x_{t-i}, sigma^2)`` over the horizon, the mean from
  the true earlier values (prefix and the horizon's own earlier values), computed with
  numpy from ``res.params`` and checked against statsmodels' one-step predictions.
* 90 % intervals: skarm's are the 5 % and 95 % quantiles of ``--paths`` sample paths
  drawn by ``sample(n, prefix=...)`` from each test window's prefix; AutoReg's are its
  Gaussian multi-step forecast bands, mean +- 1.645 sd with the variance
  ``sigma^2 sum_{j<s} psi_j^2`` at step ``s`` (checked against ``get_prediction``).
  Coverage is the share of horizon values (all test windows, all steps) inside the band;
  MAE is the mean absolute error of the point forecast (median of the paths; the AR mean).

The validation stretch also gets an AutoReg chosen and fitted on the values before it,
for reference. Each fit appends one JSON line to ``--out``; the table is printed from
every line there. Usage::

    python benchmarks/bench_forecasting.py                        # elnino, seeds 0 1 2
    python benchmarks/bench_forecasting.py --series sunspots
    python benchmarks/bench_forecasting.py --series co2 --diff --label conv-ens4-diff
    python benchmarks/bench_forecasting.py --relative --label conv-ens4-rel
    python benchmarks/bench_forecasting.py --label small --config '{"hidden_layer_sizes": [16, 16]}'
    python benchmarks/bench_forecasting.py --table-only
    python benchmarks/bench_forecasting.py --val-only --config '{"dropout": 0.2}'  # screen
    python benchmarks/bench_forecasting.py --direct-gain 3 1 --label conv-ens4-direct-g3d1
    python benchmarks/bench_forecasting.py --seeds 0 1 2 3 4 --cv 4 --label conv-ens8-cv4
    python benchmarks/bench_forecasting.py --cv 4 --refit-check   # epochs or updates?
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _autoreg import ar_innovations, ar_rebuild, autoreg_scores, check_autoreg, fit_autoreg
from _forecast_skarm import (
    blocked_folds,
    choose_epochs_folds,
    horizon_log_lik,
    refit_rule_check,
    train_skarm,
)
from _forecast_table import table
from _results import append_record, key, read_records

#: (history k, horizon h) per series: two years and one year for the monthly series.
SERIES = {"elnino": (24, 12), "sunspots": (16, 8), "co2": (24, 12)}
#: The one skarm configuration (chosen on elnino's validation stretch, never on a test one).
CONFIG = {
    "architecture": "conv",
    "hidden_layer_sizes": [32] * 5,  # receptive field 33 >= the 36-value windows' context
    "ensemble_size": 8,  # a mixture of 8 networks (session 22; 4 before, 1 at first)
    "atoms": None,  # measured values, no repeated atoms worth a peak
    # The estimator's default step size when this configuration was chosen (now 5e-3):
    # pinned, so that the recorded rows stay reproducible.
    "learning_rate_init": 3e-3,
}
Z90 = 1.6448536269514722  # the standard normal's 95 % quantile


def load_series(name: str) -> np.ndarray:
    """The series as a float array in time order."""
    from statsmodels import datasets

    if name == "elnino":
        table = datasets.elnino.load_pandas().data  # YEAR, JAN, ..., DEC
        return table.drop(columns="YEAR").to_numpy(float).ravel()
    if name == "sunspots":
        return datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)
    weekly = datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().interpolate().to_numpy(float)


def windows(x: np.ndarray, width: int, first_horizon: int | None = None, k: int = 0):
    """Every run of ``width`` consecutive values; with ``first_horizon``, only those whose
    value ``k`` (the first forecast step) comes at or after that index."""
    w = np.lib.stride_tricks.sliding_window_view(x, width)
    return w if first_horizon is None else w[first_horizon - k :]


def relative(w: np.ndarray, k: int) -> np.ndarray:
    """Windows relative to their last prefix value: ``r_k = w_k``, ``r_t = w_t - w_k``
    otherwise (a unit-Jacobian map given the prefix; see the module docstring)."""
    r = w - w[:, k - 1 : k]
    r[:, k - 1] = w[:, k - 1]
    return r


def forecast_stats(truth, lo, hi, point):
    return float(np.mean((truth >= lo) & (truth <= hi))), float(np.mean(np.abs(point - truth)))


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="elnino", choices=sorted(SERIES))
    parser.add_argument("--history", type=int, help="prefix length k (default per series)")
    parser.add_argument("--horizon", type=int, help="forecast steps h (default per series)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--config", type=json.loads, default={}, help="overrides of CONFIG")
    parser.add_argument("--label", default="conv-ens8", help="name of the skarm configuration")
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--paths", type=int, default=200, help="sample paths per forecast")
    parser.add_argument("--out", default="benchmarks/results/forecasting.jsonl", type=Path)
    parser.add_argument(
        "--diff", action="store_true", help="skarm models first differences (and AutoReg too)"
    )
    parser.add_argument(
        "--relative",
        action="store_true",
        help="skarm models each window relative to its last prefix value",
    )
    parser.add_argument(
        "--ar-residuals",
        action="store_true",
        help="skarm models windows of the AR's one-step errors (the AR fitted on the "
        "values before the stretch it forecasts)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="train on windows jittered by Gaussian noise of this many times their spread",
    )
    parser.add_argument(
        "--direct-gain",
        type=float,
        nargs=2,
        metavar=("GAIN", "DECAY"),
        help="gain of the conv direct path at lag 1 and its decay with the lag j "
        "(GAIN / j**DECAY; skarm.nn.sequence.DIRECT_GAIN, DIRECT_GAIN_DECAY)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=1,
        metavar="K",
        help="choose the epochs by blocked K-fold cross-validation over the training "
        "segment (1: the single validation stretch, the last quarter)",
    )
    parser.add_argument(
        "--refit-check",
        action="store_true",
        help="with --cv K: compare two refit rules (as many epochs, as many updates) with "
        "the last fold as the held-out stretch and K - 1 folds before it (nothing recorded)",
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--val-only",
        action="store_true",
        help="screen a configuration: print its validation score only (nothing is recorded "
        "and the test segment is not touched)",
    )
    args = parser.parse_args()
    if args.diff + args.relative + args.ar_residuals > 1:
        parser.error("--diff, --relative and --ar-residuals are exclusive")
    if args.refit_check and args.cv < 3:
        parser.error("--refit-check needs --cv K with K >= 3 (K - 1 folds choose the epochs)")
    if args.cv > 1 and args.ar_residuals:
        parser.error("--cv needs windows of the series (its AR is fitted before a stretch)")
    if args.table_only:
        print(table(read_records(args.out)))
        return
    if args.direct_gain is not None:  # read by CausalConv1D at construction
        import skarm.nn.sequence

        skarm.nn.sequence.DIRECT_GAIN, skarm.nn.sequence.DIRECT_GAIN_DECAY = args.direct_gain

    k, h = SERIES[args.series]
    k, h = args.history or k, args.horizon or h
    x = load_series(args.series)
    n_train = int(0.75 * len(x))  # training segment x[:n_train], test segment the rest
    n_fit = int(0.75 * n_train)  # the validation stretch is x[n_fit:n_train]
    train_w = windows(x[:n_train], k + h)
    test_w = windows(x, k + h, first_horizon=n_train, k=k)
    fit_w = windows(x[:n_fit], k + h)
    val_w = windows(x[:n_train], k + h, first_horizon=n_fit, k=k)
    name = f"{args.series} ({k}, {h})"
    print(
        f"{name}: {len(x)} values; {len(train_w)} training windows, {len(test_w)} test "
        f"windows; validation: {len(fit_w)} fitting and {len(val_w)} validation windows"
    )
    common = dict(set=name, k=k, h=h, n_train_windows=len(train_w), n_test_windows=len(test_w))
    done = {key(r) for r in read_records(args.out)}
    truth = test_w[:, k:]

    for label in [None, "diff"] if args.diff else [None]:
        if args.val_only or (name, None, "autoreg", label) in done:
            continue
        start = time.perf_counter()
        res, lags, c, phi, sigma2 = fit_autoreg(x[:n_train], k, diff=label == "diff")
        seconds = time.perf_counter() - start
        ll, one_step, mean, sd = autoreg_scores(test_w, k, c, phi, sigma2)
        if label is None:
            check_autoreg(x, n_train - k, k, h, res, lags, one_step, mean, sd, sigma2)
        coverage, mae = forecast_stats(truth, mean - Z90 * sd, mean + Z90 * sd, mean)
        # The validation stretch's AR: chosen and fitted on the values before it.
        _, _, cv, phiv, s2v = fit_autoreg(x[:n_fit], k, diff=label == "diff")
        val_ll = float(autoreg_scores(val_w, k, cv, phiv, s2v)[0].mean())
        rec = dict(
            common, split=None, model="autoreg", label=label, p=len(lags), lags=lags,
            val_ll=val_ll, test_ll=float(ll.mean()), coverage90=coverage, mae=mae,
            seconds=seconds,
        )  # fmt: skip
        append_record(args.out, rec)
        print(f"AutoReg ({label}) p={len(lags)}: test {ll.mean():.3f} nats per window")

    config = {**CONFIG, **args.config}
    # With --diff skarm models windows of d_t = x_t - x_{t-1}: a window of x gives k - 1
    # prefix differences and h horizon ones, and given x_k the map from the horizon's
    # values to its differences has unit Jacobian, so the scores stay in x's units.
    j = k - 1 if args.diff else k  # prefix length in the modelled windows
    # With --relative the windows are taken relative to their last prefix value x_k.
    tr, te, fi, va = (
        np.diff(w, axis=1) if args.diff else relative(w, k) if args.relative else w
        for w in (train_w, test_w, fit_w, val_w)
    )
    if args.relative:  # the horizon's log-likelihood is unchanged by the map (exactly)
        assert np.allclose(te[:, k:] + test_w[:, k - 1, None], test_w[:, k:])
    if args.ar_residuals:  # windows of the AR's innovations, each AR fitted before its stretch
        _, _, c_fit, phi_fit, _ = fit_autoreg(x[:n_fit], k)
        _, _, c_ar, phi_ar, _ = fit_autoreg(x[:n_train], k)
        e_fit, e_all = ar_innovations(x, c_fit, phi_fit), ar_innovations(x, c_ar, phi_ar)
        p_fit, p_ar = len(phi_fit), len(phi_ar)
        fi = windows(e_fit[: n_fit - p_fit], k + h)
        va = windows(e_fit[: n_train - p_fit], k + h, first_horizon=n_fit - p_fit, k=k)
        tr = windows(e_all[: n_train - p_ar], k + h)
        te = windows(e_all, k + h, first_horizon=n_train - p_ar, k=k)
        assert te.shape == test_w.shape and va.shape == val_w.shape
        # The horizon's innovations given the prefix's values: a unit-Jacobian map.
        assert np.allclose(
            ar_rebuild(test_w[:, :k], te[:, None, k:], c_ar, phi_ar)[:, 0], test_w[:, k:]
        )
    # The stretches that choose the epochs: the last quarter, or K blocked folds of it all.
    folds = [(fi, va)] if args.cv == 1 else blocked_folds(tr, n_train, k, h, args.cv)
    for seed in args.seeds:
        if args.refit_check:  # the training segment alone, nothing recorded
            bs = config.get("batch_size", 128)
            e, e_steps, at_e, at_steps, curve = refit_rule_check(
                config, seed, folds, j, h, args.max_epochs, args.patience, bs
            )
            print(
                f"{name} seed {seed}: {e} epochs {at_e:.3f}, {e_steps} epochs (as many "
                f"updates) {at_steps:.3f}; best {max(curve):.3f} at {np.argmax(curve) + 1}"
            )
            continue
        if args.val_only:  # screening: the validation stretch alone, nothing recorded
            epochs, val_ll = choose_epochs_folds(
                config, seed, folds, j, args.max_epochs, args.patience, args.noise
            )
            print(f"{name} {args.label} seed {seed}: {epochs} epochs, validation {val_ll:.3f}")
            continue
        if (name, seed, "skarm", args.label) in done:
            continue
        start = time.perf_counter()
        epochs, val_ll = choose_epochs_folds(
            config, seed, folds, j, args.max_epochs, args.patience, args.noise
        )
        est = train_skarm(config, seed, tr, epochs, args.noise)
        seconds = time.perf_counter() - start
        ll = horizon_log_lik(est, te, j)
        paths = est.sample(args.paths, random_state=seed, prefix=te[:, :j])
        future = paths[:, j:].reshape(len(te), args.paths, h)
        if args.diff:  # back to levels: the last observed value plus the summed differences
            future = test_w[:, k - 1, None, None] + np.cumsum(future, axis=2)
        elif args.relative:  # back to levels: w_t = r_t + w_k
            future = test_w[:, k - 1, None, None] + future
        elif args.ar_residuals:  # back to levels: the AR recursion driven by the draws
            future = ar_rebuild(test_w[:, :k], future, c_ar, phi_ar)
        lo, med, hi = np.quantile(future, [0.05, 0.5, 0.95], axis=1)
        coverage, mae = forecast_stats(truth, lo, hi, med)
        rec = dict(
            common, split=seed, model="skarm", label=args.label, config=config, diff=args.diff,
            relative=args.relative, ar_residuals=args.ar_residuals, noise=args.noise,
            cv=args.cv,
            epochs=epochs, val_ll=val_ll, test_ll=float(ll.mean()), coverage90=coverage,
            mae=mae, seconds=seconds,
        )  # fmt: skip
        append_record(args.out, rec)
        print(
            f"skarm seed {seed}: {epochs} epochs, validation {val_ll:.3f}, test "
            f"{ll.mean():.3f} nats per window ({seconds:.0f} s)",
            flush=True,
        )
    if not args.val_only:
        print(table(read_records(args.out)))


if __name__ == "__main__":
    main()
