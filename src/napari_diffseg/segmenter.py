"""The step-wise clustering trainer that ``segment``, the widget, the CLI and stacks drive.

Read top-down: :class:`Progress` is what every iteration reports; :class:`Segmenter` holds
one network, trains it iteration by iteration (:meth:`Segmenter.train`), refines it with
edited scribbles (:meth:`Segmenter.refine`), labels its training image
(:meth:`Segmenter.labels`) or another image (:meth:`Segmenter.predict`), and saves/loads
its weights and parameters (:meth:`Segmenter.save`, :meth:`Segmenter.load`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import torch

from . import __version__
from .devices import resolve_device, torch_threads
from .losses import clustering_loss
from .memory import check_fits, training_bytes
from .network import build_network, inference_network, recalibrate_batchnorm, receptive_radius
from .params import Params, resolve_params
from .postprocess import merge_small_regions
from .preprocess import Scribbles, prepare_image, prepare_scribbles

_FORMAT = "napari-diffseg-model"
_FORMAT_VERSION = 1
_PREDICT_TILE = 1024
_CALIBRATION_FACTOR = 4  # BatchNorm statistics come from up to 4x the pixels of one batch
_READOUT_SHRINKAGE = 0.9  # of the linear readout's covariance towards the identity (measured)
_FITTED_SHARE = 0.99  # refinement stops once this share of the painted pixels is labelled right...
_FITTED_STREAK = 2  # ...in this many batches in a row


@dataclass(frozen=True)
class Progress:
    """What one training iteration reports.

    Attributes
    ----------
    iteration : int
        Iterations completed in this call (1-based).
    max_iter : int
        Upper bound on iterations of this call.
    n_labels : int
        Distinct pseudo-labels before the update.
    loss : float
        Total loss of the iteration.
    """

    iteration: int
    max_iter: int
    n_labels: int
    loss: float


Callback = Callable[[Progress], Any]


class Segmenter:
    """Differentiable feature clustering of one image, step by step.

    Parameters
    ----------
    preset : str or Params
        ``"fast"`` (default) or ``"paper"``, or a :class:`~napari_diffseg.params.Params`.
    seed : int
        Seed of the network's initialisation and of the crop sampler.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    **params
        Overrides of any :class:`~napari_diffseg.params.Params` field.

    Examples
    --------
    >>> seg = Segmenter(preset="fast", seed=0)
    >>> for progress in seg.train(image, scribbles):  # doctest: +SKIP
    ...     print(progress.iteration, progress.n_labels)
    >>> labels = seg.labels()  # doctest: +SKIP
    """

    def __init__(self, preset: str | Params = "fast", *, seed: int = 0, device: str = "auto", **params: Any):
        self.params = resolve_params(preset, **params)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer; got {seed!r}")
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.network: torch.nn.Sequential | None = None
        self.in_channels: int | None = None
        self.channel_axis: int | None = None
        self.scribble_ids = np.zeros(0, dtype=np.int64)
        self._lut: np.ndarray | None = None
        self._readout: tuple[torch.Tensor, torch.Tensor] | None = None  # painted classes' linear readout
        self._calibrated = False  # BatchNorm statistics, ids and readout match the current weights
        self._optimizer: torch.optim.Optimizer | None = None
        self._image: torch.Tensor | None = None
        self._targets: torch.Tensor | None = None
        self._scribbles: Scribbles | None = None
        self._rng = np.random.default_rng(self.seed)

    # ------------------------------------------------------------------ training
    def train(
        self,
        image: np.ndarray | list[np.ndarray],
        scribbles: np.ndarray | list[np.ndarray | None] | None = None,
        *,
        channel_axis: int | None = None,
        warm_start: bool = False,
    ) -> Iterator[Progress]:
        """Train on ``image`` and yield a :class:`Progress` after every iteration.

        Training stops after ``max_iter`` iterations or once the number of pseudo-labels
        falls to the floor (``min_labels``). Stop iterating (or ``close()`` the generator)
        to cancel: the network keeps the weights of the last completed iteration.

        Parameters
        ----------
        image : array_like or list of array_like
            2D, RGB(A) or multichannel image (see :func:`~napari_diffseg.preprocess.channels_last`),
            or a list of such images of one shape and kind, trained on together (the
            reference-image mode: one network for all of them).
        scribbles : array_like or list, optional
            napari-style scribbles: 0 = unlabeled, positive ids = classes; with a list of
            images, a list of the same length (``None`` entries for unpainted images).
        channel_axis : int, optional
            Axis of ``image`` holding channels.
        warm_start : bool
            Continue from the current weights (an image with the same channel count is
            required) instead of a freshly initialised network.
        """
        self._set_image(image, channel_axis)
        self._set_scribbles(scribbles)
        if not (warm_start and self.network is not None):
            self._init_network()
        return self._iterate(
            self.params.max_iter, stop_at_floor=True, pixels=self.params.train_pixels, lr=self.params.lr
        )

    def refine(self, scribbles: np.ndarray | None) -> Iterator[Progress]:
        """Continue training the current network with edited scribbles on the same image.

        This is the correction loop: paint a stroke, refine, look at :meth:`labels`. It
        runs at most ``refine_iter`` iterations (on batches of ``refine_pixels``, at
        ``refine_lr``) from the current weights and optimiser state and does not stop at
        the label floor. Classes keep their channels, and new classes take the next ones.
        """
        if self.network is None or self._image is None:
            raise RuntimeError("refine needs a trained model on an image; call train first")
        previous = self._scribbles
        self._set_scribbles(scribbles, keep_order=None if previous is None else previous.ids)
        self._claim_clusters(np.zeros(0, np.int64) if previous is None else previous.ids)
        p = self.params
        pixels = p.train_pixels if p.refine_pixels is None else p.refine_pixels
        lr = p.lr if p.refine_lr is None else p.refine_lr
        return self._iterate(p.refine_iter, stop_at_floor=False, pixels=pixels, lr=lr, stop_when_fitted=True)

    @torch.no_grad()
    def _claim_clusters(self, previous_ids: np.ndarray) -> None:
        """Give each new class the unclaimed cluster most of its strokes lie in.

        A new class starts on a channel that no pixel may be assigned to yet, and learning to
        win the argmax there takes many iterations. Swapping that channel with the channel of
        the cluster (among those no painted class owns) that holds most of the class's
        strokes, in the last layer's rows, BatchNorm and optimiser state, changes no cluster
        but hands it to the class at once; refinement then corrects its boundaries.
        """
        assert self.network is not None and self._scribbles is not None and self._image is not None
        n_painted = self.scribble_ids.size
        previous = set(previous_ids.tolist())
        new = [k for k, i in enumerate(self.scribble_ids.tolist()) if i not in previous]
        if not new:
            return
        targets = self._scribbles.targets.reshape(self._image.shape[0], -1)
        painted_images = np.flatnonzero((targets[:, None, :] == np.array(new)[None, :, None]).any(axis=(1, 2)))
        best = {
            int(i): self._forward_tiled(self._image[i : i + 1])[..., 0].numpy().astype(np.int64).ravel()
            for i in painted_images
        }
        for channel in new:
            votes = np.zeros(self.params.channels, np.int64)
            for i, clusters in best.items():
                votes += np.bincount(clusters[targets[i] == channel], minlength=self.params.channels)
            votes[:n_painted] = 0  # clusters of painted classes stay theirs: refinement splits them
            cluster = int(votes.argmax())
            if votes[cluster] == 0:
                continue
            self._swap_output_channels(channel, cluster)
            for clusters in best.values():
                was_channel = clusters == channel
                clusters[clusters == cluster] = channel
                clusters[was_channel] = cluster

    def _swap_output_channels(self, a: int, b: int) -> None:
        """Swap output channels ``a`` and ``b`` of the network (its last conv and BatchNorm)."""
        assert self.network is not None and self._optimizer is not None
        conv, norm = self.network[-2], self.network[-1]
        order = torch.arange(self.params.channels)
        order[[a, b]] = order[[b, a]]
        tensors = [conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var]
        for tensor in tensors:
            tensor.copy_(tensor[order])
            state = self._optimizer.state.get(tensor, {})
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.shape[:1] == tensor.shape[:1]:
                    value.copy_(value[order])

    def fit(
        self,
        image: np.ndarray,
        scribbles: np.ndarray | None = None,
        *,
        channel_axis: int | None = None,
        callback: Callback | None = None,
    ) -> Segmenter:
        """Train to the end; ``callback(progress)`` may return False to stop early."""
        run(self.train(image, scribbles, channel_axis=channel_axis), callback)
        return self

    def min_labels(self) -> int:
        """The label floor at which training stops."""
        if self.params.min_labels is not None:
            return self.params.min_labels
        n_classes = self.scribble_ids.size
        return max(2, n_classes) if n_classes else 3

    def _set_image(self, image: np.ndarray | list[np.ndarray], channel_axis: int | None) -> None:
        images = image if isinstance(image, list) else [image]
        prepared = [self._prepared(one, channel_axis) for one in images]
        if len({one.shape for one in prepared}) > 1:
            raise ValueError(
                f"images trained on together must share one shape; got {sorted({one.shape for one in prepared})}"
            )
        data = prepared[0]
        if self.network is not None and self.in_channels != data.shape[0]:
            self.network = None  # a different kind of image: the old weights do not apply
        self.in_channels = data.shape[0]
        self.channel_axis = channel_axis
        pixels = len(prepared) * data.shape[1] * data.shape[2]
        train_pixels = pixels if self.params.train_pixels is None else min(pixels, self.params.train_pixels)
        check_fits(
            training_bytes(train_pixels, self.params.channels, self.params.n_conv, data.shape[0]),
            self.device,
            f"training on a {data.shape[1]}x{data.shape[2]} image with {self.params.channels} channels",
        )
        self._image = torch.from_numpy(np.stack(prepared)).to(self.device)

    def _prepared(self, image: np.ndarray, channel_axis: int | None) -> np.ndarray:
        """``image`` as the network's (C, H, W) input, preprocessed as the parameters say."""
        p = self.params
        return prepare_image(
            image, channel_axis, normalization=p.normalization, smooth_sigma=p.smooth_sigma, color_space=p.color_space
        )

    def _set_scribbles(
        self, scribbles: np.ndarray | list[np.ndarray | None] | None, keep_order: np.ndarray | None = None
    ) -> None:
        """Map ``scribbles`` to channels; ids in ``keep_order`` keep their channel order."""
        assert self._image is not None
        n_images, spatial = self._image.shape[0], tuple(self._image.shape[-2:])
        if isinstance(scribbles, list):
            if len(scribbles) != n_images:
                raise ValueError(f"got {len(scribbles)} scribble arrays for {n_images} images; pass one per image")
            scribbles = np.stack([np.zeros(spatial, np.uint8) if s is None else np.asarray(s) for s in scribbles])
            mapped = prepare_scribbles(scribbles, (n_images, *spatial))
        elif n_images > 1:
            if scribbles is not None:
                raise ValueError("with a list of images, pass scribbles as a list too (one per image)")
            mapped = prepare_scribbles(None, (n_images, *spatial))
        else:
            mapped = prepare_scribbles(scribbles, spatial)
        if keep_order is not None:
            mapped = _in_channel_order(mapped, keep_order)
        if mapped.n_classes > self.params.channels:
            raise ValueError(
                f"{mapped.n_classes} scribble classes but only {self.params.channels} channels; "
                "raise channels or paint fewer classes"
            )
        self._scribbles = mapped
        self.scribble_ids = mapped.ids
        targets = mapped.targets.reshape(n_images, *spatial)
        self._targets = torch.from_numpy(targets).to(self.device) if mapped.n_classes else None
        self._forget_calibration()

    def _forget_calibration(self) -> None:
        """The weights or scribbles changed: ids, readout and BatchNorm statistics are stale."""
        self._lut = None
        self._readout, self._calibrated = None, False

    def _init_network(self) -> None:
        assert self.in_channels is not None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = build_network(self.in_channels, self.params.channels, self.params.n_conv, self.params.padding)
        self.network = network.to(self.device)
        self._forget_calibration()
        self._rng = np.random.default_rng(self.seed)
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        assert self.network is not None
        p = self.params
        if p.optimizer == "adam":
            return torch.optim.Adam(self.network.parameters(), lr=p.lr)
        return torch.optim.SGD(self.network.parameters(), lr=p.lr, momentum=p.momentum)

    def _iterate(
        self, max_iter: int, *, stop_at_floor: bool, pixels: int | None, lr: float, stop_when_fitted: bool = False
    ) -> Iterator[Progress]:
        assert self._optimizer is not None
        for group in self._optimizer.param_groups:
            group["lr"] = lr
        floor = self.min_labels()
        self._forget_calibration()
        streak = 0
        for iteration in range(1, max_iter + 1):
            with torch_threads(self.params.threads):
                n_labels, loss, fitted = self._step(pixels)
            self._forget_calibration()
            yield Progress(iteration, max_iter, n_labels, loss)
            if stop_at_floor and n_labels <= floor:
                return
            streak = streak + 1 if fitted >= _FITTED_SHARE else 0
            if stop_when_fitted and streak >= _FITTED_STREAK:
                return

    def _step(self, pixels: int | None) -> tuple[int, float, float]:
        """One update; returns the number of pseudo-labels, the loss and the share of the
        batch's painted pixels that are labelled with their class (0 without scribbles)."""
        assert self.network is not None and self._optimizer is not None
        p = self.params
        batch, targets = self._training_batch(pixels)
        self.network.train()
        response = self.network(batch)
        pseudo = response.detach().argmax(1)
        n_labels = int(torch.unique(pseudo).numel())
        loss = clustering_loss(
            response,
            pseudo,
            targets,
            sim_weight=p.sim_weight,
            con_weight=p.con_weight,
            scribble_weight=p.scribble_weight,
        )
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        return n_labels, float(loss.detach()), self._fitted_share(response.detach(), pseudo, targets)

    def _fitted_share(self, response: torch.Tensor, pseudo: torch.Tensor, targets: torch.Tensor | None) -> float:
        if targets is None or not bool((targets >= 0).any()):
            return 0.0
        painted = targets >= 0
        if self.params.unpainted == "keep" or self.scribble_ids.size < 2:
            predicted = pseudo
        else:
            predicted = response[:, : self.scribble_ids.size].argmax(1)
        return float((predicted[painted] == targets[painted]).float().mean())

    def _training_batch(self, budget: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The whole image, or a batch of random crops holding at most ``budget`` pixels."""
        assert self._image is not None
        image, targets = self._image, self._targets
        n_images, height, width = image.shape[0], *image.shape[-2:]
        if budget is None or n_images * height * width <= budget:
            return image, targets
        corners = self._crop_corners(n_images, height, width, budget)
        side_y, side_x = self._crop_shape(height, width)
        crops = torch.cat([image[i : i + 1, :, y : y + side_y, x : x + side_x] for i, y, x in corners])
        if targets is None:
            return crops, None
        return crops, torch.cat([targets[i : i + 1, y : y + side_y, x : x + side_x] for i, y, x in corners])

    def _crop_shape(self, height: int, width: int) -> tuple[int, int]:
        side = self.params.crop_size
        return min(side, height), min(side, width)

    def _crop_corners(self, n_images: int, height: int, width: int, budget: int) -> list[tuple[int, int, int]]:
        """(image index, top, left) of each crop of one training batch."""
        side_y, side_x = self._crop_shape(height, width)
        count = max(1, budget // (side_y * side_x))
        ys = self._rng.integers(0, height - side_y + 1, size=count)
        xs = self._rng.integers(0, width - side_x + 1, size=count)
        images = self._rng.integers(0, n_images, size=count) if n_images > 1 else np.zeros(count, dtype=np.int64)
        painted = self._scribbles is not None and self._scribbles.n_classes > 0
        if painted:
            # Centre half of the crops on painted pixels so that every batch sees scribbles.
            which, rows, cols = np.nonzero(self._scribbles.targets.reshape(n_images, height, width) >= 0)
            picks = self._rng.integers(0, rows.size, size=(count + 1) // 2)
            images[: picks.size] = which[picks]
            ys[: picks.size] = np.clip(rows[picks] - side_y // 2, 0, height - side_y)
            xs[: picks.size] = np.clip(cols[picks] - side_x // 2, 0, width - side_x)
        return list(zip(images.tolist(), ys.tolist(), xs.tolist()))

    def _calibration_batch(self) -> torch.Tensor:
        """The training image(s), or an even grid of crops of them when they are large."""
        assert self._image is not None
        n_images, height, width = self._image.shape[0], *self._image.shape[-2:]
        budget = None if self.params.train_pixels is None else _CALIBRATION_FACTOR * self.params.train_pixels
        if budget is None or n_images * height * width <= budget:
            return self._image
        side_y, side_x = self._crop_shape(height, width)
        per_axis = max(1, int(np.sqrt(budget / (n_images * side_y * side_x))))
        ys = np.linspace(0, height - side_y, per_axis).round().astype(int)
        xs = np.linspace(0, width - side_x, per_axis).round().astype(int)
        return torch.cat([self._image[..., y : y + side_y, x : x + side_x] for y in ys for x in xs])

    # ------------------------------------------------------------------ labelling
    def labels(self) -> np.ndarray:
        """Labels of the training image (the first one of a list) with the current weights.

        Returns
        -------
        numpy.ndarray
            uint16 (or uint32 when ids do not fit) (H, W) labels, never 0. Painted ids are
            kept; see ``unpainted`` in :class:`~napari_diffseg.params.Params`.
        """
        if self.network is None or self._image is None:
            raise RuntimeError("no trained model; call train or fit first")
        if self.params.final_forward == "train":
            response = self._forward_batch_stats(self._image)
        else:
            recalibrate_batchnorm(self.network, self._calibration_batch())
            tiles = self._fit_readout() if self._uses_readout() else None
            response = self._forward_tiled(self._image[:1], tiles)
        self._calibrated = True
        return self._finish(response, define_lut=True)

    def predict(self, image: np.ndarray, *, channel_axis: int | None = None) -> np.ndarray:
        """Label another image of the same kind with one forward pass (eval-mode BatchNorm).

        Parameters
        ----------
        image : array_like
            Image with the same number of channels as the training image.
        channel_axis : int, optional
            Axis of ``image`` holding channels (default: as in training).
        """
        if self.network is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        axis = self.channel_axis if channel_axis is None else channel_axis
        data = self._prepared(image, axis)
        if data.shape[0] != self.in_channels:
            raise ValueError(
                f"the model was trained on images with {self.in_channels} channel(s); this image has "
                f"{data.shape[0]}. Pass the matching channel_axis or train a new model"
            )
        if not self._calibrated and self._image is not None:
            self.labels()  # calibrates BatchNorm and fixes the channel -> id mapping
        with torch_threads(self.params.threads):
            response = self._forward_tiled(torch.from_numpy(data)[None].to(self.device))
        return self._finish(response, define_lut=False)

    def fix_ids(self) -> None:
        """Give every channel its id now, so that :meth:`predict` never assigns new ones.

        Without this, a channel first seen in a predicted image gets the next free id, so
        ids depend on the order images are labelled in. After it, labels are independent of
        that order, which copies of the model labelling images in parallel need. Channels
        seen on the training image keep their ids; the others get the next ids in order.
        """
        if self.network is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        if self._lut is None and self._image is not None:
            self.labels()
        every_channel = np.arange(self.params.channels)
        if self._lut is None:
            self._define_lut(every_channel)
        else:
            self._extend_lut(every_channel)

    @torch.no_grad()
    def _forward_batch_stats(self, image: torch.Tensor) -> torch.Tensor:
        """Train-mode forward (batch statistics) that leaves the running statistics alone."""
        assert self.network is not None
        norms = [m for m in self.network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        self.network.train()
        try:
            return self._scores(self.network(image))
        finally:
            for m, momentum in zip(norms, saved):
                m.momentum = momentum

    @torch.no_grad()
    def _tile_responses(self, image: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Eval-mode responses of ``image`` tile by tile: ``(top, left, (1, q, h, w) response)``.

        Tiles overlap by the network's reach, so the responses are exact.
        """
        assert self.network is not None
        network = inference_network(self.network)
        if image.device.type == "cpu":
            # Channels-last runs the convolutions about 1.7x faster on CPU.
            network = network.to(memory_format=torch.channels_last)
        height, width = image.shape[-2:]
        halo = receptive_radius(self.params.n_conv)
        for y in range(0, height, _PREDICT_TILE):
            for x in range(0, width, _PREDICT_TILE):
                y0, x0 = max(0, y - halo), max(0, x - halo)
                y1, x1 = min(height, y + _PREDICT_TILE + halo), min(width, x + _PREDICT_TILE + halo)
                response = network(image[..., y0:y1, x0:x1])
                yield y, x, response[..., y - y0 : y - y0 + _PREDICT_TILE, x - x0 : x - x0 + _PREDICT_TILE]

    def _forward_tiled(
        self, image: torch.Tensor, tiles: list[tuple[int, int, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """Per pixel (see :meth:`_scores`) of ``image``, from eval-mode responses in tiles
        (``tiles``: those responses, already computed)."""
        height, width = image.shape[-2:]
        out = torch.empty((height, width, 2), dtype=torch.float32)
        for y, x, response in self._tile_responses(image) if tiles is None else tiles:
            scores = self._scores(response)
            out[y : y + scores.shape[0], x : x + scores.shape[1]] = scores.cpu()
        return out

    def _uses_readout(self) -> bool:
        return self.params.readout == "linear" and self.scribble_ids.size >= 2 and self.params.unpainted == "assign"

    @torch.no_grad()
    def _fit_readout(self) -> list[tuple[int, int, torch.Tensor]] | None:
        """Fit a linear discriminant of the painted classes on the painted pixels' responses.

        Linear discriminant analysis with equal class priors and a pooled within-class
        covariance shrunk most of the way towards a multiple of the identity (``_READOUT_SHRINKAGE``),
        from the eval-mode responses of every painted pixel. A generative fit moves little when
        a stroke is added, unlike a logistic regression on separable strokes (measured in
        ``docs/benchmarks.md``), so corrections stay local. The painted classes are then read
        out of every pixel's response with it instead of comparing the painted channels alone.

        Returns the first image's tile responses when it is painted and fits in one tile (the
        interactive case), so that labelling it needs no second forward pass; else None.
        """
        assert self._image is not None and self._scribbles is not None
        n_classes, q = self.scribble_ids.size, self.params.channels
        targets = torch.from_numpy(self._scribbles.targets.reshape(self._image.shape[0], *self._image.shape[-2:]))
        sums = torch.zeros((n_classes, q), dtype=torch.float64)
        counts = torch.zeros(n_classes, dtype=torch.float64)
        scatter = torch.zeros((q, q), dtype=torch.float64)
        single_tile = max(self._image.shape[-2:]) <= _PREDICT_TILE
        first_tiles = None
        for i in range(self._image.shape[0]):
            if not bool((targets[i] >= 0).any()):
                continue
            tiles: Iterable[tuple[int, int, torch.Tensor]] = self._tile_responses(self._image[i : i + 1])
            if i == 0 and single_tile:
                tiles = first_tiles = list(tiles)
            for y, x, response in tiles:
                h, w = response.shape[-2:]
                tile = targets[i, y : y + h, x : x + w]
                painted = tile >= 0
                features = response[0][:, painted.to(response.device)].T.double().cpu()
                classes = tile[painted]
                sums.index_add_(0, classes, features)
                counts += torch.bincount(classes, minlength=n_classes).double()
                scatter += features.T @ features
        means = sums / counts[:, None]
        within = (scatter - sums.T @ means) / counts.sum()
        scale = float(torch.trace(within)) / q + 1e-6
        shrunk = (1 - _READOUT_SHRINKAGE) * within + _READOUT_SHRINKAGE * scale * torch.eye(q, dtype=torch.float64)
        weight = torch.linalg.solve(shrunk, means.T).T
        bias = -0.5 * (weight * means).sum(1)
        self._readout = (weight.float().to(self.device), bias.float().to(self.device))
        return first_tiles

    def _scores(self, response: torch.Tensor) -> torch.Tensor:
        """Per pixel: (argmax channel over all channels, argmax over painted channels)."""
        response = response[0]
        best = response.argmax(0)
        n_painted = self.scribble_ids.size
        if self._readout is not None:
            weight, bias = self._readout
            painted = (torch.einsum("cq,qhw->chw", weight, response) + bias[:, None, None]).argmax(0)
        else:
            painted = response[:n_painted].argmax(0) if n_painted >= 2 else best
        return torch.stack([best, painted], dim=-1).float()

    def _finish(self, scores: torch.Tensor, *, define_lut: bool) -> np.ndarray:
        scores_np = scores.cpu().numpy().astype(np.int64)
        best, painted = scores_np[..., 0], scores_np[..., 1]
        ids = self.scribble_ids
        n_painted = ids.size
        if n_painted >= 2 and self.params.unpainted == "assign":
            labels = ids[painted]
        elif n_painted == 1 and self.params.unpainted == "assign":
            labels = np.where(best == 0, ids[0], ids[0] + 1)
        else:
            if define_lut or self._lut is None:
                self._lut = self._define_lut(best)
            else:
                self._extend_lut(best)
            labels = self._lut[best]
        labels = merge_small_regions(labels, self.params.min_size)
        dtype = np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
        return labels.astype(dtype)

    def _define_lut(self, best: np.ndarray) -> np.ndarray:
        """Channel -> id: painted channels keep their ids, the others get the next ids in order."""
        lut = np.zeros(self.params.channels, dtype=np.int64)
        ids = self.scribble_ids
        lut[: ids.size] = ids
        self._lut = lut
        self._extend_lut(best)
        return self._lut

    def _extend_lut(self, best: np.ndarray) -> None:
        assert self._lut is not None
        present = np.flatnonzero(np.bincount(best.ravel(), minlength=self._lut.size))  # sorted, like np.unique
        new = present[self._lut[present] == 0]
        start = int(self._lut.max(initial=0)) + 1
        self._lut[new] = np.arange(start, start + new.size)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike | BinaryIO) -> None:
        """Save weights, parameters and label mapping to one file (no pickled code).

        Parameters
        ----------
        path : str, path-like or binary file object
            Destination, conventionally ``*.pt``.
        """
        if self.network is None:
            raise RuntimeError("nothing to save: train or load a model first")
        if self._lut is None and self._image is not None:
            self.labels()
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "version": __version__,
            "params": self.params.to_dict(),
            "seed": self.seed,
            "in_channels": self.in_channels,
            "channel_axis": self.channel_axis,
            "scribble_ids": self.scribble_ids.tolist(),
        }
        state = {
            "meta": json.dumps(meta),
            "weights": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "lut": torch.from_numpy(self._lut if self._lut is not None else np.zeros(0, dtype=np.int64)),
            "readout_weight": torch.zeros(0) if self._readout is None else self._readout[0].cpu(),
            "readout_bias": torch.zeros(0) if self._readout is None else self._readout[1].cpu(),
        }
        torch.save(state, path if hasattr(path, "write") else os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike | BinaryIO, *, device: str = "auto") -> Segmenter:
        """Load a model saved by :meth:`save` (a path or binary file object); never executes code from it.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ValueError
            When the file is corrupt or not a napari-diffseg model.
        """
        if not hasattr(path, "read"):
            path = os.fspath(path)
        if isinstance(path, str) and not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(state["meta"])
            if meta.get("format") != _FORMAT:
                raise KeyError("format")
            params = Params(**meta["params"]).replace()
        except Exception as error:  # noqa: BLE001 - any failure means: not our file
            raise ValueError(f"{path!r} is not a napari-diffseg model file or is corrupt ({error})") from None
        model = cls(params, seed=meta["seed"], device=device)
        model.in_channels = int(meta["in_channels"])
        model.channel_axis = meta["channel_axis"]
        model.scribble_ids = np.asarray(meta["scribble_ids"], dtype=np.int64)
        network = build_network(model.in_channels, params.channels, params.n_conv, params.padding)
        try:
            network.load_state_dict(state["weights"])
        except (RuntimeError, KeyError) as error:
            raise ValueError(f"{path!r} holds weights that do not match its parameters ({error})") from None
        model.network = network.to(model.device)
        model._optimizer = model._make_optimizer()
        if state.get("readout_weight") is not None and state["readout_weight"].numel():
            model._readout = (state["readout_weight"].to(model.device), state["readout_bias"].to(model.device))
        lut = state["lut"].numpy()
        model._lut = lut.astype(np.int64) if lut.size else None
        return model


def _in_channel_order(mapped: Scribbles, keep_order: np.ndarray) -> Scribbles:
    """``mapped`` with the ids of ``keep_order`` first, in that order, then the new ids."""
    present = set(mapped.ids.tolist())
    kept = [i for i in keep_order.tolist() if i in present]
    order = np.array(kept + sorted(present - set(kept)), dtype=np.int64)
    channel_of = np.searchsorted(mapped.ids, order)  # old channel of each new channel
    new_channel = np.empty_like(channel_of)
    new_channel[channel_of] = np.arange(order.size)
    targets = np.where(mapped.targets >= 0, new_channel[np.maximum(mapped.targets, 0)], -1)
    return Scribbles(targets, order)


def run(progress: Iterator[Progress], callback: Callback | None = None) -> Progress | None:
    """Drive a training generator to its end.

    Parameters
    ----------
    progress : iterator of Progress
        From :meth:`Segmenter.train` or :meth:`Segmenter.refine`.
    callback : callable, optional
        Called with every :class:`Progress`; returning ``False`` stops training there.

    Returns
    -------
    Progress or None
        The last progress report (None when no iteration ran).
    """
    last = None
    for last in progress:
        if callback is not None and callback(last) is False:
            break
    return last
