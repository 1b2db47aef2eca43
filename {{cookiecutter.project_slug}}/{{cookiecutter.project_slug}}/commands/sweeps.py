"""Staged sweeps carrying results forward (Ng's order: ε0; then momentum, minibatch size and width; then the rest):
`next` fills the next stage's sweep file with the best values so far, from run directories or `wandb:<sweep>` (the W&B
API). The runs' stage is the file in sweeps/ searching what they vary (online: the sweep's); the next follows it."""

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

import yaml

from ..config.agent import parameters_problem
from ..config.flags import FLAG_BY_NAME
from ..config.parser import OneLineParser, checked_value
from ..errors import SweepError, UsageError, guarded, one_line, refuse
from ..files import TargetError, check_apart, check_target, read_text, read_yaml, write_atomically
{%- if cookiecutter.sweeps_engine %}
from ..search.sources import PREFIX as OPTUNA_PREFIX
from ..search.sources import optuna_runs
from ..search.tune import add_tune_command, tune_command
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
    """(run name, config, metric value) of each finished run in `source`, a run directory or a folder of them."""
    if not source.is_dir():
        what = "is not a folder (a run directory or a folder of them)" if source.exists() else "does not exist"
        raise SweepError(f"argument --from: {source} {what}")
    dirs = [source] if (source / "results.json").is_file() else sorted(p for p in source.iterdir() if p.is_dir())
    runs = []
    for d in dirs:
        results, config = d / "results.json", d / "config.yaml"
        if not (results.is_file() and config.is_file()):
            continue  # a run that did not finish (or a tool run): nothing to compare
        try:  # files.py's readers: no FIFO, binary or non-UTF-8 file; config.yaml a mapping
            results_dict, values = json.loads(read_text(results)), read_yaml(config)
        except (UsageError, ValueError, RecursionError) as e:  # ValueError: JSON
            raise SweepError(f"argument --from: cannot read {d} ({one_line(e)[:160]})") from None
        if not isinstance(results_dict, dict):
            raise SweepError(f"argument --from: {results} holds a JSON {type(results_dict).__name__}, not an object")
        value = results_dict.get(metric)
        flags, where = {k: FLAG_BY_NAME.get(str(k).replace("-", "_")) for k in values}, f"in {config}"
        values = {k: checked_value(flags[k], v, where, _Refuse()) if flags[k] else v for k, v in values.items()}
        if isinstance(value, (int, float)) and math.isfinite(value):  # each flag's value as train.py parses it
            runs.append((d.name, values, float(value)))
    if not runs:
        raise SweepError(f"argument --from: no finished run (results.json with {metric} and config.yaml) in {source}")
    return runs


class _Refuse:  # the parser interface checked_value reports through: here, a SweepError
    def error(self, message: str):
        raise SweepError(message)


def run_monitor(source: Path) -> Monitor:
    """The metric the runs in `source` monitored (results.json's `monitor`; older runs followed val/acc)."""
    names = set()
    for results in [source / "results.json", *source.glob("*/results.json")]:
        with contextlib.suppress(UsageError, ValueError, RecursionError, AttributeError):  # ValueError: bad JSON
            names.add(json.loads(read_text(results)).get("monitor", MONITOR))
    if len(names) > 1:
        raise SweepError(f"argument --from: the runs in {source} follow different metrics ({', '.join(sorted(names))})")
    return monitor_named(names.pop() if names else MONITOR)


def wandb_runs(sweep_path: str) -> tuple[list[tuple[str, dict, float]], dict]:
    """(run name, config, metric value) of the sweep's finished runs from the W&B API, and the sweep's config."""
    import wandb

    try:
        sweep = wandb.Api(timeout=30).sweep(sweep_path)
        config = dict(sweep.config)
        metric = (config.get("metric") or {}).get("name", MONITOR)
        found = [(r.name, dict(r.config), r.summary.get(metric)) for r in sweep.runs if r.state == "finished"]
    except Exception as e:  # noqa: BLE001 - no network, no credentials, wrong path: one line
        raise SweepError(f"argument --from: W&B sweep {sweep_path}: {one_line(e)[:200]}") from None
    if not (runs := [(n, c, float(v)) for n, c, v in found if isinstance(v, (int, float)) and math.isfinite(v)]):
        raise SweepError(f"argument --from: W&B sweep {sweep_path} has no finished run with {metric}")
    return runs, config


def load_stage(path: Path) -> dict:
    try:
        sweep = read_yaml(path, "sweep file")  # files.py: a mapping, of no FIFO, binary or deep file
    except UsageError as e:
        raise SweepError(str(e)) from None
    if not isinstance(sweep.get("parameters"), dict):
        raise SweepError(f"{path} is not a W&B sweep file (no parameters:)")
    if why := parameters_problem(sweep["parameters"]):
        raise SweepError(f"{path}: {why}")
    return sweep


def searched(sweep: dict) -> set[str]:
    """Parameters a sweep searches (not fixed with `value:`)."""
    return {k for k, spec in sweep["parameters"].items() if isinstance(spec, dict) and "value" not in spec}


def varied(runs: list[tuple[str, dict, float]]) -> set[str]:
    keys = set().union(*(c.keys() for _, c, _ in runs))
    return {k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for _, c, _ in runs}) > 1}


def source_stage(files: list[Path], target: set[str]) -> int:
    """Index in `files` of the stage whose searched parameters best match `target`, those the runs searched."""
    if not target:
        raise SweepError("the runs do not differ: cannot tell their stage; name the next with --to sweeps/<file>.yaml")
    scores = [len(target & searched(s)) / len(target | searched(s)) for s in map(load_stage, files)]
    if max(scores) == 0:
        raise SweepError(f"no stage in sweeps/ searches the runs' {', '.join(sorted(target))}; name the next with --to")
    return scores.index(max(scores))


def fill_in(next_sweep: dict, best: dict, fixed: set[str]) -> dict:
    """The next stage with each parameter of `fixed` set to the best run's value. One the next stage
    searches again on a log scale (stage 2's ε0) is searched in the decade around the best value."""
    params = dict(next_sweep["parameters"])
    for name in sorted((fixed & best.keys()) - {"max_epochs"}):
        spec, value = params.get(name), best[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if isinstance(spec, dict) and spec.get("distribution") == "log_uniform_values" and number and value > 0:
            params[name] = {**spec, "min": best[name] / math.sqrt(10), "max": best[name] * math.sqrt(10)}
        elif not (isinstance(spec, dict) and "value" not in spec):  # not searched by the next stage
            params[name] = {"value": best[name]}
    return {**next_sweep, "parameters": params}


def edge_check(filled: dict, source: dict | None, best: dict) -> list[str]:
    """The playbook's edge check on each range the source stage searched: a best value in its outer
    tenth widens that range in `filled` (searched again, not fixed); returns what it did, in words."""
    notes = []
    for name, spec in (source["parameters"] if source else {}).items():
        name = name.replace("-", "_")
        flag = FLAG_BY_NAME.get(name)
        if name not in best or not isinstance(spec, dict) or flag is None or flag.type is None:
            continue
        if (found := widened(spec, best[name], lambda x, f=flag: valid(f.type, x))) is not None:
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


def header(next_file: Path, origin: str, best_name: str, metric: str, value: float, fixed: dict, notes: list) -> str:
    lines = [f"# edge check: {note}" for note in notes]
    lines.append(f"# {next_file.name}, filled in by `python -m {PACKAGE}.sweeps next --from {origin}`:")
    lines.append(f"# best run {best_name} ({metric} = {value:.4f}); fixed from the earlier stages:")
    lines += [f"#   {k}: {json.dumps(v, default=str)}" for k, v in fixed.items()]
    lines += ["#", *(line for line in next_file.read_text().splitlines() if line.startswith("#"))]
    return "\n".join(lines) + "\n"


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
    if not (files := sorted(stages_dir.glob("stage*.yaml"))):
        raise SweepError(f"argument --stages: no stage*.yaml sweep files in {stages_dir}")
    if sweep_config:  # online: what the sweep searched
        ran = {k.replace("-", "_") for k in searched(sweep_config)}
    else:  # what the runs vary among what the stage files name (not run names, paths; max_epochs is the run length)
        ran = varied(runs) & set().union(*(load_stage(p)["parameters"] for p in files)) - {"max_epochs"}
    index = None
    if to is None:
        index = source_stage(files, ran)
        if index + 1 >= len(files):
            raise SweepError(f"the runs come from the last stage ({files[index].name}); name a sweep file with --to")
        to = files[index + 1]
    elif not to.is_file():
        raise SweepError(f"argument --to: {to} does not exist")
    next_sweep = load_stage(to)
    if (metric := next_sweep.get("metric", DEFAULT_METRIC)) not in (DEFAULT_METRIC, runs_metric):  # shipped: val/acc
        raise SweepError(f"argument --to: {to} optimizes {metric}; the runs' results.json hold {runs_metric}")
    best_name, best, value = (max if monitor.mode == "max" else min)(runs, key=lambda r: r[2])
    best = {k.replace("-", "_"): v for k, v in best.items()}
    fixed = ran.union(*(searched(load_stage(p)) for p in files if p.name < to.name))  # + the earlier stages'
    filled = fill_in({**next_sweep, "metric": runs_metric}, best, fixed)
{%- if cookiecutter.sweeps_engine %}
    # `sweeps run`'s runs record the sweep file they ran (sweep.yaml): the ranges searched, not the shipped stage's
    here = [] if sweep_config else [Path(origin) / best_name / "sweep.yaml", Path(origin) / "sweep.yaml"]
    recorded = [f for f in here if f.is_file()]
    sweep_config = sweep_config or (load_stage(recorded[0]) if recorded else None)
{%- endif %}
    notes = edge_check(filled, sweep_config or (load_stage(files[index]) if index is not None else None), best)
    shown = {k: filled["parameters"][k] for k in sorted(fixed) if k in filled["parameters"]}
    output = output or to.with_name(to.stem + ".next.yaml")
    try:  # rewriting <stage>.next.yaml is what the command is for; never a stage file or a run's file
        if not output.parent.exists() and not output.parent.is_symlink():
            output.parent.mkdir(parents=True, exist_ok=True)
        check_target(output, overwrite=True)
        check_apart(output, [to, *files] if online else [to, *files, origin], inside=False)
    except (TargetError, OSError) as e:
        raise SweepError(f"argument --output: {one_line(e)}") from None
    text = header(to, origin, best_name, monitor.name, value, shown, notes)
    write_atomically(output, text + yaml.safe_dump(filled, sort_keys=False, allow_unicode=True))
    return output


def build_parser() -> argparse.ArgumentParser:
    description = "Staged W&B sweeps: carry each stage's best values into the next stage's sweep file."
    parser = OneLineParser(prog=f"python -m {PACKAGE}.sweeps", description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    nxt = commands.add_parser("next", help="write the next stage's sweep file with the best values so far fixed")
    from_help = (
        "the finished stage's runs: a folder of run directories (e.g. runs/, each with results.json and config.yaml), "
        "one run directory, or wandb:<entity>/<project>/<sweep id> (the W&B API){% if cookiecutter.sweeps_engine %}, or "
        "optuna:<storage URL>#<study> (a study that `sweeps run` ran){% endif %}"
    )
    nxt.add_argument("--from", dest="origin", required=True, metavar="RUNS", help=from_help)
    nxt.add_argument("--to", type=Path, metavar="SWEEP.yaml", help="the sweep file to fill in (default: next stage)")
    nxt.add_argument("--output", type=Path, metavar="FILE.yaml", help="where to write it (default: <stage>.next.yaml)")
    stages_help = "the folder of the stage files stage*.yaml, in order (default: sweeps)"
    nxt.add_argument("--stages", type=Path, default=STAGES_DIR, metavar="DIR", help=stages_help)
{%- if cookiecutter.diagnostics %}
    add_report_and_repeat(commands)  # sweeps_report.py
{%- endif %}
{%- if cookiecutter.sweeps_engine %}
    add_run_command(commands)  # sweeps_run.py
    add_tune_command(commands)  # search/tune.py
{%- endif %}
    return parser


@guarded(f"python -m {PACKAGE}.sweeps")
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    train_args = argv[argv.index("--") + 1 :] if "--" in argv else []  # `run ... -- TRAIN FLAGS`
    parser = build_parser()
    args = parser.parse_args(argv[: len(argv) - len(train_args) - (1 if "--" in argv else 0)])
{%- if cookiecutter.sweeps_engine %}
    if args.command == "run":
        return run_command(parser, args, train_args)
    if args.command == "tune":
        return tune_command(parser, args, train_args)
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
    except UsageError as e:  # SweepError, or a file the shared readers refused
        return refuse(f"{parser.prog} {args.command}", e)
{%- if cookiecutter.sweeps_engine %}
    ran = [*Path(args.origin).glob("sweep.yaml"), *Path(args.origin).glob("*/sweep.yaml")]  # by `sweeps run`
    local = args.origin.startswith(OPTUNA_PREFIX) or bool(ran)
    start = f"python -m {PACKAGE}.sweeps run {path} --trials N" if local else f"wandb sweep {path}"
    print(f"wrote {path}; start it with: {start}")
{%- else %}
    print(f"wrote {path}; start it with: wandb sweep {path}")
{%- endif %}
    return 0


if __name__ == "__main__":
    sys.exit(main())
