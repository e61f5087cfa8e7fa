"""Saving and loading models: one torch file of tensors and JSON, loaded without running code."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import torch

from . import __version__
from .atomic import atomic_path
from .params import Params

FORMAT = "napari-diffseg-model"
FORMAT_VERSION = 1

PathOrFile = str | os.PathLike | BinaryIO


@dataclass(frozen=True)
class ModelFile:
    """Everything a model file holds.

    Attributes
    ----------
    params : Params
        The model's parameters.
    seed : int
        Its seed.
    in_channels : int
        Input channels of the network.
    channel_axis : int or None
        Channel axis of the training image.
    scribble_ids : numpy.ndarray
        Painted ids in channel order.
    weights : dict of str to torch.Tensor
        The network's state dict.
    lut : numpy.ndarray or None
        Channel -> id table, when one was defined.
    readout : (torch.Tensor, torch.Tensor) or None
        The linear readout's weight and bias.
    """

    params: Params
    seed: int
    in_channels: int
    channel_axis: int | None
    scribble_ids: np.ndarray
    weights: dict[str, torch.Tensor]
    lut: np.ndarray | None = None
    readout: tuple[torch.Tensor, torch.Tensor] | None = None


def write_model(path: PathOrFile, model: ModelFile) -> None:
    """Write ``model`` to ``path`` (a path, conventionally ``*.pt``, or a binary file object).

    A path is written atomically: under a temporary name, renamed when complete.
    """
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "params": model.params.to_dict(),
        "seed": model.seed,
        "in_channels": model.in_channels,
        "channel_axis": model.channel_axis,
        "scribble_ids": model.scribble_ids.tolist(),
    }
    state = {
        "meta": json.dumps(meta),
        "weights": {k: v.detach().cpu() for k, v in model.weights.items()},
        "lut": torch.from_numpy(model.lut if model.lut is not None else np.zeros(0, dtype=np.int64)),
        "readout_weight": torch.zeros(0) if model.readout is None else model.readout[0].cpu(),
        "readout_bias": torch.zeros(0) if model.readout is None else model.readout[1].cpu(),
    }
    if hasattr(path, "write"):
        torch.save(state, path)
        return
    with atomic_path(path) as partial:
        torch.save(state, partial)


def read_model(path: PathOrFile) -> ModelFile:
    """Read a file written by :func:`write_model`; never executes code from it.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is corrupt or not a napari-diffseg model.
    """
    if not hasattr(path, "read"):
        path = os.fspath(path)
    if isinstance(path, str) and os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder, not a model file; pass the path of a model file (*.pt)")
    if isinstance(path, str) and not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(state["meta"])
        if meta.get("format") != FORMAT:
            raise KeyError("format")
    except Exception as error:  # noqa: BLE001 - any failure means: not our file
        raise ValueError(f"{path!r} is not a napari-diffseg model file or is corrupt ({error})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was saved by napari-diffseg {meta.get('version', '?')} in model format "
            f"{meta.get('format_version')!r}; this napari-diffseg ({__version__}) reads format {FORMAT_VERSION}: "
            "load it with the version that saved it, or train the model again"
        )
    try:
        params = Params(**meta["params"]).replace()
    except Exception as error:  # noqa: BLE001 - parameters this version does not know
        raise ValueError(f"{path!r} holds parameters this napari-diffseg cannot use ({error})") from None
    readout = None
    if state.get("readout_weight") is not None and state["readout_weight"].numel():
        readout = (state["readout_weight"], state["readout_bias"])
    lut = state["lut"].numpy()
    return ModelFile(
        params=params,
        seed=meta["seed"],
        in_channels=int(meta["in_channels"]),
        channel_axis=meta["channel_axis"],
        scribble_ids=np.asarray(meta["scribble_ids"], dtype=np.int64),
        weights=state["weights"],
        lut=lut.astype(np.int64) if lut.size else None,
        readout=readout,
    )
