"""The resume policy: which flags must match the checkpoint (they shape the network, the data split or the optimizer
state that a checkpoint restores as it was), and the checkpoint's values as this run's defaults. Every other flag may
change on resume and is honoured: ε0 (the schedule is rescaled), the schedule and its length, epochs and steps,
regularization strengths, augmentation, logging and hardware."""

from pathlib import Path

from .flags import FLAG_BY_NAME
from .reach import knobs

# Flags that must match the checkpoint on --resume; architecture knobs of your own (keywords of your
# builders in networks.py) are added to these by fixed_on_resume().
RESUME_FIXED = (
    *("model", "depth", "width", "rnn_cell", "batchnorm", "bn_position", "activation", "maxout_pieces"),
    *("dataset", "image_size", "tasks", "val_fraction", "seed", "split_seed"),
    *("optimizer", "momentum", "nesterov", "beta2", "eps", "weight_decay", "batch_size", "accumulate_grad_batches"),
    *({% if cookiecutter.backbones %}"pretrained", {% endif %}"freeze_backbone", "backbone_lr_ratio"),
{%- if cookiecutter.tables %}
    *("target", "features", "feature_shape", "test_data"),
{%- endif %}
)


def fixed_on_resume() -> tuple[str, ...]:
    return (*RESUME_FIXED, *knobs())


def read_resume(resume: str, output_dir: str, flag_names) -> dict:
    """The checkpoint to resume (run directory, `last` or a file): its flag values (defaults), step, epoch, hparams."""
    from ..checkpoints import find_checkpoint, run_directory_of, training_state

    ckpt = find_checkpoint(resume, output_dir, prefer="last")
    saved = training_state(ckpt)
    run_dir = run_directory_of(ckpt)
    flags = {k: v for k, v in saved["hparams"].items() if k in flag_names}  # data-derived values are not flags
    flags.update(resume=None, run_name=run_dir.name, output_dir=str(run_dir.parent))
    return {"ckpt": ckpt, "run_dir": Path(run_dir), "flags": flags, **saved}


def incompatible(saved: dict, requested: dict) -> list[str]:
    """The flags whose requested value would not fit the checkpoint's network, data or optimizer state."""
    norm = lambda v: list(v) if isinstance(v, tuple) else v
    show = lambda v: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    option = lambda k: getattr(FLAG_BY_NAME.get(k), "option", "--" + k.replace("_", "-"))
    return [
        f"{option(k)} {show(requested[k])} (checkpoint: {show(saved[k])})"
        for k in fixed_on_resume()
        if k in saved and k in requested and norm(saved[k]) != norm(requested[k])
    ]
