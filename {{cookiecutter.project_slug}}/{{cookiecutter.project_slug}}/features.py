"""The optional features this project was baked with (the template's yes/no questions). Each attaches to the core
through its extension points (training/callbacks.py's CALLBACKS, training/fit.py's AFTER_RUN, training/loggers.py's
WANDB_LOGGER); the core never imports them. train.py calls attach() once, after parsing. A feature of your own that
hooks into every run goes here too: a module with an attach() function."""

from importlib import import_module
{%- if not (cookiecutter.sweeps_engine or cookiecutter.diagnostics or cookiecutter.fast_wandb) %}

FEATURES: tuple[str, ...] = ()
{%- else %}

FEATURES: tuple[str, ...] = (
{%- endif %}
{%- if cookiecutter.sweeps_engine %}
    "search.trial",  # a trial of `sweeps run` reports its metric to the study each epoch (Hyperband)
{%- endif %}
{%- if cookiecutter.diagnostics %}
    "analysis.run",  # every finished run ends with its diagnosis (diagnosis.json, at most 5 lines)
{%- endif %}
{%- if cookiecutter.fast_wandb %}
    "training.background",  # W&B logs on a thread of its own, off the training path
{%- endif %}
{%- if cookiecutter.sweeps_engine or cookiecutter.diagnostics or cookiecutter.fast_wandb %}
)
{%- endif %}


def attach() -> None:
    for name in FEATURES:
        import_module(f".{name}", __package__).attach()
