"""Masked linear layers and the masked autoencoder for distribution estimation (MADE).

Autoregressive structure is expressed with *degrees*: every input unit carries the
position (in the variable order) of the variable it encodes, every output unit the
position of the variable whose conditional it parameterises. Output ``d`` may only
see inputs of degree ``< d``; the masks below enforce exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskedLinear", "MADE"]


class MaskedLinear(nn.Linear):
    r"""Linear layer with a fixed binary connectivity mask.

    .. math:: y = x (W \odot M)^\top + b

    Parameters
    ----------
    mask : Tensor of shape (out_features, in_features)
        1 where a connection is allowed, 0 where it is cut.
    bias : bool, default=True
        Whether the layer has a bias.

    Examples
    --------
    >>> layer = MaskedLinear(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    >>> layer(torch.ones(3, 2)).shape
    torch.Size([3, 2])
    """

    def __init__(self, mask: Tensor, bias: bool = True) -> None:
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Masked MLP mapping encoded inputs to autoregressive distribution parameters.

    Germain et al. (2015), with the direct input-to-output connections of the paper:
    ``out = MLP(x) + x (W_d ⊙ M_d)^T``. With no hidden layers the network reduces to
    the direct masked linear map, i.e. a fully visible sigmoid/softmax belief network
    where each conditional is a (softmax) regression on the preceding variables.

    Hidden units get degrees ``0, 1, ..., D - 2`` in turn, so that every degree is
    equally represented. A hidden unit of degree ``k`` sees inputs of degree ``<= k``;
    an output of degree ``d`` sees hidden units of degree ``< d`` and inputs of degree
    ``< d``.

    Parameters
    ----------
    in_degrees : sequence of int
        Degree (order position) of each input unit.
    out_degrees : sequence of int
        Degree of each output unit.
    hidden_sizes : sequence of int
        Width of each hidden layer; empty for the linear (FVBN) model.
    direct : bool, default=True
        Add the direct masked input-to-output connections (always on without hidden layers).
    dropout : float, default=0.0
        Dropout probability on hidden activations during training.

    Examples
    --------
    >>> net = MADE([0, 1, 2], [0, 1, 2], hidden_sizes=[8])
    >>> net(torch.zeros(4, 3)).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        in_degrees: Sequence[int],
        out_degrees: Sequence[int],
        hidden_sizes: Sequence[int] = (),
        direct: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        d_in = torch.as_tensor(list(in_degrees), dtype=torch.long)
        d_out = torch.as_tensor(list(out_degrees), dtype=torch.long)
        if d_in.numel() == 0 or d_out.numel() == 0:
            raise ValueError("MADE needs at least one input and one output unit.")
        n_dims = int(max(d_in.max(), d_out.max())) + 1
        layers: list[nn.Module] = []
        previous = d_in
        for width in hidden_sizes:
            degrees = torch.arange(int(width)) % max(n_dims - 1, 1)
            layers.append(MaskedLinear((degrees[:, None] >= previous[None, :]).float()))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            previous = degrees
        self.hidden = nn.Sequential(*layers)
        self.output = MaskedLinear((d_out[:, None] > previous[None, :]).float())
        self.direct = None
        if hidden_sizes and direct:
            self.direct = MaskedLinear((d_out[:, None] > d_in[None, :]).float(), bias=False)
            nn.init.zeros_(self.direct.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.output(self.hidden(x))
        if self.direct is not None:
            out = out + self.direct(x)
        return out
