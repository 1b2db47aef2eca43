"""Inference speed: predict.py vs a plain PyTorch + PIL loop over the same PNG files, and ONNX Runtime
vs PyTorch eager latency (one image, a batch of 256), in one process on CPU.

The network is the project's, built from train.py flags for MNIST-format inputs (1×28×28; untrained:
speed does not depend on the weights) and saved as a checkpoint. Both predict paths decode every file
with PIL, run the network in batches and write a CSV of class names and probabilities.

    python benchmarks/bench_predict.py [--images 10000] [--repeats 3] [--threads N] [train.py flags, e.g. --model cnn]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from {{cookiecutter.project_slug}}.commands.predict import main as predict  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.training.module import TaskModule  # noqa: E402


def checkpoint(argv: list[str], path: Path) -> TaskModule:
    a = parse_args(["--dataset", "mnist", "--wandb-mode", "disabled", *argv])
    model = TaskModule(
        **config_dict(a),
        input_shape=[1, 28, 28],
        input_mean=[0.1307],
        input_std=[0.3081],
        task_names=["digit"],
        task_classes=[10],
        task_class_names=[[str(d) for d in range(10)]],
        label_frequencies=[[0.1] * 10],
    ).eval()
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": __import__("lightning").__version__,
        },
        path,
    )
    return model


def write_pngs(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir()
    files = []
    for i in range(n):
        files.append(folder / f"{i:05d}.png")
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(files[-1])
    return files


@torch.inference_mode()
def plain_loop(net, files: list[Path], out: Path, batch_size: int) -> float:
    """What a user would write by hand: PIL decode, stack, forward, softmax, CSV rows."""
    start = time.perf_counter()
    names = [str(d) for d in range(10)]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "digit", "digit_prob"])
        for i in range(0, len(files), batch_size):
            chunk = files[i : i + batch_size]
            arrays = []
            for path in chunk:
                with Image.open(path) as img:
                    arrays.append(np.asarray(img.convert("L")))
            x = torch.from_numpy(np.stack(arrays)).unsqueeze(1).float().div_(255)  # [B, 1, 28, 28]
            p, idx = torch.softmax(net(x)[0], dim=1).max(dim=1)
            writer.writerows([str(f), names[j], round(v, 6)] for f, j, v in zip(chunk, idx.tolist(), p.tolist()))
    return time.perf_counter() - start


def project(ckpt: Path, folder: Path, out: Path, batch_size: int, workers: str) -> float:
    start = time.perf_counter()
    assert (
        predict(
            [
                str(ckpt),
                str(folder),
                "--output",
                str(out),
                "--overwrite",
                "--accelerator",
                "cpu",
                "--batch-size",
                str(batch_size),
                "--num-workers",
                workers,
            ]
        )
        == 0
    )
    return time.perf_counter() - start


def latency(fn, x, repeats: int) -> float:
    """Median seconds per call after warm-up."""
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def onnx_vs_eager(model: TaskModule, folder: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        print("onnxruntime: not installed (pip install -e '.[export]'); skipped")
        return
    import onnxruntime

    from {{cookiecutter.project_slug}}.commands.export import export, exportable

    wrapper = exportable(model.net, dict(model.hparams))
    path = folder / "model.onnx"
    export("onnx", wrapper, torch.rand(2, 1, 28, 28), path, ["digit"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads as PyTorch: a fair comparison
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for batch, repeats in ((1, 1000), (256, 50)):
        x = torch.rand(batch, 1, 28, 28)
        with torch.inference_mode():
            eager = latency(wrapper, x, repeats)
        ort = latency(lambda x: session.run(None, {name: x}), x.numpy(), repeats)
        print(
            f"batch {batch:>3}: PyTorch eager {eager * 1e3:8.3f} ms, ONNX Runtime {ort * 1e3:8.3f} ms "
            f"(ONNX Runtime {eager / ort:.2f}x as fast)"
        )


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--images", type=int, default=10000)
    bench.add_argument("--batch-size", type=int, default=256)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--threads", type=int, help="intra-op threads of PyTorch and ONNX Runtime (default: PyTorch's)")
    opts, rest = bench.parse_known_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = checkpoint(rest, tmp / "model.ckpt")
        start = time.perf_counter()
        files = write_pngs(tmp / "images", opts.images)
        print(
            f"{opts.images} MNIST-format PNG files written in {time.perf_counter() - start:.1f} s; model "
            f"{model.hparams.model} depth {model.hparams.depth} width {model.hparams.width}; "
            f"torch threads {torch.get_num_threads()}; median of {opts.repeats}"
        )
        project(tmp / "model.ckpt", tmp / "images", tmp / "p.csv", opts.batch_size, "0")  # warm-up
        # Interleaved repeats, so that a busy moment of a shared machine hits every variant alike.
        times: dict[str, list[float]] = {"plain": [], "0": [], "auto": []}
        for _ in range(opts.repeats):
            times["plain"].append(plain_loop(model.net, files, tmp / "plain.csv", opts.batch_size))
            for workers in ("0", "auto"):
                times[workers].append(
                    project(tmp / "model.ckpt", tmp / "images", tmp / "p.csv", opts.batch_size, workers)
                )
        plain = statistics.median(times["plain"])
        print(f"plain PyTorch + PIL loop:          {opts.images / plain:8.0f} images/s")
        for workers in ("0", "auto"):
            ours = statistics.median(times[workers])
            print(
                f"predict.py --num-workers {workers:<4}:      {opts.images / ours:8.0f} images/s "
                f"({plain / ours:.2f}x the plain loop)"
            )
        print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with open(tmp / "plain.csv") as a, open(tmp / "p.csv") as b:
            same = [r["digit"] for r in csv.DictReader(a)] == [r["digit"] for r in csv.DictReader(b)]
        print(f"same predictions: {same}")
        onnx_vs_eager(model, tmp)
