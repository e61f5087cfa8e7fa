"""Output options: one rule for every file or folder that a subcommand writes.

- The folder an output goes in must exist. A missing one is refused before any work starts,
  naming the folder: a mistyped path fails at once instead of after the training, and no stray
  folders appear. An output that is itself a folder (a ``.zarr``, a folder of label images,
  ``demo``'s ``--output-dir``) is created, inside a folder that exists.
- An existing output is refused unless ``--overwrite`` is given. (``segment-stack`` resumes an
  interrupted ``.zarr`` output of the same run instead.)

A subcommand declares its outputs with :func:`add_output_option`, which also adds
``--overwrite``; :func:`~napari_diffseg.cli.main` checks them all with :func:`check_outputs`
before the subcommand runs.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import dataclass

OVERWRITE_HELP = "replace existing outputs (without it, an existing output is refused)"


@dataclass(frozen=True)
class OutputOption:
    """An argument naming an output.

    Attributes
    ----------
    dest : str
        The argparse destination.
    flag : str
        How messages name it (its long option, or its metavar for a positional).
    suffixes : tuple of str or None
        Endings an output file must have (None: any).
    folder : bool
        A path without one of ``suffixes`` is a folder of outputs.
    resumable : tuple of str
        Endings of outputs that the subcommand itself may resume when they exist.
    """

    dest: str
    flag: str
    suffixes: tuple[str, ...] | None = None
    folder: bool = False
    resumable: tuple[str, ...] = ()


def add_output_option(
    parser: argparse.ArgumentParser,
    *flags: str,
    suffixes: Iterable[str] | None = None,
    folder: bool = False,
    resumable: Iterable[str] = (),
    **kwargs,
) -> None:
    """Add an argument naming an output, checked by :func:`check_outputs`; the first one adds ``--overwrite``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    *flags : str
        As for ``parser.add_argument``.
    suffixes, folder, resumable
        See :class:`OutputOption`.
    **kwargs
        As for ``parser.add_argument`` (``help``, ``metavar``, ``required``, ``default``).
    """
    action = parser.add_argument(*flags, **kwargs)
    long_flags = [f for f in action.option_strings if f.startswith("--")]
    name = long_flags[0] if long_flags else (action.metavar or action.dest.upper())
    declared = parser.get_default("outputs") or ()
    if not declared:
        parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    option = OutputOption(action.dest, name, None if suffixes is None else tuple(suffixes), folder, tuple(resumable))
    parser.set_defaults(outputs=(*declared, option))


def check_outputs(args: argparse.Namespace) -> None:
    """Apply the output rule to every output option given.

    Raises
    ------
    ValueError
        For a wrong ending, a missing folder, or an existing output without ``--overwrite``.
    """
    for option in getattr(args, "outputs", ()):
        path = getattr(args, option.dest)
        if path is None:
            continue
        suffix = os.path.splitext(path.rstrip("/\\"))[1].lower()
        is_folder = option.folder and not (option.suffixes and suffix in option.suffixes)
        if not is_folder and option.suffixes and suffix not in option.suffixes:
            raise ValueError(f"{option.flag} {path!r} must end in {endings(option.suffixes)}")
        check_folder_exists(path, option.flag)
        if is_folder:
            if os.path.exists(path) and not os.path.isdir(path):
                raise ValueError(f"{option.flag} {path!r} is a file; give a folder")
        elif suffix not in option.resumable:
            check_new_path(path, option.flag, args.overwrite)


def check_folder_exists(path: str, flag: str) -> None:
    """Refuse ``path`` when the folder it goes in does not exist."""
    folder = os.path.dirname(os.path.abspath(path.rstrip("/\\")))
    if not os.path.isdir(folder):
        raise ValueError(
            f"cannot write {flag} {path!r}: the folder {folder!r} does not exist; "
            "create it first or choose another path"
        )


def check_new_path(path: str, flag: str, overwrite: bool) -> None:
    """Refuse an existing ``path`` unless ``overwrite``."""
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{flag} {path!r} already exists; pass --overwrite to replace it or choose another path")


def check_folder_files(folder: str, names: Iterable[str], flag: str, overwrite: bool) -> None:
    """Refuse to write ``names`` into ``folder`` when one exists there, unless ``overwrite``."""
    existing = [name for name in names if os.path.exists(os.path.join(folder, name))]
    if existing and not overwrite:
        raise ValueError(
            f"{flag} {folder!r} already holds {existing[0]!r}"
            + (f" (and {len(existing) - 1} more of the outputs)" if len(existing) > 1 else "")
            + "; pass --overwrite to replace them or choose another folder"
        )


def endings(suffixes: tuple[str, ...]) -> str:
    """File endings for a message: ``.tif, .tiff or .png``."""
    return suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
