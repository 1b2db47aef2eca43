"""A W&B sweep file's parameters as Optuna distributions, form by form, and back from a trial's
sampled values to the flags the W&B agent would pass (`--lr=0.001`). Only the standard library at
import time; `distributions()` imports optuna.

W&B form                                   → Optuna
`value: v`                                 → not searched; passed as --name=v
`values: [...]` / `distribution: categorical` → CategoricalDistribution(values)
`values` + `probabilities`, `categorical_w_probabilities`
                                           → FloatDistribution(0, 1) read through the cumulative
                                             probabilities (a weighted choice; Optuna has none)
`values` whose items are lists or mappings → CategoricalDistribution of their JSON texts
`uniform` (or float `min`/`max`)           → FloatDistribution(min, max)
`int_uniform` (or int `min`/`max`)         → IntDistribution(min, max)
`q_uniform` (min, max, q: default 1)       → FloatDistribution(min, max), passed as round(x / q) * q, W&B's
                                             rule: the end points get half the weight of the inner
                                             multiples, and a rounded value may lie outside [min, max]
`beta` (a, b: default 1)                   → FloatDistribution(0, 1), a quantile read through the beta
                                             distribution's inverse (scipy), as W&B draws it
`log_uniform_values`, `inv_log_uniform_values` → FloatDistribution(min, max, log=True) (the inverse
                                             of a log-uniform value is log-uniform on the same range)
`log_uniform`, `inv_log_uniform` (exponents) → FloatDistribution(e^min, e^max) / (e^-max, e^-min), log
`q_log_uniform_values`, `q_log_uniform`     → the log-uniform one, rounded to a multiple of q when
                                             passed (W&B samples then rounds; Optuna has no log+step)
`normal`, `log_normal`, ... (unbounded), nested `parameters:` → refused, one line naming the parameter

A grid takes `values`, `int_uniform` (min..max) and `q_uniform` (W&B's np.arange(min, max, q): max excluded);
one of more than MAX_GRID points is refused before it is enumerated, as is a grid with `probabilities`.
"""

import bisect
import itertools
import json
import math
from dataclasses import dataclass, field

from ..errors import SweepError

LOG_VALUES = {"log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values"}
LOG_EXPONENTS = {"log_uniform", "inv_log_uniform", "q_log_uniform"}
UNBOUNDED = {"normal", "q_normal", "log_normal", "q_log_normal"}
CHOICE_TYPES = (type(None), bool, int, float, str)
MAX_GRID = 100_000  # grid points: more cannot be run, and enumerating them would hang the runner
MAX_EXPONENT = 700  # log_uniform's e^min, e^max: beyond this a float overflows (or reaches 0)


@dataclass(frozen=True)
class Param:
    """One searched parameter: its Optuna distribution's arguments (kind: float, int or categorical), and how a sampled
    value becomes the flag's value (q: rounded to a multiple; weights: a weighted choice read from a uniform number)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    q: float | None = None
    weights: tuple = ()
    beta: tuple = ()  # (a, b): the sampled number is the quantile
    encoded: bool = False  # choices are JSON texts of lists or mappings

    def flag_value(self, sampled):
        if self.encoded:
            return json.loads(sampled)
        if self.beta:
            from scipy import stats

            return float(stats.beta.ppf(sampled, *self.beta))
        if self.weights:
            cumulative = list(itertools.accumulate(self.weights))
            return self.choices[min(bisect.bisect_right(cumulative, sampled * cumulative[-1]), len(self.choices) - 1)]
        if self.q is not None:
            return quantize(sampled, self.q)
        return sampled

    def grid_size(self) -> int:
        if self.kind == "categorical" or self.weights:
            return len(self.choices)
        if self.kind == "int":
            return int(self.high) - int(self.low) + 1
        if self.q is not None and not self.log:  # np.arange(min, max, q): ceil((max - min) / q) points
            n = (self.high - self.low) / self.q
            return math.ceil(n) if math.isfinite(n) and n <= MAX_GRID else MAX_GRID + 1
        raise SweepError(
            f"parameter {self.name}: a grid search needs values, int_uniform or q_uniform (it cannot "
            "enumerate a continuous range)"
        )

    def grid(self) -> list:
        """The values a grid search takes (W&B: `values`, or an integer / quantized range)."""
        if (n := self.grid_size()) > MAX_GRID:
            raise SweepError(f"parameter {self.name}: a grid of {n:,} points or more; at most {MAX_GRID:,} can be run")
        if self.kind == "categorical" or self.weights:
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        points = [float(f"{self.low + i * self.q:.12g}") for i in range(n)]  # np.arange's, less float noise
        return [int(v) if float(self.q).is_integer() and v.is_integer() else v for v in points]


@dataclass(frozen=True)
class Space:
    params: dict[str, Param]
    constants: dict = field(default_factory=dict)

    def flags(self, sampled: dict) -> dict:
        """The flag values of one trial: constants, then each searched parameter's value."""
        return {**self.constants, **{n: p.flag_value(sampled[n]) for n, p in self.params.items()}}

    def for_grid(self) -> "Space":
        """As W&B's grid takes it: a q_uniform range becomes a choice among its points, passed as they are."""
        ranges = [p for p in self.params.values() if p.q and not p.log]
        params = {**self.params, **{p.name: Param(p.name, "categorical", choices=tuple(p.grid())) for p in ranges}}
        return Space(params, self.constants)

    def grid(self) -> dict[str, list]:
        values = {n: p.grid() for n, p in self.params.items()}
        if (size := math.prod(map(len, values.values()))) > MAX_GRID:
            raise SweepError(f"the grid has {size:,} points; at most {MAX_GRID:,} can be run")
        return values


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
    encoded = not all(isinstance(v, CHOICE_TYPES) for v in values)
    if encoded:  # lists (W&B passes them as they are): Optuna's choices are their JSON texts
        try:
            values = [json.dumps(v, sort_keys=True, allow_nan=False) for v in values]
        except (TypeError, ValueError, RecursionError):
            why = "values must be numbers, strings, booleans, null or lists of them"
            raise SweepError(f"parameter {name}: {why}") from None
    probabilities = spec.get("probabilities")
    if probabilities is None:
        return Param(name, "categorical", choices=tuple(values), encoded=encoded)
    if (
        not isinstance(probabilities, list)
        or len(probabilities) != len(values)
        or not all(isinstance(p, (int, float)) and p >= 0 for p in probabilities)
        or not sum(probabilities) > 0
    ):
        raise SweepError(f"parameter {name}: probabilities must be one non-negative number per value")
    if not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6):  # W&B's schema
        raise SweepError(f"parameter {name}: probabilities must add up to 1 (they add up to {sum(probabilities):g})")
    weights = tuple(probabilities)
    return Param(name, "float", 0.0, 1.0, choices=tuple(values), weights=weights, encoded=encoded)


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
    if kind in ("categorical", "categorical_w_probabilities"):
        return categorical(name, spec)
    if kind == "beta":
        a, b = (spec.get(k, 1) for k in "ab")  # W&B's defaults
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf for x in (a, b)):
            raise SweepError(f"parameter {name}: beta needs positive numbers a and b (got {a!r}, {b!r})")
        try:
            import scipy.stats  # noqa: F401
        except ImportError:
            raise SweepError(f"parameter {name}: a beta distribution needs scipy: pip install scipy") from None
        return Param(name, "float", 0.0, 1.0, beta=(a, b))
    if kind in UNBOUNDED:
        raise SweepError(
            f"parameter {name}: distribution {kind} is unbounded and has no Optuna distribution; "
            "use uniform or log_uniform_values with min/max"
        )
    if kind in {"uniform", "int_uniform", "q_uniform"} | LOG_VALUES | LOG_EXPONENTS:
        low, high = bounds(name, spec)
    else:
        raise SweepError(f"parameter {name}: unknown distribution {kind!r}")
    q = number(name, {"q": 1, **spec}, "q") if kind.startswith("q_") else None  # W&B's default q: 1
    if q is not None and q <= 0:
        raise SweepError(f"parameter {name}: q must be positive")
    if kind == "uniform":
        return Param(name, "float", low, high)
    if kind == "int_uniform":
        if not all(float(v).is_integer() for v in (low, high)):
            raise SweepError(f"parameter {name}: int_uniform needs integer min and max")
        return Param(name, "int", int(low), int(high))
    if kind == "q_uniform":
        return Param(name, "float", low, high, q=q)
    if kind in LOG_EXPONENTS:
        if max(abs(low), abs(high)) > MAX_EXPONENT:
            raise SweepError(f"parameter {name}: {kind} takes exponents of e: |min|, |max| at most {MAX_EXPONENT}")
        low, high = (math.exp(-high), math.exp(-low)) if kind.startswith("inv") else (math.exp(low), math.exp(high))
    elif low <= 0:
        raise SweepError(f"parameter {name}: {kind} needs min > 0")
    return Param(name, "float", low, high, log=True, q=q)


def parse_space(parameters: dict) -> Space:
    if not isinstance(parameters, dict) or not parameters:
        raise SweepError("the sweep file's parameters: must be a mapping of flag names to their specs")
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
            out[name] = FloatDistribution(p.low, p.high, log=p.log)
    return out
