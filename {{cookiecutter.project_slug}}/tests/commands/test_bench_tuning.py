"""benchmarks/bench_tuning.py's pieces that decide what it measures: the sweep files it runs at its
budget (the union for random search, the stages with or without Hyperband) and the MNIST-format set
it writes where there is no MNIST. The benchmark itself prints figures; it is not run here."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT

from {{cookiecutter.project_slug}}.commands.sweeps import load_stage, searched
from {{cookiecutter.project_slug}}.search.sweepfile import load_sweep

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_tuning as bench  # noqa: E402


def test_union_takes_each_parameter_from_the_first_stage_that_searches_it(tmp_path):
    union = bench.union_sweep(epochs=8)
    stages = [load_stage(p) for p in bench.STAGES]
    assert union["method"] == "random" and "early_terminate" not in union
    assert set(union["parameters"]) == set().union(*(searched(s) for s in stages)) | {"max_epochs"}
    assert union["parameters"]["lr"] == stages[0]["parameters"]["lr"]  # stage 1's 1e-5 … 1, not stage 3's value
    assert union["parameters"]["max_epochs"] == {"value": 8}
    path = tmp_path / "union.yaml"
    path.write_text(yaml.safe_dump(union))
    sweep = load_sweep(path)  # what `sweeps run` reads
    assert sweep.method == "random" and sweep.hyperband is None and "depth" in sweep.space.params


@pytest.mark.parametrize(("epochs", "min_iter"), [(8, 1), (20, 3), (40, 6)])
def test_the_stages_at_the_budget_keep_hyperband_scaled_or_drop_it(epochs, min_iter):
    stage = load_stage(bench.STAGES[0])
    assert stage["early_terminate"]["min_iter"] == bench.SHIPPED_MIN_ITER
    with_hb = bench.budgeted(stage, epochs, hyperband=True)
    assert with_hb["early_terminate"] == {**stage["early_terminate"], "min_iter": min_iter}
    assert with_hb["parameters"]["max_epochs"] == {"value": epochs}
    assert with_hb["parameters"]["lr"] == stage["parameters"]["lr"]
    assert "early_terminate" not in bench.budgeted(stage, epochs, hyperband=False)


def test_the_mnist_format_set_reads_as_mnist_with_centred_digits(tmp_path):
    from torchvision.datasets import MNIST

    bench.write_mnist(tmp_path, n_train=60, n_test=20)
    train, test = MNIST(tmp_path, train=True), MNIST(tmp_path, train=False)
    assert tuple(train.data.shape) == (60, 28, 28) and tuple(test.data.shape) == (20, 28, 28)
    assert set(train.targets.tolist()) <= set(range(10)) and len(set(train.targets.tolist())) > 5
    images = train.data.numpy().astype(float)
    # The 20x20 digit covers the centre 12x12 whatever its offset; the corners are often noise alone.
    assert images[:, 8:20, 8:20].mean() > 1.5 * images[:, :3, :3].mean()
    assert not np.array_equal(images[0], images[1])


def test_a_run_that_stopped_without_results_counts_the_epochs_it_trained(tmp_path):
    metrics = tmp_path / "metrics.csv"
    assert bench.trained_epochs(metrics) == 0  # no file: it never trained
    metrics.write_text(
        "epoch,step,train/loss,val/acc,test/acc\n0,0,2.3,,\n0,5,2.1,,\n0,5,,0.3,\n1,10,2.0,,\n1,10,,0.4,\n2,10,,,0.4\n"
    )
    assert bench.trained_epochs(metrics) == 2  # epochs 0 and 1 trained; epoch 2's row is the test
