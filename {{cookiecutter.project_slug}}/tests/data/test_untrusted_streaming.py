"""Inputs a hostile or careless user gives to prepare: its sizes (refused before writing, exit 2, one
line, no traceback), files that are not images (skipped with a count) and a FIFO in an image folder
(passed over; nothing hangs)."""

from __future__ import annotations

import os

import pytest
from conftest import exit_status, refused
from PIL import Image

from {{cookiecutter.project_slug}}.commands import prepare


@pytest.mark.parametrize(
    "flags",
    [
        ("--chunk-bytes=-1MB",),
        ("--chunk-bytes", "0"),
        ("--chunk-bytes", "abc"),
        ("--chunk-bytes", "1e40"),
        ("--chunk-bytes", "64XB"),
        ("--pack", "0"),
        ("--pack", "-3"),
        ("--pack", "1000000000"),
        ("--pack", "many"),
    ],
    ids=" ".join,
)
def test_prepare_refuses_a_bad_size_before_writing(tmp_path, capsys, flags):
    out = tmp_path / "shards"
    code = exit_status(prepare.main, ["--dataset", "digits", "--workers", "1", "--output", str(out), *flags])
    refused(capsys, code, flags[0].split("=")[0])
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_prepare_reads_sizes_in_units():
    parse = prepare.build_parser().parse_args
    assert parse(["--output", "x", "--chunk-bytes", "64MB"]).chunk_bytes == 64_000_000
    assert parse(["--output", "x", "--chunk-bytes", "2KiB"]).chunk_bytes == 2048
    assert parse(["--output", "x", "--chunk-bytes", "5000"]).chunk_bytes == 5000


@pytest.mark.parametrize(
    "content",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "truncated"],
    ids=["empty", "text", "a PNG header only", "truncated"],
)
def test_prepare_skips_files_that_are_not_images_with_a_count(tmp_path, capsys, content):
    good = []
    for i in range(3):
        Image.new("RGB", (8, 8), (9 * i, 0, 0)).save(tmp_path / f"{i}.png")
        good.append((str(tmp_path / f"{i}.png"), i % 2))
    bad = tmp_path / "bad.png"
    bad.write_bytes((tmp_path / "0.png").read_bytes()[:30] if content == "truncated" else content)
    assert prepare.readable([*good[:2], (str(bad), 1), good[2]]) == good
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped 1 files" in err and str(bad) in err


def test_prepare_passes_over_a_fifo_in_an_image_folder(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / c / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "fifo.png")  # opening it would wait for a writer forever
    paths, labels, classes, _, _ = prepare._folder_samples(tmp_path)
    assert len(paths) == 6 and not any(p.endswith("fifo.png") for p in paths) and classes == ["a", "b"]
