"""The autoregressive model: encoding, a masked network, and per-column heads.

``AutoregressiveModel`` ties together the heads (one per family of columns), a
variable order and any network that respects degrees (``MADE`` today; convolutions
and transformers later). It computes ``log p(x_d | x_<d)`` for every column in one
pass and samples column by column in the order.
"""

from __future__ import annotations

import math
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
    order : array-like of int, shape (D,) or (K, D)
        ``order[p]`` is the column modelled at position ``p``. A 2-D array gives each of
        the network's ``K`` members its own order (an order-agnostic ensemble).
    net_factory : callable
        ``net_factory(in_degrees, out_degrees)`` returns a module that maps the encoded
        inputs to the heads' parameters and lets output ``d`` depend only on inputs of
        degree ``< d``. Degrees are 1-D for one order, ``(K, n_units)`` for one per member.
    n_context : int, default=0
        Width of a *context* ``c`` that every conditional reads: the model is then
        ``log p(x | c) = sum_d log p(x_d | x_<d, c)`` (a conditional density, e.g.
        ``p(y | x)`` for regression). Context units get degree 0 and the columns degrees
        ``1..D``, so every output sees the whole context.
    """

    def __init__(
        self,
        heads: Sequence[tuple[Head, Sequence[int]]],
        order: Sequence[int] | Sequence[Sequence[int]],
        net_factory: NetFactory,
        n_context: int = 0,
    ) -> None:
        super().__init__()
        self.n_context = int(n_context)
        orders = torch.as_tensor(order, dtype=torch.long)
        orders = orders.unsqueeze(0) if orders.dim() == 1 else orders
        n_features = orders.shape[1]
        for row in orders.tolist():
            if sorted(row) != list(range(n_features)):
                raise ValueError(f"order must be a permutation of 0..{n_features - 1}, got {row}.")
        columns = sorted(int(j) for _, cols in heads for j in cols)
        if columns != list(range(n_features)):
            raise ValueError("The heads must cover every column exactly once.")
        self.n_features = n_features
        self.heads = nn.ModuleList([head for head, _ in heads])
        position = torch.empty_like(orders)
        position.scatter_(1, orders, torch.arange(n_features).expand_as(orders).contiguous())
        self.register_buffer("orders", orders, persistent=False)
        group_of = torch.empty(n_features, dtype=torch.long)
        index_in_group = torch.empty(n_features, dtype=torch.long)
        in_degrees, out_degrees, self._groups = [], [], []
        out_offset = 0
        for i, (head, cols) in enumerate(heads):
            cols_t = torch.as_tensor([int(j) for j in cols], dtype=torch.long)
            group_of[cols_t] = i
            index_in_group[cols_t] = torch.arange(len(cols_t))
            pos = position[:, cols_t]
            in_degrees.append(pos.repeat_interleave(head.n_inputs, dim=1))
            out_degrees.append(pos.repeat_interleave(head.n_params, dim=1))
            n_out = len(cols_t) * head.n_params
            self._groups.append((cols_t, out_offset, n_out))
            out_offset += n_out
            self.register_buffer(f"_cols{i}", cols_t, persistent=False)
        self.register_buffer("_group_of", group_of, persistent=False)
        self.register_buffer("_index_in_group", index_in_group, persistent=False)
        in_deg, out_deg = torch.cat(in_degrees, dim=1), torch.cat(out_degrees, dim=1)
        if self.n_context:
            context_deg = torch.zeros(len(orders), self.n_context, dtype=torch.long)
            in_deg, out_deg = torch.cat([context_deg, in_deg + 1], dim=1), out_deg + 1
        if len(orders) == 1:
            in_deg, out_deg = in_deg[0], out_deg[0]
        self.net = net_factory(in_deg.tolist(), out_deg.tolist())
        if len(orders) > 1 and len(orders) != self.n_members:
            raise ValueError(
                f"{len(orders)} orders were given for a network of {self.n_members} members."
            )

    @property
    def order(self) -> Tensor:
        """The variable order shared by all members (an error if each has its own)."""
        if len(self.orders) > 1:
            raise ValueError("Each member of this model has its own order.")
        return self.orders[0]

    def _cols(self, i: int) -> Tensor:
        return getattr(self, f"_cols{i}")

    @property
    def n_members(self) -> int:
        return int(getattr(self.net, "n_members", 1))

    def _checked_context(self, context: Tensor | None, n: int) -> Tensor:
        """The context of ``n`` rows a conditional model needs, or a clear error."""
        if context is None or context.shape != (n, self.n_context):
            raise ValueError(f"This model needs a context of shape ({n}, {self.n_context}).")
        return context

    def _net_input(self, x: Tensor, context: Tensor | None) -> Tensor:
        """The encoded row (context first) the network reads, shape ``(n, n_in)``."""
        n = x.shape[0]
        encoded = [
            head.encode(x[:, self._cols(i)]).reshape(n, -1) for i, head in enumerate(self.heads)
        ]
        if self.n_context:
            encoded.insert(0, self._checked_context(context, n).to(x.dtype))
        return torch.cat(encoded, dim=1) if len(encoded) > 1 else encoded[0]

    def _params(self, x: Tensor, context: Tensor | None = None) -> list[Tensor]:
        """Run the network; per-group parameters of shape ``(K, n, c_g, P_g)``."""
        return self._split_params(self.net(self._net_input(x, context)))

    def _split_params(self, out: Tensor) -> list[Tensor]:
        """The network's output ``(K, n, n_out)`` (or ``(n, n_out)``) as per-group
        parameters of shape ``(K, n, c_g, P_g)``."""
        if out.dim() == 2:
            out = out.unsqueeze(0)
        n = out.shape[1]
        params = []
        for i, head in enumerate(self.heads):
            _, offset, size = self._groups[i]
            params.append(
                out[..., offset : offset + size].reshape(out.shape[0], n, -1, head.n_params)
            )
        return params

    def member_log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``log p_k(x_j | x_<j)`` of every member ``k`` and column ``j``: ``(K, n, D)``."""
        return self.member_log_prob_of(self._params(x, context), x)

    def member_log_prob_of(self, params: list[Tensor], x: Tensor) -> Tensor:
        """:meth:`member_log_prob` from given per-group parameters (:meth:`_split_params`)."""
        if len(self.heads) == 1:
            return self.heads[0].log_prob(params[0], x[:, self._cols(0)])
        out = x.new_empty((params[0].shape[0], *x.shape))
        for i, head in enumerate(self.heads):
            cols = self._cols(i)
            out[:, :, cols] = head.log_prob(params[i], x[:, cols])
        return out

    def conditional_log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``log p(x_j | x_<j)`` of the model for every column ``j``, shape ``(n, D)``.

        With several members (all in the same order) the model is the mixture
        ``p(x) = (1/K) sum_k p_k(x)``, whose exact conditionals are
        ``p(x_d | x_<d) = sum_k w_k(x_<d) p_k(x_d | x_<d)`` with posterior weights
        ``w_k ∝ p_k(x_<d)``; they sum (in logs) to ``log p(x)``. Members with different
        orders have no common chain of conditionals: that raises a ``ValueError``.
        """
        if len(self.orders) > 1:
            raise ValueError(
                "The members of this model use different variable orders, so the mixture "
                "has no single chain of conditionals p(x_j | x_<j) (the marginals of the "
                "other orders are intractable). Use one shared order to get them."
            )
        lp = self.member_log_prob(x, context)
        if lp.shape[0] == 1:
            return lp[0]
        order = self.orders[0]
        in_order = lp[:, :, order]
        prefix = torch.cumsum(in_order, dim=2) - in_order  # log p_k(x_<d)
        log_w = prefix - torch.logsumexp(prefix, dim=0, keepdim=True)
        log_w = torch.nan_to_num(log_w, nan=-math.log(lp.shape[0]))  # rows already at -inf
        out = torch.empty_like(lp[0])
        out[:, order] = torch.logsumexp(log_w + in_order, dim=0)
        return out

    def subsampled_log_prob(
        self, x: Tensor, n_columns: int, context: Tensor | None = None
    ) -> Tensor:
        """Unbiased estimate of the members' mean ``(1/K) sum_k log p_k(x)`` from a random
        subset of the columns, shape ``(n,)`` (the dimension-subsampled objective).

        ``n_columns`` columns ``S`` are drawn without replacement (torch's global CPU
        RNG, on the host: no device sync) and ``(D / |S|) sum_{j in S} log p_k(x_j | x_<j)``
        is returned: every column enters with probability ``|S| / D``, so its
        expectation over ``S`` is ``log p_k(x)`` exactly, and so is that of its
        gradient. Only the heads of ``S`` are evaluated, and a network with
        ``forward_units`` (MADE) computes only their output units.
        """
        d = self.n_features
        n_chosen = max(1, min(int(n_columns), d))
        chosen = torch.zeros(d, dtype=torch.bool)
        chosen[torch.randperm(d)[:n_chosen]] = True
        # Host-side index arithmetic, then one transfer: [units..., local indices...].
        picked, units = [], []
        for i, head in enumerate(self.heads):
            cols, offset, _ = self._groups[i]
            local = chosen[cols].nonzero()[:, 0]
            picked.append(local)
            units.append(offset + local[:, None] * head.n_params + torch.arange(head.n_params))
        n_units = sum(u.numel() for u in units)
        index = torch.cat([u.flatten() for u in units] + picked).to(x.device, non_blocking=True)
        units, locals_ = index[:n_units], index[n_units:].split([len(p) for p in picked])
        net_input = self._net_input(x, context)
        forward_units = getattr(self.net, "forward_units", None)
        if forward_units is not None:
            out = forward_units(net_input, units)
        else:
            out = self.net(net_input)
            out = out.unsqueeze(0) if out.dim() == 2 else out
            out = out[..., units]
        n_members, n = out.shape[0], x.shape[0]
        total, start = x.new_zeros(n_members, n), 0
        for i, (head, local) in enumerate(zip(self.heads, locals_, strict=True)):
            size = len(local) * head.n_params
            if size == 0:
                continue
            params = out[..., start : start + size].reshape(-1, head.n_params)
            start += size
            values = x[:, self._cols(i)[local]].expand(n_members, -1, -1).reshape(-1)
            dist = head.distribution(params, local.repeat(n_members * n))
            total = total + dist.log_prob(values).view(n_members, n, -1).sum(dim=2)
        return total.mean(dim=0) * (d / n_chosen)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-row log-likelihood, shape ``(n,)``.

        In eval mode, the model's ``log p(x) = log (1/K) sum_k p_k(x)``. In training
        mode, the members' mean ``(1/K) sum_k log p_k(x)``: each member is fitted by
        maximum likelihood on its own (an ensemble), which keeps all members useful.
        """
        member = self.member_log_prob(x, context).sum(dim=2)
        if self.training:
            return member.mean(dim=0)
        return torch.logsumexp(member, dim=0) - math.log(member.shape[0])

    @torch.no_grad()
    def sample(
        self,
        n_samples: int,
        x: Tensor | None = None,
        start: int = 0,
        context: Tensor | None = None,
        cache: bool = True,
    ) -> Tensor:
        """Draw rows position by position (global torch RNG; seed it to repeat).

        Each row first draws its member uniformly, then follows that member's order and
        conditionals. ``x`` (optional, shape ``(n_samples, D)``) holds given values for
        the first ``start`` positions of the (shared) order; the rest are sampled. A
        conditional model needs ``context`` of shape ``(n_samples, n_context)``: row ``i``
        is drawn from ``p(x | context[i])``.

        With ``cache=True`` a network that generates incrementally (``init_cache`` and
        ``step``: the PixelCNN and the sequence networks) computes each position once,
        from a cache of the earlier ones, instead of rerunning the whole network per
        position; the draws are the same as with ``cache=False`` (same random numbers,
        same conditionals up to float rounding).
        """
        if x is None:
            ref = next(self.parameters())
            x = torch.zeros(n_samples, self.n_features, device=ref.device, dtype=ref.dtype)
        else:
            if start > 0 and len(self.orders) > 1:
                raise ValueError("Given leading values need one order shared by all members.")
            x = x.clone()
        rows = torch.arange(x.shape[0], device=x.device)
        member = torch.randint(self.n_members, (x.shape[0],), device=x.device)
        steps = hasattr(self.net, "step") and getattr(self.net, "can_step", True)
        with_context = not self.n_context or getattr(self.net, "steps_context", False)
        if cache and steps and len(self.orders) == 1 and with_context:
            return self._sample_cached(x, start, member, context)
        orders = self.orders[member % len(self.orders)]  # (n, D): each row's order
        for p in range(start, self.n_features):
            cols = orders[:, p]
            params = self._params(x, context)
            group = self._group_of[cols]
            for i, head in enumerate(self.heads):
                here = group == i
                r, c = rows[here], cols[here]
                if r.numel():
                    k = self._index_in_group[c]
                    x[r, c] = head.sample(params[i][member[r], r, k], k)
        return x

    def _sample_cached(
        self, x: Tensor, start: int, member: Tensor, context: Tensor | None = None
    ) -> Tensor:
        """Incremental generation through the network's cache (one shared order).

        A conditional model's context is the network's input of degree 0 (its variables
        are then at degrees 1, 2, ...): it is given before the first variable."""
        n = x.shape[0]
        rows = torch.arange(n, device=x.device)
        state = self.net.init_cache(n, x)
        previous, shift = None, 0
        if self.n_context:
            previous, shift = self._checked_context(context, n).to(x.dtype), 1
        # Host-side lookups, read once: no device sync per position.
        group_of, index_in_group = self._group_of.tolist(), self._index_in_group.tolist()
        for p, col in enumerate(self.orders[0].tolist()):
            head, k = self.heads[group_of[col]], index_in_group[col]
            out = self.net.step(state, previous, p + shift)  # (K, n, channels of position p)
            if p >= start:
                columns = self._index_in_group[col].expand(n)
                x[:, col] = head.sample(out[member, rows, : head.n_params], columns)
            if p + 1 < self.n_features:
                previous = head.encode_column(x[:, col], k)
        return x
