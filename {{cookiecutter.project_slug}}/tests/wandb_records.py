"""Read back an offline W&B run (`run-<id>.wandb`) for the tests.

wandb 0.31 ships no reader for this file, so this is the small one its format needs: a 7-byte
header (":W&B", magic 0xBEE1, version 0), then LevelDB-style log blocks of 32 KiB; each chunk is
crc32 (4 bytes), length (2, little-endian), type (1: full, 2: first, 3: middle, 4: last), data.
A full (or reassembled) chunk is one serialized `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: str | Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    out, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # the block's tail is zero padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:  # padding
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def config(path: str | Path) -> dict:
    """Every config key → value (JSON-decoded), later updates winning."""
    values = {}
    for r in records(path):
        if r.WhichOneof("record_type") == "config":
            for item in r.config.update:
                values[item.key] = json.loads(item.value_json)
    return values


def history(path: str | Path) -> list[dict]:
    """One dict per history row: metric name → value."""
    rows = []
    for r in records(path):
        if r.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item})
    return rows


def find_run_file(run_dir: str | Path) -> Path:
    """The run's offline file, complete. wandb.finish() returns before wandb-core has written a run's last records:
    it closes the file when the run's stream is torn down, after finish (inform_finish is sent, not awaited), so a
    run trained in this process could read 0 of its 46 history rows (4 of 8 tries, --lr 3). wandb.teardown() waits
    for the service to close every stream; a run in a child process was closed when that process exited."""
    import wandb

    wandb.teardown()
    files = sorted(Path(run_dir).glob("wandb/*run-*/run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no .wandb file under {run_dir}/wandb")
    return files[-1]
