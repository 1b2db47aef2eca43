"""The one place that builds a network: a registered trunk (networks.py){% if cookiecutter.backbones %} or a
torchvision/timm backbone,{% else %},{% endif %}
plus the input adaptation and one head per task (blocks.Network)."""

from functools import partial

from ..config.flags import FLAG_BY_NAME
from ..config.reach import BLOCK_FLAGS{% if cookiecutter.backbones %}, is_backbone{% endif %}
from ..errors import NetworkError
from .blocks import Block, Network, check_features


def network_from_hparams(hp, models: dict{% if cookiecutter.backbones %}, load_weights: bool = True{% endif %}) -> Network:
    """The network that a module's hyperparameters (the flags plus what the data determined) describe."""
    entry = models.get(hp["model"])
    knobs = [k for k in (entry.keywords or ()) if k in hp] if entry else []  # the builder's own flags too
    kw = {k: hp[k] for k in ("depth", "width", "rnn_cell", "input_dropout", "dropout", *BLOCK_FLAGS, *knobs)}
    kw.update(mean=hp["input_mean"], std=hp["input_std"], freeze_backbone=hp.get("freeze_backbone", False))
{%- if cookiecutter.backbones %}
    kw.update(pretrained=hp.get("pretrained", False), image_size=hp.get("image_size", 32), load_weights=load_weights)
{%- endif %}
    return create_network(hp["model"], tuple(hp["input_shape"]), list(hp["task_classes"]), models=models, **kw)


# create_network's keywords besides the block flags and the knobs: those every builder may take, then the adaptation's.
BUILDER_DEFAULTS = {"depth": 2, "width": 256, "rnn_cell": "gru", "dropout": 0.0}
ADAPTATION = {"input_dropout": 0.0, "mean": None, "std": None, "freeze_backbone": False}
{%- if cookiecutter.backbones %}
ADAPTATION |= {"pretrained": False, "image_size": 32, "load_weights": True}
{%- endif %}


def create_network(name: str, input_shape: tuple, classes_per_task: list[int], *, models: dict, **options) -> Network:
    """`models`: networks.MODELS; `options`: BUILDER_DEFAULTS, ADAPTATION, the block flags and any builder's knobs."""
    options = BUILDER_DEFAULTS | ADAPTATION | options
{%- if cookiecutter.backbones %}
    input_dropout, mean, std, freeze_backbone, pretrained, image_size, load_weights = map(options.pop, ADAPTATION)
{%- else %}
    input_dropout, mean, std, freeze_backbone = map(options.pop, ADAPTATION)
{%- endif %}
    dropout = options["dropout"]
{%- if cookiecutter.backbones %}
    if is_backbone(name):
        return _backbone_network(
            name,
            input_shape,
            classes_per_task,
            input_dropout,
            mean,
            std,
            pretrained,
            freeze_backbone,
            image_size,
            load_weights,
            dropout,
        )
{%- endif %}
    if name not in models:
        raise NetworkError(f"unknown model {name!r} (registered: {', '.join(models)})")
    entry = models[name]
    block = partial(Block, dropout=dropout, **{k: options.pop(k) for k in BLOCK_FLAGS if k in options})
    offered = dict(options, block=block)
    who = f"--model {name}: {entry.function.__module__}.{entry.function.__qualname__}"
    # An architecture knob not given: its flag's default.
    offered |= {k: FLAG_BY_NAME[k].default for k in entry.keywords or () if k not in offered and k in FLAG_BY_NAME}
    if unknown := [k for k in entry.keywords or () if k not in offered]:
        raise NetworkError(f"{who} takes {unknown[0]!r}, which is not a flag (declare it in config/flags.py)")
    kw = offered if entry.keywords is None else {k: offered[k] for k in entry.keywords}
    try:
        trunk, features = entry.function(tuple(input_shape), **kw)
    except NetworkError:  # a refusal of the input (one step for an rnn): one line
        raise
    except Exception as e:
        raise NetworkError(
            f"{who}(input_shape={tuple(input_shape)}) raised {type(e).__name__} while building the trunk: {e}"
        ) from e
    check_features(trunk, features, tuple(input_shape), who)
    # Dropout before the heads when the trunk does not already end in the project's dropout.
    head_dropout = 0.0 if entry.keywords is None or {"block", "dropout"} & set(entry.keywords) else dropout
    return Network(
        trunk, features, classes_per_task, input_dropout, mean, std, dropout=head_dropout, freeze_trunk=freeze_backbone
    )
{%- if cookiecutter.backbones %}


def _backbone_network(
    name, input_shape, classes_per_task, input_dropout, mean, std, pretrained, freeze, image_size, load_weights, dropout
) -> Network:
    from .backbones import create_backbone

    bb = create_backbone(name, pretrained, load_weights)
    size = max(image_size, bb.min_size) if min(input_shape[1:]) < bb.min_size else None
    trunk_input = (bb.channels, *((size, size) if size else input_shape[1:]))
    check_features(bb.trunk, bb.features, trunk_input, name)
    return Network(
        bb.trunk,
        bb.features,
        classes_per_task,
        input_dropout,
        bb.mean or mean,
        bb.std or std,
        channels=bb.channels,
        size=size,
        dropout=dropout,
        freeze_trunk=freeze,
    )
{%- endif %}
