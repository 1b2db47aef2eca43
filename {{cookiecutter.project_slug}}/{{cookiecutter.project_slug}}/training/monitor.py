"""The monitored metric, spelled once: best.ckpt, early stopping, the best-epoch metrics, results.json
and every tool that ranks runs (sweeps) read it here. Only the standard library."""

from __future__ import annotations

MONITOR = "val/acc"  # the primary task's validation accuracy
MODE = "max"  # higher is better
GOAL = {"max": "maximize", "min": "minimize"}[MODE]  # the same, as a W&B sweep's metric.goal


def better(a: float, b: float) -> bool:
    """Whether value a of the monitored metric is better than b."""
    return a > b if MODE == "max" else a < b
