"""`python tests/record_ids.py [train.py flags]`: train.py that records which examples each rank trained on.

Appends `epoch id` lines to $RECORD_IDS_DIR/rank<R>.txt after each training batch; with
$RECORD_IDS_KILL_AFTER=K it sends itself SIGTERM after K training batches (a preemption mid-epoch).
DDP re-runs this script for the other ranks, so they record too.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from {{cookiecutter.project_slug}}.commands.train import run as main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.data.streaming import StreamingDataModule  # noqa: E402
from {{cookiecutter.project_slug}}.training.module import TaskModule  # noqa: E402

transfer = StreamingDataModule.on_after_batch_transfer
trained = 0


def keep_ids(self, batch, dataloader_idx):
    self.last_ids = batch[2].tolist()
    return transfer(self, batch, dataloader_idx)


def record(self, outputs, batch, batch_idx):
    global trained
    rank = os.environ.get("LOCAL_RANK", "0")
    ids = self.trainer.datamodule.last_ids
    with open(Path(os.environ["RECORD_IDS_DIR"]) / f"rank{rank}.txt", "a") as f:
        f.writelines(f"{self.current_epoch} {i}\n" for i in ids)
    trained += 1
    if trained == int(os.environ.get("RECORD_IDS_KILL_AFTER", "0")):
        os.kill(os.getpid(), signal.SIGTERM)


StreamingDataModule.on_after_batch_transfer = keep_ids
TaskModule.on_train_batch_end = record

if __name__ == "__main__":
    sys.exit(main(parse_args()))
