"""The local engine's reading of W&B sweep files, without training: every parameter form as its
Optuna distribution (and back to the flag the agent would pass), the refusals, the methods'
samplers, Hyperband's arguments, and the command line W&B's agent builds."""

from __future__ import annotations

import math
import random

import pytest
import yaml
from conftest import ROOT

optuna = pytest.importorskip("optuna", reason="Optuna is the optional [sweeps] extra: pip install -e '.[sweeps]'")
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args  # noqa: E402

from {{cookiecutter.project_slug}}.commands.sweeps import main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.errors import SweepError  # noqa: E402
from {{cookiecutter.project_slug}}.search.engine import make_sampler, not_counted  # noqa: E402
from {{cookiecutter.project_slug}}.search.space import distributions, parse_param, parse_space  # noqa: E402
from {{cookiecutter.project_slug}}.search.sweepfile import command_line, hyperband, load_sweep  # noqa: E402

FORMS = {
    "lr": ({"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}, FloatDistribution(1e-4, 0.1, log=True)),
    "momentum": ({"distribution": "uniform", "min": 0.8, "max": 0.99}, FloatDistribution(0.8, 0.99)),
    "dropout": ({"min": 0.0, "max": 0.5}, FloatDistribution(0.0, 0.5)),  # W&B infers uniform
    "depth": ({"distribution": "int_uniform", "min": 1, "max": 4}, IntDistribution(1, 4)),
    "width": ({"min": 8, "max": 32}, IntDistribution(8, 32)),  # integers: int_uniform
    "lr_decay": (
        {"distribution": "q_uniform", "min": 0.31, "max": 0.95, "q": 0.1},
        FloatDistribution(0.31, 0.95),  # drawn uniform, then rounded to a multiple of q (W&B's rule)
    ),
    "weight_decay": (
        {"distribution": "q_log_uniform_values", "min": 1e-5, "max": 1e-2, "q": 1e-5},
        FloatDistribution(1e-5, 1e-2, log=True),
    ),
    "l1": (
        {"distribution": "log_uniform", "min": -10, "max": -5},
        FloatDistribution(math.exp(-10), math.exp(-5), log=True),
    ),
    "l2": (
        {"distribution": "inv_log_uniform_values", "min": 1e-5, "max": 1e-3},
        FloatDistribution(1e-5, 1e-3, log=True),
    ),
    "label_smoothing": (
        {"distribution": "inv_log_uniform", "min": 2, "max": 4},
        FloatDistribution(math.exp(-4), math.exp(-2), log=True),
    ),
    "activation": ({"values": ["relu", "gelu"]}, CategoricalDistribution(["relu", "gelu"])),
    "batchnorm": ({"distribution": "categorical", "values": [True, False]}, CategoricalDistribution([True, False])),
    "batch_size": ({"values": [16, 32, 64], "probabilities": [0.8, 0.1, 0.1]}, FloatDistribution(0.0, 1.0)),
}


@pytest.mark.parametrize("name", FORMS)
def test_every_form_maps_to_its_distribution(name):
    spec, expected = FORMS[name]
    got = distributions(parse_space({name: spec}))[name]
    assert type(got) is type(expected)
    if isinstance(expected, CategoricalDistribution):
        assert got.choices == expected.choices
    else:
        assert (got.low, got.high, got.log, got.step) == pytest.approx(
            (expected.low, expected.high, expected.log, expected.step)
        )


def test_sampled_values_become_the_flags_w_and_b_would_draw():
    space = parse_space({name: spec for name, (spec, _) in FORMS.items()} | {"max_epochs": {"value": 2}})
    rng = random.Random(0)
    draws = {"batch_size": [], "weight_decay": [], "lr_decay": []}
    for _ in range(400):
        sampled = {n: d.to_external_repr(d.to_internal_repr(sample(d, rng))) for n, d in distributions(space).items()}
        flags = space.flags(sampled)
        assert flags["max_epochs"] == 2
        for n in draws:
            draws[n].append(flags[n])
    assert all(v == pytest.approx(round(v / 1e-5) * 1e-5, abs=1e-12) for v in draws["weight_decay"])  # q applied
    assert len(set(draws["weight_decay"])) < 400  # rounded: small values repeat
    assert set(draws["lr_decay"]) == {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}  # round(x / q) * q, as W&B: 0.3 < min
    share = draws["batch_size"].count(16) / 400  # probabilities: a weighted choice
    assert 0.72 < share < 0.88 and set(draws["batch_size"]) == {16, 32, 64}


def sample(d, rng):
    if isinstance(d, CategoricalDistribution):
        return rng.choice(d.choices)
    if isinstance(d, IntDistribution):
        return rng.randint(d.low, d.high)
    if d.log:
        return math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
    if d.step:
        return d.low + d.step * rng.randint(0, round((d.high - d.low) / d.step))
    return rng.uniform(d.low, d.high)


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"distribution": "normal", "mu": 0, "sigma": 1}, "unbounded"),
        ({"distribution": "q_log_normal", "mu": 0, "sigma": 1, "q": 1}, "unbounded"),
        ({"distribution": "beta", "a": 0, "b": 2}, "positive numbers a and b"),
        ({"distribution": "q_beta", "a": 1, "b": 2}, "unknown distribution"),
        ({"distribution": "log_uniform", "min": -1000, "max": 1000}, "at most 700"),
        ({"distribution": "inv_log_uniform", "min": 1, "max": 1e300}, "at most 700"),
        ({"distribution": "uniform", "min": "a", "max": 1}, "min must be a number"),
        ({"values": 3}, "non-empty list"),
        ({"values": [1, 2], "probabilities": [0.5, 0.6]}, "add up to 1"),
        ({"distribution": "uniform", "min": 1, "max": 0}, "must be below"),
        ({"distribution": "log_uniform_values", "min": 0, "max": 1}, "min > 0"),
        ({"values": [[1, 2], {"a": float("nan")}]}, "values must be numbers"),
        ({"values": [1, 2], "probabilities": [1]}, "probabilities"),
        ({"parameters": {"a": {"value": 1}}}, "nested"),
        ({"max": 3}, "no value, values"),
    ],
)
def test_unsupported_forms_are_refused_naming_the_parameter(spec, words):
    with pytest.raises(SweepError, match=f"^parameter odd: .*{words}"):
        parse_param("odd", spec)


def test_refused_sweep_file_is_one_line_and_exit_2(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "program": "train.py",
                "method": "bayes",
                "metric": {"name": "val/acc"},
                "parameters": {"lr": {"distribution": "normal", "mu": 0, "sigma": 1}},
            }
        )
    )
    assert main(["run", str(sweep), "--trials", "2", "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "parameter lr" in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "sweeps.db").exists()


@pytest.mark.parametrize(
    "method, sampler", [("grid", "GridSampler"), ("random", "RandomSampler"), ("bayes", "TPESampler")]
)
def test_methods_and_goal(method, sampler, tmp_path):
    config = {
        "program": "train.py",
        "method": method,
        "metric": {"name": "val/loss", "goal": "minimize"},
        "parameters": {"width": {"values": [8, 16]}, "depth": {"distribution": "int_uniform", "min": 1, "max": 2}},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(config))
    sweep = load_sweep(tmp_path / "s.yaml")
    assert (sweep.direction, sweep.worst()) == ("minimize", math.inf)
    assert isinstance(make_sampler(sweep, sweep.space, 0, False), getattr(optuna.samplers, sampler))
    if method == "random":
        assert isinstance(make_sampler(sweep, sweep.space, 0, True), optuna.samplers.QMCSampler)
    if method == "grid":
        assert sweep.space.grid() == {"width": [8, 16], "depth": [1, 2]}


def test_hyperband_arguments_are_wandbs_bands():
    # W&B's rule (search/stopping.py): bands min_iter·η^k; or max_iter/η … max_iter/η^s, whole numbers >= 1
    ladder = hyperband({"type": "hyperband", "min_iter": 3, "eta": 2})
    assert ladder["bands"][:4] == [3, 6, 12, 24] and ladder["eta"] == 2 and ladder["strict"] is True  # W&B's default
    assert hyperband({"type": "hyperband", "min_iter": 1})["eta"] == 3  # W&B's default eta
    assert hyperband({"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": False}) == {
        "bands": [3, 9],
        "eta": 3,
        "strict": False,
    }
    assert hyperband({"type": "hyperband", "max_iter": 6, "s": 4, "eta": 2})["bands"] == [1, 3]  # 0.75 < 1: no band
    assert hyperband(None) is None
    with pytest.raises(SweepError, match="only type hyperband"):
        hyperband({"type": "median"})
    with pytest.raises(SweepError, match="no band"):
        hyperband({"type": "hyperband", "max_iter": 6, "s": 0, "eta": 2})
    with pytest.raises(SweepError, match="strict must be true or false"):
        hyperband({"type": "hyperband", "min_iter": 1, "strict": "yes"})


# Six runs' validation curves; r2 has finished, the others are running. The expected stops are what
# W&B's own hyperband_stop_runs (the `sweeps` package 0.3.0, which pins numpy<2) returns for them.
CURVES = [
    [0.24, 0.73, 0.12, 0.22],
    [0.43, 0.06, 0.78, 0.86, 0.22, 0.82],
    [0.6, 0.07, 0.12, 0.19, 0.83, 0.12, 0.09, 0.83, 0.12],
    [0.96, 0.18, 0.12, 0.21],
    [0.54],
    [0.07, 0.07, 0.3, 0.44, 0.06],
]
WANDB_STOPS = [
    ("minimize", {"max_iter": 6, "s": 2, "eta": 2}, {"r1", "r5"}),
    ("minimize", {"max_iter": 6, "s": 2, "eta": 2, "strict": False}, set()),
    ("minimize", {"min_iter": 2, "eta": 2}, {"r1", "r5"}),
    ("minimize", {"min_iter": 1, "eta": 3, "strict": False}, {"r4"}),
    ("maximize", {"max_iter": 6, "s": 2, "eta": 2}, set()),
    ("maximize", {"min_iter": 2, "eta": 2}, {"r3"}),
]


@pytest.mark.parametrize(("goal", "spec", "stopped"), WANDB_STOPS)
def test_the_pruner_stops_the_runs_wandbs_hyperband_stops(goal, spec, stopped):
    from optuna.trial import TrialState, create_trial

    from {{cookiecutter.project_slug}}.search.stopping import WandbHyperband

    study = optuna.create_study(direction=goal)
    for i, curve in enumerate(CURVES):
        state, value = (TrialState.COMPLETE, curve[-1]) if i == 2 else (TrialState.RUNNING, None)
        study.add_trial(create_trial(state=state, value=value, intermediate_values=dict(enumerate(curve, 1))))
    pruner = WandbHyperband(**hyperband({"type": "hyperband", **spec}))
    running = {f"r{i}": t for i, t in enumerate(study.get_trials(deepcopy=False)) if t.state == TrialState.RUNNING}
    assert {name for name, t in running.items() if pruner.prune(study, t)} == stopped


@pytest.mark.parametrize(
    "path", [ROOT / "sweep.yaml", *sorted((ROOT / "sweeps").glob("stage*.yaml"))], ids=lambda p: p.name
)
def test_project_sweep_files_load_and_pass_the_agents_flags(path):
    sweep = load_sweep(path)
    assert (sweep.metric, sweep.goal, sweep.method) == ("val/acc", "maximize", "bayes")
    assert sweep.hyperband["bands"][:3] == [3, 6, 12] and sweep.hyperband["eta"] == 2  # min_iter 3, eta 2
    flags = sweep.space.flags({n: p.grid()[0] if p.kind != "float" else p.low for n, p in sweep.space.params.items()})
    line = command_line(sweep, flags)
    agent = create_sweep_command_args({"args": {k: {"value": v} for k, v in flags.items()}})["args"]
    assert line[2:] == [sweep.program, *agent]  # ${env} ${interpreter} ${program} ${args}, as the agent builds it
    parse_args(line[3:])  # and train.py takes them


def test_the_pruner_reads_histories_as_wandb_does_positions_finite_values_and_no_retried_copies():
    from optuna.trial import TrialState, create_trial

    from {{cookiecutter.project_slug}}.search.stopping import WandbHyperband

    def study_of(curves, retried=None):
        study = optuna.create_study(direction="maximize")
        for i, curve in enumerate(curves):
            # A trial asked again after its runner died: failed, marked as engine.retry marks it.
            state, attrs = (TrialState.RUNNING, {})
            if i == retried:
                state, attrs = TrialState.FAIL, {"not_counted": "runner stopped"}
            study.add_trial(create_trial(state=state, intermediate_values=curve, user_attrs=attrs))
        return study, study.get_trials(deepcopy=False)

    pruner = WandbHyperband(bands=[3], eta=2, skip=not_counted)
    # Validation every other epoch (steps 2, 4, 6): band 3 is the third value, at step 6.
    study, trials = study_of([{2: 0.9, 4: 0.9, 6: 0.9}, {2: 0.8, 4: 0.8, 6: 0.8}, {2: 0.1, 4: 0.1, 6: 0.1}])
    assert [pruner.prune(study, t) for t in trials] == [False, False, True]
    # A NaN is not a value (W&B's filter_invalid): the third trial has only two values, below the band.
    study, trials = study_of([{1: 0.9, 2: 0.9, 3: 0.9}, {1: 0.8, 2: 0.8, 3: 0.8}, {1: 0.1, 2: math.nan, 3: 0.1}])
    assert [pruner.prune(study, t) for t in trials] == [False, False, False]
    # A NaN among the others' values neither sorts nor counts: 0.5 against [0.9, 0.5] is kept.
    study, trials = study_of([{1: 0.9, 2: 0.9, 3: 0.9}, {1: 0.2, 2: 0.2, 3: math.nan}, {1: 0.5, 2: 0.5, 3: 0.5}])
    assert pruner.prune(study, trials[2]) is False
    # A trial asked again after its runner died is its retry's copy: only the retry counts.
    curves = [{1: 0.9, 2: 0.9, 3: 0.9}, {1: 0.95, 2: 0.95, 3: 0.95}, {1: 0.5, 2: 0.5, 3: 0.5}]
    study, trials = study_of(curves, retried=1)
    assert pruner.prune(study, trials[2]) is False  # against [0.9, 0.5]: kept; with the copy, [0.95, 0.9, 0.5]: stopped
    study, trials = study_of(curves)
    assert pruner.prune(study, trials[2]) is True


def test_max_iter_wins_over_min_iter_as_in_wandb():
    assert hyperband({"type": "hyperband", "min_iter": 1, "max_iter": 8, "s": 2, "eta": 2})["bands"] == [2, 4]


@pytest.mark.parametrize(
    ("epoch", "max_epochs", "step", "max_steps", "last"),
    [(2, 3, 20, -1, True), (1, 3, 10, -1, False), (1, 10, 10, 10, True), (1, -1, 10, 20, False)],
)
def test_a_trials_last_validation_is_reported_but_never_judged(epoch, max_epochs, step, max_steps, last):
    import json
    import os
    from types import SimpleNamespace

    import torch

    from {{cookiecutter.project_slug}}.search.pruning import TrialReporter

    reports_r, reports_w = os.pipe()
    answers_r, answers_w = os.pipe()
    os.write(answers_w, b"prune\n")  # what the runner would answer if asked
    trainer = SimpleNamespace(
        sanity_checking=False,
        callback_metrics={"val/acc": torch.tensor(0.25)},
        current_epoch=epoch,
        is_global_zero=True,
        max_epochs=max_epochs,
        max_steps=max_steps,
        global_step=step,
        strategy=SimpleNamespace(reduce_boolean_decision=lambda decision, all: decision),
        should_stop=False,
    )
    TrialReporter(reports_w, answers_r, "val/acc", hyperband=True).on_validation_end(trainer, None)
    message = json.loads(os.read(reports_r, 1000).decode().splitlines()[0])
    assert message["step"] == epoch + 1 and message["value"] == 0.25 and message.get("last", False) is last
    assert trainer.should_stop is (not last)  # the last one does not read the answer, so it is not stopped
    for fd in (reports_r, reports_w, answers_r, answers_w):
        os.close(fd)
