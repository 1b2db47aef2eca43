"""The names `--model` accepts and which flags reach each network, without torch. A builder keyword that is also a
flag reaches the trunk: a new architecture knob is a flag in flags.py and a keyword in networks.py, nothing else."""

import argparse
{%- if cookiecutter.backbones %}
import importlib.util
{%- endif %}
import sys

from .declared import PACKAGE, Declared, decorated
{%- if cookiecutter.backbones %}

BACKBONE_PREFIXES = ("torchvision:", "timm:")
{%- endif %}

# A builder's built-in keywords (networks.py documents them; any other must be a flag). `block` carries BLOCK_FLAGS.
BUILDER_KEYWORDS = ("depth", "width", "rnn_cell", "dropout", "block")
BLOCK_FLAGS = ("batchnorm", "bn_position", "bn_momentum", "bn_eps", "activation", "leaky_slope", "maxout_pieces")
# The flags that depend on the network; every other checklist flag applies to every network unchanged.
NETWORK_FLAGS = ("depth", "width", "rnn_cell", *BLOCK_FLAGS, "dropout", "init", "freeze_backbone", "backbone_lr_ratio")
{%- if cookiecutter.backbones %}
NETWORK_FLAGS += ("pretrained",)
{%- endif %}


def knobs() -> tuple[str, ...]:
    """Architecture knobs of your own: keywords of registered builders beyond the built-in ones (each a flag)."""
    return tuple(sorted({k for d in declared_models().values() for k in d.keywords or () if k not in BUILDER_KEYWORDS}))


def declared_models() -> dict[str, Declared]:
    """name → Declared, from networks.py's source plus anything already registered at run time."""
    found = dict(decorated("networks.py", "register_model"))
    if networks := sys.modules.get(f"{PACKAGE.name}.networks"):  # imported: its registry is the truth
        for name, entry in networks.MODELS.items():
            found[name] = Declared(name, entry.function.__name__, entry.keywords, entry.defaults)
    return found

{%- if cookiecutter.backbones %}


def is_backbone(name: str) -> bool:
    return name.startswith(BACKBONE_PREFIXES)
{%- endif %}


def model_type(text: str) -> str:
    """--model: a registered name{% if cookiecutter.backbones %}, torchvision:<name> or timm:<name> (the timm extra installed){% endif %}."""
    names = declared_models()
    if text in names:
        return text
{%- if cookiecutter.backbones %}
    prefix, _, rest = text.partition(":")
    if prefix in ("torchvision", "timm") and rest:
        if prefix == "timm" and importlib.util.find_spec("timm") is None:
            raise argparse.ArgumentTypeError(f"{text!r} needs timm, which is not installed: pip install -e '.[timm]'")
        return text  # whether torchvision/timm knows the name is checked once they are imported
    raise argparse.ArgumentTypeError(
        f"unknown model {text!r} (registered: {', '.join(names)}; or torchvision:<name>, timm:<name>)"
    )
{%- else %}
    raise argparse.ArgumentTypeError(f"unknown model {text!r} (registered: {', '.join(names)})")
{%- endif %}


def resolve_width(model: str, width: str | int, fallback: int = 256) -> str | int:
    """`auto` → the registered default (register_model(..., width=N)), else `fallback`{% if cookiecutter.backbones %}; backbones have
    no width, so `auto` stays{% endif %}."""
    if width != "auto"{% if cookiecutter.backbones %} or is_backbone(model){% endif %}:
        return width
    declared = declared_models().get(model)
    return int(declared.defaults.get("width", fallback)) if declared else fallback


def flag_reach(model: str{% if cookiecutter.backbones %}, pretrained: bool = False{% endif %}) -> tuple[dict[str, str], list[str]]:
    """(flags that apply → where, flags ignored) for this network, among NETWORK_FLAGS and the knobs."""
    network_flags = (*NETWORK_FLAGS, *knobs())
{%- if cookiecutter.backbones %}
    if is_backbone(model):
        applies = {"dropout": "before the heads"}
        applies["init"] = "heads only (loaded weights are kept)" if pretrained else "trunk and heads"
        applies["pretrained"] = "loads the backbone's weights"
        applies["freeze_backbone"] = applies["backbone_lr_ratio"] = "the backbone"
        return applies, [f for f in network_flags if f not in applies]
{%- endif %}
    declared = declared_models().get(model)
    keywords = set(BUILDER_KEYWORDS if declared is None or declared.keywords is None else declared.keywords)
    applies = {name: "trunk" for name in ("depth", "width", "rnn_cell", *knobs()) if name in keywords}
    if "block" in keywords:
        applies.update(dict.fromkeys(BLOCK_FLAGS, "trunk's blocks"))
    applies["dropout"] = "trunk's blocks" if "block" in keywords or "dropout" in keywords else "before the heads"
    applies |= {"init": "trunk and heads", "freeze_backbone": "the trunk", "backbone_lr_ratio": "the trunk"}
    return applies, [f for f in network_flags if f not in applies]
