"""The base of every output head, and the Gaussian head others build on.

See :mod:`skarm.heads` for what a head is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Normal

__all__ = ["OUT_OF_SUPPORT", "Head", "NormalHead", "positive_scale"]

#: Internal code of a discrete value that lies outside the support fitted on the data.
OUT_OF_SUPPORT = -1.0


class Head(nn.Module):
    """Base class of output heads for a group of ``n_columns`` columns.

    Subclasses set ``n_params`` (network outputs per column) and ``n_inputs``
    (encoded input units per column) and implement :meth:`encode` and
    :meth:`distribution`.
    """

    n_params: int
    n_inputs: int
    #: Whether :meth:`encode` treats every value alike, whatever its column.
    elementwise_encoding = False

    def __init__(self, n_columns: int) -> None:
        super().__init__()
        self.n_columns = int(n_columns)

    def encode(self, x: Tensor) -> Tensor:
        """Encode values ``x`` of shape ``(n, c)`` as inputs of shape ``(n, c, n_inputs)``."""
        raise NotImplementedError

    def encode_column(self, x: Tensor, column: int) -> Tensor:
        """Encode the values ``x`` ``(n,)`` of the group's column ``column``: ``(n, n_inputs)``.

        The same units as :meth:`encode` gives that column: encoded alone when the
        encoding is elementwise (``elementwise_encoding``), else in a full-width row.
        """
        if self.elementwise_encoding:
            return self.encode(x.unsqueeze(1))[:, 0]
        full = x.new_zeros(len(x), self.n_columns)
        full[:, column] = x
        return self.encode(full)[:, column]

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Distribution:
        """Distribution with batch shape ``params.shape[:-1]`` from its parameters.

        ``params`` is ``(n, c, n_params)`` for all the group's columns (``columns=None``),
        or ``(m, n_params)`` with ``columns`` (shape ``(m,)``) naming each row's column.
        """
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Log-probability (or log-density) of ``x`` ``(n, c)`` under ``params``."""
        return self.distribution(params).log_prob(x)

    def sample(self, params: Tensor, columns: Tensor) -> Tensor:
        """Draw one value per row (global torch RNG).

        ``params`` has shape ``(m, n_params)``: row ``r`` holds the parameters of the
        group's column ``columns[r]``. Returns the ``m`` values.
        """
        return self.distribution(params, columns).sample().to(params.dtype)


def positive_scale(raw: Tensor, min_scale: float) -> Tensor:
    """``softplus(raw) + min_scale``, a scale bounded below.

    ``raw`` is made contiguous first: it is usually a strided slice of the network's
    output, on which torch's CPU softplus runs 5 times slower (forward and backward 3
    times) than on a contiguous copy.
    """
    return F.softplus(raw.contiguous()) + min_scale


class NormalHead(Head):
    """Gaussian conditionals on standardised values: ``N(mu, softplus(s) + min_scale)``.

    The softplus keeps the scale positive and smooth; ``min_scale`` (in standardised
    units) bounds the density so that no training run can diverge to a point mass.
    """

    n_params = 2
    n_inputs = 1
    elementwise_encoding = True

    def __init__(self, n_columns: int, min_scale: float = 1e-3) -> None:
        super().__init__(n_columns)
        self.min_scale = float(min_scale)

    def encode(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Normal:
        loc, raw_scale = params.unbind(-1)
        return Normal(loc, positive_scale(raw_scale, self.min_scale), validate_args=False)

    #: Where a column's free Gaussians keep their means and pre-softplus scales among its
    #: ``n_params`` outputs, and its shared atom scale (None: no atoms); see
    #: :meth:`free_gaussians` and :mod:`skarm._refit`.
    mean_slots, scale_slots, atom_scale_slot = slice(0, 1), slice(1, 2), None

    def free_gaussians(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The free Gaussians of the conditionals ``params`` ``(..., c, n_params)``: their
        log-weights in the whole conditional, means and scales, each ``(..., c, m)``."""
        loc, raw_scale = params[..., self.mean_slots], params[..., self.scale_slots]
        return torch.zeros_like(loc), loc, positive_scale(raw_scale, self.min_scale)
