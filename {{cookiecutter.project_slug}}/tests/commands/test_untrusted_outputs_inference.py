"""Output targets of predict.py --output and export.py --output: checked by files.check_target before
any work, one line, exit 2, nothing written; an output that is, contains or lies inside an input is
refused before anything is touched (files.check_apart); temporaries of killed writers are removed by
the next run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import exit_status, images, refused, train

from {{cookiecutter.project_slug}}.commands.export import main as export
from {{cookiecutter.project_slug}}.commands.predict import main as predict


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    code, run_dir = train(tmp_path_factory.mktemp("runs"), "--max-steps", "3", "--width", "8", "--run-name", "t")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


def command(name: str, target: str, ckpt: Path, tmp_path: Path) -> list:
    """(main, argv) writing to `target` with each command."""
    if name == "predict.py":
        return [predict, [str(ckpt), str(images(tmp_path / "in")), "--output", target]]
    return [export, [str(ckpt), "--format", "torchscript", "--output", target]]


COMMANDS = ("predict.py", "export.py")


def _existing_file(tmp_path):
    (tmp_path / "exists.out").write_text("keep")
    return str(tmp_path / "exists.out"), "exists"


def _directory(tmp_path):
    (tmp_path / "dir.out").mkdir()
    (tmp_path / "dir.out" / "x").write_text("keep")
    return str(tmp_path / "dir.out"), "director"


TARGETS = {
    "/proc": lambda tmp_path: ("/proc/self/out.csv", "/proc"),
    "/dev/null": lambda tmp_path: ("/dev/null", "/dev"),
    "missing folder": lambda tmp_path: (str(tmp_path / "no" / "such" / "out.csv"), "does not exist"),
    "under a file": lambda tmp_path: (str(Path(_existing_file(tmp_path)[0]) / "out.csv"), "not a folder"),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_target_that_cannot_be_written_is_one_line(ckpt, tmp_path, capsys, name, target):
    path, words = TARGETS[target](tmp_path)
    main, argv = command(name, path, ckpt, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(capsys, exit_status(main, argv), words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


FILE_TARGETS = {"an existing file without --overwrite": _existing_file, "a directory": _directory}


@pytest.mark.parametrize("target", FILE_TARGETS)
@pytest.mark.parametrize("name", COMMANDS)
def test_an_existing_target_is_kept(ckpt, tmp_path, capsys, name, target):
    path, words = FILE_TARGETS[target](tmp_path)
    main, argv = command(name, path, ckpt, tmp_path)
    refused(capsys, exit_status(main, argv), words)
    assert (Path(path).read_text() if Path(path).is_file() else (Path(path) / "x").read_text()) == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_without_write_permission_is_one_line(ckpt, tmp_path, capsys, name):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        main, argv = command(name, str(locked / "out"), ckpt, tmp_path)
        refused(capsys, exit_status(main, argv), "permission denied")
    finally:
        locked.chmod(0o700)


# ----------------------------------------------------------------------------- outputs apart from inputs


def apart_cases(tmp_path: Path, ckpt: Path) -> dict:
    src = images(tmp_path / "photos")
    table = tmp_path / "t.csv"
    table.write_text("p0,p1\n1,2\n")
    return {
        "predict: output is the table": (predict, [str(ckpt), str(table), "--output", str(table), "--overwrite"]),
        "predict: output inside the folder": (predict, [str(ckpt), str(src), "--output", str(src / "p.csv")]),
        "export: output is the checkpoint": (export, [str(ckpt), "--format", "torchscript", "--output", str(ckpt)]),
    }


APART = (
    "predict: output is the table",
    "predict: output inside the folder",
    "export: output is the checkpoint",
)


@pytest.mark.parametrize("case", APART)
def test_an_output_over_an_input_is_refused_before_anything_is_touched(ckpt, tmp_path, capsys, case):
    work = tmp_path / "work"
    work.mkdir()
    exported = shutil.copy(ckpt, work / "c.ckpt")
    (work / "link").symlink_to(work / "photos", target_is_directory=True)
    main, argv = apart_cases(work, Path(exported))[case]
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    refused(capsys, exit_status(main, argv), "input")
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before


# ----------------------------------------------------------------------------- temporaries of killed writers


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_next_run_removes_what_killed_writers_left(ckpt, tmp_path, capsys):
    pid = dead_pid()
    out = tmp_path / "p.csv"
    stale = [tmp_path / f".p.csv.{pid}.tmp", tmp_path / f".shards.{pid}.tmp", tmp_path / f".c.pt.{pid}.tmp.pt"]
    stale[0].write_text("half")
    (stale[1] / "train").mkdir(parents=True)
    stale[2].write_text("half")
    alive = tmp_path / f".other.{os.getpid()}.tmp"  # a writer still running: kept
    alive.write_text("mine")
    assert predict([str(ckpt), str(images(tmp_path / "in")), "--output", str(out)]) == 0
    assert not any(p.exists() for p in stale) and alive.exists() and out.is_file()
