"""Output targets of prepare --output: checked by files.check_target before any work, one line, exit 2,
nothing written; an output that is, contains or lies inside its image folder is refused before
anything is touched (files.check_apart); what a killed prepare left is removed by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import exit_status, images, refused

from {{cookiecutter.project_slug}}.commands import prepare


def command(name: str, target: str, tmp_path: Path) -> list:
    """(main, argv) writing to `target` with each command."""
    return [prepare.main, ["--dataset", "digits", "--workers", "1", "--output", target]]


COMMANDS = ("prepare",)


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
    main, argv = command(name, path, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(capsys, exit_status(main, argv), words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


FILE_TARGETS = {"an existing file without --overwrite": _existing_file, "a directory": _directory}


@pytest.mark.parametrize("target", FILE_TARGETS)
@pytest.mark.parametrize("name", COMMANDS)
def test_an_existing_target_is_kept(tmp_path, capsys, name, target):
    path, _ = FILE_TARGETS[target](tmp_path)
    words = "not a folder" if target.startswith("an existing") else "exists"
    main, argv = command(name, path, tmp_path)
    refused(capsys, exit_status(main, argv), words)
    assert (Path(path).read_text() if Path(path).is_file() else (Path(path) / "x").read_text()) == "keep"


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


# ----------------------------------------------------------------------------- outputs apart from inputs


def apart_cases(tmp_path: Path) -> dict:
    src = images(tmp_path / "photos")
    folder = ["--dataset", "image-folder", "--workers", "1", "--image-size", "8", "--data-dir", str(src)]
    return {
        "prepare: output is the image folder": (prepare.main, [*folder, "--output", str(src), "--overwrite"]),
        "prepare: output contains it": (prepare.main, [*folder, "--output", str(tmp_path), "--overwrite"]),
        "prepare: output inside it": (prepare.main, [*folder, "--output", str(src / "a" / "shards")]),
        "prepare: through a link": (prepare.main, [*folder, "--output", str(tmp_path / "link"), "--overwrite"]),
    }


APART = (
    "prepare: output is the image folder",
    "prepare: output contains it",
    "prepare: output inside it",
    "prepare: through a link",
)


@pytest.mark.parametrize("case", APART)
def test_an_output_over_an_input_is_refused_before_anything_is_touched(tmp_path, capsys, case):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("a file beside the images")  # what an output over the folder would lose
    (work / "link").symlink_to(work / "photos", target_is_directory=True)
    main, argv = apart_cases(work)[case]
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    refused(capsys, exit_status(main, argv), "input")
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before


# ----------------------------------------------------------------------------- temporaries of killed writers


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_prepare_removes_what_a_killed_prepare_left(tmp_path, capsys, monkeypatch):
    import tempfile

    pid = dead_pid()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    stale = [tmp_path / f".shards.{pid}.tmp", tmp_path / "tmp" / f"litdata-node-0-items-{pid}-x1y2.pkl"]
    (stale[0] / "train").mkdir(parents=True)
    stale[1].write_bytes(b"pickle")
    mine = tmp_path / "tmp" / f"litdata-node-0-items-{os.getpid()}-a.pkl"  # a prepare still running
    mine.write_bytes(b"pickle")
    argv = ["--dataset", "image-folder", "--data-dir", str(tmp_path / "none"), "--output", str(tmp_path / "shards")]
    refused(capsys, exit_status(prepare.main, argv), "image-folder")  # refused after the clean-up
    assert not any(p.exists() for p in stale) and mine.exists()
