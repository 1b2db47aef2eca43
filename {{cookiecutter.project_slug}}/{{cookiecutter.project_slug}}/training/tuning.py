"""Tuning tools: the learning-rate range test (Lightning's Tuner), the planned-schedule plot and the minibatch cliff
test (hand-written: Lightning's batch-size scaler finds what fits in memory, but times nothing)."""

import csv
import math
import os
import statistics
import timeit
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from unittest import mock

import torch

from .optimizers import create_optimizer
from .schedules import lr_at, schedule_arguments
from .trainer import TrainerOptions, build_trainer

RANGE_TEST_STEPS, DIVERGED = 100, 4.0  # the LR range test's minibatches; it stops once the loss passes 4× its low


@dataclass(frozen=True)
class PlanOptions:  # the flags that plan a run's schedule: ε0, the schedule's own flags, the run's length
    lr: float
    lr_schedule: str
    lr_tau: int | None
    lr_final_ratio: float
    lr_decay: float
    lr_step_epochs: int
    warmup_steps: int
    batch_size: int
    limit_train_batches: int | float
    accumulate_grad_batches: int
    max_epochs: int
    max_steps: int


@dataclass(frozen=True)
class CliffOptions:  # the flags the minibatch cliff test reads
    accelerator: str
    model: str
    optimizer: str
    lr: float
    momentum: float
    nesterov: bool
    beta2: float
    eps: float
    weight_decay: float
    seed: int
    find_batch_size_max: int


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def find_lr(fallback: float, run_dir: Path, dm, module, o: TrainerOptions) -> float:
    """Lightning's LR finder on the run's Trainer for RANGE_TEST_STEPS minibatches: lr_find.csv, plots/lr_find.png. It
    reloads the model from its temporary checkpoint with torch.load's default: forced weights-only here (patch.dict)."""
    from lightning.pytorch.tuner import Tuner

    n = RANGE_TEST_STEPS  # as many epochs are enough: an epoch makes at least one step
    trainer = build_trainer(replace(o, max_epochs=n, max_steps=n, limit_train_batches=1.0), run_dir, [])
    with mock.patch.dict(os.environ, TORCH_FORCE_WEIGHTS_ONLY_LOAD="1"):
        os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        kw = dict(min_lr=1e-6, max_lr=10, num_training=n, early_stop_threshold=DIVERGED, update_attr=False)
        finder = Tuner(trainer).lr_find(module, datamodule=dm, **kw)
    lrs, losses = finder.results["lr"], finder.results["loss"]
    suggestion = steepest_descent(lrs, losses) or fallback  # None: the loss blew up at once
    with open(table := run_dir / "lr_find.csv", "w", newline="") as f:
        csv.writer(f).writerows([["lr", "loss"], *zip(lrs, losses)])
    _pyplot()
    fig = finder.plot(suggest=False)
    if suggestion in lrs:
        fig.axes[0].plot(suggestion, losses[lrs.index(suggestion)], "o", color="red", markersize=9)
    fig.axes[0].set_title(f"LR range test: suggested ε0 = {suggestion:.3g}")
    plot = _save(fig, run_dir / "plots" / "lr_find.png")
    end = f", stopped at ε = {lrs[-1]:.3g}: the loss diverged (over {DIVERGED:g}× its lowest)"
    end = end if len(lrs) < RANGE_TEST_STEPS else ""
    print(f"suggested ε0 (--lr): {suggestion:.3g}  (range test over {len(lrs)} minibatches{end}; {table}, {plot})")
    return float(suggestion)


def steepest_descent(lrs: list[float], losses: list[float], skip_begin: int = 10) -> float | None:
    """ε where the smoothed loss falls fastest per decade of ε (None: too few finite points), past the warm-up points.
    By hand: Lightning's suggestion() takes the slope per unit of ε, favouring the smallest rates of a sweep."""
    points = [(lr, loss) for lr, loss in zip(lrs, losses) if math.isfinite(loss)][skip_begin:]
    # Δloss per Δlog ε at each point, by central differences.
    slope = {b[0]: (c[1] - a[1]) / math.log(c[0] / a[0]) for a, b, c in zip(points, points[1:], points[2:])}
    return min(slope, key=slope.__getitem__) if slope else None


def plot_lr_schedule(a: PlanOptions, run_dir: Path, train_size: int) -> Path:
    """plots/lr_schedule.png: ε_k over the run's steps, counted as Lightning will on one device."""
    batches, limit = math.ceil(train_size / a.batch_size), a.limit_train_batches
    batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
    per_epoch = max(1, math.ceil(batches / a.accumulate_grad_batches))
    total = per_epoch * a.max_epochs if a.max_steps <= 0 else min(per_epoch * a.max_epochs, a.max_steps)
    kw = schedule_arguments(asdict(a))
    fig, ax = _pyplot().subplots(figsize=(7, 4))
    ax.plot(range(total), [lr_at(k, steps_per_epoch=per_epoch, total_steps=total, **kw) for k in range(total)])
    ax.set(xlabel=f"optimizer step k ({per_epoch} per epoch)", ylabel="ε_k")
    ax.set_title(f"--lr-schedule {a.lr_schedule}, ε0 = {a.lr:g}")
    ax.grid(alpha=0.3)
    return _save(fig, run_dir / "plots" / "lr_schedule.png")


def find_cliff(sizes: list[int], seconds: list[float], rise: float = 1.5, margin: float = 0.0) -> int | None:
    """Index of the cliff (None: none): the first size whose time per example passes `rise` × the smaller sizes' best
    and stays (the next does not regain it); within a factor 1 + `margin` (timing noise) of `rise`: -1, undecided."""
    per_example, noise = [t / b for t, b in zip(seconds, sizes)], 1 + margin
    for i in range(1, len(sizes)):
        best = min(per_example[:i])
        if per_example[i] > rise / noise * best and (i + 1 == len(sizes) or per_example[i + 1] > best):
            return i if per_example[i] > rise * noise * best else -1
    return None


def search_batch_sizes(time_size, start: int, largest: int, passes: int = 5, confirmations: int = 4) -> tuple:
    """(sizes, seconds, margin) for sizes start, 2·start, … up to `largest` or out of memory (time_size(size) None).
    Each size is timed `passes` times, judged on the median of its faster half (a busy machine only slows timings);
    `margin`: the median over sizes of that half's range over its median. While a cliff is found or undecided, every
    size is timed once more, up to `confirmations` times; a cliff still undecided: the machine is too noisy."""
    samples = []
    for b in (start << i for i in range((largest // start).bit_length())):
        if (t := time_size(b)) is None:  # out of memory: this size and the larger ones are out of reach
            break
        samples.append([t] + [time_size(b) or math.inf for _ in range(passes - 1)])  # None: out of memory this time
    sizes, seconds, margin = [start << i for i in range(len(samples))], [], 0.0
    while samples:
        fast = [sorted(s)[: (len(s) + 1) // 2] for s in samples]  # the slower half: another process's work
        seconds = [statistics.median(s) for s in fast]
        margin = statistics.median([(s[-1] - s[0]) / m for s, m in zip(fast, seconds)])
        if find_cliff(sizes, seconds, margin=margin) is None or len(samples[-1]) >= passes + confirmations:
            break
        for b, s in zip(sizes, samples):
            s.append(time_size(b) or math.inf)
    return sizes, seconds, margin


def recommend(sizes: list[int], seconds: list[float], slack: float = 1.1, margin: float = 0.0) -> int:
    """Largest size before the cliff within `slack` (10% or the margin) of the best time per example; larger: slower."""
    end = find_cliff(sizes, seconds, margin=margin) or len(sizes)  # a cliff is never index 0
    per_example = [t / b for t, b in zip(seconds[:end], sizes[:end])]
    return max(b for b, e in zip(sizes, per_example) if e <= max(slack, 1 + margin) * min(per_example))


def find_batch_size(a: CliffOptions, run_dir: Path, dm, module) -> int | None:
    device = torch.device("cuda" if torch.cuda.is_available() and a.accelerator in ("auto", "gpu") else "cpu")
    module = module.to(device).train()
    optimizer = create_optimizer(a.optimizer, module.parameters(), **asdict(a))  # the run's optimizer flags
    gen = torch.Generator().manual_seed(a.seed)
    # Batch norm cannot train on a single example: start at 2 when the network has it.
    start = 2 if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()) else 1

    def time_size(size: int) -> float | None:
        """Median seconds of a training step on `size` examples, drawn with replacement (timing needs shapes)."""
        indices = torch.randint(len(dm.train_set), (size,), generator=gen)
        x, y = (t.to(device) for t in dm.train_set.batch(indices))

        def step():
            optimizer.zero_grad(set_to_none=True)
            sum(module.model_step(x, y)[0]).backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()

        try:
            return statistics.median(timeit.repeat(step, number=1, repeat=7)[2:])  # the first two: warm-up
        except RuntimeError as e:  # torch.cuda.OutOfMemoryError is one
            if not isinstance(e, torch.cuda.OutOfMemoryError) and "out of memory" not in str(e).lower():
                raise
            torch.cuda.empty_cache()  # a no-op where CUDA was not used
            print(f"batch size {size}: out of memory; stopping there")
            return None

    sizes, seconds, margin = search_batch_sizes(time_size, start, a.find_batch_size_max)
    cliff = find_cliff(sizes, seconds, margin=margin)
    best = None if cliff == -1 else recommend(sizes, seconds, margin=margin)
    per_example = [t / b for t, b in zip(seconds, sizes)]
    with open(run_dir / "batch_size.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["batch_size", "seconds_per_minibatch", "seconds_per_example", "cliff", "chosen"])
        for i, (b, t, e) in enumerate(zip(sizes, seconds, per_example)):
            writer.writerow([b, f"{t:.6g}", f"{e:.6g}", int(i == cliff), int(b == best)])
            mark = "  <- cliff" if i == cliff else ""
            print(f"batch {b:5d}: {1e3 * t:9.3f} ms/minibatch {1e6 * e:9.2f} µs/example (median){mark}")
    fig, axes = _pyplot().subplots(1, 2, figsize=(10, 4))
    for ax, ys, label in ((axes[0], seconds, "seconds per minibatch"), (axes[1], per_example, "seconds per example")):
        ax.loglog(sizes, ys, "o-", base=2)
        ax.axvline(best or sizes[0], color="tab:red", linestyle="--", label=f"chosen: {best or 'none (noisy)'}")
        ax.set(xlabel="batch size", ylabel=label)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(f"Minibatch cliff test on {device.type} ({a.model})")
    path = _save(fig, run_dir / "plots" / "batch_size.png")
    files = f"({run_dir / 'batch_size.csv'}, {path})"
    if best is None:
        print(f"too noisy to decide: repeated timings spread ±{margin / 2:.0%} (interquartile), so a rise near the")
        print(f"cliff's 1.5× is not told from another process's work; no size chosen: run it again when idle {files}")
        return None
    none = "" if cliff is not None else " (no cliff up to the largest size tried)"
    print(f"largest batch size before the cliff: {best}{none}, judged on medians ±{margin / 2:.0%}  {files}")
    return best


def plot_confusion_matrix(matrix: torch.Tensor | None, task: str, path: Path) -> Path | None:
    """plots/confusion_matrix.png of the test set (rows: true label, columns: predicted)."""
    if matrix is None:
        return None
    from torchmetrics.utilities.plot import plot_confusion_matrix as plot

    _pyplot()
    fig, ax = plot(matrix.cpu())
    ax.set_title(f"test set, task {task}")
    return _save(fig, path)
