"""AutoregressiveDensityEstimator with architecture="pixelcnn": normalised, consistent, checked."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from skarm import AutoregressiveDensityEstimator

from helpers import all_states, correlated_codes

FAST = dict(architecture="pixelcnn", hidden_layer_sizes=(8, 8), max_iter=10, random_state=0)


@pytest.mark.parametrize("image_shape", [None, (2, 2), (1, 4), (4, 1)])
@pytest.mark.parametrize("ensemble_size", [1, 2])
@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
def test_probabilities_of_all_states_sum_to_one(image_shape, ensemble_size, encoding):
    X = correlated_codes(n_features=4)
    est = AutoregressiveDensityEstimator(
        image_shape=image_shape,
        ensemble_size=ensemble_size,
        categorical_encoding=encoding,
        **FAST,
    ).fit(X)
    total = np.exp(est.score_samples(all_states([3] * 4))).sum()
    assert abs(total - 1.0) < 1e-6


def test_samples_follow_the_models_own_pmf():
    X = correlated_codes()  # 3 columns: a 1 x 3 image
    est = AutoregressiveDensityEstimator(ensemble_size=2, **FAST).fit(X)
    pmf = np.exp(est.score_samples(all_states([3, 3, 3])))
    S = est.sample(40_000, random_state=1)
    codes = (S @ np.array([9, 3, 1])).astype(int)
    empirical = np.bincount(codes, minlength=27) / len(S)
    assert 0.5 * np.abs(empirical - pmf).sum() < 0.02


def test_conditionals_sum_to_score_samples_and_the_dependence_is_learned():
    X = correlated_codes(n=3000, n_features=4)
    est = AutoregressiveDensityEstimator(
        architecture="pixelcnn", hidden_layer_sizes=(16,) * 3, max_iter=40, random_state=0
    ).fit(X[:2000])
    cll = est.conditional_log_likelihood(X[2000:])
    np.testing.assert_allclose(cll.sum(axis=1), est.score_samples(X[2000:]), rtol=1e-10)
    freq = [np.bincount(X[:2000, j], minlength=3) / 2000 for j in range(4)]
    independent = np.mean(sum(np.log(freq[j][X[2000:, j]]) for j in range(4)))
    assert est.score(X[2000:]) > independent + 0.5


def test_mixed_columns_and_refit_and_pickle():
    """Categorical and Gaussian pixels (different channel counts) in one image."""
    rng = np.random.RandomState(0)
    X = correlated_codes(n=400, n_features=4).astype(float)
    X[:, 3] = X[:, 2] + 0.3 * rng.randn(len(X))
    est = AutoregressiveDensityEstimator(categorical_encoding="onehot", **FAST).fit(X)
    assert est.distributions_ == ["categorical"] * 3 + ["mixture"]
    cll = est.conditional_log_likelihood(X)
    np.testing.assert_allclose(cll.sum(axis=1), est.score_samples(X), rtol=1e-10)
    again = clone(est).fit(X)
    np.testing.assert_array_equal(est.score_samples(X), again.score_samples(X))
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.score_samples(X), loaded.score_samples(X))
    np.testing.assert_array_equal(est.sample(7, random_state=2), loaded.sample(7, random_state=2))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(order=[1, 0, 2, 3]), "raster order"),
        (dict(order="random"), "raster order"),
        (dict(image_shape=(3, 2)), "height \\* width == n_features = 4"),
        (dict(image_shape=(2, 2, 1)), "image_shape must be"),
        (dict(hidden_layer_sizes=(8, 0)), "positive integers"),
        (dict(hidden_layer_sizes=()), "positive integers"),
    ],
)
def test_configuration_errors_are_clear(params, message):
    X = correlated_codes(n_features=4)
    est = AutoregressiveDensityEstimator(**{**FAST, **params})
    with pytest.raises(ValueError, match=message):
        est.fit(X)
    assert not hasattr(est, "module_")
