"""Each architecture at its defaults on the default data: parameters, training steps/s and test
accuracy after the default epochs, as one table.

    python benchmarks/bench_architectures.py [train.py flags...]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from {{cookiecutter.project_slug}}.commands.train import run as main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.networks import MODELS  # noqa: E402

if __name__ == "__main__":
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for model in MODELS:
            a = parse_args(
                [
                    "--accelerator",
                    "cpu",
                    "--wandb-mode",
                    "disabled",
                    "--model",
                    model,
                    *sys.argv[1:],
                    "--output-dir",
                    out,
                    "--run-name",
                    model,
                ]
            )
            start = time.perf_counter()
            assert main(a) == 0
            seconds = time.perf_counter() - start
            results = json.loads((Path(out) / model / "results.json").read_text())
            hparams = (Path(out) / model / "hparams.yaml").read_text()
            params = int(next(line.split(":")[1] for line in hparams.splitlines() if line.startswith("param_count")))
            rows.append((model, params, results["steps"] / seconds, results["test/acc"], seconds))
    print(f"\n{'model':8} {'params':>9} {'steps/s':>8} {'test/acc':>9} {'seconds':>8}")
    for model, params, rate, acc, seconds in rows:
        print(f"{model:8} {params:9d} {rate:8.0f} {acc:9.4f} {seconds:8.1f}")
