"""The results table of ``bench_forecasting.py``: one row per fit, a mean row per
configuration and its gap to AutoReg, from the JSON lines of ``--out``."""

from __future__ import annotations

import numpy as np


def fmt_mean(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.2f}" if len(v) == 1 else f"{v.mean():.2f} ± {v.std():.2f}"


def table(records: list[dict]) -> str:
    lines = [
        "| series (k, h) | model | seed | epochs | val nats/window | test nats/window | "
        "test nats/step | 90 % coverage | MAE | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for name in dict.fromkeys(r["set"] for r in records):
        rows = [r for r in records if r["set"] == name]
        ar = [r for r in rows if r["model"] == "autoreg"]
        labels = dict.fromkeys(r["label"] for r in rows if r["model"] == "skarm")
        for r in ar:
            what = "AutoReg on differences" if r["label"] == "diff" else "AutoReg"
            lines.append(
                f"| {name} | {what} (p = {r['p']} by AIC) | – | – | {r['val_ll']:.2f} | "
                f"{r['test_ll']:.2f} | {r['test_ll'] / r['h']:.3f} | {r['coverage90']:.1%} | "
                f"{r['mae']:.3f} | {r['seconds']:.1f} |"
            )
        for label in labels:
            sk = sorted(
                (r for r in rows if r["model"] == "skarm" and r["label"] == label),
                key=lambda r: r["split"],
            )
            for r in sk:
                lines.append(
                    f"| {name} | skarm ({label}) | {r['split']} | {r['epochs']} | "
                    f"{r['val_ll']:.2f} | {r['test_ll']:.2f} | {r['test_ll'] / r['h']:.3f} | "
                    f"{r['coverage90']:.1%} | {r['mae']:.3f} | {r['seconds']:.0f} |"
                )
            if len(sk) > 1:
                col = {f: [r[f] for r in sk] for f in ("val_ll", "test_ll", "coverage90", "mae")}
                h = sk[0]["h"]
                lines.append(
                    f"| {name} | **skarm ({label}), mean ± sd** | {len(sk)} seeds | "
                    f"{np.mean([r['epochs'] for r in sk]):.0f} | {fmt_mean(col['val_ll'])} | "
                    f"**{fmt_mean(col['test_ll'])}** | {np.mean(col['test_ll']) / h:.3f} | "
                    f"{np.mean(col['coverage90']):.1%} | {np.mean(col['mae']):.3f} | "
                    f"{np.mean([r['seconds'] for r in sk]):.0f} |"
                )
            for r_ar in ar:
                what = "AutoReg on differences" if r_ar["label"] == "diff" else "AutoReg"
                gap = np.mean([r["test_ll"] for r in sk]) - r_ar["test_ll"]
                wins = sum(r["test_ll"] > r_ar["test_ll"] for r in sk)
                summary.append(
                    f"{name}, skarm ({label}) − {what}: {gap:+.2f} nats per window "
                    f"({gap / sk[0]['h']:+.3f} per step); skarm ahead for {wins} of "
                    f"{len(sk)} seeds."
                )
    return "\n".join(lines + [""] + summary)
