"""AutoregressiveDensityEstimator with architecture="pixelcnn": normalised, consistent, checked,
and cached sampling identical to naive recomputation."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skarm import AutoregressiveDensityEstimator
from skarm.nn import PixelCNN

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


@pytest.mark.parametrize("image_shape", [(3, 5), (1, 4), (4, 1)])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_cached_steps_equal_the_full_forward_at_every_pixel(image_shape, kernel_size):
    """Random weights and inputs, two members, pixels with one or two input channels and
    three outputs: step ``p`` gives the full pass's outputs of degree ``p``, channel by
    channel (and never reads the pixels it has not been given)."""
    torch.manual_seed(0)
    n_pixels = image_shape[0] * image_shape[1]
    in_deg = torch.arange(n_pixels).repeat_interleave(2)
    in_deg = in_deg[(in_deg % 3 != 1) | (torch.arange(len(in_deg)) % 2 == 0)]
    out_deg = torch.arange(n_pixels).repeat_interleave(3)
    net = (
        PixelCNN(
            in_deg,
            out_deg,
            image_shape,
            hidden_sizes=(6, 6, 5, 5),
            kernel_size=kernel_size,
            n_members=2,
        )
        .double()
        .eval()
    )
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.5)
    x = torch.randn(4, len(in_deg), dtype=torch.float64)
    full = net(x)
    cache = net.init_cache(4, x)
    for p in range(n_pixels):
        previous = None if p == 0 else x[:, in_deg == p - 1]
        out = net.step(cache, previous, p)
        assert out.shape == (2, 4, 3)
        torch.testing.assert_close(out, full[:, :, out_deg == p], rtol=1e-6, atol=1e-6)


def _cached_and_naive(module, x0, start, seed=7):
    """Continuations of ``x0`` after ``start`` drawn with and without the cache, same seed."""
    torch.manual_seed(seed)
    cached = module.sample(len(x0), x=x0, start=start)
    torch.manual_seed(seed)
    return cached, module.sample(len(x0), x=x0, start=start, cache=False)


def test_samples_of_the_cache_equal_naive_recomputation():
    X = correlated_codes(n=600, n_features=12)
    est = AutoregressiveDensityEstimator(
        image_shape=(3, 4), ensemble_size=2, dropout=0.1, **{**FAST, "max_iter": 5}
    ).fit(X)
    module = est.module_
    torch.manual_seed(3)
    cached = module.sample(3000)
    torch.manual_seed(3)
    naive = module.sample(3000, cache=False)
    assert torch.equal(cached, naive)
    x0 = torch.as_tensor(est.coder_.transform(X[:300]), dtype=cached.dtype)
    for start in (1, 5, 11):
        cached, naive = _cached_and_naive(module, x0, start)
        assert torch.equal(cached, naive)
        assert torch.equal(cached[:, :start], x0[:, :start])
    draws = est.sample(50, random_state=0, prefix=X[:2, :4])
    assert draws.shape == (100, 12)
    np.testing.assert_array_equal(draws[:, :4], np.repeat(X[:2, :4], 50, axis=0))
    assert np.isfinite(est.score_samples(draws)).all()


def test_cached_sampling_equals_naive_on_mixed_pixels_with_a_prefix():
    """Categorical and continuous ("mixture") pixels: different channel counts per pixel."""
    rng = np.random.RandomState(0)
    X = correlated_codes(n=400, n_features=6).astype(float)
    X[:, 3] = X[:, 2] + 0.3 * rng.randn(len(X))
    X[:, 5] = X[:, 3] - X[:, 4] + 0.3 * rng.randn(len(X))
    est = AutoregressiveDensityEstimator(
        image_shape=(2, 3), categorical_encoding="onehot", **FAST
    ).fit(X)
    assert est.distributions_[3] == est.distributions_[5] == "mixture"
    module = est.module_
    continuous = torch.as_tensor(est.coder_.continuous)
    x0 = torch.as_tensor(est.coder_.transform(X[:300]), dtype=torch.float64)
    for start in (0, 2, 4):
        cached, naive = _cached_and_naive(module, x0, start)
        assert torch.equal(cached[:, ~continuous], naive[:, ~continuous])
        torch.testing.assert_close(cached, naive, rtol=1e-9, atol=1e-9)
    draws = est.sample(200, random_state=0)
    assert np.isfinite(est.score_samples(draws)).all()
