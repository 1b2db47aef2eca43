"""Weights & Biases: choosing the mode without hanging, creating the logger, resuming the run id."""

from __future__ import annotations

import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlparse


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(urlparse(_base_url()).hostname) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _base_url() -> str:
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(mode: str) -> str:
    """auto → WANDB_MODE if set; else online with credentials and a reachable server; else offline."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun":
        return "offline"
    if not has_credentials():
        return "offline"
    if not _reachable(_base_url()):
        print(f"W&B: {_base_url()} does not answer; logging offline (upload later with `wandb sync`)")
        return "offline"
    return "online"


def previous_run_id(run_dir: Path) -> str | None:
    """The id of the W&B run this run directory logged to (folders end in -<id>)."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None


def create_logger(a, run_dir: Path, mode: str, job_type: str = "train"):
    """Lightning's WandbLogger from the flags; resuming a run directory continues its W&B run."""
    from .wandb_sweep import SweepWandbLogger, normalize_sweep_params

    run_id = previous_run_id(run_dir) if a.resume_ckpt else None
    log_model = a.wandb_log_model and mode == "online"
    if a.wandb_log_model and mode != "online":
        print(f"W&B is {mode}: checkpoints are not uploaded as artifacts; they stay in {run_dir / 'checkpoints'}")
    logger = SweepWandbLogger(
        sweep_keys=normalize_sweep_params(),  # under a W&B agent: underscore keys, no "locked" lines
        name=a.run_name, project=a.wandb_project, entity=a.wandb_entity or None, group=a.wandb_group or None,
        tags=a.wandb_tags or None, save_dir=str(run_dir), mode=mode, id=run_id,
        resume="allow" if run_id else None, log_model=log_model, job_type=job_type,
    )
    if mode == "online" and a.wandb_mode == "auto":
        try:
            logger.experiment  # noqa: B018 - starts the run now, so a refusal is caught here
        except Exception as e:  # noqa: BLE001 - wrong entity, revoked key, server error: never block training
            import wandb

            wandb.finish()
            print(f"W&B refused the run ({str(e).splitlines()[0][:200]}); logging offline instead")
            return create_logger(a, run_dir, "offline", job_type)
    return logger
