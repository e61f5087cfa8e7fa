"""``napari-diffseg demo``: segment a sample image that ships with scikit-image."""

from __future__ import annotations

import argparse
import os

from .bars import TrainingBar, bars_disabled
from .options import add_training_options, run_metadata, training_overrides
from .outputs import add_output_option, check_folder_files
from .segment import save_overlay

HELP = "segment a sample image that ships with scikit-image"
DESCRIPTION = (
    "Segment scikit-image's bundled immunohistochemistry sample (ihc.png, nothing is downloaded) "
    "and write demo-labels.tif plus demo-overlay.png (the photo beside a copy with the labels' "
    "colours and boundaries) into DIR."
)
OUTPUTS = ("demo-labels.tif", "demo-overlay.png")


def add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg demo``."""
    parser = subparsers.add_parser("demo", help=HELP, description=DESCRIPTION)
    add_output_option(
        parser,
        "-o",
        "--output-dir",
        folder=True,
        default=".",
        metavar="DIR",
        help="folder for the results, created if missing inside an existing folder (default: the current one)",
    )
    add_training_options(parser, scribbles=False)
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg demo``."""
    from skimage import data

    from ..io import write_labels
    from ..segment_image import segment

    check_folder_files(args.output_dir, OUTPUTS, "--output-dir", args.overwrite)
    image = data.immunohistochemistry()
    bar = TrainingBar("demo", disable=bars_disabled(args))
    try:
        labels = segment(
            image, preset=args.preset, seed=args.seed, device=args.device, callback=bar, **training_overrides(args)
        )
    finally:
        bar.close()
    os.makedirs(args.output_dir, exist_ok=True)
    labels_path, overlay_path = (os.path.join(args.output_dir, name) for name in OUTPUTS)
    write_labels(labels_path, labels, metadata=run_metadata(args, "skimage.data.immunohistochemistry"))
    save_overlay(overlay_path, image, labels)
    print(f"wrote {labels_path} and {overlay_path}")
    return 0
