"""Inputs a hostile or careless user gives: tables (one reader for training and prediction: BOM, `;`,
non-finite cells, a field over the csv module's limit, more classes than the splits can hold), image
folders (a FIFO, a device, a non-UTF-8 file name), and prepare's sizes. Each refusal: exit 2, one
line, no traceback, nothing written; nothing hangs (a bounded subprocess for the FIFO)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, train
from PIL import Image

from {{cookiecutter.project_slug}}.commands import prepare
from {{cookiecutter.project_slug}}.commands.predict import main as predict


def exit_status(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def refused(capsys, code, *words) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def table(path: Path, rows: int = 60, delimiter: str = ",", bom: bool = False, cells=None) -> Path:
    lines = [delimiter.join(("p0", "p1", "y"))]
    for i in range(rows):
        a, b = (cells or {}).get(i, (str(i % 7), str((i * 3) % 5)))
        lines.append(delimiter.join((a, b, "yes" if i % 2 else "no")))
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def table_ckpt(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("table")
    data = table(tmp / "train.csv")
    code, run_dir = train(tmp, "--dataset", "csv", "--data-dir", str(data), "--target", "y", "--max-steps", "3")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


def predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("variant", [{"bom": True}, {"delimiter": ";"}, {"delimiter": "\t", "bom": True}])
def test_predict_reads_every_table_training_reads(table_ckpt, tmp_path, variant):
    plain, odd = table(tmp_path / "plain.csv", 10), table(tmp_path / "odd.csv", 10, **variant)
    assert predict([str(table_ckpt), str(plain), "--output", str(tmp_path / "a.csv")]) == 0
    assert predict([str(table_ckpt), str(odd), "--output", str(tmp_path / "b.csv")]) == 0
    assert predictions(tmp_path / "a.csv") == predictions(tmp_path / "b.csv")
    assert len(predictions(tmp_path / "b.csv")) == 10


BAD_ROWS = {
    "nan": ({3: ("nan", "1")}, "line 5, column 'p0'"),
    "inf": ({0: ("1", "inf")}, "line 2, column 'p1'"),
    "-Infinity": ({1: ("-Infinity", "1")}, "line 3, column 'p0'"),
    "text": ({2: ("abc", "1")}, "line 4"),
    "empty": ({2: ("1", "")}, "line 4, column 'p1'"),
    "a field over the csv limit": ({2: ("1" * 200_000, "1")}, "field larger"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_a_row_that_is_not_finite_numbers_is_never_a_silent_nan(table_ckpt, tmp_path, capsys, case):
    cells, words = BAD_ROWS[case]
    data = table(tmp_path / "in.csv", 10, cells=cells)
    capsys.readouterr()
    refused(capsys, predict([str(table_ckpt), str(data), "--output", str(tmp_path / "p.csv")]), words)
    assert not (tmp_path / "p.csv").exists()


def test_more_classes_than_the_splits_can_hold_is_one_line(tmp_path, capsys):
    lines = ["a,b,y"] + [f"{i % 3},{i % 5},c{i // 2}" for i in range(2000)]  # 1,000 classes of 2 rows
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    code, run_dir = train(tmp_path, "--dataset", "csv", "--data-dir", str(tmp_path / "t.csv"), "--target", "y")
    refused(capsys, code, "test split would be empty", "1000 classes")
    assert not list((tmp_path / "runs").glob("*/results.json"))


# ----------------------------------------------------------------------------- image folders


@pytest.fixture(scope="module")
def image_ckpt(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("img")
    code, run_dir = train(tmp, "--max-steps", "3", "--width", "8", "--run-name", "t")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


def test_a_fifo_or_device_among_the_images_never_blocks(image_ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (8, 8), 9).save(folder / "good.png")
    os.mkfifo(folder / "fifo.png")  # today's hang: opening it waits for a writer
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, str(ROOT / "predict.py"), str(image_ckpt), "--accelerator", "cpu"]
    done = subprocess.run(
        [*run, str(folder), "--output", str(tmp_path / "p.csv")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert [r["file"] for r in predictions(tmp_path / "p.csv")] == [str(folder / "good.png")]


@pytest.mark.parametrize("given", ["fifo", "/dev/zero"])
def test_a_fifo_or_device_given_by_name_is_one_line(image_ckpt, tmp_path, capsys, given):
    path = tmp_path / "fifo.png" if given == "fifo" else Path(given)
    if given == "fifo":
        os.mkfifo(path)
    code = predict([str(image_ckpt), str(path), "--output", str(tmp_path / "q.csv")])  # checked before opening
    refused(capsys, code, "not a regular file", str(path))
    assert not (tmp_path / "q.csv").exists()


def test_a_file_name_that_is_not_utf8_is_predicted_and_written_back_as_its_bytes(image_ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = b"caf\xe9.png"  # Latin-1: not UTF-8
    Image.new("L", (8, 8), 9).save(os.path.join(os.fsencode(folder), name))
    assert predict([str(image_ckpt), str(folder), "--output", str(tmp_path / "p.csv")]) == 0
    assert name in (tmp_path / "p.csv").read_bytes()


# ----------------------------------------------------------------------------- prepare's sizes


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


def test_training_and_prepare_pass_over_a_fifo_in_an_image_folder(tmp_path):
    from {{cookiecutter.project_slug}}.data.loaders import load_image_folder

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / c / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "fifo.png")  # opening it would wait for a writer forever
    (x, y), _ = load_image_folder(tmp_path, False, 8)
    assert x.shape == (6, 3, 8, 8) and y.tolist() == [0, 0, 0, 1, 1, 1]
    paths, labels, classes, _, _ = prepare._folder_samples(tmp_path)
    assert len(paths) == 6 and not any(p.endswith("fifo.png") for p in paths) and classes == ["a", "b"]
