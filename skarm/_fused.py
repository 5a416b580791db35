"""Fused log-likelihood kernels with hand-written backward passes.

The mixture head's log-density is a few reductions over many components (hundreds of
pooled atoms per column). Written with plain tensor operations, autograd records every
elementwise step and replays each one backwards: a power-plant training step spent half
its time there. The two functions below compute the same values in a handful of passes
and store only what their gradients need (the softmax weights), with the gradients in
closed form. Both are checked against autograd on the plain expressions (``gradcheck``
in float64, tests/test_fused.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["EXP_FLOOR", "logsumexp", "pool_log_density"]

#: Exponents are clamped at this value below the largest term (exp(-80) is 1.8e-35 of it,
#: far below float64's resolution), so that ``exp`` never takes its slow underflow path.
EXP_FLOOR = -80.0
_LOG2_E = 1.0 / math.log(2.0)


def _softmax_terms(x: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``exp(x - peak)`` (clamped below at :data:`EXP_FLOOR`), its sum, ``peak`` and the
    raw maximum.

    On CPU, ``exp`` of an argument that underflows (a far component's log-density, a
    padding ``-inf``) takes a slow path, 10 to 15 times slower than in range; in a mixture
    with many atoms most terms underflow. Clamping keeps every argument in range: a term
    more than 80 nats below the largest counts as 80 nats below, a relative error of at
    most ``n_terms * 1.8e-35``. A non-finite maximum (all terms ``-inf``) gives the peak
    0; callers that need it use the raw maximum.
    """
    raw = x.amax(dim=dim, keepdim=True)
    peak = torch.where(torch.isfinite(raw), raw, torch.zeros_like(raw))
    # exp(v) as 2 ** (v log2 e): torch's float32 ``exp2`` kernel is 3 times faster than
    # its ``exp`` on CPU (an extra multiplication costs a tenth of that).
    terms = (x - peak).clamp_(min=EXP_FLOOR).mul_(_LOG2_E).exp2_()
    return terms, terms.sum(dim=dim, keepdim=True), peak, raw


class _LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:
        terms, total, peak, raw = _softmax_terms(x, dim)
        out = total.log().add_(peak)
        out = torch.where(torch.isfinite(raw), out, raw)  # -inf, +inf or NaN
        ctx.save_for_backward(terms, total)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        terms, total = ctx.saved_tensors
        return terms * (grad / total), None


def logsumexp(x: Tensor, dim: int = -1) -> Tensor:
    """``log sum exp(x)`` along ``dim`` (kept), as ``torch.logsumexp`` to float precision.

    Terms more than 80 nats below the largest count as 80 nats below (their share is
    below 1e-34; see :func:`_softmax_terms`: this made a power-plant training step twice
    as fast). Rows whose terms are all ``-inf`` give ``-inf``. The gradient is the
    softmax, from the exponentials kept by the forward pass (one multiplication).
    """
    return _LogSumExp.apply(x, dim)


def _pool_terms(x, centre, width, scale, loc, log_count):
    """``u_b - mu``, ``(x - u_b)^2``, ``log q_b`` (unnormalised window log-weights) and
    ``log q_b - (x - u_b)^2 / 2 s^2``, each ``(..., c, P)``."""
    d = loc - centre
    t = d / width
    log_q = torch.addcmul(log_count, t, t, value=-0.5)
    r2 = (x - loc).square_()
    return d, r2, log_q, torch.addcmul(log_q, r2, -0.5 / scale.square())


def _normalise(v: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Softmax weights of ``v`` over its last axis and its log-normaliser; padding slots
    (``valid == 0``) weigh exactly nothing."""
    terms, total, peak, _ = _softmax_terms(v, -1)
    if valid is not None:
        total = terms.mul_(valid).sum(-1, keepdim=True)
    return terms.div_(total), total.log_().add_(peak)


class _PoolLogDensity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, centre, width, scale, loc, log_count, valid):
        d, r2, log_q, log_p = _pool_terms(x, centre, width, scale, loc, log_count)
        q, log_q_norm = _normalise(log_q, valid)
        p, log_p_norm = _normalise(log_p, valid)
        ctx.save_for_backward(d, r2, q, p, width, scale)
        ctx.sizes = (centre.shape, width.shape, scale.shape)
        return log_p_norm - log_q_norm

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        d, r2, q, p, width, scale = ctx.saved_tensors
        # d out / d log q_b = p_b - q_b; d log q_b / d mu = (u_b - mu) / w^2 and
        # d log q_b / d w = (u_b - mu)^2 / w^3; d out / d s = sum_b p_b (x - u_b)^2 / s^3.
        weighted = (p - q).mul_(d)
        d_centre = weighted.sum(-1, keepdim=True) / width.square()
        d_width = weighted.mul_(d).sum(-1, keepdim=True) / width.pow(3)
        d_scale = p.mul(r2).sum(-1, keepdim=True) / scale.pow(3)
        grads = (d_centre, d_width, d_scale)
        return (
            None,
            *((grad * g).sum_to_size(size) for g, size in zip(grads, ctx.sizes, strict=True)),
            None,
            None,
            None,
        )


def pool_log_density(
    x: Tensor,
    centre: Tensor,
    width: Tensor,
    scale: Tensor,
    loc: Tensor,
    log_count: Tensor,
    valid: Tensor | None = None,
) -> Tensor:
    r"""Log-density of a pool of atoms, up to the Gaussian constant ``-log(2 pi) / 2``.

    .. math:: \log \sum_b q_b \, \exp(-(x - u_b)^2 / 2 s^2),
        \quad q_b \propto c_b \exp(-(u_b - \mu)^2 / 2 w^2)

    with atoms ``u_b = loc``, log-counts ``log c_b = log_count`` (shape ``(c, P)``),
    window centre ``mu = centre`` and width ``w = width`` and atom scale ``s = scale``
    (each ``(..., c, 1)``), at ``x`` of shape ``(n, c, 1)``; the result (``(..., c, 1)``)
    is *not* yet divided by ``s`` (the caller adds ``-log s``). ``valid`` (float, shape
    ``(c, P)``, or None when every slot is an atom) zeroes padding slots. The gradient
    with respect to ``x`` is not computed (``x`` is data); use the plain expression when
    it is needed.
    """
    if x.requires_grad:
        raise ValueError("pool_log_density does not differentiate with respect to x.")
    return _PoolLogDensity.apply(x, centre, width, scale, loc, log_count, valid)
