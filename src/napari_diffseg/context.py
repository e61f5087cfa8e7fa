"""Context features for the ``"context"`` scribble readout: each response with its local means around it.

A pixel's network response sees 5x5 pixels, so a white belly and a white sky look alike. The
context readout reads every pixel from its response together with the mean responses of its
neighbourhood at two scales (:data:`CONTEXT_RADII`: about 4.5 and 21 pixels of spread), so a
stroke's class follows the surroundings it was painted in. The local means are two passes of
a box filter (a triangle-shaped window, close to a Gaussian) with the border replicated;
they reach :data:`CONTEXT_MARGIN` pixels, so tiles computed with that margin give the same
features as the whole image. Because the means are linear, the class scores of a linear
readout on the features are the same filters applied to a few class maps
(:func:`context_scores`): labelling costs two filters per class, not per channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CONTEXT_RADII = (5, 25)  # box radii; two passes give a spread (standard deviation) of 4.5 and 20.8 px
CONTEXT_MARGIN = 2 * max(CONTEXT_RADII)  # pixels a context feature depends on, on each side


def context_channels(channels: int) -> int:
    """Number of features :func:`context_features` makes of ``channels`` responses."""
    return channels * (1 + len(CONTEXT_RADII))


def local_mean(values: torch.Tensor, radius: int) -> torch.Tensor:
    """Two passes of a (2 ``radius`` + 1)-wide box mean over the last two axes, border replicated.

    Parameters
    ----------
    values : torch.Tensor
        (C, H, W) or (N, C, H, W) maps (the class maps of :func:`context_scores` have three axes).
    radius : int
        Half width of the box.
    """
    import torch.nn.functional as F

    values = values.contiguous()
    for _ in range(2):
        padded = F.pad(values, (radius, radius, radius, radius), mode="replicate")
        values = _window_sums(_window_sums(padded, radius, -1), radius, -2) / (2 * radius + 1) ** 2
    return values


def _window_sums(padded: torch.Tensor, radius: int, axis: int) -> torch.Tensor:
    """Sums over windows of 2 ``radius`` + 1 along ``axis`` of a tensor padded by ``radius`` on both sides there,
    from one cumulative sum (the result is shorter by 2 ``radius``)."""
    n = padded.shape[axis] - 2 * radius
    totals = padded.cumsum(axis)
    sums = totals.narrow(axis, 2 * radius, n).clone()
    sums.narrow(axis, 1, n - 1).sub_(totals.narrow(axis, 0, n - 1))
    return sums


def context_features(response: torch.Tensor) -> torch.Tensor:
    """(1, q, H, W) responses -> (1, q (1 + scales), H, W): the responses, then their local means per scale."""
    import torch

    response = response.contiguous()  # once for every scale (the network's output is channels-last)
    return torch.cat([response, *(local_mean(response, radius) for radius in CONTEXT_RADII)], dim=1)


def context_scores(response: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(K, H, W) class scores ``weight @ context_features(response) + bias`` of a (1, q, H, W) response.

    Computed as the local means of the class maps of each scale's block of ``weight``, which is
    the same (the means are linear) and filters K maps instead of q.

    Parameters
    ----------
    response : torch.Tensor
        (1, q, H, W) responses.
    weight, bias : torch.Tensor
        (K, q (1 + scales)) and (K,) linear readout on :func:`context_features`.
    """
    import torch

    q = response.shape[1]
    blocks = weight.reshape(weight.shape[0], 1 + len(CONTEXT_RADII), q)
    out = torch.einsum("kq,qhw->khw", blocks[:, 0], response[0]) + bias[:, None, None]
    for i, radius in enumerate(CONTEXT_RADII):
        out = out + local_mean(torch.einsum("kq,qhw->khw", blocks[:, i + 1], response[0]), radius)
    return out
