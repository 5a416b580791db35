"""Causal sequence networks over the variable order: the base, and dilated convolutions.

The sequence networks (:class:`CausalConv1D` here, :class:`CausalTransformer` in
:mod:`skarm.nn.transformer`) read a row of ``D`` variables as a sequence in the model's
order (position ``p`` is the ``p``-th variable of the order, its encoded units the
position's channels) and emit, at position ``p``, the parameters of ``p(x_p | x_<p)``.
The input sequence is shifted right by one position (position ``p`` carries the channels
of variable ``p - 1``, position 0 zeros), so that every layer may see its own position
and all earlier ones: causality costs no masked weights.

They also generate *incrementally*: :meth:`SequenceNet.step` computes position ``p``'s
outputs from the channels of variable ``p - 1`` and a cache of what earlier positions
left behind, instead of the whole network per drawn variable:

* :class:`CausalConv1D` (WaveNet, van den Oord et al. 2016; Fast WaveNet, Paine et al.
  2016) keeps, per layer, a ring buffer of its last ``(kernel_size - 1) * dilation + 1``
  inputs, and one of the last ``R`` inputs for its direct linear path;
* :class:`~skarm.nn.transformer.CausalTransformer` keeps each layer's keys and values
  (a key/value cache).

A step costs what one position of the full pass costs, so drawing ``D`` variables costs
one pass instead of ``D``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skarm.nn.made import Dropout
from skarm.nn.pixelcnn import register_channel_gathers

__all__ = ["CausalConv1D", "SequenceNet"]


def _gate(h: Tensor, dim: int) -> Tensor:
    a, b = h.chunk(2, dim=dim)
    return torch.tanh(a) * torch.sigmoid(b)


class SequenceNet(nn.Module):
    """Base of the sequence networks: degrees to channels, members, shifting and caching.

    Parameters
    ----------
    in_degrees, out_degrees : array-like of int, shape (n_in,) and (n_out,)
        Degree (order position) of each input and output unit; the units of one degree
        are its channels, in the order given.
    n_members : int
        Number of independent networks evaluated side by side.
    make_member : callable
        ``make_member(in_channels, out_channels, n_positions)`` returns one network
        mapping ``(n, in_channels, D)`` to ``(n, out_channels, D)`` that is causal
        *including* the current position, with ``init_cache(n, like)`` and
        ``step(cache, s, p)`` for incremental generation.
    """

    def __init__(
        self,
        in_degrees: Sequence[int] | Tensor,
        out_degrees: Sequence[int] | Tensor,
        n_members: int,
        make_member: Callable[[int, int, int], nn.Module],
    ) -> None:
        super().__init__()
        d_in = torch.as_tensor(in_degrees, dtype=torch.long)
        d_out = torch.as_tensor(out_degrees, dtype=torch.long)
        name = type(self).__name__
        if d_in.dim() != 1 or d_out.dim() != 1:
            raise ValueError(
                f"{name} models one variable order shared by its members; got degrees of "
                f"shape {tuple(d_in.shape)} (use order=None or 'random', not 'ensemble')."
            )
        self.n_positions = int(max(d_in.max(), d_out.max())) + 1
        self.in_channels, self.out_channels = register_channel_gathers(
            self, d_in, d_out, self.n_positions, name
        )
        self.n_members = int(n_members)
        self.nets = nn.ModuleList(
            make_member(self.in_channels, self.out_channels, self.n_positions)
            for _ in range(self.n_members)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x`` of shape ``(n, n_in)`` to parameters of shape ``(n_members, n, n_out)``."""
        n = x.shape[0]
        padded = torch.cat([x, x.new_zeros(n, 1)], dim=1)
        seq = padded[:, self.in_index]  # (n, C_in, D)
        shifted = F.pad(seq, (1, -1))  # position p carries variable p - 1
        return torch.stack([net(shifted).reshape(n, -1)[:, self.out_flat] for net in self.nets])

    def init_cache(self, n: int, like: Tensor) -> list:
        """An empty generation cache for ``n`` rows (dtype and device of ``like``)."""
        return [net.init_cache(n, like) for net in self.nets]

    def step(self, cache: list, previous: Tensor | None, p: int) -> Tensor:
        """Outputs at position ``p``, shape ``(n_members, n, out_channels)``.

        ``previous`` holds the channels of the variable at position ``p - 1``, shape
        ``(n, c)`` with ``c <= in_channels`` (None at ``p == 0``). Positions must be
        stepped in turn from 0; output channel ``j`` of position ``p`` is the ``j``-th
        output unit of degree ``p``.
        """
        n = cache[0]["n"]
        ref = cache[0]["like"]
        s = ref.new_zeros(n, self.in_channels)
        if previous is not None:
            s[:, : previous.shape[1]] = previous
        return torch.stack([net.step(c, s, p) for net, c in zip(self.nets, cache, strict=True)])


# ---------------------------------------------------------------- dilated convolutions
class _CausalBlock(nn.Module):
    """Gated dilated causal convolution with residual and skip outputs (WaveNet)."""

    def __init__(
        self, c_in: int, c: int, skip: int, dilation: int, kernel_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.dilation, self.kernel_size = dilation, kernel_size
        self.reach = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(c_in, 2 * c, kernel_size, dilation=dilation)
        self.res = nn.Conv1d(c, c, 1)
        self.skip = nn.Conv1d(c, skip, 1)
        self.residual = c_in == c
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        z = self.dropout(_gate(self.conv(F.pad(h, (self.reach, 0))), dim=1))
        out = self.res(z)
        return (out + h if self.residual else out), self.skip(z)

    def step(self, ring: Tensor, h: Tensor, p: int) -> tuple[Tensor, Tensor]:
        """Position ``p`` from its input ``h`` ``(n, c_in)`` and the ring of past inputs."""
        size = ring.shape[2]
        ring[:, :, p % size] = h
        taps = [
            (p - (self.kernel_size - 1 - j) * self.dilation) % size for j in range(self.kernel_size)
        ]
        window = ring[:, :, taps]  # (n, c_in, k): slots never written hold zeros
        z = _gate(F.linear(window.flatten(1), self.conv.weight.flatten(1), self.conv.bias), 1)
        out = F.linear(z, self.res.weight[:, :, 0], self.res.bias)
        return (out + h if self.residual else out), F.linear(
            z, self.skip.weight[:, :, 0], self.skip.bias
        )


# Gain of the direct path (see _GainConv1d): Adam moves each stored weight by about
# ``learning_rate_init`` (1e-3..1e-2) per update whatever the gradient's scale, so a
# zero-initialised path with a gain of 1 needs hundreds of updates to reach an AR's lag-1
# coefficient (about 1 in standardised units). A gain of ``g`` makes that ``g`` times fewer
# updates, at ``g`` times the jitter per update, and on every tap and output channel
# alike. Lag profile: lag ``j`` (1 = the previous variable) gets ``DIRECT_GAIN /
# j**DIRECT_GAIN_DECAY``, so that the prior on the coefficients, ``gain_j**2`` times weaker
# than on the stored weights, tightens with the lag (decay 1: prior variance ~ 1 / j**2,
# the shape of the Minnesota prior of Bayesian VARs) and long lags move more slowly.
# Defaults 1 and 0: the plain path. On the forecasting benchmark (docs/benchmarks.md,
# "Forecasting") a flat gain of 3..30 scored worse on both validation stretches; gain 3
# with decay 1, chosen there on validation, forecast sunspots' test stretch better (+2.3
# nats per window) and elnino's worse (-0.3): not made the default of every "conv" model.
DIRECT_GAIN = 1.0
DIRECT_GAIN_DECAY = 0.0


class _GainConv1d(nn.Conv1d):
    """A convolution computing with ``gain * weight``: the stored parameter ``weight`` is
    a raw parameter, the coefficients are ``gain`` times it (:meth:`coefficients`). With
    ``decay``, the tap reading lag ``j`` (the last tap: lag 1) has ``gain / j**decay``.

    The reparameterisation changes the optimiser's effective step size, not the model:
    Adam's steps of about the learning rate on ``weight`` are steps of ``gain`` times that
    on the coefficients. The MAP prior (``alpha``: Adam's weight decay on every layer's
    ``weight``, and the L1 term) applies to the stored parameter, so on the coefficients
    ``w = gain * weight`` it is ``alpha / gain**2 * ||w||^2 / 2`` (L1: ``alpha / gain``):
    ``gain**2`` times weaker than on a plain layer.
    """

    def __init__(self, *args, gain: float = 1.0, decay: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gain, self.decay = float(gain), float(decay)
        lags = torch.arange(self.kernel_size[0], 0, -1, dtype=torch.float64)
        gains = (self.gain / lags**self.decay).to(self.weight.dtype)
        self.register_buffer("lag_gains", gains, persistent=False)

    def coefficients(self) -> Tensor:
        """The weights the convolution computes with, ``gain * weight`` per lag."""
        if self.gain == 1.0 and self.decay == 0.0:  # the plain path: no product per step
            return self.weight
        return self.weight * self.lag_gains

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.coefficients(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gain={self.gain:g}, decay={self.decay:g}"


class _WaveNet(nn.Module):
    def __init__(
        self,
        c_in: int,
        c_out: int,
        widths: Sequence[int],
        kernel_size: int,
        dropout: float,
        max_dilation: int,
        n_positions: int,
        direct: bool,
        direct_gain: float = 1.0,
        direct_gain_decay: float = 0.0,
    ) -> None:
        super().__init__()
        skip = max(widths)
        self.input = nn.Conv1d(c_in, widths[0], kernel_size)
        blocks, previous, dilation = [], widths[0], 1
        for width in widths:
            blocks.append(_CausalBlock(previous, width, skip, dilation, kernel_size, dropout))
            previous = width
            dilation = dilation * kernel_size if dilation * kernel_size <= max_dilation else 1
        self.blocks = nn.ModuleList(blocks)
        self.head1, self.head2 = nn.Conv1d(skip, skip, 1), nn.Conv1d(skip, c_out, 1)
        self.kernel_size = kernel_size
        self.receptive_field = kernel_size + sum(block.reach for block in self.blocks)
        # The direct path: a linear causal convolution from the shifted inputs straight to
        # the outputs, over the receptive field (at most every earlier variable); zero at
        # initialisation, like MADE's direct connections; its coefficients are
        # ``direct_gain`` times its stored weights (see _GainConv1d).
        self.direct = None
        if direct:
            width = min(self.receptive_field, n_positions)
            self.direct = _GainConv1d(
                c_in, c_out, width, bias=False, gain=direct_gain, decay=direct_gain_decay
            )
            nn.init.zeros_(self.direct.weight)

    def forward(self, s: Tensor) -> Tensor:
        h = self.input(F.pad(s, (self.kernel_size - 1, 0)))
        total = 0.0
        for block in self.blocks:
            h, skip = block(h)
            total = total + skip
        out = self.head2(F.relu(self.head1(F.relu(total))))
        if self.direct is not None:
            out = out + self.direct(F.pad(s, (self.direct.kernel_size[0] - 1, 0)))
        return out

    def init_cache(self, n: int, like: Tensor) -> dict:
        rings = [like.new_zeros(n, self.input.in_channels, self.kernel_size)]
        rings += [like.new_zeros(n, b.conv.in_channels, b.reach + 1) for b in self.blocks]
        if self.direct is not None:  # the direct path's past inputs, a ring of its width
            rings.append(like.new_zeros(n, self.direct.in_channels, self.direct.kernel_size[0]))
        return {"n": n, "like": like, "rings": rings}

    @staticmethod
    def _window(ring: Tensor, s: Tensor, p: int) -> Tensor:
        """Store position ``p``'s input ``s`` in the ring and return its last ``width``
        inputs, oldest first, flattened (slots never written hold zeros: the padding)."""
        width = ring.shape[2]
        ring[:, :, p % width] = s
        return ring[:, :, [(p - (width - 1 - j)) % width for j in range(width)]].flatten(1)

    def step(self, cache: dict, s: Tensor, p: int) -> Tensor:
        rings = cache["rings"]
        window = self._window(rings[0], s, p)
        h = F.linear(window, self.input.weight.flatten(1), self.input.bias)
        total = 0.0
        for block, ring in zip(self.blocks, rings[1 : 1 + len(self.blocks)], strict=True):
            h, skip = block.step(ring, h, p)
            total = total + skip
        hidden = F.relu(F.linear(F.relu(total), self.head1.weight[:, :, 0], self.head1.bias))
        out = F.linear(hidden, self.head2.weight[:, :, 0], self.head2.bias)
        if self.direct is not None:
            out = out + F.linear(
                self._window(rings[-1], s, p), self.direct.coefficients().flatten(1)
            )
        return out


class CausalConv1D(SequenceNet):
    """Dilated causal 1-D convolutions over the variable order (WaveNet-style).

    An input convolution, then one gated residual block per entry of ``hidden_sizes``
    with dilations ``1, k, k^2, ...`` (restarting at 1 past ``max_dilation``), skip
    connections summed into a two-layer 1x1 head, plus (``direct=True``) a linear causal
    convolution from the inputs straight to the outputs. Position ``p`` sees the variables
    ``p - R .. p - 1``, ``R = k + (k - 1) * sum(dilations)`` (the receptive field).

    Parameters
    ----------
    in_degrees, out_degrees : array-like of int
        Degrees of the input and output units (see :class:`SequenceNet`).
    hidden_sizes : sequence of int, default=(64,) * 6
        Channels of each residual block.
    kernel_size : int, default=2
        Width of every convolution kernel.
    dropout : float, default=0.0
        Dropout on the gated activations during training.
    n_members : int, default=1
        Number of independent networks evaluated side by side.
    max_dilation : int, default=512
        Largest dilation before the cycle restarts.
    direct : bool, default=True
        Add a direct path: a linear causal convolution from the inputs straight to the
        outputs over the receptive field (every earlier variable when ``D`` is smaller),
        zero at initialisation and added to the head's output; the sequence analogue of
        MADE's direct connections. With it a linear autoregression shared across
        positions (a Gaussian AR(p), ``p <= R``, with one component) is a special case,
        and the mean can follow values beyond the range the gated units saturate at.
    direct_gain : float, optional
        The direct path computes with ``direct_gain`` times its stored weights, so that
        Adam, whose steps on a weight are about the learning rate whatever its gradient,
        moves its coefficients ``direct_gain`` times faster: an AR's lag-1 coefficient
        (about 1 in standardised units) is reachable in tens of updates from zero. The
        prior (``alpha``) applies to the stored weights, so on the coefficients it is
        ``direct_gain**2`` times weaker (L1: ``direct_gain`` times). Default
        ``DIRECT_GAIN`` (module constant, read at construction).
    direct_gain_decay : float, optional
        Lag ``j`` of the direct path gets the gain ``direct_gain / j**direct_gain_decay``
        (0: the same gain at every lag; 1: a prior tightening with the lag like the
        Minnesota prior's). Default ``DIRECT_GAIN_DECAY``.

    Examples
    --------
    >>> net = CausalConv1D(range(5), range(5), hidden_sizes=[8, 8], n_members=2)
    >>> net(torch.zeros(3, 5)).shape
    torch.Size([2, 3, 5])
    """

    def __init__(
        self,
        in_degrees: Sequence[int] | Tensor,
        out_degrees: Sequence[int] | Tensor,
        hidden_sizes: Sequence[int] = (64,) * 6,
        kernel_size: int = 2,
        dropout: float = 0.0,
        n_members: int = 1,
        max_dilation: int = 512,
        direct: bool = True,
        direct_gain: float | None = None,
        direct_gain_decay: float | None = None,
    ) -> None:
        widths = [int(w) for w in hidden_sizes]
        gain = float(DIRECT_GAIN if direct_gain is None else direct_gain)
        if not gain > 0:
            raise ValueError(f"direct_gain must be positive, got {direct_gain}.")
        decay = float(DIRECT_GAIN_DECAY if direct_gain_decay is None else direct_gain_decay)
        if not widths:
            raise ValueError("CausalConv1D needs at least one residual block (hidden_sizes).")
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be at least 2, got {kernel_size}.")
        super().__init__(
            in_degrees,
            out_degrees,
            n_members,
            lambda c_in, c_out, n_positions: _WaveNet(
                c_in,
                c_out,
                widths,
                kernel_size,
                dropout,
                max_dilation,
                n_positions,
                direct,
                gain,
                decay,
            ),
        )

    def output_layers(self) -> list[nn.Module]:
        """The two 1x1 layers reading the summed skips and the direct path, per member
        (what fine-tuning trains)."""
        return [m for net in self.nets for m in (net.head1, net.head2, net.direct) if m is not None]

    @property
    def receptive_field(self) -> int:
        """How many preceding variables the conditional at each position can read."""
        return self.nets[0].receptive_field
