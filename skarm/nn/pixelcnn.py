"""Gated PixelCNN without blind spot (van den Oord et al., 2016) over image-shaped rows.

The network reads a row of ``D = height * width`` variables as an image in raster order
(row by row, left to right) and emits, at pixel ``p``, the parameters of
``p(x_p | x_<p)``. Two stacks keep it causal without masking any weight:

* the **vertical stack** at row ``i`` sees only rows ``< i`` (its first layer is
  padded and cropped so that the kernel's last row never overlaps row ``i``);
* the **horizontal stack** at ``(i, j)`` sees the pixels left of ``j`` in row ``i``
  (first layer) and, through a 1x1 link, the vertical stack at row ``i``.

Stacking the two covers every earlier pixel within the receptive field: unlike a single
masked convolution, there is no blind spot to the upper right.

Like :class:`skarm.nn.MADE`, the network is built from *degrees* (the order position of
each input and output unit), so :class:`skarm.nn.AutoregressiveModel` can use it with any
head: degree ``p`` is pixel ``p`` in raster order, and the units sharing a degree are
that pixel's channels.

The network also generates *incrementally* (:meth:`PixelCNN.step`): since the vertical
stack of row ``i`` reads only rows ``< i``, it is computed for every layer once per row,
when row ``i - 1`` is complete; the horizontal stack is then computed one pixel at a
time, from a cache of the current row of each layer. A step costs about what one pixel
of the full pass costs, so drawing ``D`` pixels costs about one pass instead of ``D``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skarm.nn.made import Dropout

__all__ = ["GatedConvLayer", "PixelCNN"]


def _gate(h: Tensor) -> Tensor:
    a, b = h.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedConvLayer(nn.Module):
    """One gated layer ``tanh(W_f * x) ⊙ sigmoid(W_g * x)`` with vertical and horizontal stacks.

    Parameters
    ----------
    in_channels, channels : int
        Input and output channels of both stacks.
    kernel_size : int
        Odd kernel width; the vertical kernel is ``(kernel_size // 2 + 1, kernel_size)``.
    first : bool
        The first layer is strictly causal (it does not see the current pixel); later
        layers see their own position, which only carries earlier pixels.
    dropout : float, default=0.0
        Dropout on the gated horizontal activations during training.

    Examples
    --------
    >>> layer = GatedConvLayer(1, 4, 3, first=True)
    >>> v, h = layer(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
    >>> v.shape, h.shape
    (torch.Size([2, 4, 8, 8]), torch.Size([2, 4, 8, 8]))
    """

    def __init__(
        self, in_channels: int, channels: int, kernel_size: int, first: bool, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}.")
        half = kernel_size // 2
        self.first = first
        self.half = half
        self.residual = not first and in_channels == channels
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (half + 1, kernel_size))
        self.horizontal = nn.Conv2d(in_channels, 2 * channels, (1, half + 1))
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Map the stacks ``(v, h)`` of shape ``(n, C, H, W)`` to the next layer's."""
        p = self.half
        if self.first:  # pad one more row/column, then crop: the kernel stops short of (i, j)
            hv = self.vertical(F.pad(v, (p, p, p + 1, 0)))[:, :, :-1]
            hh = self.horizontal(F.pad(h, (p + 1, 0, 0, 0)))[:, :, :, :-1]
        else:
            hv = self.vertical(F.pad(v, (p, p, p, 0)))
            hh = self.horizontal(F.pad(h, (p, 0, 0, 0)))
        out_h = self.out(self.dropout(_gate(hh + self.link(hv))))
        if self.residual:
            out_h = out_h + h
        return _gate(hv), out_h

    def vertical_row(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """The vertical stack of one image row, for incremental generation.

        Parameters
        ----------
        rows : Tensor, shape (n, C_in, kernel_size // 2 + 1, W + 2 * (kernel_size // 2) + 1)
            The rows of the input vertical stack that the kernel reads for this row
            (the ``kernel_size // 2 + 1`` rows above it for the first layer, the
            ``kernel_size // 2`` rows above and the row itself for later ones), zero
            padded by ``kernel_size // 2 + 1`` columns on the left and
            ``kernel_size // 2`` on the right.

        Returns
        -------
        v : Tensor, shape (n, C, W)
            The gated row: this row of the next layer's vertical stack.
        link : Tensor, shape (n, 2 * C, W)
            The 1x1 link of the pre-activation, added to the horizontal stack.
        """
        hv = self.vertical(rows[..., 1:])  # the extra left column is for the horizontal
        return _gate(hv)[:, :, 0], self.link(hv)[:, :, 0]

    def horizontal_pixel(self, row: Tensor, link: Tensor, j: int) -> Tensor:
        """The horizontal stack at column ``j`` of the current row.

        Parameters
        ----------
        row : Tensor, shape (n, C_in, W + kernel_size // 2 + 1 + extra)
            The current row of the input horizontal stack, zero padded by
            ``kernel_size // 2 + 1`` columns on the left (any right padding is ignored),
            filled up to column ``j``
            (up to ``j - 1`` for the first layer, which does not read column ``j``).
        link : Tensor, shape (n, 2 * C)
            The vertical stack's link at this pixel (:meth:`vertical_row`).
        j : int
            The column.

        Returns
        -------
        Tensor, shape (n, C)
            The layer's horizontal output at this pixel, as :meth:`forward` computes it.
        """
        p = self.half
        start = j if self.first else j + 1  # the kernel's columns j - p - 1.. or j - p..
        window = row[:, :, start : start + p + 1].flatten(1)
        hh = F.linear(window, self.horizontal.weight.flatten(1), self.horizontal.bias)
        out_h = _pointwise(self.out, self.dropout(_gate(hh + link)))
        if self.residual:
            out_h = out_h + row[:, :, j + p + 1]
        return out_h


def _pointwise(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A 1x1 convolution applied to one pixel ``x`` of shape ``(n, C_in)``."""
    return F.linear(x, conv.weight.flatten(1), conv.bias)


class _PixelCNNNet(nn.Module):
    """One gated PixelCNN: ``(n, C_in, H, W) -> (n, C_out, H, W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        widths: Sequence[int],
        kernel_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        layers, previous = [], in_channels
        for i, width in enumerate(widths):
            layers.append(GatedConvLayer(previous, int(width), kernel_size, i == 0, dropout))
            previous = int(width)
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(previous, 2 * previous, 1),
            nn.ReLU(),
            nn.Conv2d(2 * previous, out_channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def init_cache(self, n: int, like: Tensor, width: int) -> dict:
        """Zero row buffers for ``n`` images ``width`` pixels wide (see :meth:`step`)."""
        half = self.layers[0].half
        padded = width + 2 * half + 1
        # Layer l's output stacks: the last half + 1 rows of v (the rows the next layer's
        # vertical kernel reads), the current row of h and of the vertical link.
        return {
            "v": [like.new_zeros(n, m.out.out_channels, half + 1, padded) for m in self.layers],
            "h": [like.new_zeros(n, m.out.out_channels, padded - half) for m in self.layers],
            "link": [None] * len(self.layers),
        }

    def step(self, cache: dict, image: Tensor, i: int, j: int) -> Tensor:
        """Outputs ``(n, out_channels)`` at pixel ``(i, j)``.

        ``image`` is the padded input image, filled up to pixel ``(i, j - 1)`` (top
        padding ``kernel_size // 2 + 1`` rows, left ``kernel_size // 2 + 1`` and right
        ``kernel_size // 2`` columns). Pixels must be stepped in raster order.
        """
        layers = self.layers
        half = layers[0].half
        width = image.shape[3] - 2 * half - 1
        if j == 0:  # row i - 1 is complete: the vertical stacks of row i, layer by layer
            rows = image[:, :, i : i + half + 1]
            for k, layer in enumerate(layers):
                v_row, cache["link"][k] = layer.vertical_row(rows)
                v = cache["v"][k].roll(-1, dims=2)  # drop the oldest row, last one is row i
                v[:, :, -1, half + 1 : half + 1 + width] = v_row
                cache["v"][k] = rows = v
        h = image[:, :, i + half + 1]
        for layer, h_next, link in zip(layers, cache["h"], cache["link"], strict=True):
            h_next[:, :, j + half + 1] = layer.horizontal_pixel(h, link[:, :, j], j)
            h = h_next
        head = self.head
        hidden = F.relu(_pointwise(head[1], F.relu(h[:, :, j + half + 1])))
        return _pointwise(head[3], hidden)


def _channel_index(degrees: Tensor, n_pixels: int, what: str, net: str = "PixelCNN") -> Tensor:
    """``index[c, p]``: the unit holding channel ``c`` of pixel (position) ``p`` (``-1`` if
    none)."""
    if degrees.dim() != 1:
        raise ValueError(f"{net} takes one row of {what} degrees, got shape {degrees.shape}.")
    if degrees.numel() == 0 or degrees.min() < 0 or degrees.max() >= n_pixels:
        raise ValueError(f"{net} {what} degrees must lie in 0..{n_pixels - 1} (one per position).")
    counts = torch.bincount(degrees, minlength=n_pixels)
    index = torch.full((int(counts.max()), n_pixels), -1, dtype=torch.long)
    slot = torch.zeros(n_pixels, dtype=torch.long)
    for unit, p in enumerate(degrees.tolist()):
        index[slot[p], p] = unit
        slot[p] += 1
    return index


def register_channel_gathers(
    module: nn.Module, d_in: Tensor, d_out: Tensor, n_positions: int, net: str
) -> tuple[int, int]:
    """Register the buffers that lay units out as channels of positions and back.

    ``module.in_index[c, p]`` is the input unit holding channel ``c`` of position ``p``
    (or the appended zero unit ``n_in``, for positions with fewer channels);
    ``module.out_flat[u]`` is the flat position ``c * D + p`` of the network's output map
    that output unit ``u`` reads. Returns the input and output channel counts.
    """
    in_index = _channel_index(d_in, n_positions, "input", net)
    out_index = _channel_index(d_out, n_positions, "output", net)
    n_in = int(in_index.max()) + 1
    module.register_buffer("in_index", torch.where(in_index < 0, n_in, in_index))
    valid = out_index >= 0
    flat = torch.arange(out_index.numel()).view_as(out_index)
    out_flat = torch.empty(int(valid.sum()), dtype=torch.long)
    out_flat[out_index[valid]] = flat[valid]
    module.register_buffer("out_flat", out_flat)
    return in_index.shape[0], out_index.shape[0]


class PixelCNN(nn.Module):
    """Gated PixelCNN mapping encoded pixels to autoregressive distribution parameters.

    Output units of degree ``d`` depend only on input units of degree ``< d``, degree
    ``d`` being pixel ``d`` of a ``height x width`` image in raster order.

    Parameters
    ----------
    in_degrees : array-like of int, shape (n_in,)
        Degree (raster pixel index) of each input unit; the units of one pixel are its
        input channels, in the order given.
    out_degrees : array-like of int, shape (n_out,)
        Degree of each output unit; the units of one pixel are its output channels.
    image_shape : (int, int)
        ``(height, width)`` of the image.
    hidden_sizes : sequence of int, default=(64,) * 6
        Channels of each gated layer.
    kernel_size : int, default=3
        Odd width of the convolution kernels.
    dropout : float, default=0.0
        Dropout probability inside each gated layer during training.
    n_members : int, default=1
        Number of independent networks evaluated side by side.

    Examples
    --------
    >>> net = PixelCNN(range(4), range(4), (2, 2), hidden_sizes=[8, 8], n_members=2)
    >>> net(torch.zeros(5, 4)).shape
    torch.Size([2, 5, 4])
    """

    def __init__(
        self,
        in_degrees: Sequence[int] | Tensor,
        out_degrees: Sequence[int] | Tensor,
        image_shape: tuple[int, int],
        hidden_sizes: Sequence[int] = (64,) * 6,
        kernel_size: int = 3,
        dropout: float = 0.0,
        n_members: int = 1,
    ) -> None:
        super().__init__()
        height, width = (int(s) for s in image_shape)
        if not hidden_sizes:
            raise ValueError("PixelCNN needs at least one gated layer (hidden_sizes).")
        self.image_shape = (height, width)
        n_pixels = height * width
        d_in = torch.as_tensor(in_degrees, dtype=torch.long)
        d_out = torch.as_tensor(out_degrees, dtype=torch.long)
        c_in, c_out = register_channel_gathers(self, d_in, d_out, n_pixels, "PixelCNN")
        self.n_members = int(n_members)
        self.nets = nn.ModuleList(
            _PixelCNNNet(c_in, c_out, hidden_sizes, kernel_size, dropout)
            for _ in range(self.n_members)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x`` of shape ``(n, n_in)`` to parameters of shape ``(n_members, n, n_out)``."""
        n = x.shape[0]
        padded = torch.cat([x, x.new_zeros(n, 1)], dim=1)
        image = padded[:, self.in_index].view(n, -1, *self.image_shape)
        return torch.stack([net(image).reshape(n, -1)[:, self.out_flat] for net in self.nets])

    def output_layers(self) -> list[nn.Module]:
        """Every member's 1x1 head over the horizontal stack (what fine-tuning trains)."""
        return [net.head for net in self.nets]

    def init_cache(self, n: int, like: Tensor) -> dict:
        """An empty generation cache for ``n`` rows.

        Parameters
        ----------
        n : int
            Number of images generated side by side.
        like : Tensor
            Its dtype and device are the cache's.

        Returns
        -------
        dict
            The input image, zero padded and filled pixel by pixel by :meth:`step`, and
            per member the row buffers of every layer's stacks.
        """
        height, width = self.image_shape
        half = self.nets[0].layers[0].half
        channels = self.in_index.shape[0]
        image = like.new_zeros(n, channels, height + half + 1, width + 2 * half + 1)
        members = [net.init_cache(n, like, width) for net in self.nets]
        return {"image": image, "members": members}

    def step(self, cache: dict, previous: Tensor | None, p: int) -> Tensor:
        """Outputs at pixel ``p`` (raster order) from the pixels before it.

        Parameters
        ----------
        cache : dict
            From :meth:`init_cache`, updated in place; pixels must be stepped in turn
            from 0.
        previous : Tensor of shape (n, c) or None
            The encoded channels of pixel ``p - 1``, ``c <= in_channels`` (the missing
            channels are zero, as in :meth:`forward`); None at ``p == 0``.
        p : int
            The pixel.

        Returns
        -------
        Tensor, shape (n_members, n, out_channels)
            Output channel ``j`` is the ``j``-th output unit of degree ``p``: the same
            values as :meth:`forward` gives those units once pixels ``< p`` are set.
        """
        image = cache["image"]
        width = self.image_shape[1]
        half = self.nets[0].layers[0].half
        if previous is not None:
            r, c = divmod(p - 1, width)
            image[:, : previous.shape[1], r + half + 1, c + half + 1] = previous
        i, j = divmod(p, width)
        return torch.stack(
            [net.step(c, image, i, j) for net, c in zip(self.nets, cache["members"], strict=True)]
        )
