"""``napari-diffseg objects``: count and measure objects in a label image or stack.

The chosen classes of LABELS become instance labels (touching objects split) written as TIFF,
with a CSV table of one row per object. :func:`add_object_options` also gives ``segment`` and
``segment-stack`` their ``--objects``/``--table`` outputs, and :func:`write_objects` makes them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from ..io import STACK_SUFFIXES, TIFF_SUFFIXES
from .options import int_list
from .outputs import add_output_option

HELP = "turn classes of a label image or stack into counted, measured objects"
DESCRIPTION = (
    "Turn the chosen classes of LABELS (a 2D label image or a stack: .tif, .npy or .zarr) into "
    "objects: touching objects are split by a seeded watershed and specks under the size filter "
    "dropped. Writes the object labels as TIFF (0 = background, ids 1..n) and, with --table, one "
    "CSV row per object (area, centroid, bounding box, shape and, with --image, intensities), in "
    "micrometres when the TIFF records a pixel size."
)


def add_objects_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg objects``."""
    parser = subparsers.add_parser("objects", help=HELP, description=DESCRIPTION)
    parser.add_argument("labels", metavar="LABELS", help="label image or stack: .tif, .tiff, .npy or .zarr")
    add_output_option(
        parser,
        "-o",
        "--output",
        suffixes=TIFF_SUFFIXES,
        required=True,
        metavar="OBJECTS",
        help="output object labels: .tif/.tiff",
    )
    parser.add_argument(
        "--image", metavar="IMAGE", help="the segmented image (TIFF, PNG or JPEG), for seeds, edges and intensities"
    )
    add_object_options(parser, outputs=False)
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads: slices of a stack split at once (default: one per core)"
    )
    parser.set_defaults(run=run_objects)


def add_object_options(parser: argparse.ArgumentParser, *, outputs: bool = True) -> None:
    """Add the object options: ``--table``, ``--classes``, ``--no-split``, ``--min-size``, ``--radius``, ``--3d``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    outputs : bool
        Also add ``--objects`` (for ``segment`` and ``segment-stack``, whose ``--output`` holds classes).
    """
    group = parser.add_argument_group("objects")
    if outputs:
        add_output_option(
            group,
            "--objects",
            suffixes=TIFF_SUFFIXES,
            metavar="OBJECTS",
            help=(
                "also turn the labels into objects (touching ones split; a stack's slices --threads at once) "
                "and write them as .tif"
            ),
        )
    add_output_option(
        group,
        "--table",
        suffixes=(".csv",),
        metavar="CSV",
        help="write one row per object (area, centroid, ...) as CSV",
    )
    group.add_argument(
        "--classes",
        type=int_list,
        metavar="I,J",
        help="label ids to turn into objects (default: every positive id when 0 is present, "
        "otherwise the smaller of two classes)",
    )
    group.add_argument("--no-split", action="store_true", help="keep touching objects together (connected components)")
    group.add_argument(
        "--min-size",
        type=float,
        metavar="N",
        help="drop (or merge into a neighbour) objects smaller than N pixels, or square micrometres with a "
        "pixel size (default: a tenth of a typical object; 0 keeps all)",
    )
    group.add_argument(
        "--radius",
        type=float,
        metavar="R",
        help="typical object radius in pixels, or micrometres with a pixel size: seeds are at least 0.45 R apart, "
        "so a larger R splits less (default: measured on the class)",
    )
    slices = group.add_mutually_exclusive_group()
    slices.add_argument(
        "--per-slice",
        dest="per_slice",
        action="store_true",
        default=True,
        help="stacks: 2D objects per slice (default)",
    )
    slices.add_argument(
        "--3d", dest="per_slice", action="store_false", help="stacks: 3D objects linked across slices (in voxels)"
    )


def wants_objects(args: argparse.Namespace) -> bool:
    """Whether ``segment`` / ``segment-stack`` were asked for objects."""
    return args.objects is not None or args.table is not None


def run_objects(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg objects``."""
    labels, pixel_size = read_labels(args.labels)
    image = None
    if args.image is not None:
        from ..io import read_image

        loaded = read_image(args.image)
        image, pixel_size = loaded.data, pixel_size or loaded.pixel_size
        if image.shape[: labels.ndim] != labels.shape:
            raise ValueError(
                f"--image {args.image!r} has shape {image.shape} but LABELS {args.labels!r} has shape {labels.shape}; "
                "give the image that was segmented"
            )
    write_objects(args, labels, image, pixel_size, objects_path=args.output)
    return 0


def read_labels(path: str) -> tuple[np.ndarray, tuple[float, float] | None]:
    """A label image or stack from a file, with its (y, x) pixel size in micrometres when a TIFF records one."""
    if path.lower().endswith(TIFF_SUFFIXES):
        from ..io import read_image

        loaded = read_image(path)
        return loaded.data, loaded.pixel_size
    if not path.lower().rstrip("/").endswith(STACK_SUFFIXES):
        raise ValueError(f"LABELS {path!r} must be a label image or stack ending in {', '.join(STACK_SUFFIXES)}")
    from ..stack.io import open_stack

    return np.asarray(open_stack(path)), None


def write_objects(
    args: argparse.Namespace,
    labels: np.ndarray,
    image: np.ndarray | None,
    pixel_size: tuple[float, float] | None,
    *,
    objects_path: str | None,
) -> int:
    """Make the objects of ``labels`` as the object options ask, write them and their table; returns their count."""
    from ..atomic import atomic_path
    from ..io import write_labels
    from ..objects import measure_objects, split_instances

    stack = labels.ndim == 3
    flat = stack and args.per_slice
    spacing: tuple[float, ...] | None = None
    if pixel_size is not None and not (stack and not flat):
        spacing = (1.0, *pixel_size) if stack else tuple(pixel_size)
    objects = split_instances(
        labels,
        args.classes,
        image=image,
        split_touching=not args.no_split,
        min_size=args.min_size,
        radius=args.radius,
        spacing=spacing,
        per_slice=args.per_slice,
        workers=args.threads,
    )
    count = int(objects.max())
    if objects_path is not None:
        metadata = {"software": "napari-diffseg", "source": os.path.basename(_source(args)), "objects": count}
        write_labels(objects_path, objects, pixel_size=pixel_size, metadata=metadata)
        print(f"wrote {count} objects to {objects_path}")
    if args.table is not None:
        table = measure_objects(objects, image, labels=labels, spacing=spacing, unit=None if spacing is None else "um")
        with atomic_path(args.table) as partial:
            table.to_csv(partial, index=False)
        print(f"wrote the table of {len(table)} objects to {args.table}")
    return count


def _source(args: Any) -> str:
    return getattr(args, "labels", None) or getattr(args, "image", None) or getattr(args, "stack", "")
