"""The regularizers that act on the loss: L1 on the weights and adversarial examples (GBC16 ch. 7).

Plain functions of the network (or of its loss) and plain values, so the LightningModule's training
step reads as the checklist's: loss, + L1, + the adversarial share.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .models import weights

SPARSE = 1e-3  # |w| below this counts as zero for val/sparsity


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
