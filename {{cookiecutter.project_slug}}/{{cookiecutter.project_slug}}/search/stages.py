"""The tuning playbook's edge check for `sweeps next`: a best value in the outer tenth of the range its
stage searched (on that range's scale: log for log distributions) is a sign the best lies beyond the
range, so the next stage searches it again on a range widened past that edge instead of narrowing
around it or fixing it. Only the standard library."""

from __future__ import annotations

import math

from .space import parse_param

EDGE = 0.1  # the outer tenth of the range, each side


def position(value: float, low: float, high: float, log: bool) -> float:
    """Where `value` lies in [low, high], 0 … 1, on the range's scale."""
    if log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def widened(spec: dict, value: float, valid=lambda x: True) -> tuple[dict, str] | None:
    """The spec widened by half its width past the edge `value` is near (less when the flag's
    `valid` refuses the new bound: a quarter, an eighth, or the old bound), and a sentence saying
    so; None when `value` is not at an edge or the spec is not a numeric range given by its values."""
    try:
        p = parse_param("x", spec)
    except Exception:  # noqa: BLE001 - not a range this check understands (a refused form): leave it
        return None
    if p is None or p.kind == "categorical" or p.weights or spec.get("distribution", "").endswith("log_uniform"):
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or (p.log and value <= 0):
        return None
    low, high = float(spec["min"]), float(spec["max"])
    at = position(value, low, high, p.log)
    if EDGE <= at <= 1 - EDGE:
        return None
    kind = int if p.kind == "int" else float
    lower = at < EDGE
    bound = low if lower else high
    for fraction in (0.5, 0.25, 0.125):
        if p.log:
            factor = (high / low) ** fraction
            new = low / factor if lower else high * factor
        else:
            new = low - fraction * (high - low) if lower else high + fraction * (high - low)
        new = kind(math.floor(new) if lower else math.ceil(new)) if kind is int else new
        if valid(new):
            bound = new
            break
    scale = "log scale" if p.log else "linear scale"
    where = f"best {value:g} lies in the {'lower' if lower else 'upper'} tenth of [{low:g}, {high:g}] ({scale})"
    if bound == (low if lower else high):
        return spec, f"{where}, at the flag's limit: searched again on the same range"
    new_low, new_high = (bound, high) if lower else (low, bound)
    out = {**spec, "min": kind(new_low), "max": kind(new_high)}
    return out, f"{where}: widened to [{new_low:g}, {new_high:g}] instead of narrowed"
