"""The training loop: one network, its optimiser and its training input.

:class:`Trainer` holds what training changes and runs **the loop** (:meth:`Trainer.iterate`,
one :meth:`Trainer.step` per iteration: a batch from :mod:`.sampling`, the losses of
:mod:`.losses`, one optimiser step). :class:`~napari_diffseg.segmenter.Segmenter` drives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .devices import torch_threads
from .losses import clustering_loss
from .memory import check_fits, training_bytes
from .network import build_network, swap_output_channels, tile_responses
from .params import Params
from .preprocess import Scribbles, map_scribbles, prepare_image
from .progress import Progress
from .readout import cluster_claims
from .sampling import training_batch

FITTED_SHARE = 0.99  # refinement stops once this share of the painted pixels is labelled right...
FITTED_STREAK = 2  # ...in this many batches in a row


class Trainer:
    """The network being trained, its optimiser, and the (preprocessed) image and scribbles.

    Parameters
    ----------
    params : Params
        The run's parameters (the owner may replace them between calls).
    seed : int
        Seed of the initialisation and of the crop sampler.
    device : torch.device
        Where tensors live.
    """

    def __init__(self, params: Params, seed: int, device: torch.device):
        self.params, self.seed, self.device = params, seed, device
        self.network: torch.nn.Sequential | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.in_channels: int | None = None
        self.channel_axis: int | None = None
        self.scribble_ids = np.zeros(0, dtype=np.int64)
        self.image: torch.Tensor | None = None
        self.scribbles: Scribbles | None = None
        self._targets: torch.Tensor | None = None
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ input
    def prepared(self, image: np.ndarray, channel_axis: int | None) -> np.ndarray:
        """``image`` as the network's (C, H, W) input, preprocessed as the parameters say."""
        p = self.params
        return prepare_image(
            image, channel_axis, normalization=p.normalization, smooth_sigma=p.smooth_sigma, color_space=p.color_space
        )

    def network_input(self, image: np.ndarray, channel_axis: int | None) -> torch.Tensor:
        """Another image as a (1, C, H, W) input of the trained network (default channel axis: the training one)."""
        if self.network is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        data = self.prepared(image, self.channel_axis if channel_axis is None else channel_axis)
        if data.shape[0] != self.in_channels:
            raise ValueError(
                f"the model was trained on images with {self.in_channels} channel(s); this image has "
                f"{data.shape[0]}. Pass the matching channel_axis or train a new model"
            )
        return torch.from_numpy(data)[None].to(self.device)

    def set_image(self, image: np.ndarray | list[np.ndarray], channel_axis: int | None) -> None:
        """Prepare the training image(s) (a list: trained on together) after checking memory."""
        images = image if isinstance(image, list) else [image]
        prepared = [self.prepared(one, channel_axis) for one in images]
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
            training_bytes(
                train_pixels,
                self.params.channels,
                self.params.n_conv,
                data.shape[0],
                optimizer_slots=2 if self.params.optimizer == "adam" else 1,
            ),
            self.device,
            f"training on a {data.shape[1]}x{data.shape[2]} image with {self.params.channels} channels",
        )
        self.image = torch.from_numpy(np.stack(prepared)).to(self.device)

    def set_scribbles(
        self, scribbles: np.ndarray | list[np.ndarray | None] | None, keep_order: np.ndarray | None = None
    ) -> None:
        """Map ``scribbles`` to channels (:func:`~napari_diffseg.preprocess.map_scribbles`)."""
        assert self.image is not None
        mapped = map_scribbles(scribbles, self.image.shape[0], tuple(self.image.shape[-2:]), keep_order)
        if mapped.n_classes > self.params.channels:
            raise ValueError(
                f"{mapped.n_classes} scribble classes but only {self.params.channels} channels; "
                "raise channels or paint fewer classes"
            )
        self.scribbles = mapped
        self.scribble_ids = mapped.ids
        targets = mapped.targets.reshape(self.image.shape[0], *self.image.shape[-2:])
        self._targets = torch.from_numpy(targets).to(self.device) if mapped.n_classes else None

    def painted_targets(self) -> np.ndarray | None:
        """(N, H, W) channel targets (-1 = unpainted) when anything is painted, else None."""
        if self.scribbles is None or self.scribbles.n_classes == 0 or self.image is None:
            return None
        return self.scribbles.targets.reshape(self.image.shape[0], *self.image.shape[-2:])

    def init_network(self) -> None:
        """A freshly initialised network (from the seed), optimiser and crop sampler."""
        assert self.in_channels is not None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = build_network(self.in_channels, self.params.channels, self.params.n_conv, self.params.padding)
        self.network = network.to(self.device)
        self._rng = np.random.default_rng(self.seed)
        self.optimizer = self.make_optimizer()

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser the parameters name, over the network's weights."""
        assert self.network is not None
        p = self.params
        if p.optimizer == "adam":
            return torch.optim.Adam(self.network.parameters(), lr=p.lr)
        return torch.optim.SGD(self.network.parameters(), lr=p.lr, momentum=p.momentum)

    def restore(
        self, network: torch.nn.Sequential, in_channels: int, channel_axis: int | None, scribble_ids: np.ndarray
    ) -> None:
        """Take a loaded network (and a fresh optimiser) without any training input."""
        self.network, self.in_channels, self.channel_axis = network, in_channels, channel_axis
        self.scribble_ids = scribble_ids
        self.optimizer = self.make_optimizer()

    def state_dict(self) -> dict[str, Any]:
        """The network's weights (with BatchNorm statistics) and the optimiser's state."""
        if self.network is None or self.optimizer is None:
            raise RuntimeError("no trained model; call train or fit, or load a model first")
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned."""
        if self.network is None or self.optimizer is None:
            raise RuntimeError("call train (or load a model) first, so that the network exists")
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])

    # ------------------------------------------------------------------ the loop
    def iterate(
        self,
        max_iter: int,
        *,
        floor: int,
        stop_at_floor: bool,
        pixels: int | None,
        lr: float,
        stop_when_fitted: bool = False,
    ) -> Iterator[Progress]:
        """The training loop: one :meth:`step` per iteration until a stopping rule holds.

        Stops after ``max_iter`` iterations, at the label ``floor`` (``stop_at_floor``), or
        once the painted pixels are fitted in a streak of batches (``stop_when_fitted``).
        """
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        streak = 0
        for iteration in range(1, max_iter + 1):
            with torch_threads(self.params.threads):
                n_labels, loss, fitted = self.step(pixels, measure_fit=stop_when_fitted)
            yield Progress(iteration, max_iter, n_labels, loss)
            if stop_at_floor and n_labels <= floor:
                return
            streak = streak + 1 if fitted >= FITTED_SHARE else 0
            if stop_when_fitted and streak >= FITTED_STREAK:
                return

    def step(self, pixels: int | None, *, measure_fit: bool = True) -> tuple[int, float, float]:
        """One update; returns the number of pseudo-labels, the loss and the share of the
        batch's painted pixels that are labelled with their class (0 without scribbles, or
        when not ``measure_fit``)."""
        assert self.network is not None and self.optimizer is not None and self.image is not None
        p = self.params
        batch, targets = training_batch(
            self._rng, self.image, self._targets, self.painted_targets(), budget=pixels, crop_size=p.crop_size
        )
        self.network.train()
        response = self.network(batch)
        pseudo = response.detach().max(1).indices  # the argmax (first maximum), about 2x faster on CPU
        n_labels = int(torch.unique(pseudo).numel())
        loss = clustering_loss(
            response,
            pseudo,
            targets,
            sim_weight=p.sim_weight,
            con_weight=p.con_weight,
            scribble_weight=p.scribble_weight,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        fitted = self._fitted_share(response.detach(), pseudo, targets) if measure_fit else 0.0
        return n_labels, float(loss.detach()), fitted

    def _fitted_share(self, response: torch.Tensor, pseudo: torch.Tensor, targets: torch.Tensor | None) -> float:
        if targets is None or not bool((targets >= 0).any()):
            return 0.0
        painted = targets >= 0
        if self.params.unpainted == "keep" or self.scribble_ids.size < 2:
            predicted = pseudo[painted]
        else:  # the painted channel that responds most, at the painted pixels only
            predicted = response.permute(0, 2, 3, 1)[painted][:, : self.scribble_ids.size].argmax(1)
        return float((predicted == targets[painted]).float().mean())

    @torch.no_grad()
    def claim_clusters(self, previous_ids: np.ndarray) -> None:
        """Hand each new class the unclaimed cluster most of its strokes lie in (:func:`~.readout.cluster_claims`)."""
        assert self.network is not None and self.optimizer is not None
        assert self.scribbles is not None and self.image is not None
        previous = set(previous_ids.tolist())
        new = [k for k, i in enumerate(self.scribble_ids.tolist()) if i not in previous]
        if not new:
            return
        targets = self.scribbles.targets.reshape(self.image.shape[0], -1)
        painted_images = np.flatnonzero((targets[:, None, :] == np.array(new)[None, :, None]).any(axis=(1, 2)))
        best = {int(i): self._best_channels(self.image[i : i + 1]) for i in painted_images}
        for channel, cluster in cluster_claims(best, targets, new, self.scribble_ids.size, self.params.channels):
            swap_output_channels(self.network, self.optimizer, channel, cluster)

    def _best_channels(self, image: torch.Tensor) -> np.ndarray:
        """Flat eval-mode argmax channel of every pixel of a (1, C, H, W) image."""
        assert self.network is not None
        height, width = image.shape[-2:]
        best = np.empty((height, width), np.int64)
        for y, x, response in tile_responses(self.network, image, self.params.n_conv):
            best[y : y + response.shape[-2], x : x + response.shape[-1]] = response[0].argmax(0).cpu().numpy()
        return best.ravel()
