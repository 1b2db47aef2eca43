"""The bad-input contract, structural: every command of this bake is found by itself (the top-level scripts and each
`python -m {{cookiecutter.project_slug}}.<x>` module, with their subcommands), each argument that takes a path, a name
or a number is read off its parser, and each gets the same battery of bad values. Every case must end in one line on
stderr and exit status 2: no traceback, nothing written, no hang. A command added later is checked by default.

What an argument is comes from its parser: numbers by their type (int, float, config/types.py's number parsers);
paths, names and outputs by the metavar and destination the help shows (DIR, FILE.csv, PATH, RUN_DIR, NAME, --output…).
A required argument gets a valid value (VALID) so that the argument under test is the only bad one.

In-process (each command's main(argv), SystemExit caught, stderr captured) under an alarm: a case that hangs or starts
real work fails after ALARM seconds. The first argument of each (command, kind) gets the whole battery; the others
run under `-m slow`."""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, images

PKG = "{{cookiecutter.project_slug}}"
ALARM = 20  # seconds: a case still running by then hangs or has started real work


class Hung(BaseException):  # not an Exception: no command's `except Exception` swallows it
    pass


class _Parsed(Exception):
    def __init__(self, parser):
        self.parser = parser


def entry_points() -> dict[str, str]:
    """{command name: module with main()}: top-level scripts importing a main, and package modules run with -m."""
    found = {}
    for script in sorted(ROOT.glob("*.py")):
        tree = ast.parse(script.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and any(a.name == "main" for a in node.names) and node.module:
                found[script.name] = node.module
    for module in sorted((ROOT / PKG).glob("*.py")):
        if '__name__ == "__main__"' in module.read_text():
            found[f"-m {PKG}.{module.stem}"] = f"{PKG}.{module.stem}"
    return found


def parser_of(module: str) -> argparse.ArgumentParser:
    """The parser main() parses its command line with (caught at its parse_args; nothing runs after)."""
    main = importlib.import_module(module).main

    def catch(self, args=None, namespace=None):
        raise _Parsed(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_args", catch)
        try:
            main([])
        except _Parsed as e:
            return e.parser
    raise AssertionError(f"{module}.main() did not parse a command line")


def subcommands(parser) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {(): parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update({(name, *k): p for k, p in subcommands(sub).items()})
    return {k: p for k, p in found.items() if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)}


def kind_of(action: argparse.Action) -> str | None:
    """integer, number, name, in_file, in_dir, in_path (file or folder), out_file, out_dir; None: a switch, a choice."""
    if action.nargs == 0 or action.choices or action.dest == "help" or getattr(action.type, "__name__", "") == "bool":
        return None
    if action.type is int or getattr(action.type, "__name__", "") in ("int", "size", "positive"):
        return "integer"
    if action.type is float or getattr(action.type, "__name__", "") == "float":
        return "number"
    words = f"{action.metavar or ''} {action.dest}".upper()
    if "NAME" in words or action.dest in ("study",):
        return "name"
    if "OUTPUT" in words:
        return "out_file" if "FILE" in words or "." in str(action.metavar) else "out_dir"
    if any(w in words for w in ("DIR", "RUNS", "SOURCE")):
        return "in_dir"
    if "SWEEP" in words:
        return "sweep_file"
    if "FILE" in words or "." in str(action.metavar or ""):
        return "in_file"
    if "PATH" in words or action.dest in ("checkpoint", "inputs", "resume") or action.type is Path:
        return "in_path"
    return None


COMMANDS = {
    (name, sub): (module, parser)
    for name, module in entry_points().items()
    for sub, parser in subcommands(parser_of(module)).items()
}


def arguments() -> list[tuple[str, tuple, str, str]]:
    """(command, subcommand, option or dest, kind) of every argument that takes a path, name or number."""
    return [
        (name, sub, a.option_strings[0] if a.option_strings else a.dest, k)
        for (name, sub), (_, parser) in COMMANDS.items()
        for a in parser._actions
        if (k := kind_of(a))
    ]


# --- the battery: (case id, kinds it applies to, value maker(tmp) -> str) ---------------------------------------


def _file(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def _dir(tmp: Path, name: str = "a-folder") -> str:
    (tmp / name).mkdir(exist_ok=True)
    (tmp / name / "keep.txt").write_text("keep")
    return str(tmp / name)


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "fifo")
    return str(tmp / "fifo")


def _locked(tmp: Path, inner: str = "") -> str:
    if os.geteuid() == 0:
        pytest.skip("root reads and writes a folder without permission (the /proc cases stand in)")
    folder = Path(_dir(tmp, "locked"))
    folder.chmod(0)
    return str(folder / inner) if inner else str(folder)


IN = ("in_file", "in_dir", "in_path", "sweep_file")
OUT = ("out_file", "out_dir")
NUMBERS = ("integer", "number")
DEEP = b"a: " + b"[" * 1000 + b"]" * 1000 + b"\n"  # past the recursion limit of a YAML parser in Python
BATTERY = {
    "a folder": (("in_file", "sweep_file", "out_file"), _dir),
    "a file": (("in_dir", "out_dir"), lambda t: _file(t, "a-file.txt", b"keep\n")),
    "/proc file": (IN, lambda t: "/proc/self/status"),
    "/proc folder": (("in_dir", "in_path"), lambda t: "/proc/self"),
    "under /proc": (OUT, lambda t: "/proc/self/new-output"),
    "/dev/null": (IN + ("out_file",), lambda t: "/dev/null"),
    "unreadable": (IN, _locked),
    "unwritable": (OUT, lambda t: _locked(t, "new-output")),
    "binary": (IN, lambda t: _file(t, "binary.yaml", bytes(range(256)) * 8)),
    "latin-1": (IN, lambda t: _file(t, "latin1.yaml", "name: caf\u00e9 na\u00efve\n".encode("latin-1"))),
    "fifo": (IN, _fifo),
    "deep yaml": (IN, lambda t: _file(t, "deep.yaml", DEEP)),
    "python tag": (IN, lambda t: _file(t, "tag.yaml", b"a: !!python/object/apply:os.system ['touch pwned']\n")),
    "empty": (IN, lambda t: _file(t, "empty.yaml", b"")),
    "300 characters": (IN + OUT + ("name",), lambda t: str(t / ("x" * 300))),
    "missing": (IN, lambda t: str(t / "no" / "such")),
    "under a file": (OUT, lambda t: str(Path(_file(t, "plain.txt", b"keep\n")) / "new-output")),
    "slash": (("name",), lambda t: "a/b"),
    "dot-dot": (("name",), lambda t: "../../escaped"),
    "nan": (NUMBERS, lambda t: "nan"),
    "inf": (NUMBERS, lambda t: "inf"),
    "1e400": (NUMBERS, lambda t: "1e400"),
    "huge": (("integer",), lambda t: "9" * 30),
    "text": (NUMBERS, lambda t: "abc"),
}


# Arguments read only in a context: what the case adds so that the argument is read (option -> valid values, argv).
CONTEXT = {
    "--data-dir": ({}, ["--dataset=image-folder"]),  # the default dataset is embedded: no folder read
    "predict.py --output-dir": ({"checkpoint": "last"}, []),  # where `last` looks for runs
    "export.py --output-dir": ({"checkpoint": "last"}, []),
}
# Cases whose value is valid for that argument: (command, option, case) -> why.
VALID_CASES = {("train.py", "--config", "empty"): "an empty config file sets nothing"}


def _sweep(tmp: Path, name: str, parameters=None, **top) -> str:
    sweep = {"method": "random", "metric": {"name": "val/acc", "goal": "maximize"}, "program": "train.py"}
    sweep.update(top, parameters=parameters or {"lr": {"values": [0.01, 0.1]}, "max_epochs": {"value": 1}})
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(sweep))
    return str(tmp / f"{name}.yaml")


# Sweep files that are valid YAML but not valid sweeps: every command that reads one refuses them (commands/edges.py's
# parameters_problem; the engine's search/space.py for what only a run needs). Slow: an accepted file runs trials.
SWEEP_CONTENT = {
    "parameters a list": lambda t: _sweep(t, "a", ["lr"]),
    "values a number": lambda t: _sweep(t, "b", {"lr": {"values": 3}}),
    "min text": lambda t: _sweep(t, "c", {"lr": {"distribution": "uniform", "min": "abc", "max": 1}}),
    "log min 0": lambda t: _sweep(t, "d", {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}),
}
BATTERY.update({case: (("sweep_file",), make) for case, make in SWEEP_CONTENT.items()})
# What fails every trial of a command that runs the file (`sweeps run`; a later `sweeps tune`): refused before any.
SWEEP_TRIALS = {
    "unknown flag": lambda t: _sweep(t, "f", {"no_such_flag": {"values": [1, 2]}}),
    "unknown metric": lambda t: _sweep(t, "g", metric={"name": "val/nope", "goal": "maximize"}),
    "missing program": lambda t: _sweep(t, "h", program="no-such-program.py"),
    "missing command": lambda t: _sweep(t, "i", command=["no-such-command", "${program}", "${args}"]),
    # A grid of 10^18 points: refused before it is enumerated.
    "tiny q grid": lambda t: _sweep(
        t, "e", {"lr": {"distribution": "q_uniform", "min": 0, "max": 1e9, "q": 1e-9}}, method="grid"
    ),
}
BATTERY.update({case: (("sweep_file",), make) for case, make in SWEEP_TRIALS.items()})
RUNS_TRIALS = ("run", "tune")  # subcommands that run a sweep file's trials


def valid_values(tmp: Path, ckpt: Path) -> dict:
    """A valid value for each required argument (by destination), so that only the argument under test is bad;
    each made when asked (a copy of a trained run, images)."""
    run = tmp / "runs" / "good"

    def good_run(path: Path = run) -> str:
        if not run.exists():
            shutil.copytree(ckpt.parents[1], run)
        return str(path)

    return {
        "checkpoint": lambda: good_run(run / "checkpoints" / ckpt.name),
        "inputs": lambda: str(images(tmp / "images", 2)),
        "run_dir": good_run,
        "source": lambda: good_run(run.parent),
        "origin": lambda: good_run(run.parent),
        "sweep": lambda: str(tmp / "cwd" / "sweep.yaml"),
        "output": lambda: str(tmp / "new-output"),
        "trials": lambda: "1",
        "seeds": lambda: "1",
    }


def argv_for(parser, option: str, bad: str, valid: dict) -> list[str]:
    """Required arguments valid, `option` bad (positionals in order, options after)."""
    positionals, options = [], []
    for a in parser._actions:
        is_target = option in a.option_strings or option == a.dest
        if a.option_strings and (is_target or a.required):
            options += [f"{a.option_strings[0]}={bad if is_target else valid[a.dest]()}"]
        elif not a.option_strings and a.nargs != argparse.REMAINDER and a.nargs not in ("*",):
            if a.nargs == argparse.PARSER:
                continue
            if not is_target and a.dest not in valid:
                raise AssertionError(f"{a.dest}: required, no valid value in valid_values(): add one")
            positionals.append(bad if is_target else valid[a.dest]())
    return positionals + options


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in root.rglob("*"):
        if "wandb" in p.parts or not os.access(p.parent, os.R_OK | os.X_OK):
            continue
        with contextlib.suppress(OSError):
            st = p.lstat()  # a folder's time changes when a temporary comes and goes: only what is left counts
            out[str(p.relative_to(root))] = None if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def _alarm(signum, frame):
    raise Hung(f"still running after {ALARM} s: hung, or did real work on bad input")


def run_case(command: tuple, option: str, case: str, tmp_path: Path, ckpt: Path, capsys) -> None:
    module, parser = COMMANDS[command]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    shutil.copytree(ROOT / "sweeps", cwd / "sweeps")
    shutil.copy(ROOT / "sweep.yaml", cwd / "sweep.yaml")
    shutil.copy(ROOT / "train.py", cwd / "train.py")  # the sweep files' program
    if why := VALID_CASES.get((command[0], option, case)):
        pytest.skip(why)
    values, extra = CONTEXT.get(f"{command[0]} {option}", CONTEXT.get(option, ({}, [])))
    valid = {**valid_values(tmp_path, ckpt), **{k: lambda v=v: v for k, v in values.items()}}
    (tmp_path / "bad").mkdir()
    bad = BATTERY[case][1](tmp_path / "bad")
    argv = [*command[1], *argv_for(parser, option, bad, valid), *extra]
    main = importlib.import_module(module).main
    before = snapshot(tmp_path)
    old = os.getcwd()
    capsys.readouterr()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM)
    try:
        os.chdir(cwd)
        code = main(argv)
    except SystemExit as e:
        code = e.code
    finally:
        signal.alarm(0)
        os.chdir(old)
        with contextlib.suppress(OSError):
            (tmp_path / "bad" / "locked").chmod(0o700)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    shown = f"{command[0]} {' '.join(argv)}\n{err[-3000:]}"
    assert "Traceback" not in err and code == 2 and len(lines) == 1, f"exit {code}: {shown}"
    assert snapshot(tmp_path) == before, f"wrote files: {shown}"


def cases() -> list:
    params, first = [], set()
    for name, sub, option, kind in arguments():
        for case, (kinds, _) in BATTERY.items():
            if kind in kinds and (case not in SWEEP_TRIALS or set(sub) & set(RUNS_TRIALS)):
                marks = [pytest.mark.slow] if (name, sub, kind) in first else []
                label = " ".join([name, *sub, option, case])
                if case in SWEEP_CONTENT:
                    marks = [pytest.mark.slow]
                params.append(pytest.param((name, sub), option, case, marks=marks, id=label))
        first.add((name, sub, kind))
    return params


def test_every_command_is_found_and_has_arguments_to_check():
    """The discovery finds the scripts and -m modules this bake ships, with their subcommands."""
    names = {name for name, _ in COMMANDS}
    assert "train.py" in names and f"-m {PKG}.sweeps" in names, names  # those every bake ships
    checked = {(name, sub) for name, sub, _, _ in arguments()}
    assert checked == set(COMMANDS), set(COMMANDS) - checked
    assert kind_of(argparse.Action(["--x"], "x", type=float)) == "number"
    assert kind_of(argparse.Action(["--output"], "output", metavar="FILE.csv")) == "out_file"


def test_a_command_added_later_is_checked_by_default():
    """A subcommand another change adds (say `sweeps tune SWEEP.yaml --trials N --output-dir PATH`) is found with
    its arguments, and gets the battery: nobody has to add it to a list."""
    parser = argparse.ArgumentParser()
    tune = parser.add_subparsers(dest="command").add_parser("tune")
    tune.add_argument("sweep", type=Path, metavar="SWEEP.yaml")
    tune.add_argument("--trials", type=int, metavar="N")
    tune.add_argument("--output-dir", type=Path, metavar="PATH")
    tune.add_argument("--study", metavar="NAME")
    found = {k: [kind_of(a) for a in p._actions if kind_of(a)] for k, p in subcommands(parser).items()}
    assert found == {("tune",): ["sweep_file", "integer", "out_dir", "name"]}


@pytest.mark.parametrize(("command", "option", "case"), cases())
def test_bad_input_is_one_line_and_exit_2(command, option, case, tmp_path, tiny, capsys):
    run_case(command, option, case, tmp_path, tiny, capsys)
