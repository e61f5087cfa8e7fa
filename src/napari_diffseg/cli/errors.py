"""The one place where the library's error messages become command-line messages.

The library speaks of parameters (``max_iter``, ``channel_axis=0``, ``device='cpu'``,
``segment_stack``); :func:`cli_message` rewrites those words into the flags and commands of the
command line (``--max-iter``, ``--channel-axis 0``, ``--device cpu``, ``napari-diffseg
segment-stack``), so that the library keeps its own messages for Python users. A new
subcommand needs no code here: a new parameter with a flag of its own is one more name in
:data:`PARAMETERS` (and a row of :data:`FLAGS` when the flag is not ``--`` + its name).
"""

from __future__ import annotations

import re

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, OSError, MemoryError)

#: Library parameter -> command-line flag, where the flag is not simply ``--`` + the name with dashes.
FLAGS = {"client": "--scheduler", "workers": "--threads"}

#: Library parameters with a flag of their own (``--`` + the name with dashes, unless in FLAGS).
PARAMETERS = (
    "max_iter",
    "min_labels",
    "readout",
    "channels",
    "threads",
    "seed",
    "preset",
    "device",
    "channel_axis",
    "axis",
    "mode",
    "train_slices",
    "scribbles",
    "model",
    "save_model",
    "overwrite",
    "client",
    "min_size",
    "radius",
    "workers",
)

#: Library phrases -> command-line phrases, applied in order before the parameter names.
PHRASES = (
    ("pass channel_axis=None", "drop --channel-axis"),
    ("as axis (a tuple)", "in --axis (comma-separated, e.g. --axis 0,1)"),
    ("with a client", "with --scheduler"),
    ("raise channels", "raise --channels"),
    ("needs final_forward='eval'", "needs --preset fast"),
    ("scribbles have shape", "the --scribbles file has shape"),
    ("paint the scribbles on a layer of the image's shape", "give --scribbles of the image's height and width"),
    ("paint on a layer of that shape", "give --scribbles of that shape"),
    ("or change mode", "or change --mode"),
    ("use preset='fast', fewer channels, or a smaller train_pixels", "use --preset fast or fewer --channels"),
    (" or None; got", "; got"),
    (" or None", " or drop it"),
    ("(or None", "(or drop it"),
    ("train slice ", "--train-slices: slice "),
    ("(or pass an array)", ""),
    ("classes=[...]", "--classes"),
    ("classes=[", "--classes ["),
)

#: Library functions -> subcommands.
COMMANDS = {"segment_stack": "napari-diffseg segment-stack"}


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter (``max_iter`` -> ``--max-iter``)."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def _names(names: tuple[str, ...] | list[str]) -> str:
    return "|".join(sorted(map(re.escape, names), key=len, reverse=True))


_PARAMETER = _names(PARAMETERS)
_UNDERSCORED = _names([name for name in PARAMETERS if "_" in name])
_RULES = (
    # overwrite=True -> --overwrite
    (re.compile(rf"\b({_PARAMETER})=True\b"), lambda m: flag(m[1])),
    # device='cpu' -> --device cpu; channel_axis=0 -> --channel-axis 0
    (re.compile(rf"\b({_PARAMETER})='?([\w.-]+)'?"), lambda m: f"{flag(m[1])} {m[2]}"),
    # "device 'cuda' was requested" -> "--device cuda was requested"
    (re.compile(rf"^({_PARAMETER}) '([\w.-]+)'"), lambda m: f"{flag(m[1])} {m[2]}"),
    # a message about a parameter: "max_iter must be ...", "axis 5 is out of range ..."
    (re.compile(rf"^({_PARAMETER})\b(?!-)"), lambda m: flag(m[1])),
    # the library's output (its out= parameter) is --output
    (re.compile(r"(?<![\w-])output '"), lambda m: "--output '"),
    # "model and save_model belong to ..."
    (re.compile(r"^model and save_model\b"), lambda m: "--model and --save-model"),
    # any other mention of a parameter with an underscore (unambiguous in prose)
    (re.compile(rf"(?<![\w-])({_UNDERSCORED})\b"), lambda m: flag(m[1])),
    # segment_stack -> napari-diffseg segment-stack
    (re.compile(rf"\b({_names(list(COMMANDS))})\b(?!-)"), lambda m: COMMANDS[m[1]]),
)


def cli_message(error: BaseException) -> str:
    """The first line of ``error``'s message, in command-line terms.

    Parameters
    ----------
    error : BaseException
        An error raised by the library or by a subcommand.

    Returns
    -------
    str
        One line, without the ``napari-diffseg: error:`` prefix.
    """
    text = str(error).splitlines()[0].strip() if str(error).strip() else type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename!r}: {error.strerror}"  # an OSError from the system, not ours
    for phrase, replacement in PHRASES:
        text = text.replace(phrase, replacement)
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return " ".join(text.split())
