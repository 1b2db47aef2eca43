"""Backbones on odd ground: damaged cached pretrained weights (torchvision and timm) are one line
naming the file and saying to delete it; torchvision models that return auxiliary outputs in
training mode (inception_v3, googlenet) train on their main output; a backbone on a table is refused
when parsing."""

from __future__ import annotations

import zipfile

import pytest
import torch

from {{cookiecutter.project_slug}}.errors import BackboneError
from {{cookiecutter.project_slug}}.models.backbones import create_backbone, weights_file

DAMAGED = {
    "empty": b"",
    "text": b"<html>proxy login</html>",
    "random bytes": bytes(range(256)) * 40,
    "a truncated zip": None,  # filled in below: a real zip cut in half
}


def damaged(kind: str) -> bytes:
    if DAMAGED[kind] is not None:
        return DAMAGED[kind]
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("archive/data.pkl", b"x" * 4000)
    return buffer.getvalue()[:2000]


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_torchvision_weights_name_the_file(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    path = weights_file("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(damaged(kind))
    with pytest.raises(BackboneError) as e:
        create_backbone("torchvision:resnet18", pretrained=True)
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "delete" in message


@pytest.mark.slow
@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_timm_weights_name_the_file(tmp_path, monkeypatch, kind):
    pytest.importorskip("timm")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    repo = tmp_path / "hf" / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(damaged(kind))
    with pytest.raises(BackboneError) as e:
        create_backbone("timm:resnet18", pretrained=True)
    message = str(e.value)
    assert "\n" not in message and "model.safetensors" in message and "delete" in message


@pytest.mark.slow
@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_auxiliary_outputs_do_not_reach_the_heads(name):
    backbone = create_backbone(f"torchvision:{name}", pretrained=False)
    trunk = backbone.trunk.train()
    size = backbone.min_size
    out = trunk(torch.rand(2, 3, size, size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, backbone.features)
    out.sum().backward()
    # No parameter is left without a gradient (DDP would wait for it): the auxiliary heads are gone.
    assert all(p.grad is not None for p in trunk.parameters() if p.requires_grad)
