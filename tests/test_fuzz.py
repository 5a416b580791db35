"""Property-based fuzzing of every estimator: random shapes, dtypes and values either fit
or raise a clear ValueError; finite input never gives NaN scores; scores do not depend on
row order."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skarm import (
    AutoregressiveDensityEstimator,
    AutoregressiveOutlierDetector,
    ConditionalNLLRegressor,
)

TINY = dict(max_iter=2, hidden_layer_sizes=(4,), ensemble_size=1, random_state=0)
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def tables(draw):
    """Tables of 2-25 rows and 1-4 columns: reals over many scales, integers, repeats."""
    n = draw(st.integers(2, 25))
    d = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["float", "int", "repeats"]))
    if kind == "int":
        return draw(arrays(np.int64, (n, d), elements=st.integers(0, 300)))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e6]))
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    X = draw(arrays(np.float64, (n, d), elements=values)) * scale
    if kind == "repeats":
        X = np.round(X / scale) * scale
    return X.astype(draw(st.sampled_from([np.float64, np.float32])))


def _fit_or_clear_error(est, *data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return est.fit(*data)
        except ValueError as exc:
            assert str(exc) and "Traceback" not in str(exc)
            return None


@pytest.mark.parametrize("cls", [AutoregressiveDensityEstimator, AutoregressiveOutlierDetector])
@FUZZ
@given(X=tables(), seed=st.integers(0, 2**16))
def test_density_models_fit_or_raise_and_never_score_nan(cls, X, seed):
    original = X.copy()
    est = _fit_or_clear_error(cls(**TINY), X)
    np.testing.assert_array_equal(X, original)  # the input is never modified
    if est is None:
        return
    scores = est.score_samples(X)
    assert scores.dtype == np.float64 and not np.isnan(scores).any()
    assert np.isfinite(scores).all()  # training rows are inside the support
    perm = np.random.RandomState(seed).permutation(len(X))
    np.testing.assert_allclose(est.score_samples(X[perm]), scores[perm], rtol=1e-9, atol=1e-9)
    one_by_one = np.concatenate([est.score_samples(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, scores, rtol=1e-9, atol=1e-9)


@FUZZ
@given(X=tables(), y_scale=st.sampled_from([1e-6, 1.0, 1e6]), seed=st.integers(0, 2**16))
def test_regressor_fits_or_raises_and_never_scores_nan(X, y_scale, seed):
    rng = np.random.RandomState(seed)
    y = (X.astype(np.float64).sum(axis=1) + rng.normal(size=len(X))) * y_scale
    est = _fit_or_clear_error(ConditionalNLLRegressor(**TINY), X, y)
    if est is None:
        return
    scores = est.score_samples(X, y)
    assert not np.isnan(scores).any() and not np.isnan(est.predict(X)).any()
    perm = rng.permutation(len(X))
    np.testing.assert_allclose(est.score_samples(X[perm], y[perm]), scores[perm], rtol=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "est",
    [
        AutoregressiveDensityEstimator(**TINY),
        AutoregressiveOutlierDetector(**TINY),
        ConditionalNLLRegressor(**TINY),
    ],
    ids=["density", "detector", "regressor"],
)
def test_non_finite_input_is_a_clear_error_at_fit_and_at_scoring(est, bad):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    X_bad = X.copy()
    X_bad[3, 1] = bad
    args = (y,) if isinstance(est, ConditionalNLLRegressor) else ()
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.fit(X_bad, *args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, *args)
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.score_samples(X_bad, *args)


@FUZZ
@given(batch=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_every_batched_method_is_invariant_to_eval_batch_size(fitted_trio, batch, seed):
    """Scores, conditionals, predictions and quantiles do not depend on the batch size;
    ``sample`` keeps its shape and support for any batch size."""
    density, detector, reg, X, y = fitted_trio
    for est in (density, detector):
        ref = est.score_samples(X), est.conditional_log_likelihood(X)
        est.set_params(eval_batch_size=batch)
        try:
            np.testing.assert_allclose(est.score_samples(X), ref[0], rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(
                est.conditional_log_likelihood(X), ref[1], rtol=1e-10, atol=1e-10
            )
            draws = est.sample(45, random_state=seed)
            assert draws.shape == (45, X.shape[1]) and np.isfinite(est.score_samples(draws)).all()
        finally:
            est.set_params(eval_batch_size=2048)
    ref = reg.score_samples(X, y), reg.predict(X, return_std=True), reg.predict_quantiles(X, 0.9)
    reg.set_params(eval_batch_size=batch)
    try:
        np.testing.assert_allclose(reg.score_samples(X, y), ref[0], rtol=1e-10, atol=1e-10)
        for got, want in zip(reg.predict(X, return_std=True), ref[1], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(reg.predict_quantiles(X, 0.9), ref[2], rtol=1e-8)
        assert reg.sample(X, 3, random_state=seed).shape == (3, len(X))
    finally:
        reg.set_params(eval_batch_size=2048)


@pytest.fixture(scope="module")
def fitted_trio():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=60), rng.randint(0, 3, 60), rng.gamma(2.0, size=60)])
    y = X[:, 0] - X[:, 2] + rng.normal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            AutoregressiveDensityEstimator(**{**TINY, "ensemble_size": 2}).fit(X),
            AutoregressiveOutlierDetector(**TINY).fit(X),
            ConditionalNLLRegressor(**{**TINY, "distribution": "mixture"}).fit(X, y),
            X,
            y,
        )
