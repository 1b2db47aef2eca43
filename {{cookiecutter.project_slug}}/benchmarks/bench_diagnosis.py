"""Can the diagnosis be trusted? Its false alarms on healthy runs (the defaults and good configurations on
several datasets and networks) and its hits on runs made sick on purpose (ε0 × 100, ε0 ÷ 1000, saturating
units without batch norm, a network too small, no regularization on little data), each a real `train.py` run
whose end-of-run diagnosis (diagnosis.json) is read back.

A false alarm is a warning or error on a healthy run; a hit is the expected finding (any severity) on a
sick one. A benchmark, not a test: it prints what this machine measures.

    python benchmarks/bench_diagnosis.py                      # 10 epochs a run, seeds 0
    python benchmarks/bench_diagnosis.py --epochs 20 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--accelerator", "cpu", "--wandb-mode", "disabled"]
HEALTHY = {
    "digits mlp (defaults)": [],
    "digits cnn": ["--model", "cnn"],
    "digits rnn": ["--model", "rnn"],
    "digits mlp sgd": ["--optimizer", "sgd", "--lr", "0.05"],
    "breast-cancer (defaults)": ["--dataset", "breast-cancer"],
    "wine (defaults)": ["--dataset", "wine"],
    "diabetes (defaults)": ["--dataset", "diabetes"],
}
SICK = {  # name: (flags, the finding it should get)
    "ε0 × 100": (["--lr", "0.3"], "lr-too-high"),
    "ε0 ÷ 1000": (["--lr", "3e-6"], "lr-too-low"),
    "tanh without batch norm, large init": (
        ["--activation", "tanh", "--no-batchnorm", "--init", "normal", "--init-variance", "1"],
        "saturated-units",
    ),
    "network too small (1 × 2 units)": (["--depth", "1", "--width", "2"], "capacity"),
    "little data (180 images: --val-fraction 0.9), 3 × 1024 units, 30 epochs": (
        ["--val-fraction", "0.9", "--width", "1024", "--depth", "3", "--max-epochs", "30"],
        "regularize",
    ),
}


def run(out: Path, name: str, flags: list[str], epochs: int, seed: int) -> dict:
    run_name = "".join(c if c.isalnum() else "-" for c in name)[:60] + f"-s{seed}"
    command = [sys.executable, str(ROOT / "train.py"), *FAST, "--max-epochs", str(epochs), "--seed", str(seed)]
    command += ["--output-dir", str(out), "--run-name", run_name, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    try:
        return json.loads((out / run_name / "diagnosis.json").read_text())
    except (OSError, ValueError):
        return {"findings": [], "missing": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cases = [(n, f, None) for n, f in HEALTHY.items()] + [(n, f, want) for n, (f, want) in SICK.items()]
    jobs = [(n, f, want, s) for n, f, want in cases for s in args.seeds]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        # the healthy digits runs first: the sick ones' capacity rule compares with them (siblings)
        first = [j for j in jobs if j[2] is None]
        results = list(pool.map(lambda j: run(Path(tmp), j[0], j[1], args.epochs, j[3]), first))
        rest = [j for j in jobs if j[2] is not None]
        results += list(pool.map(lambda j: run(Path(tmp), j[0], j[1], args.epochs, j[3]), rest))
    alarms, hits, healthy, sick = 0, 0, 0, 0
    print(f"| run ({args.epochs} epochs) | expected | findings (severity) | verdict |")
    print("|---|---|---|---|")
    for (name, _, want, seed), d in zip(first + rest, results):
        found = [(x["id"], x["severity"]) for x in d["findings"]]
        shown = ", ".join(f"{i} ({s})" for i, s in found) or ("no diagnosis" if d.get("missing") else "none")
        if want is None:
            healthy += 1
            alarm = any(s in ("warning", "error") for _, s in found)
            alarms += alarm
            verdict = "false alarm" if alarm else "quiet"
        else:
            sick += 1
            hit = any(i == want for i, _ in found)
            hits += hit
            verdict = "hit" if hit else "missed"
        print(f"| {name} (seed {seed}) | {want or 'no warning'} | {shown} | {verdict} |")
    print(f"\nfalse alarms: {alarms} of {healthy} healthy runs ({alarms / max(healthy, 1):.0%}); ", end="")
    print(f"hits: {hits} of {sick} sick runs ({hits / max(sick, 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
