"""The objective: THE place to add a loss (TASK_LOSSES: one entry per kind of task head), and the
regularizers that act on the loss, L1 on the weights and adversarial examples (GBC16 ch. 7).

Plain functions of the network (or of its loss) and plain values, so the LightningModule's training
step reads as the checklist's: the multitask loss Σ_t w_t L_t, + L1, + the adversarial share.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..models.blocks import weights

SPARSE = 1e-3  # |w| below this counts as zero for val/sparsity


def classification_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over C logits, or binary cross-entropy on one logit (σ(logit) = P(label = 1));
    returns (loss, the logits the metrics read: [B, C], or [B] for a binary head)."""
    if logits.shape[1] == 1:
        logits = logits.squeeze(1)
        return F.binary_cross_entropy_with_logits(logits, target.float()), logits
    return F.cross_entropy(logits, target), logits


def regression_loss(
    outputs: torch.Tensor, target: torch.Tensor, loss: str = "mse", delta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """--regression-loss on one output per example and the standardized target (y − μ) / σ: mse,
    huber (--huber-delta δ, in standard deviations) or l1; returns (loss, the outputs [B])."""
    z = outputs.squeeze(1)
    target = target.to(z.dtype)
    if loss == "huber":
        return F.huber_loss(z, target, delta=delta), z
    if loss == "l1":
        return F.l1_loss(z, target), z
    return F.mse_loss(z, target), z


# kind of task (data/tasks.KINDS) → its loss (outputs [B, outputs], targets [B], **the options of its
# flags) → (loss, outputs for the metrics). Classification targets arrive as class indices.
TASK_LOSSES: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "classification": classification_loss,
    "regression": regression_loss,
}


def task_losses(
    outputs: list[torch.Tensor], y: torch.Tensor, kinds: list[str] | None = None, options: dict | None = None
):
    """Per task t: TASK_LOSSES[kind_t](outputs[t], y[:, t], **options[kind_t]); returns (losses, outputs
    for the metrics). `options`: per kind, the keywords its loss takes (regression: loss, delta)."""
    kinds = kinds or ["classification"] * len(outputs)
    options = options or {}
    pairs = [
        TASK_LOSSES[k](logits, y[:, t] if k != "classification" else y[:, t].long(), **options.get(k, {}))
        for t, (logits, k) in enumerate(zip(outputs, kinds))
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@contextmanager
def frozen_batchnorm_statistics(net: nn.Module):
    """Batch norm keeps normalizing with the minibatch's own μ and σ² (training mode) but does not
    update its running averages: extra forward passes (adversarial examples) leave the test-time
    statistics to the clean data. Hand-written: torch has no switch for "train, but don't track"."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False  # with running buffers still set, forward uses batch statistics
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


def l1_penalty(net: nn.Module, lam: float) -> torch.Tensor:
    """λ·Σ|w| over the weights (not biases, not normalization parameters)."""
    return lam * sum(w.abs().sum() for w in weights(net))


def sparsity(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Share of entries with |w| < 1e-3: the sparsity that L1 regularization produces."""
    w = torch.cat([t.detach().flatten() for t in tensors])
    return (w.abs() < SPARSE).float().mean()


def adversarial_examples(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    method: str,
    eps: float,
    steps: int,
) -> torch.Tensor:
    """Inputs within the L∞ ε-ball of x, in the valid range [0, 1], that raise `loss(x, y)`.

    fgsm: one step of ε·sign(∇x L). pgd: a random start in the ball, then `steps` steps of
    2.5ε/steps (Madry et al.), each projected back into the ball and the valid range."""
    if method == "pgd":
        steps, alpha = steps, 2.5 * eps / steps
        delta = torch.empty_like(x).uniform_(-eps, eps)
    else:
        steps, alpha, delta = 1, eps, torch.zeros_like(x)
    for _ in range(steps):
        x_adv = (x + delta).clamp(0, 1).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss(x_adv, y), x_adv)
        delta = (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)
    return (x + delta).clamp(0, 1).detach()
