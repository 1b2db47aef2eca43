"""Fine-tuning cost: steps/s of `--model torchvision:resnet18` on CIFAR-10-format 32×32 images (random
pixels, written to a temporary folder), trunk trained and frozen, against a plain PyTorch loop that
fine-tunes the same network (the project's, built the same way) on the same tensors, in one process.

Steady state: both are timed from the start of the second training step to the end of the last one
(the first step pays one-time allocations), minibatches cut from the same in-memory tensors inside
the timed loop. Also the project's whole training phase (results.json's steps / train_seconds: the
first step, one validation batch and writing best.ckpt and last.ckpt included). Prints steps/s
and the ratio plain/project (1.00 = no overhead).

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

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module  # noqa: E402
from {{cookiecutter.project_slug}}.commands.train import run as main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.training import fit as run  # noqa: E402


def device_of(a: argparse.Namespace) -> torch.device:
    gpu = a.accelerator in ("auto", "gpu") and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(a: argparse.Namespace, steps: int) -> float:
    """Steady-state steps/s of a hand-written loop: Adam on the trainable parameters, cross-entropy."""
    device = device_of(a)
    dm = build_datamodule(a)
    net = build_module(a, dm).net.to(device).train()  # a frozen trunk stays in eval mode (Network.train)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=a.lr, betas=(a.momentum, a.beta2))
    for k, idx in enumerate(torch.randperm(len(dm.train_set)).split(a.batch_size)[:steps]):
        if k == 1:
            sync(device)
            start = time.perf_counter()
        x, y = dm.train_set.batch(idx)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(net(x)[0], y[:, 0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return (steps - 1) / (time.perf_counter() - start)


class StepTimer(L.Callback):
    """From the start of the second training step to the end of the last one."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:
            sync(pl_module.device)
            self.rate = batch_idx / (time.perf_counter() - self.start)


def with_timer(timer: StepTimer):
    build = run.build_trainer

    def build_trainer(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(timer)
        return trainer

    return build_trainer


def project(argv: list[str], out: str, name: str) -> tuple[float, float]:
    """(steady-state steps/s, steps/s over the whole training phase)."""
    a = parse_args([*argv, "--output-dir", out, "--run-name", name])
    timer = StepTimer()
    run.build_trainer = with_timer(timer)
    assert main(a) == 0
    results = json.loads((Path(out) / name / "results.json").read_text())
    return timer.rate, results["steps"] / results["train_seconds"]


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
            plains, runs = [], []
            for i in range(opts.repeats):  # interleaved, so that a busy machine slows both alike
                plains.append(plain_loop(a, opts.steps))
                runs.append(project(argv, out, f"{label}-{i}"))
            plain = statistics.median(plains)
            ours, whole = (statistics.median(r[j] for r in runs) for j in (0, 1))
            rows.append((label, plain, ours, whole))
    print(
        f"torchvision:resnet18 on 32×32 CIFAR-format tensors, batch 64, {opts.steps} steps, "
        f"{device_of(a).type}, median of {opts.repeats}"
    )
    print(f"{'trunk':8} {'plain steps/s':>14} {'project steps/s':>16} {'plain/project':>14} {'whole training':>15}")
    for label, plain, ours, whole in rows:
        print(f"{label:8} {plain:14.2f} {ours:16.2f} {plain / ours:13.2f}x {whole:9.2f} ({plain / whole:.2f}x)")
