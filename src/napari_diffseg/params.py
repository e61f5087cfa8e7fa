"""Parameters of differentiable feature clustering and the named presets.

``paper`` reproduces the reference implementation of Kim, Kanezaki & Tanaka (2020);
``fast`` is the interactive default, tuned by measurement (see ``docs/benchmarks.md``).
Every field can be overridden by keyword in :func:`resolve_params`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Normalization = Literal["reference", "percentile"]
FinalForward = Literal["train", "eval"]
Unpainted = Literal["assign", "keep"]
Optimizer = Literal["sgd", "adam"]
Padding = Literal["zeros", "replicate", "reflect"]
Readout = Literal["auto", "argmax", "linear", "context", "spatial"]
ColorSpace = Literal["rgb", "lab"]
Correction = Literal["train", "refit"]

STACK_MODES = ("shared", "independent")  # how segment_stack treats the slices of a stack


@dataclass(frozen=True)
class Params:
    """All knobs of one clustering run.

    Attributes
    ----------
    channels : int
        Number of feature channels ``q`` (the upper bound on the number of clusters).
    n_conv : int
        Number of 3x3 convolution blocks (conv -> ReLU -> BatchNorm).
    padding : {"zeros", "replicate", "reflect"}
        How the 3x3 convolutions pad the image border. ``"zeros"`` is the reference's;
        it makes a one-pixel frame look unlike the interior, which then tends to become
        a cluster of its own. ``"replicate"`` avoids that frame.
    optimizer : {"sgd", "adam"}
        Optimiser; SGD uses ``momentum``.
    lr : float
        Learning rate.
    momentum : float
        SGD momentum.
    sim_weight, con_weight, scribble_weight : float
        Weights of the similarity, spatial-continuity and scribble losses.
    min_labels : int or None
        Stop once the number of pseudo-labels is at most this. ``None`` means 3 without
        scribbles, else the number of painted classes (at least 2).
    max_iter : int
        Upper bound on training iterations.
    unsupervised_max_iter : int or None
        Upper bound on training iterations when no scribble is painted (``None``: ``max_iter``;
        otherwise the lower of the two applies). Stopping early keeps the finer clusters that
        further training merges. Setting ``max_iter`` explicitly (and not this) lifts the bound.
    refine_iter : int
        Upper bound on iterations of a warm-started refinement with edited scribbles.
    correction : {"train", "refit"}
        What a refinement (:meth:`~napari_diffseg.Segmenter.refine`) does with edited
        scribbles: ``"train"`` trains the network up to ``refine_iter`` more iterations;
        ``"refit"`` (the fast preset's) refits the readout on the edited scribbles and
        leaves the network as it is, whenever the readout fits the painted classes
        (``"linear"``, ``"context"`` or ``"spatial"`` with two or more painted classes and
        ``unpainted="assign"``), and trains as ``"train"`` otherwise. On the robot-user
        benchmark refitting corrects as well as training, in a fraction of the time
        (``docs/benchmarks.md``).
    refine_pixels : int or None
        Pixels per refinement iteration (``None``: as ``train_pixels``). BatchNorm is still
        calibrated on ``train_pixels``-sized batches, so a smaller value speeds refinement
        up without changing how labels are computed.
    refine_lr : float or None
        Learning rate of refinement (``None``: ``lr``); a lower one keeps the clusters that
        no new stroke touches.
    train_pixels : int or None
        Train on random crops holding at most this many pixels per iteration (``None``:
        the whole image at full resolution, as the reference does).
    crop_size : int
        Side of the square crops used when ``train_pixels`` limits training.
    smooth_sigma : float
        Gaussian pre-smoothing of the input in pixels (0 disables it).
    min_size : int
        Connected components smaller than this are merged into their neighbours after
        labelling (0 disables it).
    region_scale : float
        Without scribbles: after labelling, every region of a fine graph-based
        over-segmentation of the input (scikit-image's ``felzenszwalb`` with this scale)
        takes the label most of its pixels have, so that cluster boundaries follow image
        edges (the superpixel vote of the method's 2018 predecessor, applied once to the
        final labels; 0 disables it, as in the reference). It applies to the labels of the
        training image, not to ``Segmenter.predict``, so that the ids a model gives other
        images (the slices of a stack) stay consistent.
    split_scale : float
        Without scribbles, after the region vote: every label is cut along the borders of a
        second, coarser over-segmentation of the input (``felzenszwalb`` with this scale and
        ``min_size=50``), and each (label, region) pair becomes a label of its own, so that
        a cluster joining distinct objects of similar colour is split at the image edges
        between them (:func:`~napari_diffseg.regions.split_by_regions`). This gives many more
        labels (a few hundred on a 481x321 photo; ``min_size`` merges the smallest). Like the
        vote it applies to the labels of the training image only; 0 disables it, as in the
        reference.
    normalization : {"reference", "percentile"}
        ``"reference"`` divides 8-bit images by 255 like the reference (other dtypes are
        normalised robustly); ``"percentile"`` always stretches the 1-99.8 percentiles.
    color_space : {"rgb", "lab"}
        Colour space RGB(A) images are clustered in: ``"rgb"`` as the reference, or CIE
        L*a*b* (``"lab"``), whose distances follow perceived colour differences. Other
        images are not affected.
    final_forward : {"train", "eval"}
        BatchNorm mode of the forward pass that gives the final labels of the training
        image: ``"train"`` (batch statistics, as the reference) or ``"eval"``
        (re-calibrated running statistics; required when training on crops).
    unpainted : {"assign", "keep"}
        With scribbles, ``"assign"`` gives every pixel one of the painted ids;
        ``"keep"`` lets clusters no scribble claims keep ids above the largest painted id.
    readout : {"auto", "argmax", "linear", "context", "spatial"}
        With scribbles of two or more classes and ``unpainted="assign"``: ``"auto"`` (the
        fast preset's default) is ``"context"`` for a colour (RGB or RGBA) image and
        ``"linear"`` for every other image (grayscale, fluorescence channels); a
        :class:`~napari_diffseg.Segmenter` chooses when it is given the image, and its
        ``params`` then show the choice (:func:`readout_for_image`). ``"argmax"`` gives
        each pixel the painted class whose channel responds most (the network's own
        output); ``"linear"`` fits a linear discriminant (shrinkage LDA) of the painted
        classes on the painted pixels' responses and applies it to every pixel, so that
        clusters no stroke touches go to the class they resemble most (needs
        ``final_forward="eval"``); ``"context"`` is the same
        discriminant on the responses together with their local means at two scales
        (:mod:`napari_diffseg.context`), so that a pixel is read with its surroundings and
        a stroke's class follows the surroundings it was painted in (needs
        ``final_forward="eval"``); ``"spatial"`` labels the
        training image by a contrast-sensitive graph cut over discriminants of the painted
        classes, with the strokes fixed (:mod:`napari_diffseg.spatial`),
        so that strokes spread along the image and stop at its edges, and a correction that
        only adds strokes changes only the regions they lie in (needs ``final_forward="eval"``).
    threads : int or None
        Torch CPU threads while this run executes (``None``: leave torch's setting).
    """

    channels: int = 100
    n_conv: int = 2
    padding: Padding = "zeros"
    optimizer: Optimizer = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    sim_weight: float = 1.0
    con_weight: float = 1.0
    scribble_weight: float = 0.5
    min_labels: int | None = None
    max_iter: int = 1000
    unsupervised_max_iter: int | None = None
    refine_iter: int = 50
    correction: Correction = "train"
    refine_pixels: int | None = None
    refine_lr: float | None = None
    train_pixels: int | None = None
    crop_size: int = 128
    smooth_sigma: float = 0.0
    min_size: int = 0
    region_scale: float = 0.0
    split_scale: float = 0.0
    normalization: Normalization = "reference"
    color_space: ColorSpace = "rgb"
    final_forward: FinalForward = "train"
    unpainted: Unpainted = "assign"
    readout: Readout = "argmax"
    threads: int | None = None

    def replace(self, **changes: Any) -> Params:
        """Return a copy with ``changes`` applied and validated."""
        return _validated(dataclasses.replace(self, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a plain, JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def iteration_bound(self, painted: bool) -> int:
        """Upper bound on the iterations of one training: ``max_iter``, at most
        ``unsupervised_max_iter`` when nothing is ``painted``."""
        if painted or self.unsupervised_max_iter is None:
            return self.max_iter
        return min(self.max_iter, self.unsupervised_max_iter)


PRESETS: dict[str, Params] = {
    "paper": Params(),
    "fast": Params(
        channels=32,
        n_conv=2,
        padding="replicate",
        optimizer="sgd",
        lr=0.1,
        max_iter=30,
        unsupervised_max_iter=10,
        refine_iter=10,
        correction="refit",
        refine_pixels=16384,
        refine_lr=0.05,
        train_pixels=65536,
        crop_size=128,
        normalization="percentile",
        color_space="lab",
        final_forward="eval",
        readout="auto",
        region_scale=100.0,
        split_scale=200.0,
        threads=None,
    ),
}

_CHOICES = {
    "optimizer": ("sgd", "adam"),
    "padding": ("zeros", "replicate", "reflect"),
    "normalization": ("reference", "percentile"),
    "color_space": ("rgb", "lab"),
    "final_forward": ("train", "eval"),
    "unpainted": ("assign", "keep"),
    "readout": ("auto", "argmax", "linear", "context", "spatial"),
    "correction": ("train", "refit"),
}
_POSITIVE_INTS = ("channels", "n_conv", "max_iter", "crop_size")
_NON_NEGATIVE_INTS = ("refine_iter", "min_size")
_NON_NEGATIVE_FLOATS = (
    "lr",
    "momentum",
    "sim_weight",
    "con_weight",
    "scribble_weight",
    "smooth_sigma",
    "region_scale",
    "split_scale",
)


SEED_LIMIT = 2**32  # seeds are integers in [0, SEED_LIMIT)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite real number (NaN and infinities are refused)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int, or raise when it is not an integer in ``[0, 2**32)``.

    Raises
    ------
    TypeError
        When ``seed`` is not an integer.
    ValueError
        When it is negative or not below ``2**32``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer; got {seed!r}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must be an integer from 0 to 2**32 - 1 ({SEED_LIMIT - 1}); got {seed}")
    return int(seed)


def _validated(params: Params) -> Params:
    for name, allowed in _CHOICES.items():
        if getattr(params, name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(params, name)!r}")
    for name in _POSITIVE_INTS:
        value = getattr(params, name)
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    for name in _NON_NEGATIVE_INTS:
        value = getattr(params, name)
        if not _is_int(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
    for name in _NON_NEGATIVE_FLOATS:
        value = getattr(params, name)
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name} must be a finite, non-negative number; got {value!r}")
    if params.channels < 2:
        raise ValueError(f"channels must be at least 2; got {params.channels}")
    if params.min_labels is not None and (not _is_int(params.min_labels) or params.min_labels < 1):
        raise ValueError(f"min_labels must be a positive integer or None; got {params.min_labels!r}")
    if params.unsupervised_max_iter is not None and (
        not _is_int(params.unsupervised_max_iter) or params.unsupervised_max_iter < 1
    ):
        raise ValueError(
            f"unsupervised_max_iter must be a positive integer or None; got {params.unsupervised_max_iter!r}"
        )
    for name in ("train_pixels", "refine_pixels"):
        value = getattr(params, name)
        if value is not None and (not _is_int(value) or value < 64):
            raise ValueError(f"{name} must be an integer >= 64 or None; got {value!r}")
    if params.refine_lr is not None and (not _is_number(params.refine_lr) or params.refine_lr < 0):
        raise ValueError(f"refine_lr must be a finite, non-negative number or None; got {params.refine_lr!r}")
    if params.threads is not None and (not _is_int(params.threads) or params.threads < 1):
        raise ValueError(f"threads must be a positive integer or None; got {params.threads!r}")
    if params.readout != "argmax" and params.final_forward == "train":
        raise ValueError(f"readout={params.readout!r} needs final_forward='eval'")
    if params.train_pixels is not None and params.final_forward == "train":
        raise ValueError("final_forward='train' needs train_pixels=None (training on the whole image)")
    return params


def readout_for_image(params: Params, rgb: bool) -> Params:
    """``params`` with ``readout="auto"`` replaced by the readout it means for an image (else unchanged).

    Parameters
    ----------
    params : Params
        The parameters asked for.
    rgb : bool
        Whether the image is a colour (RGB or RGBA) image.

    Returns
    -------
    Params
        For a colour image ``readout="context"``: on photos reading each pixel with its
        surroundings labels more of the image right. For any other image ``readout="linear"``:
        on fluorescence nuclei the local means blur the objects' borders (``docs/benchmarks.md``).
    """
    if params.readout != "auto":
        return params
    return params.replace(readout="context" if rgb else "linear")


def resolve_params(preset: str | Params = "fast", **overrides: Any) -> Params:
    """Return the parameters of a preset with keyword overrides applied.

    Parameters
    ----------
    preset : str or Params
        ``"fast"`` (default), ``"paper"``, or a :class:`Params` instance.
    **overrides
        Any field of :class:`Params`.

    Returns
    -------
    Params
        Validated parameters.

    Raises
    ------
    ValueError
        For an unknown preset, an unknown parameter name or an invalid value.
    """
    if isinstance(preset, Params):
        base = preset
    elif isinstance(preset, str) and preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(Params)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; valid parameters are {', '.join(sorted(fields))}")
    if base.train_pixels is not None and "train_pixels" in overrides and overrides["train_pixels"] is None:
        overrides.setdefault("final_forward", "train")
        if overrides["final_forward"] == "train":
            overrides.setdefault("readout", "argmax")
    if "max_iter" in overrides:
        overrides.setdefault("unsupervised_max_iter", None)  # an explicit max_iter applies to every run
    return base.replace(**overrides)
