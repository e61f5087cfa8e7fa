"""The step-wise clustering trainer that ``segment``, the widget, the CLI and stacks drive.

:class:`Segmenter` orchestrates: it holds one network and its input, runs **the training
loop** (:meth:`Segmenter.train` / :meth:`Segmenter.refine` -> ``_iterate`` -> ``_step``),
and labels images. The pieces live in their own modules: crops in :mod:`.sampling`, the
network and tiled inference in :mod:`.network`, the losses in :mod:`.losses`, the id table
and scribble readouts in :mod:`.readout`, files in :mod:`.model_file`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .devices import resolve_device, torch_threads
from .losses import clustering_loss
from .memory import check_fits, training_bytes
from .model_file import ModelFile, PathOrFile, read_model, write_model
from .network import (
    PREDICT_TILE,
    batch_stats_forward,
    build_network,
    recalibrate_batchnorm,
    swap_output_channels,
    tile_responses,
)
from .params import Params, resolve_params
from .preprocess import Scribbles, prepare_image, prepare_scribbles, scribbles_in_order
from .progress import Callback, Progress, drive
from .readout import IdTable, cluster_claims, fit_lda, read_out, scores, uses_id_table
from .sampling import calibration_batch, training_batch

__all__ = ["Progress", "Segmenter"]

_FITTED_SHARE = 0.99  # refinement stops once this share of the painted pixels is labelled right...
_FITTED_STREAK = 2  # ...in this many batches in a row
_CALIBRATION_FIELDS = frozenset({"train_pixels", "crop_size", "final_forward", "readout", "unpainted"})
_FIXED_AFTER_TRAINING = frozenset(
    {"channels", "n_conv", "padding", "optimizer", "momentum", "normalization", "smooth_sigma", "color_space"}
)


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
        self._params = resolve_params(preset, **params)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer; got {seed!r}")
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.network: torch.nn.Sequential | None = None
        self.in_channels: int | None = None
        self.channel_axis: int | None = None
        self.scribble_ids = np.zeros(0, dtype=np.int64)
        self._ids: IdTable | None = None
        self._readout: tuple[torch.Tensor, torch.Tensor] | None = None  # painted classes' linear readout
        self._calibrated = False  # BatchNorm statistics, ids and readout match the current weights
        self._optimizer: torch.optim.Optimizer | None = None
        self._image: torch.Tensor | None = None
        self._targets: torch.Tensor | None = None
        self._scribbles: Scribbles | None = None
        self._rng = np.random.default_rng(self.seed)

    # ------------------------------------------------------------------ state
    @property
    def params(self) -> Params:
        """The parameters (frozen; change them with :meth:`set_params`)."""
        return self._params

    @property
    def image(self) -> torch.Tensor | None:
        """The preprocessed training image(s), (N, C, H, W), or None before training."""
        return self._image

    @property
    def scribbles(self) -> Scribbles | None:
        """The training scribbles mapped to channels (targets (N*H, W) or (H, W)), or None."""
        return self._scribbles

    @property
    def readout(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The linear readout ``(weight, bias)`` of the painted classes, when one is fitted."""
        return self._readout

    @property
    def is_calibrated(self) -> bool:
        """Whether BatchNorm statistics, ids and readout match the current weights."""
        return self._calibrated

    def set_params(self, **changes: Any) -> None:
        """Change parameters of this model; what they invalidate is recomputed when next needed.

        Fields that decide how the model is calibrated (``train_pixels``, ``crop_size``,
        ``final_forward``, ``readout``, ``unpainted``) make the next labelling recalibrate.

        Fields that shape the network or its input (``channels``, ``n_conv``, ``padding``,
        ``optimizer``, ``momentum``, ``normalization``, ``smooth_sigma``, ``color_space``) can
        only change before training.

        Raises
        ------
        ValueError
            For an unknown field, an invalid value, or a fixed field of a trained model.
        """
        params = resolve_params(self._params, **changes)
        fixed = sorted(
            name for name in _FIXED_AFTER_TRAINING & set(changes) if changes[name] != getattr(self._params, name)
        )
        if fixed and self.network is not None:
            raise ValueError(f"{', '.join(fixed)} cannot change after training; train a new model instead")
        self._params = params
        if _CALIBRATION_FIELDS & set(changes):
            self._forget_calibration()

    def state_dict(self) -> dict[str, Any]:
        """The network's weights (with BatchNorm statistics) and the optimiser's state."""
        if self.network is None or self._optimizer is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        return {"network": self.network.state_dict(), "optimizer": self._optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned into a model of the same parameters and input."""
        if self.network is None or self._optimizer is None:
            raise RuntimeError("call train (or load a model) first, so that the network exists")
        self.network.load_state_dict(state["network"])
        self._optimizer.load_state_dict(state["optimizer"])
        self._forget_calibration()

    def min_labels(self) -> int:
        """The label floor at which training stops."""
        if self.params.min_labels is not None:
            return self.params.min_labels
        n_classes = self.scribble_ids.size
        return max(2, n_classes) if n_classes else 3

    # ------------------------------------------------------------------ training
    def train(
        self,
        image: np.ndarray | list[np.ndarray],
        scribbles: np.ndarray | list[np.ndarray | None] | None = None,
        *,
        channel_axis: int | None = None,
        warm_start: bool = False,
    ) -> Iterator[Progress]:
        """Train on ``image`` and yield a :class:`~napari_diffseg.progress.Progress` after every iteration.

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
        the label floor. Classes keep their channels, and a new class first takes over the
        unclaimed cluster most of its strokes lie in.
        """
        if self.network is None or self._image is None:
            raise RuntimeError("refine needs a trained model on an image; call train first")
        previous = np.zeros(0, np.int64) if self._scribbles is None else self._scribbles.ids
        self._set_scribbles(scribbles, keep_order=None if self._scribbles is None else previous)
        self._claim_clusters(previous)
        p = self.params
        pixels = p.train_pixels if p.refine_pixels is None else p.refine_pixels
        lr = p.lr if p.refine_lr is None else p.refine_lr
        return self._iterate(p.refine_iter, stop_at_floor=False, pixels=pixels, lr=lr, stop_when_fitted=True)

    def fit(
        self,
        image: np.ndarray | list[np.ndarray],
        scribbles: np.ndarray | list[np.ndarray | None] | None = None,
        *,
        channel_axis: int | None = None,
        callback: Callback | None = None,
    ) -> Segmenter:
        """Train to the end; ``callback(progress)`` may return False to stop early."""
        drive(self.train(image, scribbles, channel_axis=channel_axis), callback)
        return self

    def _iterate(
        self, max_iter: int, *, stop_at_floor: bool, pixels: int | None, lr: float, stop_when_fitted: bool = False
    ) -> Iterator[Progress]:
        """The training loop: one :meth:`_step` per iteration until a stopping rule holds."""
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
        assert self.network is not None and self._optimizer is not None and self._image is not None
        p = self.params
        painted = self._painted_targets()
        batch, targets = training_batch(
            self._rng, self._image, self._targets, painted, budget=pixels, crop_size=p.crop_size
        )
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

    # ------------------------------------------------------------------ input
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
            mapped = scribbles_in_order(mapped, keep_order)
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

    def _painted_targets(self) -> np.ndarray | None:
        """(N, H, W) channel targets when anything is painted, else None."""
        if self._scribbles is None or self._scribbles.n_classes == 0 or self._image is None:
            return None
        return self._scribbles.targets.reshape(self._image.shape[0], *self._image.shape[-2:])

    def _forget_calibration(self) -> None:
        """The weights, scribbles or parameters changed: ids, readout and BatchNorm statistics are stale."""
        self._ids = None
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

    @torch.no_grad()
    def _claim_clusters(self, previous_ids: np.ndarray) -> None:
        """Hand each new class the unclaimed cluster most of its strokes lie in (:func:`~.readout.cluster_claims`)."""
        assert self.network is not None and self._optimizer is not None and self._scribbles is not None
        assert self._image is not None
        previous = set(previous_ids.tolist())
        new = [k for k, i in enumerate(self.scribble_ids.tolist()) if i not in previous]
        if not new:
            return
        targets = self._scribbles.targets.reshape(self._image.shape[0], -1)
        painted_images = np.flatnonzero((targets[:, None, :] == np.array(new)[None, :, None]).any(axis=(1, 2)))
        best = {
            int(i): self._tiled_scores(self._image[i : i + 1])[..., 0].numpy().astype(np.int64).ravel()
            for i in painted_images
        }
        for channel, cluster in cluster_claims(best, targets, new, self.scribble_ids.size, self.params.channels):
            swap_output_channels(self.network, self._optimizer, channel, cluster)

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
            pixel_scores = self._scores(batch_stats_forward(self.network, self._image))
        else:
            tiles = self._calibrate()
            pixel_scores = self._tiled_scores(self._image[:1], tiles)
        self._calibrated = True
        if uses_id_table(self.scribble_ids.size, self.params.unpainted):
            self._ids = IdTable(self.params.channels, self.scribble_ids)
        return self._read_out(pixel_scores)

    def predict(self, image: np.ndarray, *, channel_axis: int | None = None) -> np.ndarray:
        """Label another image of the same kind with one forward pass (eval-mode BatchNorm).

        Parameters
        ----------
        image : array_like
            Image with the same number of channels as the training image.
        channel_axis : int, optional
            Axis of ``image`` holding channels (default: as in training).
        """
        data = self._input(image, channel_axis)
        with torch_threads(self.params.threads):
            pixel_scores = self._tiled_scores(data)
        if self._ids is None and uses_id_table(self.scribble_ids.size, self.params.unpainted):
            self._ids = IdTable(self.params.channels, self.scribble_ids)
        return self._read_out(pixel_scores)

    def responses(self, image: np.ndarray | None = None, *, channel_axis: int | None = None) -> torch.Tensor:
        """Eval-mode (q, H, W) network responses of the training image (the first one) or of ``image``.

        BatchNorm is calibrated on the training image first, as for :meth:`labels`.
        """
        if image is not None:
            data = self._input(image, channel_axis)
        else:
            if self.network is None or self._image is None:
                raise RuntimeError("no training image; call train first or pass an image")
            if not self._calibrated:
                self.labels()
            data = self._image[:1]
        assert self.network is not None
        height, width = data.shape[-2:]
        out = torch.empty((self.params.channels, height, width))
        for y, x, response in tile_responses(self.network, data, self.params.n_conv):
            out[:, y : y + response.shape[-2], x : x + response.shape[-1]] = response[0].cpu()
        return out

    def fix_ids(self) -> None:
        """Give every channel its id now, so that :meth:`predict` never assigns new ones.

        Without this, a channel first seen in a predicted image gets the next free id, so
        ids depend on the order images are labelled in. After it, labels are independent of
        that order, which copies of the model labelling images in parallel need. Channels
        seen on the training image keep their ids; the others get the next ids in order.
        """
        if self.network is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        if self._ids is None and self._image is not None:
            self.labels()
        if self._ids is None:
            self._ids = IdTable(self.params.channels, self.scribble_ids)
        self._ids.extend(np.arange(self.params.channels))

    def _input(self, image: np.ndarray, channel_axis: int | None) -> torch.Tensor:
        """``image`` prepared as a (1, C, H, W) network input, with the model calibrated for it."""
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
        return torch.from_numpy(data)[None].to(self.device)

    def _calibrate(self) -> list[tuple[int, int, torch.Tensor]] | None:
        """Recalibrate BatchNorm on the training image(s) and fit the linear readout when it is used.

        Returns the first image's tile responses when the readout computed them and they cover
        it in one tile (the interactive case), so that labelling it needs no second forward pass.
        """
        assert self.network is not None and self._image is not None
        p = self.params
        recalibrate_batchnorm(
            self.network, calibration_batch(self._image, train_pixels=p.train_pixels, crop_size=p.crop_size)
        )
        if not (p.readout == "linear" and self.scribble_ids.size >= 2 and p.unpainted == "assign"):
            return None
        assert self._scribbles is not None
        targets = torch.from_numpy(self._scribbles.targets.reshape(self._image.shape[0], *self._image.shape[-2:]))
        single_tile = max(self._image.shape[-2:]) <= PREDICT_TILE
        first: list[tuple[int, int, torch.Tensor]] = []

        def painted_tiles():
            for i in range(self._image.shape[0]):
                if bool((targets[i] >= 0).any()):
                    tiles = tile_responses(self.network, self._image[i : i + 1], p.n_conv)
                    if i == 0 and single_tile:
                        first.extend(tiles)
                        tiles = first
                    yield tiles, targets[i]

        weight, bias = fit_lda(painted_tiles(), self.scribble_ids.size, p.channels)
        self._readout = (weight.float().to(self.device), bias.float().to(self.device))
        return first or None

    def _tiled_scores(
        self, image: torch.Tensor, tiles: list[tuple[int, int, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """Per-pixel :func:`~.readout.scores` of ``image`` from eval-mode responses in tiles
        (``tiles``: those responses, already computed)."""
        assert self.network is not None
        height, width = image.shape[-2:]
        out = torch.empty((height, width, 2), dtype=torch.float32)
        for y, x, response in tile_responses(self.network, image, self.params.n_conv) if tiles is None else tiles:
            pixel_scores = self._scores(response)
            out[y : y + pixel_scores.shape[0], x : x + pixel_scores.shape[1]] = pixel_scores.cpu()
        return out

    def _scores(self, response: torch.Tensor) -> torch.Tensor:
        return scores(response, self.scribble_ids.size, self._readout)

    def _read_out(self, pixel_scores: torch.Tensor) -> np.ndarray:
        p = self.params
        return read_out(pixel_scores, self.scribble_ids, unpainted=p.unpainted, table=self._ids, min_size=p.min_size)

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathOrFile) -> None:
        """Save weights, parameters and label mapping to one file (no pickled code).

        Parameters
        ----------
        path : str, path-like or binary file object
            Destination, conventionally ``*.pt``.
        """
        if self.network is None:
            raise RuntimeError("nothing to save: train or load a model first")
        if self._ids is None and self._image is not None:
            self.labels()
        file = ModelFile(
            params=self.params,
            seed=self.seed,
            in_channels=int(self.in_channels),
            channel_axis=self.channel_axis,
            scribble_ids=self.scribble_ids,
            weights=self.network.state_dict(),
            lut=None if self._ids is None else self._ids.lut,
            readout=self._readout,
        )
        write_model(path, file)

    @classmethod
    def load(cls, path: PathOrFile, *, device: str = "auto") -> Segmenter:
        """Load a model saved by :meth:`save` (a path or binary file object); never executes code from it.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ValueError
            When the file is corrupt or not a napari-diffseg model.
        """
        file = read_model(path)
        params = file.params
        model = cls(params, seed=file.seed, device=device)
        model.in_channels, model.channel_axis, model.scribble_ids = (
            file.in_channels,
            file.channel_axis,
            file.scribble_ids,
        )
        network = build_network(model.in_channels, params.channels, params.n_conv, params.padding)
        try:
            network.load_state_dict(file.weights)
        except (RuntimeError, KeyError) as error:
            shown = path if hasattr(path, "read") else os.fspath(path)
            raise ValueError(f"{shown!r} holds weights that do not match its parameters ({error})") from None
        model.network = network.to(model.device)
        model._optimizer = model._make_optimizer()
        if file.readout is not None:
            model._readout = (file.readout[0].to(model.device), file.readout[1].to(model.device))
        model._ids = None if file.lut is None else IdTable.from_array(file.lut)
        return model
