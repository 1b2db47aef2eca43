"""A W&B sweep file's parameters as Optuna distributions, form by form, and back from a trial's
sampled values to the flags the W&B agent would pass (`--lr=0.001`). Only the standard library at
import time; `distributions()` imports optuna.

W&B form                                   → Optuna
`value: v`                                 → not searched; passed as --name=v
`values: [...]` / `distribution: categorical` → CategoricalDistribution(values)
`values` + `probabilities`                 → FloatDistribution(0, 1) read through the cumulative
                                             probabilities (a weighted choice; Optuna has none)
`uniform` (or float `min`/`max`)           → FloatDistribution(min, max)
`int_uniform` (or int `min`/`max`)         → IntDistribution(min, max)
`q_uniform` (min, max, q)                  → FloatDistribution(min', max', step=q), min'/max' the
                                             multiples of q inside [min, max], as W&B rounds to them
`log_uniform_values`, `inv_log_uniform_values` → FloatDistribution(min, max, log=True) (the inverse
                                             of a log-uniform value is log-uniform on the same range)
`log_uniform`, `inv_log_uniform` (exponents) → FloatDistribution(e^min, e^max) / (e^-max, e^-min), log
`q_log_uniform_values`, `q_log_uniform`     → the log-uniform one, rounded to a multiple of q when
                                             passed (W&B samples then rounds; Optuna has no log+step)
`normal`, `log_normal`, ... (unbounded), nested `parameters:` → refused, one line naming the parameter
"""

import bisect
import itertools
import math
from dataclasses import dataclass, field

from ..errors import SweepError

LOG_VALUES = {"log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values"}
LOG_EXPONENTS = {"log_uniform", "inv_log_uniform", "q_log_uniform"}
UNBOUNDED = {"normal", "q_normal", "log_normal", "q_log_normal"}
CHOICE_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One searched parameter: its Optuna distribution's arguments (kind: float, int or categorical), and how a sampled
    value becomes the flag's value (q: rounded to a multiple; weights: a weighted choice read from a uniform number)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    q: float | None = None
    weights: tuple = ()

    def flag_value(self, sampled):
        if self.weights:
            cumulative = list(itertools.accumulate(self.weights))
            return self.choices[min(bisect.bisect_right(cumulative, sampled * cumulative[-1]), len(self.choices) - 1)]
        if self.q is not None:
            return quantize(sampled, self.q)
        if self.kind == "float" and self.step is not None:
            return quantize(sampled, self.step)  # 0.30000000000000004 → 0.3
        return sampled

    def grid(self) -> list:
        """The values a grid search takes (W&B: `values`, or an integer / quantized range)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        if self.step is not None:
            n = round((self.high - self.low) / self.step)
            return [quantize(self.low + i * self.step, self.step) for i in range(n + 1)]
        raise SweepError(
            f"parameter {self.name}: a grid search needs values, int_uniform or q_uniform (it cannot "
            "enumerate a continuous range)"
        )


@dataclass(frozen=True)
class Space:
    params: dict[str, Param]
    constants: dict = field(default_factory=dict)

    def flags(self, sampled: dict) -> dict:
        """The flag values of one trial: constants, then each searched parameter's value."""
        return {**self.constants, **{n: p.flag_value(sampled[n]) for n, p in self.params.items()}}

    def grid(self) -> dict[str, list]:
        return {n: p.grid() for n, p in self.params.items()}


def quantize(x: float, q: float):
    value = round(x / q) * q
    digits = max(0, -math.floor(math.log10(abs(q)))) + 6 if q else 6
    value = round(value, digits)
    return int(value) if float(q).is_integer() and float(value).is_integer() else value


def number(name: str, spec: dict, key: str) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SweepError(f"parameter {name}: {key} must be a number (got {value!r})")
    return value


def bounds(name: str, spec: dict) -> tuple[float, float]:
    low, high = number(name, spec, "min"), number(name, spec, "max")
    if not low < high:
        raise SweepError(f"parameter {name}: min ({low}) must be below max ({high})")
    return low, high


def categorical(name: str, spec: dict) -> Param:
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        raise SweepError(f"parameter {name}: values must be a non-empty list")
    if not all(isinstance(v, CHOICE_TYPES) for v in values):
        raise SweepError(f"parameter {name}: values must be numbers, strings, booleans or null (Optuna's choices)")
    probabilities = spec.get("probabilities")
    if probabilities is None:
        return Param(name, "categorical", choices=tuple(values))
    if (
        not isinstance(probabilities, list)
        or len(probabilities) != len(values)
        or not all(isinstance(p, (int, float)) and p >= 0 for p in probabilities)
        or not sum(probabilities) > 0
    ):
        raise SweepError(f"parameter {name}: probabilities must be one non-negative number per value")
    return Param(name, "float", 0.0, 1.0, choices=tuple(values), weights=tuple(probabilities))


def parse_param(name: str, spec) -> Param | None:
    """The parameter as a Param, or None for a constant (`value:`). Refuses what Optuna cannot draw."""
    if not isinstance(spec, dict):
        raise SweepError(f"parameter {name}: expected a mapping with value, values or distribution")
    if "parameters" in spec:
        raise SweepError(f"parameter {name}: nested parameters are not supported; name each flag at the top level")
    kind = spec.get("distribution")
    if kind is None:
        if "value" in spec:
            return None
        if "values" in spec:
            kind = "categorical"
        elif "min" in spec and "max" in spec:
            ints = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max"))
            kind = "int_uniform" if ints else "uniform"
        else:
            raise SweepError(f"parameter {name}: no value, values, min/max or distribution")
    if kind == "constant":
        return None
    if kind == "categorical":
        return categorical(name, spec)
    if kind in UNBOUNDED:
        raise SweepError(
            f"parameter {name}: distribution {kind} is unbounded and has no Optuna distribution; "
            "use uniform or log_uniform_values with min/max"
        )
    if kind in {"uniform", "int_uniform", "q_uniform"} | LOG_VALUES | LOG_EXPONENTS:
        low, high = bounds(name, spec)
    else:
        raise SweepError(f"parameter {name}: unknown distribution {kind!r}")
    q = number(name, spec, "q") if kind.startswith("q_") else None
    if q is not None and q <= 0:
        raise SweepError(f"parameter {name}: q must be positive")
    if kind == "uniform":
        return Param(name, "float", low, high)
    if kind == "int_uniform":
        if not all(float(v).is_integer() for v in (low, high)):
            raise SweepError(f"parameter {name}: int_uniform needs integer min and max")
        return Param(name, "int", int(low), int(high))
    if kind == "q_uniform":
        lo, hi = math.ceil(low / q - 1e-9) * q, math.floor(high / q + 1e-9) * q
        if lo > hi:
            raise SweepError(f"parameter {name}: no multiple of q={q} lies in [{low}, {high}]")
        return Param(name, "float", quantize(lo, q), quantize(hi, q), step=q)
    if kind in LOG_EXPONENTS:
        low, high = (math.exp(-high), math.exp(-low)) if kind.startswith("inv") else (math.exp(low), math.exp(high))
    elif low <= 0:
        raise SweepError(f"parameter {name}: {kind} needs min > 0")
    return Param(name, "float", low, high, log=True, q=q)


def parse_space(parameters: dict) -> Space:
    if not isinstance(parameters, dict) or not parameters:
        raise SweepError("the sweep file has no parameters:")
    params, constants = {}, {}
    for name, spec in parameters.items():
        param = parse_param(name, spec)
        if param is None:
            constants[name] = spec.get("value")
        else:
            params[name] = param
    return Space(params, constants)


def distributions(space: Space) -> dict:
    """The Optuna distribution of each searched parameter (what study.ask(fixed_distributions=) takes)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name, p in space.params.items():
        if p.kind == "categorical":
            out[name] = CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[name] = IntDistribution(int(p.low), int(p.high))
        else:
            out[name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    return out
