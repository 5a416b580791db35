"""JSON-lines result files shared by the UCI benchmarks: one line per fitted model, so
that runs resume after an interruption and several processes (one per core) combine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def key(record: dict) -> tuple:
    """What identifies a fit: data set, split, model and configuration label."""
    return record["set"], record["split"], record["model"], record.get("label")


def read_records(path: Path, keep: Callable[[dict], bool] | None = None) -> list[dict]:
    """Every result in ``path``, the first of any duplicate fit (none if no file); with
    ``keep``, only the lines it accepts (before duplicates are resolved)."""
    if not path.exists():
        return []
    unique: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        if line:
            record = json.loads(line)
            if keep is not None and not keep(record):
                continue
            unique.setdefault(key(record), record)
    return list(unique.values())


def append_record(path: Path, record: dict) -> None:
    """Append one result line (short appends from several processes do not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
