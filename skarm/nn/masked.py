"""Stacks of linear layers with fixed binary connectivity masks, one per ensemble member:
the building block of MADE (:mod:`skarm.nn.made`) and of the output refit's quadratic
connections (:mod:`skarm.nn.features`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskedLinear"]


class MaskedLinear(nn.Module):
    r"""A stack of linear layers with fixed binary connectivity masks.

    .. math:: y_k = x_k (W_k \odot M_k)^\top + b_k, \qquad k = 1, \dots, K

    Parameters
    ----------
    mask : Tensor of shape (K, out_features, in_features)
        1 where a connection is allowed, 0 where it is cut, for each of ``K`` members.
    bias : bool, default=True
        Whether the layer has a bias.

    Examples
    --------
    >>> layer = MaskedLinear(torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]))
    >>> layer(torch.ones(1, 3, 2)).shape
    torch.Size([1, 3, 2])
    """

    def __init__(self, mask: Tensor, bias: bool = True) -> None:
        super().__init__()
        n_members, out_features, in_features = mask.shape
        bound = 1.0 / math.sqrt(max(in_features, 1))
        self.weight = nn.Parameter(torch.empty(n_members, out_features, in_features))
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = None
        if bias:
            self.bias = nn.Parameter(torch.empty(n_members, 1, out_features))
            nn.init.uniform_(self.bias, -bound, bound)
        self.register_buffer("mask", mask.to(self.weight.dtype))
        with torch.no_grad():
            # Cut entries start (and, under weight decay, stay) exactly at zero: they are
            # not parameters, and their decaying Adam moments would otherwise sink into
            # the denormal range and slow every step.
            self.weight.mul_(self.mask)

    def penalized_weight(self) -> Tensor:
        """The weights the prior applies to (masked-out entries are not parameters)."""
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x`` of shape ``(K, n, in_features)`` to ``(K, n, out_features)``."""
        return _masked_linear(x, self.weight, self.mask, self.bias)

    def forward_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """Only the output units ``rows``: ``(K, n, len(rows))``, the same values as
        ``forward(x)[..., rows]`` for a fraction of the work."""
        bias = None if self.bias is None else self.bias[:, :, rows]
        return _masked_linear(x, self.weight[:, rows], self.mask[:, rows], bias)


def _masked_linear(x: Tensor, weight: Tensor, mask: Tensor, bias: Tensor | None) -> Tensor:
    """``x_k (W_k ⊙ M_k)^T + b_k`` for every member ``k``."""
    if weight.shape[0] == 1:  # one member: plain linear is faster than bmm
        # squeeze/view (not indexing) so that backward stays a view, not a scatter.
        bias = None if bias is None else bias.view(-1)
        return F.linear(x.squeeze(0), weight.squeeze(0) * mask.squeeze(0), bias).unsqueeze(0)
    weight = (weight * mask).transpose(1, 2)
    if bias is None:
        return torch.bmm(x, weight)
    return torch.baddbmm(bias, x, weight)
