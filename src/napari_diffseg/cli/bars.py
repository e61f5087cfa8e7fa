"""Progress bars on stderr (tqdm) for training and stack records.

A training bar reads ``photo.png: iteration 12/30 |████      | [00:02<00:04, labels 5, loss 1.234]``
(elapsed time < estimated time left); a stack adds a bar of labelled slices. Bars show when
stderr is a terminal, or always with ``--progress``; ``--quiet`` hides them.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from ..progress import Progress, StackProgress

_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar}| [{elapsed}<{remaining}{postfix}]"


def bars_disabled(args: argparse.Namespace) -> bool | None:
    """tqdm's ``disable``: True with ``--quiet``, False with ``--progress``, else None (only on a terminal)."""
    if args.quiet:
        return True
    return False if args.progress else None


def _bar(desc: str, total: int, disable: bool | None, initial: int = 0) -> tqdm:
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, bar_format=_FORMAT, disable=disable)


class TrainingBar:
    """A bar of training iterations (labels, loss and ETA in its postfix), usable as a ``callback``.

    Parameters
    ----------
    label : str
        Text before the bar (e.g. the file being segmented).
    disable : bool or None
        As tqdm's: True hides it, None shows it only on a terminal.
    """

    def __init__(self, label: str, *, disable: bool | None = None):
        self.label, self.disable = label, disable
        self._bar: tqdm | None = None

    def __call__(self, progress: Progress) -> None:
        if self._bar is None:
            self._bar = _bar(f"{self.label}: iteration", progress.max_iter, self.disable)
        self._bar.set_postfix_str(f"labels {progress.n_labels}, loss {progress.loss:.3f}", refresh=False)
        self._bar.update(progress.iteration - self._bar.n)

    def close(self) -> None:
        """End the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class StackBar:
    """Training iterations, then a bar of labelled slices, from :class:`~napari_diffseg.progress.StackProgress`."""

    def __init__(self, *, disable: bool | None = None):
        self.disable = disable
        self.training = TrainingBar("training", disable=disable)
        self._slices: tqdm | None = None
        self._where: tuple[int, ...] | None = None
        self.done = self.total = 0

    def __call__(self, progress: StackProgress) -> None:
        self.done, self.total = progress.done, progress.n_slices
        if progress.phase == "train":
            assert progress.training is not None
            if progress.index != self._where or progress.training.iteration == 1:
                self.training.close()
                self._where = progress.index
                self.training.label = "training" if progress.index is None else f"training slice {progress.index}"
            self.training(progress.training)
            return
        self.training.close()
        if self._slices is None:
            self._slices = _bar("slices", progress.n_slices, self.disable, initial=progress.done - 1)
        self._slices.update(progress.done - self._slices.n)

    def close(self) -> None:
        """End the bars."""
        self.training.close()
        if self._slices is not None:
            self._slices.close()
            self._slices = None
