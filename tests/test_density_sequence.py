"""architecture="conv" and "transformer": causal by gradients, normalised, consistent, and
cached sampling identical to naive recomputation."""

import pickle

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid

from skarm import AutoregressiveDensityEstimator, load
from skarm.nn import CausalConv1D, CausalTransformer

from helpers import all_states, assert_cached_equals_naive, correlated_codes, mixed_columns

ARCHS = ["conv", "transformer"]


def fast(arch, **kw):
    return (
        dict(architecture=arch, hidden_layer_sizes=(8, 8), max_iter=10, dropout=0.1, random_state=0)
        | kw
    )


@pytest.mark.parametrize("cls", [CausalConv1D, CausalTransformer])
@pytest.mark.parametrize("n_members", [1, 2])
def test_masks_verified_by_gradients(cls, n_members):
    """Output units of degree d have zero gradient with respect to every input unit of
    degree >= d, and a non-zero one with respect to some earlier unit."""
    torch.manual_seed(0)
    in_deg = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 6])  # positions with 1-3 channels
    out_deg = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 5, 0])
    net = cls(in_deg, out_deg, hidden_sizes=[8, 8], n_members=n_members).double()
    x = torch.randn(3, len(in_deg), dtype=torch.float64, requires_grad=True)
    out = net(x)
    assert out.shape == (n_members, 3, len(out_deg))
    for u in range(len(out_deg)):
        (grad,) = torch.autograd.grad(out[:, :, u].sum(), x, retain_graph=True)
        seen = grad.abs().sum(dim=0) > 0
        assert not seen[in_deg >= out_deg[u]].any()
        if out_deg[u] > 0:
            assert seen[in_deg < out_deg[u]].any()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("ensemble_size", [1, 2])
@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
def test_probabilities_of_all_states_sum_to_one(arch, ensemble_size, encoding):
    X = correlated_codes(n_features=4)
    est = AutoregressiveDensityEstimator(
        ensemble_size=ensemble_size, categorical_encoding=encoding, order="random", **fast(arch)
    ).fit(X)
    total = np.exp(est.score_samples(all_states([3] * 4))).sum()
    assert abs(total - 1.0) < 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_samples_follow_the_models_own_pmf_and_cached_equals_naive(arch):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(ensemble_size=2, **fast(arch)).fit(X)
    pmf = np.exp(est.score_samples(all_states([3, 3, 3])))
    S = est.sample(40_000, random_state=1)
    empirical = np.bincount((S @ np.array([9, 3, 1])).astype(int), minlength=27) / len(S)
    assert 0.5 * np.abs(empirical - pmf).sum() < 0.02
    torch.manual_seed(3)
    cached = est.module_.sample(5000)
    torch.manual_seed(3)
    naive = est.module_.sample(5000, cache=False)
    assert torch.equal(cached, naive)


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_sampling_equals_naive_on_mixed_columns_with_atoms_and_a_prefix(arch):
    """Categorical, continuous (with atoms: a column-dependent input code) and Bernoulli
    columns in a random order; full draws and prefix continuations."""
    X = mixed_columns()
    kinds = ["categorical", "mixture", "mixture", "bernoulli"]
    est = AutoregressiveDensityEstimator(
        distribution=kinds, order="random", atoms="auto", **fast(arch)
    ).fit(X)
    assert est.coder_.internal_atoms([1])[0].size == 3  # the settings are atoms
    assert_cached_equals_naive(est, X[:300])
    draws = est.sample(500, random_state=0)
    assert np.isfinite(est.score_samples(draws)).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_two_dimensional_density_integrates_to_one(arch):
    rng = np.random.RandomState(0)
    x0 = rng.normal(0.0, 1.0, 500)
    X = np.column_stack([x0, np.sin(2 * x0) + 0.3 * rng.randn(500)])
    est = AutoregressiveDensityEstimator(**fast(arch, max_iter=30)).fit(X)
    g0, g1 = np.linspace(-7.0, 7.0, 401), np.linspace(-5.0, 5.0, 401)
    A, B = np.meshgrid(g0, g1, indexing="ij")
    density = np.exp(est.score_samples(np.column_stack([A.ravel(), B.ravel()]))).reshape(A.shape)
    assert trapezoid(trapezoid(density, g1, axis=1), g0) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("arch", ARCHS)
def test_dependence_is_learned_and_the_model_survives_pickle_and_save(arch, tmp_path):
    X = correlated_codes(n=3000, n_features=6)
    est = AutoregressiveDensityEstimator(
        **fast(arch, hidden_layer_sizes=(16, 16), max_iter=40, ensemble_size=1)
    ).fit(X[:2000])
    freq = [np.bincount(X[:2000, j], minlength=3) / 2000 for j in range(6)]
    independent = np.mean(sum(np.log(freq[j][X[2000:, j]]) for j in range(6)))
    assert est.score(X[2000:]) > independent + 1.0
    ref = est.score_samples(X[2000:]), est.sample(50, random_state=0)
    for other in (pickle.loads(pickle.dumps(est)), load(_saved(est, tmp_path))):
        np.testing.assert_allclose(other.score_samples(X[2000:]), ref[0], rtol=1e-12)
        np.testing.assert_array_equal(other.sample(50, random_state=0), ref[1])


def _saved(est, tmp_path):
    path = tmp_path / "model.skarm"
    est.save(path)
    return path


@pytest.mark.parametrize("arch", ARCHS)
def test_ensemble_orders_and_uneven_transformer_widths_are_clear_errors(arch):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(order="ensemble", ensemble_size=2, **fast(arch))
    with pytest.raises(ValueError, match="order='ensemble' needs architecture='made'"):
        est.fit(X)
    assert not hasattr(est, "module_")
    if arch == "transformer":
        with pytest.raises(ValueError, match="one repeated width"):
            AutoregressiveDensityEstimator(**fast(arch, hidden_layer_sizes=(8, 16))).fit(X)


def test_conv_receptive_field_follows_the_dilations():
    torch.manual_seed(0)  # before the weights: a few draws leave the head's ReLUs all dead
    net = CausalConv1D(range(100), range(100), hidden_sizes=[4] * 6)
    assert net.receptive_field == 2 + (1 + 2 + 4 + 8 + 16 + 32)
    x = torch.randn(1, 100, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x)[0, 0, 99], x)
    seen = torch.nonzero(grad[0]).flatten()
    assert seen.min() == 99 - net.receptive_field and seen.max() == 98


def _with_random_direct_path(net, zero_branch=False):
    """Give every member's direct path random weights (zero at initialisation); with
    ``zero_branch`` also zero the convolutional branch's last layer, so that only the
    direct path and the head's bias remain."""
    with torch.no_grad():
        for member in net.nets:
            member.direct.weight.normal_()
            if zero_branch:
                member.head2.weight.zero_()
    return net


@pytest.mark.parametrize("n_members", [1, 2])
def test_conv_direct_path_is_causal_and_stepped_like_the_full_pass(n_members):
    torch.manual_seed(0)
    in_deg = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 6])
    out_deg = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 5, 0])
    net = CausalConv1D(in_deg, out_deg, hidden_sizes=[8, 8], n_members=n_members).double()
    _with_random_direct_path(net, zero_branch=True)
    x = torch.randn(3, len(in_deg), dtype=torch.float64, requires_grad=True)
    out = net(x)
    for u in range(len(out_deg)):
        (grad,) = torch.autograd.grad(out[:, :, u].sum(), x, retain_graph=True)
        seen = grad.abs().sum(dim=0) > 0
        assert not seen[in_deg >= out_deg[u]].any()
        # The direct path alone reads every unit of the receptive field.
        reach = (in_deg < out_deg[u]) & (in_deg >= out_deg[u] - net.receptive_field)
        assert torch.equal(seen, reach)
    # Incremental generation: the direct path's ring gives the full pass's outputs.
    net = _with_random_direct_path(
        CausalConv1D(range(12), range(12), hidden_sizes=[8, 8, 8], n_members=n_members).double()
    )
    x = torch.randn(4, 12, dtype=torch.float64)
    full = net(x)
    cache = net.init_cache(4, x)
    for p in range(12):
        step = net.step(cache, None if p == 0 else x[:, p - 1 : p], p)
        torch.testing.assert_close(step[:, :, 0], full[:, :, p], rtol=1e-12, atol=1e-12)


def test_conv_direct_path_gain_scales_its_coefficients_not_its_prior():
    """The direct path computes with ``direct_gain`` times its stored weights (a faster
    Adam in the coefficients); the prior reads the stored weights, as for any layer."""
    from skarm._engine import _penalised_weights

    torch.manual_seed(0)
    nets = [
        CausalConv1D(range(6), range(6), hidden_sizes=[4], direct_gain=g, direct_gain_decay=0)
        for g in (1, 20)
    ]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(3, 6)
    for net in nets:
        with torch.no_grad():
            net.nets[0].direct.weight.fill_(0.01)
            net.nets[0].head2.weight.zero_()
    direct = [net.nets[0].direct for net in nets]
    torch.testing.assert_close(direct[1].coefficients(), 20 * direct[1].weight)
    torch.testing.assert_close(nets[1](x) - nets[1](x * 0), 20 * (nets[0](x) - nets[0](x * 0)))
    assert any(w is direct[1].weight for w in _penalised_weights(nets[1]))
    assert direct[1] in nets[1].output_layers()
    # One Adam step from zero moves the coefficients by about lr * gain.
    for net in nets:
        with torch.no_grad():
            net.nets[0].direct.weight.zero_()
    moved = []
    for net in nets:
        opt = torch.optim.Adam([net.nets[0].direct.weight], lr=1e-3)
        (net(x) * torch.randn(1, 3, 6, generator=torch.Generator().manual_seed(1))).sum().backward()
        opt.step()
        moved.append(net.nets[0].direct.coefficients().abs().max().item())
    assert moved[0] == pytest.approx(1e-3, rel=1e-3) and moved[1] == pytest.approx(2e-2, rel=1e-3)
    # With a decay, lag j (the last tap is lag 1) gets gain / j**decay.
    net = CausalConv1D(range(6), range(6), hidden_sizes=[4], direct_gain=3, direct_gain_decay=1)
    lags = torch.arange(net.nets[0].direct.kernel_size[0], 0, -1)
    torch.testing.assert_close(net.nets[0].direct.lag_gains, 3 / lags.float())
    with pytest.raises(ValueError, match="direct_gain"):
        CausalConv1D(range(6), range(6), hidden_sizes=[4], direct_gain=0)


def test_conv_with_its_branch_zeroed_is_a_gaussian_autoregression():
    """The direct path makes a Gaussian AR(p) with weights shared across positions a
    special case of architecture="conv" (distribution="normal"): with the convolutional
    branch zeroed, every conditional is N(c + sum_i phi_i z_{t-i}, sigma) in standardised
    units, the chain rule scored exactly by the estimator."""
    rng = np.random.RandomState(0)
    series = np.zeros(600)
    for t in range(2, 600):
        series[t] = 0.6 * series[t - 1] - 0.3 * series[t - 2] + rng.randn()
    X = np.lib.stride_tricks.sliding_window_view(series, 10)
    est = AutoregressiveDensityEstimator(
        distribution="normal", ensemble_size=1, **fast("conv", max_iter=1)
    ).fit(X)
    member = est.module_.net.nets[0]
    c, phi, sigma = 0.1, np.array([0.5, -0.2, 0.05]), 0.7
    with torch.no_grad():
        member.head2.weight.zero_()
        member.head2.bias.copy_(torch.tensor([c, np.log(np.expm1(sigma - 1e-3))]))
        member.direct.weight.zero_()
        for i, weight in enumerate(phi, start=1):  # the last tap reads the previous value
            member.direct.weight[0, 0, -i] = weight / member.direct.gain  # stored: raw
    Z = est.coder_.transform(X).astype(np.float64)
    mean = np.full_like(Z, c)
    for i, weight in enumerate(phi, start=1):
        mean[:, i:] += weight * Z[:, :-i]
    expected = -0.5 * np.log(2 * np.pi * sigma**2) - 0.5 * ((Z - mean) / sigma) ** 2
    expected -= np.log(est.coder_.scale)  # from standardised to the data's units
    np.testing.assert_allclose(est.conditional_log_likelihood(X), expected, rtol=1e-5, atol=1e-5)
