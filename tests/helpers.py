"""Data shared by the tests: small discrete spaces with real dependence."""

import itertools

import numpy as np


def correlated_codes(n=600, n_features=3, n_levels=3, seed=0):
    """Discrete data with real dependence between columns."""
    rng = np.random.RandomState(seed)
    X = np.empty((n, n_features), dtype=np.int64)
    X[:, 0] = rng.randint(0, n_levels, n)
    for j in range(1, n_features):
        noise = rng.randint(0, n_levels, n)
        X[:, j] = np.where(rng.rand(n) < 0.7, X[:, j - 1], noise)
    return X


def all_states(levels):
    return np.array(list(itertools.product(*[range(k) for k in levels])), dtype=float)
