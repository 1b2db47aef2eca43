"""predict.py: a checkpoint's predictions for image files (or a table's rows) into a CSV file, through
Lightning's Trainer.predict and TaskModule.predict_step (batched, on a GPU when there is one)."""

import argparse
import os
import sys
from pathlib import Path

from ..config.parser import OneLineParser
from ..config.types import NON_NEGATIVE, POSITIVE, auto_or, number_type
from ..errors import UsageError, guarded, refuse
from ..files import TargetError, check_apart, check_target

positive = number_type(int, POSITIVE)
workers = auto_or(number_type(int, NON_NEGATIVE))  # DataLoader processes; auto: as many as the cores allow


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="predict.py",
        description="Predict with a trained checkpoint: one CSV row per image file (folders are searched "
        "recursively for .png .jpg .jpeg .bmp .gif .webp .tif) or per row of a CSV table (models trained on "
        "a table). Images are converted to the training data's channels and size; undecodable files are "
        "skipped with a warning.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "checkpoint",
        help="A .ckpt file, a run directory (its best.ckpt, else last.ckpt) or 'last' "
        "(the newest run's last.ckpt under --output-dir).",
    )
    p.add_argument("inputs", nargs="+", help="Image files, folders of images, or one CSV file.")
    p.add_argument("--output", default="predictions.csv", metavar="FILE.csv", help="Where the predictions go.")
    p.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    p.add_argument("--top-k", type=positive, default=1, help="Class names and probabilities per task, best first.")
    p.add_argument("--batch-size", type=positive, default=256, help="Inputs per forward pass.")
    p.add_argument(
        "--num-workers",
        type=workers,
        default="auto",
        help="DataLoader processes decoding images "
        "(auto: up to 4; none for fewer than 4 batches or on 2 cores or fewer).",
    )
    p.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "gpu", "mps"), help="Hardware.")
    p.add_argument("--output-dir", default="runs", metavar="PATH", help="Where 'last' looks for runs.")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:  # before torch loads: a target that cannot be written, or one that would replace an input
        check_target(a.output, a.overwrite)
        check_apart(a.output, a.inputs)
    except TargetError as e:
        parser.error(f"argument --output: {e}")
    return a


def _table_batches(x, keys, batch_size: int):
    from torch.utils.data import DataLoader

    from ..inference.inputs import Keys

    return DataLoader(
        list(range(len(keys))), batch_size=batch_size, collate_fn=lambda idx: (x[idx], Keys([keys[i] for i in idx], []))
    )


def build_loader(a: argparse.Namespace, hp: dict):
    """The inputs as a DataLoader of (inputs, Keys); the key column's name."""
    from torch.utils.data import DataLoader

    from ..errors import InputError
    from ..inference.inputs import LEVELS, CollateImages, ImageFiles, list_images, read_rows

    if hp.get("dataset") == "csv" or hp.get("features"):
        if len(a.inputs) != 1 or not a.inputs[0].lower().endswith(".csv"):
            raise InputError(
                f"the model was trained on a table: give one CSV file with the columns "
                f"{', '.join(hp.get('features') or [])}"
            )
        x, keys = read_rows(a.inputs[0], hp.get("features") or [], hp["input_shape"])
        return _table_batches(x, keys, a.batch_size), "row"
    if hp["input_shape"][0] not in (1, 3):
        raise InputError(f"the model takes {hp['input_shape'][0]}-channel inputs: not images (1 or 3 channels)")
    if len(a.inputs) == 1 and a.inputs[0].lower().endswith(".csv"):
        raise InputError(f"{a.inputs[0]}: the model was trained on images ({hp.get('dataset')}), not on a table")
    files = list_images(a.inputs)
    batches = -(-len(files) // a.batch_size)
    num_workers = a.num_workers
    if num_workers == "auto":
        # Worker processes pay off once there are cores to spare beside the forward passes.
        cpus = os.cpu_count() or 1
        num_workers = 0 if batches < 4 or cpus <= 2 else min(4, cpus - 1)
    loader = DataLoader(
        ImageFiles(files, hp["input_shape"]),
        batch_size=a.batch_size,
        num_workers=num_workers,
        collate_fn=CollateImages(LEVELS.get(hp.get("dataset"))),
    )
    return loader, "file"


@guarded("predict.py")
def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)  # bad flags and an existing --output exit 2 here, before torch loads
    try:
        return predict(a)
    except UsageError as e:
        return refuse("predict.py", e)


def predict(a: argparse.Namespace) -> int:
    from ..training.trainer import quiet_lightning

    quiet_lightning()
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from ..checkpoints import class_names_of, find_checkpoint, read_hparams
    from ..data.tasks import kinds_of
    from ..errors import InputError, SettingError
    from ..files import atomic_path, remove_stale_temporaries
    from ..inference.inputs import check_units
    from ..inference.outputs import PredictionWriter
    from ..training.module import load_module

    ckpt = find_checkpoint(a.checkpoint, a.output_dir)
    hp = read_hparams(ckpt)
    check_units(hp, ckpt)
    loader, key = build_loader(a, hp)
    out = Path(a.output)
    remove_stale_temporaries(out.resolve().parent)  # of a predict.py killed while writing
    with atomic_path(out) as tmp:  # a reader never sees half a file, and an old one stays until the end
        writer = PredictionWriter(tmp, key, hp["task_names"], class_names_of(hp), kinds_of(hp), a.top_k)
        try:
            trainer = L.Trainer(
                accelerator=a.accelerator,
                devices=1,
                logger=False,
                callbacks=[writer.callback()],
                enable_checkpointing=False,
                enable_model_summary=False,
                enable_progress_bar=sys.stderr.isatty(),
            )
        except (MisconfigurationException, ValueError, RuntimeError) as e:  # e.g. --accelerator gpu without one
            raise SettingError(f"--accelerator {a.accelerator}: {str(e).splitlines()[0]}") from None
        model = load_module(ckpt)
        try:
            trainer.predict(model, dataloaders=loader, return_predictions=False)
        finally:
            writer.close()
        if writer.count == 0:  # every input skipped: no result, and no file
            raise InputError(f"none of the {writer.skipped} inputs could be read as an image: nothing to predict")
    skipped = f" ({writer.skipped} skipped)" if writer.skipped else ""
    print(f"{writer.count} predictions{skipped} with {ckpt}: {out}")
    return 0
