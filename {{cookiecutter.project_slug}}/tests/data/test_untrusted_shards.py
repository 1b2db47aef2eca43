"""Shards damaged after prepare wrote them: truncated, deleted, emptied, a bit flipped, a damaged
index.json or dataset.json. Training refuses in one line naming the file, before any step (never
LitData's ChunkWaitTimeoutError after a long wait)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import train

from {{cookiecutter.project_slug}}.commands import prepare


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "digits"
    argv = ["--dataset", "digits", "--workers", "1", "--output", str(out), "--chunk-bytes", "50KB"]
    assert prepare.main(argv) == 0
    return out


def _first_chunk(root: Path) -> Path:
    return root / "train" / json.loads((root / "train" / "index.json").read_text())["chunks"][0]["filename"]


def _truncate(root):
    path = _first_chunk(root)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _flip(root):
    path = _first_chunk(root)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _empty(root):
    _first_chunk(root).write_bytes(b"")
    return _first_chunk(root)


def _delete(root):
    path = _first_chunk(root)
    path.unlink()
    return path


def _index(root):
    path = root / "val" / "index.json"
    path.write_text(path.read_text()[:-20])
    return path


def _meta(root):
    path = root / "dataset.json"
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    return path


def _meta_wrong_type(root):
    path = root / "dataset.json"
    path.write_text("[1, 2, 3]")
    return path


def _meta_value(key, value):
    def damage(root):
        path = root / "dataset.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
        return path

    return damage


DAMAGE = {
    "pack 0": _meta_value("pack", 0),  # was ZeroDivisionError
    "input shape unlike the shards'": _meta_value("input_shape", [1, 9, 9]),  # was mat1 and mat2 shapes ...
    "input shape not a shape": _meta_value("input_shape", [1, "8", -8]),
    "truncated": _truncate,
    "bit flipped": _flip,
    "zero bytes": _empty,
    "deleted": _delete,
    "index.json cut short": _index,
    "dataset.json cut short": _meta,
    "dataset.json a list": _meta_wrong_type,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_shards_are_one_line_naming_the_file(shards, tmp_path, capsys, damage):
    root = tmp_path / "copy"
    shutil.copytree(shards, root)
    named = DAMAGE[damage](root)
    capsys.readouterr()
    code, run_dir = train(tmp_path, "--dataset", "streaming", "--data-dir", str(root), "--max-steps", "2")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert named.name in lines[0] and "ChunkWait" not in err, lines[0]
    assert not list((tmp_path / "runs").glob("*/checkpoints"))
