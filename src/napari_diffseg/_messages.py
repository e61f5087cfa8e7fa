"""The sentences the widget shows: what a job is doing, its figures as it goes, and how it ended.

Plain text from plain values: no Qt, napari or torch here.
"""

from __future__ import annotations

from .progress import Progress

TRAIN, REFINE, APPLY, ALL_SLICES = "train", "refine", "apply", "all slices"  # the kinds of job
ACTIONS = {TRAIN: "Run", REFINE: "Refine", APPLY: "Apply model", ALL_SLICES: "All slices"}  # as on the buttons


def count(n: int, word: str) -> str:
    """``"1 label"``, ``"3 labels"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def place(name: str, key: tuple) -> str:
    """Where a job works: ``"'cells'"``, ``"slice 3 of 'stack'"`` or ``"slice (1, 2) of 'movie'"``.

    ``key`` is a plane key (ints on the axes not shown, slices on the shown ones).
    """
    index = tuple(k for k in key if isinstance(k, int))
    if not index:
        return repr(name)
    return f"slice {index[0] if len(index) == 1 else index} of {name!r}"


def starting(kind: str, image: str, output: str, key: tuple, n_slices: int = 0) -> str:
    """What a job is about to do (``n_slices``: the slices of an All slices job)."""
    if kind == REFINE:
        return f"Refining {place(output, key)} with your scribbles…"
    if kind == APPLY:
        return f"Labelling {place(image, key)} with the model…"
    if kind == ALL_SLICES:
        return f"Segmenting all {n_slices} slices of {image!r}…"
    return f"Segmenting {place(image, key)}…"


def iteration_figures(progress: Progress, n_labels: int, training_first: bool = False) -> str:
    """``"Iteration 12 of 30 · 5 labels · loss 0.412"`` (``training_first``: "Training: iteration …")."""
    step = f"iteration {progress.iteration} of {progress.max_iter}"
    step = f"Training: {step}" if training_first else step.capitalize()
    return f"{step} · {count(n_labels, 'label')} · loss {progress.loss:.3f}"


def slice_figures(done: int, n_slices: int) -> str:
    """``"Labelled 5 of 16 slices"``."""
    return f"Labelled {done} of {n_slices} slices"


def finished(kind: str, output: str, key: tuple, n_labels: int, iterations: int, seconds: float, n_slices: int) -> str:
    """How a job that ran to its end went, e.g. ``"2 labels after 30 iterations (6.4 s) in 'cells segmentation'"``."""
    after = f" after {count(iterations, 'iteration')}" if iterations else ""
    if kind == REFINE:  # no iteration: the readout was refitted on the strokes (Corrections: refit)
        after = f" after {count(iterations, 'refine iteration')}" if iterations else " after refitting the readout"
    elif kind == APPLY:
        after = " from the model"
    elif kind == ALL_SLICES:
        after = f" in {n_slices} slices{after}"
    return f"{count(n_labels, 'label')}{after} ({seconds:.1f} s) in {place(output, key)}"


def stopped(kind: str, output: str, key: tuple, reason: str, iterations: int, changed: bool) -> str:
    """How a job that did not finish went.

    ``reason`` is ``"cancelled"``, ``"failed: <error>"``, or a clause such as
    ``"layer 'cells' was deleted"``; ``changed``: whether its last preview was kept.
    """
    if reason == "cancelled":
        head = f"Cancelled after {count(iterations, 'iteration')}" if iterations else "Cancelled"
    elif reason.startswith("failed: "):
        head = f"{ACTIONS[kind]} {reason}"
    else:
        head = f"Stopped because {reason}"
    tail = f"kept the last preview in {place(output, key)}" if changed else f"{place(output, key)} is unchanged"
    return f"{head}; {tail}"
