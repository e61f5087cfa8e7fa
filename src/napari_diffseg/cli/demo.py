"""``napari-diffseg demo``: segment a sample image that ships with scikit-image."""

from __future__ import annotations

import argparse
import os

from .bars import TrainingBar, bars_disabled
from .options import add_training_options, run_metadata, training_overrides
from .segment import save_overlay

HELP = "segment a sample image that ships with scikit-image"
DESCRIPTION = (
    "Segment scikit-image's bundled immunohistochemistry sample (ihc.png) and write "
    "demo-labels.tif plus demo-overlay.png (the photo with the label boundaries drawn on it)."
)


def add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg demo``."""
    parser = subparsers.add_parser("demo", help=HELP, description=DESCRIPTION)
    parser.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="folder for the results (default: current)"
    )
    add_training_options(parser)
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg demo``."""
    from skimage import data

    from ..io import write_labels
    from ..segment_image import segment

    os.makedirs(args.output_dir, exist_ok=True)
    image = data.immunohistochemistry()
    bar = TrainingBar("demo", disable=bars_disabled(args))
    try:
        labels = segment(
            image, preset=args.preset, seed=args.seed, device=args.device, callback=bar, **training_overrides(args)
        )
    finally:
        bar.close()
    labels_path = os.path.join(args.output_dir, "demo-labels.tif")
    overlay_path = os.path.join(args.output_dir, "demo-overlay.png")
    write_labels(labels_path, labels, metadata=run_metadata(args, "skimage.data.immunohistochemistry"))
    save_overlay(overlay_path, image, labels)
    print(f"wrote {labels_path} and {overlay_path}")
    return 0
