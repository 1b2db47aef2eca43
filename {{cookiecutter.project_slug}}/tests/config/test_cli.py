"""Parsing: spellings, booleans, lists, --config round trip and every bad-input case."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT, run_cli

from {{cookiecutter.project_slug}}.config.flags import FLAGS, SECTIONS
from {{cookiecutter.project_slug}}.config.parser import build_parser, config_dict, parse_args

pytestmark = pytest.mark.cli  # torch-free: the template runs these on every Python version it offers


def test_dash_and_underscore_spellings_and_equals():
    a = parse_args(["--lr-schedule", "cosine", "--batch_size=32", "--lr=0.01", "--bn_position", "post"])
    assert (a.lr_schedule, a.batch_size, a.lr, a.bn_position) == ("cosine", 32, 0.01, "post")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--batchnorm"], True),
        (["--batchnorm", "--no-batchnorm"], False),
        (["--batchnorm=True"], True),
        (["--batchnorm=False"], False),
        (["--batchnorm=yes"], True),
        (["--batchnorm=0"], False),
        (["--batchnorm", "TRUE"], True),
        (["--no-batchnorm", "--batchnorm=on"], True),
        ([], True),
    ],
)
def test_booleans(flags, expected):
    assert parse_args(flags).batchnorm is expected


def test_lists_are_comma_separated():
    assert parse_args(["--wandb-tags", "a,b"]).wandb_tags == ["a", "b"]


def test_every_flag_is_in_help_under_its_section(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    used = [s for s in SECTIONS if any(f.section == s for f in FLAGS)]
    positions = [out.index(f"\n{s}:") for s in used]
    assert positions == sorted(positions), "sections out of the checklist's order"
    blocks = {s: out[a:b] for s, a, b in zip(used, positions, [*positions[1:], len(out)])}
    for f in FLAGS:
        # An option line: `  --flag VALUE`, `  --flag [BOOL], --no-flag [BOOL]` (3.10-3.12) or
        # `  --flag, --no-flag [BOOL]` (3.13 lists the metavar once).
        assert re.search(rf"^ +{re.escape(f.option)}(?![\w-])", blocks[f.section], re.M), f.option


def test_print_config_round_trip(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--lr", "0.02", "--model", "cnn", "--batchnorm", "--wandb-tags", "x,y", "--print-config"])
    assert e.value.code == 0
    printed = capsys.readouterr().out
    cfg = yaml.safe_load(printed)
    assert set(cfg) == {f.name for f in FLAGS}
    assert (cfg["lr"], cfg["model"], cfg["batchnorm"], cfg["wandb_tags"]) == (0.02, "cnn", True, ["x", "y"])
    path = tmp_path / "c.yaml"
    path.write_text(printed)
    again = parse_args(["--config", str(path)])
    assert config_dict(again) == cfg


def test_command_line_wins_over_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.5\ndepth: 3\n")
    a = parse_args(["--config", str(path), "--lr", "0.1"])
    assert (a.lr, a.depth) == (0.1, 3)


def test_config_values_are_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: -1\n")
    with pytest.raises(SystemExit) as e:
        parse_args(["--config", str(path)])
    assert e.value.code == 2


def _bad_yaml(tmp_path):
    (tmp_path / "bad.yaml").write_text("lr: [unclosed\n")
    return str(tmp_path / "bad.yaml")


def _unknown_key(tmp_path):
    (tmp_path / "unknown.yaml").write_text("learning_rate: 0.1\n")
    return str(tmp_path / "unknown.yaml")


BAD = [
    (["--no-such-flag"], "--no-such-flag"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--lr", "fast"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--depth", "-1"], "--depth"),
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--batchnorm=maybe"], "--batchnorm"),
    (["--config", "missing.yaml"], "--config"),
    ("bad_yaml", "--config"),
    ("unknown_key", "learning_rate"),
    (["--resume", "last"], "--resume"),
]


@pytest.mark.parametrize(("argv", "names"), BAD)
def test_bad_input_is_one_line_and_exit_2(argv, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if argv == "bad_yaml":
        argv = ["--config", _bad_yaml(tmp_path)]
    elif argv == "unknown_key":
        argv = ["--config", _unknown_key(tmp_path)]
    with pytest.raises(SystemExit) as e:
        parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and names in err, err
    assert not (tmp_path / "runs").exists()


def test_bad_input_from_the_command_line_has_no_traceback(tmp_path):
    result = run_cli("--lr", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["train.py: error: argument --lr: must be > 0, got '0'"]
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_parser_declares_each_flag_once():
    names = [f.name for f in FLAGS]
    assert len(names) == len(set(names))
    build_parser()  # argparse itself refuses a duplicated option string


def test_readme_checklist_table_lists_every_flag():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| checklist item |") :]
    assert [f.option for f in FLAGS if f"`{f.option}" not in table] == []
