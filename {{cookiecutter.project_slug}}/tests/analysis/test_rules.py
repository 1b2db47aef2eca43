"""Each diagnosis rule on curves built to sit just on either side of its threshold (no training)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from {{cookiecutter.project_slug}}.analysis import rules
from {{cookiecutter.project_slug}}.analysis.curves import Curves
from {{cookiecutter.project_slug}}.analysis.rules import RunFacts, findings
from {{cookiecutter.project_slug}}.analysis.units import unit_statistics

CONFIG = {"lr": 0.003, "depth": 2, "width": 256, "dataset": "digits"}


def curves(loss=(), *, per_epoch=21, train_acc=(), val_acc=(), grad_norm=()) -> Curves:
    """train/loss per step (per_epoch steps an epoch), train/acc and val/acc per epoch, grad norms per step."""
    c = Curves()
    c.points["train/loss"] = [(s, s // per_epoch, float(v)) for s, v in enumerate(loss)]
    c.points["train/grad_norm"] = [(s, s // per_epoch, float(v)) for s, v in enumerate(grad_norm)]
    c.points["train/acc"] = [((e + 1) * per_epoch, e, v) for e, v in enumerate(train_acc)]
    c.points["val/acc"] = [((e + 1) * per_epoch, e, v) for e, v in enumerate(val_acc)]
    return c


def facts(c: Curves, **kw) -> RunFacts:
    return RunFacts(c, {**CONFIG, **kw.pop("config", {})}, kw.pop("results", {"val/acc": 0.9}), monitor="val/acc", **kw)


def ids(c: Curves, **kw) -> list[str]:
    return [f.id for f in findings(facts(c, **kw))]


def healthy_loss(n=105, start=2.5):
    """A smooth exponential decay with ±2% alternating noise: what a good ε0 gives."""
    return [start * math.exp(-s / 10) + 0.05 + 0.02 * (-1) ** s for s in range(n)]


def test_a_healthy_curve_has_no_finding():
    assert (
        ids(curves(healthy_loss(), train_acc=[0.9, 0.97, 0.98, 0.985, 0.99], val_acc=[0.95, 0.96, 0.97, 0.97, 0.96]))
        == []
    )


@pytest.mark.parametrize("rise, found", [(rules.EARLY_RISE * 0.99, False), (rules.EARLY_RISE * 1.01, True)])
def test_loss_rising_over_the_first_minibatches(rise, found):
    loss = [2.0 + (rise - 1) * 2.0 * s / 19 for s in range(20)]  # linear: its last 3 steps' mean ≈ rise × its first 3
    scale = (_mean(loss[-3:]) / _mean(loss[:3])) / rise
    loss = [2.0 + (v - 2.0) / scale for v in loss]  # exactly rise × at the ends
    assert (_mean(loss[-3:]) / _mean(loss[:3]) > rules.EARLY_RISE) == found
    assert ("lr-too-high" in ids(curves(loss))) == found


def _mean(v):
    return sum(v) / len(v)


@pytest.mark.parametrize(
    "jumps, found", [(6, False), (7, True)]
)  # 5 then 7 sign changes in 20 differences: 25% < 1/3 < 35%
def test_oscillation(jumps, found):
    loss = [2.0] * 21
    for i in range(1, jumps + 1):
        loss[i] = 2.0 + (0.6 if i % 2 else 0.0)  # jumps of 0.6 > 25% of 2.0, alternating sign
    share, count = rules.oscillation(loss)
    assert (share > rules.OSCILLATION_SHARE) == found, (share, count)
    assert ("lr-too-high" in ids(curves(loss, per_epoch=21))) == found


def test_oscillation_below_the_jump_size_is_noise():
    loss = [2.0 + (0.45 if i % 2 else 0.0) for i in range(21)]  # 0.45 < 25% of 2.0: minibatch noise
    assert rules.oscillation(loss)[0] == 0


def test_diverged_loss_is_an_error_citing_its_step():
    found = findings(facts(curves([2.3, 2.0, 5.0, float("nan")]), results=None))
    assert found[0].id == "lr-too-high" and found[0].severity == "error" and "step 3" in found[0].evidence
    assert "--lr 0.0003" in found[0].flags and found[0].checklist == rules.QUOTES["lr"]


@pytest.mark.parametrize("drop, found", [(rules.SLOW_DROP * 0.9, True), (rules.SLOW_DROP * 1.1, False)])
def test_too_slow_a_first_epoch(drop, found):
    loss = [2.3] * 3 + [2.3 * (1 - drop)] * 18  # first epoch: 21 steps
    assert ("lr-too-low" in ids(curves(loss))) == found


def test_too_slow_is_not_reported_when_another_finding_explains_it():
    loss = [2.3] * 21
    units = {"activation": "relu", "units": 100, "inputs": 512, "saturated": 0, "dead": 0.9}
    assert ids(curves(loss), units=units) == ["dead-units"]


@pytest.mark.parametrize("factor, found", [(rules.SPIKE_FACTOR * 0.9, False), (rules.SPIKE_FACTOR * 1.1, True)])
def test_gradient_spikes(factor, found):
    norms = [1.0] * 100
    for i in (30, 60, 90):
        norms[i] = factor
    assert ("unstable-gradients" in ids(curves(healthy_loss(), grad_norm=norms))) == found
    if found:
        f = next(x for x in findings(facts(curves(healthy_loss(), grad_norm=norms))) if x.id == "unstable-gradients")
        assert f.figures["clip"] == 1.0 and "--gradient-clip-val 1" in f.flags  # the norms' 90th percentile


@pytest.mark.parametrize("error, found", [(0.049, False), (0.051, True)])
def test_capacity_against_the_target_error(error, found):
    c = curves(healthy_loss(), train_acc=[0.5, 1 - error], val_acc=[0.5, 1 - error])
    assert ("capacity" in ids(c, reference_error=0.05, reference_source="--target-error 0.05")) == found


# Images: convolutions first; a table declared 1 channel × 40 steps is a sequence: a recurrent network first.
@pytest.mark.parametrize(
    "config, family",
    [
        ({"model": "mlp", "dataset": "digits"}, "--model cnn --width auto"),
        ({"model": "rnn", "dataset": "digits"}, None),
{%- if cookiecutter.tables %}
        ({"model": "mlp", "dataset": "csv", "feature_shape": [1, 40]}, "--model rnn --width auto"),
        ({"model": "mlp", "dataset": "csv", "feature_shape": []}, None),
{%- endif %}
    ],
)
def test_on_ordered_data_capacity_and_regularize_name_a_sequence_model_first(config, family):
    c = curves(healthy_loss(), train_acc=[0.5, 0.7], val_acc=[0.5, 0.7])
    found = findings(facts(c, config=config, reference_error=0.05, reference_source="--target-error 0.05"))
    flags = next(x for x in found if x.id == "capacity").flags
    assert (flags[0].split(" (")[0] if flags[0].startswith("--model") else None) == family
    assert "--depth" in " ".join(flags)
    # a gap: an MLP overfitting ordered data is told the same first (weight decay and dropout come after)
    train, val = [0.90, 0.95, 0.98, 0.99, 1.0, 1.0], [0.90, 0.95, 0.97, 0.97, 0.97, 0.90]
    gap = findings(facts(curves(healthy_loss(126), train_acc=train, val_acc=val), config=config))
    flags = next(x for x in gap if x.id == "regularize").flags
    assert (flags[0].split(" (")[0] if flags[0].startswith("--model") else None) == family
    assert "--weight-decay 1e-4" in flags


@pytest.mark.parametrize(
    "error, found", [(0.10 + rules.CAPACITY_MARGIN - 0.001, False), (0.10 + rules.CAPACITY_MARGIN + 0.001, True)]
)
def test_capacity_against_the_siblings(error, found):
    c = curves(healthy_loss(), train_acc=[0.5, 1 - error], val_acc=[0.5, 1 - error])
    found_ids = ids(c, reference_error=0.10, reference_source="the best sibling run on digits (x)")
    assert ("capacity" in found_ids) == found


@pytest.mark.parametrize("gap, found", [(rules.GAP_LARGE - 0.002, False), (rules.GAP_LARGE + 0.002, True)])
def test_train_validation_gap(gap, found):
    train = [0.90, 0.95, 0.98, 0.99, 1.0, 1.0]
    val = [0.90, 0.95, 0.97, 0.97, 0.97, 1.0 - gap]
    f = findings(facts(curves(healthy_loss(126), train_acc=train, val_acc=val)))
    assert ("regularize" in [x.id for x in f]) == found
    if found:
        x = next(x for x in f if x.id == "regularize")
        assert x.flags[-1].startswith("--early-stopping") and x.flags[0] == "--weight-decay 1e-4"  # early stopping last


def test_a_gap_that_does_not_grow_is_not_reported():
    train, val = [0.99] * 6, [0.90] * 6  # 9 points from the start: the data, not overfitting
    assert "regularize" not in ids(curves(healthy_loss(126), train_acc=train, val_acc=val))


@pytest.mark.parametrize("best_epoch, found", [(1, True), (2, False)])  # of 20 epochs: the first tenth is epochs 0-1
def test_best_epoch_early(best_epoch, found):
    val = [0.9] * 20
    val[best_epoch] = 0.95
    f = [x for x in findings(facts(curves(healthy_loss(), val_acc=val))) if x.id == "training-length"]
    assert bool(f) == found
    if found:
        assert (
            "much shorter" in f[0].evidence
            and f[0].severity == "info"
            and f"epoch {best_epoch + 1} of 20" in f[0].evidence
        )


def test_still_improving_at_the_last_epoch():
    f = findings(facts(curves(healthy_loss(), val_acc=[0.9, 0.92, 0.93])))
    assert [(x.id, x.severity) for x in f] == [("training-length", "info")] and "--max-epochs 6" in f[0].flags
    assert findings(facts(curves(healthy_loss(), val_acc=[0.9, 0.93, 0.93]))) == []


@pytest.mark.parametrize("share, found", [(rules.UNIT_SHARE - 0.01, False), (rules.UNIT_SHARE + 0.01, True)])
def test_saturated_and_dead_unit_shares(share, found):
    tanh = {"activation": "tanh", "units": 100, "inputs": 512, "saturated": share, "dead": 0}
    relu = {"activation": "relu", "units": 100, "inputs": 512, "saturated": 0, "dead": share}
    assert ("saturated-units" in ids(curves(healthy_loss()), units=tanh)) == found
    assert ("dead-units" in ids(curves(healthy_loss()), units=relu)) == found


def test_unit_statistics_count_saturated_and_dead_units():
    torch.manual_seed(0)
    x = torch.randn(256, 10)
    for scale, saturated in ((100.0, True), (0.01, False)):
        net = nn.Sequential(nn.Linear(10, 40), nn.Tanh())
        nn.init.normal_(net[0].weight, 0, scale)
        u = unit_statistics(net, net, x)
        assert u["activation"] == "tanh" and u["units"] == 40
        assert (u["saturated"] > 0.9) == saturated and (u["saturated"] == 0) != saturated
    net = nn.Sequential(nn.Linear(10, 40), nn.ReLU())
    with torch.no_grad():
        net[0].bias[:10] = -1e3  # 10 of 40 units never active
    assert unit_statistics(net, net, x)["dead"] == 10 / 40


def test_findings_follow_the_checklist_order():
    c = curves([2.0, 2.6, 2.0, 2.6] * 6, train_acc=[0.5, 0.6, 0.7, 0.9], val_acc=[0.5, 0.55, 0.6, 0.6])
    units = {"activation": "tanh", "units": 100, "inputs": 512, "saturated": 0.9, "dead": 0}
    f = findings(facts(c, units=units))
    sections = [x.section for x in f]
    order = ["Learning rate", "Architecture", "Regularization", "Activation function"]
    assert sections == sorted(sections, key=order.index) and f[0].id == "lr-too-high" and f[-1].id == "saturated-units"


@pytest.mark.parametrize("late, found", [(0.9, False), (5.0, True)])
def test_a_converged_runs_small_norms_make_no_spikes(late, found):
    norms = [3.0] * 20 + [0.05] * 80  # a default digits run: the norms shrink by 60× once it has converged
    for i in (40, 60, 80):
        norms[i] = late  # 18× the median before it: under the first steps' norms, a hard minibatch, not instability
    assert ("unstable-gradients" in ids(curves(healthy_loss(), grad_norm=norms))) == found


def test_too_low_is_judged_before_capacity():
    loss = [2.3] * 3 + [2.3 * 0.93] * 18  # the first epoch's loss fell 7%
    c = curves(loss, train_acc=[0.4, 0.5], val_acc=[0.4, 0.5])
    sibling = {"reference_error": 0.01, "reference_source": "the best sibling run on digits (x)"}
    found = ids(c, config={"lr": 2.1e-4}, **sibling)  # under a tenth of the default ε0
    assert found[0] == "lr-too-low" and "capacity" not in found  # its training error says nothing while ε0 is wrong
    found = ids(c, config={"lr": 0.003}, **sibling)  # the default ε0: a network of 1 × 2 units learns as slowly
    assert "capacity" in found and "lr-too-low" not in found
    assert ids(c, config={"lr": 0.003})[0] == "lr-too-low"  # no sibling to compare with: ε0 is the suspect


@pytest.mark.parametrize("jump, found", [(rules.EARLY_JUMP * 0.95, False), (rules.EARLY_JUMP * 1.05, True)])
def test_a_jump_over_the_first_minibatches(jump, found):
    loss = healthy_loss()
    loss[2] = loss[0] * jump  # ε0 × 100: 2.86 → 11.5 at step 1, then recovering
    assert ("lr-too-high" in ids(curves(loss))) == found


def regression(train, val, results=None) -> RunFacts:
    c = Curves()
    c.points["train/rmse"] = [((e + 1) * 7, e, v) for e, v in enumerate(train)]
    c.points["val/rmse"] = [((e + 1) * 7, e, v) for e, v in enumerate(val)]
    return RunFacts(c, CONFIG, results or {"val/rmse": val[-1]}, monitor="val/rmse", maximize=False)


def test_the_regression_gap_reads_the_rmse():
    train, val = [100, 74, 59, 51, 45, 40, 36, 34.5], [91, 64.5, 62, 61, 61.5, 62, 63, 63.7]  # diabetes, 20 → 8
    f = [x for x in findings(regression(train, val)) if x.id == "regularize"]
    assert f and "(val/rmse − train/rmse) / val/rmse = 45.8% at epoch 8" in f[0].evidence
    assert "regularize" not in [x.id for x in findings(regression([70] * 8, [72] * 8))]
    # with 50 validation rows (7 steps × 64 a epoch) the same gap is still far beyond the noise
    assert f[0].severity == "warning"  # val/rmse 2.7 above its best: beyond a noise of 0 (the split's size unknown)
    x = next(x for x in findings(regression(train, val, {"steps": 56, "epochs": 8})) if x.id == "regularize")
    assert x.severity == "info" and "within its noise of its best (61)" in x.evidence  # 50 rows: ±6.1


def test_the_gap_says_from_where_it_grew():
    train, val = [0.889, 0.98, 0.985, 0.99, 0.995, 1.0], [0.947, 0.965, 0.96, 0.95, 0.95, 0.94]
    f = findings(facts(curves(healthy_loss(126), train_acc=train, val_acc=val)))
    x = next(x for x in f if x.id == "regularize")
    assert "grown by 6.0% since 0 (it was -5.8% at epoch 1, counted as none)" in x.evidence


def test_a_gap_within_the_validation_noise_is_not_reported():
    train, val = [0.89, 0.98, 0.98, 0.985, 0.99, 1.0], [0.947, 0.965, 0.96, 0.955, 0.95, 0.948]  # a 5.2-point gap
    c = curves(healthy_loss(126), train_acc=train, val_acc=val)
    assert "regularize" in ids(c, results={"steps": 126, "epochs": 6})  # 21 steps × 64 → 149 validation images
    assert "regularize" not in ids(c, results={"steps": 42, "epochs": 6})  # 7 steps × 64 → 50 rows: 2.6 rows


def test_a_best_epoch_tied_within_the_noise_is_no_training_length_finding():
    val = [0.9583, 0.9722] + [0.9722] * 4 + [0.9653] * 14  # the default digits run: 144 validation images
    c = curves(healthy_loss(), val_acc=val)
    assert "training-length" not in ids(c, results={"steps": 420, "epochs": 20})
    assert "training-length" in ids(c)  # without the split's size every difference counts
