"""The per-image CNN of differentiable feature clustering."""

from __future__ import annotations

import copy

import torch
from torch import nn


def build_network(in_channels: int, channels: int, n_conv: int, padding: str = "zeros") -> nn.Sequential:
    """Build the clustering network of Kim, Kanezaki & Tanaka (2020).

    ``conv3x3(C -> q) -> ReLU -> BN``, then ``n_conv - 1`` times ``conv3x3(q -> q) -> ReLU -> BN``,
    then ``conv1x1(q -> q) -> BN``. The final BatchNorm gives every channel zero mean and
    unit variance, so that the argmax over channels compares them fairly.

    Parameters
    ----------
    in_channels : int
        Number of image channels ``C``.
    channels : int
        Number of feature channels ``q``.
    n_conv : int
        Number of 3x3 blocks.
    padding : {"zeros", "replicate", "reflect"}
        Border mode of the 3x3 convolutions (the reference pads with zeros).

    Returns
    -------
    torch.nn.Sequential
        The network with PyTorch's default initialisation (as the reference).
    """
    layers: list[nn.Module] = []
    width = in_channels
    for _ in range(n_conv):
        layers += [
            nn.Conv2d(width, channels, 3, padding=1, padding_mode=padding),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(channels),
        ]
        width = channels
    layers += [nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


def receptive_radius(n_conv: int) -> int:
    """Pixels of context on each side that one output pixel depends on."""
    return n_conv


@torch.no_grad()
def recalibrate_batchnorm(network: nn.Sequential, batch: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics to the exact statistics of ``batch``.

    After this, eval mode on ``batch`` reproduces the train-mode forward pass, and other
    images are normalised with the statistics of the training image.
    """
    norms = [m for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    was_training = network.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch gives its exact statistics
    network.train()
    network(batch)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    network.train(was_training)


@torch.no_grad()
def inference_network(network: nn.Sequential) -> nn.Sequential:
    """An eval-mode copy of ``network`` with its BatchNorms folded into the convolutions.

    A BatchNorm in eval mode is a per-channel affine map ``a * z + b``. The final one follows
    a convolution and folds into its output; one that precedes a convolution folds into its
    input weights and bias, which is exact for 1x1 convolutions and for 3x3 convolutions that
    pad by replicating or reflecting (zero padding would pad ``b`` with zeros, so those
    BatchNorms are kept). The copy gives the same responses as ``network.eval()`` up to
    rounding, with fewer passes over memory.

    Parameters
    ----------
    network : torch.nn.Sequential
        A network from :func:`build_network` (left unchanged).

    Returns
    -------
    torch.nn.Sequential
        The folded copy, in eval mode, on the same device.
    """
    layers: list[nn.Module] = []
    pending: nn.BatchNorm2d | None = None  # a BatchNorm waiting to fold into the next convolution
    for module in network:
        if isinstance(module, nn.BatchNorm2d):
            if layers and isinstance(layers[-1], nn.Conv2d):
                scale, shift = _batchnorm_affine(module)
                layers[-1].weight.mul_(scale[:, None, None, None])
                layers[-1].bias.mul_(scale).add_(shift)
            else:
                pending = module
            continue
        module = copy.deepcopy(module)
        if pending is not None:
            if isinstance(module, nn.Conv2d) and (module.kernel_size == (1, 1) or module.padding_mode != "zeros"):
                scale, shift = _batchnorm_affine(pending)
                module.bias.add_(module.weight.sum((2, 3)) @ shift)
                module.weight.mul_(scale[None, :, None, None])
            else:
                layers.append(copy.deepcopy(pending))
            pending = None
        layers.append(module)
    if pending is not None:
        layers.append(copy.deepcopy(pending))
    return nn.Sequential(*layers).eval()


def _batchnorm_affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, b)`` with ``norm(z) == a * z + b`` per channel in eval mode."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale
