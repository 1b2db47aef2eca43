"""The tuning playbook's edge check for `sweeps next`: a best value in the outer tenth of the range its stage searched
(on that range's scale: log for log distributions) is a sign the best lies beyond the range, so the next stage searches
it again on a range widened past that edge instead of narrowing around it or fixing it. Only the standard library."""

import math

EDGE = 0.1  # the outer tenth of the range, each side
LOG_VALUES = {"log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values"}
NUMERIC = {"uniform", "int_uniform", "q_uniform", *LOG_VALUES}


def range_of(spec) -> tuple[float, float, bool, bool] | None:
    """(low, high, log scale, integer) of a W&B range given by its values; None for any other form."""
    if not isinstance(spec, dict) or "values" in spec or "value" in spec:
        return None
    low, high = spec.get("min"), spec.get("max")
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    kind = spec.get("distribution", "int_uniform" if all(isinstance(x, int) for x in (low, high)) else "uniform")
    if not numbers or kind not in NUMERIC or not low < high or (kind in LOG_VALUES and low <= 0):
        return None
    return float(low), float(high), kind in LOG_VALUES, kind == "int_uniform"


def widened(spec: dict, value: float, valid=lambda x: True) -> tuple[dict, str] | None:
    """The spec widened by half its width past the edge `value` is near (less when the flag's
    `valid` refuses the new bound: a quarter, an eighth, or the old bound), and a sentence saying
    so; None when `value` is not at an edge or the spec is not a numeric range given by its values."""
    if (found := range_of(spec)) is None:
        return None
    low, high, log, integer = found
    if not isinstance(value, (int, float)) or isinstance(value, bool) or (log and value <= 0):
        return None
    # where `value` lies in [low, high], 0 … 1, on the range's scale
    at = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low)) if log else (value - low) / (high - low)
    if EDGE <= at <= 1 - EDGE:
        return None
    kind = int if integer else float
    lower = at < EDGE
    bound = low if lower else high
    for fraction in (0.5, 0.25, 0.125):
        if log:
            factor = (high / low) ** fraction
            new = low / factor if lower else high * factor
        else:
            new = low - fraction * (high - low) if lower else high + fraction * (high - low)
        new = kind(math.floor(new) if lower else math.ceil(new)) if kind is int else new
        if valid(new):
            bound = new
            break
    scale = "log scale" if log else "linear scale"
    where = f"best {value:g} lies in the {'lower' if lower else 'upper'} tenth of [{low:g}, {high:g}] ({scale})"
    if bound == (low if lower else high):
        return spec, f"{where}, at the flag's limit: searched again on the same range"
    new_low, new_high = (bound, high) if lower else (low, bound)
    out = {**spec, "min": kind(new_low), "max": kind(new_high)}
    return out, f"{where}: widened to [{new_low:g}, {new_high:g}] instead of narrowed"
