"""Fixed features of the earlier variables, read out into a MADE's outputs: random ReLU
features (:class:`RandomFeatureReadout`) and products of two values
(:class:`QuadraticConnections`), both attached by the output refit.

A MADE spreads its hidden units over the degrees, so the conditional of a late variable
sees only the units of lower degree, and each of those sees only some of the earlier
variables. For a variable that is a smooth function of *all* the earlier ones (a
simulator's output, a physical law recorded to many digits), those features are coarse:
on the naval propulsion data a ridge regression of a column on the trained network's
features leaves residuals five times those of one on 512 random ReLU features of all
earlier columns. :class:`RandomFeatureReadout` adds, for every position ``p``, a block
of ``width`` such features of the inputs of degree ``< p`` (fixed, drawn once from the
data) and a linear read-out of them added to chosen output units of degree ``p`` (the
means of a Gaussian column's components, one shift shared by the components). The
read-out starts at zero, so attaching the block changes nothing; the output refit
(:mod:`skarm._refit`) solves it in closed form. Autoregressive structure is kept: the
block of position ``p`` reads only inputs of degree ``< p`` and writes only outputs of
degree ``p``.

:class:`QuadraticConnections` give chosen output units (again the Gaussian components'
means) the products ``x_i x_j`` of earlier values, one weight per unit and product, so
that the refit's per-component regressions (:mod:`skarm._refit`) fit quadratic
polynomials of the earlier columns: on naval (split 3), the held-out log-likelihood of
the refitted network rises from 67.4 to 71.6 nats per row with them after three rounds
of the refit (74.4 after the ten rounds of the default, ``refit_rounds=10``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skarm.nn.masked import MaskedLinear

__all__ = ["QuadraticConnections", "RandomFeatureReadout"]


class RandomFeatureReadout(nn.Module):
    r"""Blocks of fixed random ReLU features with a trainable linear read-out.

    For member ``k`` and block ``b`` (serving position ``b + 1``)

    .. math:: s_{kb}(x) = \sum_r \beta_{kbr}\,\mathrm{relu}(u_{kbr}^\top x + c_{kbr}),

    with ``u`` zero on inputs of degree ``> b``; the output unit ``o`` of member ``k``
    receives ``s_{kb}(x)`` when ``target[k, b, o]`` is 1. Only ``beta`` (``weight``) is a
    parameter (it carries the prior); ``u``, ``c`` and ``target`` are buffers.

    Parameters
    ----------
    n_members, n_blocks, width, n_in, n_out : int
        Members, blocks (positions after the first), features per block, input units
        and output units. The buffers start at zero: :meth:`draw` fills them.
    """

    def __init__(self, n_members: int, n_blocks: int, width: int, n_in: int, n_out: int) -> None:
        super().__init__()
        self.width = int(width)
        self.register_buffer("in_weight", torch.zeros(n_members, n_blocks * width, n_in))
        self.register_buffer("in_bias", torch.zeros(n_members, 1, n_blocks * width))
        self.register_buffer("target", torch.zeros(n_members, n_blocks, n_out))
        self.weight = nn.Parameter(torch.zeros(n_members, n_blocks, width))

    @classmethod
    def from_state(cls, state: dict[str, Tensor], prefix: str) -> RandomFeatureReadout:
        """An empty block shaped like the tensors ``prefix + name`` of ``state`` (for
        loading a saved model: the tensors are then copied in)."""
        n_members, n_blocks, width = state[prefix + "weight"].shape
        n_in = state[prefix + "in_weight"].shape[2]
        n_out = state[prefix + "target"].shape[2]
        return cls(n_members, n_blocks, width, n_in, n_out)

    @classmethod
    def draw(
        cls,
        in_degrees: Tensor,
        out_degrees: Tensor,
        targets: Tensor,
        inputs: Tensor,
        width: int,
        generator: torch.Generator | None = None,
    ) -> RandomFeatureReadout:
        """A block per position, its features drawn from the encoded rows ``inputs``.

        ``in_degrees`` ``(K, n_in)`` and ``out_degrees`` ``(K, n_out)`` are the MADE's
        degrees, ``targets`` ``(K, n_out)`` marks the output units that receive a shift.
        Each feature's direction is uniform on the sphere of the inputs it may read, and
        its kink passes through a random row of ``inputs`` (``c = -u^T x_i``), so that
        every feature is active on part of the data.
        """
        n_members, n_in = in_degrees.shape
        n_blocks = int(out_degrees.max())
        block = cls(n_members, n_blocks, width, n_in, out_degrees.shape[1]).to(inputs)
        degree = torch.arange(n_blocks, device=inputs.device).repeat_interleave(width)
        allowed = (degree[None, :, None] >= in_degrees[:, None, :].to(inputs.device)).to(inputs)
        u = torch.randn(block.in_weight.shape, generator=generator, dtype=inputs.dtype)
        u = u.to(inputs.device) * allowed
        u = u / u.norm(dim=2, keepdim=True).clamp_min(1e-12)
        rows = torch.randint(len(inputs), (n_members, n_blocks * width), generator=generator)
        anchor = inputs[rows.to(inputs.device)]  # (K, n_blocks * width, n_in)
        block.in_weight.copy_(u)
        block.in_bias.copy_(-(u * anchor).sum(dim=2).unsqueeze(1))
        positions = torch.arange(1, n_blocks + 1, device=inputs.device)
        hit = out_degrees.to(inputs.device)[:, None, :] == positions[None, :, None]
        block.target.copy_((hit & targets.to(inputs.device)[:, None, :].bool()).to(inputs))
        return block

    def block_of(self, member: int, unit: int) -> int | None:
        """The block whose read-out output ``unit`` of ``member`` receives (None if none)."""
        blocks = self.target[member, :, unit].nonzero().flatten()
        return int(blocks[0]) if len(blocks) else None

    def penalized_weight(self) -> Tensor:
        """The weights the prior applies to: the read-out."""
        return self.weight

    def features(self, x: Tensor, block: int | None = None) -> Tensor:
        """The random features ``(K, n, n_blocks, width)``, or ``(K, n, width)`` of one
        block, of the encoded inputs ``x`` ``(K, n, n_in)``."""
        w, b = self.in_weight, self.in_bias
        if block is not None:
            cols = slice(block * self.width, (block + 1) * self.width)
            return torch.relu(torch.baddbmm(b[:, :, cols], x, w[:, cols].transpose(1, 2)))
        h = torch.relu(torch.baddbmm(b, x, w.transpose(1, 2)))
        return h.view(*h.shape[:2], -1, self.width)

    def member_features(self, x: Tensor, member: int, block: int) -> Tensor:
        """The features ``(n, width)`` of one member's block, of encoded rows ``(n, n_in)``."""
        cols = slice(block * self.width, (block + 1) * self.width)
        w, b = self.in_weight[member, cols], self.in_bias[member, 0, cols]
        return torch.relu(torch.addmm(b, x, w.T))

    def shifts(self, x: Tensor) -> Tensor:
        """Each block's read-out ``(K, n, n_blocks)``.

        Without gradients, only the blocks with a non-zero read-out are computed (the
        refit keeps a block only where it helps: often a few of them)."""
        n_blocks = self.weight.shape[1]
        blocks = range(n_blocks)
        if not (torch.is_grad_enabled() and self.weight.requires_grad):
            blocks = torch.nonzero(self.weight.detach().abs().sum(dim=(0, 2))).flatten().tolist()
            if len(blocks) < n_blocks:
                out = x.new_zeros(*x.shape[:2], n_blocks)
                for b in blocks:
                    h = self.features(x, b)
                    out[:, :, b] = torch.bmm(h, self.weight[:, b].unsqueeze(2)).squeeze(2)
                return out
        return (self.features(x) * self.weight.unsqueeze(1)).sum(dim=3)

    def forward(self, x: Tensor) -> Tensor:
        """The shifts of every output unit, ``(K, n, n_out)``."""
        return torch.bmm(self.shifts(x), self.target)

    def step(self, x: Tensor, position: int, rows: Tensor) -> Tensor:
        """The shifts of output units ``rows`` of ``position`` (``>= 1``) only:
        ``(K, n, len(rows))``."""
        b = position - 1
        s = (self.features(x, b) * self.weight[:, b].unsqueeze(1)).sum(dim=2)
        return s.unsqueeze(2) * self.target[:, b, rows].unsqueeze(1)


class QuadraticConnections(nn.Module):
    r"""Masked linear connections from products of earlier values to outputs.

    .. math:: y_{ko} = \sum_{p} w_{kop}\, m_{kop}\, x_{i_p} x_{j_p}

    over pairs ``i_p <= j_p`` of value inputs (squares included); ``m_{kop}`` is 1 when
    output ``o`` of member ``k`` is a target and both inputs come before it in the order
    (degree below the output's). Together with the direct connections they make every
    quadratic polynomial of the earlier values available to each chosen output unit (a
    Gaussian component's mean): a column that is a smooth function of a few underlying
    settings is then fitted per component, as a full-covariance Gaussian mixture's
    component regresses it linearly on the earlier columns, to a precision that
    piecewise-linear ReLU features reach only with many more units. The weights start
    at zero; the output refit (:mod:`skarm._refit`) solves them with each component's
    other output weights.

    Parameters
    ----------
    pair_i, pair_j : Tensor of int, shape (n_pairs,)
        The input units of each product.
    mask : Tensor, shape (K, n_out, n_pairs)
        1 where output ``o`` of member ``k`` may read product ``p``.
    """

    def __init__(self, pair_i: Tensor, pair_j: Tensor, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("pair_i", torch.as_tensor(pair_i, dtype=torch.long))
        self.register_buffer("pair_j", torch.as_tensor(pair_j, dtype=torch.long))
        with torch.random.fork_rng(devices=[]):  # its random start is overwritten: keep
            self.linear = MaskedLinear(mask, bias=False)  # the caller's random state
        nn.init.zeros_(self.linear.weight)

    @classmethod
    def build(
        cls,
        in_degrees: Tensor,
        out_degrees: Tensor,
        targets: Tensor,
        values: Tensor,
        max_pairs: int,
        generator: torch.Generator | None = None,
    ) -> QuadraticConnections | None:
        """Connections over the pairs of ``values`` ``(n_in,)`` (a random subset of at
        most ``max_pairs`` of them where there are more) into the outputs ``targets``
        ``(K, n_out)``, masked by the MADE's degrees; None if no output may read any."""
        units = torch.nonzero(values.cpu().bool()).flatten()
        i, j = torch.triu_indices(len(units), len(units))
        if len(i) > max_pairs:
            keep = torch.randperm(len(i), generator=generator)[:max_pairs].sort().values
            i, j = i[keep], j[keep]
        pair_i, pair_j = units[i], units[j]
        d_in, d_out = in_degrees.cpu(), out_degrees.cpu()
        latest = torch.maximum(d_in[:, pair_i], d_in[:, pair_j])  # (K, n_pairs)
        mask = (d_out[:, :, None] > latest[:, None, :]) & targets.cpu().bool()[:, :, None]
        if not bool(mask.any()):
            return None
        return cls(pair_i, pair_j, mask.float())

    @classmethod
    def from_state(cls, state: dict[str, Tensor], prefix: str) -> QuadraticConnections:
        """An empty instance shaped like the tensors under ``prefix`` in ``state``."""
        return cls(
            state[prefix + "pair_i"],
            state[prefix + "pair_j"],
            torch.zeros_like(state[prefix + "linear.mask"]),
        )

    def products(self, x: Tensor) -> Tensor:
        """The products ``(..., n_pairs)`` of the inputs ``x`` ``(..., n_in)``."""
        return x[..., self.pair_i] * x[..., self.pair_j]

    def forward(self, x: Tensor) -> Tensor:
        """``(K, n, n_out)`` from the inputs ``x`` ``(K, n, n_in)``."""
        return self.linear(self.products(x))

    def forward_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """Only the output units ``rows``: ``(K, n, len(rows))``."""
        return self.linear.forward_rows(self.products(x), rows)
