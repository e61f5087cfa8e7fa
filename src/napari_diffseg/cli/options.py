"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import typing
from typing import Any

from .. import __version__
from ..devices import DEVICES
from ..params import PRESETS, Readout

MIN_LABELS_HELP = "stop once at most K labels remain (default: 3)"
SCRIBBLE_MIN_LABELS_HELP = (
    "stop once at most K labels remain (default: 3; with scribbles the number of painted classes, at least 2)"
)
THREADS_HELP = "CPU threads for torch (default: torch's, one per core)"
READOUT_HELP = (
    "how the painted classes label every pixel: auto = context for colour (RGB) images, linear for others, "
    "linear = per-pixel classes from the network's features, "
    "context = the same features with their surroundings (better on photos and large regions), "
    "spatial = strokes spread along the image's edges by a graph cut, argmax = the network's own clusters "
    f"(default: the preset's; {', '.join(f'{name}: {params.readout}' for name, params in PRESETS.items())})"
)


def add_training_options(parser: argparse.ArgumentParser, *, scribbles: bool = True) -> None:
    """Add the options shared by every command that trains a model.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    scribbles : bool
        Whether the subcommand takes scribbles (``--min-labels`` then explains their default, and
        ``--readout`` chooses how they label every pixel).
    """
    parser.add_argument("--preset", choices=list(PRESETS), default="fast", help="parameter preset (default: fast)")
    parser.add_argument("--max-iter", type=int, metavar="N", help="upper bound on training iterations")
    parser.add_argument(
        "--min-labels", type=int, metavar="K", help=SCRIBBLE_MIN_LABELS_HELP if scribbles else MIN_LABELS_HELP
    )
    if scribbles:
        parser.add_argument("--readout", choices=typing.get_args(Readout), help=READOUT_HELP)
    parser.add_argument(
        "--channels", type=int, metavar="Q", help="feature channels q (upper bound on the number of labels)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="random seed; the same seed gives the same labels on the CPU (default: 0)",
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where to compute (default: auto)")
    parser.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    shown.add_argument(
        "--progress", action="store_true", help="show the progress bar even when stderr is not a terminal"
    )


def training_overrides(args: argparse.Namespace) -> dict[str, int | str]:
    """The parameter overrides given on the command line."""
    names = {
        "max_iter": args.max_iter,
        "min_labels": args.min_labels,
        "readout": getattr(args, "readout", None),  # subcommands without scribbles have no --readout
        "channels": args.channels,
        "threads": args.threads,
    }
    return {name: value for name, value in names.items() if value is not None}


def int_list(text: str) -> list[int]:
    """An argparse ``type``: comma-separated integers such as ``3,10,20``."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"comma-separated integers are needed, such as 3,10,20; got {text!r}")
    return values


def run_metadata(args: argparse.Namespace, source: str, *, rgb: bool | None = None, **extra: Any) -> dict[str, Any]:
    """What gets recorded in an output TIFF: software, version, preset, parameters and seed.

    ``rgb``: whether the image was a colour image, so that ``readout="auto"`` is recorded as the
    readout it chose (:func:`~napari_diffseg.params.readout_for_image`).
    """
    from ..params import readout_for_image, resolve_params

    params = resolve_params(args.preset, **training_overrides(args))
    params = (params if rgb is None else readout_for_image(params, rgb)).to_dict()
    return {
        "software": "napari-diffseg",
        "version": __version__,
        "source": os.path.basename(source),
        "preset": args.preset,
        "seed": args.seed,
        "params": params,
        **extra,
    }
