"""The command line: argparse over the declarations in flags.py, --config/--print-config, --resume's
defaults, and one-line errors (exit status 2) for bad input; checks.py judges the values."""

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ..datasets import default_tasks
from ..errors import CheckpointError, UsageError
from ..files import read_yaml
from . import flags
from .agent import agent_argv, agent_resume, agent_run_name
from .checks import (
    advice,
    check_choices,
    check_combinations,
{%- if cookiecutter.tables %}
    check_data_flags,
{%- endif %}
    check_environment,
    ignored_flags,
{%- if cookiecutter.tables or cookiecutter.streaming %}
    image_only_flags,
{%- endif %}
    yaml_text,
)
from .environment import is_rank_zero
from .reach import resolve_width
from .resume import incompatible, read_resume
from .types import parse_bool


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
    groups = {s: parser.add_argument_group(s) for s in flags.SECTIONS}
    for f in flags.FLAGS:
        add_flag(groups[f.section], f)
    return parser


def add_flag(group, f: flags.Flag, **overrides) -> None:
    """The argparse argument of one declared flag (booleans: --flag, --no-flag, --flag=VALUE)."""
    names = (f.option, "--no-" + f.option[2:]) if f.is_bool else (f.option,)
    if f.is_bool:
        kind = {"action": BoolAction, "nargs": "?", "type": parse_bool, "metavar": "BOOL"}
    else:
        kind = {"type": f.type, "choices": overrides.get("choices", f.choices), "metavar": f.metavar}
    group.add_argument(*names, dest=f.name, default=overrides.get("default", f.default), help=f.help, **kind)


def normalize_argv(argv: list[str]) -> list[str]:
    """`--lr_schedule=x` → `--lr-schedule=x` (underscores: the config's spelling), `--bias-init -1e-3` →
    `--bias-init=-1e-3` (argparse takes a value that starts with a dash, but -3 or -.5, for an option)."""
    out = []
    takes_value = {f.option for f in flags.FLAGS if not f.is_bool} | {"--config"}
    for token in argv:
        if token.startswith("--") and token != "--":
            name, eq, value = token.partition("=")
            token = name.replace("_", "-") + eq + value
        if out and out[-1] in takes_value and token.startswith("-") and not token.startswith("--"):
            out[-1] = f"{out[-1]}={token}"
            continue
        out.append(token)
    return out


def load_config_file(path: str, parser: OneLineParser) -> dict:
    """The YAML mapping of flag: value in `path` (files.read_yaml), each value checked by its flag's type."""
    try:
        data = read_yaml(path, "argument --config:")
    except UsageError as e:
        parser.error(str(e))
    values = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in flags.FLAG_BY_NAME:
            parser.error(f"argument --config: unknown key {key!r} in {path} (not a flag of train.py)")
        values[name] = checked_value(flags.FLAG_BY_NAME[name], value, f"from {path}", parser)
    return values


def checked_value(f, value: Any, origin: str, parser: OneLineParser) -> Any:
    """A value from a file, as the command line would have parsed it; errors name the file."""
    if value is None:
        if f.default is not None:
            parser.error(f"argument {f.option} ({origin}): null is not allowed (default {f.default!r})")
        return None
    nested = isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value)
    if isinstance(value, (dict, set)) or nested:
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
    """Parse and check all before any file is written. Precedence: command line, --config, --resume's, defaults."""
    argv = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    lists = {f.option for f in flags.FLAGS if isinstance(f.default, list)}
    argv = agent_argv(argv, {f.option: f for f in flags.FLAGS}, lists)
    parser = build_parser()
    probe = OneLineParser(add_help=False, allow_abbrev=False)
    for option in ("--config", "--resume", "--output-dir", "--run-name", "--help", "--print-config"):
        probe.add_argument(option, nargs="?", const=True)
    known, _ = probe.parse_known_args(argv)
    config_values = load_config_file(known.config, parser) if isinstance(known.config, str) else {}
    resume = known.resume if isinstance(known.resume, str) else config_values.get("resume")
    default_dir = config_values.get("output_dir", flags.FLAG_BY_NAME["output_dir"].default)
    output_dir = known.output_dir if isinstance(known.output_dir, str) else default_dir
    defaults: dict = {}
    if resume in (None, "", "none", "null"):  # under a W&B agent: the run directory named by the run id
        resume = agent_defaults(known.run_name or config_values.get("run_name"), str(output_dir), defaults)
    resumed = None
    if resume not in (None, "", "none", "null") and not known.help:
        resumed = resume_defaults(resume, str(output_dir), parser)
        defaults.update(resumed["flags"])
    defaults.update(config_values)
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    check_choices(parser, args)
    args.tasks = args.tasks or default_tasks(args.dataset{% if cookiecutter.tables %}, args.target{% endif %})
    args.resume_ckpt = str(resumed["ckpt"]) if resumed is not None else None
    # What the checkpoint holds, read once here: its step and hyperparameters (data shape, classes).
    args.resume_state = {"step": resumed["global_step"], "hparams": resumed["hparams"]} if resumed else None
    check_combinations(parser, args)
{%- if cookiecutter.tables %}
    check_data_flags(parser, args)
{%- endif %}
{%- if cookiecutter.tables or cookiecutter.streaming %}
    data_warnings = image_only_flags(args)  # may set image-only flags back to what a table can use
{%- else %}
    data_warnings: list[str] = []
{%- endif %}
    ignored = ignored_flags(args)  # judged on the values given, before `auto` resolves
    args.width = resolve_width(args.model, args.width)  # the resolved value is what config.yaml and W&B hold
{%- if cookiecutter.inference %}
    if resumed is not None and not args.test_only:  # --test-only may test on other data
{%- else %}
    if resumed is not None:
{%- endif %}
        check_resume(parser, args, resumed)
    check_environment(parser, args)
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config_dict(args), sort_keys=False, allow_unicode=True))
        parser.exit(0)
    if is_rank_zero():
        for line in data_warnings + ignored + advice(args):
            print(f"warning: {line}", file=sys.stderr)
    return args


def agent_defaults(run_name, output_dir: str, defaults: dict) -> str | None:
    """Under a W&B agent without --run-name: run dir `wandb-<run id>`; re-queued, it resumes last.ckpt (or restarts)."""
    name = agent_run_name()
    if name is None or run_name not in (None, name):
        return None
    defaults["run_name"] = name
    last = agent_resume(output_dir, name)
    if last is None and (Path(output_dir) / name).is_dir():
        defaults["overwrite"] = True
    return last


def check_resume(parser: OneLineParser, args: argparse.Namespace, resumed: dict) -> None:
    """The flags that must match the checkpoint do, and --max-epochs does not go back in epochs."""
    if differ := incompatible(resumed["flags"], config_dict(args)):
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


def resume_defaults(resume: str, output_dir: str, parser: OneLineParser) -> dict:
    """The checkpoint to resume and its flag values: this run's defaults (values no longer allowed are dropped)."""
    try:
        resumed = read_resume(resume, output_dir, flags.FLAG_BY_NAME)
    except CheckpointError as e:
        parser.error(f"argument --resume: {e}")
    for key, value in list(resumed["flags"].items()):
        if value is not None and (choices := flags.FLAG_BY_NAME[key].choices) and value not in choices:
            del resumed["flags"][key]
    return resumed


def config_dict(args: argparse.Namespace) -> dict:
    """Every flag's resolved value under its underscore key (what --config reads back)."""
    return {f.name: getattr(args, f.name) for f in flags.FLAGS}
