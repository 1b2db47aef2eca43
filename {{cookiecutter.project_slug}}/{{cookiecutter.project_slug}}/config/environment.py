"""Probes of the environment, known before torch is imported: the process's rank, W&B's mode and
credentials, the optional packages that flags need."""

import importlib.util
import netrc
import os
import socket
from urllib.parse import urlparse

RUN_NAME_ENV = "CHECKLIST_RUN_NAME"  # so DDP ranks started later agree on rank 0's run name
WANDB_MODES = ("online", "offline", "disabled", "dryrun", "run", "")


def is_rank_zero() -> bool:
    """Rank 0 of the job, from the variables that Lightning's launcher, torchrun and SLURM set."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(urlparse(_base_url()).hostname) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _base_url() -> str:
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")


def wandb_mode_env_problem() -> str | None:
    """What is wrong with the WANDB_MODE environment variable, if anything."""
    env = os.environ.get("WANDB_MODE")
    if env is not None and env.lower() not in WANDB_MODES:
        return f"environment variable WANDB_MODE={env!r} is not a W&B mode (online, offline, disabled)"
    return None


def resolve_mode(mode: str) -> str:
    """auto → WANDB_MODE if set; else online with credentials and a reachable server; else offline."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun" or not has_credentials():
        return "offline"
    url = urlparse(_base_url())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=3.0).close()
    except OSError:
        print(f"W&B: {_base_url()} does not answer; logging offline (upload later with `wandb sync`)")
        return "offline"
    return "online"


def missing(module: str) -> bool:
    """True when the optional package `module` (an extra of the project) is not installed."""
    return importlib.util.find_spec(module) is None
