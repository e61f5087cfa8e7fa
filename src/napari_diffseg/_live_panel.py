"""The "Live" panel: every finished stroke on the scribble layer starts a refinement by itself.

napari emits a scribble layer's ``paint`` event once per finished stroke (mouse release). The
panel restarts a short single-shot timer on each one (debouncing), and when the timer fires it
starts a refinement, or, while one runs, remembers that another is due and starts it when the
running one ends. Painting is never blocked: refinements run off the GUI thread, and each reads
the scribbles as they are when it starts. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import CheckBox, ComboBox
from napari.layers import Labels

LIVE_DELAY_MS = 300  # quiet time after a stroke before a refinement starts


class LivePanel:
    """A "Live" checkbox that refines after every finished stroke on the chosen scribble layer.

    Parameters
    ----------
    scribbles : magicgui.widgets.ComboBox
        The scribble layer picker; the panel follows its choice.
    refine : callable
        Starts a refinement (the dock widget's Refine).
    busy : callable
        Whether a run is going on now.
    """

    def __init__(self, scribbles: ComboBox, refine: Callable[[], Any], busy: Callable[[], bool]):
        from qtpy.QtCore import QTimer

        self.live = CheckBox(name="live", text="Live (refine after every stroke)", value=False)
        self.live.tooltip = "Each finished stroke on the scribble layer starts a refinement by itself."
        self.controls = [self.live]
        self._picker, self._refine, self._busy = scribbles, refine, busy
        self._layer: Labels | None = None
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(LIVE_DELAY_MS)
        self._timer.timeout.connect(self._on_timeout)
        self.pending = False  # a refinement is due once the running one ends
        scribbles.changed.connect(self._follow)
        self._follow(scribbles.value)

    @property
    def scheduled(self) -> bool:
        """Whether a refinement is waiting for the quiet time after a stroke or for the running one."""
        return self._timer.isActive() or self.pending

    def _follow(self, layer: Labels | None) -> None:
        """Listen to the paint events of ``layer`` (the picked scribble layer) only."""
        if self._layer is not None:
            self._layer.events.paint.disconnect(self._on_stroke)
        self._layer = layer if isinstance(layer, Labels) else None
        if self._layer is not None:
            self._layer.events.paint.connect(self._on_stroke)

    def _on_stroke(self, _event: Any = None) -> None:
        if self.live.value:
            self._timer.start()  # restarts: strokes in quick succession give one refinement

    def _on_timeout(self) -> None:
        if self._busy():
            self.pending = True
        else:
            self._refine()

    def on_idle(self) -> None:
        """A run ended: start the refinement that strokes painted during it asked for."""
        due, self.pending = self.pending, False
        if due and self.live.value:
            self._timer.start()

    def close(self) -> None:
        """Stop the timer and listening to the scribble layer."""
        self._timer.stop()
        self._follow(None)
