"""The parts of every network: blocks, backbones, initialization, and the assembly of a registered
trunk (networks.py) with its heads (build.py)."""
