"""napari-diffseg: segmentation by differentiable feature clustering (Kim, Kanezaki & Tanaka 2020).

The core (``segment``, ``Segmenter``, ``segment_stack``) imports torch lazily, so that importing
this package, its manifest or its widget module stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

_LAZY = {
    "segment": "napari_diffseg.segment_image",
    "Segmenter": "napari_diffseg.segmenter",
    "Progress": "napari_diffseg.progress",
    "Params": "napari_diffseg.params",
    "PRESETS": "napari_diffseg.params",
    "segment_stack": "napari_diffseg.stack",
    "split_instances": "napari_diffseg.objects",
    "measure_objects": "napari_diffseg.objects",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_diffseg' has no attribute {name!r}")
