"""`sweeps report`, `sweeps repeat` and `diagnose` over damaged runs and sources (issue 29's last tracebacks): files
read through files.py's readers, a damaged sibling never stops the others, nothing created by a refusal."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import exit_status, refused

from {{cookiecutter.project_slug}}.commands.diagnose import main as diagnose
from {{cookiecutter.project_slug}}.commands.sweeps import main as sweeps

DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"
DAMAGED_FILES = {
    "config.yaml binary": ("config.yaml", bytes(range(256))),
    "config.yaml Latin-1": ("config.yaml", "lr: 0.1\nname: caf\u00e9\n".encode("latin-1")),
    "config.yaml a scalar": ("config.yaml", b"3\n"),
    "config.yaml a list": ("config.yaml", b"- 1\n- 2\n"),
    "config.yaml empty": ("config.yaml", b""),
    "config.yaml nested too deeply": ("config.yaml", DEEP.encode()),
    "config.yaml a Python tag": ("config.yaml", b"lr: !!python/object/apply:os.system ['true']\n"),
    "metrics.csv binary": ("metrics.csv", bytes(range(256)) * 4),
    "metrics.csv Latin-1": ("metrics.csv", "epoch,step,train/loss\n0,0,caf\u00e9\n".encode("latin-1")),
    "metrics.csv a field over the csv limit": ("metrics.csv", b"epoch,step,train/loss\n0,0," + b"1" * 200_000 + b"\n"),
}


def run(root, name, lr, acc, loss=(2.3, 2.0, 1.5)):
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"dataset": "digits", "seed": 0, "lr": lr, "width": 16}))
    (d / "metrics.csv").write_text("epoch,step,train/loss\n" + "".join(f"0,{s},{v}\n" for s, v in enumerate(loss)))
    (d / "results.json").write_text(json.dumps({"epochs": 3, "val/acc": acc}))
    return d


@pytest.mark.parametrize("damage", DAMAGED_FILES)
def test_a_damaged_sibling_does_not_stop_the_report_or_the_diagnosis(tmp_path, capsys, damage):
    runs = tmp_path / "runs"
    good = [run(runs, f"r{i}", lr, acc) for i, (lr, acc) in enumerate([(1e-3, 0.9), (1e-2, 0.95), (3e-2, 0.93)])]
    name, content = DAMAGED_FILES[damage]
    (run(runs, "damaged", 1e-1, 0.5) / name).write_bytes(content)
    assert not (tmp_path / "pwned").exists()
    assert exit_status(sweeps, ["report", str(runs), "--output", str(tmp_path / "report")]) == 0
    assert exit_status(diagnose, [str(good[0]), "--no-units"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("damage", [d for d in DAMAGED_FILES if d.startswith("metrics")])
def test_a_damaged_metrics_csv_of_the_run_itself_is_one_line(tmp_path, capsys, damage):
    d = run(tmp_path / "runs", "r", 1e-3, 0.9)
    name, content = DAMAGED_FILES[damage]
    (d / name).write_bytes(content)
    capsys.readouterr()
    refused(capsys, exit_status(diagnose, [str(d), "--no-units"]), "metrics.csv")
    assert not (d / "diagnosis.json").exists()


def test_a_run_whose_dataset_is_unknown_is_diagnosed_without_units(tiny, tmp_path, capsys):
    d = tmp_path / "run"
    shutil.copytree(tiny.parents[1], d)
    config = yaml.safe_load((d / "config.yaml").read_text())
    (d / "config.yaml").write_text(yaml.safe_dump({**config, "dataset": "no-such-dataset"}))
    (d / "diagnosis.json").unlink(missing_ok=True)
    assert exit_status(diagnose, [str(d)]) == 0  # was KeyError: 'no-such-dataset'
    err = capsys.readouterr().err
    assert "Traceback" not in err and "units are not measured" in err, err


def test_repeat_refuses_a_bad_train_flag_before_any_seed(tmp_path, capsys):
    d = run(tmp_path / "runs", "r", 1e-3, 0.9)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(capsys, exit_status(sweeps, ["repeat", str(d), "--seeds", "2", "--", "--lr", "abc"]), "--lr")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # was exit 1, repeat.md and two seed folders


def test_repeat_refuses_a_seed_count_no_machine_runs(tmp_path, capsys):
    d = run(tmp_path / "runs", "r", 1e-3, 0.9)
    refused(capsys, exit_status(sweeps, ["repeat", str(d), "--seeds", "9" * 30]), "--seeds")


def test_a_report_of_a_missing_optuna_database_creates_none(tmp_path, capsys, monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    refused(capsys, exit_status(sweeps, ["report", "optuna:sqlite:///new.db#x"]), "new.db")
    assert not (tmp_path / "new.db").exists()
    refused(capsys, exit_status(sweeps, ["report", f"optuna:journal:{tmp_path / 'none.log'}#x"]), "none.log")


def test_a_config_key_is_never_a_path_of_the_report(tmp_path, capsys):
    """A config.yaml key `../escaped` or `a/b` named a plot file outside --output (or in a folder that is not there)."""
    runs = tmp_path / "runs"
    for i, (lr, acc) in enumerate([(1e-3, 0.9), (1e-2, 0.95)]):
        d = run(runs, f"r{i}", lr, acc)
        config = yaml.safe_load((d / "config.yaml").read_text())
        (d / "config.yaml").write_text(yaml.safe_dump({**config, "../escaped": i, "a/b": i, "." * 300: i}))
    assert exit_status(sweeps, ["report", str(runs), "--output", str(tmp_path / "out" / "report")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    assert written and all(p.parts[:2] == ("out", "report") and len(p.parts) == 3 for p in written), written
