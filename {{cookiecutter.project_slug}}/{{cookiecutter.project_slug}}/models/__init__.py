"""The parts of every network: blocks{% if cookiecutter.backbones %}, backbones{% endif %}, initialization, and the assembly of a registered
trunk (networks.py) with its heads (build.py)."""
