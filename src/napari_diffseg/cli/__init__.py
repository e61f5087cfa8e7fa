"""The ``napari-diffseg`` command line.

Every subcommand lives in its own module with an ``add_*_parser(subparsers)`` function that
builds its parser and sets ``run`` to the function executing it; :data:`SUBCOMMANDS` lists
them, :mod:`.options` holds the shared options, :mod:`.outputs` the output options and their
rule, :mod:`.errors` the translation of the library's messages and :mod:`.bars` the progress
bars. Heavy imports (torch, scikit-image) happen inside the ``run`` functions so that
``--help`` is fast.

Exit status: 0 on success, 1 for an error of the run (one line on stderr), 2 for a usage
error found by argparse (usage and one line on stderr), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from .demo import add_demo_parser
from .errors import USER_ERRORS, cli_message
from .objects import add_objects_parser
from .outputs import check_outputs
from .segment import add_segment_parser
from .segment_stack import add_segment_stack_parser

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_segment_parser,
    add_demo_parser,
    add_segment_stack_parser,
    add_objects_parser,
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

    Usage errors (an unknown option, a missing argument, a value of the wrong type) exit with
    status 2 through argparse. Errors of the run (bad files, bad values, an output that exists
    or has no folder, too little memory) print one line on stderr, in command-line terms, and
    return 1; an interrupt returns 130.
    """
    args = build_parser().parse_args(argv)
    try:
        check_outputs(args)
        return args.run(args)
    except USER_ERRORS as error:
        print(f"napari-diffseg: error: {cli_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("napari-diffseg: interrupted", file=sys.stderr)
        return 130
