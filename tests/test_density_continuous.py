"""Continuous (Gaussian) conditionals: units, log-Jacobian and normalisation."""

import numpy as np
import pytest
from scipy.integrate import trapezoid

from skarm import AutoregressiveDensityEstimator

FAST = dict(max_iter=20, hidden_layer_sizes=(16,), random_state=0)


def correlated_gaussian(n=500, seed=0):
    rng = np.random.RandomState(seed)
    x0 = rng.normal(3.0, 2.0, n)
    x1 = 0.8 * x0 + rng.normal(0.0, 0.5, n)
    return np.column_stack([x0, x1])


@pytest.mark.parametrize("a", [10.0, 0.01])
def test_rescaling_adds_exactly_the_log_jacobian(a):
    X = correlated_gaussian()
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    scaled = AutoregressiveDensityEstimator(**FAST).fit(a * X)
    assert est.distributions_ == ["normal", "normal"]
    expected = est.score(X) - X.shape[1] * np.log(abs(a))
    assert scaled.score(a * X) == pytest.approx(expected, abs=1e-4)


def test_one_dimensional_density_integrates_to_one():
    X = correlated_gaussian()[:, :1]
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    grid = np.linspace(X.min() - 10, X.max() + 10, 20001)[:, None]
    assert trapezoid(np.exp(est.score_samples(grid)), grid[:, 0]) == pytest.approx(1.0, abs=1e-3)


def test_mixed_discrete_and_continuous_sums_and_integrates_to_one():
    rng = np.random.RandomState(0)
    b = rng.randint(0, 2, 400)
    X = np.column_stack([b, rng.normal(2.0 * b, 1.0)])
    est = AutoregressiveDensityEstimator(distribution=["bernoulli", "normal"], **FAST).fit(X)
    grid = np.linspace(-12, 14, 20001)
    total = 0.0
    for value in (0, 1):
        rows = np.column_stack([np.full_like(grid, value), grid])
        total += trapezoid(np.exp(est.score_samples(rows)), grid)
    assert total == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(
        est.conditional_log_likelihood(X).sum(axis=1), est.score_samples(X), rtol=1e-10
    )


def test_auto_typing_and_continuous_samples():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randint(0, 4, 300), rng.normal(size=300), rng.randint(0, 300, 300)])
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    assert est.distributions_ == ["categorical", "normal", "normal"]
    S = est.sample(2000, random_state=0)
    assert np.all(np.isin(S[:, 0], [0, 1, 2, 3]))
    assert abs(S[:, 1].mean()) < 0.3 and 0.6 < S[:, 1].std() < 1.4
