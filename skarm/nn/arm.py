"""The autoregressive model: encoding, a masked network, and per-column heads.

``AutoregressiveModel`` ties together the heads (one per family of columns), a
variable order and any network that respects degrees (``MADE`` today; convolutions
and transformers later). It computes ``log p(x_d | x_<d)`` for every column in one
pass and samples column by column in the order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from skarm.heads import Head

__all__ = ["AutoregressiveModel"]

NetFactory = Callable[[Sequence[int], Sequence[int]], nn.Module]


class AutoregressiveModel(nn.Module):
    """Autoregressive density ``log p(x) = sum_d log p(x_d | x_<d)`` over tabular columns.

    Parameters
    ----------
    heads : sequence of (Head, sequence of int)
        Each head with the indices of the columns it models; together the groups
        must cover the columns ``0..D-1`` exactly once.
    order : sequence of int
        ``order[p]`` is the column modelled at position ``p``.
    net_factory : callable
        ``net_factory(in_degrees, out_degrees)`` returns a module that maps the encoded
        inputs to the heads' parameters and lets output ``d`` depend only on inputs of
        degree ``< d``.
    """

    def __init__(
        self,
        heads: Sequence[tuple[Head, Sequence[int]]],
        order: Sequence[int],
        net_factory: NetFactory,
    ) -> None:
        super().__init__()
        order = [int(j) for j in order]
        n_features = len(order)
        if sorted(order) != list(range(n_features)):
            raise ValueError(f"order must be a permutation of 0..{n_features - 1}, got {order}.")
        columns = sorted(int(j) for _, cols in heads for j in cols)
        if columns != list(range(n_features)):
            raise ValueError("The heads must cover every column exactly once.")
        self.n_features = n_features
        self.heads = nn.ModuleList([head for head, _ in heads])
        position = torch.empty(n_features, dtype=torch.long)
        position[torch.as_tensor(order)] = torch.arange(n_features)
        self.register_buffer("order", torch.as_tensor(order), persistent=False)
        in_degrees, out_degrees, self._groups = [], [], []
        in_offset = out_offset = 0
        for head, cols in heads:
            cols_t = torch.as_tensor([int(j) for j in cols], dtype=torch.long)
            pos = position[cols_t]
            in_degrees.append(pos.repeat_interleave(head.n_inputs))
            out_degrees.append(pos.repeat_interleave(head.n_params))
            n_out = len(cols_t) * head.n_params
            self._groups.append((cols_t, out_offset, n_out))
            in_offset += len(cols_t) * head.n_inputs
            out_offset += n_out
        for i, (cols_t, _, _) in enumerate(self._groups):
            self.register_buffer(f"_cols{i}", cols_t, persistent=False)
        self.net = net_factory(torch.cat(in_degrees).tolist(), torch.cat(out_degrees).tolist())

    def _cols(self, i: int) -> Tensor:
        return getattr(self, f"_cols{i}")

    def _params(self, x: Tensor) -> list[Tensor]:
        """Run the network; return per-group parameters of shape ``(n, c_g, P_g)``."""
        n = x.shape[0]
        encoded = [
            head.encode(x[:, self._cols(i)]).reshape(n, -1) for i, head in enumerate(self.heads)
        ]
        out = self.net(torch.cat(encoded, dim=1) if len(encoded) > 1 else encoded[0])
        params = []
        for i, head in enumerate(self.heads):
            _, offset, size = self._groups[i]
            params.append(out[:, offset : offset + size].reshape(n, -1, head.n_params))
        return params

    def conditional_log_prob(self, x: Tensor) -> Tensor:
        """``log p(x_j | x_<j)`` for every column ``j`` (column order), shape ``(n, D)``."""
        params = self._params(x)
        if len(self.heads) == 1:
            return self.heads[0].log_prob(params[0], x[:, self._cols(0)])
        out = x.new_empty(x.shape)
        for i, head in enumerate(self.heads):
            cols = self._cols(i)
            out[:, cols] = head.log_prob(params[i], x[:, cols])
        return out

    def forward(self, x: Tensor) -> Tensor:
        """``log p(x)`` per row, shape ``(n,)``."""
        return self.conditional_log_prob(x).sum(dim=1)

    @torch.no_grad()
    def sample(self, n_samples: int, x: Tensor | None = None, start: int = 0) -> Tensor:
        """Draw rows position by position (global torch RNG; seed it to repeat).

        ``x`` (optional, shape ``(n_samples, D)``) holds given values for the first
        ``start`` positions of the order; the remaining positions are sampled.
        """
        if x is None:
            ref = next(self.buffers())
            x = torch.zeros(n_samples, self.n_features, device=ref.device)
        else:
            x = x.clone()
        where = {}
        for i, (cols_t, _, _) in enumerate(self._groups):
            for k, j in enumerate(cols_t.tolist()):
                where[j] = (i, k)
        for p in range(start, self.n_features):
            j = int(self.order[p])
            i, k = where[j]
            params = self._params(x)[i][:, k : k + 1]
            x[:, j] = self.heads[i].sample(params, slice(k, k + 1))[:, 0]
        return x
