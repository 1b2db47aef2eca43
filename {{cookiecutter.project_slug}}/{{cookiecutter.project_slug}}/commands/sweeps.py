"""Staged sweeps that carry their results forward (Ng's order: ε0; then momentum, minibatch size and
width; then the rest). `next` writes the next stage's sweep file with the best values so far fixed
under `value:`, from local run directories (results.json, config.yaml) or, with `wandb:<sweep path>`,
the W&B API. The stage the runs searched is the file in sweeps/ whose searched parameters the runs
vary (online: the sweep's own configuration); the next is the following file, or --to. Only the
standard library and PyYAML (wandb only for an online --from)."""

import argparse
import json
import math
import sys
from pathlib import Path

import yaml

from ..config.flags import FLAG_BY_NAME
from ..config.parser import OneLineParser, checked_value
from ..errors import SweepError, one_line, refuse
from ..files import TargetError, check_apart, check_target, write_atomically
{%- if cookiecutter.sweeps_engine %}
from ..search.sources import PREFIX as OPTUNA_PREFIX
from ..search.sources import optuna_runs
{%- endif %}
from ..training.monitor import GOAL, MONITOR, Monitor, monitor_named
from .edges import widened
{%- if cookiecutter.diagnostics %}
from .sweeps_report import add_report_and_repeat, report_or_repeat
{%- endif %}
{%- if cookiecutter.sweeps_engine %}
from .sweeps_run import add_run_command, run_command
{%- endif %}

STAGES_DIR = Path("sweeps")  # the project's stage files, relative to where the command runs
DEFAULT_METRIC = {"name": MONITOR, "goal": GOAL}
WANDB_PREFIX = "wandb:"
PACKAGE = __package__.rpartition(".")[0]  # the project's package (this file is in its commands/)


def local_runs(source: Path, metric: str) -> list[tuple[str, dict, float]]:
    """(run name, config, metric value) of each finished run under `source` (a run directory or a
    directory of them): config.yaml holds every flag, results.json the best epoch's metrics."""
    if not source.exists():
        raise SweepError(f"argument --from: {source} does not exist")
    if not source.is_dir():
        raise SweepError(f"argument --from: {source} is not a folder (a run directory or a folder of them)")
    dirs = [source] if (source / "results.json").is_file() else sorted(p for p in source.iterdir() if p.is_dir())
    runs = []
    for d in dirs:
        results, config = d / "results.json", d / "config.yaml"
        if not (results.is_file() and config.is_file()):
            continue  # a run that did not finish (or a tool run): nothing to compare
        try:
            results_dict = json.loads(results.read_text())
            values = yaml.safe_load(config.read_text())
        except (OSError, ValueError, yaml.YAMLError, RecursionError) as e:  # ValueError: JSON, UTF-8
            raise SweepError(f"argument --from: cannot read {d} ({one_line(e)[:160]})") from None
        if not isinstance(results_dict, dict):
            raise SweepError(f"argument --from: {results} holds a JSON {type(results_dict).__name__}, not an object")
        value = results_dict.get(metric)
        if isinstance(values, dict):  # each flag's value as train.py would parse it (config/parser.checked_value)
            values = {k: checked(k, v, config) for k, v in values.items()}
        if isinstance(value, (int, float)) and math.isfinite(value) and isinstance(values, dict):
            runs.append((d.name, values, float(value)))
    if not runs:
        raise SweepError(f"argument --from: no finished run (results.json with {metric} and config.yaml) in {source}")
    return runs


class _Refuse:  # the parser interface checked_value reports through: here, a SweepError
    def error(self, message: str):
        raise SweepError(message)


def checked(key, value, origin: Path):
    f = FLAG_BY_NAME.get(str(key).replace("-", "_"))
    return checked_value(f, value, f"in {origin}", _Refuse()) if f is not None else value


def run_monitor(source: Path) -> Monitor:
    """The monitored metric the runs under `source` followed (results.json's `monitor`: val/rmse for
    a regression primary task; runs written before it followed val/acc)."""
    names = set()
    for results in [source / "results.json", *source.glob("*/results.json")]:
        try:
            names.add(json.loads(results.read_text()).get("monitor", MONITOR))
        except (OSError, ValueError, RecursionError, AttributeError):  # ValueError: bad JSON or text
            continue
    if len(names) > 1:
        raise SweepError(f"argument --from: the runs in {source} follow different metrics ({', '.join(sorted(names))})")
    return monitor_named(names.pop() if names else MONITOR)


def wandb_runs(sweep_path: str) -> tuple[list[tuple[str, dict, float]], dict]:
    """(run name, config, value of the sweep's metric) of the sweep's finished runs from the W&B API,
    and the sweep's own configuration."""
    import wandb

    try:
        sweep = wandb.Api(timeout=30).sweep(sweep_path)
        config = dict(sweep.config)
        metric = (config.get("metric") or {}).get("name", MONITOR)
        found = [(r.name, dict(r.config), r.summary.get(metric)) for r in sweep.runs if r.state == "finished"]
    except Exception as e:  # noqa: BLE001 - no network, no credentials, wrong path: one line
        raise SweepError(f"argument --from: W&B sweep {sweep_path}: {one_line(e)[:200]}") from None
    runs = [(n, c, float(v)) for n, c, v in found if isinstance(v, (int, float)) and math.isfinite(v)]
    if not runs:
        raise SweepError(f"argument --from: W&B sweep {sweep_path} has no finished run with {metric}")
    return runs, config


def load_stage(path: Path) -> dict:
    try:
        sweep = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as e:  # RecursionError: nested too deep
        raise SweepError(f"cannot read sweep file {path} ({one_line(e)[:160]})") from None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("parameters"), dict):
        raise SweepError(f"{path} is not a W&B sweep file (no parameters:)")
    return sweep


def tunable(files: list[Path]) -> set[str]:
    """The hyperparameters any stage file names (not run names, paths or W&B settings)."""
    return set().union(*(load_stage(p)["parameters"] for p in files)) - {"max_epochs"}


def searched(sweep: dict) -> set[str]:
    """Parameters a sweep searches (not fixed with `value:`); max_epochs is the run length, not tuned."""
    return {k for k, spec in sweep["parameters"].items() if isinstance(spec, dict) and "value" not in spec}


def varied(runs: list[tuple[str, dict, float]]) -> set[str]:
    keys = set().union(*(c.keys() for _, c, _ in runs))
    return {k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for _, c, _ in runs}) > 1}


def source_stage(files: list[Path], target: set[str]) -> int:
    """Index in `files` of the stage whose searched parameters best match `target`, those the runs searched."""
    stages = [load_stage(p) for p in files]
    if not target:
        raise SweepError(
            "cannot tell which stage the runs searched (they do not differ); name the next stage "
            "with --to sweeps/<file>.yaml"
        )
    scores = [len(target & searched(s)) / len(target | searched(s)) for s in stages]
    if max(scores) == 0:
        raise SweepError(
            f"the runs vary {', '.join(sorted(target))}, which no stage in sweeps/ searches; name the "
            "next stage with --to sweeps/<file>.yaml"
        )
    return scores.index(max(scores))


def fill_in(next_sweep: dict, best: dict, fixed: set[str]) -> dict:
    """The next stage with each parameter of `fixed` set to the best run's value. One the next stage
    searches again on a log scale (stage 2's ε0) is searched in the decade around the best value."""
    params = dict(next_sweep["parameters"])
    for name in sorted(fixed):
        if name not in best or name == "max_epochs":
            continue
        spec = params.get(name)
        value = best[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if isinstance(spec, dict) and spec.get("distribution") == "log_uniform_values" and number and value > 0:
            params[name] = {**spec, "min": best[name] / math.sqrt(10), "max": best[name] * math.sqrt(10)}
        elif not (isinstance(spec, dict) and "value" not in spec):  # not searched by the next stage
            params[name] = {"value": best[name]}
    return {**next_sweep, "parameters": params}


def edge_check(filled: dict, source: dict | None, best: dict) -> list[str]:
    """The playbook's edge check on each range the source stage searched: a best value in its outer
    tenth widens that range in `filled` (searched again, not fixed); returns what it did, in words."""
    if not source:
        return []
    notes = []
    for name, spec in source["parameters"].items():
        name = name.replace("-", "_")
        flag = FLAG_BY_NAME.get(name)
        if name not in best or not isinstance(spec, dict) or flag is None or flag.type is None:
            continue
        found = widened(spec, best[name], lambda x, f=flag: valid(f.type, x))
        if found is not None:
            filled["parameters"][name] = found[0]
            notes.append(f"{name}: {found[1]}")
            print(f"edge check: {name}: {found[1]}")
    return notes


def valid(parse, x) -> bool:
    try:
        parse(str(x))
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return False
    return True


def header(next_file: Path, origin: str, best_name: str, metric: str, value: float, fixed: dict) -> str:
    lines = [
        f"# {next_file.name}, filled in by `python -m {PACKAGE}.sweeps next --from {origin}`:",
        f"# best run {best_name} ({metric} = {value:.4f}); fixed from the earlier stages:",
    ]
    lines += [f"#   {k}: {json.dumps(v, default=str)}" for k, v in fixed.items()]
    original = [line for line in next_file.read_text().splitlines() if line.startswith("#")]
    return "\n".join(lines + ["#", *original]) + "\n"


def next_stage(origin: str, to: Path | None, output: Path | None, stages_dir: Path = STAGES_DIR) -> Path:
    """Write the next stage's sweep file from the runs of `origin`; returns its path."""
    online = origin.startswith(WANDB_PREFIX)
    if online:
        runs, sweep_config = wandb_runs(origin[len(WANDB_PREFIX) :])
{%- if cookiecutter.sweeps_engine %}
    elif origin.startswith(OPTUNA_PREFIX):
        runs, sweep_config = optuna_runs(origin)
{%- endif %}
    else:
        monitor = run_monitor(Path(origin))  # the runs' own: val/acc, or val/rmse for regression
        runs, sweep_config = local_runs(Path(origin), monitor.name), None
    if sweep_config is not None:
        monitor = monitor_named((sweep_config.get("metric") or {}).get("name", MONITOR))
    runs_metric = {"name": monitor.name, "goal": monitor.goal}
    files = sorted(stages_dir.glob("stage*.yaml"))
    if not files:
        raise SweepError(f"argument --stages: no stage*.yaml sweep files in {stages_dir}")
    # What the runs searched: the sweep's own searched parameters when known (online), else what they vary.
    ran = {k.replace("-", "_") for k in searched(sweep_config)} if sweep_config else varied(runs) & tunable(files)
    index = None
    if to is None:
        index = source_stage(files, ran)
        if index + 1 >= len(files):
            raise SweepError(f"the runs come from the last stage ({files[index].name}); name a sweep file with --to")
        to = files[index + 1]
    elif not to.is_file():
        raise SweepError(f"argument --to: {to} does not exist")
    next_sweep = load_stage(to)
    metric = next_sweep.get("metric", DEFAULT_METRIC)
    if metric not in (DEFAULT_METRIC, runs_metric):  # the shipped files' val/acc becomes the runs' metric
        raise SweepError(f"argument --to: {to} optimizes {metric}; the runs' results.json hold {runs_metric}")
    next_sweep = {**next_sweep, "metric": runs_metric}
    best_name, best, value = (max if monitor.mode == "max" else min)(runs, key=lambda r: r[2])
    best = {k.replace("-", "_"): v for k, v in best.items()}
    # Every parameter the earlier stages searched (the files before `to`), plus what the runs searched.
    fixed = ran.union(*(searched(load_stage(p)) for p in files if p.name < to.name))
    filled = fill_in(next_sweep, best, fixed)
    searched_by = sweep_config or (load_stage(files[index]) if index is not None else None)
    notes = edge_check(filled, searched_by, best)
    shown = {k: filled["parameters"][k] for k in sorted(fixed) if k in filled["parameters"]}
    output = output or to.with_name(to.stem + ".next.yaml")
    try:  # rewriting <stage>.next.yaml is what the command is for; never a stage file or a run's file
        if not output.parent.exists() and not output.parent.is_symlink():
            output.parent.mkdir(parents=True, exist_ok=True)
        check_target(output, overwrite=True)
        check_apart(output, [to, *files] if online else [to, *files, origin], inside=False)
    except (TargetError, OSError) as e:
        raise SweepError(f"argument --output: {one_line(e)}") from None
    text = header(to, origin, best_name, monitor.name, value, shown)
    text = "".join(f"# edge check: {note}\n" for note in notes) + text
    text += yaml.safe_dump(filled, sort_keys=False, allow_unicode=True)
    write_atomically(output, text)
    return output


def build_parser() -> argparse.ArgumentParser:
    prog = f"python -m {PACKAGE}.sweeps"
    description = "Staged W&B sweeps: carry each stage's best values into the next stage's sweep file."
    parser = OneLineParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    nxt = commands.add_parser("next", help="write the next stage's sweep file with the best values so far fixed")
    from_help = (
        "the finished stage's runs: a directory of run directories (e.g. runs/, each with "
        "results.json and config.yaml), one run directory, wandb:<entity>/<project>/<sweep id> "
        "to read the sweep's runs from the W&B API{% if cookiecutter.sweeps_engine %}, or optuna:<storage URL>#<study> "
        "for a study that `sweeps run` ran{% endif %}"
    )
    nxt.add_argument("--from", dest="origin", required=True, metavar="RUNS", help=from_help)
    to_help = "the sweep file to fill in (default: the stage after the one the runs searched)"
    nxt.add_argument("--to", type=Path, metavar="SWEEP.yaml", help=to_help)
    output_help = "where to write it (default: next to it, <stage>.next.yaml)"
    nxt.add_argument("--output", type=Path, metavar="FILE.yaml", help=output_help)
    stages_help = "the folder of the stage files stage*.yaml, in order (default: sweeps)"
    nxt.add_argument("--stages", type=Path, default=STAGES_DIR, metavar="DIR", help=stages_help)
{%- if cookiecutter.diagnostics %}
    add_report_and_repeat(commands)  # sweeps_report.py
{%- endif %}
{%- if cookiecutter.sweeps_engine %}
    add_run_command(commands)  # sweeps_run.py
{%- endif %}
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    train_args = argv[argv.index("--") + 1 :] if "--" in argv else []  # `run ... -- TRAIN FLAGS`
    parser = build_parser()
    args = parser.parse_args(argv[: len(argv) - len(train_args) - (1 if "--" in argv else 0)])
{%- if cookiecutter.sweeps_engine %}
    if args.command == "run":
        return run_command(parser, args, train_args)
{%- endif %}
{%- if cookiecutter.diagnostics %}
    if args.command == "repeat":
        args.extra = [*args.extra, *train_args]  # the flags after `--`, for every seed's run
{%- endif %}
    try:
{%- if cookiecutter.diagnostics %}
        if args.command in ("report", "repeat"):
            return report_or_repeat(args)
{%- endif %}
        path = next_stage(args.origin, args.to, args.output, args.stages)
    except SweepError as e:
        return refuse(f"{parser.prog} {args.command}", e)
    print(f"wrote {path}; start it with: wandb sweep {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
