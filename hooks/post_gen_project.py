"""Remove what the features answered "no" take with them, then print the next steps.

Each optional feature is a yes/no question of cookiecutter.json. Its files (modules, commands, tests,
benchmarks) are listed here and deleted when it is off; the lines it adds to shared files (flags,
README sections, pyproject extras, CI) are Jinja blocks in those files. The core never imports a
feature: features attach through the extension points listed in <package>/features.py.
"""

import os
import shutil
from pathlib import Path

SLUG = {{ cookiecutter.project_slug | tojson }}
ANSWERS = {
    "sweeps_engine": {{ cookiecutter.sweeps_engine }},
    "inference": {{ cookiecutter.inference }},
    "diagnostics": {{ cookiecutter.diagnostics }},
    "tables": {{ cookiecutter.tables }},
    "backbones": {{ cookiecutter.backbones }},
    "streaming": {{ cookiecutter.streaming }},
    "benchmarks": {{ cookiecutter.benchmarks }},
}

# feature -> the paths it owns ({pkg} is the package folder). A benchmark of a feature goes with it.
OWNED = {
    "sweeps_engine": [
        "{pkg}/search",
        "{pkg}/commands/sweeps_run.py",
        "tests/search",
        "tests/commands/test_sweep_engine_stages.py",
        "benchmarks/bench_sweeps.py",
        "benchmarks/bench_tuning.py",
        "tests/commands/test_bench_tuning.py",
    ],
    "inference": [
        "predict.py",
        "export.py",
        "{pkg}/inference",
        "{pkg}/commands/predict.py",
        "{pkg}/commands/export.py",
        "tests/inference/test_predict.py",
        "tests/inference/test_export.py",
        "tests/inference/test_untrusted_predict.py",
        "tests/commands/test_untrusted_outputs_inference.py",
        "benchmarks/bench_predict.py",
    ],
    "diagnostics": [
        "{pkg}/analysis",
        "{pkg}/diagnose.py",
        "{pkg}/commands/diagnose.py",
        "{pkg}/commands/report.py",
        "{pkg}/commands/repeat.py",
        "{pkg}/commands/sweeps_report.py",
        "tests/analysis",
        "tests/commands/test_report.py",
    ],
    "tables": [
        "{pkg}/data/tables.py",
        "{pkg}/data/targets.py",
        "tests/data/test_tables.py",
        "tests/data/test_regression_data.py",
        "tests/training/test_regression.py",
        "benchmarks/bench_tables.py",
    ],
    "backbones": [
        "{pkg}/models/backbones.py",
        "tests/models/test_backbones.py",
        "tests/models/test_untrusted_backbones.py",
        "benchmarks/bench_finetune.py",
    ],
    "streaming": [
        "{pkg}/prepare.py",
        "{pkg}/data/streaming.py",
        "{pkg}/commands/prepare.py",
        "tests/data/test_streaming.py",
        "tests/data/test_untrusted_shards.py",
        "benchmarks/bench_streaming.py",
    ],
    "benchmarks": ["benchmarks", "tests/commands/test_bench_tuning.py"],
}


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prune(root: Path, answers: dict) -> list[str]:
    """Delete what each feature answered no owns; returns the removed paths (relative)."""
    removed = []
    for feature, paths in OWNED.items():
        if answers[feature]:
            continue
        for rel in paths:
            path = root / rel.format(pkg=SLUG)
            if path.exists():
                remove(path)
                removed.append(rel.format(pkg=SLUG))
    benchmarks = root / "benchmarks"
    if benchmarks.is_dir() and not any(benchmarks.glob("*.py")):
        remove(benchmarks)
    return removed


if __name__ == "__main__":
    root = Path.cwd()
    prune(root, ANSWERS)
    chosen = [name for name, on in ANSWERS.items() if on]
    print(
        f"""
Created {os.getcwd()} (features: {", ".join(chosen) or "core only"})

Next steps:
  cd {os.path.basename(os.getcwd())}
  python -m venv .venv && . .venv/bin/activate
  pip install -e '.[dev]'
  python train.py            # trains on the embedded digits data; W&B offline without credentials
  python train.py --help     # every checklist hyperparameter, grouped by section
  pytest                     # the project's own tests (pytest -m slow: the longer training tests)
"""
    )
