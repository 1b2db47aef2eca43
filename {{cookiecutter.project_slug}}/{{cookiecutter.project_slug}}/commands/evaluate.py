"""train.py --test-only --resume CKPT: test a checkpoint on any registered dataset's test split and
write results.json and plots/confusion_matrix.png into a new run directory, without training."""

import argparse
import sys
from pathlib import Path

from ..config.parser import config_dict
from ..errors import DataError, UsageError, refuse

PROG = "train.py"


def test_run_directory(a: argparse.Namespace, ckpt: Path) -> Path:
    """--run-name when given, else `<trained run>-test-<dataset>` (-2, -3… if taken): the training
    run's own results.json is never overwritten."""
    from ..checkpoints import run_directory_of
    from ..training.rundir import unused

    trained = run_directory_of(ckpt).name
    if a.run_name and a.run_name != trained:
        return Path(a.output_dir) / a.run_name
    return unused(Path(a.output_dir) / f"{trained}-test-{a.dataset}")


def test_only(a: argparse.Namespace) -> int:
    """Returns the process exit status (2 with one line on bad input, nothing written)."""
    return evaluate(a)[0]


def evaluate(a: argparse.Namespace) -> tuple[int, Path | None]:
    """(exit status, the new run directory or None when refused before it existed)."""
    from ..training.rundir import claim_run_directory, owned
    from ..training.trainer import quiet_lightning

    quiet_lightning(a.verbose)
    ckpt = Path(a.resume_ckpt)
    try:
        dm = checked_data(a, ckpt)
        run_dir = test_run_directory(a, ckpt)
        created = claim_run_directory(run_dir, overwrite=a.overwrite)
        with owned(run_dir, created):
            return test(a, ckpt, dm, run_dir), run_dir
    except UsageError as e:
        return refuse(PROG, e), None


def checked_data(a: argparse.Namespace, ckpt: Path):
    """The data to test on, after checking that the checkpoint's network fits it."""
    from ..checkpoints import read_hparams
    from ..data.tasks import kinds_of
    from ..datasets import tasks_for
    from ..training.build import check_fits_checkpoint
    from ..training.trainer import check_hardware
    from .options import build_datamodule, trainer_view

    hp = read_hparams(ckpt)
    try:
        tasks_for(a.dataset, list(hp["task_names"]))
    except ValueError as e:
        raise DataError(f"the checkpoint predicts {','.join(hp['task_names'])}; {e}") from None
    types = [f"{n}:{k.name}" for n, k in zip(hp["task_names"], kinds_of(hp))]  # the checkpoint's, not inferred again
    a = argparse.Namespace(**{**vars(a), "tasks": list(hp["task_names"]), "task_types": types})
    check_hardware(trainer_view(a))
    dm = build_datamodule(a)
    check_fits_checkpoint(hp, dm, f"--test-only: {ckpt}")
    return dm


def test(a: argparse.Namespace, ckpt: Path, dm, run_dir: Path) -> int:
    import lightning as L

    from ..training.module import load_module
    from ..training.monitor import monitor_of
    from ..training.rundir import write_config, write_results
    from ..training.tuning import plot_confusion_matrix

    model = load_module(ckpt)
    monitor = monitor_of(dict(model.hparams))
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
    write_config(run_dir, {**config_dict(a), "tasks": [t.name for t in dm.tasks], "resume": str(ckpt)})  # tests again
    if model.test_confusion is not None:  # a classification primary task
        plot_confusion_matrix(model.test_confusion, dm.tasks[0].name, run_dir / "plots" / "confusion_matrix.png")
    results = {
        "run_name": run_dir.name,
        "checkpoint": str(ckpt),
        "dataset": a.dataset,
        **metrics,
        "monitor": monitor.name,
        "monitor_mode": monitor.mode,
        "test/confusion_matrix": model.test_confusion.tolist() if model.test_confusion is not None else None,
    }
    write_results(run_dir, results)
    shown = monitor.test_name
    print(
        f"{shown}={metrics.get(shown, float('nan')):.4f} test/loss={metrics.get('test/loss', float('nan')):.4f}"
        f" of {ckpt} on {a.dataset}; run directory: {run_dir}"
    )
    return 0
