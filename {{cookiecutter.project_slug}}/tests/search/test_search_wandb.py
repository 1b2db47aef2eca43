"""The same sweep file, the same runs as W&B: the local engine's draws (Optuna's RandomSampler read through
search/space.py), 20,000 per form with a fixed seed, against W&B's sampling rules, and its grid points and
refusals against W&B's grid. Where W&B's own engine (the `sweeps` package) is importable, the comparison is
with its code (HyperParameter.ppf, grid_search_next_runs); without it, with the formulas W&B documents, which
are tested either way."""

from __future__ import annotations

import collections
import json

import pytest
import yaml

optuna = pytest.importorskip("optuna", reason="Optuna is the optional [sweeps] extra: pip install -e '.[sweeps]'")

from {{cookiecutter.project_slug}}.errors import SweepError  # noqa: E402
from {{cookiecutter.project_slug}}.search.space import distributions, parse_space  # noqa: E402
from {{cookiecutter.project_slug}}.search.sweepfile import load_sweep  # noqa: E402

N = 20_000
TOLERANCE = 0.015  # a share's standard error at 20,000 draws is at most 0.0035: 4 of them


def local_draws(spec: dict, n: int = N, seed: int = 0) -> list:
    """What `sweeps run` passes for the parameter: Optuna's RandomSampler's draw, through Space.flags."""
    space = parse_space({"x": spec})
    ((name, dist),) = distributions(space).items()
    sampler = optuna.samplers.RandomSampler(seed=seed)
    return [space.flags({name: sampler.sample_independent(None, None, name, dist)})["x"] for _ in range(n)]


def shares(values) -> dict:
    counts = collections.Counter(json.dumps(v) if isinstance(v, list) else round(v, 9) for v in values)
    return {k: c / len(values) for k, c in counts.items()}


def wandb_draws(spec: dict, n: int = N, seed: int = 1) -> list | None:
    """W&B's own engine's draws: HyperParameter.sample(), ppf of one uniform number, as its random search does."""
    try:
        import numpy as np
        from sweeps.params import HyperParameter
    except ImportError:
        return None
    param, rng = HyperParameter("x", spec), np.random.default_rng(seed)
    out = [param.ppf(u) for u in rng.uniform(size=n)]
    return [v.tolist() if hasattr(v, "tolist") else v for v in out]


def close(got: dict, want: dict) -> None:
    assert set(got) == set(want), (got, want)
    assert all(abs(got[k] - want[k]) < TOLERANCE for k in want), (got, want)


FORMULAS = [  # (spec, W&B's shares by its documented rule: round(uniform(min, max) / q) * q, q default 1, ...)
    (
        {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
        {0: 1 / 8, 0.25: 1 / 4, 0.5: 1 / 4, 0.75: 1 / 4, 1: 1 / 8},  # the end points: half the weight
    ),
    ({"distribution": "q_uniform", "min": 1, "max": 10, "q": 3}, {0: 1 / 18, 3: 1 / 3, 6: 1 / 3, 9: 5 / 18}),
    ({"distribution": "q_uniform", "min": 0, "max": 2}, {0: 1 / 4, 1: 1 / 2, 2: 1 / 4}),  # q: 1
    (
        {"distribution": "categorical_w_probabilities", "values": [1, 2, 3], "probabilities": [0.2, 0.5, 0.3]},
        {1: 0.2, 2: 0.5, 3: 0.3},
    ),
    ({"values": [[1, 2], [3]]}, {"[1, 2]": 0.5, "[3]": 0.5}),  # lists passed as they are
]


@pytest.mark.parametrize("spec, want", FORMULAS, ids=lambda x: json.dumps(x)[:60] if isinstance(x, dict) else "")
def test_draws_follow_wandbs_rules(spec, want):
    got = shares(local_draws(spec))
    close(got, want)
    theirs = wandb_draws(spec)
    if theirs is not None:  # W&B's own code draws the same shares
        close(shares(theirs), want)
        close(got, shares(theirs))
    print(f"{spec}: local {got}; W&B {None if theirs is None else shares(theirs)}")


def test_beta_draws_follow_wandbs_beta():
    import numpy as np

    spec = {"distribution": "beta", "a": 2, "b": 5}
    ours = np.array(local_draws(spec))
    assert ours.min() >= 0 and ours.max() <= 1
    assert ours.mean() == pytest.approx(2 / 7, abs=0.005)  # the beta distribution's mean a / (a + b)
    quartiles = np.quantile(ours, [0.25, 0.5, 0.75])
    from scipy import stats

    assert quartiles == pytest.approx(stats.beta.ppf([0.25, 0.5, 0.75], 2, 5), abs=0.01)
    theirs = wandb_draws(spec)
    if theirs is not None:
        assert quartiles == pytest.approx(np.quantile(theirs, [0.25, 0.5, 0.75]), abs=0.01)
    assert local_draws({"distribution": "beta"}, 2000) != local_draws({"distribution": "beta"}, 2000, seed=1)


def wandb_grid(parameters: dict) -> list[dict] | None:
    try:
        from sweeps.grid_search import grid_search_next_runs
    except ImportError:
        return None
    runs = grid_search_next_runs([], {"method": "grid", "parameters": parameters}, n=10_000)
    return [{k: v["value"] for k, v in r.config.items()} for r in runs if r is not None]


GRID = {
    "a": {"distribution": "q_uniform", "min": 0, "max": 0.5, "q": 0.25},  # np.arange: 0, 0.25 (max excluded)
    "b": {"distribution": "q_uniform", "min": 0.3, "max": 0.9, "q": 0.1},
    "c": {"distribution": "int_uniform", "min": 1, "max": 3},
    "d": {"values": [[1, 2], [3]]},
    "e": {"distribution": "q_uniform", "min": 0.31, "max": 0.6, "q": 0.1},  # W&B passes 0.31, not 0.3
}


def test_grid_points_are_wandbs(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, "grid", GRID))
    grid = sweep.space.grid()
    assert grid["a"] == [0, 0.25] and grid["c"] == [1, 2, 3] and grid["e"] == [0.31, 0.41, 0.51]
    assert [sweep.space.flags({**{k: v[-1] for k, v in grid.items()}})[k] for k in "ade"] == [0.25, [3], 0.51]
    import numpy as np

    assert grid["b"] == pytest.approx(np.arange(0.3, 0.9, 0.1).tolist())  # W&B's rule (7 points: float steps)
    size = len(grid["a"]) * len(grid["b"]) * len(grid["c"]) * len(grid["d"]) * len(grid["e"])
    assert size == 2 * 7 * 3 * 2 * 3
    theirs = wandb_grid(GRID)
    if theirs is not None:
        assert len(theirs) == size
        for name in ("a", "b", "c", "e"):
            assert sorted({r[name] for r in theirs}) == pytest.approx(sorted(grid[name]))
        assert sorted({json.dumps(r["d"]) for r in theirs}) == sorted(grid["d"])


def sweep_file(tmp_path, method: str, parameters: dict):
    path = tmp_path / "s.yaml"
    config = {"program": "train.py", "method": method, "metric": {"name": "val/acc"}, "parameters": parameters}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "parameters, words",
    [
        ({"b": {"values": [1, 2], "probabilities": [0.5, 0.5]}}, "probabilities are not allowed in a grid search"),
        ({"b": {"distribution": "uniform", "min": 0, "max": 1}}, "cannot enumerate a continuous range"),
        ({"b": {"distribution": "int_uniform", "min": 0, "max": 10**15}}, "points or more"),
        ({"b": {"distribution": "q_uniform", "min": 0, "max": 1e6, "q": 1e-9}}, "points or more"),
    ],
)
def test_grids_wandb_refuses_are_refused_before_enumerating(tmp_path, parameters, words):
    with pytest.raises(SweepError, match=words):
        load_sweep(sweep_file(tmp_path, "grid", parameters)).space.grid()
    try:
        from sweeps.grid_search import grid_search_next_runs
    except ImportError:
        return
    if "probabilities" in words or "continuous" in words:  # W&B's own grid refuses the same files
        with pytest.raises(ValueError, match="disallowed type with grid search"):
            grid_search_next_runs([], {"method": "grid", "parameters": parameters})


def test_a_grid_that_multiplies_past_the_limit_is_refused():
    many = {n: {"distribution": "int_uniform", "min": 1, "max": 100} for n in "abc"}
    with pytest.raises(SweepError, match="the grid has 1,000,000 points"):
        parse_space(many).grid()


def test_a_fixed_output_dir_is_refused_in_one_line(tmp_path):
    with pytest.raises(SweepError, match="output_dir is set by `sweeps run --output-dir`"):
        load_sweep(sweep_file(tmp_path, "random", {"lr": {"values": [0.1]}, "output_dir": {"value": "elsewhere"}}))


def test_under_wandbs_bayes_a_run_ended_by_the_guard_ranks_last():
    """A diverged or stuck run logs good epochs, then the metric's worst (training/fit.py), and its W&B run
    ends failed though the process exits 0 (training/loggers.py; tests/training/test_sweep_agent.py checks the
    exit record): W&B's bayes, which takes a finished run's best value over its history, imputes the worst
    for a failed one. Checked with W&B's own code."""
    pytest.importorskip("sweeps.bayes_search", reason="W&B's sweep engine (pip install sweeps) is not installed")
    from sweeps.bayes_search import _construct_gp_data
    from sweeps.run import RunState, SweepRun

    config = {
        "method": "bayes",
        "metric": {"name": "val/acc", "goal": "maximize", "impute": "worst"},  # W&B's default impute
        "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 10}},
    }

    def run(lr, history, state):
        rows = [{"val/acc": v} for v in history]
        return SweepRun(config={"lr": {"value": lr}}, sampledHistory=rows, summaryMetrics=rows[-1], state=state)

    good = run(0.01, [0.5, 0.8], RunState.finished)
    for state, rank in ((RunState.finished, 0.9), (RunState.failed, 0.0)):  # before: finished; now: failed
        diverged = run(5.0, [0.6, 0.9, 0.0], state)  # two good epochs, then the guard: the worst value
        y = -_construct_gp_data([good, diverged], config)[3]  # W&B minimizes -y for a maximized metric
        assert y.tolist() == pytest.approx([0.8, rank])
    assert rank < 0.8  # failed: ranked last, below every finished run
