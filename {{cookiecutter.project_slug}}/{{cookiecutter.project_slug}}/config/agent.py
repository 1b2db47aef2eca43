"""A run started by a W&B sweep agent: how it is recognized, the arguments it passes that are not
flags as typed by hand, and the run directory a re-queued run comes back to. Only the standard library.

The agent passes `--name=str(value)` for every config key (wandb's `create_sweep_command_args`). A run
the sweep re-queues (preempted) gets its whole stored config: `--_wandb={...}` (wandb#4237; `---wandb`
once underscores become dashes), logged values that are not flags (input_shape, param_count, ...),
`--flag=None` for unset flags, and lists in Python's spelling (`--tasks=['digit']`, `--task_weights=[]`)."""

import ast
import logging
import os
from pathlib import Path

SWEEP_ENV = ("WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH")  # wandb agent sets both; wandb's Agent() alone the second
RUN_ID_ENV = "WANDB_RUN_ID"

# Keys a run logs to its W&B config that are not flags: what the data determines (TaskModule's
# hyperparameters beside the flags), the run's facts (callbacks.RunFacts) and wandb's own.
LOGGED_KEYS = frozenset(
    ("input_shape", "input_mean", "input_std", "task_names", "task_classes", "task_class_names", "task_kinds")
    + ("label_frequencies", "target_mean", "target_std")
    + ("steps_per_epoch", "global_batch_size", "param_count", "world_size", "wandb_version")
)

log = logging.getLogger(__name__)


def under_agent() -> bool:
    """Whether a W&B sweep agent started this process."""
    return any(os.environ.get(k) for k in SWEEP_ENV)


def agent_run_name() -> str | None:
    """The run directory's name under an agent without --run-name: from the W&B run id, so a run the
    sweep re-queues (same WANDB_RUN_ID) finds its own directory again. None outside an agent."""
    run_id = os.environ.get(RUN_ID_ENV, "").strip()
    return f"wandb-{run_id}" if under_agent() and run_id and "/" not in run_id else None


def agent_resume(output_dir: str, run_name: str) -> str | None:
    """The checkpoint a re-queued run continues from: its own run directory's last.ckpt, if any."""
    last = Path(output_dir) / run_name / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def agent_argv(argv: list[str], flags_by_option: dict, is_list: set[str]) -> list[str]:
    """`argv` (dashes already normalized) without what the agent adds that is not a flag, and with
    Python/YAML list values as comma lists. `flags_by_option`: option → its Flag (default read);
    `is_list`: the options that take a list. What is dropped or rewritten is said in one debug line."""
    out, dropped, rewritten = [], [], []
    for token in argv:
        name, eq, value = token.partition("=")
        key = name[2:].replace("-", "_") if name.startswith("--") else ""
        if name in ("--_wandb", "---wandb"):  # wandb's own config entry (wandb#4237)
            dropped.append(name)
            continue
        if not eq or not key:
            out.append(token)
            continue
        if name not in flags_by_option and under_agent() and key in LOGGED_KEYS:
            dropped.append(name)
            continue
        f = flags_by_option.get(name)
        if f is not None and under_agent() and value == "None" and f.default is None:
            dropped.append(name)  # an unset flag, as the agent renders it: its default
            continue
        if name in is_list and value.strip().startswith("["):
            items = literal_list(value)
            if items is not None:
                token = f"{name}={','.join(str(v) for v in items)}"
                rewritten.append(name)
        out.append(token)
    if dropped or rewritten:
        log.debug("W&B agent arguments: ignored %s; lists rewritten: %s", dropped or "none", rewritten or "none")
    return out


def literal_list(text: str) -> list | None:
    """`['digit', 'large']`, `[1, 0.5]`, `[]`, or YAML's `[digit, large]` → the items; None if not a
    flat list (the flag's own parser then reports the value)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):  # YAML's [digit, large]
        inner = text.strip()[1:-1].strip() if text.strip().endswith("]") else None
        value = None if inner is None else [p.strip().strip("'\"") for p in inner.split(",")] if inner else []
    if not isinstance(value, (list, tuple)) or any(isinstance(v, (list, tuple, dict, set)) for v in value):
        return None
    return list(value)
