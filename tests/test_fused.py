"""The fused pool kernel: same values and gradients as the plain expression (logsumexp's
own test is in test_nn.py)."""

import math

import pytest
import torch

from skarm._fused import pool_log_density


def _plain_pool(x, centre, width, scale, loc, log_count, valid):
    log_q = log_count - 0.5 * ((loc - centre) / width).square()
    log_q = log_q.masked_fill(valid == 0, -math.inf)
    log_p = log_q - 0.5 * ((x - loc) / scale).square()
    return torch.logsumexp(log_p, -1, keepdim=True) - torch.logsumexp(log_q, -1, keepdim=True)


def _pool_inputs(seed, m=2, n=7, c=3, n_atoms=9):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    x = torch.randn(n, c, 1, generator=gen, dtype=torch.float64)
    centre = torch.randn(m, n, c, 1, generator=gen, dtype=torch.float64).requires_grad_()
    width = (rand(m, n, c, 1) + 0.3).requires_grad_()
    scale = (rand(m, n, c, 1) + 0.05).requires_grad_()
    loc = torch.randn(c, n_atoms, generator=gen, dtype=torch.float64)
    log_count = torch.log1p(10 * rand(c, n_atoms))
    valid = torch.ones(c, n_atoms, dtype=torch.float64)
    valid[1, 5:] = 0  # a column with padding slots
    log_count[1, 5:] = -1e30
    return x, centre, width, scale, loc, log_count, valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pool_kernel_matches_the_plain_expression_in_value_and_gradient(seed):
    x, centre, width, scale, loc, log_count, valid = _pool_inputs(seed)
    fused = pool_log_density(x, centre, width, scale, loc, log_count, valid)
    plain = _plain_pool(x, centre, width, scale, loc, log_count, valid)
    torch.testing.assert_close(fused, plain, rtol=0, atol=1e-12)
    g_fused = torch.autograd.grad(fused.sum(), (centre, width, scale))
    g_plain = torch.autograd.grad(plain.sum(), (centre, width, scale))
    for a, b in zip(g_fused, g_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda c, w, s: pool_log_density(x, c, w, s, loc, log_count, valid),
        (centre, width, scale),
    )


def test_pool_kernel_refuses_a_gradient_in_x():
    x, centre, width, scale, loc, log_count, valid = _pool_inputs(0)
    with pytest.raises(ValueError, match="with respect to x"):
        pool_log_density(x.requires_grad_(), centre, width, scale, loc, log_count, valid)
