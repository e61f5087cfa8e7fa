"""Segment every 2D slice of a stack with label ids that stay consistent across slices.

- :mod:`.segment`: :func:`segment_stack` (callback) and :func:`iter_segment_stack` (generator)
- :mod:`.layout`: which axes are slices (:func:`stack_layout`), the spread of training slices
- :mod:`.pipeline`: the shared-model pipeline (also behind the command line's folder mode)
- :mod:`.shared`: training one model on several images, labelling alike with it
- :mod:`.independent`: one warm-started model per slice, ids matched by overlap
- :mod:`.io`: lazy stack inputs, resumable slice-by-slice outputs
- :mod:`.distributed`: labelling on a dask.distributed cluster
"""

from ..postprocess import FRAGMENT_BOUNDARY, fill_fragments, find_fragments
from ..progress import StackCallback, StackProgress
from .independent import match_ids
from .layout import SPREAD_SLICES, StackLayout, spread, stack_layout
from .pipeline import label_images, shared_model_steps
from .segment import MODES, iter_segment_stack, segment_stack
from .shared import label_image, prepare_model, shared_fragments, shared_training, train_shared

__all__ = [
    "FRAGMENT_BOUNDARY",
    "MODES",
    "SPREAD_SLICES",
    "StackCallback",
    "StackLayout",
    "StackProgress",
    "fill_fragments",
    "find_fragments",
    "iter_segment_stack",
    "label_image",
    "label_images",
    "match_ids",
    "prepare_model",
    "segment_stack",
    "shared_fragments",
    "shared_model_steps",
    "shared_training",
    "spread",
    "stack_layout",
    "train_shared",
]
