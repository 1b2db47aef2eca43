"""The module a run trains, built from the resolved flags plus what the data determines, and the
checks that only the data or the machine can make, all before the run directory exists."""

import math

from ..config.reach import flag_reach
from ..data.tasks import kinds_of
from ..errors import DataError, SettingError, UsageError, one_line


def build_module(config: dict, dm{% if cookiecutter.backbones %}, load_pretrained: bool = True{% endif %}):
    """The TaskModule of `config` (every flag's resolved value) plus what the data determines, saved so a checkpoint
    rebuilds the network: input shape and statistics, tasks, target statistics (regression heads learn (y − μ)/σ)."""
    from .module import TaskModule

    n = len(dm.tasks)
    return TaskModule(
{%- if cookiecutter.backbones %}
        load_pretrained=load_pretrained,
{%- endif %}
        **config,
        input_shape=list(dm.input_shape),
        input_mean=dm.mean,
        input_std=dm.std,
        task_names=[t.name for t in dm.tasks],
        task_classes=[t.num_classes for t in dm.tasks],
        task_class_names=dm.class_names,
        task_kinds=[t.kind for t in dm.tasks],
        label_frequencies=dm.label_frequencies(),
        target_mean=list(getattr(dm, "target_mean", None) or [0.0] * n),
        target_std=list(getattr(dm, "target_std", None) or [1.0] * n),
    )


def allocate_module(config: dict, dm, accelerator: str):
    """Build the module, first on the meta device: a network too large here is one line, not an allocator traceback."""
    import torch

    asked = f"--model {config['model']} --depth {config['depth']} --width {config['width']}"
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in build_module(config, dm{% if cookiecutter.backbones %}, load_pretrained=False{% endif %}).parameters())
    except Exception as e:  # noqa: BLE001 - the estimate is a courtesy; the real build below reports real errors
        if "overflow" in str(e.__cause__ or e):  # sizes past any tensor: the real build would allocate up to there
            raise SettingError(f"the network asked for ({asked}) is too large: {one_line(e.__cause__ or e)}") from None
        params = None
    if params is not None:
        need = params * 4 * 4  # float32 weights, gradients and up to two optimizer moments
        free = available_memory(accelerator)
        if free is not None and need > free:
            size = f"{params:,} parameters, about {need / 2**30:.1f} GiB to train"
            why = f"more than the {free / 2**30:.1f} GiB available; use a smaller --width or --depth"
            raise SettingError(f"the network asked for ({asked}) has {size}, {why}")
    try:
        return build_module(config, dm)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "alloc" not in str(e).lower() and "memory" not in str(e).lower():
            raise
        size, why = f"{params:,} parameters" if params else "a network", one_line(e)[:120]
        raise SettingError(f"cannot allocate {size} for {asked} ({why}); use a smaller --width or --depth") from None


def available_memory(accelerator: str) -> int | None:
    import torch

    if torch.cuda.is_available() and accelerator in ("auto", "gpu"):
        return torch.cuda.mem_get_info()[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def network_summary(model: str, module{% if cookiecutter.backbones %}, pretrained: bool = False{% endif %}) -> str:
    """Which of the network-dependent checklist flags reach this network (the rest apply to any network)."""
    applies, ignored = flag_reach(model{% if cookiecutter.backbones %}, pretrained{% endif %})
    net, option = module.net, lambda name: "--" + name.replace("_", "-")
    adapt = f", {net.channels} channels" if net.channels != len(module.hparams.input_mean or [0]) else ""
    adapt += f", resized to {net.size}×{net.size}" if net.size else ""
    reach = ", ".join(f"{option(f)} ({where})" for f, where in applies.items())
    channels, *axes = module.hparams.input_shape  # a table's rows are F×1×1 (data/tables.py), streamed or not
    raw = f"a table's {channels} feature columns" if axes == [1, 1] else "raw images in [0, 1]"
    steps = f"; steps: its {axes[0]} rows of {channels}×{axes[1]}" if model == "rnn" and len(axes) == 2 else ""
{%- if cookiecutter.tables %}
    if len(axes) == 1:  # --input-shape C,L (data/tables.py)
        reads = {"rnn": "the rnn's steps", "cnn": "1-D convolution", "resnet": "1-D convolution"}.get(model, "flat")
        raw = f"sequences of {channels} channel(s) × {axes[0]} steps (time: the last axis; {reads})"
{%- endif %}
    return (
        f"network: --model {model}: trunk → {net.heads.outputs[0].in_features} features → "
        f"{len(net.heads.outputs)} head(s); input: {raw}, standardized{adapt}{steps}\n"
        f"  flags that apply to it: {reach}; and every optimization, schedule, regularization and data flag\n"
        f"  flags ignored by it: {', '.join(option(f) for f in ignored) or 'none'}"
    )


def check_batches(dm, batch_size: int, val_fraction: float, limit_train, limit_val) -> None:
    """No empty training split, no --limit-*-batches that leave no batch (Lightning would quietly run on nothing)."""
    if len(dm.train_set) == 0:
        total = len(dm.train_set) + len(dm.val_set)
        raise DataError(f"--val-fraction {val_fraction:g} leaves no training examples (of {total}); lower it")
    limits = {"--limit-train-batches": (limit_train, dm.train_set), "--limit-val-batches": (limit_val, dm.val_set)}
    for flag, (limit, split) in limits.items():
        batches = math.ceil(len(split) / batch_size)
        if isinstance(limit, float) and batches and int(limit * batches) == 0:
            why = "use a larger fraction or a count >= 1"
            raise SettingError(f"{flag} {limit:g} of {batches} batches rounds to 0 batches; {why}")


def check_fits_checkpoint(hparams: dict, dm, what: str) -> None:
    """The checkpoint's network must fit this data: same input shape and classes per task."""
    kinds = [k.name for k in kinds_of(hparams)]
    saved = (list(hparams.get("input_shape", [])), list(hparams.get("task_classes", [])), kinds)
    now = (list(dm.input_shape), [t.num_classes for t in dm.tasks], [t.kind for t in dm.tasks])
    if saved != now:
        was = f"inputs {saved[0]} with classes per task {saved[1]} ({','.join(saved[2])})"
        raise UsageError(f"{what} was trained on {was}; this data gives {now[0]} and {now[1]} ({','.join(now[2])})")
