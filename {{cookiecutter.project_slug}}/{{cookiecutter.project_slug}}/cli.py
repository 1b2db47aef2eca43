"""The command line: argparse over the declarations in flags.py, --config/--print-config, the
checks of values and combinations, and one-line errors (exit status 2) for bad input."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from .datasets import DATASETS, default_tasks
from .flags import FLAG_BY_NAME, FLAGS, SECTIONS, parse_bool
from .tasks import tasks_for

# ----------------------------------------------------------------------------- parser


class OneLineParser(argparse.ArgumentParser):
    """Bad input: one line naming the flag and what is allowed, exit status 2, no usage dump."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message}\n")


class BoolAction(argparse.Action):
    """--flag, --no-flag and --flag=VALUE (true/false/1/0/yes/no, any case: W&B sends True/False)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"argument {option_string}: takes no value")
            setattr(namespace, self.dest, False)
        else:
            setattr(namespace, self.dest, True if values is None else values)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="train.py",
        usage="train.py [--flag VALUE | --flag=VALUE ...]   (flags grouped by checklist section below)",
        description="Train a network with every hyperparameter of the deep-learning checklist as a flag. "
        "Flags accept dashes or underscores and --name=value; booleans accept --flag, --no-flag and "
        "--flag=true/false.",
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE.yaml", help="Load values (underscore keys); command-line "
                        "flags win over the file.")
    parser.add_argument("--print-config", action="store_true", help="Print the resolved config as YAML and exit.")
    groups = {s: parser.add_argument_group(s) for s in SECTIONS}
    for f in FLAGS:
        group = groups[f.section]
        if f.is_bool:
            group.add_argument(f.option, "--no-" + f.option[2:], dest=f.name, action=BoolAction, nargs="?",
                               type=parse_bool, default=f.default, metavar="BOOL", help=f.help)
        else:
            group.add_argument(f.option, dest=f.name, type=f.type, default=f.default, choices=f.choices,
                               metavar=f.metavar, help=f.help)
    return parser


def normalize_argv(argv: list[str]) -> list[str]:
    """`--lr_schedule=x` → `--lr-schedule=x`: underscores are the config spelling of dashes."""
    out = []
    for token in argv:
        if token.startswith("--") and token != "--":
            name, eq, value = token.partition("=")
            token = name.replace("_", "-") + eq + value
        out.append(token)
    return out


def yaml_text(value: Any) -> str:
    """A config value as the command line would spell it (argparse then parses and checks it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(yaml_text(v) for v in value)
    return str(value)


def load_config_file(path: str, parser: OneLineParser) -> dict:
    p = Path(path)
    if not p.is_file():
        parser.error(f"argument --config: file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        parser.error(f"argument --config: {path} is not valid YAML ({str(e).splitlines()[0]})")
    if data is None:
        return {}
    if not isinstance(data, dict):
        parser.error(f"argument --config: {path} must hold a mapping of flag: value")
    for key in data:
        if str(key).replace("-", "_") not in FLAG_BY_NAME:
            parser.error(f"argument --config: unknown key {key!r} in {path} (not a flag of train.py)")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def apply_defaults(parser: OneLineParser, values: dict) -> None:
    """Set file values as defaults: string defaults go through each flag's type, so they are checked."""
    defaults = {}
    for key, value in values.items():
        f = FLAG_BY_NAME[key]
        if value is None and f.default is not None:
            parser.error(f"argument {f.option}: null is not allowed (default {f.default!r})")
        defaults[key] = None if value is None else yaml_text(value)
    parser.set_defaults(**defaults)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check everything; on bad input print one line and exit 2 before any file is written."""
    argv = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    probe = OneLineParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--config")
    probe.add_argument("--resume")
    known, _ = probe.parse_known_args(argv)
    file_values: dict = {}
    resume_ckpt = None
    if known.resume not in (None, "", "none", "null"):
        resume_ckpt, run_dir = locate_checkpoint(known.resume, parser, argv)
        saved = run_dir / "config.yaml"
        if saved.is_file():
            file_values.update(load_config_file(str(saved), parser))
            file_values.pop("resume", None)
            file_values["run_name"] = run_dir.name
            file_values["output_dir"] = str(run_dir.parent)
    if known.config:
        file_values.update(load_config_file(known.config, parser))
    apply_defaults(parser, file_values)
    args = parser.parse_args(argv)
    check_choices(parser, args)
    args.tasks = args.tasks or default_tasks(args.dataset, args.target)
    check_combinations(parser, args)
    check_data_flags(parser, args)
    table_warnings = image_only_flags(args)
    args.resume_ckpt = str(resume_ckpt) if resume_ckpt else None
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config_dict(args), sort_keys=False, allow_unicode=True))
        parser.exit(0)
    if is_rank_zero():
        for line in table_warnings + advice(args):
            print(f"warning: {line}", file=sys.stderr)
    return args


def advice(a: argparse.Namespace) -> list[str]:
    """The checklist's advice on valid but doubtful values: one line each, not an error."""
    lines = []
    if a.batch_size & (a.batch_size - 1):
        lines.append(f"--batch-size {a.batch_size} is not a power of 2; the checklist suggests one "
                     f"(e.g. {2 ** round(math.log2(a.batch_size))})")
    if a.aug_mirror and a.dataset in ("digits", "mnist"):
        lines.append(f"--aug-mirror {a.aug_mirror:g} on {a.dataset}: mirroring a digit changes its meaning "
                     "(a mirrored 2 is no 2)")
    if a.activation in ("tanh", "sigmoid"):
        lines.append(f"--activation {a.activation}: functions that saturate at both ends like sigmoid and tanh "
                     "are not appropriate for hidden layers; ReLU is the preferred default (checklist)")
    return lines


def locate_checkpoint(resume: str, parser: OneLineParser, argv: list[str]) -> tuple[Path, Path]:
    """`last` → the newest runs/*/checkpoints/last.ckpt; a path → that checkpoint. Returns (ckpt, run dir)."""
    if resume == "last":
        probe = OneLineParser(add_help=False, allow_abbrev=False)
        probe.add_argument("--output-dir", default=FLAG_BY_NAME["output_dir"].default)
        out = Path(probe.parse_known_args(argv)[0].output_dir)
        found = sorted(out.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            parser.error(f"argument --resume: 'last' found no previous run with checkpoints/last.ckpt under {out}/")
        ckpt = found[-1]
    else:
        ckpt = Path(resume)
        if not ckpt.is_file():
            parser.error(f"argument --resume: expected 'last' or a checkpoint file, got {resume!r} (not found)")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return ckpt, run_dir


def check_choices(parser: OneLineParser, args: argparse.Namespace) -> None:
    # argparse checks choices on the command line only; values from --config arrive as defaults.
    for f in FLAGS:
        if f.choices and getattr(args, f.name) not in f.choices:
            parser.error(f"argument {f.option}: invalid choice: {getattr(args, f.name)!r} "
                         f"(choose from {', '.join(f.choices)})")


def check_combinations(parser: OneLineParser, a: argparse.Namespace) -> None:
    """Flags that are valid alone but not together (litgpt's __post_init__ habit)."""
    problems = []
    if a.nesterov and a.optimizer != "sgd":
        problems.append(f"--nesterov applies to --optimizer sgd only, got --optimizer {a.optimizer}")
    if a.nesterov and a.momentum == 0:
        problems.append("--nesterov needs --momentum > 0, got --momentum 0")
    if a.lr_schedule in ("exponential", "step") and a.lr_decay >= 1:
        problems.append(f"--lr-decay must be < 1 for --lr-schedule {a.lr_schedule}, got {a.lr_decay:g}")
    if a.find_lr and a.auto_lr:
        problems.append("--find-lr and --auto-lr exclude each other (--find-lr only reports, --auto-lr trains)")
    if a.aug_preview and not any(getattr(a, f.name) for f in FLAGS if f.name.startswith("aug_") and
                                 f.name != "aug_preview"):
        problems.append("--aug-preview needs at least one augmentation flag (--aug-translate, --aug-rotate, …)")
    if a.task_weights and len(a.task_weights) != len(a.tasks):
        problems.append(f"--task-weights needs one weight per task: {len(a.tasks)} tasks ({','.join(a.tasks)}), "
                        f"{len(a.task_weights)} weights")
    if len(set(a.tasks)) != len(a.tasks):
        problems.append(f"--tasks lists a task twice: {','.join(a.tasks)}")
    try:
        tasks_for(a.dataset, a.tasks)
    except ValueError as e:
        problems.append(str(e))
    if a.sync_batchnorm == "true" and a.accelerator == "cpu":
        problems.append("--sync-batchnorm true needs GPUs; PyTorch refuses SyncBatchNorm on --accelerator cpu")
    if problems:
        parser.error(problems[0])


def check_data_flags(parser: OneLineParser, a: argparse.Namespace) -> None:
    """--target/--features belong to tables; a table needs a target."""
    kind = DATASETS[a.dataset].kind
    if kind != "table":
        for name in ("target", "features"):
            if getattr(a, name):
                parser.error(f"argument --{name}: applies to --dataset csv only, got --dataset {a.dataset}")
        return
    if not a.tasks:
        parser.error("argument --target: --dataset csv needs --target COLUMN (the column to predict)")
    if a.target and a.tasks[0] != a.target:
        parser.error(f"argument --target: {a.target!r} must be the first of --tasks {','.join(a.tasks)} "
                     "(or leave --target out)")
    if a.adversarial != "none":
        parser.error("argument --adversarial: perturbs images within their pixel range; not for --dataset csv")
    if a.aug_preview:
        parser.error("argument --aug-preview: a table has no images to preview")


IMAGE_MODELS = ("cnn", "rnn", "resnet")


def image_only_flags(a: argparse.Namespace) -> list[str]:
    """Flags that only make sense for images, given with a table: one warning line each, and made
    harmless (augmentation off, the MLP instead of an image architecture, the image size unused)."""
    if DATASETS[a.dataset].kind == "streaming":  # fixed when the shards were written
        return [f"--{f.replace('_', '-')} {getattr(a, f)} is set by prepare for --dataset streaming; ignored"
                for f in ("image_size", "val_fraction") if getattr(a, f) != FLAG_BY_NAME[f].default]
    if DATASETS[a.dataset].kind != "table":
        return []
    lines = []
    for f in FLAGS:
        if f.name.startswith("aug_") and getattr(a, f.name):
            lines.append(f"{f.option} {getattr(a, f.name):g} is for images; ignored with --dataset csv")
            setattr(a, f.name, f.default)
    if a.model in IMAGE_MODELS:
        lines.append(f"--model {a.model} is for images; --dataset csv trains --model mlp")
        a.model = "mlp"
    if a.image_size != FLAG_BY_NAME["image_size"].default:
        lines.append(f"--image-size {a.image_size} is for images; ignored with --dataset csv")
        a.image_size = FLAG_BY_NAME["image_size"].default
    return lines


def config_dict(args: argparse.Namespace) -> dict:
    """Every flag's resolved value under its underscore key (what --config reads back)."""
    return {f.name: getattr(args, f.name) for f in FLAGS}


def is_rank_zero() -> bool:
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
