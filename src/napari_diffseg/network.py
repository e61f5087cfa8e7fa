"""The per-image CNN of differentiable feature clustering."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

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


PREDICT_TILE = 1024  # side of the tiles inference runs on


@contextlib.contextmanager
def batchnorm_momentum(network: nn.Module, momentum: float | None) -> Iterator[list[nn.BatchNorm2d]]:
    """Set every BatchNorm's momentum for the body, restoring it afterwards; yields the BatchNorms."""
    norms = [m for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = momentum
    try:
        yield norms
    finally:
        for m, value in zip(norms, saved, strict=True):
            m.momentum = value


@torch.no_grad()
def recalibrate_batchnorm(network: nn.Sequential, batch: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics to the exact statistics of ``batch``.

    After this, eval mode on ``batch`` reproduces the train-mode forward pass, and other
    images are normalised with the statistics of the training image.
    """
    was_training = network.training
    with batchnorm_momentum(network, None) as norms:  # cumulative average: one batch gives its exact statistics
        for m in norms:
            m.reset_running_stats()
        network.train()
        network(batch)
    network.train(was_training)


@torch.no_grad()
def batch_stats_forward(network: nn.Sequential, image: torch.Tensor) -> torch.Tensor:
    """Train-mode forward (batch statistics) that leaves the running statistics alone."""
    with batchnorm_momentum(network, 0.0):
        network.train()
        return network(image)


@torch.no_grad()
def tile_responses(
    network: nn.Sequential, image: torch.Tensor, n_conv: int, tile: int = PREDICT_TILE
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Eval-mode responses of ``image`` tile by tile: ``(top, left, (1, q, h, w) response)``.

    Tiles overlap by the network's reach (:func:`receptive_radius`), so the responses are exact.
    """
    for y, x, response, window in padded_tile_responses(network, image, n_conv, 0, tile):
        yield y, x, response[window]


@torch.no_grad()
def padded_tile_responses(
    network: nn.Sequential, image: torch.Tensor, n_conv: int, margin: int, tile: int = PREDICT_TILE
) -> Iterator[tuple[int, int, torch.Tensor, tuple[slice, ...]]]:
    """Eval-mode responses of ``image`` tile by tile, each with up to ``margin`` pixels of the image around it.

    Yields ``(top, left, (1, q, h', w') response, window)``: the responses of the tile and of
    the ``margin`` pixels on each side that the image has, exact like those of
    :func:`tile_responses`; ``response[window]`` is the tile's own. A filter that reaches at
    most ``margin`` pixels, applied before the crop, gives what it gives on the whole image.
    """
    network = inference_network(network)
    if image.device.type == "cpu":
        # Channels-last runs the convolutions about 1.7x faster on CPU.
        network = network.to(memory_format=torch.channels_last)
    height, width = image.shape[-2:]
    halo = receptive_radius(n_conv)
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            top, left = max(0, y - margin), max(0, x - margin)
            bottom, right = min(height, y + tile + margin), min(width, x + tile + margin)
            y0, x0 = max(0, top - halo), max(0, left - halo)
            y1, x1 = min(height, bottom + halo), min(width, right + halo)
            response = network(image[..., y0:y1, x0:x1])[..., top - y0 : bottom - y0, left - x0 : right - x0]
            window = (..., slice(y - top, min(y + tile, height) - top), slice(x - left, min(x + tile, width) - left))
            yield y, x, response, window


@torch.no_grad()
def stitched_responses(network: nn.Sequential, image: torch.Tensor, n_conv: int) -> torch.Tensor:
    """Eval-mode (q, H, W) responses of a (1, C, H, W) image, computed in tiles (:func:`tile_responses`), on the CPU."""
    out = None
    for y, x, response in tile_responses(network, image, n_conv):
        if out is None:
            out = torch.empty((response.shape[1], *image.shape[-2:]))
        out[:, y : y + response.shape[-2], x : x + response.shape[-1]] = response[0].cpu()
    return out


@torch.no_grad()
def swap_output_channels(network: nn.Sequential, optimizer: torch.optim.Optimizer, a: int, b: int) -> None:
    """Swap output channels ``a`` and ``b`` of the network (its last conv and BatchNorm) and of
    the optimiser's state for them."""
    conv, norm = network[-2], network[-1]
    order = torch.arange(conv.out_channels)
    order[[a, b]] = order[[b, a]]
    tensors = [conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var]
    for tensor in tensors:
        tensor.copy_(tensor[order])
        state = optimizer.state.get(tensor, {})
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.shape[:1] == tensor.shape[:1]:
                value.copy_(value[order])


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
