"""Output targets of `sweeps next --output`: checked by files.check_target before any work, one line,
exit 2, nothing written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, exit_status, refused

from {{cookiecutter.project_slug}}.commands.sweeps import main as sweeps
from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args


def sweep_setup(tmp_path: Path) -> tuple[Path, Path]:
    """(runs of a stage-1 sweep, a copy of the stage files)."""
    stages = tmp_path / "stages"
    shutil.copytree(ROOT / "sweeps", stages)
    for i, (lr, acc) in enumerate([(1e-3, 0.9), (1e-2, 0.95)]):
        d = tmp_path / "runs" / f"r{i}"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(yaml.safe_dump(config_dict(parse_args(["--lr", str(lr)]))))
        (d / "results.json").write_text(json.dumps({"val/acc": acc}))
    return tmp_path / "runs", stages


def command(name: str, target: str, tmp_path: Path) -> list:
    """(main, argv) writing to `target` with each command."""
    runs, stages = sweep_setup(tmp_path)
    return [sweeps, ["next", "--from", str(runs), "--stages", str(stages), "--output", target]]


COMMANDS = ("sweeps next",)


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
def test_an_output_target_that_cannot_be_written_is_one_line(tmp_path, capsys, name, target):
    path, words = TARGETS[target](tmp_path)
    if name == "sweeps next" and target == "missing folder":
        pytest.skip("sweeps next creates the folder of its --output")
    main, argv = command(name, path, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(capsys, exit_status(main, argv), words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_sweeps_next_to_a_directory_is_one_line(tmp_path, capsys):
    path, words = _directory(tmp_path)
    main, argv = command("sweeps next", path, tmp_path)
    refused(capsys, exit_status(main, argv), words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_without_write_permission_is_one_line(tmp_path, capsys, name):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        main, argv = command(name, str(locked / "out"), tmp_path)
        refused(capsys, exit_status(main, argv), "permission denied")
    finally:
        locked.chmod(0o700)
