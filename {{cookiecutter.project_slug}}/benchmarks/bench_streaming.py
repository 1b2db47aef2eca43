"""Streaming (LitData shards) vs in memory: wall time, prepare throughput and peak memory.

time:   MNIST-format idx files of random pixels (N training images, N/6 test), `--max-epochs 2
        --num-workers 2`, in memory (decoded cache warmed first) and streamed from `prepare`'s shards;
        prints both wall times (whole run: start-up, 2 epochs, validation, test) and the training
        time Lightning measured, and the ratios streaming / in memory.
prepare: images per second written by `python -m {{cookiecutter.project_slug}}.prepare`.
memory: a synthetic MNIST-format set of --memory-mb megabytes of 64×64 images; one epoch each
        way (`--num-workers 0`) in a fresh process; prints the peak resident memory (RSS) of each and
        of an idle run on 8 images (the baseline), against a cap of baseline + a third of the data.

    python benchmarks/bench_streaming.py [--n 60000] [--memory-mb 600] [--skip-time] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tests' file-format writers

from formats import write_idx  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
COMMON = ["--accelerator", "cpu", "--wandb-mode", "disabled", "--width", "64", "--batch-size", "256"]

# Runs the command given as arguments, then prints the peak RSS (KiB) of the processes it waited for.
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
)


def mnist_files(root: Path, n: int, size: int = 28, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    for prefix, count in (("train", n), ("t10k", max(8, n // 6))):
        images = np.empty((count, size, size), dtype=np.uint8)
        for start in range(0, count, 65536):  # in blocks: the generator's temporaries stay small
            stop = min(count, start + 65536)
            images[start:stop] = rng.integers(0, 256, (stop - start, size, size), dtype=np.uint8)
        write_idx(raw, prefix, images, (np.arange(count) % 10).astype(np.uint8))


def run(*args: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start, result


def train_seconds(out: Path, name: str) -> float:
    return json.loads((out / name / "results.json").read_text())["train_seconds"]


def bench_time(work: Path, n: int) -> None:
    data, out = work / "time-data", work / "runs"
    mnist_files(data, n)
    n_total = n + max(8, n // 6)
    train = [str(ROOT / "train.py"), *COMMON, "--max-epochs", "2", "--num-workers", "2", "--output-dir", str(out)]
    run(*train, "--dataset", "mnist", "--data-dir", str(data), "--fast-dev-run", "--run-name", "warm", cwd=work)
    memory_s, _ = run(*train, "--dataset", "mnist", "--data-dir", str(data), "--run-name", "memory", cwd=work)
    prepare_s, _ = run(
        "-m",
        "{{cookiecutter.project_slug}}.prepare",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data),
        "--output",
        str(work / "shards"),
        "--workers",
        "2",
        cwd=work,
    )
    stream_s, _ = run(
        *train, "--dataset", "streaming", "--data-dir", str(work / "shards"), "--run-name", "stream", cwd=work
    )
    mem_train, stream_train = train_seconds(out, "memory"), train_seconds(out, "stream")
    print(f"MNIST-format, {n} training images, 2 epochs, --num-workers 2, {os.cpu_count()} CPUs")
    print(f"  in memory : wall {memory_s:7.1f} s   training {mem_train:7.1f} s")
    print(f"  streaming : wall {stream_s:7.1f} s   training {stream_train:7.1f} s")
    print(f"  ratio streaming / in memory: wall {stream_s / memory_s:.2f}x, training {stream_train / mem_train:.2f}x")
    print(
        f"prepare: {n_total} images in {prepare_s:.1f} s = {n_total / prepare_s:,.0f} images/s "
        "(whole command: start-up, 3 splits, statistics)"
    )


def peak_rss_mb(*args: str, cwd: Path) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("PEAK_RSS_KB"))
    _, kb, rc = line.split()
    return int(kb) / 1024, int(rc)


def bench_memory(work: Path, megabytes: int, chunk_bytes: str) -> None:
    size = 64
    n = megabytes * 2**20 // (size * size)
    data, tiny = work / "memory-data", work / "tiny-data"
    mnist_files(data, n, size)
    mnist_files(tiny, 8, size)
    run(
        "-m",
        "{{cookiecutter.project_slug}}.prepare",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data),
        "--output",
        str(work / "memory-shards"),
        "--workers",
        "2",
        "--chunk-bytes",
        chunk_bytes,
        "--overwrite",
        cwd=work,
    )
    train = [
        str(ROOT / "train.py"),
        *COMMON,
        "--max-epochs",
        "1",
        "--num-workers",
        "0",
        "--output-dir",
        str(work / "memory-runs"),
    ]
    base, _ = peak_rss_mb(*train, "--dataset", "mnist", "--data-dir", str(tiny), "--run-name", "base", cwd=work)
    memory, memory_rc = peak_rss_mb(
        *train, "--dataset", "mnist", "--data-dir", str(data), "--run-name", "memory", cwd=work
    )
    stream, stream_rc = peak_rss_mb(
        *train, "--dataset", "streaming", "--data-dir", str(work / "memory-shards"), "--run-name", "stream", cwd=work
    )
    data_mb = n * size * size / 2**20
    cap = base + data_mb / 3
    print(
        f"memory: {n} images of {size}×{size} = {data_mb:.0f} MiB of pixels; one epoch, --num-workers 0; "
        f"shards of {chunk_bytes}"
    )
    print(f"  baseline (8 images)      peak RSS {base:7.0f} MiB")
    print(f"  cap = baseline + data/3             {cap:7.0f} MiB  (the data is 3× the cap's headroom)")
    print(
        f"  in memory                peak RSS {memory:7.0f} MiB  ({memory - base:+.0f} MiB; exit {memory_rc}; "
        f"{'over' if memory > cap else 'within'} the cap)"
    )
    print(
        f"  streaming                peak RSS {stream:7.0f} MiB  ({stream - base:+.0f} MiB; exit {stream_rc}; "
        f"{'over' if stream > cap else 'within'} the cap)"
    )


def main() -> None:
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--n", type=int, default=60000, help="training images for the time benchmark")
    bench.add_argument("--memory-mb", type=int, default=600, help="size of the memory benchmark's data")
    bench.add_argument(
        "--chunk-bytes",
        default="16MB",
        help="prepare --chunk-bytes for the memory benchmark (a "
        "streaming run maps a few shard files at a time: its peak memory grows with their size)",
    )
    bench.add_argument("--skip-time", action="store_true")
    bench.add_argument("--skip-memory", action="store_true")
    bench.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    b = bench.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(b.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not b.skip_time:
            bench_time(work, b.n)
        if not b.skip_memory:
            bench_memory(work, b.memory_mb, b.chunk_bytes)


if __name__ == "__main__":
    main()
