"""Gaussian-mixture conditionals with atoms: the head of continuous columns.

A mixture of free Gaussians per conditional (MADE-MoG, RNADE), plus narrow Gaussians on
a column's repeated values (atoms and a pool of minor atoms), plus the code by which a
later conditional reads which atom a value sits on. See the user guide, "Atoms".
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, Normal

from skarm._fused import logsumexp, pool_log_density
from skarm._head_base import NormalHead, positive_scale

__all__ = ["MixtureHead", "logsumexp"]


class MixtureHead(NormalHead):
    r"""Mixtures of ``n_components`` Gaussians per conditional (MADE-MoG, RNADE), plus atoms.

    .. math:: p(z \mid \cdot) = \sum_{m} \pi_m \, \mathcal{N}(z; \mu_m, \sigma_m)
        + \sum_{a} \pi_a \, \mathcal{N}(z; v_a, \sigma_{atom})
        + \pi_{pool} \sum_{b} q_b \, \mathcal{N}(z; u_b, \sigma_{atom}),
        \quad q_b \propto c_b \, \mathcal{N}(u_b; \mu_{pool}, \sigma_{pool})

    on standardised values, built on ``torch.distributions.MixtureSameFamily``, with
    ``pi = softmax(.)`` and ``sigma = softplus(.) + sigma_min``. The network emits, per
    column, the mixing logits, means and pre-softplus scales of the ``n_components`` free
    Gaussians; for a column with atoms, one logit per atom, the pool's logit, window centre
    and pre-softplus window width, and one shared pre-softplus atom scale.

    Atoms are values a column takes repeatedly (ties in tabular data: a level, a zero, a
    rounded value); their Gaussians sit exactly on them, so the model can put a narrow
    peak there without having to learn its location, while the free components cover
    everything else. The most frequent ``v_a`` get a logit each, in context. The *pool*
    holds the many minor ones ``u_b`` (a column measured at hundreds of settings): one
    logit for all of them, shared out in proportion to each value's training count
    ``c_b`` times a Gaussian window whose centre and width the network sets in context,
    so that hundreds of peaks cost three network outputs and still follow the context.
    ``min_scale`` bounds every scale, so that no component can collapse onto a point.

    Parameters
    ----------
    n_columns : int
        Number of columns in the group.
    n_components : int, default=5
        Free Gaussians per conditional.
    min_scale : float, default=1e-3
        Smallest component scale, in standardised units.
    atoms : sequence of array-like, optional
        Atom locations of each column (standardised units); empty or None for none.
    pool : sequence of (array-like, array-like), optional
        Per column, the pooled atoms' locations (standardised units) and training counts;
        empty arrays or None for none.
    """

    def __init__(
        self,
        n_columns: int,
        n_components: int = 5,
        min_scale: float = 1e-3,
        atoms: list | None = None,
        pool: list | None = None,
    ) -> None:
        super().__init__(n_columns, min_scale)
        if n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components}.")
        self.n_components = int(n_components)
        empty = (np.empty(0), np.empty(0))
        atoms = [np.asarray(a, dtype=np.float64).ravel() for a in (atoms or [[]] * n_columns)]
        pool = list(pool or [empty] * n_columns)
        if len(atoms) != n_columns or len(pool) != n_columns:
            raise ValueError(
                f"atoms and pool need one entry per column ({n_columns}); got {len(atoms)} "
                f"and {len(pool)}."
            )
        self.n_atoms = max(len(a) for a in atoms)
        self.n_pool = max(len(np.ravel(p[0])) for p in pool)
        loc = torch.zeros(n_columns, self.n_atoms, dtype=torch.float64)
        valid = torch.zeros(n_columns, self.n_atoms, dtype=torch.bool)
        for j, a in enumerate(atoms):
            loc[j, : len(a)] = torch.as_tensor(a)
            valid[j, : len(a)] = True
        self.register_buffer("atom_loc", loc.float())
        self.register_buffer("atom_valid", valid)
        pool_loc = torch.zeros(n_columns, self.n_pool, dtype=torch.float64)
        # Padding slots get a huge negative (finite, so that a column without a pool has
        # no NaN in its softmax) log-count, and are masked to -inf afterwards.
        pool_log_count = torch.full((n_columns, self.n_pool), -1e30, dtype=torch.float64)
        pool_valid = torch.zeros(n_columns, self.n_pool, dtype=torch.bool)
        for j, (values, counts) in enumerate(pool):
            values, counts = np.ravel(values), np.ravel(counts)
            pool_loc[j, : len(values)] = torch.as_tensor(values, dtype=torch.float64)
            pool_log_count[j, : len(values)] = torch.as_tensor(np.log(counts), dtype=torch.float64)
            pool_valid[j, : len(values)] = True
        self.register_buffer("pool_loc", pool_loc.float())
        self.register_buffer("pool_log_count", pool_log_count.float())
        self.register_buffer("pool_valid", pool_valid)
        # Padding slots of columns with a pool weigh exactly zero in the fused kernel
        # (columns without a pool keep theirs: their logit is -inf and a zero-weight
        # pool would be 0/0).
        self.pool_padded = bool((pool_valid.any(-1, keepdim=True) & ~pool_valid).any())
        self.register_buffer(
            "pool_weight",
            (pool_valid | ~pool_valid.any(-1, keepdim=True)).float(),
            persistent=False,
        )
        # The atoms' shared width starts at half the typical gap between a column's atoms:
        # a peak only pays once it is narrower than the gaps, and from a wide start the
        # likelihood is flat in the width (a plateau that training would not leave).
        init = [
            self._initial_atom_scale(np.r_[a, np.ravel(p[0])], min_scale)
            for a, p in zip(atoms, pool, strict=True)
        ]
        width = torch.as_tensor(init, dtype=torch.float64) - min_scale
        inverse_softplus = width + torch.log(-torch.expm1(-width))
        self.register_buffer("atom_scale_offset", inverse_softplus.float())
        has_atoms = self.n_atoms + self.n_pool > 0
        self._init_atom_codes(atoms, pool, init, has_atoms)
        self.n_params = (
            3 * self.n_components + self.n_atoms + 3 * (self.n_pool > 0) + (1 if has_atoms else 0)
        )

    #: Width of the random code that tells the network which atom an input sits on.
    n_atom_code = 16

    def _init_atom_codes(self, atoms, pool, widths, has_atoms: bool) -> None:
        """Buffers of :meth:`encode`: each column's atoms (free and pooled) sorted, padded
        with ``+inf``; a fixed random code per atom; and the codes' kernel widths."""
        if not has_atoms or self.n_atom_code == 0:
            self.n_inputs = 1
            self.atom_table = None
            return
        self.elementwise_encoding = False  # each column has its own atoms and codes
        values = [np.sort(np.r_[a, np.ravel(p[0])]) for a, p in zip(atoms, pool, strict=True)]
        n_values = max(len(v) for v in values)
        table = torch.full((self.n_columns, n_values), math.inf, dtype=torch.float64)
        for j, v in enumerate(values):
            table[j, : len(v)] = torch.as_tensor(v, dtype=torch.float64)
        gen = torch.Generator().manual_seed(0)
        # Unit expected norm: a column's code weighs as much as one input unit (its value);
        # codes of norm 4 (unit entries) let the network memorise value combinations
        # early (wine: 19.8 against 23.3 nats per row; power-plant alike).
        codes = torch.randn(self.n_columns, n_values, self.n_atom_code, generator=gen)
        codes = codes / math.sqrt(self.n_atom_code)
        self.register_buffer("atom_table", table.float())
        self.register_buffer("atom_code", codes)
        self.register_buffer("atom_code_width", torch.as_tensor(widths, dtype=torch.float32))
        self.n_inputs = 1 + self.n_atom_code

    def encode(self, x: Tensor) -> Tensor:
        """The value, and for a column with atoms a code of the atoms it sits on.

        The code is ``sum_b k_b(x) c_b`` over the four atoms ``u_b`` around ``x`` (two on
        each side), with a fixed random vector ``c_b`` of unit expected norm per atom and
        ``k_b(x) = exp(-(x - u_b)^2 / 2 tau^2)``, ``tau`` the atoms' initial width: the
        later columns' conditionals can then depend on *which* recorded value a column
        holds (a setting, a period), a function too rough for the network to draw from the
        value alone (power-plant: 0.7 nats per row). The code is a smooth function of ``x``
        at the scale of the atoms' peaks (up to the kernel of atoms two gaps away, which
        enter and leave the window as ``x`` crosses an atom), so values drawn from a peak
        are read as the data on that atom are. The code only shapes the inputs of later
        conditionals, each still a normalised distribution.
        """
        if self.atom_table is None:
            return x.unsqueeze(-1)
        table = self.atom_table.to(x.dtype)
        n_values = table.shape[1]
        # The window is found in float32, the precision the atoms are stored in, so that
        # a value on an atom gets the same window in training (float32) and in float64
        # scoring (where x is exact and the stored atom is rounded).
        xt = x.detach().float().transpose(0, 1).contiguous()
        right = torch.searchsorted(self.atom_table.float(), xt)  # (c, n): first atom >= x
        idx = right.unsqueeze(-1) + torch.arange(-2, 2, device=x.device)  # 4 nearest slots
        inside = (idx >= 0) & (idx < n_values)
        idx = idx.clamp(0, n_values - 1)
        loc = table.gather(1, idx.flatten(1)).view(idx.shape)
        z = (x.transpose(0, 1).unsqueeze(-1) - loc) / self.atom_code_width[:, None, None]
        weight = torch.exp(-0.5 * z.clamp(-12.0, 12.0).square())
        weight = torch.where(inside & torch.isfinite(loc), weight, 0.0)
        cols = torch.arange(self.n_columns, device=x.device)[:, None, None]
        code = (weight.unsqueeze(-1) * self.atom_code[cols, idx].to(x.dtype)).sum(dim=2)
        return torch.cat([x.unsqueeze(-1), code.transpose(0, 1)], dim=-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> MixtureSameFamily:
        m = self.n_components
        logits, loc, scale = params[..., : 3 * m].split(m, dim=-1)
        scale = positive_scale(scale, self.min_scale)
        if self.n_atoms + self.n_pool:
            offset = self.atom_scale_offset if columns is None else self.atom_scale_offset[columns]
            atom_scale = positive_scale(params[..., -1:] + offset.unsqueeze(-1), self.min_scale)
            logits, loc, scale = [logits], [loc], [scale]
            if self.n_atoms:
                atom_loc = self.atom_loc if columns is None else self.atom_loc[columns]
                valid = self.atom_valid if columns is None else self.atom_valid[columns]
                atom_logits = params[..., 3 * m : 3 * m + self.n_atoms]
                logits.append(atom_logits.masked_fill(~valid, -math.inf))
                loc.append(atom_loc.to(params.dtype).expand_as(atom_logits))
                scale.append(atom_scale.expand_as(atom_logits))
            if self.n_pool:
                logits.append(self._pool_logits(params, columns))
                pool_loc = self.pool_loc if columns is None else self.pool_loc[columns]
                loc.append(pool_loc.to(params.dtype).expand_as(logits[-1]))
                scale.append(atom_scale.expand_as(logits[-1]))
            logits, loc, scale = (torch.cat(t, dim=-1) for t in (logits, loc, scale))
        return MixtureSameFamily(
            Categorical(logits=logits, validate_args=False),
            Normal(loc, scale, validate_args=False),
            validate_args=False,
        )

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Log-density of ``x`` ``(n, c)``: the mixture of :meth:`distribution`, computed
        without materialising its components.

        Each component's log-weight plus log-density is formed in place and the mixture
        is one ``logsumexp``; the pool's atoms enter through two ``logsumexp`` over the
        pool (the window's normaliser and the atoms' density at ``x``). The same value as
        ``distribution(params).log_prob(x)`` (a test), for a third of the work.
        """
        weights, terms = self.category_terms(params, x)
        log_norm = 0.5 * math.log(2.0 * math.pi)
        return (logsumexp(terms) - logsumexp(weights)).squeeze(-1) - log_norm

    def category_terms(self, params: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """The mixture's categories at ``x`` ``(n, c)``: the free components, the atoms and
        the pool (one category for all its atoms), in the order of :attr:`logit_slots`.

        Returns the unnormalised log-weights (the logits; ``-inf`` where a column has no
        such atom or no pool) and the log-weights plus each category's log-density (up to
        ``log sqrt(2 pi)``), each ``(..., c, n_categories)``: ``softmax`` of the second is
        a row's posterior over the categories.
        """
        m = self.n_components
        x = x.unsqueeze(-1)
        logits, loc, raw_scale = params[..., : 3 * m].split(m, dim=-1)
        scale = positive_scale(raw_scale, self.min_scale)
        weights = [logits]
        terms = [logits - 0.5 * ((x - loc) / scale).square() - torch.log(scale)]
        if self.n_atoms + self.n_pool:
            raw_atom_scale = params[..., -1:] + self.atom_scale_offset.unsqueeze(-1)
            atom_scale = positive_scale(raw_atom_scale, self.min_scale)
            log_atom_scale = torch.log(atom_scale)
            if self.n_atoms:
                atom_logits = params[..., 3 * m : 3 * m + self.n_atoms]
                atom_logits = atom_logits.masked_fill(~self.atom_valid, -math.inf)
                weights.append(atom_logits)
                z = (x - self.atom_loc.to(params.dtype)) / atom_scale
                terms.append(atom_logits - 0.5 * z.square() - log_atom_scale)
            if self.n_pool:
                start = 3 * m + self.n_atoms
                logit, centre, raw_width = params[..., start : start + 3].split(1, dim=-1)
                logit = logit.masked_fill(~self.pool_valid.any(-1, keepdim=True), -math.inf)
                pool_loc = self.pool_loc.to(params.dtype)
                width = positive_scale(raw_width, self.min_scale)
                log_count = self.pool_log_count.to(params.dtype)
                if x.requires_grad:  # the plain expression, differentiable in x too
                    log_q = log_count - 0.5 * ((pool_loc - centre) / width).square()
                    z = (x - pool_loc) / atom_scale
                    pool = logsumexp(log_q - 0.5 * z.square()) - logsumexp(log_q)
                else:  # the same value, in a few passes (skarm._fused)
                    weight = self.pool_weight.to(params.dtype) if self.pool_padded else None
                    pool = pool_log_density(
                        x, centre, width, atom_scale, pool_loc, log_count, weight
                    )
                weights.append(logit)
                terms.append(logit + pool - log_atom_scale)
        return torch.cat(weights, dim=-1), torch.cat(terms, dim=-1)

    # Properties, not attributes set in __init__: models pickled before they existed
    # have them too.
    @property
    def mean_slots(self) -> slice:
        return slice(self.n_components, 2 * self.n_components)

    @property
    def scale_slots(self) -> slice:
        return slice(2 * self.n_components, 3 * self.n_components)

    @property
    def logit_slots(self) -> Tensor:
        """Parameter slots of the mixing logits, in the order of :meth:`category_terms`:
        the free components', the atoms' and the pool's."""
        start = 3 * self.n_components
        slots = [*range(self.n_components), *range(start, start + self.n_atoms)]
        if self.n_pool:
            slots.append(start + self.n_atoms)
        return torch.tensor(slots)

    @property
    def categories(self) -> Tensor:
        """Which categories of :meth:`category_terms` each column has ``(c, C)``: its free
        components, its atoms (not the padding of shorter lists) and its pool if any."""
        free = torch.ones(self.n_columns, self.n_components, dtype=torch.bool)
        pool = self.pool_valid.any(-1, keepdim=True).cpu()[:, : int(self.n_pool > 0)]
        return torch.cat([free, self.atom_valid.cpu(), pool], dim=1)

    @property
    def atom_scale_slot(self) -> int | None:
        return self.n_params - 1 if self.n_atoms + self.n_pool else None

    def free_gaussians(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The free Gaussians of the conditionals ``params`` ``(..., c, n_params)``: their
        log-weights in the whole mixture (atoms and pool included), means and scales,
        each ``(..., c, n_components)``."""
        m = self.n_components
        logits, loc, raw_scale = params[..., : 3 * m].split(m, dim=-1)
        weights = [logits]
        if self.n_atoms:
            atom_logits = params[..., 3 * m : 3 * m + self.n_atoms]
            weights.append(atom_logits.masked_fill(~self.atom_valid, -math.inf))
        if self.n_pool:
            logit = params[..., 3 * m + self.n_atoms : 3 * m + self.n_atoms + 1]
            weights.append(logit.masked_fill(~self.pool_valid.any(-1, keepdim=True), -math.inf))
        log_norm = logsumexp(torch.cat(weights, dim=-1))
        return logits - log_norm, loc, positive_scale(raw_scale, self.min_scale)

    @staticmethod
    def _initial_atom_scale(values: np.ndarray, min_scale: float) -> float:
        """Half the median gap between sorted atoms, within ``[2 min_scale, 0.1]``."""
        gaps = np.diff(np.sort(values))
        half_gap = 0.5 * float(np.median(gaps)) if gaps.size else 0.1
        return float(np.clip(half_gap, 2 * min_scale, 0.1))

    def _pool_logits(self, params: Tensor, columns: Tensor | None) -> Tensor:
        """``log pi_pool + log q_b``: the pool's logit shared out over its atoms in
        proportion to their training counts times a Gaussian window set in context."""
        pool_loc = self.pool_loc if columns is None else self.pool_loc[columns]
        log_count = self.pool_log_count if columns is None else self.pool_log_count[columns]
        valid = self.pool_valid if columns is None else self.pool_valid[columns]
        start = 3 * self.n_components + self.n_atoms
        logit, centre, raw_width = params[..., start : start + 3].split(1, dim=-1)
        z = (pool_loc.to(params.dtype) - centre) / positive_scale(raw_width, self.min_scale)
        q = torch.log_softmax(log_count.to(params.dtype) - 0.5 * z * z, dim=-1)
        return (logit + q).masked_fill(~valid, -math.inf)
