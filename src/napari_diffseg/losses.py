"""The three losses of differentiable feature clustering."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def continuity_loss(response: torch.Tensor) -> torch.Tensor:
    """Spatial-continuity loss: mean L1 of vertical plus horizontal response differences.

    Parameters
    ----------
    response : torch.Tensor
        (N, q, H, W) network output.
    """
    vertical = (response[:, :, 1:, :] - response[:, :, :-1, :]).abs().mean()
    horizontal = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs().mean()
    return vertical + horizontal


def clustering_loss(
    response: torch.Tensor,
    pseudo: torch.Tensor,
    targets: torch.Tensor | None,
    *,
    sim_weight: float,
    con_weight: float,
    scribble_weight: float,
) -> torch.Tensor:
    """Total loss of one iteration.

    Parameters
    ----------
    response : torch.Tensor
        (N, q, H, W) network output.
    pseudo : torch.Tensor
        (N, H, W) argmax pseudo-labels (no gradient).
    targets : torch.Tensor or None
        (N, H, W) scribble channel per pixel, -1 where unlabeled; ``None`` without scribbles.
    sim_weight, con_weight, scribble_weight : float
        Weights of the similarity, continuity and scribble terms.

    Returns
    -------
    torch.Tensor
        ``sim_weight * CE(r, c)`` over unlabeled pixels, plus ``scribble_weight * CE(r, v)``
        over painted pixels, plus ``con_weight * continuity``.
    """
    continuity = continuity_loss(response)
    if targets is None:
        similarity = F.cross_entropy(response, pseudo)
        return sim_weight * similarity + con_weight * continuity
    # Both cross-entropies in one pass: each pixel's target is its stroke's class where painted and
    # its pseudo-label elsewhere, weighted so that each term is the mean over its own pixels.
    painted = targets >= 0
    n_painted = int(painted.sum())
    n_unpainted = painted.numel() - n_painted
    per_pixel = F.cross_entropy(response, torch.where(painted, targets, pseudo), reduction="none")
    weights = torch.where(painted, scribble_weight / max(n_painted, 1), sim_weight / max(n_unpainted, 1))
    return con_weight * continuity + (per_pixel * weights).sum()
