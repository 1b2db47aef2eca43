"""train.py --test-only --resume CKPT: test a checkpoint on any registered dataset's test split and
write results.json and plots/confusion_matrix.png into a new run directory, without training."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

from .cli import config_dict


def test_run_directory(a: argparse.Namespace, ckpt: Path) -> Path:
    """--run-name when given, else `<trained run>-test-<dataset>` (-2, -3… if taken): the training
    run's own results.json is never overwritten."""
    trained = ckpt.parent.parent.name if ckpt.parent.name == "checkpoints" else ckpt.parent.name
    if a.run_name and a.run_name != trained:
        return Path(a.output_dir) / a.run_name
    name = f"{trained}-test-{a.dataset}"
    run_dir, suffix = Path(a.output_dir) / name, 1
    while run_dir.exists():
        suffix += 1
        run_dir = Path(a.output_dir) / f"{name}-{suffix}"
    return run_dir


def test_only(a: argparse.Namespace) -> int:
    """Returns the process exit status (2 with one line on bad input, nothing written)."""
    import lightning as L

    from .data import DataError
    from .datasets import tasks_for
    from .inference import CheckpointError, read_hparams
    from .module import load_classifier
    from .run import HardwareError, build_datamodule, check_hardware, quiet_lightning, write_atomically
    from .tuning import plot_confusion_matrix

    quiet_lightning()
    ckpt = Path(a.resume_ckpt)
    try:
        hp = read_hparams(ckpt)
        try:
            tasks_for(a.dataset, list(hp["task_names"]))
        except ValueError as e:
            raise DataError(f"the checkpoint predicts {','.join(hp['task_names'])}; {e}") from None
        a.tasks = list(hp["task_names"])
        check_hardware(a)
        dm = build_datamodule(a)
        if list(dm.input_shape) != list(hp["input_shape"]):
            raise DataError(
                f"--dataset {a.dataset} has inputs of shape {list(dm.input_shape)}; the checkpoint's "
                f"network takes {list(hp['input_shape'])}"
            )
        classes = [t.num_classes for t in dm.tasks]
        if classes != list(hp["task_classes"]):
            raise DataError(
                f"--dataset {a.dataset} has {classes} classes per task; the checkpoint has {list(hp['task_classes'])}"
            )
    except (CheckpointError, DataError, HardwareError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    run_dir = test_run_directory(a, ckpt)
    try:
        if a.overwrite and run_dir.is_dir():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)  # a run directory belongs to one run
    except FileExistsError:
        print(
            f"train.py: error: --run-name: {run_dir} already exists; choose another --run-name or pass --overwrite",
            file=sys.stderr,
        )
        return 2
    except OSError as e:
        print(f"train.py: error: --output-dir: cannot create {run_dir} ({e.strerror or e})", file=sys.stderr)
        return 2
    a.run_name = run_dir.name
    model = load_classifier(ckpt)
    # One device: a distributed sampler would pad the test split with repeated examples.
    trainer = L.Trainer(
        accelerator=a.accelerator,
        devices=1,
        precision=a.precision,
        logger=False,
        default_root_dir=run_dir,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
    )
    metrics = trainer.test(model, datamodule=dm, verbose=False)[0]
    (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    write_atomically(
        run_dir / "config.yaml",
        yaml.safe_dump(
            {**config_dict(a), "resume": str(ckpt)},  # tests again
            sort_keys=False,
            allow_unicode=True,
        ),
    )
    plot_confusion_matrix(model.test_confusion, dm.tasks[0].name, run_dir / "plots" / "confusion_matrix.png")
    results = {
        "run_name": run_dir.name,
        "checkpoint": str(ckpt),
        "dataset": a.dataset,
        **metrics,
        "test/confusion_matrix": model.test_confusion.tolist(),
    }
    write_atomically(run_dir / "results.json", json.dumps(results, indent=2) + "\n")
    print(
        f"test/acc={metrics.get('test/acc', float('nan')):.4f} test/loss={metrics.get('test/loss', float('nan')):.4f}"
        f" of {ckpt} on {a.dataset}; run directory: {run_dir}"
    )
    return 0
