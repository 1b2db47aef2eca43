"""Backbones asked of data they cannot take (a table), refused at parse time (no torch: the quick suite
runs these on every Python the template offers)."""

from __future__ import annotations

import pytest

from {{cookiecutter.project_slug}}.config.parser import parse_args


@pytest.mark.cli
@pytest.mark.parametrize("model", ["torchvision:resnet18", "timm:resnet18", "torchvision:googlenet"])
def test_a_backbone_on_a_table_is_refused_when_parsing(tmp_path, capsys, model):
    table = tmp_path / "t.csv"
    table.write_text("a,y\n1,0\n2,1\n")
    with pytest.raises(SystemExit) as e:
        parse_args(["--dataset", "csv", "--data-dir", str(table), "--target", "y", "--model", model])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--model" in err and model in err, err
