"""Data augmentation (a regularizer, GBC16) on image batches in [0, 1], a fresh draw per image: torchvision v2's
operations (RandomAffine, RandomHorizontalFlip, GaussianBlur, ColorJitter's contrast; tested against v2.functional)
batched by hand: a v2 transform draws once per call; per image, 123 ms for 64 8×8 digits (80× a step), this ~1 ms."""

import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F


class BatchAugment(torch.nn.Module):
    """x [B, C, H, W] in [0, 1] → augmented x; each operation is off at 0."""

    def __init__(self, size, *, translate=0.0, scale=0.0, rotate=0.0, mirror=0.0, skew=0.0, blur=0.0, contrast=0.0):
        super().__init__()
        self.translate, self.scale, self.rotate, self.mirror = translate, scale, rotate, mirror
        self.skew, self.blur, self.contrast = skew, blur, contrast
        size = min(2 * math.ceil(3 * blur) + 1, 2 * (min(size) - 1) - 1)  # ±3σ, within reflect padding
        self.kernel_size = max(3, size | 1)  # odd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, device = len(x), x.device
        u = lambda lo, hi: torch.rand(b, device=device) * (hi - lo) + lo  # one uniform draw per image
        if self.translate or self.scale or self.rotate or self.skew or self.mirror:
            t, s, angle = self.translate, self.scale, u(-self.rotate, self.rotate)
            shift, zoom = torch.stack([u(-t, t), u(-t, t)], 1), u(1 - s, 1 + s)
            x = affine(x, angle, shift, zoom, u(-self.skew, self.skew), torch.rand(b, device=device) < self.mirror)
        if self.blur:
            x = gaussian_blur(x, self.kernel_size, u(0.01, self.blur))
        if self.contrast:
            x = adjust_contrast(x, u(max(0.0, 1 - self.contrast), 1 + self.contrast))
        return x


def affine(x, angle, translate, scale, shear, mirror) -> torch.Tensor:
    """Per image (tensors [B], translate [B, 2]): rotate by `angle` degrees (counter-clockwise, as v2.functional.rotate;
    its affine() counts clockwise), shift by `translate` × (W, H), zoom by `scale`, x-shear by `shear` degrees, then
    mirror where `mirror`; zero fill, bilinear. Output pixel p (pixel-centred coordinates, origin at the image centre,
    y down) samples the input at M⁻¹(p − t), M = flip · R(angle) · shear · scale, as torchvision's affine does."""
    b, _, h, w = x.shape
    rot, sx = torch.deg2rad(angle), torch.deg2rad(shear)
    cos, sin = torch.cos(rot), torch.sin(rot)
    # y points down, so a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]].
    m = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # [B, 2, 2]
    one, zero = torch.ones_like(sx), torch.zeros_like(sx)
    shear_m = torch.stack([one, -torch.tan(sx), zero, one], -1).view(b, 2, 2)  # [[1, -tan], [0, 1]]
    m = m @ shear_m * scale.view(b, 1, 1)
    flip = torch.where(mirror, -1.0, 1.0).to(x.device)
    mirror_x = torch.stack([flip, torch.ones_like(flip)], -1)  # [B, 2]: mirroring comes last,
    m = m * mirror_x.view(b, 2, 1)  # so it flips the x row of M and the x shift
    shift = translate.float() * torch.tensor([w, h], dtype=torch.float32, device=x.device) * mirror_x  # pixels
    inverse = torch.linalg.inv(m)
    # affine_grid works in [-1, 1] per axis: pixel coordinates scale by 2/W and 2/H.
    to_norm = torch.diag(torch.tensor([2.0 / w, 2.0 / h], device=x.device))
    from_norm = torch.diag(torch.tensor([w / 2.0, h / 2.0], device=x.device))
    theta = torch.cat([to_norm @ inverse @ from_norm, -(to_norm @ inverse @ shift.unsqueeze(-1))], -1)  # [B, 2, 3]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def gaussian_blur(x: torch.Tensor, size: int, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one σ per image (grouped convolutions), reflect padding. The 1-D
    kernels are torchvision's: softmax(−(x/σ)²) on linspace(±(size−1)/(2√2))."""
    b, c, h, w = x.shape
    lim = (size - 1) / (2.0 * math.sqrt(2.0))
    pos = torch.linspace(-lim, lim, size, device=sigma.device)
    k = torch.softmax(-((pos.view(1, -1) / sigma.view(-1, 1)) ** 2), dim=1).repeat_interleave(c, 0)  # [B·C, size]
    flat = F.pad(x.reshape(1, b * c, h, w), (size // 2,) * 4, mode="reflect")
    flat = F.conv2d(flat, k.view(b * c, 1, 1, size), groups=b * c)  # along x
    flat = F.conv2d(flat, k.view(b * c, 1, size, 1), groups=b * c)  # along y
    return flat.view(b, c, h, w)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with the mean of its grayscale version: factor·x + (1 − factor)·mean."""
    rgb = torch.tensor([0.2989, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)  # torchvision's grayscale weights
    gray = x if x.shape[1] == 1 else (x * rgb).sum(1, True)
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * gray.mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)


@dataclass(frozen=True)
class AugmentOptions:  # the --aug-* flags (0: off)
    aug_translate: float
    aug_scale: float
    aug_rotate: float
    aug_mirror: float
    aug_skew: float
    aug_blur: float
    aug_contrast: float

    def create(self, image_shape: tuple[int, int]) -> BatchAugment | None:
        """The augmentation for images of `image_shape` (H, W), or None when every magnitude is 0."""
        magnitudes = {f.name.removeprefix("aug_"): getattr(self, f.name) for f in fields(self)}
        return create_augmentation(image_shape, **magnitudes)


def create_augmentation(image_size: tuple[int, int], **magnitudes: float) -> BatchAugment | None:
    return BatchAugment(image_size, **magnitudes) if any(magnitudes.values()) else None


def preview(images: torch.Tensor, augment: BatchAugment, path: Path, copies: int = 7, upscale: int = 4) -> Path:
    """A grid: each row one training image, then `copies` augmented versions of it."""
    from torchvision.utils import save_image

    with torch.random.fork_rng():  # leave the training run's random stream untouched
        torch.manual_seed(0)
        copies_ = augment(images.repeat_interleave(copies, 0)).view(len(images), copies, *images.shape[1:])
    grid = torch.cat([images.unsqueeze(1), copies_], 1).flatten(0, 1).clamp(0, 1)  # [rows·(copies+1), C, H, W]
    grid = F.interpolate(grid, scale_factor=upscale, mode="nearest")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path, nrow=copies + 1, padding=2, pad_value=0.5)
    return path
