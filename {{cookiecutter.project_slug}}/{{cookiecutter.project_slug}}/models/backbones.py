"""Backbones from torchvision (`--model torchvision:<name>`) and timm (`--model timm:<name>`, optional extra).

The backbone's classifier is removed: what remains is the trunk, and the project puts its own heads
on the trunk's features. Pretrained weights are read from the local cache only (TORCH_HOME for
torchvision, the Hugging Face cache for timm); nothing is ever downloaded here.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import BackboneError

# ImageNet statistics: what torchvision's and most of timm's pretrained weights expect.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    trunk: nn.Module  # [B, channels, H, W] → [B, features]
    features: int
    channels: int  # input channels it expects (grayscale images are repeated to this)
    min_size: int  # smaller images are resized up (to --image-size at least)
    mean: tuple[float, ...] | None  # its own normalization statistics when pretrained, else None
    std: tuple[float, ...] | None


def torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)  # classification models only


def weights_file(name: str) -> Path:
    """Where torchvision keeps the default weights of `name`: TORCH_HOME/hub/checkpoints/<file>."""
    from torchvision.models import get_model_weights

    url = get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _drop_classifier(model: nn.Module) -> int:
    """Replace the last Linear (the 1000-class ImageNet layer) by Identity; returns its in_features."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise BackboneError("has no final Linear classifier to replace by the project's heads")
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name)
    features = getattr(parent, child).in_features
    setattr(parent, child, nn.Identity())
    return features


def corrupt_weights(model: str, path: Path, e: Exception) -> BackboneError:
    from ..errors import one_line

    return BackboneError(
        f"--pretrained: the cached weights of {model} at {path} cannot be read ({type(e).__name__}: "
        f"{one_line(e)[:120]}); delete that file and fetch it again"
    )


class MainOutput(nn.Module):
    """A trunk whose forward may return a tuple (main output, auxiliary outputs): the main output
    [B, features]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def without_auxiliary_outputs(model: nn.Module) -> nn.Module:
    """torchvision's inception_v3 and googlenet train auxiliary classifiers and return them with the
    main output in training mode. The project's heads read the main output only: the auxiliary
    classifiers are removed (parameters that get no gradient would stall DDP) and the main output
    taken. Other models are returned as they are (their checkpoints keep their keys)."""
    if not getattr(model, "aux_logits", False):
        return model
    model.aux_logits = False
    for child, module in list(model.named_children()):
        if child.lower().startswith("aux") and isinstance(module, nn.Module):
            setattr(model, child, None)
    return MainOutput(model)


def torchvision_backbone(name: str, pretrained: bool, load_weights: bool) -> Backbone:
    import torchvision

    names = torchvision_names()
    if name not in names:
        from ..config.reach import declared_models

        raise BackboneError(
            f"--model torchvision:{name} is not one of torchvision's {len(names)} classification "
            "models (e.g. resnet18, mobilenet_v3_small, efficientnet_b0, convnext_tiny, vit_b_16; "
            f"registered networks: {', '.join(declared_models())})"
        )
    weights = torchvision.models.get_model_weights(name).DEFAULT
    if pretrained and load_weights:
        path = weights_file(name)
        if not path.is_file():  # never download: a run must not depend on the network
            raise BackboneError(
                f"--pretrained: torchvision:{name} weights not found at {path}; fetch them once on a machine "
                f'with network: TORCH_HOME={path.parents[2]} python -c "import torchvision; '
                f"torchvision.models.get_model('{name}', weights='DEFAULT')\" (or copy {weights.url} there)"
            )
        try:
            model = torchvision.models.get_model(name, weights=weights)
        except Exception as e:  # noqa: BLE001 - a damaged file raises whatever its reader meets
            raise corrupt_weights(f"torchvision:{name}", path, e) from None
    else:
        model = torchvision.models.get_model(name, weights=None)
    try:
        features = _drop_classifier(model)
    except BackboneError as e:  # squeezenet's classifier is a convolution
        raise BackboneError(f"--model torchvision:{name} {e}") from None
    model = without_auxiliary_outputs(model)
    min_size = max(weights.meta.get("min_size", (1, 1)))
    transform = weights.transforms()
    mean, std = (tuple(transform.mean), tuple(transform.std)) if pretrained else (None, None)
    return Backbone(model, features, 3, min_size, mean, std)


def timm_backbone(name: str, pretrained: bool, load_weights: bool) -> Backbone:
    if importlib.util.find_spec("timm") is None:
        raise BackboneError(f"timm:{name} needs timm, which is not installed: pip install -e '.[timm]'")
    import timm

    try:
        model = timm.create_model(name, pretrained=False, num_classes=0)  # num_classes=0: features only
    except RuntimeError as e:  # timm: "Unknown model (name)"
        raise BackboneError(f"--model timm:{name}: {e} (see timm.list_models())") from None
    cfg = model.pretrained_cfg
    if pretrained and load_weights:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.get("hf_hub_id")
        cached = None
        for file in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(repo, file) if repo else None
            if isinstance(found, str):
                cached = found
                break
        if cached is None:
            raise BackboneError(
                f"--pretrained: timm:{name} weights ({repo or 'no Hugging Face id'}) are not in the Hugging Face "
                f'cache (HF_HOME); fetch them once on a machine with network: python -c "import timm; '
                f"timm.create_model('{name}', pretrained=True)\""
            )
        try:
            model = timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": cached})
        except Exception as e:  # noqa: BLE001 - a damaged file raises whatever its reader meets
            raise corrupt_weights(f"timm:{name}", Path(cached), e) from None
    mean, std = (
        (tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))) if pretrained else (None, None)
    )
    min_size = max(cfg.get("min_input_size", (3, 1, 1))[1:])
    return Backbone(model, model.num_features, cfg.get("input_size", (3,))[0], min_size, mean, std)


def create_backbone(model: str, pretrained: bool, load_weights: bool = True) -> Backbone:
    """`torchvision:<name>` or `timm:<name>` → its trunk without the classifier, and what its input needs.
    `load_weights` False: the pretrained architecture and statistics without reading the weights (a
    checkpoint is about to replace them)."""
    source, _, name = model.partition(":")
    return (torchvision_backbone if source == "torchvision" else timm_backbone)(name, pretrained, load_weights)
