"""The monitored metric, spelled once: best.ckpt, early stopping, the best-epoch metrics, results.json
and every tool that ranks runs (sweeps) read it here. Only the standard library."""

from __future__ import annotations

MONITOR = "val/acc"  # the primary task's validation accuracy
MODE = "max"  # higher is better
GOAL = {"max": "maximize", "min": "minimize"}[MODE]  # the same, as a W&B sweep's metric.goal
# The value a run that diverged or got stuck reports, so that a sweep ranks it last: 0 for an accuracy
# (maximized; no run scores lower). A minimized metric (a loss) gets a finite 1e6 instead of inf:
# W&B's summaries, JSON and a Bayesian model's fit all need a number, and no run that learned anything
# reports a loss near it. Set WORST yourself if MONITOR names something else.
WORST = {"max": 0.0, "min": 1e6}[MODE]


def better(a: float, b: float) -> bool:
    """Whether value a of the monitored metric is better than b."""
    return a > b if MODE == "max" else a < b
