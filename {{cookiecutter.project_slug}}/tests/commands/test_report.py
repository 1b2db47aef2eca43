"""`sweeps report` on synthetic run directories whose optimum is known and on real short digits runs;
`sweeps repeat` on 3 seeds."""

from __future__ import annotations

import json
import math
import statistics

import pytest
import yaml
from conftest import train

from {{cookiecutter.project_slug}}.analysis.report import DIVERGENCE_NEIGHBOUR, isolation
from {{cookiecutter.project_slug}}.analysis.sources import Dimension, local_trials
from {{cookiecutter.project_slug}}.commands.sweeps import main

LRS = [10 ** (-5 + i * 0.25) for i in range(21)]  # 1e-5 … 1 in quarter decades
WIDTHS = [64, 128, 256, 512, 1024]


def score(lr: float, width: int, best_lr: float) -> float:
    """A known optimum: best_lr and width 256."""
    return 0.99 - 0.05 * (math.log10(lr) - math.log10(best_lr)) ** 2 - 0.02 * abs(math.log2(width / 256))


def make_run(root, name, config, results=None, loss=(2.3, 2.0, 1.5, 1.2)):
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"dataset": "digits", "seed": 0, "run_name": name, **config}))
    rows = "".join(f"0,{s},{v}\n" for s, v in enumerate(loss))
    (d / "metrics.csv").write_text("epoch,step,train/loss\n" + rows)
    if results is not None:
        (d / "results.json").write_text(json.dumps({"epochs": 3, **results}))
    return d


def synthetic(root, best_lr: float, widths=WIDTHS):
    for i, lr in enumerate(LRS):
        for width in widths:
            make_run(root, f"r{i}-{width}", {"lr": lr, "width": width}, {"val/acc": score(lr, width, best_lr)})


def sweep_file(path):
    path.write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
                    "width": {"values": WIDTHS},
                    "max_epochs": {"value": 3},
                }
            }
        )
    )
    return path


def test_the_isolation_argmax_is_the_known_optimum(tmp_path, capsys):
    synthetic(tmp_path / "runs", best_lr=1e-2)
    assert main(["report", str(tmp_path / "runs"), "--sweep", str(sweep_file(tmp_path / "s.yaml"))]) == 0
    out = capsys.readouterr().out
    report = (tmp_path / "runs" / "report" / "report.md").read_text()
    assert "warning:" not in out and "- none" in report  # 1e-2 sits at 3/5 of the log range: no edge
    assert (tmp_path / "runs" / "report" / "lr.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "report" / "width.png").is_file()
    trials = local_trials(tmp_path / "runs", "val/acc")
    lr = isolation(Dimension("lr", 1e-5, 1.0, log=True), trials)
    i = lr.argmax()
    low, high = (float(x) for x in lr.labels[i].split("–"))
    assert low <= 1e-2 <= high * 1.001
    width = isolation(Dimension("width", 64, 1024, True, tuple(WIDTHS)), trials)
    assert width.labels[width.argmax()] == "256"
    assert "| 1 | 0.01 | 256 | 0.9900 | 3 |" in report  # the top runs table


@pytest.mark.parametrize("best_lr, edge", [(0.5, True), (0.2, False)])  # log position 0.94 vs 0.86 of [1e-5, 1]
def test_the_edge_warning_fires_at_the_edge(tmp_path, capsys, best_lr, edge):
    synthetic(tmp_path / "runs", best_lr=best_lr, widths=[256])
    make_run(tmp_path / "runs", "best", {"lr": best_lr, "width": 256}, {"val/acc": 0.995})
    assert main(["report", str(tmp_path / "runs"), "--sweep", str(sweep_file(tmp_path / "s.yaml"))]) == 0
    out = capsys.readouterr().out
    assert ("edge: the best lr = " + f"{best_lr:.4g}" in out) == edge, out
    report = (tmp_path / "runs" / "report" / "report.md").read_text()
    assert ("outer tenth" in report) == edge


def test_failures_and_the_divergent_region(tmp_path, capsys):
    root = tmp_path / "runs"
    for lr, acc in ((1e-3, 0.8), (1e-2, 0.9), (3e-2, 0.95)):
        make_run(root, f"ok{lr}", {"lr": lr}, {"val/acc": acc})
    make_run(root, "nan", {"lr": 3e-2 * DIVERGENCE_NEIGHBOUR * 0.9}, None, loss=(2.3, float("nan")))
    make_run(root, "flagged", {"lr": 1.0}, {"diverged": True, "val/acc": 0.1})
    make_run(root, "crashed", {"lr": 1e-4}, None)  # no results.json, a sane loss: failed
    make_run(root, "pruned", {"lr": 1e-4}, {"pruned": True})
    assert main(["report", str(root)]) == 0
    out = capsys.readouterr().out
    assert "divergence: the best lr = 0.03 lies next to the divergent region" in out
    report = (root / "report" / "report.md").read_text()
    assert "- diverged: 2 of 7 (29%): lr in [0.081, 1]" in report
    assert "- failed: 1 of 7 (14%): lr in [0.0001, 0.0001]" in report and "- pruned: 1 of 7" in report


def test_no_divergence_warning_far_from_it(tmp_path, capsys):
    root = tmp_path / "runs"
    make_run(root, "ok", {"lr": 1e-3}, {"val/acc": 0.9})
    make_run(root, "ok2", {"lr": 1e-4}, {"val/acc": 0.8})
    make_run(root, "nan", {"lr": 1e-3 * DIVERGENCE_NEIGHBOUR * 1.1}, None, loss=(2.3, float("nan")))
    assert main(["report", str(root)]) == 0
    assert "divergence:" not in capsys.readouterr().out


def test_bad_sources_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["repeat", str(tmp_path), "--seeds", "0"]) == 2
    assert main(["repeat", str(tmp_path), "--seeds", "2"]) == 2  # no config.yaml
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err


@pytest.mark.slow
def test_real_runs_report_and_repeat(tmp_path, capsys):
    root = tmp_path / "runs"
    for lr in ("0.0003", "0.003", "0.03"):
        assert train(tmp_path, "--lr", lr, "--run-name", f"lr{lr}", "--no-diagnose")[0] == 0
    values = {d.name: json.loads((d / "results.json").read_text())["val/acc"] for d in root.iterdir()}
    capsys.readouterr()
    assert main(["report", str(root)]) == 0
    report = (root / "report" / "report.md").read_text()
    best = max(values, key=values.get)
    assert f"Best: {root / best} (val/acc = {values[best]:.4f})" in report and "3 runs, 3 finished" in report
    assert (root / "report" / "lr.png").is_file()
    # Repeat the best on 3 seeds, 3 processes at once.
    assert main(["repeat", str(root / best), "--seeds", "3", "--workers", "3"]) == 0
    out = capsys.readouterr().out
    new = [root / f"{best}-seed{s}" for s in (1, 2, 3)]
    results = [json.loads((d / "results.json").read_text()) for d in new]
    summary = json.loads((root / best / "repeat.json").read_text())
    for metric in ("val/acc", "test/acc"):
        values = [r[metric] for r in results]
        assert summary[metric]["mean"] == pytest.approx(statistics.fmean(values))
        assert summary[metric]["std"] == pytest.approx(statistics.stdev(values))
        assert f"{metric} = {statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}" in out
    assert [yaml.safe_load((d / "config.yaml").read_text())["seed"] for d in new] == [1, 2, 3]
    assert {yaml.safe_load((d / "config.yaml").read_text())["split_seed"] for d in new} == {0}  # the split kept
    assert "varied --seed only" in out and summary["varied"].endswith("the split kept by --split-seed 0")
    assert main(["report", str(root)]) == 0  # the repeat is in the report, its seeds are not a searched value
    report = (root / "report" / "report.md").read_text()
    assert "## Repeated seeds" in report and "### seed" not in report and "6 runs" in report
