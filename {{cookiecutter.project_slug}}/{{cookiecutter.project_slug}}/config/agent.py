"""A run started by a W&B sweep agent: how it is recognized, its arguments that are not flags as typed, and the run
directory a re-queued run returns to. The agent passes `--key=str(value)`; a re-queued (preempted) run gets its stored
config: `--_wandb={...}` (wandb#4237), logged non-flags, `--flag=None` when unset, lists as `--tasks=['digit']`."""

import ast
import logging
import math
import os
from pathlib import Path

SWEEP_ENV = ("WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH")  # wandb agent sets both; wandb's Agent() alone the second
# Logged to a run's W&B config, not flags: what the data determines (TaskModule), callbacks.RunFacts, wandb's own.
LOGGED_KEYS = frozenset(
    ("input_shape", "input_mean", "input_std", "task_names", "task_classes", "task_class_names", "task_kinds")
    + ("label_frequencies", "target_mean", "target_std")
    + ("steps_per_epoch", "global_batch_size", "param_count", "world_size", "wandb_version")
)

log = logging.getLogger(__name__)


def under_agent() -> bool:
    return any(os.environ.get(k) for k in SWEEP_ENV)


def agent_run_name() -> str | None:
    """Under an agent without --run-name: wandb-<run id>, so a re-queued run (same WANDB_RUN_ID) finds its folder."""
    run_id = os.environ.get("WANDB_RUN_ID", "").strip()
    return f"wandb-{run_id}" if under_agent() and run_id and "/" not in run_id else None


def agent_resume(output_dir: str, run_name: str) -> str | None:
    """The checkpoint a re-queued run continues from: its own run directory's last.ckpt, if any."""
    last = Path(output_dir) / run_name / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def agent_argv(argv: list[str], flags_by_option: dict, is_list: set[str]) -> list[str]:
    """`argv` (dashes normalized) without what the agent adds that is not a flag, with Python/YAML lists as comma
    lists. `flags_by_option`: option → its Flag; `is_list`: the options that take a list. One debug line says it."""
    out, dropped, rewritten = [], [], []
    by_key = {"--" + f.name.replace("_", "-"): f for f in flags_by_option.values()}  # a config key (--feature-shape)
    for token in argv:
        name, eq, value = token.partition("=")
        key = name[2:].replace("-", "_") if name.startswith("--") else ""
        f = flags_by_option.get(name) or by_key.get(name)
        name, token = (f.option, f.option + eq + value) if f and name != f.option else (name, token)
        logged = key in LOGGED_KEYS and (f is None or f.name != key)  # input_shape: the data's, not --input-shape
        unset = f is not None and value == "None" and f.default is None  # an unset flag, as the agent renders it
        if name in ("--_wandb", "---wandb") or (eq and under_agent() and (logged or unset)):  # wandb's own: #4237
            dropped.append(name)
            continue
        if name in is_list and value.strip().startswith("[") and (items := literal_list(value)) is not None:
            token = f"{name}={','.join(str(v) for v in items)}"
            rewritten.append(name)
        out.append(token)
    if dropped or rewritten:
        log.debug("W&B agent arguments: ignored %s; lists rewritten: %s", dropped or "none", rewritten or "none")
    return out


def literal_list(text: str) -> list | None:
    """`['digit', 'large']`, `[1, 0.5]`, `[]` or YAML's `[digit, large]` → the items; None if not a flat list."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):  # YAML's [digit, large]
        inner = text.strip()[1:-1].strip() if text.strip().endswith("]") else None
        value = None if inner is None else [p.strip().strip("'\"") for p in inner.split(",")] if inner else []
    if not isinstance(value, (list, tuple)) or any(isinstance(v, (list, tuple, dict, set)) for v in value):
        return None
    return list(value)


def parameters_problem(params: dict) -> str | None:
    """What breaks W&B's parameter forms (a mapping each, `values` a non-empty list, `min`/`max` finite numbers with
    min <= max, > 0 for a *_values log scale), before any use; None when nothing. The engine checks q and grids."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    for name, spec in params.items():
        values, low, high = (spec.get(k) for k in ("values", "min", "max")) if isinstance(spec, dict) else (0, 0, 0)
        if not isinstance(spec, dict) or "values" in spec and not (isinstance(values, list) and values):
            return f"parameter {name}: " + ("values: must be a non-empty list" if spec else "must be a mapping")
        if ("min" in spec or "max" in spec) and not (number(low) and number(high) and low <= high):
            return f"parameter {name}: min, max must be finite numbers, min <= max ({str(low)[:40]}, {str(high)[:40]})"
        if str(spec.get("distribution", "")).endswith("log_uniform_values") and low <= 0:
            return f"parameter {name}: a log scale needs min > 0, got {low}"
    return None
