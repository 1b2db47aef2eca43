"""Fine-tuning cost: steps/s of `--model torchvision:resnet18` on CIFAR-10-format 32×32 images (random
pixels, written to a temporary folder), trunk trained and frozen, against a plain PyTorch loop that
fine-tunes the same network (the project's, built the same way) on the same tensors, in one process.

The project's figure is results.json's steps / train_seconds (first step to the end of training: one
validation batch and the checkpoints included); the plain loop times the same number of steps plus
one validation batch. Prints steps/s and the ratio plain/project (1.00 = no overhead).

    python benchmarks/bench_finetune.py [--steps 40] [--repeats 2] [train.py flags, e.g. --accelerator gpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tests' file-format writers

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from {{cookiecutter.project_slug}}.cli import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.run import build_datamodule, build_module, main  # noqa: E402


def device_of(a: argparse.Namespace) -> torch.device:
    gpu = a.accelerator in ("auto", "gpu") and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(a: argparse.Namespace, steps: int) -> float:
    """Steps/s of a hand-written loop: Adam on the trainable parameters, cross-entropy, one val batch."""
    device = device_of(a)
    dm = build_datamodule(a)
    net = build_module(a, dm).net.to(device).train()  # a frozen trunk stays in eval mode (Network.train)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=a.lr, betas=(a.momentum, a.beta2))
    batches = [dm.train_set.batch(idx) for idx in torch.randperm(len(dm.train_set)).split(a.batch_size)][:steps]
    sync(device)
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(net(x)[0], y[:, 0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, y = dm.val_set.batch(torch.arange(min(a.batch_size, len(dm.val_set))))
        net.eval()(x.to(device))[0].argmax(1).eq(y[:, 0].to(device)).float().mean().item()
    sync(device)
    return steps / (time.perf_counter() - start)


def project(argv: list[str], out: str, name: str) -> float:
    a = parse_args([*argv, "--output-dir", out, "--run-name", name])
    assert main(a) == 0
    results = json.loads((Path(out) / name / "results.json").read_text())
    return results["steps"] / results["train_seconds"]


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--steps", type=int, default=40)
    bench.add_argument("--repeats", type=int, default=2)
    opts, rest = bench.parse_known_args()
    with tempfile.TemporaryDirectory() as out:
        from formats import make_cifar

        make_cifar(Path(out) / "data", n_train=max(2560, 64 * opts.steps * 2), n_test=256)
        base = [
            "--dataset",
            "cifar10",
            "--data-dir",
            str(Path(out) / "data"),
            "--model",
            "torchvision:resnet18",
            "--wandb-mode",
            "disabled",
            "--lr-schedule",
            "constant",
            "--batch-size",
            "64",
            "--max-epochs",
            "1",
            "--limit-train-batches",
            str(opts.steps),
            "--limit-val-batches",
            "1",
            *rest,
        ]
        project([*base, "--limit-train-batches", "2"], out, "warm-up")  # imports, first-call allocations
        rows = []
        for label, extra in (("trained", []), ("frozen", ["--freeze-backbone"])):
            argv = [*base, *extra]
            a = parse_args(argv)
            plain = statistics.median(plain_loop(a, opts.steps) for _ in range(opts.repeats))
            ours = statistics.median(project(argv, out, f"{label}-{i}") for i in range(opts.repeats))
            rows.append((label, plain, ours))
    print(
        f"torchvision:resnet18 on 32×32 CIFAR-format tensors, batch 64, {opts.steps} steps, "
        f"{device_of(a).type}, median of {opts.repeats}"
    )
    print(f"{'trunk':8} {'plain steps/s':>14} {'project steps/s':>16} {'plain/project':>14}")
    for label, plain, ours in rows:
        print(f"{label:8} {plain:14.2f} {ours:16.2f} {plain / ours:13.2f}x")
