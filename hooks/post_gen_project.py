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
    "fast_wandb": {{ cookiecutter.fast_wandb }},
    "diagnostics": {{ cookiecutter.diagnostics }},
    "tables": {{ cookiecutter.tables }},
    "backbones": {{ cookiecutter.backbones }},
    "streaming": {{ cookiecutter.streaming }},
    "benchmarks": {{ cookiecutter.benchmarks }},
}

# feature -> the paths it owns ({pkg} is the package folder). A benchmark of a feature goes with it.
OWNED = {
    # A path listed under several features (a test that needs them all) is removed when any of them is off.
    "sweeps_engine": [
        "{pkg}/search",
        "{pkg}/commands/sweeps_run.py",
        "tests/search",
        "benchmarks/bench_sweeps.py",
        "benchmarks/bench_tuning.py",
        "tests/commands/test_bench_tuning.py",
        "tests/commands/test_report_optuna.py",  # also diagnostics': a path goes when any owner is off
    ],
    "inference": [
        "predict.py",
        "export.py",
        "{pkg}/inference",
        "{pkg}/commands/predict.py",
        "{pkg}/commands/export.py",
        "{pkg}/commands/evaluate.py",
        "tests/inference/test_predict.py",
        "tests/inference/test_export.py",
        "tests/inference/test_untrusted_predict.py",
        "tests/inference/test_untrusted_checkpoints_inference.py",
        "tests/inference/test_old_checkpoints_inference.py",
        "tests/commands/test_untrusted_outputs_inference.py",
        "tests/inference/test_tables_inference.py",  # also tables'
        "tests/inference/test_untrusted_predict_tables.py",  # also tables'
        "benchmarks/bench_predict.py",
    ],
    "fast_wandb": [
        "{pkg}/training/background.py",
        "tests/training/test_background_wandb.py",
        "benchmarks/bench_wandb.py",  # also benchmarks'
    ],
    "diagnostics": [
        "{pkg}/analysis",
        "{pkg}/diagnose.py",
        "{pkg}/commands/diagnose.py",
        "{pkg}/commands/repeat.py",
        "{pkg}/commands/sweeps_report.py",
        "tests/analysis",
        "tests/training/test_profiler_tensorboard.py",
        "tests/commands/test_report.py",
        "tests/commands/test_report_optuna.py",  # also sweeps_engine's
        "benchmarks/bench_diagnosis.py",
    ],
    "tables": [
        "{pkg}/data/tables.py",
        "{pkg}/data/targets.py",
        "tests/data/test_tables.py",
        "tests/data/test_regression_data.py",
        "tests/training/test_regression.py",
        "tests/data/test_untrusted_tables.py",
        "tests/inference/test_tables_inference.py",  # also inference's
        "tests/inference/test_untrusted_predict_tables.py",  # also inference's
        "tests/data/test_streaming_tables.py",  # also streaming's
        "tests/config/test_backbone_flags.py",  # also backbones'
        "benchmarks/bench_tables.py",
    ],
    "backbones": [
        "{pkg}/models/backbones.py",
        "tests/models/test_backbones.py",
        "tests/models/test_untrusted_backbones.py",
        "tests/config/test_backbone_flags.py",  # also tables'
        "benchmarks/bench_finetune.py",
    ],
    "streaming": [
        "{pkg}/prepare.py",
        "{pkg}/data/streaming.py",
        "{pkg}/commands/prepare.py",
        "tests/data/test_streaming.py",
        "tests/data/test_untrusted_shards.py",
        "tests/data/test_untrusted_streaming.py",
        "tests/data/test_streaming_tables.py",  # also tables'
        "tests/commands/test_untrusted_outputs_streaming.py",
        "tests/record_ids.py",  # the helper of test_streaming.py's DDP and resume tests
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
  pip install -e '.[{{ cookiecutter.__install_extras }}]'   # no GPU? README.md, Quick start: PyTorch's CPU build
{%- if cookiecutter.default_dataset == "digits" %}
  python train.py            # trains on the embedded digits data; W&B offline without credentials
{%- else %}
  python train.py --download # {{ cookiecutter.default_dataset }}: downloads once into data/; W&B offline without credentials
{%- endif %}
  python train.py --help     # every checklist hyperparameter, grouped by section
  pytest                     # the project's own tests (pytest -m slow: the longer training tests)
"""
    )
