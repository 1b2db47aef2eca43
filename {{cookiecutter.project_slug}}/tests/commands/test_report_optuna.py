"""`sweeps report` on an Optuna study (one that `sweeps run` ran): pruned and failed trials counted,
log and categorical dimensions, a missing study in one line."""

from __future__ import annotations

import math

from {{cookiecutter.project_slug}}.commands.sweeps import main

LRS = [10 ** (-5 + i * 0.25) for i in range(21)]  # 1e-5 … 1 in quarter decades


def score(lr: float, width: int, best_lr: float) -> float:
    """A known optimum: best_lr and width 256."""
    return 0.99 - 0.05 * (math.log10(lr) - math.log10(best_lr)) ** 2 - 0.02 * abs(math.log2(width / 256))


def test_an_optuna_study(tmp_path, capsys):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s1", storage=storage, direction="maximize")
    dists = {"lr": FloatDistribution(1e-5, 1.0, log=True), "optimizer": CategoricalDistribution(["adam", "sgd"])}
    for lr in LRS:
        for opt in ("adam", "sgd"):
            value = score(lr, 256, 1e-3) - (0.1 if opt == "sgd" else 0)
            study.add_trial(create_trial(params={"lr": lr, "optimizer": opt}, distributions=dists, value=value))
    study.add_trial(create_trial(params={"lr": 0.5, "optimizer": "sgd"}, distributions=dists, state=TrialState.PRUNED))
    study.add_trial(create_trial(params={"lr": 0.9, "optimizer": "sgd"}, distributions=dists, state=TrialState.FAIL))
    out_dir = tmp_path / "rep"
    assert main(["report", f"optuna:{storage}#s1", "--output", str(out_dir)]) == 0
    report = (out_dir / "report.md").read_text()
    assert "- pruned: 1 of 44 (2%)" in report and "- failed: 1 of 44" in report
    assert "### lr (log)" in report and "### optimizer (categorical)" in report
    assert "Best bucket: adam." in report and (out_dir / "optimizer.png").is_file()
    capsys.readouterr()
    assert main(["report", f"optuna:{storage}#nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no study nope" in err


def test_run_directories_of_pruned_trials_count_as_pruned(tmp_path, capsys):
    """`sweeps run` writes a marker into a pruned trial's results.json (search/engine.py's mark_pruned):
    `sweeps report` on the run directories counts those as pruned, as the study does."""
    import json

    import pytest
    import yaml

    engine = pytest.importorskip("{{cookiecutter.project_slug}}.search.engine", reason="the sweeps_engine feature")
    from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

    runs = tmp_path / "runs"
    for i, lr in enumerate(LRS[::4]):  # 6 runs, the last two pruned after 1 validation
        d = runs / f"r{i}"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(yaml.safe_dump(config_dict(parse_args(["--lr", str(lr), "--run-name", d.name]))))
        (d / "results.json").write_text(json.dumps({"val/acc": score(lr, 256, 1e-3), "monitor": "val/acc"}))
        if i >= 4:
            engine.mark_pruned(d, 1)
    assert json.loads((runs / "r5" / "results.json").read_text())["pruned"] is True
    assert main(["report", str(runs), "--output", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "- pruned: 2 of 6 (33%)" in report, report
