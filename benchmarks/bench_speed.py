"""Training speed: skarm's fit versus a plain torch loop training the same network.

Usage::

    python benchmarks/bench_speed.py [--epochs 20] [--repeats 3]

Both train one network of skarm's default "made" architecture (ordinal-encoded digits,
one hidden layer of 512 units with dropout 0.5, direct connections, 17-way categorical
outputs; skarm's default ensemble of 4 is set to 1 here) for the
same number of epochs with the same batch size, optimiser and prior, on the same
device, one after the other in this process. The plain loop is written from scratch
here (masks from numpy, data as one tensor, ``randperm`` batches), i.e. the code a
user would write by hand. Reported: median wall time of each and their ratio.
"""

import argparse
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skarm import AutoregressiveDensityEstimator

from _digits import digits_split


class PlainMADE(nn.Module):
    """MADE with direct connections over ordinal inputs and K-way categorical outputs."""

    def __init__(self, n_dims=64, n_levels=17, hidden=512, dropout=0.5):
        super().__init__()
        d_in = np.arange(n_dims)
        d_hid = np.arange(hidden) % (n_dims - 1)
        d_out = np.repeat(np.arange(n_dims), n_levels)
        self.register_buffer("m1", torch.tensor(d_hid[:, None] >= d_in[None, :]).float())
        self.register_buffer("m2", torch.tensor(d_out[:, None] > d_hid[None, :]).float())
        self.register_buffer("md", torch.tensor(d_out[:, None] > d_in[None, :]).float())
        self.l1 = nn.Linear(n_dims, hidden)
        self.l2 = nn.Linear(hidden, n_dims * n_levels)
        self.direct = nn.Linear(n_dims, n_dims * n_levels, bias=False)
        nn.init.zeros_(self.direct.weight)
        self.drop = nn.Dropout(dropout)
        self.n_dims, self.n_levels = n_dims, n_levels

    def forward(self, x):
        h = self.drop(F.relu(F.linear(x / 16.0, self.l1.weight * self.m1, self.l1.bias)))
        out = F.linear(h, self.l2.weight * self.m2, self.l2.bias)
        out = out + F.linear(x / 16.0, self.direct.weight * self.md)
        logits = out.view(-1, self.n_dims, self.n_levels)
        dist = torch.distributions.Categorical(logits=logits, validate_args=False)
        return dist.log_prob(x.long()).sum(1)


def plain_loop(X, epochs, batch_size, lr, alpha, device, fused=None):
    torch.manual_seed(0)
    model = PlainMADE().to(device)
    # The Gaussian prior as Adam's (L2) weight decay on the weights, biases undecayed.
    weights = [model.l1.weight, model.l2.weight, model.direct.weight]
    biases = [model.l1.bias, model.l2.bias]
    opt = torch.optim.Adam(
        [{"params": weights, "weight_decay": alpha / len(X)}, {"params": biases}],
        lr=lr,
        fused=fused,
    )
    data = torch.as_tensor(X, dtype=torch.float32, device=device)
    n = len(data)
    for _ in range(epochs):
        perm = torch.randperm(n, device=device)
        for s in range(0, n, batch_size):
            xb = data[perm[s : s + batch_size]]
            loss = -model(xb).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    train, _ = digits_split()
    # One network (ensemble_size=1): the plain loop trains a single MADE.
    est = AutoregressiveDensityEstimator(
        ensemble_size=1,
        max_iter=args.epochs,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=args.epochs + 1,
        random_state=0,
        device=args.device,
    )
    cfg = est.get_params()
    times = {"skarm": [], "plain": [], "plain_fused": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(train)
        times["skarm"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain_loop(
            train,
            args.epochs,
            cfg["batch_size"],
            cfg["learning_rate_init"],
            cfg["alpha"],
            args.device,
        )
        times["plain"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain_loop(
            train,
            args.epochs,
            cfg["batch_size"],
            cfg["learning_rate_init"],
            cfg["alpha"],
            args.device,
            fused=True,
        )
        times["plain_fused"].append(time.perf_counter() - t0)
    skarm_t, plain_t = np.median(times["skarm"]), np.median(times["plain"])
    fused_t = np.median(times["plain_fused"])
    print(
        f"device={args.device} epochs={args.epochs} rows={len(train)} "
        f"batch_size={cfg['batch_size']} torch_threads={torch.get_num_threads()}"
    )
    print("| loop | median fit time (s) | ratio to plain torch |")
    print("|---|---|---|")
    print(f"| plain torch loop, default Adam | {plain_t:.2f} | 1.00 |")
    print(f"| plain torch loop, Adam(fused=True) | {fused_t:.2f} | {fused_t / plain_t:.2f} |")
    print(
        f"| skarm fit (fused Adam) | {skarm_t:.2f} | {skarm_t / plain_t:.2f} "
        f"(vs fused loop: {skarm_t / fused_t:.2f}) |"
    )


if __name__ == "__main__":
    main()
