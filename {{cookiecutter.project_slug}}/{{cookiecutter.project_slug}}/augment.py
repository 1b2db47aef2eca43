"""Data augmentation (a kind of regularization, GBC16): translate, scale, rotate, mirror, skew,
blur and change contrast, with torchvision's v2 transforms on image tensors in [0, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torchvision.transforms import v2


def create_augmentation(image_size: tuple[int, int], *, translate: float = 0.0, scale: float = 0.0,
                        rotate: float = 0.0, mirror: float = 0.0, skew: float = 0.0, blur: float = 0.0,
                        contrast: float = 0.0) -> v2.Compose | None:
    """One transform of an image [C, H, W]; each operation is off at 0. None when all are off."""
    ops = []
    if translate or scale or rotate or skew:
        ops.append(v2.RandomAffine(
            degrees=rotate,  # uniform in [-rotate, +rotate]
            translate=(translate, translate) if translate else None,  # fraction of width/height
            scale=(1 - scale, 1 + scale) if scale else None,
            shear=skew or None,  # x-shear uniform in [-skew, +skew] degrees
        ))
    if mirror:
        ops.append(v2.RandomHorizontalFlip(p=mirror))
    if blur:
        # Kernel covering ±3σ, odd, and small enough for the image's reflect padding.
        size = min(2 * math.ceil(3 * blur) + 1, 2 * (min(image_size) - 1) - 1)
        ops.append(v2.GaussianBlur(kernel_size=max(3, size | 1), sigma=(0.01, blur)))
    if contrast:
        ops.append(v2.ColorJitter(contrast=contrast))  # factor uniform in [1 - c, 1 + c]
    return v2.Compose(ops) if ops else None


def preview(images: torch.Tensor, augment, path: Path, copies: int = 7, upscale: int = 4) -> Path:
    """A grid: each row one training image, then `copies` augmented versions of it."""
    from torchvision.utils import save_image

    with torch.random.fork_rng():  # leave the training run's random stream untouched
        torch.manual_seed(0)
        rows = [torch.stack([img] + [augment(img) for _ in range(copies)]) for img in images]
    grid = torch.cat(rows).clamp(0, 1)  # [rows·(copies+1), C, H, W]
    if upscale > 1:
        grid = torch.nn.functional.interpolate(grid, scale_factor=upscale, mode="nearest")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path, nrow=copies + 1, padding=2, pad_value=0.5)
    return path
