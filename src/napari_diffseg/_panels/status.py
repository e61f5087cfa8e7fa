"""The status panel: a progress bar and its figures while a job runs, then a sentence on how it ended.

Any panel that starts work reports through it: :meth:`StatusPanel.begin` when a job starts,
:meth:`StatusPanel.report` as it goes, :meth:`StatusPanel.end` when it is over, and
:meth:`StatusPanel.say` for a message between jobs. Its texts wrap within the dock's width
and never widen it.
"""

from __future__ import annotations

from magicgui.widgets import Label, ProgressBar
from magicgui.widgets.bases import Widget


def _wrap_within_width(label: Label) -> None:
    """Let a label wrap its words and take the width its layout gives it, whatever the text (Qt)."""
    from qtpy.QtWidgets import QSizePolicy

    native = label.native
    native.setWordWrap(True)  # also makes its height follow its width
    policy = native.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)  # the text never asks for more width
    native.setSizePolicy(policy)
    native.setMinimumWidth(1)


class StatusPanel:
    """Progress bar, figures (iteration, labels, loss) and the status sentence, without captions."""

    def __init__(self) -> None:
        self.progress = ProgressBar(name="progress", min=0, max=1, value=0, visible=False)
        self.progress.native.setFormat("%v / %m")  # Qt: "12 / 30" rather than a percentage
        self.figures = Label(name="figures", value="", visible=False)
        self.status = Label(name="status", value="")
        for label in (self.figures, self.status):
            _wrap_within_width(label)
        self.controls: list[Widget] = [self.progress, self.figures, self.status]
        self.named: list[Widget] = self.controls

    @property
    def showing_progress(self) -> bool:
        """Whether the progress bar and the figures are shown (a job is running)."""
        return not self.progress.native.isHidden()

    def begin(self, message: str, total: int) -> None:
        """Show an empty progress bar out of ``total`` steps, and ``message``."""
        self.progress.max, self.progress.value = max(1, total), 0
        self.figures.value = ""
        self.status.value = message
        self.progress.visible = self.figures.visible = True

    def report(self, done: int, total: int, figures: str) -> None:
        """Show ``done`` of ``total`` steps and the job's ``figures``."""
        self.progress.max = max(1, total)
        self.progress.value = min(done, self.progress.max)
        self.figures.value = figures

    def end(self, message: str) -> None:
        """Hide the progress bar and the figures; show how the job ended."""
        self.progress.visible = self.figures.visible = False
        self.status.value = message

    def say(self, message: str) -> None:
        """Show ``message`` (between jobs, or while one is stopping)."""
        self.status.value = message
