"""The closed-form pieces of the output refit (:mod:`skarm._refit`).

Each Gaussian (or Gaussian-mixture) conditional's free components are regressed by EM:
the E-step gives each training row's responsibility for each component, the M-step is a
weighted ridge regression (:func:`_weighted_ridge`), the training MAP objective with the
other parameters held. This module holds what the steps share (the responsibilities, the
output units of a column's parameters) and the step on the random features' read-out
(:func:`_em_features`); :mod:`skarm._refit` runs the rounds and keeps what the held-out
rows confirm.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Normal

from skarm._head_base import NormalHead
from skarm._mixture import MixtureHead
from skarm.nn.arm import AutoregressiveModel

#: Least responsibility (in training rows) a free component, or a conditional's free
#: components or atoms together, must hold for the refit to change it: below it, a
#: change rests on too few rows (a column whose rows sit almost all on atoms, say).
MIN_ROWS = 50


def _gaussian_groups(module: AutoregressiveModel) -> list[int]:
    """Groups whose head is Gaussian (one or a mixture): their means are least squares."""
    return [i for i, h in enumerate(module.heads) if type(h) in (NormalHead, MixtureHead)]


def _responsibilities(head, params: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """Posterior probability of each free component given the value, and the
    components' scales: each ``(K, n, c, m)``."""
    log_w, loc, scale = head.free_gaussians(params)
    log_p = head.log_prob(params, x).unsqueeze(-1)
    resp = torch.exp(log_w + Normal(loc, scale).log_prob(x.unsqueeze(-1)) - log_p)
    return torch.nan_to_num(resp, nan=0.0), scale


def _units(module: AutoregressiveModel, group: int, slots: slice | int | None) -> Tensor:
    """Output units ``(c, s)`` of the group's columns at the given parameter slots."""
    head = module.heads[group]
    cols, offset, _ = module._groups[group]
    slot = torch.arange(head.n_params)[slots]
    return offset + torch.arange(len(cols))[:, None] * head.n_params + slot.reshape(1, -1)


def _mean_targets(module) -> Tensor:
    """The output units ``(n_out,)`` the random features may shift: every Gaussian
    column's (free components') means."""
    targets = torch.zeros(module.net.output.weight.shape[1], dtype=torch.bool)
    for g in _gaussian_groups(module):
        targets[_units(module, g, module.heads[g].mean_slots).flatten()] = True
    return targets


def _em_features(module, feats, alpha: float) -> dict[tuple[int, int], Tensor]:
    """One EM step on the random features' read-out (one shift shared by a column's
    free components, and their common bias); returns the changed units per
    ``(member, column)``.

    With the other parameters held, the components' weighted least squares in the shift
    collapse to one: row ``n`` weighs ``W_n = sum_m r_nm / sigma_nm^2`` and targets the
    weighted mean of ``z_n - mu_nm`` over the components (the means without the shift).
    """
    net, block = module.net, module.net.extra
    groups = _gaussian_groups(module)
    old = feats.shifts  # (K, n, n_blocks)
    sums = {g: [] for g in groups}
    for rows, out in feats.chunks():
        params = module._split_params(out)
        for g in groups:
            head, x = module.heads[g], feats.x[rows][:, module._cols(g)]
            resp, scale = _responsibilities(head, params[g], x)  # (K, n, c, m)
            loc = head.free_gaussians(params[g])[1]
            w = (resp / scale.square()).double()
            residual = (w * (x.unsqueeze(-1) - loc)).sum(-1)
            sums[g].append(torch.stack([resp.sum(-1).double(), w.sum(-1), residual]))
    changed, bias = {}, net.output.bias
    for g in groups:
        cols = module._cols(g)
        units = _units(module, g, module.heads[g].mean_slots)  # (c, m)
        resp, w, wr = torch.cat(sums.pop(g), dim=2)  # (K, n, c) each
        for k in range(net.n_members):
            for i, j in enumerate(cols.tolist()):
                b = block.block_of(k, int(units[i, 0]))
                if b is None or float(resp[k, :, i].sum()) < MIN_ROWS:
                    continue
                # Targets with the present shift added back: the shift is what is fitted.
                target = wr[k, :, i] / w[k, :, i].clamp_min(1e-300) + old[k, :, b].double()
                f = block.member_features(feats.inputs, k, b)
                a = torch.cat([f, torch.ones_like(f[:, :1])], dim=1).double()
                theta = _weighted_ridge(a, w[k, :, i], target, alpha)
                if theta is None:
                    continue
                theta = theta.to(block.weight.dtype)
                # The constant is relative to the means without the shift: it moves
                # into their biases (the read-out has none).
                block.weight.data[k, b] = theta[:-1]
                bias.data[k, 0, units[i]] += theta[-1]
                changed[(k, j)] = (b, units[i])
    return changed


def _weighted_ridge(a: Tensor, w: Tensor, z: Tensor, alpha: float) -> Tensor | None:
    """``argmin_theta sum_n w_n (z_n - a_n theta)^2 / 2 + alpha ||theta_W||^2 / 2``, the
    last column of ``a`` being the (unpenalised) bias; None if the system is singular."""
    aw = a * w[:, None]
    ridge = torch.full((a.shape[1],), float(alpha), dtype=a.dtype, device=a.device)
    ridge[-1] = 0.0
    gram = a.T @ aw + torch.diag(ridge)
    # A relative jitter: features no row activates (dead units) with alpha = 0.
    gram += torch.eye(len(gram), dtype=a.dtype, device=a.device) * (
        1e-10 * float(gram.diagonal().mean())
    )
    try:
        theta = torch.linalg.solve(gram, aw.T @ z)
    except torch.linalg.LinAlgError:
        return None
    return theta if bool(torch.isfinite(theta).all()) else None
