"""`sweeps run` checks before any trial, with the --output-dir the trials get."""

from __future__ import annotations

import os
import shutil

from conftest import ROOT, exit_status, refused

from {{cookiecutter.project_slug}} import files
from {{cookiecutter.project_slug}}.commands.sweeps import main as sweeps


def test_a_read_only_working_folder_with_output_dir_elsewhere_runs(tmp_path, monkeypatch, capsys):
    """Was refused: `./runs is not writable`, the trials' default checked instead of the --output-dir they get."""
    cwd, out = tmp_path / "read-only", tmp_path / "out"
    cwd.mkdir()
    shutil.copy(ROOT / "sweep.yaml", cwd / "sweep.yaml")
    shutil.copy(ROOT / "train.py", cwd / "train.py")
    monkeypatch.chdir(cwd)
    real = os.access
    monkeypatch.setattr(files.os, "access", lambda p, mode: os.path.realpath(p) != str(cwd) and real(p, mode))
    ran = []
    monkeypatch.setattr("{{cookiecutter.project_slug}}.search.engine.run_sweep", lambda sweep, o: ran.append(o) or 0)
    assert sweeps(["run", "sweep.yaml", "--trials", "1", "--output-dir", str(out)]) == 0
    assert ran and ran[0].output_dir == out
    monkeypatch.setattr(files.os, "access", lambda p, mode: os.path.realpath(p) != str(out) and real(p, mode))
    out.mkdir()
    argv = ["run", "sweep.yaml", "--trials", "1", "--output-dir", str(out)]
    refused(capsys, exit_status(sweeps, argv), "not writable")  # DIR itself is checked
