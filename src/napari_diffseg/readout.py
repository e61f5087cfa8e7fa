"""From network responses to label ids: the channel -> id table and the scribble readouts.

Every pixel's response is reduced to two scores (:func:`scores`): its best channel over all
channels, and the painted class it belongs to, read out either by the painted channels'
argmax or by a shrinkage linear discriminant (:func:`fit_lda`) of the painted pixels'
responses. :func:`read_out` turns those into ids: painted classes keep their ids, and other
clusters get ids from an :class:`IdTable`. The spatial readout (``readout="spatial"``,
:meth:`Readout.spatial_labels`) labels the training image from its responses, the strokes and
the image's edges with :func:`~napari_diffseg.spatial.spatial_readout`. With either readout of
the painted classes, a correction that only adds strokes changes only the regions they lie in
(:meth:`Readout.correction`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .postprocess import label_dtype, merge_small_regions

if TYPE_CHECKING:
    import torch

    from .model_file import ModelFile
    from .params import Params
    from .preprocess import Scribbles

    Tiles = Iterable[tuple[int, int, torch.Tensor]]
    PaddedTiles = Iterable[tuple[int, int, torch.Tensor, tuple[slice, ...]]]

MAX_ID = int(np.iinfo(np.uint32).max)  # label ids are uint16 or uint32
READOUT_SHRINKAGE = 0.9  # of the linear readout's covariance towards the identity (measured)
LINEAR_READOUTS = ("linear", "context")  # readouts that fit a linear discriminant (:func:`fit_lda`)
KEPT_FEATURES_BYTES = 2**28  # at most this much of an image's features is kept for corrections that refit


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
        self.lut[new] = free_ids(self.lut[self.lut > 0], new.size)

    def __getitem__(self, best: np.ndarray) -> np.ndarray:
        return self.lut[best]


def free_ids(used: np.ndarray, count: int) -> np.ndarray:
    """``count`` new label ids: the next ones above ``used``, or, where those would not fit in
    uint32, the smallest positive ids not in ``used``."""
    start = int(used.max(initial=0)) + 1
    if start + count - 1 <= MAX_ID:
        return np.arange(start, start + count, dtype=np.int64)
    candidates = np.arange(1, used.size + count + 1, dtype=np.int64)
    return candidates[~np.isin(candidates, used)][:count]


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


def scores(
    response: torch.Tensor,
    n_painted: int,
    readout: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    context: bool = False,
) -> torch.Tensor:
    """Per pixel of a (1, q, H, W) response: (argmax channel over all channels, painted class).

    The painted class comes from the linear ``readout`` when there is one (on the responses
    with their local means, :mod:`~napari_diffseg.context`, when ``context``), else from the
    argmax over the painted channels. Returns a float (H, W, 2) tensor.
    """
    import torch

    from .context import context_scores

    best = response[0].argmax(0)
    if readout is not None:
        weight, bias = readout
        if context:
            painted = context_scores(response, weight, bias).argmax(0)
        else:
            painted = (torch.einsum("cq,qhw->chw", weight, response[0]) + bias[:, None, None]).argmax(0)
    else:
        painted = response[0, :n_painted].argmax(0) if n_painted >= 2 else best
    return torch.stack([best, painted], dim=-1).float()


def keep_strokes(labels: np.ndarray, targets: np.ndarray, scribble_ids: np.ndarray) -> np.ndarray:
    """``labels`` with every painted pixel (``targets`` >= 0, channel indices) set to its painted id."""
    painted = targets >= 0
    if not painted.any():
        return labels
    out = labels.astype(label_dtype(max(int(labels.max(initial=0)), int(scribble_ids.max(initial=0)))))
    out[painted] = scribble_ids[targets[painted]]
    return out


def refits(params: Params, n_painted: int) -> bool:
    """Whether a refinement with ``n_painted`` classes refits the readout instead of training (``correction``)."""
    fitted = uses_linear(params, n_painted) or uses_spatial(params, n_painted)
    return fitted and params.correction == "refit"


def uses_linear(params: Params, n_painted: int) -> bool:
    """Whether a linear discriminant (:data:`LINEAR_READOUTS`) labels the painted classes (two or more, assigned)."""
    return params.readout in LINEAR_READOUTS and n_painted >= 2 and params.unpainted == "assign"


def uses_spatial(params: Params, n_painted: int) -> bool:
    """Whether the training image is labelled by the spatial readout (two or more painted classes, all assigned)."""
    return params.readout == "spatial" and n_painted >= 2 and params.unpainted == "assign"


def weights_key(network: torch.nn.Sequential, image: torch.Tensor) -> bytes:
    """A digest of the network's parameters and of the image: equal digests give equal responses."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (*network.parameters(), image):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


@dataclass
class SpatialState:
    """What the readouts keep between labellings of the training image.

    Attributes
    ----------
    key : bytes or None
        :func:`weights_key` of the weights and image the ``responses`` belong to.
    responses : numpy.ndarray or None
        (q, H, W) eval-mode responses of the training image (its first image).
    features : tuple or None
        When corrections refit the readout (``correction="refit"``) and the image is one tile
        whose features fit in :data:`KEPT_FEATURES_BYTES` (256 MiB: up to about 0.7 megapixels
        with context and 32 channels, 2 without): a key
        (:func:`weights_key`, the calibration batch, whether context is read) and the image's
        ``(top, left, (1, f, H, W))`` features for the linear readout (the responses first;
        three times their memory with context).
    shown : tuple of numpy.ndarray or None
        The last labels and the strokes (ids, 0 = unpainted) behind them.
    base : tuple of numpy.ndarray or None
        The labels (and strokes) shown last before the strokes changed: what the current
        correction starts from, however often its labels are looked at (previews).
    """

    key: bytes | None = None
    responses: np.ndarray | None = None
    features: tuple[tuple, list[tuple[int, int, torch.Tensor]]] | None = None
    shown: tuple[np.ndarray, np.ndarray] | None = None
    base: tuple[np.ndarray, np.ndarray] | None = None


def read_out(
    pixel_scores: torch.Tensor, scribble_ids: np.ndarray, *, unpainted: str, table: IdTable | None, min_size: int
) -> np.ndarray:
    """Label ids from per-pixel :func:`scores`.

    With two or more painted classes and ``unpainted="assign"`` every pixel gets a painted
    id; with one, the rest gets ``id + 1`` (the smallest free id when that would not fit in
    uint32); otherwise ids come from ``table`` (extended with the channels seen here). Small
    regions are then merged (``min_size``).

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
        labels = np.where(best == 0, scribble_ids[0], free_ids(scribble_ids, 1)[0])
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


class Readout:
    """How a trained network's responses become ids, and whether that matches its weights.

    Holds the channel -> id table (:class:`IdTable`), the linear readout of the painted
    classes (:func:`fit_lda`) and whether BatchNorm statistics, table and readout are
    calibrated for the current weights; the owner calls :meth:`forget` when they change.
    """

    def __init__(self) -> None:
        self.ids: IdTable | None = None
        self.linear: tuple[torch.Tensor, torch.Tensor] | None = None
        self.context = False  # whether ``linear`` reads the responses with their local means
        self.calibrated = False
        self.spatial = SpatialState()

    def forget(self, *, history: bool = False) -> None:
        """The weights, scribbles or parameters changed: ids, readout and BatchNorm statistics are stale.

        Cached responses stay while their weights and image do (:class:`SpatialState`);
        ``history`` also drops the labels shown before (a new training: the next labels are
        not a correction of them).
        """
        self.ids, self.linear, self.calibrated = None, None, False
        if history:
            self.spatial.shown = self.spatial.base = self.spatial.features = None

    def restore(self, file: ModelFile, device: torch.device) -> None:
        """Take the id table and linear readout saved in a model file."""
        if file.readout is not None:
            self.linear = (file.readout[0].to(device), file.readout[1].to(device))
            self.context = file.params.readout == "context"
        self.ids = None if file.lut is None else IdTable.from_array(file.lut)

    def calibrate(
        self, network: torch.nn.Sequential, image: torch.Tensor, scribbles: Scribbles | None, params: Params
    ) -> list[tuple[int, int, torch.Tensor, tuple[slice, ...]]] | None:
        """Recalibrate BatchNorm on the training image(s) (N, C, H, W) and fit the linear readout when it is used.

        Returns the first image's tile responses (:func:`~napari_diffseg.network.padded_tile_responses`)
        when the readout computed them and they cover it in one tile (the interactive case), so
        that labelling it needs no second forward pass.
        """
        import torch

        from .context import context_channels, context_features
        from .network import PREDICT_TILE

        n_classes = 0 if scribbles is None else scribbles.n_classes
        fitted = uses_linear(params, n_classes)
        self.context = fitted and params.readout == "context"
        single_tile = max(image.shape[-2:]) <= PREDICT_TILE
        channels = context_channels(params.channels) if self.context else params.channels

        def features(tiles: PaddedTiles) -> Tiles:
            for y, x, response, window in tiles:
                yield y, x, (context_features(response) if self.context else response)[window]

        kept_bytes = 4 * channels * image.shape[-2] * image.shape[-1]  # float32
        if (
            fitted
            and params.correction == "refit"
            and single_tile
            and image.shape[0] == 1
            and kept_bytes <= KEPT_FEATURES_BYTES
        ):
            # Corrections do not train: the weights stay, and so do the image's features.
            targets = torch.from_numpy(scribbles.targets.reshape(image.shape[-2:]))
            key = (weights_key(network, image), params.train_pixels, params.crop_size, self.context)
            state = self.spatial
            if state.features is None or state.features[0] != key:
                state.features = None
                recalibrate(network, image, params)
                state.features = (key, list(features(self.padded_tiles(network, image, params.n_conv))))
            kept = state.features[1]
            weight, bias = fit_lda([(kept, targets)], n_classes, channels)
            self.linear = (weight.float().to(image.device), bias.float().to(image.device))
            window = (..., slice(None), slice(None))
            return [(y, x, tile[:, : params.channels], window) for y, x, tile in kept]
        recalibrate(network, image, params)
        if not fitted:
            return None
        targets = torch.from_numpy(scribbles.targets.reshape(image.shape[0], *image.shape[-2:]))
        first: list[tuple[int, int, torch.Tensor, tuple[slice, ...]]] = []

        def painted_tiles() -> Iterator[tuple[Tiles, torch.Tensor]]:
            for i in range(image.shape[0]):
                if bool((targets[i] >= 0).any()):
                    tiles: PaddedTiles = self.padded_tiles(network, image[i : i + 1], params.n_conv)
                    if i == 0 and single_tile:
                        first.extend(tiles)
                        tiles = first
                    yield features(tiles), targets[i]

        weight, bias = fit_lda(painted_tiles(), n_classes, channels)
        self.linear = (weight.float().to(image.device), bias.float().to(image.device))
        return first or None

    def padded_tiles(self, network: torch.nn.Sequential, image: torch.Tensor, n_conv: int) -> PaddedTiles:
        """Tile responses of a (1, C, H, W) image with the margin the readout's features need."""
        from .context import CONTEXT_MARGIN
        from .network import padded_tile_responses

        return padded_tile_responses(network, image, n_conv, CONTEXT_MARGIN if self.context else 0)

    def spatial_labels(
        self, network: torch.nn.Sequential, image: torch.Tensor, scribbles: Scribbles, params: Params
    ) -> np.ndarray:
        """Ids of the first training image by :func:`~napari_diffseg.spatial.spatial_readout` of its responses.

        The responses are computed (after BatchNorm recalibration) only when the weights or
        the image changed since the last call, so a correction without training only
        re-solves the readout. A correction stays local (:meth:`correction`). The linear
        readout for :meth:`tiled_scores` (other images, saved models) is the discriminant
        fitted on the result (with several training images: :func:`fit_lda` on all their
        strokes). Painted pixels keep their ids.
        """
        import torch

        from .network import stitched_responses
        from .spatial import spatial_readout

        key = weights_key(network, image)
        state = self.spatial
        if state.key != key or state.responses is None:
            recalibrate(network, image, params)
            state.responses = stitched_responses(network, image[:1], params.n_conv).numpy()
            state.key = key
        height, width = image.shape[-2:]
        targets = scribbles.targets.reshape(image.shape[0], height, width)[0]
        classes, weight, bias = spatial_readout(state.responses, image[0].cpu().numpy(), targets, scribbles.n_classes)
        labels = self.correction(scribbles.ids[classes], targets, scribbles.ids)
        if image.shape[0] > 1:  # several training images: the strokes of all of them, not the first one's labels
            self.calibrate(network, image, scribbles, params.replace(readout="linear"))
        else:
            device = image.device
            self.linear = (torch.from_numpy(weight).float().to(device), torch.from_numpy(bias).float().to(device))
            self.context = False
        self.calibrated = True
        labels = keep_strokes(merge_small_regions(labels, params.min_size), targets, scribbles.ids)
        return labels.astype(label_dtype(int(labels.max(initial=0))))

    def correction(self, labels: np.ndarray, targets: np.ndarray, scribble_ids: np.ndarray) -> np.ndarray:
        """``labels`` of the training image as a correction of the labels shown before its strokes.

        When strokes were only added since the labels shown last with other strokes, the change
        is kept to the regions the new strokes lie in, and where it would take a class from
        around an earlier stroke of it, to the pixels nearer to the new strokes
        (:func:`~napari_diffseg.spatial.local_correction`); labels looked at meanwhile with the
        same strokes (previews during training) do not change what a correction starts from.

        Parameters
        ----------
        labels : numpy.ndarray
            (H, W) ids the readout gives with the current strokes.
        targets : numpy.ndarray
            (H, W) class index of the painted pixels, -1 elsewhere.
        scribble_ids : numpy.ndarray
            Id of each class index.
        """
        from .spatial import local_correction

        state = self.spatial
        strokes = np.where(targets >= 0, scribble_ids[np.maximum(targets, 0)], 0)
        if state.shown is not None and not np.array_equal(state.shown[1], strokes):
            state.base = state.shown  # the strokes changed: a correction of the labels shown last
        if state.base is not None and state.base[0].shape == labels.shape:
            previous, before = state.base
            if not ((before > 0) & (strokes != before)).any():  # strokes were only added: a local correction
                labels = local_correction(previous, labels, np.where(before > 0, 0, strokes), before)
        state.shown = (labels, strokes)
        return labels

    def tiled_scores(
        self,
        network: torch.nn.Sequential,
        image: torch.Tensor,
        n_conv: int,
        n_painted: int,
        tiles: PaddedTiles | None = None,
    ) -> torch.Tensor:
        """Per-pixel :func:`scores` of a (1, C, H, W) image from eval-mode responses in tiles
        (``tiles``: those responses, already computed by :meth:`calibrate`)."""
        import torch

        height, width = image.shape[-2:]
        out = torch.empty((height, width, 2), dtype=torch.float32)
        for y, x, response, window in self.padded_tiles(network, image, n_conv) if tiles is None else tiles:
            pixel_scores = scores(response, n_painted, self.linear, context=self.context)[window[-2:]]
            out[y : y + pixel_scores.shape[0], x : x + pixel_scores.shape[1]] = pixel_scores.cpu()
        return out

    def label(
        self, pixel_scores: torch.Tensor, scribble_ids: np.ndarray, params: Params, *, new_table: bool
    ) -> np.ndarray:
        """Ids from per-pixel scores (:func:`read_out`); ``new_table`` defines the id table afresh."""
        if uses_id_table(scribble_ids.size, params.unpainted) and (new_table or self.ids is None):
            self.ids = IdTable(params.channels, scribble_ids)
        return read_out(
            pixel_scores, scribble_ids, unpainted=params.unpainted, table=self.ids, min_size=params.min_size
        )

    def fix_ids(self, channels: int, scribble_ids: np.ndarray) -> None:
        """Give every channel an id now (keeping those it has)."""
        if self.ids is None:
            self.ids = IdTable(channels, scribble_ids)
        self.ids.extend(np.arange(channels))


def recalibrate(network: torch.nn.Sequential, image: torch.Tensor, params: Params) -> None:
    """Recalibrate the network's BatchNorm statistics on the training image(s) (N, C, H, W)."""
    from .network import recalibrate_batchnorm
    from .sampling import calibration_batch

    recalibrate_batchnorm(
        network, calibration_batch(image, train_pixels=params.train_pixels, crop_size=params.crop_size)
    )
