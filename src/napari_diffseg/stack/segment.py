"""``segment_stack``: every 2D slice of a stack, with label ids consistent across slices.

:func:`iter_segment_stack` opens the inputs and the output and runs the shared-model
pipeline (:mod:`.pipeline`) or independent mode (:mod:`.independent`) as a generator of
:class:`~napari_diffseg.progress.StackProgress` records; :func:`segment_stack` drives it
with a callback.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from ..params import STACK_MODES, Params, resolve_params
from ..postprocess import label_dtype
from ..progress import StackCallback, StackProgress, drive
from ..segmenter import Segmenter
from .independent import independent_steps
from .io import StackSink, open_output, open_stack, read_slice
from .layout import StackLayout, spread, stack_layout, train_flats
from .pipeline import shared_model_steps
from .shared import model_bytes

MODES = STACK_MODES


def segment_stack(stack: Any, scribbles: Any = None, *, callback: StackCallback | None = None, **options: Any) -> Any:
    """Segment every 2D slice of a stack with consistent label ids.

    A thin driver of :func:`iter_segment_stack` (which takes every keyword below but
    ``callback``) with :func:`~napari_diffseg.progress.drive`.

    Parameters
    ----------
    stack : array_like, dask array, zarr array, str or path-like
        The stack, or a path to a ``.zarr``, ``.npy`` or TIFF file. It is read one slice
        at a time, never as a whole.
    scribbles : array_like or path, optional
        napari-style scribbles (0 = unlabeled) with the labels' shape: the stack's shape
        without its channel axis. Only painted slices are read into memory.
    axis : int or tuple of int
        The stack axis, or every axis that is neither spatial nor the channel axis.
    channel_axis : int, optional
        Axis of ``stack`` holding channels (a trailing axis of 3 or 4 is taken as RGB).
    mode : {"shared", "independent"}
        ``"shared"``: train one network on the painted slices, else on ``train_slices``,
        else on an even spread of up to 5 slices, then label every slice with one
        eval-mode forward pass (BatchNorm statistics of the training slices) and one
        channel-to-id mapping, so a structure keeps its id in every slice (see also
        ``merge_fragments``).
        ``"independent"``: train on each slice in turn, warm-started from the previous
        one, and give each region the id of the previous slice's region it overlaps most
        (:func:`match_ids`); painted slices keep their painted ids.
    train_slices : sequence of int (or of index tuples for several stack axes), optional
        The slices "shared" mode trains on (flat indices in C order for several axes);
        their scribbles, if any, are used.
    preset : {"fast", "paper"} or Params
        Training parameters; "shared" mode always predicts with ``final_forward="eval"``.
    seed : int
        Same input and seed give identical labels on the CPU.
    out : str, path-like or array, optional
        Where to write: a ``.zarr`` path (one chunk per slice; an interrupted run resumes
        without redoing finished slices), a ``.tif`` path (written slice by slice), or a
        writable array of the labels' shape. Default: a new numpy array.
    client : dask.distributed.Client, optional
        Label the slices as tasks on this cluster ("shared" mode): the trained weights go
        once to every worker, and every task pins torch to this process's thread count,
        so the labels equal those of a local run.
    callback : callable, optional
        Called with a :class:`StackProgress` after every training iteration (phase
        ``"train"``) and after every labelled slice (phase ``"label"``, with the slice's
        ``index`` and ``labels``; on a cluster in order of arrival). Returning ``False``
        stops the run cleanly: finished slices stay written (a zarr output resumes from
        there), the others stay 0, and the output is returned.
    overwrite : bool
        Replace an existing ``out`` path instead of refusing it.
    model : Segmenter or path, optional
        A trained model to label with instead of training ("shared" mode); ``preset``,
        ``train_slices`` and ``**params`` are then ignored.
    save_model : path, optional
        Save the trained model there ("shared" mode, before labelling) so that a later
        run with ``model=`` labels this or another stack without training again; a run
        with that model gives the same labels as this one.
    merge_fragments : bool
        Without scribbles, fold fragment clusters (noise speckle and the thin bands the
        network draws along boundaries; :func:`find_fragments`, found on an even spread
        of slices) into the nearest other cluster, pixel by pixel
        (:func:`fill_fragments`). In "independent" mode each slice's own fragments are
        folded. Turn off to keep structures thinner than about 7 pixels.
    device : {"auto", "cpu", "cuda", "mps"}
        Where to compute.
    **params
        Overrides of any :class:`~napari_diffseg.params.Params` field.

    Returns
    -------
    numpy.ndarray, zarr.Array or numpy.memmap
        uint16 (uint32 when ids may not fit) labels: the stack's shape without the channel
        axis, never 0 on a labelled slice. With ``out``, the array written to.

    Raises
    ------
    ValueError
        For an axis, mode or train slice out of range, scribbles of another shape, an
        existing ``out`` path (without ``overwrite``), a read-only output, or a client in
        "independent" mode (which is sequential).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_diffseg import segment_stack
    >>> stack = np.zeros((4, 32, 32)); stack[:, 8:24, 8:24] = 1
    >>> labels = segment_stack(stack, max_iter=10)
    >>> labels.shape
    (4, 32, 32)
    """
    labels, steps = iter_segment_stack(stack, scribbles, **options)
    drive(steps, callback)
    return labels


def iter_segment_stack(
    stack: Any,
    scribbles: Any = None,
    *,
    axis: int | Sequence[int] = 0,
    channel_axis: int | None = None,
    mode: Literal["shared", "independent"] = "shared",
    train_slices: Sequence[int | Sequence[int]] | None = None,
    preset: str | Params = "fast",
    seed: int = 0,
    out: Any = None,
    client: Any = None,
    overwrite: bool = False,
    model: Segmenter | str | None = None,
    save_model: str | os.PathLike | None = None,
    merge_fragments: bool = True,
    device: str = "auto",
    **params: Any,
) -> tuple[Any, Iterator[StackProgress]]:
    """Check the inputs, open the output, and return it with the generator that fills it.

    Parameters are those of :func:`segment_stack` but ``callback``. Nothing is trained or
    labelled until the generator is iterated; it yields a
    :class:`~napari_diffseg.progress.StackProgress` after every training iteration and every
    labelled slice. Stop iterating (or ``close()`` it) to cancel: finished slices stay written.

    Returns
    -------
    (labels, steps)
        The output array (see :func:`segment_stack`) and the generator.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if client is not None and mode != "shared":
        raise ValueError("mode='independent' labels slices one after another; use mode='shared' with a client")
    source = open_stack(stack)
    layout = stack_layout(tuple(source.shape), axis, channel_axis)
    painted, max_painted, scribble_digest = _scan_scribbles(scribbles, layout)
    flats = train_flats(train_slices, layout)
    if (model is not None or save_model is not None) and mode != "shared":
        raise ValueError("model and save_model belong to mode='shared'; drop them or change mode")
    segmenter = model if isinstance(model, Segmenter) or model is None else Segmenter.load(model, device=device)
    run_params = segmenter.params if segmenter is not None else resolve_params(preset, **params)
    if mode == "shared":
        run_params = run_params.replace(final_forward="eval")
    max_id = max_painted + 1 + run_params.channels * (1 if mode == "shared" else layout.n_slices)
    model_digest = None if segmenter is None else hashlib.sha1(model_bytes(segmenter)).hexdigest()
    fingerprint = _fingerprint(
        layout, source, mode, run_params, seed, flats, scribble_digest, model_digest, merge_fragments
    )
    writer = open_output(
        out,
        layout.label_shape,
        label_dtype(max_id),
        slice_chunks=layout.slice_chunks,
        fingerprint=fingerprint,
        overwrite=overwrite,
    )
    scribble_source = None if scribbles is None else open_stack(scribbles)
    sink = StackSink(layout, writer, scribble_source)
    if mode == "independent":
        steps = independent_steps(
            source, scribble_source, sink, params=run_params, seed=seed, device=device, merge_fragments=merge_fragments
        )
        return writer.array, steps
    if len(writer.done) == layout.n_slices and save_model is None:
        return writer.array, iter(())

    def training_data() -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        chosen = flats or painted or spread(layout.n_slices)
        images = [read_slice(source, layout.image_index(f)) for f in chosen]
        if scribble_source is None:
            return images, None
        return images, [read_slice(scribble_source, layout.label_index(f)) for f in chosen]

    steps = shared_model_steps(
        segmenter,
        training_data,
        lambda: (read_slice(source, layout.image_index(f)) for f in spread(layout.n_slices)),
        ((f, read_slice(source, layout.image_index(f))) for f in range(layout.n_slices) if f not in writer.done),
        sink,
        channel_axis=layout.slice_channel_axis,
        params=run_params,
        seed=seed,
        device=device,
        client=client,
        save_model=save_model,
        merge_fragments=merge_fragments,
    )
    return writer.array, steps


def _scan_scribbles(scribbles: Any, layout: StackLayout) -> tuple[list[int], int, str | None]:
    """Painted slices, the largest painted id and a digest, reading one slice at a time."""
    if scribbles is None:
        return [], 0, None
    source = open_stack(scribbles)
    if tuple(source.shape) != layout.label_shape:
        raise ValueError(
            f"scribbles have shape {tuple(source.shape)} but the stack's labels have shape "
            f"{layout.label_shape} (the stack's shape without its channel axis); paint on a layer of that shape"
        )
    painted, largest, digest = [], 0, hashlib.sha1()
    for flat in range(layout.n_slices):
        marks = read_slice(source, layout.label_index(flat))
        digest.update(np.ascontiguousarray(marks).tobytes())
        if np.any(marks):
            painted.append(flat)
            largest = max(largest, int(np.max(marks)))
    return painted, largest, digest.hexdigest()


def _fingerprint(
    layout: StackLayout,
    source: Any,
    mode: str,
    params: Params,
    seed: int,
    flats: list[int],
    scribble_digest: str | None,
    model_digest: str | None,
    merge_fragments: bool,
) -> dict[str, Any]:
    description = {
        "n_slices": layout.n_slices,
        "stack_shape": layout.shape,
        "stack_dtype": str(source.dtype),
        "stack_axes": layout.stack_axes,
        "mode": mode,
        "params": params.to_dict(),
        "seed": seed,
        "train_slices": flats,
        "scribbles": scribble_digest,
        "model": model_digest,
        "merge_fragments": merge_fragments,
    }
    return json.loads(json.dumps(description))
