"""Can the diagnosis be trusted? Its false alarms on healthy runs (the defaults and good configurations on
several datasets and networks) and its hits on runs made sick on purpose (ε0 × 100, ε0 ÷ 1000, saturating
units without batch norm, a network too small, no regularization on little data, an MLP on ordered data where a
sequence model does far better), each a real `train.py` run whose end-of-run diagnosis (diagnosis.json) is read back.

A false alarm is a warning or error on a healthy run; a hit is the expected finding (any severity) on a
sick one. Does the advice help? Each hit's first advice (the flags it names first) is followed: the same run again
with those flags, and its val/acc compared with the sick run's. A benchmark, not a test: it prints what this
machine measures.

The ordered data is written here (an image folder, so that any bake can read it): 16 time steps (rows) of 16
features with two events, A (a bump at feature 3) and B (at feature 12), each at a random step; the class is their
order (A then B, B then A, A twice, B twice). An MLP must learn every pair of positions; an rnn reads the order.

    python benchmarks/bench_diagnosis.py                      # 10 epochs a run, seeds 0
    python benchmarks/bench_diagnosis.py --epochs 20 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--accelerator", "cpu", "--wandb-mode", "disabled"]
ORDERED = ["--dataset", "image-folder", "--image-size", "16", "--data-dir", "{ordered}"]  # write_order's folder
HEALTHY = {
    "digits mlp (defaults)": [],
    "digits cnn": ["--model", "cnn"],
    "digits rnn": ["--model", "rnn"],
    "digits mlp sgd": ["--optimizer", "sgd", "--lr", "0.05"],
    "breast-cancer (defaults)": ["--dataset", "breast-cancer"],
    "wine (defaults)": ["--dataset", "wine"],
    "diabetes (defaults)": ["--dataset", "diabetes"],
    "ordered events, rnn": [*ORDERED, "--model", "rnn"],
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
    "MLP on ordered events (an rnn reads them far better)": ([*ORDERED, "--model", "mlp"], "ordered"),
}
# "ordered": a capacity or regularize finding whose first advice is a network that reads the order
ORDERED_IDS, ORDERED_ADVICE = ("capacity", "regularize"), "--model"


def write_order(root: Path, n_train: int = 1600, n_test: int = 400, seed: int = 0) -> None:
    """The ordered events (see above), as PNG files under root/train/<class>/ and root/test/<class>/."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    classes = {"ab": (3, 12), "ba": (12, 3), "aa": (3, 3), "bb": (12, 12)}
    features = np.arange(16)
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            name = list(classes)[k % 4]
            steps = sorted(rng.choice(16, 2, replace=False))
            rows = rng.normal(0, 0.3, (16, 16))
            for step, feature in zip(steps, classes[name]):
                rows[step] += np.exp(-(((features - feature) / 1.5) ** 2))
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.clip(rows, 0, 1) * 255).astype(np.uint8)).save(folder / f"{k:05d}.png")


def hit(diagnosis: dict, want: str) -> dict | None:
    """The finding the sick run should get, or None."""
    for x in diagnosis["findings"]:
        if want == "ordered" and x["id"] in ORDERED_IDS and (x.get("flags") or [""])[0].startswith(ORDERED_ADVICE):
            return x
        if x["id"] == want:
            return x
    return None


def first_advice(finding: dict) -> list[str]:
    """The flags a finding names first, as argv ("--model rnn (or cnn): …" → --model rnn); [] when its first
    advice is no training flag (--find-lr, --resume)."""
    text = re.split(r" \(|:", (finding.get("flags") or [""])[0])[0].split()
    return [] if not text or text[0] in ("--find-lr", "--resume") else text


def run(out: Path, name: str, flags: list[str], epochs: int, seed: int) -> dict:
    run_name = "".join(c if c.isalnum() else "-" for c in name)[:60] + f"-s{seed}"  # advice runs: their own prefix
    command = [sys.executable, str(ROOT / "train.py"), *FAST, "--max-epochs", str(epochs), "--seed", str(seed)]
    command += ["--output-dir", str(out), "--run-name", run_name, *(f.format(ordered=out / "ordered") for f in flags)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    try:
        diagnosis = json.loads((out / run_name / "diagnosis.json").read_text())
    except (OSError, ValueError):
        return {"findings": [], "missing": True}
    try:
        diagnosis["val"] = json.loads((out / run_name / "results.json").read_text()).get("val/acc")
    except (OSError, ValueError):
        diagnosis["val"] = None
    return diagnosis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cases = [(n, f, None) for n, f in HEALTHY.items()] + [(n, f, want) for n, (f, want) in SICK.items()]
    jobs = [(n, f, want, s) for n, f, want in cases for s in args.seeds]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        write_order(Path(tmp) / "ordered")
        go = lambda j: run(Path(tmp), j[0], j[1], args.epochs, j[3])  # noqa: E731
        # the healthy digits runs first: the sick ones' capacity rule compares with them (siblings)
        first = [j for j in jobs if j[2] is None]
        results = list(pool.map(go, first))
        rest = [j for j in jobs if j[2] is not None]
        results += list(pool.map(go, rest))
        # the advice followed: each hit's first flags added to the sick run's (the last occurrence wins)
        followed = []
        for (name, flags, want, seed), d in zip(rest, results[len(first) :]):
            x = hit(d, want)
            advice = first_advice(x) if x else []
            if advice:
                followed.append((("advice, " + name, [*flags, *advice], want, seed), d, " ".join(advice)))
        after = list(pool.map(go, [f[0] for f in followed]))
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
            hits += hit(d, want) is not None
            verdict = "hit" if hit(d, want) else "missed"
        expected = f"{'/'.join(ORDERED_IDS)}, {ORDERED_ADVICE} first" if want == "ordered" else want
        print(f"| {name} (seed {seed}) | {expected or 'no warning'} | {shown} | {verdict} |")
    print(f"\nfalse alarms: {alarms} of {healthy} healthy runs ({alarms / max(healthy, 1):.0%}); ", end="")
    print(f"hits: {hits} of {sick} sick runs ({hits / max(sick, 1):.0%})")
    helped = 0
    print("\n| sick run | its first advice, followed | val/acc before → after | improved |\n|---|---|---|---|")
    for ((name, _, _, seed), before, advice), d in zip(followed, after):
        a, b = before.get("val"), d.get("val")
        helps = isinstance(a, float) and isinstance(b, float) and b > a
        helped += helps
        shown = f"{a:.4f} → {b:.4f}" if isinstance(a, float) and isinstance(b, float) else f"{a} → {b}"
        print(f"| {name.removeprefix('advice, ')} (seed {seed}) | `{advice}` | {shown} | {'yes' if helps else 'no'} |")
    print(f"\nthe first advice improved val/acc in {helped} of {len(followed)} hits (by any margin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
