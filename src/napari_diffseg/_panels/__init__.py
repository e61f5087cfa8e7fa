"""The widget's panels, each a few magicgui widgets; the dock widget composes them.

A panel builds its widgets (listed in ``controls``, which the dock widget adds in order;
``named`` lists those it exposes by name) and wires what happens inside it; the dock widget
wires panels to jobs. A panel with buttons that must wait for a running job has
``set_busy(busy)``. Every job reports through the one :class:`StatusPanel`; :mod:`.layout`
lays the panels out in sections. No torch here.
"""

from .layers import ALL_SLICES, THIS_SLICE, LayerPickers
from .layout import ask_then, section
from .models import ModelPanel
from .objects import ObjectsPanel
from .parameters import AUTO_THREADS, ParameterPanel, readouts
from .run import CANCEL_TEXT, RUN_TEXT, RunControls
from .status import StatusPanel

__all__ = [
    "ALL_SLICES",
    "AUTO_THREADS",
    "CANCEL_TEXT",
    "RUN_TEXT",
    "THIS_SLICE",
    "LayerPickers",
    "ModelPanel",
    "ObjectsPanel",
    "ParameterPanel",
    "RunControls",
    "StatusPanel",
    "ask_then",
    "readouts",
    "section",
]
