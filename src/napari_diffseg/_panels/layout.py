"""How the dock widget lays its panels out and wires their file dialogs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import Container


def section(*panels: Any, labels: bool) -> Container:
    """One column of the panels' controls (``labels``: with their captions in a column of their own)."""
    widgets = [control for panel in panels for control in panel.controls]
    column = Container(labels=labels)
    column.margins = (0, 0, 0, 0)
    column.extend(widgets)  # after construction, so that the captions get one width
    return column


def ask_then(ask: Callable[[Any], str], parent: Any, act: Callable[[str], Any]) -> Callable[..., None]:
    """A button handler: ``ask(parent)`` for a path in a file dialog, then ``act(path)`` unless it was cancelled."""

    def on_click(_value: Any = None) -> None:
        path = ask(parent)
        if path:
            act(path)

    return on_click
