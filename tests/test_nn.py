"""Torch layer: masks respect the order (checked by gradients), heads, prior penalty."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skarm._engine import prior_penalty
from skarm.heads import MixtureHead, logsumexp, make_head
from skarm.nn import MADE, AutoregressiveModel, PixelCNN, make_net_factory


@pytest.mark.parametrize("hidden", [(), (32,), (32, 16)])
@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
def test_output_depends_only_on_earlier_columns(hidden, encoding):
    """d log p(x_j | x_<j) / d input of column i is zero unless i comes before j."""
    torch.manual_seed(0)
    order = [3, 0, 4, 1, 2]
    heads = [
        (make_head("categorical", [4, 4, 4], encoding), [0, 2, 4]),
        (make_head("normal", [0, 0]), [1, 3]),
    ]
    model = AutoregressiveModel(
        heads, order, make_net_factory("made", hidden_sizes=hidden, n_members=2)
    )
    position = np.argsort(order)
    x = torch.tensor([[1.0, 0.3, 2.0, -0.5, 3.0]])
    for j in range(5):
        # Gradients of column j's output units with respect to every encoded input unit.
        encoded = torch.cat(
            [
                h.encode(x[:, cols]).reshape(1, -1)
                for h, cols in ((model.heads[0], [0, 2, 4]), (model.heads[1], [1, 3]))
            ],
            dim=1,
        ).requires_grad_(True)
        out = model.net(encoded)
        # Output units of column j.
        group, k = (0, [0, 2, 4].index(j)) if j in (0, 2, 4) else (1, [1, 3].index(j))
        _, offset, _ = model._groups[group]
        n_params = model.heads[group].n_params
        units = slice(offset + k * n_params, offset + (k + 1) * n_params)
        (grad,) = torch.autograd.grad(out[..., units].sum(), encoded)
        # Input units of each column.
        columns = np.concatenate(
            [np.repeat([0, 2, 4], model.heads[0].n_inputs), np.repeat([1, 3], 1)]
        )
        assert len(columns) == grad.shape[1]
        for unit, col in enumerate(columns):
            if position[col] >= position[j]:
                assert grad[0, unit] == 0, (j, col)


def test_prior_penalty_matches_its_definition():
    torch.manual_seed(0)
    net = MADE([0, 1, 2], [0, 1, 2], hidden_sizes=[5])
    weights = [
        m.penalized_weight().detach() for m in net.modules() if hasattr(m, "penalized_weight")
    ]
    l2 = sum(float(w.square().sum()) for w in weights)
    l1 = sum(float(w.abs().sum()) for w in weights)
    alpha, r = 0.7, 0.25
    expected = alpha * ((1 - r) * 0.5 * l2 + r * l1)
    assert float(prior_penalty(net, alpha, r).detach()) == pytest.approx(expected, rel=1e-6)
    assert prior_penalty(net, 0.0, r) is None
    # Biases are not penalised; masked-out weights are not parameters.
    with torch.no_grad():
        net.output.bias.fill_(100.0)
        net.output.weight.masked_fill_(net.output.mask == 0, 100.0)
    assert float(prior_penalty(net, alpha, r).detach()) == pytest.approx(expected, rel=1e-6)


def test_l1_prior_drives_weights_toward_zero():
    from skarm import AutoregressiveDensityEstimator

    X = np.random.RandomState(0).randint(0, 3, size=(300, 4))
    kw = dict(architecture="linear", max_iter=40, random_state=0, learning_rate_init=1e-2)
    free = AutoregressiveDensityEstimator(alpha=0.0, **kw).fit(X)
    lasso = AutoregressiveDensityEstimator(alpha=30.0, l1_ratio=1.0, **kw).fit(X)
    size = lambda e: float(prior_penalty(e.module_, 1.0, 1.0))  # noqa: E731
    assert size(lasso) < 0.5 * size(free)


def test_made_rejects_empty_layers():
    with pytest.raises(ValueError, match="at least one"):
        MADE([], [0])


def test_ensemble_prior_is_each_members_own_prior():
    """An ensemble's objective is the mean of its members' MAP objectives."""
    torch.manual_seed(0)
    factory = make_net_factory("made", hidden_sizes=(6,), n_members=3)
    heads = [(make_head("categorical", [3, 3, 3]), [0, 1, 2])]
    model = AutoregressiveModel(heads, [0, 1, 2], factory)
    per_member = [
        sum(
            float(m.penalized_weight()[k].detach().square().sum())
            for m in model.modules()
            if hasattr(m, "penalized_weight")
        )
        for k in range(3)
    ]
    expected = np.mean([0.5 * 2.0 * p for p in per_member])
    assert float(prior_penalty(model, 2.0, 0.0).detach()) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("image_shape", [(3, 4), (1, 5), (4, 1)])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_pixelcnn_output_depends_only_on_earlier_pixels(image_shape, kernel_size):
    """Gradient check: pixel p's outputs ignore inputs of pixels >= p (raster order), and see
    every earlier pixel when the receptive field covers the image (no blind spot)."""
    torch.manual_seed(0)
    n = image_shape[0] * image_shape[1]
    # Two input channels and three outputs per pixel, as a one-hot or mixed head would give.
    in_deg, out_deg = np.repeat(np.arange(n), 2), np.repeat(np.arange(n), 3)
    net = PixelCNN(
        in_deg, out_deg, image_shape, hidden_sizes=(8,) * 6, kernel_size=kernel_size, n_members=2
    )
    x = torch.randn(1, 2 * n, requires_grad=True)
    out = net(x)
    for p in range(n):
        (grad,) = torch.autograd.grad(out[..., out_deg == p].sum(), x, retain_graph=True)
        seen = grad[0].abs().reshape(n, 2).sum(dim=1) > 0
        assert not seen[p:].any(), p
        assert seen[:p].all(), p  # 6 layers cover these small images: no blind spot


def test_pixelcnn_pads_pixels_with_fewer_channels():
    """Mixed heads give pixels different numbers of input units; outputs keep their units."""
    in_deg = [0, 0, 1, 2, 2, 3]
    out_deg = [0, 1, 1, 2, 3, 3, 3]
    net = PixelCNN(in_deg, out_deg, (2, 2), hidden_sizes=(4, 4))
    assert net(torch.zeros(5, 6)).shape == (1, 5, 7)


@pytest.mark.parametrize(
    "in_deg, shape, match",
    [([0, 1, 4], (2, 2), "degrees must lie"), ([[0, 1]], (1, 2), "one row")],
)
def test_pixelcnn_rejects_bad_degrees(in_deg, shape, match):
    with pytest.raises(ValueError, match=match):
        PixelCNN(in_deg, [0, 1], shape)


def test_dropout_matches_inverted_dropout_in_expectation_and_is_identity_in_eval():
    from skarm.nn.made import Dropout

    torch.manual_seed(0)
    layer = Dropout(0.3)
    x = torch.ones(200_000)
    out = layer.train()(x)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.005
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.01
    assert torch.equal(layer.eval()(x), x)
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False),
            st.just(-np.inf),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_logsumexp_matches_torch_to_float_precision(values):
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ours = logsumexp(x)
    ref = torch.logsumexp(x, dim=-1, keepdim=True)
    if np.isneginf(values).all():
        assert torch.isneginf(ours).all()
        return
    assert torch.allclose(ours, ref, rtol=1e-12, atol=1e-12)
    (g,) = torch.autograd.grad(ours.sum(), x)
    (g_ref,) = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(g, g_ref, atol=1e-12)


@pytest.mark.parametrize("with_atoms", [False, True])
def test_mixture_log_prob_equals_its_distribution_log_prob(with_atoms):
    """The fused log-density and its gradient are those of the MixtureSameFamily that
    ``distribution`` builds (and samples from), including padding and columns without
    atoms or pool."""
    rng = np.random.RandomState(0)
    atoms = pool = None
    if with_atoms:
        atoms = [[0.1, 0.5], [], [0.2]]
        pool = [
            (np.sort(rng.randn(40)), rng.randint(5, 30, 40)),
            (np.empty(0), np.empty(0)),
            (np.sort(rng.randn(3)), [5, 6, 7]),
        ]
    head = MixtureHead(3, 4, atoms=atoms, pool=pool).double()
    gen = torch.Generator().manual_seed(0)
    params = torch.randn(2, 64, 3, head.n_params, dtype=torch.float64, generator=gen)
    params = (3 * params).requires_grad_()
    x = 2 * torch.randn(64, 3, dtype=torch.float64, generator=gen)
    if with_atoms:  # some values sit exactly on atoms, where the peaks dominate
        x[:20, 0] = head.pool_loc[0, :20].double()
        x[20:25, 2] = 0.2
    ours = head.log_prob(params, x)
    ref = head.distribution(params).log_prob(x)
    assert ours.shape == ref.shape == (2, 64, 3)
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)
    (g,) = torch.autograd.grad(ours.sum(), params)
    (g_ref,) = torch.autograd.grad(ref.sum(), params)
    assert torch.allclose(g, g_ref, atol=1e-9)


def test_atom_code_reads_a_value_on_an_atom_alike_in_float32_and_float64():
    """Training encodes in float32, CPU scoring in float64: a value on an atom must get the
    same code (the window of atoms around it is found in the atoms' own precision)."""
    rng = np.random.RandomState(0)
    values = np.sort(rng.uniform(-3, 3, 200)) / 7.3
    head = MixtureHead(1, 3, pool=[(values, np.full(200, 6))])
    x64 = torch.as_tensor(values[:, None], dtype=torch.float64)
    code32 = head.float().encode(x64.float())
    code64 = head.double().encode(x64)
    assert code32.shape == (200, 1, 1 + MixtureHead.n_atom_code)
    assert torch.allclose(code64.float(), code32, atol=1e-5)
