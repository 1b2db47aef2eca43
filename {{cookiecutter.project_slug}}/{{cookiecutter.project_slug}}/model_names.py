"""The names `--model` accepts and which checklist flags reach each network, known without importing torch.

networks.py is read as source (`ast`), not imported: its `@register_model("name", ...)` decorators give
the names, the per-model default width and the keywords each builder takes, so `--help` and bad input
answer in well under a second. Networks registered from code that is already imported count too.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

NETWORKS_FILE = Path(__file__).with_name("networks.py")
BACKBONE_PREFIXES = ("torchvision:", "timm:")

# The keywords a builder may take (networks.py documents them) and the flags each one carries.
BUILDER_KEYWORDS = ("depth", "width", "rnn_cell", "dropout", "block")
BLOCK_FLAGS = ("batchnorm", "bn_position", "bn_momentum", "bn_eps", "activation", "leaky_slope", "maxout_pieces")
# The flags that depend on the network; every other checklist flag applies to every network unchanged.
NETWORK_FLAGS = (
    "depth",
    "width",
    "rnn_cell",
    *BLOCK_FLAGS,
    "dropout",
    "init",
    "pretrained",
    "freeze_backbone",
    "backbone_lr_ratio",
)


@dataclass(frozen=True)
class DeclaredModel:
    """A registered network as declared: its builder's keywords (None: it takes **kwargs, so all)."""

    name: str
    function: str
    keywords: tuple[str, ...] | None
    defaults: dict = field(default_factory=dict)  # register_model's keyword values, e.g. width=32


def _declared_in_source(path: Path) -> dict[str, DeclaredModel]:
    tree = ast.parse(path.read_text(), str(path))
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "id", None) == "register_model"
                and deco.args
                and isinstance(deco.args[0], ast.Constant)
            ):
                continue
            args = node.args
            keywords = None if args.kwarg else tuple(a.arg for a in args.args[1:] + args.kwonlyargs)
            defaults = {k.arg: k.value.value for k in deco.keywords if isinstance(k.value, ast.Constant)}
            found[deco.args[0].value] = DeclaredModel(deco.args[0].value, node.name, keywords, defaults)
    return found


def declared_models() -> dict[str, DeclaredModel]:
    """name → DeclaredModel, from networks.py's source plus anything already registered at run time."""
    found = _declared_in_source(NETWORKS_FILE)
    networks = sys.modules.get(__package__ + ".networks")
    if networks is not None:  # imported: its registry is the truth (it may hold names added at run time)
        for name, entry in networks.MODELS.items():
            found[name] = DeclaredModel(name, entry.function.__name__, entry.keywords, entry.defaults)
    return found


def is_backbone(name: str) -> bool:
    return name.startswith(BACKBONE_PREFIXES)


def model_type(text: str) -> str:
    """--model: a registered name, torchvision:<name> or timm:<name> (the timm extra installed)."""
    names = declared_models()
    if text in names:
        return text
    prefix, _, rest = text.partition(":")
    if prefix in ("torchvision", "timm") and rest:
        if prefix == "timm" and importlib.util.find_spec("timm") is None:
            raise argparse.ArgumentTypeError(f"{text!r} needs timm, which is not installed: pip install -e '.[timm]'")
        return text  # whether torchvision/timm knows the name is checked once they are imported
    raise argparse.ArgumentTypeError(
        f"unknown model {text!r} (registered: {', '.join(names)}; or torchvision:<name>, timm:<name>)"
    )


def resolve_width(model: str, width: str | int, fallback: int = 256) -> str | int:
    """`auto` → the registered default (register_model(..., width=N)), else `fallback`; backbones have
    no width, so `auto` stays."""
    if width != "auto" or is_backbone(model):
        return width
    declared = declared_models().get(model)
    return int(declared.defaults.get("width", fallback)) if declared else fallback


def flag_reach(model: str, pretrained: bool) -> tuple[dict[str, str], list[str]]:
    """(flags that apply → where, flags ignored) for this network, among NETWORK_FLAGS."""
    applies: dict[str, str] = {}
    if is_backbone(model):
        applies["dropout"] = "before the heads"
        applies["init"] = "heads only (loaded weights are kept)" if pretrained else "trunk and heads"
        applies["pretrained"] = "loads the backbone's weights"
        applies["freeze_backbone"] = applies["backbone_lr_ratio"] = "the backbone"
    else:
        declared = declared_models().get(model)
        keywords = set(BUILDER_KEYWORDS if declared is None or declared.keywords is None else declared.keywords)
        for name in ("depth", "width", "rnn_cell"):
            if name in keywords:
                applies[name] = "trunk"
        if "block" in keywords:
            applies.update(dict.fromkeys(BLOCK_FLAGS, "trunk's blocks"))
        applies["dropout"] = "trunk's blocks" if "block" in keywords or "dropout" in keywords else "before the heads"
        applies["init"] = "trunk and heads"
        applies["freeze_backbone"] = applies["backbone_lr_ratio"] = "the trunk"
    return applies, [f for f in NETWORK_FLAGS if f not in applies]
