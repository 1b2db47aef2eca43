"""export.py: every format reproduces the checkpoint's outputs (within 1e-4, on a batch of another size
than the exported example) for mlp, cnn, resnet, rnn and a multitask network; bad input exits 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import FAST

from {{cookiecutter.project_slug}}.commands import export as export_module
from {{cookiecutter.project_slug}}.commands.export import FORMATS, main, missing_modules, run_exported
from {{cookiecutter.project_slug}}.commands.train import run as run_main
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.training.module import load_module

# name → training flags: one network per architecture, and a multitask one (three heads, two binary).
MODELS = {
    "mlp": ["--model", "mlp"],
    "cnn": ["--model", "cnn"],
    "resnet": ["--model", "resnet", "--depth", "1"],
    "rnn": ["--model", "rnn", "--depth", "1"],
    "multitask": ["--model", "cnn", "--tasks", "digit,parity,zero"],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Train each network for two steps (enough for best.ckpt) only when a test first asks for it."""
    out = tmp_path_factory.mktemp("runs")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            a = parse_args(
                [
                    *FAST,
                    "--dataset",
                    "digits",
                    "--width",
                    "8",
                    "--limit-train-batches",
                    "2",
                    "--limit-val-batches",
                    "1",
                    "--output-dir",
                    str(out),
                    "--run-name",
                    name,
                    *MODELS[name],
                ]
            )
            assert run_main(a) == 0
            os.environ.pop("CHECKLIST_RUN_NAME", None)
            cache[name] = out / name / "checkpoints" / "best.ckpt"
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", MODELS)
def test_exported_outputs_equal_the_checkpoint(name, fmt, checkpoints, capsys):
    if missing_modules(fmt):
        pytest.skip(f"the export extra is not installed ({', '.join(missing_modules(fmt))})")
    ckpt = checkpoints(name)
    assert main([str(ckpt), "--format", fmt, "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed
    path = ckpt.with_name("best" + FORMATS[fmt][0])
    # Independently of export.py's own check: a new batch size, outputs per task against the network's.
    model = load_module(ckpt)
    x = torch.rand(5, *model.hparams.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
    got = run_exported(fmt, path, x)
    assert len(got) == len(model.hparams.task_names)
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        assert (g - e).abs().max().item() <= 1e-4
    info = json.loads(path.with_name(path.name + ".json").read_text())
    assert info["input_shape"] == [1, 8, 8] and [t["name"] for t in info["tasks"]] == model.hparams.task_names
    assert info["tasks"][0]["classes"] == [str(d) for d in range(10)]
    assert info["max_abs_difference"] <= 1e-4


def test_a_failed_check_exits_1_and_keeps_nothing(checkpoints, monkeypatch, capsys):
    ckpt = checkpoints("mlp")
    target = ckpt.with_name("failed.pt2")
    real = export_module.run_exported
    monkeypatch.setattr(export_module, "run_exported", lambda fmt, path, x: [o + 1e-3 for o in real(fmt, path, x)])
    assert main([str(ckpt), "--format", "torch-export", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "> 0.0001" in err
    assert not target.exists() and not target.with_name("failed.pt2.json").exists()
    assert not list(ckpt.parent.glob(".*tmp*"))


@pytest.mark.parametrize("problem", ["no extra", "exists", "not a checkpoint", "no folder"])
def test_bad_input_exits_2(problem, checkpoints, monkeypatch, tmp_path, capsys):
    ckpt = checkpoints("mlp")
    existing = tmp_path / "model.pt2"
    existing.write_text("keep")
    (tmp_path / "x.ckpt").write_text("x")
    if problem == "no extra":
        monkeypatch.setattr(
            export_module.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else object()
        )
    argv, says = {
        "no extra": (
            [str(ckpt), "--format", "onnx", "--output", str(tmp_path / "m.onnx")],
            "pip install -e '.[export]'",
        ),
        "exists": ([str(ckpt), "--format", "torch-export", "--output", str(existing)], "--overwrite"),
        "not a checkpoint": ([str(tmp_path / "x.ckpt"), "--format", "torch-export"], "not a checkpoint of this"),
        "no folder": (
            [str(ckpt), "--format", "torch-export", "--output", str(tmp_path / "a" / "m.pt2")],
            "does not exist",
        ),
    }[problem]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2", "x.ckpt"] and existing.read_text() == "keep"
