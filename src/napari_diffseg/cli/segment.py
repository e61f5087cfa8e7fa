"""``napari-diffseg segment``: one 2D image file."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..io import LABEL_SUFFIXES, PNG_SUFFIXES
from .bars import TrainingBar, bars_disabled
from .objects import add_object_options, wants_objects, write_objects
from .options import add_training_options, run_metadata, training_overrides
from .outputs import add_output_option

HELP = "segment one 2D image file"
DESCRIPTION = (
    "Segment a 2D image (TIFF, PNG or JPEG) by differentiable feature clustering "
    "and write the labels as TIFF (with the input's pixel size and the run's parameters "
    "in its metadata) or as 16-bit PNG."
)


def add_segment_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg segment``."""
    parser = subparsers.add_parser("segment", help=HELP, description=DESCRIPTION)
    parser.add_argument("image", help="input image: .tif, .tiff, .png, .jpg or .jpeg")
    add_output_option(
        parser,
        "-o",
        "--output",
        suffixes=LABEL_SUFFIXES,
        required=True,
        metavar="OUT",
        help="output labels: .tif/.tiff or .png",
    )
    parser.add_argument("--scribbles", metavar="FILE", help="scribble image of the same height and width")
    parser.add_argument(
        "--scribble-format",
        choices=("napari", "reference"),
        default="napari",
        help="napari (default): 0 = unlabeled, each positive id is a class and keeps its id. "
        "reference: files of the reference implementation (kanezaki/pytorch-unsupervised-"
        "segmentation-tip), where 255 = unlabeled and any other value v becomes class v + 1, "
        "since napari reserves 0 for unlabeled",
    )
    parser.add_argument(
        "--channel-axis", type=int, metavar="A", help="axis holding channels of a multichannel image (e.g. 0 for C,Y,X)"
    )
    add_output_option(
        parser,
        "--overlay",
        suffixes=PNG_SUFFIXES,
        metavar="PNG",
        help="also write the image beside a copy with the labels' colours and boundaries, as PNG",
    )
    add_training_options(parser)
    add_object_options(parser)
    parser.set_defaults(run=run_segment)


def run_segment(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg segment``."""
    import numpy as np

    from ..io import read_image, read_scribbles, write_labels
    from ..preprocess import channels_last
    from ..segment_image import segment

    image = read_image(args.image)
    scribbles = read_scribbles(args.scribbles, args.scribble_format) if args.scribbles else None
    bar = TrainingBar(os.path.basename(args.image), disable=bars_disabled(args))
    try:
        labels = segment(
            image.data,
            scribbles,
            channel_axis=args.channel_axis,
            preset=args.preset,
            seed=args.seed,
            device=args.device,
            callback=bar,
            **training_overrides(args),
        )
    finally:
        bar.close()
    rgb = channels_last(image.data, args.channel_axis)[1]
    scribbles_name = os.path.basename(args.scribbles) if args.scribbles else None
    metadata = run_metadata(args, args.image, rgb=rgb, scribbles=scribbles_name)
    write_labels(args.output, labels, pixel_size=image.pixel_size, metadata=metadata)
    print(f"wrote {np.unique(labels).size} labels to {args.output}")
    if args.overlay:
        save_overlay(args.overlay, image.data, labels, args.channel_axis)
        print(f"wrote the overlay {args.overlay}")
    if wants_objects(args):
        data = image.data if args.channel_axis is None else np.moveaxis(image.data, args.channel_axis, -1)
        write_objects(args, labels, data, image.pixel_size, objects_path=args.objects)
    return 0


def save_overlay(path: str, image: Any, labels: Any, channel_axis: int | None = None) -> None:
    """Save the image beside a copy with coloured labels and their boundaries, as PNG.

    The image is contrast-stretched like the network's input; images with other than three
    channels are shown as the mean of their channels.
    """
    import imageio.v3 as iio
    import numpy as np
    from skimage.color import label2rgb
    from skimage.segmentation import mark_boundaries

    from ..preprocess import prepare_image

    data = prepare_image(image, channel_axis, normalization="percentile")
    rgb = np.moveaxis(data, 0, -1) if data.shape[0] == 3 else np.repeat(data.mean(0)[..., None], 3, axis=-1)
    overlay = mark_boundaries(label2rgb(labels, rgb, alpha=0.35, bg_label=0), labels, color=(1, 1, 0))
    gap = np.ones((rgb.shape[0], 8, 3))
    side_by_side = np.concatenate([rgb, gap, overlay], axis=1)
    iio.imwrite(path, (np.clip(side_by_side, 0, 1) * 255).round().astype(np.uint8))
