"""The tools: LR range test, schedule plot, minibatch cliff test, divergence guard."""

from __future__ import annotations

import csv
import math
import random

import pytest
import torch
import yaml
from conftest import run_cli, train

from {{cookiecutter.project_slug}}.config.flags import FLAG_BY_NAME
from {{cookiecutter.project_slug}}.training.callbacks import Diverged, DivergenceGuard
from {{cookiecutter.project_slug}}.training.tuning import find_cliff, recommend, search_batch_sizes, steepest_descent

SIZES = [2**i for i in range(11)]  # 1 … 1024


def cliff_curve(cliff_at: int | None) -> list[float]:
    """Seconds per minibatch: a fixed cost plus a per-example cost (time per example falls, then
    flattens), and past the cliff every minibatch takes 4× as long (a cache that no longer fits)."""
    return [(1e-3 + b * 1e-6) * (4.0 if cliff_at is not None and b >= cliff_at else 1.0) for b in SIZES]


def test_cliff_after_a_flat_stretch():
    assert SIZES[find_cliff(SIZES, cliff_curve(256))] == 256
    assert recommend(SIZES, cliff_curve(256)) == 128


def test_no_cliff_recommends_the_largest_size():
    assert find_cliff(SIZES, cliff_curve(None)) is None
    assert recommend(SIZES, cliff_curve(None)) == 1024


def test_a_gentle_rise_stops_the_recommendation_at_the_best_size():
    # Measured on a 2-core CPU: per example 3.25 µs at 1024, then 3.72 and 3.82 (no cliff by the rule).
    sizes = [256, 512, 1024, 2048, 4096]
    seconds = [1.671e-3, 2.304e-3, 3.330e-3, 7.623e-3, 15.659e-3]
    assert find_cliff(sizes, seconds) is None
    assert recommend(sizes, seconds) == 1024


def test_noise_does_not_move_the_cliff():
    rng = random.Random(0)
    for _ in range(50):
        noisy = [t * rng.uniform(0.85, 1.15) for t in cliff_curve(256)]
        assert recommend(SIZES, noisy) == 128
        flat = [t * rng.uniform(0.85, 1.15) for t in cliff_curve(None)]
        assert recommend(SIZES, flat) == 1024


@pytest.mark.parametrize("cliff_at", [256, None])
def test_a_busy_machine_does_not_fake_a_cliff(cliff_at):
    # One timing in five is 2-5× too slow (another process had the cores); the others jitter by 5%.
    # Timings are never too fast. The search keeps the fastest median and re-times a suspected cliff.
    true, answers = dict(zip(SIZES, cliff_curve(cliff_at))), []
    for seed in range(200):
        rng = random.Random(seed)
        calls = []

        def time_size(b, rng=rng, calls=calls):
            calls.append(b)
            return true[b] * (rng.uniform(2, 5) if rng.random() < 0.2 else rng.uniform(1, 1.05))

        sizes, seconds, margin = search_batch_sizes(time_size, 1, 1024)
        assert sizes == SIZES and len(calls) <= 5 * len(SIZES) + 4 * len(SIZES)
        cliff = find_cliff(sizes, seconds, margin=margin)
        answers.append(None if cliff == -1 else recommend(sizes, seconds, margin=margin))
    # The right size in 98% of runs (the median of the faster half of 5 timings is a slow one when 3 of them are):
    # never a fake cliff before the true one, never "too noisy" for a 4× cliff.
    right = 128 if cliff_at else 1024
    assert answers.count(right) >= 196 and all(a is not None and a >= right // 2 for a in answers), answers


def repeated_answers(spread: float, cliff: float | None = 4.0, runs: int = 50) -> set:
    """What --find-batch-size concludes in `runs` runs on a machine whose timings vary by ±spread (a fake timer,
    seeded: no clock) where from 256 a minibatch takes `cliff` × longer: a recommended size, or None where it
    says the machine is too noisy to decide."""
    true = {b: (1e-3 + b * 1e-6) * (cliff if cliff and b >= 256 else 1.0) for b in SIZES}
    if cliff and cliff < 2:  # flat per example before and after: a rise of `cliff` × in time per example
        true = {b: b * 1e-6 * (cliff if b >= 256 else 1.0) for b in SIZES}
    answers = set()
    for seed in range(runs):
        rng = random.Random(seed)
        timer = lambda b, r=rng: true[b] * r.uniform(1 - spread, 1 + spread)  # noqa: E731
        sizes, seconds, margin = search_batch_sizes(timer, 1, 1024)
        cliff = find_cliff(sizes, seconds, margin=margin)
        answers.add(None if cliff == -1 else recommend(sizes, seconds, margin=margin))
    return answers


def test_repeated_runs_give_one_answer_or_say_the_machine_is_too_noisy():
    # Before: one timing per size, 2048, 128 and 512 in three runs on one machine. Now medians of repeats with the
    # measured noise as margin: the same size in every run while the noise is below the cliff's rise...
    assert repeated_answers(0.05) == {128} and repeated_answers(0.1) == {128}
    assert repeated_answers(0.2) <= {128, None} and repeated_answers(0.2, cliff=None) == {1024}
    # ...and a cliff just past the rule's 1.5× (1.67×) under noise of ±25%: "too noisy" or the right size, never
    # another (one timing each, as before, gave 128 or 1024 by chance).
    answers = repeated_answers(0.25, cliff=1.67)
    assert answers <= {128, None} and None in answers


def test_a_rise_within_the_margin_is_undecided():
    sizes, seconds = [1, 2, 4], [1.0, 2.0, 6.0]  # per example 1, 1, 1.5: exactly the cliff's rise
    assert find_cliff(sizes, seconds, margin=0.2) == -1
    assert find_cliff(sizes, [1.0, 2.0, 8.0], margin=0.2) == 2  # 2× clears 1.5 × 1.2
    assert find_cliff(sizes, [1.0, 2.0, 4.4], margin=0.2) is None  # 1.1× is below 1.5 / 1.2


def test_out_of_memory_ends_the_search():
    sizes, seconds, _ = search_batch_sizes(lambda b: None if b >= 64 else 1e-3 + b * 1e-6, 2, 1024)
    assert sizes == [2, 4, 8, 16, 32] and len(seconds) == 5


def test_lr_suggestion_is_the_steepest_fall_per_decade():
    # A range-test curve: flat at 2.3, falling fastest around ε = 1e-2 (a logistic in log ε),
    # bottoming out, then blowing up past ε = 1.
    lrs = [10 ** (-6 + 7 * i / 99) for i in range(100)]
    losses = [2.3 - 2.0 / (1 + math.exp(-3 * (math.log10(lr) + 2))) + (50 * (lr - 1) if lr > 1 else 0) for lr in lrs]
    assert steepest_descent(lrs, losses) == pytest.approx(1e-2, rel=0.2)
    assert steepest_descent(lrs[:12], losses[:12]) is None  # too few points after the warm-up


def test_find_batch_size_on_digits(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--find-batch-size", "--find-batch-size-max", "256")
    assert status == 0
    with open(run_dir / "batch_size.csv") as f:
        rows = list(csv.DictReader(f))
    # From 2: batch norm (on by default) cannot train on one example.
    assert [int(r["batch_size"]) for r in rows] == [2, 4, 8, 16, 32, 64, 128, 256]
    chosen = [int(r["batch_size"]) for r in rows if r["chosen"] == "1"]
    # one size, or none when this (busy) machine's timings are too noisy to tell a cliff: that judgment is tested
    # with a seeded clock (test_repeated_runs_give_one_answer_or_say_the_machine_is_too_noisy); here the bookkeeping
    assert len(chosen) <= 1 and all(2 <= c <= 256 for c in chosen)
    assert chosen or "too noisy to decide" in capsys.readouterr().out  # no size: the run says why
    assert all(float(r["seconds_per_minibatch"]) > 0 for r in rows)
    assert (run_dir / "plots" / "batch_size.png").stat().st_size > 1000
    assert not (run_dir / "checkpoints").exists(), "a tool run trains nothing"


def test_find_batch_size_starts_at_one_without_batchnorm(tmp_path):
    status, run_dir = train(tmp_path, "--find-batch-size", "--find-batch-size-max", "4", "--no-batchnorm")
    assert status == 0
    with open(run_dir / "batch_size.csv") as f:
        assert [int(r["batch_size"]) for r in csv.DictReader(f)] == [1, 2, 4]


def test_find_lr_on_digits(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--find-lr", "--optimizer", "sgd")
    assert status == 0
    with open(run_dir / "lr_find.csv") as f:
        rows = list(csv.DictReader(f))
    lrs = [float(r["lr"]) for r in rows]
    assert len(rows) >= 10 and lrs == sorted(lrs)
    out = capsys.readouterr().out
    suggested = float(out.split("suggested ε0 (--lr): ")[1].split()[0])
    assert lrs[0] <= suggested <= lrs[-1]
    assert (run_dir / "plots" / "lr_find.png").stat().st_size > 1000


def test_auto_lr_trains_with_the_suggestion(tmp_path):
    status, run_dir = train(tmp_path, "--auto-lr", "--optimizer", "sgd")
    assert status == 0
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    with open(run_dir / "lr_find.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert config["lr"] != FLAG_BY_NAME["lr"].default and lrs[0] <= config["lr"] <= lrs[-1]
    assert config["auto_lr"] is False, "config.yaml must reproduce the run with the chosen ε0"
    with open(run_dir / "metrics.csv") as f:
        first = next(r for r in csv.DictReader(f) if r["lr"])
    assert float(first["lr"]) == pytest.approx(config["lr"]), "the schedule starts at the chosen ε0"
    assert (run_dir / "results.json").is_file()


def test_plot_lr_schedule(tmp_path):
    status, run_dir = train(tmp_path, "--plot-lr-schedule", "--lr-schedule", "cosine", "--warmup-steps", "10")
    assert status == 0
    assert (run_dir / "plots" / "lr_schedule.png").stat().st_size > 1000
    assert not (run_dir / "metrics.csv").exists()


class _Trainer:
    global_step = 7


@pytest.mark.parametrize("losses", [[2.3, 2.0, float("nan")], [2.3, float("inf")], [2.0] + [25.0] * 20])
def test_divergence_guard_stops_on_nan_inf_or_sustained_growth(losses):
    guard, module = DivergenceGuard(lr=0.5), torch.nn.Module()
    with pytest.raises(Diverged, match=r"ε0 = 0.5.*--find-lr"):
        for loss in losses:
            module.last_train_loss = loss
            guard.on_train_batch_end(_Trainer(), module, None, None, 0)


def test_divergence_guard_tolerates_a_short_spike():
    guard, module = DivergenceGuard(lr=0.5), torch.nn.Module()
    for loss in [2.0] + [25.0] * 19 + [1.0] + [25.0] * 19:
        module.last_train_loss = loss
        guard.on_train_batch_end(_Trainer(), module, None, None, 0)


@pytest.mark.slow
def test_absurd_learning_rate_stops_with_a_message(tmp_path):
    result = run_cli(
        "--output-dir",
        str(tmp_path / "runs"),
        "--wandb-mode",
        "disabled",
        "--accelerator",
        "cpu",
        "--optimizer",
        "sgd",
        "--lr",
        "1e4",
        "--max-epochs",
        "3",
        "--no-batchnorm",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "training diverged" in result.stderr and "ε0 = 10000" in result.stderr and "--find-lr" in result.stderr


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    # ε ramps from 0 by 0.01 per step (warm-up towards 1000): fine for a few epochs, then SGD blows up.
    status, run_dir = train(
        tmp_path,
        "--no-batchnorm",
        "--optimizer",
        "sgd",
        "--lr",
        "1000",
        "--warmup-steps",
        "100000",
        "--lr-schedule",
        "constant",
        "--max-epochs",
        "100",
        "--run-name",
        "d",
    )
    assert status == 1
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] >= 21, "a checkpoint from a completed epoch before the blow-up"
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


@pytest.mark.slow
def test_power_of_two_warning(tmp_path):
    result = run_cli("--batch-size", "100", "--print-config", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr  # --print-config stays clean
    result = run_cli("--batch-size", "100", "--plot-lr-schedule", "--output-dir", str(tmp_path), cwd=tmp_path)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: --batch-size 100 is not a power of 2; the checklist suggests one (e.g. 128)"]
