"""``napari-diffseg segment-stack``: every slice of a stack, or every image of a folder.

A stack file (``.zarr``, ``.npy`` or TIFF) goes through :func:`~napari_diffseg.stack.segment_stack`
and is written to one ``.zarr`` or ``.tif``; a folder or glob of 2D images is labelled by one
model trained on a spread of them, one output file per image (the reference-image mode).
"""

from __future__ import annotations

import argparse
import glob
import os
from typing import Any

import numpy as np

from ..io import IMAGE_SUFFIXES, STACK_SUFFIXES, ZARR_SUFFIX
from ..params import STACK_MODES
from .bars import StackBar, bars_disabled
from .objects import add_object_options, wants_objects, write_objects
from .options import add_training_options, int_list, training_overrides
from .outputs import add_output_option, check_folder_files, endings

HELP = "segment every slice of a stack, or every image of a folder, with consistent ids"
DESCRIPTION = (
    "Segment every 2D slice of a stack (.zarr, .npy or .tif, read slice by slice) "
    "with label ids that are consistent across slices, writing a .zarr (resumable: run the "
    "same command again after an interruption) or a .tif. STACK may also be a folder or a "
    "quoted glob of 2D images (sizes may differ): one model trained on a spread of them "
    "labels them all, one .tif per image in the folder OUT."
)


def add_segment_stack_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``napari-diffseg segment-stack``."""
    parser = subparsers.add_parser("segment-stack", help=HELP, description=DESCRIPTION)
    parser.add_argument("stack", metavar="STACK", help="stack file, folder of 2D images, or quoted glob")
    add_output_option(
        parser,
        "-o",
        "--output",
        suffixes=(ZARR_SUFFIX, ".tif", ".tiff"),
        folder=True,
        resumable=(ZARR_SUFFIX,),
        required=True,
        metavar="OUT",
        help="OUT.zarr or OUT.tif; a folder for a folder/glob",
    )
    parser.add_argument(
        "--axis", type=int_list, default=[0], metavar="A[,B]", help="stack axis, or axes for nD stacks (default: 0)"
    )
    parser.add_argument("--channel-axis", type=int, metavar="A", help="axis of STACK holding channels")
    modes = "shared (default): one model for all slices; independent: one per slice, ids matched by overlap"
    parser.add_argument("--mode", choices=STACK_MODES, default="shared", help=modes)
    parser.add_argument("--scribbles", metavar="FILE", help="scribble stack (.zarr, .npy or .tif) of the labels' shape")
    parser.add_argument(
        "--train-slices", type=int_list, metavar="I,J,...", help="slices (or images) to train on, e.g. 3,10,20"
    )
    parser.add_argument("--model", metavar="FILE", help="reuse a saved model (.pt) instead of training")
    add_output_option(
        parser, "--save-model", metavar="FILE", help="save the trained shared model (.pt) for a later --model run"
    )
    parser.add_argument(
        "--keep-fragments",
        action="store_true",
        help="keep speckle and boundary-band clusters (regions thinner than ~7 px) instead of folding "
        "them into their surroundings (runs without scribbles)",
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler to label slices on")
    add_training_options(parser)
    add_object_options(parser)
    parser.set_defaults(run=run_segment_stack)


def run_segment_stack(args: argparse.Namespace) -> int:
    """Execute ``napari-diffseg segment-stack``."""
    params = training_overrides(args)
    train, axes = args.train_slices, args.axis
    if args.scribbles and not args.scribbles.lower().rstrip("/").endswith(STACK_SUFFIXES):
        raise ValueError(
            f"--scribbles {args.scribbles!r}: segment-stack reads scribble stacks from {endings(STACK_SUFFIXES)} "
            "files; save the scribbles as TIFF (a napari Labels layer: File > Save Selected Layers, .tif)"
        )
    client = _client(args.scheduler)
    bar = StackBar(disable=bars_disabled(args))
    try:
        files = image_files(args.stack)
        if files is not None and wants_objects(args):
            raise ValueError("--objects/--table need a stack file; for a folder of images run napari-diffseg objects")
        if files is not None:
            return _run_folder(args, files, train, client, bar, params)
        if not args.stack.lower().rstrip("/").endswith(STACK_SUFFIXES):
            raise ValueError(
                f"STACK {args.stack!r} is not a stack file: segment-stack reads {endings(STACK_SUFFIXES)} stacks, "
                "or a folder or quoted glob of 2D images; for one 2D image use napari-diffseg segment"
            )
        from ..stack import segment_stack

        segment_stack(
            args.stack,
            args.scribbles,
            axis=axes[0] if len(axes) == 1 else tuple(axes),
            channel_axis=args.channel_axis,
            mode=args.mode,
            train_slices=train,
            preset=args.preset,
            seed=args.seed,
            out=args.output,
            client=client,
            callback=bar,
            overwrite=args.overwrite,
            model=args.model,
            save_model=args.save_model,
            merge_fragments=not args.keep_fragments,
            device=args.device,
            **params,
        )
    finally:
        bar.close()
        if client is not None:
            client.close()
    print(f"wrote {bar.done}/{bar.total} slices to {args.output}")
    if wants_objects(args):
        _write_stack_objects(args)
    return 0


def _write_stack_objects(args: argparse.Namespace) -> None:
    """Objects of the label stack just written, with the image when its axes are those of the labels."""
    from ..stack.io import open_stack

    labels = np.asarray(open_stack(args.output))
    image = None
    if args.axis == [0]:
        image = np.asarray(open_stack(args.stack))
        if args.channel_axis is not None:
            image = np.moveaxis(image, args.channel_axis, -1)
        if image.shape[: labels.ndim] != labels.shape:
            image = None
    write_objects(args, labels, image, None, objects_path=args.objects)


def image_files(source: str) -> list[str] | None:
    """The sorted 2D image files of a folder or glob, or None when ``source`` is one file."""
    if os.path.isdir(source) and not source.rstrip("/").lower().endswith(".zarr"):
        pattern = os.path.join(source, "*")
    elif glob.has_magic(source):
        pattern = source
    else:
        return None
    files = sorted(f for f in glob.glob(pattern) if f.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"no {', '.join(IMAGE_SUFFIXES)} images match {source!r}")
    return files


class FolderSink:
    """The pipeline's label sink for a folder: one TIFF per image, with the input's pixel size."""

    def __init__(self, files: list[str], outputs: list[str], seed: int):
        self.files, self.outputs = files, outputs
        self.n_slices = len(outputs)
        self.metadata: dict[str, Any] = {"software": "napari-diffseg", "seed": seed}
        self.pixel_sizes: dict[int, Any] = {}
        self.done = 0

    def open(self, model: Any) -> None:
        """Record the parameters of the model that labels the images."""
        self.metadata["params"] = model.params.to_dict()

    def write(self, key: int, labels: np.ndarray) -> np.ndarray:
        """Write image ``key``'s labels to its output file."""
        from ..io import write_labels

        source = {"source": os.path.basename(self.files[key])}
        write_labels(
            self.outputs[key], labels, pixel_size=self.pixel_sizes.pop(key), metadata={**self.metadata, **source}
        )
        self.done += 1
        return labels

    def position(self, key: int) -> tuple[int, ...]:
        """Images are numbered in sorted file order."""
        return (key,)


def _run_folder(
    args: argparse.Namespace, files: list[str], train: list[int] | None, client: Any, bar: StackBar, params: dict
) -> int:
    from ..io import read_image
    from ..params import resolve_params
    from ..progress import drive
    from ..segmenter import Segmenter
    from ..stack import shared_model_steps, spread

    if args.scribbles or args.mode != "shared":
        raise ValueError("a folder of images is labelled in shared mode without scribbles; drop --scribbles/--mode")
    names = [os.path.splitext(os.path.basename(f))[0] + ".tif" for f in files]
    check_folder_files(args.output, names, "--output", args.overwrite)
    outputs = [os.path.join(args.output, name) for name in names]
    if train is not None and not all(0 <= i < len(files) for i in train):
        raise ValueError(f"--train-slices must be image numbers 0..{len(files) - 1} (in sorted file order)")
    os.makedirs(args.output, exist_ok=True)
    model = Segmenter.load(args.model, device=args.device) if args.model else None
    sink = FolderSink(files, outputs, args.seed)

    def training_data() -> tuple[list[np.ndarray], None]:
        chosen = train if train is not None else spread(len(files))
        return [read_image(files[i]).data for i in chosen], None

    def images_to_label():
        for i, file in enumerate(files):
            image = read_image(file)
            sink.pixel_sizes[i] = image.pixel_size
            yield i, image.data

    steps = shared_model_steps(
        model,
        training_data,
        lambda: (read_image(files[i]).data for i in spread(len(files))),
        images_to_label(),
        sink,
        channel_axis=args.channel_axis,
        params=resolve_params(args.preset, **params),
        seed=args.seed,
        device=args.device,
        client=client,
        save_model=args.save_model,
        merge_fragments=not args.keep_fragments,
    )
    drive(steps, bar)
    print(f"wrote {len(files)} label images to {args.output}")
    return 0


def _client(address: str | None) -> Any:
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'napari-diffseg[distributed]'") from None
    try:
        return Client(address, timeout="10s")
    except OSError as error:
        raise ValueError(f"cannot reach the dask scheduler at {address!r} ({error})") from None
