"""A small causal transformer over the variable order (:class:`CausalTransformer`).

Each variable is a token; position ``p`` attends to every earlier one, at a cost
quadratic in ``D`` for the full pass. Incremental generation keeps each layer's keys and
values (a key/value cache), so drawing ``D`` variables costs one pass. The shifting of
the input sequence, the members and the degree bookkeeping are
:class:`skarm.nn.sequence.SequenceNet`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skarm.nn.made import Dropout
from skarm.nn.sequence import SequenceNet

__all__ = ["CausalTransformer"]


class _AttentionBlock(nn.Module):
    """Pre-norm causal self-attention and MLP with residuals."""

    def __init__(self, width: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()

    def _heads(self, t: Tensor) -> Tensor:  # (n, L, w) -> (n, h, L, w / h)
        n, length, width = t.shape
        return t.view(n, length, self.n_heads, width // self.n_heads).transpose(1, 2)

    def forward(self, t: Tensor) -> Tensor:
        q, k, v = (self._heads(a) for a in self.qkv(self.norm1(t)).chunk(3, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        t = t + self.dropout(self.proj(a.transpose(1, 2).reshape(t.shape)))
        return t + self.dropout(self.mlp(self.norm2(t)))

    def step(self, cache: dict, t: Tensor, p: int) -> Tensor:
        """Token ``p`` ``(n, w)`` attending to the cached keys and values of tokens ``<= p``."""
        q, k, v = (self._heads(a.unsqueeze(1)) for a in self.qkv(self.norm1(t)).chunk(3, dim=-1))
        cache["k"][:, :, p : p + 1] = k
        cache["v"][:, :, p : p + 1] = v
        a = F.scaled_dot_product_attention(q, cache["k"][:, :, : p + 1], cache["v"][:, :, : p + 1])
        t = t + self.proj(a.reshape(t.shape))
        return t + self.mlp(self.norm2(t))


class _Transformer(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, n_positions: int, widths: Sequence[int], dropout: float
    ) -> None:
        super().__init__()
        width = widths[0]
        self.width = width
        self.n_heads = next(h for h in (4, 2, 1) if width % h == 0)
        self.embed = nn.Linear(c_in, width)
        self.position = nn.Parameter(torch.randn(n_positions, width) * 0.02)
        self.blocks = nn.ModuleList(_AttentionBlock(width, self.n_heads, dropout) for _ in widths)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, c_out)

    def forward(self, s: Tensor) -> Tensor:
        t = self.embed(s.transpose(1, 2)) + self.position[: s.shape[2]]
        for block in self.blocks:
            t = block(t)
        return self.out(self.norm(t)).transpose(1, 2)

    def init_cache(self, n: int, like: Tensor) -> dict:
        shape = (n, self.n_heads, self.position.shape[0], self.width // self.n_heads)
        layers = [{"k": like.new_zeros(shape), "v": like.new_zeros(shape)} for _ in self.blocks]
        return {"n": n, "like": like, "layers": layers}

    def step(self, cache: dict, s: Tensor, p: int) -> Tensor:
        t = self.embed(s) + self.position[p]
        for block, layer in zip(self.blocks, cache["layers"], strict=True):
            t = block.step(layer, t, p)
        return self.out(self.norm(t))


class CausalTransformer(SequenceNet):
    """A small causal transformer over the variable order, with learned positional embeddings.

    Each variable is a token (its encoded channels, linearly embedded, plus a learned
    embedding of its position); pre-norm blocks of causal multi-head self-attention and
    a GELU MLP; a linear read-out. Unlike the convolutions, position ``p`` sees every
    earlier variable, at a cost quadratic in ``D`` for the full pass.

    Parameters
    ----------
    in_degrees, out_degrees : array-like of int
        Degrees of the input and output units (see :class:`SequenceNet`).
    hidden_sizes : sequence of int, default=(64,) * 3
        Model width of each block (all equal); its length is the number of blocks.
        Four attention heads when the width is divisible by 4 (else 2 or 1).
    dropout : float, default=0.0
        Dropout on each block's residual branches during training.
    n_members : int, default=1
        Number of independent networks evaluated side by side.

    Examples
    --------
    >>> net = CausalTransformer(range(5), range(5), hidden_sizes=[8, 8])
    >>> net(torch.zeros(3, 5)).shape
    torch.Size([1, 3, 5])
    """

    def __init__(
        self,
        in_degrees: Sequence[int] | Tensor,
        out_degrees: Sequence[int] | Tensor,
        hidden_sizes: Sequence[int] = (64,) * 3,
        dropout: float = 0.0,
        n_members: int = 1,
    ) -> None:
        widths = [int(w) for w in hidden_sizes]
        if not widths or len(set(widths)) != 1:
            raise ValueError(
                "CausalTransformer needs hidden_sizes of one repeated width (one entry per "
                f"block), got {list(hidden_sizes)!r}."
            )
        super().__init__(
            in_degrees,
            out_degrees,
            n_members,
            lambda c_in, c_out, n_pos: _Transformer(c_in, c_out, n_pos, widths, dropout),
        )

    def output_layers(self) -> list[nn.Module]:
        """The final norm and read-out, per member (what fine-tuning trains)."""
        return [m for net in self.nets for m in (net.norm, net.out)]
