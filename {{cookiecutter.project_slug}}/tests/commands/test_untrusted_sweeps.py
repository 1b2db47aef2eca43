"""`sweeps next` on files a run did not write as expected: --from a file, results.json of the wrong
JSON type, values of the wrong type, YAML or JSON nested past any sense, bytes that are not text.
Each: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import ROOT, refused

from {{cookiecutter.project_slug}}.commands.sweeps import main
from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

DEEP = "[" * 100_000 + "]" * 100_000


def runs_and_stages(tmp_path):
    stages = tmp_path / "stages"
    shutil.copytree(ROOT / "sweeps", stages)
    runs = tmp_path / "runs"
    for i, (lr, acc) in enumerate([(1e-3, 0.9), (1e-2, 0.95)]):
        d = runs / f"r{i}"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(yaml.safe_dump(config_dict(parse_args(["--lr", str(lr)]))))
        (d / "results.json").write_text(json.dumps({"val/acc": acc}))
    return runs, stages


def _write(relative: str, content: str | bytes):
    def change(tmp_path):
        path = tmp_path / relative
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)

    return change


def _lr(value):
    def change(tmp_path):
        path = tmp_path / "runs" / "r1" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**config, "lr": value}))

    return change


CASES = {
    "results.json a list": (_write("runs/r1/results.json", "[0.9]"), "list"),
    "results.json a string": (_write("runs/r1/results.json", '"val/acc"'), "str"),
    "results.json nested too deep": (_write("runs/r1/results.json", DEEP), "r1"),
    "results.json not text": (_write("runs/r1/results.json", b"\xff\xfe\x00garbage"), "r1"),
    "config.yaml nested too deep": (_write("runs/r1/config.yaml", DEEP), "r1"),
    "a stage file nested too deep": (_write("stages/stage2_momentum_batch_width.yaml", DEEP), "stage2"),
    "a stage file a list": (_write("stages/stage2_momentum_batch_width.yaml", "- 1\n- 2\n"), "stage2"),
}


@pytest.mark.cli
@pytest.mark.parametrize("case", CASES)
def test_a_damaged_file_is_one_line(tmp_path, capsys, case):
    runs, stages = runs_and_stages(tmp_path)
    change, word = CASES[case]
    change(tmp_path)
    out = tmp_path / "next.yaml"
    code = main(["next", "--from", str(runs), "--stages", str(stages), "--output", str(out)])
    refused(capsys, code, word)
    assert not out.exists()


@pytest.mark.cli
@pytest.mark.parametrize("value", ["fast", [1, 2], {"a": 1}, True, None, "2024-01-01", -1])
def test_a_value_of_the_wrong_type_is_one_line_naming_the_flag_and_file(tmp_path, capsys, value):
    runs, stages = runs_and_stages(tmp_path)
    _lr(value)(tmp_path)
    out = tmp_path / "next.yaml"
    code = main(["next", "--from", str(runs), "--stages", str(stages), "--output", str(out)])
    refused(capsys, code, "--lr", str(runs / "r1" / "config.yaml"))
    assert not out.exists()


@pytest.mark.cli
@pytest.mark.parametrize("origin", ["file", "missing"])
def test_from_something_that_is_not_a_folder_is_one_line(tmp_path, capsys, origin):
    runs, stages = runs_and_stages(tmp_path)
    source = runs / "r0" / "results.json" if origin == "file" else tmp_path / "nowhere"
    code = main(["next", "--from", str(source), "--stages", str(stages), "--output", str(tmp_path / "n.yaml")])
    refused(capsys, code, "--from", str(source))
    assert not (tmp_path / "n.yaml").exists()
