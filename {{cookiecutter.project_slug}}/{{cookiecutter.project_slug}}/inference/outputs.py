"""A model's outputs as the user reads them: per-task class probabilities (a regression task: its value
in the target's own units), and one CSV row per input with the predicted class names or values
(predict.py, predict_images, predict_csv)."""

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .inputs import LEVELS, list_images, read_image, read_rows


def ranks(top_k: int, classes: int) -> list[str]:
    return ["" if r == 1 else f"_top{r}" for r in range(1, min(top_k, classes) + 1)]


def header(task_names: Sequence[str], names: list[list[str]], kinds: Sequence, top_k: int, key: str = "file"):
    """`file`, then per task `<task>` (the predicted class name) and `<task>_prob`, and for top-k > 1
    `<task>_top2`, `<task>_top2_prob`, …; a numeric kind's task (regression): `<task>`, the value."""
    columns = [key]
    for task, labels, kind in zip(task_names, names, kinds):
        columns += [task] if kind.numeric else [task + s + p for s in ranks(top_k, len(labels)) for p in ("", "_prob")]
    return columns


def rows(keys: Sequence, predictions: list[torch.Tensor], task_names, names, kinds, top_k: int, key: str = "file"):
    """One dict per input: its key, then per task the top-k class names and probabilities of its
    kind's predictions (TaskKind.predict: [B, C]), or a numeric task's value ([B, 1], in its units)."""
    out = [{key: k} for k in keys]
    for task, p, labels, kind in zip(task_names, predictions, names, kinds):
        if kind.numeric:
            for row, v in zip(out, p.detach().cpu().float()[:, 0].tolist()):
                row[task] = v
            continue
        values, indices = p.detach().cpu().topk(min(top_k, p.shape[1]), dim=1)
        for row, vs, ix in zip(out, values.tolist(), indices.tolist()):
            for s, v, i in zip(ranks(top_k, len(labels)), vs, ix):
                row[task + s], row[f"{task}{s}_prob"] = labels[i], round(v, 6)
    return out


class PredictionWriter:
    """A callback that writes each batch's rows as they come (and warns about the files it skipped), to
    `path`, opened when predicting starts."""

    def __init__(self, path: Path, key: str, task_names, names, kinds, top_k: int):
        self.path, self.key, self.task_names, self.names, self.top_k = path, key, task_names, names, top_k
        self.kinds = kinds  # per task, its data/tasks.TaskKind
        self.count = self.skipped = 0
        self.file = self.writer = None

    def callback(self):
        from lightning.pytorch.callbacks import Callback

        outer = self

        class Writer(Callback):
            def on_predict_start(self, trainer, pl_module):
                # surrogateescape: a file name that is not UTF-8 is written back as the bytes it was.
                outer.file = open(outer.path, "w", newline="", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
                columns = header(outer.task_names, outer.names, outer.kinds, outer.top_k, outer.key)
                outer.writer = csv.DictWriter(outer.file, fieldnames=columns)
                outer.writer.writeheader()

            def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
                keys, failed = batch[1].keys, batch[1].failed
                for path, error in failed:
                    print(f"warning: skipped {path}: cannot decode it as an image ({error})", file=sys.stderr)
                outer.skipped += len(failed)
                if keys:
                    found = rows(keys, outputs, outer.task_names, outer.names, outer.kinds, outer.top_k, outer.key)
                    outer.writer.writerows(found)
                    outer.count += len(keys)

        return Writer()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@torch.inference_mode()
def predict_images(model, paths, top_k: int = 1, batch_size: int = 256) -> list[dict]:
    """Image files (or folders) → one dict per image: file, then per task the predicted class name
    and its probability (`digit`, `digit_prob`; top-k adds `digit_top2`, …). Inputs are adapted as
    predict.py does (channels, size, the training data's gray levels); undecodable files raise."""
    hp = model.hparams
    files = list_images([paths] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__") else paths)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        x = torch.stack([read_image(f, hp.input_shape, LEVELS.get(hp.get("dataset"))) for f in chunk])
        probs = model.predict_step(x.to(model.device))
        out += rows([str(f) for f in chunk], probs, hp.task_names, model.class_names, model.kinds, top_k)
    model.train(was_training)
    return out


@torch.inference_mode()
def predict_csv(model, path) -> list[dict]:
    """A table model's predictions for the rows of a CSV file (its feature columns, any order): one
    dict per row, `row` (from 1) then per task the class name and probability, or a regression
    task's value in the target's own units: the rows predict.py writes."""
    hp = model.hparams
    x, keys = read_rows(path, hp.get("features") or [], hp.input_shape)
    was_training = model.training
    model.eval()
    outputs = model.predict_step(x.to(model.device))
    model.train(was_training)
    return rows(keys, outputs, hp.task_names, model.class_names, model.kinds, 1, key="row")
