"""From network responses to label ids: the channel -> id table and the scribble readouts.

Every pixel's response is reduced to two scores (:func:`scores`): its best channel over all
channels, and the painted class it belongs to, read out either by the painted channels'
argmax or by a shrinkage linear discriminant (:func:`fit_lda`) of the painted pixels'
responses. :func:`read_out` turns those into ids: painted classes keep their ids, and other
clusters get ids from an :class:`IdTable`. Spatial readouts of the scribbles plug in here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .postprocess import label_dtype, merge_small_regions

if TYPE_CHECKING:
    import torch

    Tiles = Iterable[tuple[int, int, torch.Tensor]]

READOUT_SHRINKAGE = 0.9  # of the linear readout's covariance towards the identity (measured)


class IdTable:
    """Channel -> id: painted channels keep their ids, the others get the next ids in order of first sight.

    Parameters
    ----------
    channels : int
        Number of network channels.
    scribble_ids : numpy.ndarray
        The painted ids in channel order.
    """

    def __init__(self, channels: int, scribble_ids: np.ndarray):
        self.lut = np.zeros(channels, dtype=np.int64)
        self.lut[: scribble_ids.size] = scribble_ids

    @classmethod
    def from_array(cls, lut: np.ndarray) -> IdTable:
        """A table holding ``lut`` (as saved with a model)."""
        table = cls(lut.size, np.zeros(0, np.int64))
        table.lut = lut.astype(np.int64)
        return table

    def extend(self, best: np.ndarray) -> None:
        """Give the channels present in ``best`` that have no id yet the next ids, in channel order."""
        present = np.flatnonzero(np.bincount(best.ravel(), minlength=self.lut.size))  # sorted, like np.unique
        new = present[self.lut[present] == 0]
        start = int(self.lut.max(initial=0)) + 1
        self.lut[new] = np.arange(start, start + new.size)

    def __getitem__(self, best: np.ndarray) -> np.ndarray:
        return self.lut[best]


def uses_id_table(n_painted: int, unpainted: str) -> bool:
    """Whether :func:`read_out` takes ids from an :class:`IdTable` (else every id is a painted one)."""
    return not (n_painted >= 1 and unpainted == "assign")


def fit_lda(
    tiles_of: Iterable[tuple[Tiles, torch.Tensor]], n_classes: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit a linear discriminant of the painted classes on the painted pixels' responses.

    Linear discriminant analysis with equal class priors and a pooled within-class
    covariance shrunk most of the way towards a multiple of the identity
    (:data:`READOUT_SHRINKAGE`). A generative fit moves little when a stroke is added, unlike
    a logistic regression on separable strokes (measured in ``docs/benchmarks.md``), so
    corrections stay local.

    Parameters
    ----------
    tiles_of : iterable of (tiles, targets)
        For each painted image: its eval-mode tile responses ``(top, left, (1, q, h, w))``
        and its (H, W) channel targets (-1 = unpainted).
    n_classes, channels : int
        Painted classes and network channels ``q``.

    Returns
    -------
    (weight, bias) : (torch.Tensor, torch.Tensor)
        float64 (n_classes, q) and (n_classes,): class scores are ``weight @ response + bias``.
    """
    import torch

    q = channels
    sums = torch.zeros((n_classes, q), dtype=torch.float64)
    counts = torch.zeros(n_classes, dtype=torch.float64)
    scatter = torch.zeros((q, q), dtype=torch.float64)
    for tiles, targets in tiles_of:
        for y, x, response in tiles:
            h, w = response.shape[-2:]
            tile = targets[y : y + h, x : x + w]
            painted = tile >= 0
            features = response[0][:, painted.to(response.device)].T.double().cpu()
            classes = tile[painted]
            sums.index_add_(0, classes, features)
            counts += torch.bincount(classes, minlength=n_classes).double()
            scatter += features.T @ features
    means = sums / counts[:, None]
    within = (scatter - sums.T @ means) / counts.sum()
    scale = float(torch.trace(within)) / q + 1e-6
    shrunk = (1 - READOUT_SHRINKAGE) * within + READOUT_SHRINKAGE * scale * torch.eye(q, dtype=torch.float64)
    weight = torch.linalg.solve(shrunk, means.T).T
    bias = -0.5 * (weight * means).sum(1)
    return weight, bias


def scores(response: torch.Tensor, n_painted: int, readout: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """Per pixel of a (1, q, H, W) response: (argmax channel over all channels, painted class).

    The painted class comes from the linear ``readout`` when there is one, else from the
    argmax over the painted channels. Returns a float (H, W, 2) tensor.
    """
    import torch

    response = response[0]
    best = response.argmax(0)
    if readout is not None:
        weight, bias = readout
        painted = (torch.einsum("cq,qhw->chw", weight, response) + bias[:, None, None]).argmax(0)
    else:
        painted = response[:n_painted].argmax(0) if n_painted >= 2 else best
    return torch.stack([best, painted], dim=-1).float()


def read_out(
    pixel_scores: torch.Tensor, scribble_ids: np.ndarray, *, unpainted: str, table: IdTable | None, min_size: int
) -> np.ndarray:
    """Label ids from per-pixel :func:`scores`.

    With two or more painted classes and ``unpainted="assign"`` every pixel gets a painted
    id; with one, the rest gets ``id + 1``; otherwise ids come from ``table`` (extended with
    the channels seen here). Small regions are then merged (``min_size``).

    Returns
    -------
    numpy.ndarray
        uint16 (uint32 when ids do not fit) labels.
    """
    scores_np = pixel_scores.cpu().numpy().astype(np.int64)
    best, painted = scores_np[..., 0], scores_np[..., 1]
    n_painted = scribble_ids.size
    if n_painted >= 2 and unpainted == "assign":
        labels = scribble_ids[painted]
    elif n_painted == 1 and unpainted == "assign":
        labels = np.where(best == 0, scribble_ids[0], scribble_ids[0] + 1)
    else:
        assert table is not None
        table.extend(best)
        labels = table[best]
    labels = merge_small_regions(labels, min_size)
    return labels.astype(label_dtype(int(labels.max(initial=0))))


def cluster_claims(
    clusters: dict[int, np.ndarray], targets: np.ndarray, new_channels: list[int], n_painted: int, channels: int
) -> list[tuple[int, int]]:
    """For each new class, the unclaimed cluster most of its strokes lie in.

    A new class starts on a channel that no pixel may be assigned to yet, and learning to
    win the argmax there takes many iterations; swapping that channel with the cluster's
    hands the cluster to the class at once.

    Parameters
    ----------
    clusters : dict of int to numpy.ndarray
        Painted image index -> best channel of each of its pixels (flat); updated in place
        as swaps are decided.
    targets : numpy.ndarray
        (N, H*W) channel targets (-1 = unpainted).
    new_channels : list of int
        Channels of the classes that are new.
    n_painted, channels : int
        Painted classes (whose clusters stay theirs) and network channels.

    Returns
    -------
    list of (int, int)
        ``(channel, cluster)`` pairs to swap, in order.
    """
    swaps = []
    for channel in new_channels:
        votes = np.zeros(channels, np.int64)
        for i, best in clusters.items():
            votes += np.bincount(best[targets[i] == channel], minlength=channels)
        votes[:n_painted] = 0  # clusters of painted classes stay theirs: refinement splits them
        cluster = int(votes.argmax())
        if votes[cluster] == 0:
            continue
        swaps.append((channel, cluster))
        for best in clusters.values():
            was_channel = best == channel
            best[best == cluster] = channel
            best[was_channel] = cluster
    return swaps
