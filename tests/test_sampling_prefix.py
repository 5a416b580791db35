"""Prefix continuation: sample(n, prefix=...) draws from the model's own conditional."""

import numpy as np
import pytest
from scipy.integrate import trapezoid

from skarm import AutoregressiveDensityEstimator

from helpers import all_states, correlated_codes

FAST = dict(hidden_layer_sizes=(16,), max_iter=30, random_state=0)


@pytest.mark.parametrize("order", [None, [2, 0, 1]])
def test_discrete_continuations_follow_the_enumerated_conditional(order):
    X = correlated_codes(n=600, n_features=3, n_levels=3)
    est = AutoregressiveDensityEstimator(order=order, **FAST).fit(X)
    first = est.order_[0]  # the prefix is the first variable in the model's order
    S = est.sample(20000, random_state=0, prefix=[2])
    assert S.shape == (20000, 3) and (S[:, first] == 2).all()
    states = all_states([3, 3, 3])
    states = states[states[:, first] == 2]
    exact = np.exp(est.score_samples(states))
    exact /= exact.sum()  # p(rest | prefix) by enumeration
    empirical = np.array([np.mean((S == s).all(axis=1)) for s in states])
    assert 0.5 * np.abs(exact - empirical).sum() < 0.02


def test_continuous_continuations_match_the_conditional_by_quadrature():
    rng = np.random.RandomState(0)
    x0 = rng.normal(3.0, 2.0, 800)
    X = np.column_stack([x0, 0.8 * x0 + rng.normal(0.0, 0.5, 800)])
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    S = est.sample(5000, random_state=1, prefix=[[1.5], [6.0]])
    assert S.shape == (10000, 2)
    np.testing.assert_array_equal(S[:5000, 0], 1.5)  # given values come back exactly
    np.testing.assert_array_equal(S[5000:, 0], 6.0)
    for value, draws in ((1.5, S[:5000, 1]), (6.0, S[5000:, 1])):
        grid = np.linspace(-10, 15, 20001)
        density = np.exp(est.score_samples(np.column_stack([np.full_like(grid, value), grid])))
        mean = trapezoid(grid * density, grid) / trapezoid(density, grid)
        assert abs(draws.mean() - mean) < 4 * draws.std() / np.sqrt(len(draws))
    np.testing.assert_array_equal(
        est.sample(7, random_state=3, prefix=[1.5]), est.sample(7, random_state=3, prefix=[1.5])
    )


def test_dequantized_prefix_stays_integer():
    X = correlated_codes(n=400, n_features=3, n_levels=4)
    est = AutoregressiveDensityEstimator(dequantize=True, **FAST).fit(X)
    S = est.sample(50, random_state=0, prefix=[[3, 1]])
    assert (S[:, :2] == [3, 1]).all() and (S == np.floor(S)).all()


def test_bad_prefixes_are_clear_errors():
    X = correlated_codes(n=300, n_features=3, n_levels=3)
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    for bad in ([], [0, 1, 2], [[0.0, 1.0, 2.0, 0.0]]):
        with pytest.raises(ValueError, match="first k of the 3 variables"):
            est.sample(2, prefix=bad)
    with pytest.raises(ValueError, match="no rows"):
        est.sample(2, prefix=np.zeros((0, 1)))
    with pytest.raises(ValueError, match="outside the support"):
        est.sample(2, prefix=[7])
    with pytest.raises(ValueError, match="NaN"):
        est.sample(2, prefix=[np.nan])
    ensemble = AutoregressiveDensityEstimator(order="ensemble", **FAST).fit(X)
    with pytest.raises(ValueError, match="one variable order"):
        ensemble.sample(2, prefix=[1])
