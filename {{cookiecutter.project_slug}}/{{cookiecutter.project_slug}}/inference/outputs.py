"""A model's outputs as the user reads them: per-task class probabilities (a regression task: its value
in the target's own units), and one CSV row per input with the predicted class names or values
(predict.py, Classifier.predict_images)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import torch


def probabilities(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per task, class probabilities [B, C] from the heads' logits: softmax, or for a binary head's one
    logit b the two probabilities (1 − σ(b), σ(b))."""
    probs = []
    for logits in outputs:
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits.float())
            probs.append(torch.cat([1 - p, p], dim=1))
        else:
            probs.append(torch.softmax(logits.float(), dim=1))
    return probs


def header(
    task_names: Sequence[str], task_classes: Sequence[int], top_k: int, key: str = "file", kinds: Sequence = ()
) -> list[str]:
    """`file`, then per task `<task>` (the predicted class name) and `<task>_prob`, and for top-k > 1
    `<task>_top2`, `<task>_top2_prob`, …; a regression task: `<task>`, the predicted value."""
    columns = [key]
    kinds = list(kinds) or ["classification"] * len(task_names)
    for name, c, kind in zip(task_names, task_classes, kinds):
        if kind == "regression":
            columns.append(name)
            continue
        for rank in range(1, min(top_k, c) + 1):
            suffix = "" if rank == 1 else f"_top{rank}"
            columns += [f"{name}{suffix}", f"{name}{suffix}_prob"]
    return columns


def rows(
    keys: Sequence,
    probs: list[torch.Tensor],
    task_names: Sequence[str],
    names: list[list[str]],
    top_k: int,
    key: str = "file",
    kinds: Sequence = (),
) -> list[dict]:
    """One dict per input: its key, then per task the top-k class names and probabilities (a
    regression task: its value, probs[t] [B, 1] in the target's units)."""
    out = [{key: k} for k in keys]
    kinds = list(kinds) or ["classification"] * len(task_names)
    for task, p, labels, kind in zip(task_names, probs, names, kinds):
        if kind == "regression":
            for row, v in zip(out, p.detach().cpu().float()[:, 0].tolist()):
                row[task] = v
            continue
        values, indices = p.detach().cpu().topk(min(top_k, p.shape[1]), dim=1)
        for row, vs, ix in zip(out, values.tolist(), indices.tolist()):
            for rank, (v, i) in enumerate(zip(vs, ix), start=1):
                suffix = "" if rank == 1 else f"_top{rank}"
                row[f"{task}{suffix}"] = labels[i]
                row[f"{task}{suffix}_prob"] = round(v, 6)
    return out


class PredictionWriter:
    """A callback that writes each batch's rows as they come (and warns about the files it skipped), to
    `path`, opened when predicting starts."""

    def __init__(self, path: Path, key: str, task_names, names, top_k: int, kinds=()):
        self.path, self.key, self.task_names, self.names, self.top_k = path, key, task_names, names, top_k
        self.kinds = list(kinds)
        self.count = self.skipped = 0
        self.file = self.writer = None

    def callback(self):
        from lightning.pytorch.callbacks import Callback

        outer = self

        class Writer(Callback):
            def on_predict_start(self, trainer, pl_module):
                # surrogateescape: a file name that is not UTF-8 is written back as the bytes it was.
                outer.file = open(outer.path, "w", newline="", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
                classes = [len(n) for n in outer.names]
                columns = header(outer.task_names, classes, outer.top_k, outer.key, outer.kinds)
                outer.writer = csv.DictWriter(outer.file, fieldnames=columns)
                outer.writer.writeheader()

            def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
                keys, failed = batch[1].keys, batch[1].failed
                for path, error in failed:
                    print(f"warning: skipped {path}: cannot decode it as an image ({error})", file=sys.stderr)
                outer.skipped += len(failed)
                if keys:
                    found = rows(keys, outputs, outer.task_names, outer.names, outer.top_k, outer.key, outer.kinds)
                    outer.writer.writerows(found)
                    outer.count += len(keys)

        return Writer()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
