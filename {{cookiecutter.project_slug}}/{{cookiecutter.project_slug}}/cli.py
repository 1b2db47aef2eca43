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

from .datasets import DATASETS, default_tasks, tasks_for
from .flags import FLAG_BY_NAME, FLAGS, SECTIONS, parse_bool
from .model_names import flag_reach, resolve_width
from .trainer_options import tensorboard_missing

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
    parser.add_argument(
        "--config", metavar="FILE.yaml", help="Load values (underscore keys); command-line flags win over the file."
    )
    parser.add_argument("--print-config", action="store_true", help="Print the resolved config as YAML and exit.")
    groups = {s: parser.add_argument_group(s) for s in SECTIONS}
    for f in FLAGS:
        group = groups[f.section]
        if f.is_bool:
            group.add_argument(
                f.option,
                "--no-" + f.option[2:],
                dest=f.name,
                action=BoolAction,
                nargs="?",
                type=parse_bool,
                default=f.default,
                metavar="BOOL",
                help=f.help,
            )
        else:
            group.add_argument(
                f.option, dest=f.name, type=f.type, default=f.default, choices=f.choices, metavar=f.metavar, help=f.help
            )
    return parser


def normalize_argv(argv: list[str]) -> list[str]:
    """`--lr_schedule=x` → `--lr-schedule=x`: underscores are the config spelling of dashes. And
    `--bias-init -1e-3` → `--bias-init=-1e-3`: argparse would take a value that starts with a dash
    (other than a plain -3 or -.5) for an option."""
    out = []
    takes_value = {f.option for f in FLAGS if not f.is_bool} | {"--config"}
    for token in argv:
        if token.startswith("--") and token != "--":
            name, eq, value = token.partition("=")
            token = name.replace("_", "-") + eq + value
        if out and out[-1] in takes_value and token.startswith("-") and not token.startswith("--"):
            out[-1] = f"{out[-1]}={token}"
            continue
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
    """The YAML mapping of flag: value in `path`, each value checked by its flag's type (the message
    names the file); any problem with the file is one line."""
    p = Path(path)
    where = f"argument --config: {path}"
    if p.is_dir():
        parser.error(f"{where} is a directory, not a YAML file")
    if not p.exists():
        parser.error(f"argument --config: file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text())
    except PermissionError:
        parser.error(f"{where}: permission denied")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        parser.error(f"{where} is not valid YAML ({str(e).splitlines()[0]})")
    except RecursionError:
        parser.error(f"{where} is nested too deeply to be a config of flag: value")
    except (OSError, ValueError) as e:
        parser.error(f"{where} cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    if data is None:
        return {}
    if not isinstance(data, dict):
        parser.error(f"{where} must hold a mapping of flag: value")
    values = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in FLAG_BY_NAME:
            parser.error(f"argument --config: unknown key {key!r} in {path} (not a flag of train.py)")
        values[name] = checked_value(FLAG_BY_NAME[name], value, f"from {path}", parser)
    return values


def checked_value(f, value: Any, origin: str, parser: OneLineParser) -> Any:
    """A value from a file, as the command line would have parsed it; errors name the file."""
    if value is None:
        if f.default is not None:
            parser.error(f"argument {f.option} ({origin}): null is not allowed (default {f.default!r})")
        return None
    if isinstance(value, (dict, set)) or (
        isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value)
    ):
        parser.error(f"argument {f.option} ({origin}): expected a plain value, got {type(value).__name__}")
    text = yaml_text(value)
    try:
        parsed = parse_bool(text) if f.is_bool else (f.type(text) if f.type else text)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
        parser.error(f"argument {f.option} ({origin}): {e}")
    if f.choices and parsed not in f.choices:
        parser.error(f"argument {f.option} ({origin}): invalid choice: {parsed!r} (choose from {', '.join(f.choices)})")
    return parsed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check everything; on bad input print one line and exit 2 before any file is written.

    Precedence: the command line, then --config, then (with --resume) the checkpoint's values, then
    the defaults."""
    argv = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    probe = OneLineParser(add_help=False, allow_abbrev=False)
    for option in ("--config", "--resume", "--output-dir", "--help", "--print-config"):
        probe.add_argument(option, nargs="?", const=True)
    known, _ = probe.parse_known_args(argv)
    config_values = load_config_file(known.config, parser) if isinstance(known.config, str) else {}
    resume = known.resume if isinstance(known.resume, str) else config_values.get("resume")
    defaults: dict = {}
    resumed = None
    if resume not in (None, "", "none", "null") and not known.help:
        output_dir = (
            known.output_dir
            if isinstance(known.output_dir, str)
            else config_values.get("output_dir", FLAG_BY_NAME["output_dir"].default)
        )
        resumed = read_resume(resume, str(output_dir), parser)
        defaults.update(resumed["flags"])
    defaults.update(config_values)
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    check_choices(parser, args)
    args.tasks = args.tasks or default_tasks(args.dataset, args.target)
    args.resume_ckpt = str(resumed["ckpt"]) if resumed is not None else None
    # What the checkpoint holds, read once here: its step and hyperparameters (data shape, classes).
    args.resume_state = {k: resumed[k] for k in ("step", "hparams")} if resumed is not None else None
    check_combinations(parser, args)
    check_data_flags(parser, args)
    table_warnings = image_only_flags(args)  # may set image-only flags back to what a table can use
    ignored = ignored_flags(args)  # judged on the values given, before `auto` resolves
    args.width = resolve_width(args.model, args.width)  # the resolved value is what config.yaml and W&B hold
    if resumed is not None and not args.test_only:  # --test-only may test on other data
        from .resume import incompatible

        differ = incompatible(resumed["flags"], config_dict(args))
        if differ:
            parser.error(
                f"argument --resume: {resumed['ckpt']} was trained with other values of flags that "
                f"shape the network, data or optimizer state: {'; '.join(differ)}. Resume without them, "
                f"or start a new run"
            )
        args.resume = str(resumed["ckpt"])
        if args.max_epochs < resumed["epoch"] + 1:  # Lightning refuses to go back in epochs (a traceback)
            parser.error(
                f"argument --max-epochs: {resumed['ckpt']} has trained {resumed['epoch'] + 1} epochs; "
                f"--max-epochs {args.max_epochs} is fewer. Give at least {resumed['epoch'] + 1}"
            )
    check_environment(parser, args)
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config_dict(args), sort_keys=False, allow_unicode=True))
        parser.exit(0)
    if is_rank_zero():
        for line in table_warnings + ignored + advice(args):
            print(f"warning: {line}", file=sys.stderr)
    return args


def read_resume(resume: str, output_dir: str, parser: OneLineParser) -> dict:
    """The checkpoint to resume and its flag values, which become the defaults of this run; the run
    directory stays the checkpoint's."""
    from .resume import CheckpointError, flag_values, locate_checkpoint, read_checkpoint

    try:
        ckpt, run_dir = locate_checkpoint(resume, output_dir)
        saved = read_checkpoint(ckpt)
    except CheckpointError as e:
        parser.error(f"argument --resume: {e}")
    flags = flag_values(saved["hparams"])
    for key, value in list(flags.items()):  # values a newer version would refuse are dropped, not fatal
        f = FLAG_BY_NAME[key]
        if value is not None and f.choices and value not in f.choices:
            del flags[key]
    flags.update(resume=None, run_name=run_dir.name, output_dir=str(run_dir.parent))
    return {
        "ckpt": ckpt,
        "run_dir": run_dir,
        "flags": flags,
        "step": saved["global_step"],
        "epoch": saved["epoch"],
        "hparams": saved["hparams"],
    }


def check_environment(parser: OneLineParser, a: argparse.Namespace) -> None:
    """What the flags need from the machine, checked before any file is written: the output folder,
    the run name, W&B's mode and credentials."""
    out = Path(a.output_dir)
    if out.exists() and not out.is_dir():
        parser.error(f"argument --output-dir: {a.output_dir} exists and is not a directory")
    existing = next((p for p in [out, *out.parents] if p.exists()), None)
    if existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        parser.error(f"argument --output-dir: {existing} is not writable")
    if a.run_name and not a.resume_ckpt and not a.overwrite and is_rank_zero() and (out / a.run_name).exists():
        parser.error(
            f"argument --run-name: {out / a.run_name} already holds a run; continue it with --resume "
            f"{out / a.run_name}, choose another --run-name, or replace it with --overwrite"
        )
    env = os.environ.get("WANDB_MODE")
    if env is not None and env.lower() not in ("online", "offline", "disabled", "dryrun", "run", ""):
        parser.error(f"environment variable WANDB_MODE={env!r} is not a W&B mode (online, offline, disabled)")
    if a.wandb_mode == "online":
        from .tracking import has_credentials

        if not has_credentials():
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
    if a.activation in ("tanh", "sigmoid"):
        lines.append(
            f"--activation {a.activation}: functions that saturate at both ends like sigmoid and tanh "
            "are not appropriate for hidden layers; ReLU is the preferred default (checklist)"
        )
    return lines


def ignored_flags(a: argparse.Namespace) -> list[str]:
    """Flags given a non-default value that cannot reach this network (a warning: sweeps sample independently)."""
    _, ignored = flag_reach(a.model, a.pretrained)
    return [
        f"{FLAG_BY_NAME[f].option} {yaml_text(getattr(a, f))} does not apply to --model {a.model}; ignored"
        for f in ignored
        if getattr(a, f) != FLAG_BY_NAME[f].default
    ]


def check_choices(parser: OneLineParser, args: argparse.Namespace) -> None:
    # argparse checks choices on the command line only; values from --config arrive as defaults.
    for f in FLAGS:
        if f.choices and getattr(args, f.name) not in f.choices:
            parser.error(
                f"argument {f.option}: invalid choice: {getattr(args, f.name)!r} (choose from {', '.join(f.choices)})"
            )


def check_combinations(parser: OneLineParser, a: argparse.Namespace) -> None:
    """Flags that are valid alone but not together (litgpt's __post_init__ habit)."""
    problems = []
    if a.nesterov and a.optimizer != "sgd":
        problems.append(f"--nesterov applies to --optimizer sgd only, got --optimizer {a.optimizer}")
    if a.nesterov and a.momentum == 0:
        problems.append("--nesterov needs --momentum > 0, got --momentum 0")
    if a.lr_schedule in ("exponential", "step") and a.lr_decay >= 1:
        problems.append(f"--lr-decay must be < 1 for --lr-schedule {a.lr_schedule}, got {a.lr_decay:g}")
    if a.test_only and not a.resume_ckpt:
        problems.append("--test-only needs --resume CHECKPOINT (the checkpoint to test)")
    if a.find_lr and a.auto_lr:
        problems.append("--find-lr and --auto-lr exclude each other (--find-lr only reports, --auto-lr trains)")
    if a.aug_preview and not any(
        getattr(a, f.name) for f in FLAGS if f.name.startswith("aug_") and f.name != "aug_preview"
    ):
        problems.append("--aug-preview needs at least one augmentation flag (--aug-translate, --aug-rotate, …)")
    if a.task_weights and len(a.task_weights) != len(a.tasks):
        problems.append(
            f"--task-weights needs one weight per task: {len(a.tasks)} tasks ({','.join(a.tasks)}), "
            f"{len(a.task_weights)} weights"
        )
    if len(set(a.tasks)) != len(a.tasks):
        problems.append(f"--tasks lists a task twice: {','.join(a.tasks)}")
    try:
        tasks_for(a.dataset, a.tasks)
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
    if a.tensorboard and tensorboard_missing():
        problems.append("--tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'")
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
        parser.error(
            f"argument --target: {a.target!r} must be the first of --tasks {','.join(a.tasks)} (or leave --target out)"
        )
    if a.adversarial != "none":
        parser.error("argument --adversarial: perturbs images within their pixel range; not for --dataset csv")
    if a.aug_preview:
        parser.error("argument --aug-preview: a table has no images to preview")


IMAGE_MODELS = ("cnn", "rnn", "resnet")


def image_only_flags(a: argparse.Namespace) -> list[str]:
    """Flags that only make sense for images, given with a table: one warning line each, and made
    harmless (augmentation off, the MLP instead of an image architecture, the image size unused)."""
    if DATASETS[a.dataset].kind == "streaming":  # fixed when the shards were written
        return [
            f"--{f.replace('_', '-')} {getattr(a, f)} is set by prepare for --dataset streaming; ignored"
            for f in ("image_size", "val_fraction")
            if getattr(a, f) != FLAG_BY_NAME[f].default
        ]
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


RUN_NAME_ENV = "CHECKLIST_RUN_NAME"  # so DDP ranks started later agree on rank 0's run name


def is_rank_zero() -> bool:
    """Rank 0 of the job, from the variables that Lightning's launcher, torchrun and SLURM set."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))
