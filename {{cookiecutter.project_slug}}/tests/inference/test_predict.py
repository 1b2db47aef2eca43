"""Using a trained model: predict.py, TaskModule.predict_step, predict_images and the README's notebook
example, on one briefly trained multitask digits run."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import HANG, N_IMAGES, ROOT, data_options, train

from {{cookiecutter.project_slug}}.commands.predict import main as predict
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
from {{cookiecutter.project_slug}}.datasets import DATASETS
from {{cookiecutter.project_slug}}.inference.outputs import predict_images
from {{cookiecutter.project_slug}}.training.module import load_module


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predictions_equal_the_test_argmax(trained, test_images, tmp_path, capsys):
    import lightning as L

    folder, x = test_images
    (folder / "broken.png").write_bytes(b"not a png")  # skipped with a warning; the others are written
    out = tmp_path / "p.csv"
    assert predict([str(trained / "checkpoints" / "best.ckpt"), str(folder), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("warning")] == [
        f"warning: skipped {folder / 'broken.png'}: cannot decode it as an image "
        f"(UnidentifiedImageError: cannot identify image file {str(folder / 'broken.png')!r})"
    ]
    rows = {Path(r["file"]).name: r for r in read_csv(out)}
    assert len(rows) == N_IMAGES
    assert list(next(iter(rows.values()))) == ["file", "digit", "digit_prob", "parity", "parity_prob"]
    # trainer.predict through the same predict_step, on the test split as trainer.test sees it.
    model = load_module(trained / "checkpoints" / "best.ckpt")
    dm = ImageDataModule(DATASETS["digits"], data_options(seed=0, tasks=["digit", "parity"], batch_size=64))
    dm.setup()
    probs = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False).predict(
        model, dataloaders=dm.test_dataloader()
    )
    digit = torch.cat([p[0] for p in probs])[:N_IMAGES]
    parity = torch.cat([p[1] for p in probs])[:N_IMAGES]
    assert torch.equal(dm.test_set.x[:N_IMAGES], x)
    for i in range(N_IMAGES):
        row = rows[f"{i:03d}.png"]
        assert row["digit"] == str(digit[i].argmax().item())
        assert row["parity"] == ("even", "odd")[parity[i].argmax().item()]
        assert float(row["digit_prob"]) == pytest.approx(digit[i].max().item(), abs=1e-6)
        assert float(row["parity_prob"]) == pytest.approx(parity[i].max().item(), abs=1e-6)
    assert torch.allclose(parity.sum(1), torch.ones(N_IMAGES)) and torch.allclose(digit.sum(1), torch.ones(N_IMAGES))


def test_a_batch_of_undecodable_files_only(trained, test_images, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"broken")
    (folder / "1.png").write_bytes((test_images[0] / "a" / "001.png").read_bytes())
    out = tmp_path / "p.csv"
    assert predict([str(trained), str(folder), "--batch-size", "1", "--output", str(out)]) == 0
    assert [Path(r["file"]).name for r in read_csv(out)] == ["1.png"]
    assert "1 predictions (1 skipped)" in capsys.readouterr().out


def test_top_k_and_run_directory_shortcuts(trained, test_images, tmp_path):
    folder, _ = test_images
    out = tmp_path / "p.csv"
    assert (
        predict(
            [
                "last",
                str(folder / "a" / "001.png"),
                "--output-dir",
                str(trained.parent),
                "--output",
                str(out),
                "--top-k",
                "3",
            ]
        )
        == 0
    )
    (row,) = read_csv(out)
    assert list(row) == [
        "file",
        "digit",
        "digit_prob",
        "digit_top2",
        "digit_top2_prob",
        "digit_top3",
        "digit_top3_prob",
        "parity",
        "parity_prob",
        "parity_top2",
        "parity_top2_prob",
    ]
    probs = [float(row[k]) for k in ("digit_prob", "digit_top2_prob", "digit_top3_prob")]
    assert probs == sorted(probs, reverse=True) and len({row["digit"], row["digit_top2"], row["digit_top3"]}) == 3
    assert {row["parity"], row["parity_top2"]} == {"even", "odd"}
    assert float(row["parity_prob"]) + float(row["parity_top2_prob"]) == pytest.approx(1, abs=1e-5)
    assert predict([str(trained), str(folder / "a" / "001.png"), "--output", str(out), "--overwrite"]) == 0
    assert read_csv(out)[0]["digit"] == row["digit"]  # the run directory → its best.ckpt, like the path


@pytest.mark.slow
def test_predict_script_in_a_fresh_process(trained, test_images, tmp_path):
    folder, _ = test_images
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "predict.py"), str(trained), str(folder), "--output", "p.csv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(read_csv(tmp_path / "p.csv")) == N_IMAGES


def _bad_checkpoints(tmp_path: Path, trained: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, what the error must say about it)."""
    text = tmp_path / "notes.ckpt"
    text.write_text("hello\n")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    archive = tmp_path / "data.ckpt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "x")
    tensor = tmp_path / "tensor.ckpt"
    torch.save(torch.zeros(2), tensor)
    foreign = tmp_path / "foreign.ckpt"
    ckpt = torch.load(trained / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    torch.save({"state_dict": ckpt["state_dict"], "hyper_parameters": {"lr": 0.1}}, foreign)
    return {
        "missing": (tmp_path / "nope.ckpt", "not found"),
        "folder": (tmp_path, "a directory without checkpoints/best.ckpt"),
        "text": (text, "a text file starting 'hello'"),
        "empty": (empty, "an empty file"),
        "zip": (archive, "a zip archive of 1 files (readme.txt)"),
        "tensor": (tensor, "a PyTorch file holding a Tensor, not a Lightning checkpoint"),
        "foreign": (foreign, "a Lightning checkpoint without this project's hyper_parameters"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "text", "empty", "zip", "tensor", "foreign"])
def test_not_a_checkpoint_of_this_project(case, trained, test_images, tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    path, says = _bad_checkpoints(tmp_path / "bad", trained)[case]
    out = tmp_path / "p.csv"
    assert predict([str(path), str(test_images[0]), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.glob(".p.csv*"))


@pytest.mark.parametrize(
    "problem", ["output exists", "no images", "missing input", "table for an image model", "bad top-k"]
)
def test_bad_input_exits_2_and_writes_nothing(problem, trained, tmp_path, capsys):
    ckpt = str(trained / "checkpoints" / "best.ckpt")
    out = tmp_path / "p.csv"
    (tmp_path / "empty").mkdir()
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    argv, says = {
        "output exists": ([ckpt, str(tmp_path / "empty"), "--output", str(tmp_path / "t.csv")], "--overwrite"),
        "no images": ([ckpt, str(tmp_path / "empty"), "--output", str(out)], "no image files"),
        "missing input": ([ckpt, str(tmp_path / "gone"), "--output", str(out)], "gone: not found"),
        "table for an image model": ([ckpt, str(tmp_path / "t.csv"), "--output", str(out)], "not on a table"),
        "bad top-k": ([ckpt, str(tmp_path / "empty"), "--top-k", "0", "--output", str(out)], "--top-k"),
    }[problem]
    try:
        status = predict(argv)
    except SystemExit as e:  # the parser's errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not out.exists() and (tmp_path / "t.csv").read_text() == "a,b\n1,2\n"


def test_readme_notebook_example_runs(trained, test_images, capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- notebook-example -->\n```python\n(.*?)```\n<!-- /notebook-example -->", readme, re.S)
    code = block.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    image = test_images[0] / "b" / "000.png"
    code = code.replace("runs/<run>/checkpoints/best.ckpt", str(trained / "checkpoints" / "best.ckpt"))
    exec(compile(code.replace('"digit.png"', repr(str(image))), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    model = load_module(trained / "checkpoints" / "best.ckpt")
    (row,) = predict_images(model, image, top_k=2)
    assert printed.strip() == str([row])
    assert row["digit"] == str(model.predict_step(test_images[1][:1])[0].argmax().item())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_without_one_exits_2(trained, test_images, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert predict([str(trained), str(test_images[0]), "--accelerator", "gpu", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--accelerator gpu" in err, err
    assert not list(tmp_path.iterdir())


def test_image_folder_model_adapts_size_and_channels(tmp_path):
    """RGB 20×14 files, trained at 16×16: predict.py resizes each file as the training data was."""
    from formats import make_image_folder
    from torchvision.datasets import ImageFolder

    photos = tmp_path / "photos"
    make_image_folder(photos, split="train")
    make_image_folder(photos, per_class=3, split="test")
    flags = "--dataset image-folder --image-size 16 --width 8 --model cnn --limit-train-batches 2 --run-name f"
    status, run_dir = train(tmp_path, "--data-dir", str(photos), *flags.split())
    assert status == 0
    out = tmp_path / "p.csv"
    assert predict([str(run_dir), str(photos / "test"), "--output", str(out)]) == 0
    rows = {r["file"]: r for r in read_csv(out)}
    model = load_module(run_dir / "checkpoints" / "best.ckpt")
    dm = ImageDataModule(DATASETS["image-folder"], data_options(tasks=["class"], data_dir=str(photos), image_size=16))
    dm.setup()
    probs = model.predict_step(dm.test_set.batch(range(len(dm.test_set)))[0])[0]
    files = [path for path, _ in ImageFolder(str(photos / "test")).samples]  # the order of the test split
    assert sorted(rows) == sorted(files)
    for path, p in zip(files, probs):
        assert rows[path]["class"] == ["cat", "dog", "owl"][p.argmax().item()]
        assert float(rows[path]["class_prob"]) == pytest.approx(p.max().item(), abs=1e-6)
