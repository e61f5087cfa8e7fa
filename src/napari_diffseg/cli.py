"""The ``napari-diffseg`` command line.

Every subcommand lives in one ``add_*_parser(subparsers)`` function that builds its parser
and sets ``run`` to the function executing it; :data:`SUBCOMMANDS` lists them. Heavy
imports (torch, scikit-image) happen inside the ``run`` functions so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, OSError, MemoryError)
PRESET_CHOICES = ("fast", "paper")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class ProgressBar:
    """A one-line progress bar on stderr, usable as a training ``callback``.

    Parameters
    ----------
    label : str
        Text before the bar (e.g. the file being segmented).
    enabled : bool
        False prints nothing (``--quiet``).
    width : int
        Characters of the bar itself.
    """

    def __init__(self, label: str = "", *, enabled: bool = True, width: int = 30):
        self.label = label
        self.enabled = enabled
        self.width = width
        self._start = time.perf_counter()
        self._shown = False

    def __call__(self, progress: Any) -> None:
        if not self.enabled:
            return
        filled = round(self.width * progress.iteration / max(progress.max_iter, 1))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self._start
        sys.stderr.write(
            f"\r{self.label}[{bar}] {progress.iteration}/{progress.max_iter} "
            f"labels {progress.n_labels} loss {progress.loss:.3f} {elapsed:.0f}s"
        )
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line."""
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = False


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by every command that trains a model."""
    parser.add_argument("--preset", choices=PRESET_CHOICES, default="fast", help="parameter preset (default: fast)")
    parser.add_argument("--max-iter", type=int, metavar="N", help="upper bound on training iterations")
    parser.add_argument(
        "--min-labels",
        type=int,
        metavar="K",
        help="stop once at most K labels remain (default: 3; with scribbles the number of painted classes, at least 2)",
    )
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
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where to compute (default: auto)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def training_overrides(args: argparse.Namespace) -> dict[str, int]:
    """The parameter overrides given on the command line."""
    names = {"max_iter": args.max_iter, "min_labels": args.min_labels, "channels": args.channels}
    return {name: value for name, value in names.items() if value is not None}


def run_metadata(args: argparse.Namespace, source: str, **extra: Any) -> dict[str, Any]:
    """What gets recorded in an output TIFF: software, version, preset, parameters and seed."""
    from .params import resolve_params

    params = resolve_params(args.preset, **training_overrides(args)).to_dict()
    return {
        "software": "napari-diffseg",
        "version": __version__,
        "source": os.path.basename(source),
        "preset": args.preset,
        "seed": args.seed,
        "params": params,
        **extra,
    }


# ---------------------------------------------------------------------- segment
def add_segment_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg segment``."""
    parser = subparsers.add_parser(
        "segment",
        help="segment one 2D image file",
        description="Segment a 2D image (TIFF, PNG or JPEG) by differentiable feature clustering "
        "and write the labels as TIFF (with the input's pixel size and the run's parameters "
        "in its metadata) or as 16-bit PNG.",
    )
    parser.add_argument("image", help="input image: .tif, .tiff, .png, .jpg or .jpeg")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output labels: .tif/.tiff or .png")
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
    parser.add_argument(
        "--overlay", metavar="PNG", help="also write the image beside the labels' colours and boundaries, as PNG"
    )
    add_training_options(parser)
    parser.set_defaults(run=run_segment)


def run_segment(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg segment``."""
    import numpy as np

    from .io import LABEL_SUFFIXES, read_image, read_scribbles, write_labels
    from .segment_image import segment

    if os.path.splitext(args.output)[1].lower() not in LABEL_SUFFIXES:
        raise ValueError(f"the output {args.output!r} must end in {', '.join(LABEL_SUFFIXES)}")
    if args.overlay and not args.overlay.lower().endswith(".png"):
        raise ValueError(f"the overlay {args.overlay!r} must end in .png")
    for output in filter(None, (args.output, args.overlay)):
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"the output folder {folder!r} does not exist; create it first")
    image = read_image(args.image)
    scribbles = read_scribbles(args.scribbles, args.scribble_format) if args.scribbles else None
    bar = ProgressBar(f"{os.path.basename(args.image)} ", enabled=not args.quiet)
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
    metadata = run_metadata(args, args.image, scribbles=os.path.basename(args.scribbles) if args.scribbles else None)
    write_labels(args.output, labels, pixel_size=image.pixel_size, metadata=metadata)
    print(f"wrote {np.unique(labels).size} labels to {args.output}")
    if args.overlay:
        save_overlay(args.overlay, image.data, labels, args.channel_axis)
        print(f"wrote the overlay {args.overlay}")
    return 0


# ---------------------------------------------------------------------- demo
def add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="segment a sample image that ships with scikit-image",
        description="Segment scikit-image's bundled immunohistochemistry sample (ihc.png) and write "
        "demo-labels.tif plus demo-overlay.png (the photo with the label boundaries drawn on it).",
    )
    parser.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="folder for the results (default: current)"
    )
    add_training_options(parser)
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg demo``."""
    from skimage import data

    from .io import write_labels
    from .segment_image import segment

    os.makedirs(args.output_dir, exist_ok=True)
    image = data.immunohistochemistry()
    bar = ProgressBar("demo ", enabled=not args.quiet)
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


def save_overlay(path: str, image: Any, labels: Any, channel_axis: int | None = None) -> None:
    """Save the image beside a copy with coloured labels and their boundaries, as PNG.

    The image is contrast-stretched like the network's input; images with other than three
    channels are shown as the mean of their channels.
    """
    import imageio.v3 as iio
    import numpy as np
    from skimage.color import label2rgb
    from skimage.segmentation import mark_boundaries

    from .preprocess import prepare_image

    data = prepare_image(image, channel_axis, normalization="percentile")
    rgb = np.moveaxis(data, 0, -1) if data.shape[0] == 3 else np.repeat(data.mean(0)[..., None], 3, axis=-1)
    overlay = mark_boundaries(label2rgb(labels, rgb, alpha=0.35, bg_label=0), labels, color=(1, 1, 0))
    gap = np.ones((rgb.shape[0], 8, 3))
    side_by_side = np.concatenate([rgb, gap, overlay], axis=1)
    iio.imwrite(path, (np.clip(side_by_side, 0, 1) * 255).round().astype(np.uint8))


# ---------------------------------------------------------------------- main
from .cli_stack import add_segment_stack_parser  # noqa: E402 - its module imports this one lazily

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_segment_parser,
    add_demo_parser,
    add_segment_stack_parser,
]


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="napari-diffseg",
        description="Segmentation by differentiable feature clustering (Kim, Kanezaki & Tanaka 2020).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    User errors (bad files, bad values, too little memory) print one line on stderr and
    return 1; an interrupt returns 130.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"napari-diffseg: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("napari-diffseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
