"""The step-wise clustering model that ``segment``, the widget, the CLI and stacks drive.

:class:`Segmenter` orchestrates: a :class:`~napari_diffseg.training.Trainer` holds the network
and its input and runs **the training loop** (``Trainer.iterate`` -> ``Trainer.step``); a
:class:`~napari_diffseg.readout.Readout` turns responses into ids (BatchNorm calibration,
the linear scribble readout, the channel -> id table); files are :mod:`.model_file`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .devices import resolve_device, torch_threads
from .model_file import ModelFile, PathOrFile, read_model, write_model
from .network import batch_stats_forward, build_network, stitched_responses
from .params import Params, check_seed, readout_for_image, resolve_params
from .preprocess import Scribbles
from .progress import Callback, Progress, drive
from .readout import LINEAR_READOUTS, Readout, keep_strokes, refits, scores, uses_spatial
from .regions import refine_labels
from .training import Trainer

__all__ = ["Progress", "Segmenter", "run"]

run = drive  # the former name of napari_diffseg.progress.drive, for existing callers

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
        resolved = resolve_params(preset, **params)
        self.seed = check_seed(seed)
        self.device = resolve_device(device)
        self._requested = resolved  # with readout="auto" until an image says which readout it means
        self._trainer = Trainer(resolved, self.seed, self.device)
        self._readout = Readout()

    # ------------------------------------------------------------------ state
    @property
    def params(self) -> Params:
        """The parameters (frozen; change them with :meth:`set_params`); once an image is given,
        ``readout="auto"`` shows the readout it chose (:func:`~napari_diffseg.params.readout_for_image`)."""
        return self._trainer.params

    def _for_image(self, params: Params) -> Params:
        """``params`` with ``readout="auto"`` resolved for the training image (colour: 3 channels, no channel axis)."""
        if self.in_channels is None:
            return params
        return readout_for_image(params, rgb=self.in_channels == 3 and self.channel_axis is None)

    @property
    def network(self) -> torch.nn.Sequential | None:
        """The network (None before training or loading)."""
        return self._trainer.network

    @network.setter
    def network(self, network: torch.nn.Sequential) -> None:
        self._trainer.network = network
        self._readout.forget(history=True)

    @property
    def in_channels(self) -> int | None:
        """Input channels of the network."""
        return self._trainer.in_channels

    @property
    def channel_axis(self) -> int | None:
        """Channel axis of the training image (the default of :meth:`predict`)."""
        return self._trainer.channel_axis

    @property
    def scribble_ids(self) -> np.ndarray:
        """The painted ids in channel order."""
        return self._trainer.scribble_ids

    @property
    def image(self) -> torch.Tensor | None:
        """The preprocessed training image(s), (N, C, H, W), or None before training."""
        return self._trainer.image

    @property
    def scribbles(self) -> Scribbles | None:
        """The training scribbles mapped to channels, or None."""
        return self._trainer.scribbles

    @property
    def readout(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The linear readout ``(weight, bias)`` of the painted classes, when one is fitted."""
        return self._readout.linear

    @property
    def is_calibrated(self) -> bool:
        """Whether BatchNorm statistics, ids and readout match the current weights."""
        return self._readout.calibrated

    def set_params(self, **changes: Any) -> None:
        """Change parameters; calibration fields (``train_pixels``, ``crop_size``, ``final_forward``,
        ``readout``, ``unpainted``) make the next labelling recalibrate. Raises ValueError for an
        invalid change, or one of a field that shapes the network or its input after training."""
        requested = resolve_params(self._requested, **changes)
        params = self._for_image(requested)
        fixed = sorted(
            name for name in _FIXED_AFTER_TRAINING & set(changes) if changes[name] != getattr(self.params, name)
        )
        if fixed and self.network is not None:
            raise ValueError(f"{', '.join(fixed)} cannot change after training; train a new model instead")
        self._requested = requested
        self._trainer.params = params
        if _CALIBRATION_FIELDS & set(changes):
            self._readout.forget()

    def state_dict(self) -> dict[str, Any]:
        """The network's weights (with BatchNorm statistics) and the optimiser's state."""
        return self._trainer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned into a model of the same parameters and input."""
        self._trainer.load_state_dict(state)
        self._readout.forget(history=True)

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

        Training stops after ``max_iter`` iterations (without scribbles: at most
        ``unsupervised_max_iter``) or once the number of pseudo-labels falls to the floor
        (``min_labels``). Stop iterating (or ``close()`` the generator) to cancel: the network
        keeps the weights of the last completed iteration.

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
        trainer = self._trainer
        trainer.set_image(image, channel_axis)
        trainer.params = self._for_image(self._requested)
        trainer.set_scribbles(scribbles)
        self._readout.forget(history=True)
        if not (warm_start and trainer.network is not None):
            trainer.init_network()
        p = self.params
        max_iter = p.iteration_bound(painted=self.scribble_ids.size > 0)
        return self._steps(
            trainer.iterate(max_iter, floor=self.min_labels(), stop_at_floor=True, pixels=p.train_pixels, lr=p.lr)
        )

    def refine(self, scribbles: np.ndarray | None) -> Iterator[Progress]:
        """Continue training the current network with edited scribbles on the same image.

        This is the correction loop: paint a stroke, refine, look at :meth:`labels`. It
        runs at most ``refine_iter`` iterations (on batches of ``refine_pixels``, at
        ``refine_lr``) from the current weights and optimiser state and does not stop at
        the label floor; with ``correction="refit"`` (the fast preset's) and a readout fitted
        to two or more painted classes it runs none, and the next :meth:`labels` refits the
        readout on the edited scribbles. Classes keep their channels, and a new class first
        takes over the unclaimed cluster most of its strokes lie in.
        """
        trainer = self._trainer
        if trainer.network is None or trainer.image is None:
            raise RuntimeError("refine needs a trained model on an image; call train first")
        previous = np.zeros(0, np.int64) if trainer.scribbles is None else trainer.scribbles.ids
        trainer.set_scribbles(scribbles, keep_order=None if trainer.scribbles is None else previous)
        self._readout.forget()
        trainer.claim_clusters(previous)
        p = self.params
        pixels = p.train_pixels if p.refine_pixels is None else p.refine_pixels
        lr = p.lr if p.refine_lr is None else p.refine_lr
        iterations = 0 if refits(p, self.scribble_ids.size) else p.refine_iter
        steps = trainer.iterate(
            iterations, floor=self.min_labels(), stop_at_floor=False, pixels=pixels, lr=lr, stop_when_fitted=True
        )
        return self._steps(steps)

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

    def _steps(self, steps: Iterator[Progress]) -> Iterator[Progress]:
        """The trainer's iterations, each of which makes the calibration stale."""
        self._readout.forget()
        for progress in steps:
            self._readout.forget()
            yield progress

    # ------------------------------------------------------------------ labelling
    def labels(self) -> np.ndarray:
        """uint16 (uint32 when ids do not fit) (H, W) labels, never 0, of the training image (the first
        of a list) with the current weights. Painted ids are kept; see ``unpainted`` in
        :class:`~napari_diffseg.params.Params`. With the linear or spatial readout, the labels
        after a :meth:`refine` that only added strokes differ from those shown before only in
        the regions the new strokes lie in."""
        network, image = self.network, self.image
        if network is None or image is None:
            raise RuntimeError("no trained model; call train or fit first")
        n_painted, scribbles = self.scribble_ids.size, self.scribbles
        with torch_threads(self.params.threads):
            if scribbles is not None and uses_spatial(self.params, n_painted):
                return self._readout.spatial_labels(network, image, scribbles, self.params)
            if self.params.final_forward == "train":
                pixel_scores = scores(batch_stats_forward(network, image), n_painted, self._readout.linear)
            else:
                tiles = self._readout.calibrate(network, image, scribbles, self.params)
                pixel_scores = self._readout.tiled_scores(network, image[:1], self.params.n_conv, n_painted, tiles)
        self._readout.calibrated = True
        labels = self._readout.label(pixel_scores, self.scribble_ids, self.params, new_table=True)
        if n_painted == 0:
            p = self.params  # the training image's regions vote and split its labels
            labels = refine_labels(
                labels, image[0].cpu().numpy(), region_scale=p.region_scale, split_scale=p.split_scale
            )
        if scribbles is None:
            return labels
        targets = scribbles.targets.reshape(image.shape[0], *image.shape[-2:])[0]
        labels = keep_strokes(labels, targets, scribbles.ids)
        if self.params.readout in LINEAR_READOUTS and n_painted >= 2:
            labels = self._readout.correction(labels, targets, scribbles.ids)
        return labels

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
            pixel_scores = self._readout.tiled_scores(self.network, data, self.params.n_conv, self.scribble_ids.size)
        return self._readout.label(pixel_scores, self.scribble_ids, self.params, new_table=False)

    def responses(self, image: np.ndarray | None = None, *, channel_axis: int | None = None) -> torch.Tensor:
        """Eval-mode (q, H, W) network responses of the training image (the first one) or of ``image``.

        BatchNorm is calibrated on the training image first, as for :meth:`labels`.
        """
        if image is not None:
            data = self._input(image, channel_axis)
        else:
            if self.network is None or self.image is None:
                raise RuntimeError("no training image; call train first or pass an image")
            if not self.is_calibrated:
                self.labels()
            data = self.image[:1]
        return stitched_responses(self.network, data, self.params.n_conv)

    def fix_ids(self) -> None:
        """Give every channel its id now, so that :meth:`predict` never assigns new ones.

        Without this, a channel first seen in a predicted image gets the next free id, so
        ids depend on the order images are labelled in. After it, labels are independent of
        that order, which copies of the model labelling images in parallel need. Channels
        seen on the training image keep their ids; the others get the next ids in order.
        """
        if self.network is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        if self._readout.ids is None and self.image is not None:
            self.labels()
        self._readout.fix_ids(self.params.channels, self.scribble_ids)

    def _input(self, image: np.ndarray, channel_axis: int | None) -> torch.Tensor:
        """``image`` prepared as a (1, C, H, W) network input, with the model calibrated for it."""
        data = self._trainer.network_input(image, channel_axis)
        if not self.is_calibrated and self.image is not None:
            self.labels()  # calibrates BatchNorm and fixes the channel -> id mapping
        return data

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathOrFile) -> None:
        """Save weights, parameters and label mapping to ``path`` (conventionally ``*.pt``, or a binary
        file object) as one file of tensors and JSON (no pickled code)."""
        if self.network is None:
            raise RuntimeError("nothing to save: train or load a model first")
        if self._readout.ids is None and self.image is not None:
            self.labels()
        file = ModelFile(
            params=self.params,
            seed=self.seed,
            in_channels=int(self.in_channels),
            channel_axis=self.channel_axis,
            scribble_ids=self.scribble_ids,
            weights=self.network.state_dict(),
            lut=None if self._readout.ids is None else self._readout.ids.lut,
            readout=self._readout.linear,
        )
        write_model(path, file)

    @classmethod
    def load(cls, path: PathOrFile, *, device: str = "auto") -> Segmenter:
        """Load a model saved by :meth:`save` (a path or binary file object); never executes code from it.

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a corrupt or
        foreign one (see :func:`~napari_diffseg.model_file.read_model`).
        """
        file = read_model(path)
        params = file.params
        model = cls(params, seed=file.seed, device=device)
        network = build_network(file.in_channels, params.channels, params.n_conv, params.padding)
        try:
            network.load_state_dict(file.weights)
        except (RuntimeError, KeyError) as error:
            shown = path if hasattr(path, "read") else os.fspath(path)
            raise ValueError(f"{shown!r} holds weights that do not match its parameters ({error})") from None
        model._trainer.restore(network.to(model.device), file.in_channels, file.channel_axis, file.scribble_ids)
        model._readout.restore(file, model.device)
        return model
