"""Training-loop overhead: this project's `train.py` path vs a plain PyTorch loop, in one process.

Same network (the project's builder), data (digits, normalized, in memory), batch size, optimizer
and epochs; all validate every epoch and test at the end. A bare Lightning run (no loggers,
checkpoints or callbacks) shows how much of the gap is Lightning's own per-step machinery.
Prints seconds and the ratios to the plain loop.

    python benchmarks/bench_overhead.py [--repeats 3] [train.py flags...]
    python benchmarks/bench_overhead.py --synthetic --dataset mnist --depth 3 --batchnorm \
        --batch-size 128 --max-epochs 2                    # MNIST-format files of random pixels
    python benchmarks/bench_overhead.py --synthetic --dataset cifar10 --model cnn --width 32 \
        --batch-size 128 --max-epochs 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tests' file-format writers

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module  # noqa: E402
from {{cookiecutter.project_slug}}.commands.train import run as main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402


def plain_loop(a: argparse.Namespace) -> float:
    dm = build_datamodule(a)
    net = build_module(a, dm).net
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(a.momentum, a.beta2), eps=a.eps)
    train, val, test = dm.train_set, dm.val_set, dm.test_set
    start = time.perf_counter()
    for _ in range(a.max_epochs):
        net.train()
        for idx in torch.randperm(len(train)).split(a.batch_size):
            x, y = train.batch(idx)
            loss = F.cross_entropy(net(x)[0], y[:, 0])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        evaluate(net, val, a.batch_size)
    evaluate(net, test, a.batch_size)
    return time.perf_counter() - start


@torch.no_grad()
def evaluate(net, data, batch_size: int) -> float:
    net.eval()
    correct = 0
    for idx in torch.arange(len(data)).split(batch_size):
        x, y = data.batch(idx)
        correct += (net(x)[0].argmax(1) == y[:, 0]).sum().item()
    return correct / len(data)


def bare_lightning(a: argparse.Namespace) -> float:
    import lightning as L

    dm = build_datamodule(a)
    net = build_module(a, dm).net

    class Bare(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net

        def training_step(self, batch, i):
            return F.cross_entropy(self.net(batch[0])[0], batch[1][:, 0])

        def validation_step(self, batch, i):
            return (self.net(batch[0])[0].argmax(1) == batch[1][:, 0]).float().mean()

        test_step = validation_step

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=a.lr, betas=(a.momentum, a.beta2), eps=a.eps)

    trainer = L.Trainer(
        max_epochs=a.max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    module = Bare()
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm, verbose=False)
    return time.perf_counter() - start


def project(argv: list[str], out: str) -> float:
    a = parse_args([*argv, "--output-dir", out])
    start = time.perf_counter()
    assert main(a) == 0
    return time.perf_counter() - start


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument(
        "--synthetic",
        action="store_true",
        help="write full-size MNIST/CIFAR-10-format files of "
        "random pixels to a temporary --data-dir (no download needed)",
    )
    opts, rest = bench.parse_known_args()
    argv = ["--accelerator", "cpu", "--wandb-mode", "disabled", "--lr-schedule", "constant", *rest]
    with tempfile.TemporaryDirectory() as out:
        if opts.synthetic:
            from formats import make_cifar, make_mnist

            dataset = parse_args(argv).dataset
            data_dir = Path(out) / "data"
            if dataset == "cifar10":
                make_cifar(data_dir, n_train=50000, n_test=10000)
            else:
                make_mnist(data_dir, {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[dataset], 60000, 10000)
            argv += ["--data-dir", str(data_dir)]
        a = parse_args([*argv, "--output-dir", out])
        project(argv, out)  # warm-up: imports, first-call allocations
        plain_loop(a)
        plain = statistics.median(plain_loop(a) for _ in range(opts.repeats))
        bare = statistics.median(bare_lightning(a) for _ in range(opts.repeats))
        ours = statistics.median(project(argv, out) for _ in range(opts.repeats))
    print(
        f"{a.dataset}: model {a.model} depth {a.depth} width {a.width}, batchnorm {a.batchnorm}, "
        f"batch {a.batch_size}, {a.max_epochs} epochs, median of {opts.repeats}"
    )
    print(f"plain PyTorch loop: {plain:.2f} s")
    print(f"bare Lightning:     {bare:.2f} s  ({bare / plain:.2f}x)")
    print(f"this project:       {ours:.2f} s  ({ours / plain:.2f}x; {ours / bare:.2f}x bare Lightning)")
