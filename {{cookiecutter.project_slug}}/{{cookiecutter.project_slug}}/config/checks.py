"""The checks argparse cannot make alone: combinations of flags, flags of one kind of data, what the machine must offer
(output folder, W&B), the checklist's advice on doubtful values. Each problem: one line (parser.error, exit 2)."""

import argparse
import math

{% if cookiecutter.tables -%}
from ..data.tasks import parse_task_types
{% endif -%}
from ..datasets import DATASETS, tasks_for
from ..errors import UsageError
from ..files import check_folder
from . import flags
from .declared import decorated
from .environment import has_credentials, is_rank_zero, {% if cookiecutter.diagnostics %}missing, {% endif %}wandb_mode_env_problem
from .reach import flag_reach{% if cookiecutter.tables and cookiecutter.backbones %}, is_backbone{% endif %}


def yaml_text(value) -> str:
    """A value as the command line would spell it (lists comma-separated, booleans true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(yaml_text(v) for v in value)
    return str(value)


def check_environment(parser: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Before any file is written, what the flags need from the machine: output folder, run name, W&B mode, login."""
    try:
        out = check_folder(a.output_dir)
    except UsageError as e:
        parser.error(f"argument --output-dir: {e}")
    if a.run_name and not a.resume_ckpt and not a.overwrite and is_rank_zero() and (out / a.run_name).exists():
        parser.error(
            f"argument --run-name: {out / a.run_name} already holds a run; continue it with --resume "
            f"{out / a.run_name}, choose another --run-name, or replace it with --overwrite"
        )
    if problem := wandb_mode_env_problem():
        parser.error(problem)
    if a.wandb_mode == "online" and not has_credentials():
        parser.error(
            "argument --wandb-mode: online needs W&B credentials (run `wandb login` or set "
            "WANDB_API_KEY); use --wandb-mode auto to fall back to offline"
        )


def advice(a: argparse.Namespace) -> list[str]:
    """The checklist's advice on valid but doubtful values: one line each, not an error."""
    lines = []
    if a.batch_size & (a.batch_size - 1):
        lines.append(
            f"--batch-size {a.batch_size} is not a power of 2; the checklist suggests one "
            f"(e.g. {2 ** round(math.log2(a.batch_size))})"
        )
    if a.aug_mirror and a.dataset in ("digits", "mnist"):
        lines.append(
            f"--aug-mirror {a.aug_mirror:g} on {a.dataset}: mirroring a digit changes its meaning "
            "(a mirrored 2 is no 2)"
        )
    if a.download and not (spec := DATASETS[a.dataset]).download:  # a warning: --config files carry it anywhere
        lines.append(f"--download does not apply to --dataset {a.dataset} (its files: {spec.source}); ignored")
    if a.activation in ("tanh", "sigmoid"):
        lines.append(
            f"--activation {a.activation}: functions that saturate at both ends like sigmoid and tanh "
            "are not appropriate for hidden layers; ReLU is the preferred default (checklist)"
        )
    return lines


def ignored_flags(a: argparse.Namespace) -> list[str]:
    """Flags given a non-default value that cannot reach this network (a warning: sweeps sample independently)."""
    _, ignored = flag_reach(a.model{% if cookiecutter.backbones %}, a.pretrained{% endif %})
    return [
        f"{flags.FLAG_BY_NAME[f].option} {yaml_text(getattr(a, f))} does not apply to --model {a.model}; ignored"
        for f in ignored
        if getattr(a, f) != flags.FLAG_BY_NAME[f].default
    ]


def check_choices(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # argparse checks choices on the command line only; values from --config arrive as defaults.
    for f in flags.FLAGS:
        if f.choices and getattr(args, f.name) not in f.choices:
            parser.error(
                f"argument {f.option}: invalid choice: {getattr(args, f.name)!r} (choose from {', '.join(f.choices)})"
            )


def check_combinations(parser: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Flags that are valid alone but not together (litgpt's __post_init__ habit)."""
    problems = []
    optimizers = decorated("training/optimizers.py", "register_optimizer")
    takers = [n for n, d in optimizers.items() if "nesterov" in d.keywords]
    if a.nesterov and a.optimizer not in takers:  # the optimizers that declare the flag (training/optimizers.py)
        problems.append(f"--nesterov applies to --optimizer {' or '.join(takers)} only, got --optimizer {a.optimizer}")
    if a.nesterov and a.momentum == 0:
        problems.append("--nesterov needs --momentum > 0, got --momentum 0")
    if a.lr_schedule in ("exponential", "step") and a.lr_decay >= 1:
        problems.append(f"--lr-decay must be < 1 for --lr-schedule {a.lr_schedule}, got {a.lr_decay:g}")
{%- if cookiecutter.inference %}
    if a.test_only and not a.resume_ckpt:
        problems.append("--test-only needs --resume CHECKPOINT (the checkpoint to test)")
{%- endif %}
    if a.find_lr and a.auto_lr:
        problems.append("--find-lr and --auto-lr exclude each other (--find-lr only reports, --auto-lr trains)")
    augments = [f.name for f in flags.FLAGS if f.name.startswith("aug_") and f.name != "aug_preview"]
    if a.aug_preview and not any(getattr(a, name) for name in augments):
        problems.append("--aug-preview needs at least one augmentation flag (--aug-translate, --aug-rotate, …)")
    if a.task_weights and len(a.task_weights) != len(a.tasks):
        problems.append(
            f"--task-weights needs one weight per task: {len(a.tasks)} tasks ({','.join(a.tasks)}), "
            f"{len(a.task_weights)} weights"
        )
    if len(set(a.tasks)) != len(a.tasks):
        problems.append(f"--tasks lists a task twice: {','.join(a.tasks)}")
    try:  # the tasks belong to the dataset
{%- if cookiecutter.tables %}
        declared = {t.name: t.kind for t in tasks_for(a.dataset, a.tasks)}
        for name, kind in parse_task_types(a.task_types, a.tasks).items():
            if name in declared and declared[name] != kind:
                problems.append(f"--task-types: task {name!r} of {a.dataset} is {declared[name]}, not {kind}")
{%- else %}
        tasks_for(a.dataset, a.tasks)
{%- endif %}
    except ValueError as e:
        problems.append(str(e))
    if a.batch_size == 1 and a.batchnorm:
        problems.append(
            "--batch-size 1 with batch normalization: batch norm needs at least 2 examples per "
            "minibatch to estimate μ and σ²; use --batch-size >= 2 or --no-batchnorm"
        )
    if a.find_lr and a.fast_dev_run:
        problems.append("--find-lr runs its own range test of many minibatches; it cannot run with --fast-dev-run")
    if a.task_weights and not any(a.task_weights):
        problems.append(f"--task-weights are all zero ({','.join(map(str, a.task_weights))}): the loss would be 0")
    if a.sync_batchnorm == "true" and a.accelerator == "cpu":
        problems.append("--sync-batchnorm true needs GPUs; PyTorch refuses SyncBatchNorm on --accelerator cpu")
    if a.benchmark and a.deterministic:
        problems.append(
            "--benchmark and --deterministic exclude each other (PyTorch ignores determinism for "
            "cuDNN when the autotuner is on)"
        )
{%- if cookiecutter.diagnostics %}
    if a.tensorboard and missing("tensorboard"):
        problems.append("--tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'")
{%- endif %}
    if problems:
        parser.error(problems[0])
{%- if cookiecutter.tables %}


def tables_only(parser: argparse.ArgumentParser, a: argparse.Namespace) -> bool:
    """The table flags (train.py's, prepare's) refused for another dataset; True for a table."""
    if DATASETS[a.dataset].kind == "table":
        return True
    for name in ("target", "features", "feature_shape", "test_data", "seq_shift", "seq_scale", "seq_jitter"):
        if getattr(a, name, None):
            parser.error(f"argument {flags.FLAG_BY_NAME[name].option}: for --dataset csv only, not {a.dataset}")
    return False


def check_data_flags(parser: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """--target/--features belong to tables; a table needs a target."""
    if not tables_only(parser, a):
        return
    if not a.tasks:
        parser.error("argument --target: --dataset csv needs --target COLUMN (the column to predict)")
{%- if cookiecutter.backbones %}
    if is_backbone(a.model):
        parser.error(
            f"argument --model: {a.model} is an image backbone; a table's rows are not images "
            "(--dataset csv trains a network of networks.py, e.g. --model mlp)"
        )
{%- endif %}
    if a.target and a.tasks[0] != a.target:
        parser.error(
            f"argument --target: {a.target!r} must be the first of --tasks {','.join(a.tasks)} (or leave --target out)"
        )
    if a.adversarial != "none":
        parser.error("argument --adversarial: perturbs images within their pixel range; not for --dataset csv")
    if a.aug_preview:
        parser.error("argument --aug-preview: a table has no images to preview")
{%- endif %}
{%- if cookiecutter.tables or cookiecutter.streaming %}


IMAGE_MODELS = ("cnn", "rnn", "resnet")


def image_only_flags(a: argparse.Namespace) -> list[str]:
    """Flags that only make sense for images, given with a table: one warning line each, and made
    harmless (augmentation off, the MLP instead of an image architecture, the image size unused)."""
{%- if cookiecutter.streaming %}
    if DATASETS[a.dataset].kind == "streaming":  # fixed when the shards were written
        return [
            f"--{f.replace('_', '-')} {getattr(a, f)} is set by prepare for --dataset streaming; ignored"
            for f in ("image_size", "val_fraction")
            if getattr(a, f) != flags.FLAG_BY_NAME[f].default
        ]
{%- endif %}
{%- if cookiecutter.tables %}
    if DATASETS[a.dataset].kind != "table":
        return []
    lines = []
    for f in flags.FLAGS:
        if f.name.startswith("aug_") and getattr(a, f.name):
            lines.append(f"{f.option} {getattr(a, f.name):g} is for images; ignored with --dataset csv")
            setattr(a, f.name, f.default)
    if a.model in ("cnn", "resnet") and len(a.feature_shape) == 2 and a.feature_shape[1] == 1:
        shape = f"{a.feature_shape[0]},1"
        lines.append(f"--input-shape {shape} gives --model {a.model} 1 step: nothing in order (time is L in C,L)")
    if a.model in IMAGE_MODELS and not a.feature_shape:  # declared ordered columns: read as a sequence/image
        lines.append(f"--model {a.model} is for images or --input-shape C,L; --dataset csv trains --model mlp")
        a.model = "mlp"
    if a.image_size != flags.FLAG_BY_NAME["image_size"].default:
        lines.append(f"--image-size {a.image_size} is for images; ignored with --dataset csv")
        a.image_size = flags.FLAG_BY_NAME["image_size"].default
    return lines
{%- else %}
    return []
{%- endif %}
{%- endif %}
