"""The regularizers that act on the loss (GBC16 ch. 7): L1 on the weights and adversarial examples
(each task's own loss is its kind's, data/tasks.TASK_KINDS). Plain functions, so the module's training
step reads as the checklist's: the multitask loss Σ_t w_t L_t, + L1, + the adversarial share."""

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn

from ..models.blocks import weights

SPARSE = 1e-3  # |w| below this counts as zero for val/sparsity


@contextmanager
def frozen_batchnorm_statistics(net: nn.Module):
    """Batch norm normalizes with the minibatch's own μ and σ² (training mode) without updating its running averages:
    extra forward passes (adversarial examples) leave test-time statistics to clean data. Torch has no such switch."""
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
    """Share of entries with |w| < SPARSE: the sparsity that L1 regularization produces."""
    w = torch.cat([t.detach().flatten() for t in tensors])
    return (w.abs() < SPARSE).float().mean()


def adversarial_examples(
    loss: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor, method: str, eps: float, steps: int
) -> torch.Tensor:
    """Inputs within the L∞ ε-ball of x, in [0, 1], that raise `loss(x, y)`. fgsm: one step of ε·sign(∇x L). pgd: a
    random start in the ball, then `steps` steps of 2.5ε/steps (Madry et al.), each projected to the ball and [0, 1]."""
    if method == "pgd":
        alpha, delta = 2.5 * eps / steps, torch.empty_like(x).uniform_(-eps, eps)
    else:
        steps, alpha, delta = 1, eps, torch.zeros_like(x)
    for _ in range(steps):
        x_adv = (x + delta).clamp(0, 1).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss(x_adv, y), x_adv)
        delta = (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)
    return (x + delta).clamp(0, 1).detach()
