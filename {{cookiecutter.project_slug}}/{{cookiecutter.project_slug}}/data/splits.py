"""The split of a dataset into training, validation and test examples, and the statistics of the
training split (label frequencies for the output-bias prior), shared by the in-memory DataModules{% if cookiecutter.streaming %} and
`prepare` (so both paths train on the same examples){% endif %}."""

import torch

TEST_FRACTION = 0.2  # held out (seeded) when a dataset has no official test split


def split_indices(n: int, has_test: bool, val_fraction: float, seed: int, test_fraction: float = TEST_FRACTION):
    """(train, val, test) indices: a seeded test share if the data has no test split (else None), then a val share."""
    gen = torch.Generator().manual_seed(seed)
    rest, test = torch.arange(n), None
    if not has_test:
        order = torch.randperm(n, generator=gen)
        n_test = int(round(test_fraction * n))
        test, rest = order[:n_test], order[n_test:]
    order = torch.randperm(len(rest), generator=gen)
    n_val = int(round(val_fraction * len(rest)))
    return rest[order[n_val:]], rest[order[:n_val]], test


def label_frequencies(y: torch.Tensor, classes: list[int]) -> list[list[float]]:
    """Per task (column of y [N, T]), the frequency of each of its classes among the N examples."""
    counts = [torch.bincount(y[:, t], minlength=c).double() for t, c in enumerate(classes)]
    return [(n / n.sum()).tolist() for n in counts]


def channel_statistics(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of x [N, C, H, W] (uint8 as /255), in chunks: as float it is 4× larger."""
    sums = torch.zeros(2, x.shape[1], dtype=torch.float64)  # Σx and Σx² per channel
    for chunk in x.split(4096):
        chunk = chunk.double() / 255 if chunk.dtype == torch.uint8 else chunk.double()
        sums += torch.stack([chunk.sum(dim=(0, 2, 3)), chunk.pow(2).sum(dim=(0, 2, 3))])
    mean, squares = sums / (len(x) * x.shape[2] * x.shape[3])
    return mean.tolist(), (squares - mean**2).clamp_min(1e-12).sqrt().tolist()
