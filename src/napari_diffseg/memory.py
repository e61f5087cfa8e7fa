"""Up-front memory estimates, so that a run too large for the machine is refused, not killed."""

from __future__ import annotations

import os

import torch

_BYTES = 4  # float32
_TORCH_OVERHEAD = 400 * 2**20


class InsufficientMemoryError(MemoryError):
    """Raised before a run that would not fit in the available memory."""


def parameter_count(channels: int, n_conv: int, in_channels: int) -> int:
    """Number of weights of the clustering network (convolutions and BatchNorm)."""
    first = in_channels * channels * 9 + channels
    hidden = (n_conv - 1) * (channels * channels * 9 + channels)
    last = channels * channels + channels
    return first + hidden + last + 4 * channels * (n_conv + 1)


def training_bytes(pixels: int, channels: int, n_conv: int, in_channels: int, optimizer_slots: int = 1) -> int:
    """Estimate peak bytes of one training iteration on ``pixels`` pixels.

    Autograd keeps about three (pixels x channels) float32 tensors per block, and the
    losses a handful more; the network's weights are held with their gradients and
    ``optimizer_slots`` optimiser tensors each (SGD momentum: 1, Adam: 2); the input and
    the fixed cost of torch are added.
    """
    per_map = pixels * channels * _BYTES
    weights = parameter_count(channels, n_conv, in_channels) * _BYTES * (2 + optimizer_slots)
    return per_map * (3 * (n_conv + 1) + 6) + weights + pixels * in_channels * _BYTES * 2 + _TORCH_OVERHEAD


def available_bytes(device: torch.device) -> int | None:
    """Memory currently available on ``device`` in bytes, or None when unknown."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """Raise :class:`InsufficientMemoryError` when ``needed`` bytes exceed what ``device`` has.

    Parameters
    ----------
    needed : int
        Estimated peak bytes.
    device : torch.device
        Where the work would run.
    what : str
        What needs the memory, for the message (e.g. "training on 4096x4096 pixels").
    """
    available = available_bytes(device)
    if available is not None and needed > 0.9 * available:
        raise InsufficientMemoryError(
            f"{what} needs about {needed / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB "
            f"is available on {device.type}; use preset='fast', fewer channels, or a smaller "
            "train_pixels"
        )
