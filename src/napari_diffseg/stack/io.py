"""Lazy stack inputs and slice-by-slice, resumable label outputs.

Inputs (numpy, dask and zarr arrays, or a path to a ``.zarr``, ``.npy`` or TIFF file) are
opened without reading their pixels; :func:`read_slice` reads one slice at a time. Outputs
(a ``.zarr`` or TIFF path, or a writable array) are written one slice at a time by a
:class:`SliceWriter`; a zarr output records finished slices in its attributes so that an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..io import STACK_SUFFIXES, TIFF_SUFFIXES, ZARR_SUFFIX

PROGRESS_KEY = "napari_diffseg"


def open_stack(source: Any) -> Any:
    """Return an array-like view of ``source`` that reads nothing until indexed.

    Parameters
    ----------
    source : array_like, dask array, zarr array, str or path-like
        An array (returned as is), or a path to a ``.zarr`` array, a ``.npy`` file
        (memory-mapped) or a TIFF file (memory-mapped when uncompressed and the address space
        allows, otherwise read page by page through tifffile's zarr store).

    Raises
    ------
    FileNotFoundError
        When the path does not exist.
    ValueError
        For a file type that cannot be read lazily, or a zarr group instead of an array.
    """
    if not isinstance(source, (str, os.PathLike)):
        if not hasattr(source, "shape") or not hasattr(source, "__getitem__"):
            source = np.asarray(source)
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"stack {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ZARR_SUFFIX:
        import zarr

        array = zarr.open(str(path), mode="r")
        if not hasattr(array, "shape"):
            raise ValueError(f"{str(path)!r} is a zarr group; pass the path of one array inside it")
        return array
    if suffix == ".npy":
        return np.load(path, mmap_mode="r")
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            return tifffile.memmap(path, mode="r")
        except (ValueError, OSError, MemoryError):  # compressed, tiled or too large to map: page by page
            import zarr

            return zarr.open(tifffile.imread(path, aszarr=True), mode="r")
    raise ValueError(
        f"cannot open {str(path)!r} lazily; stacks are read from {', '.join(STACK_SUFFIXES)} files (or pass an array)"
    )


def read_slice(array: Any, index: tuple) -> np.ndarray:
    """Read ``array[index]`` into memory as a numpy array (computing dask arrays)."""
    return np.asarray(array[index])


class SliceWriter:
    """Where labels go, one slice at a time.

    Use :func:`open_output` to make one. ``done`` holds the flat indices of slices already
    written (from an interrupted run when resuming a zarr output).
    """

    def __init__(self, array: Any, *, record: bool, fingerprint: dict[str, Any] | None = None):
        self.array = array
        self._record = record
        self._fingerprint = fingerprint
        self.done: set[int] = set()
        if record:
            state = dict(array.attrs.get(PROGRESS_KEY, {}))
            if state.get("fingerprint") == fingerprint:
                self.done = set(state.get("done", []))

    def write(self, flat: int, index: tuple, labels: np.ndarray) -> None:
        """Store ``labels`` at ``index`` and mark slice ``flat`` as finished."""
        self.array[index] = labels
        self.done.add(flat)
        if self._record:
            # The marker goes in after the pixels: a slice marked done is complete on disk.
            self.array.attrs[PROGRESS_KEY] = {"fingerprint": self._fingerprint, "done": sorted(self.done)}
        elif isinstance(self.array, np.memmap):
            self.array.flush()

    def read(self, index: tuple) -> np.ndarray:
        """Read back the labels at ``index``."""
        return np.asarray(self.array[index])


def open_output(
    out: Any,
    shape: tuple[int, ...],
    dtype: np.dtype,
    *,
    slice_chunks: tuple[int, ...],
    fingerprint: dict[str, Any],
    overwrite: bool = False,
) -> SliceWriter:
    """Open (or create) where a stack's labels are written.

    Parameters
    ----------
    out : None, str, path-like or array
        ``None`` (a numpy array in memory), a path ending in ``.zarr`` (chunked one slice
        per chunk, resumable) or ``.tif``/``.tiff`` (memory-mapped, written slice by slice),
        or a writable array of ``shape`` (a zarr array there is resumable too).
    shape : tuple of int
        Shape of the label stack.
    dtype : numpy.dtype
        Label dtype of new outputs.
    slice_chunks : tuple of int
        Chunk shape of one slice (1 along stack axes) for a new zarr output.
    fingerprint : dict
        JSON-normalised description of the run (lists, not tuples), with ``n_slices``; a
        zarr output resumes only an unfinished run with the same fingerprint.
    overwrite : bool
        Replace an existing output path instead of refusing it.

    Raises
    ------
    ValueError
        For an existing output path (unless ``overwrite``, or an unfinished run with the
        same fingerprint, which is resumed), an unknown suffix, a read-only zarr array, or
        an array of another shape.
    """
    if out is None:
        return SliceWriter(np.zeros(shape, dtype=dtype), record=False)
    if isinstance(out, (str, os.PathLike)):
        return _open_output_path(Path(out), (shape, dtype, slice_chunks), fingerprint, overwrite)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(out.shape)} but the labels have shape {tuple(shape)}")
    if getattr(out, "read_only", False):
        raise ValueError("out is a read-only zarr array; open it with mode='r+' or 'a', or pass a path")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError("out is a read-only numpy array; pass a writable array")
    return SliceWriter(out, record=hasattr(out, "attrs"), fingerprint=fingerprint)


def _open_output_path(
    path: Path, new: tuple[tuple[int, ...], np.dtype, tuple[int, ...]], fingerprint: dict[str, Any], overwrite: bool
) -> SliceWriter:
    """The writer of an output path; ``new`` is the (shape, dtype, slice chunks) of a new output."""
    shape, dtype, slice_chunks = new
    suffix = path.suffix.lower()
    if suffix not in (ZARR_SUFFIX, *TIFF_SUFFIXES):
        raise ValueError(f"output {str(path)!r} must end in .zarr, .tif or .tiff")
    if path.exists() and not overwrite:
        if suffix == ZARR_SUFFIX and _unfinished_run(path, fingerprint):
            import zarr

            if not os.access(path, os.W_OK):
                raise ValueError(f"cannot resume output {str(path)!r}: it is read-only; choose a writable place")
            return SliceWriter(zarr.open_array(str(path), mode="r+"), record=True, fingerprint=fingerprint)
        raise ValueError(
            f"output {str(path)!r} already exists; pass overwrite=True to replace it or choose another path"
        )
    try:
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if suffix == ZARR_SUFFIX:
            import zarr

            array = zarr.open_array(str(path), mode="w", shape=shape, chunks=slice_chunks, dtype=dtype)
            array.attrs[PROGRESS_KEY] = {"fingerprint": fingerprint, "done": []}
            return SliceWriter(array, record=True, fingerprint=fingerprint)
        import tifffile

        return SliceWriter(tifffile.memmap(path, shape=shape, dtype=dtype), record=False)
    except OSError as error:  # a read-only folder or file system, a missing parent folder
        raise ValueError(f"cannot write output {str(path)!r}: {error.strerror}; choose a writable place") from None


def _unfinished_run(path: Path, fingerprint: dict[str, Any]) -> bool:
    """Whether ``path`` is a zarr output of the same run with slices still to do."""
    import zarr

    try:
        array = zarr.open_array(str(path), mode="r")
    except Exception:  # noqa: BLE001 - not a readable zarr array: not ours to resume
        return False
    state = array.attrs.get(PROGRESS_KEY, {})
    return state.get("fingerprint") == fingerprint and len(state.get("done", [])) < fingerprint["n_slices"]


class StackSink:
    """A :class:`SliceWriter` seen as the pipeline's label sink: slices by flat index.

    Parameters
    ----------
    layout : StackLayout
        The stack's layout (from :func:`~napari_diffseg.stack.layout.stack_layout`).
    writer : SliceWriter
        Where the labels go.
    scribbles : array_like, optional
        The stack's scribbles (0 = unlabeled): painted pixels keep their ids in what is written.
    """

    def __init__(self, layout: Any, writer: SliceWriter, scribbles: Any = None):
        self.layout, self.writer, self.scribbles = layout, writer, scribbles
        self.n_slices = layout.n_slices

    def open(self, model: Any) -> None:
        """Nothing to record: the output was opened with the run's fingerprint."""

    @property
    def done(self) -> int:
        """Slices written so far, including those of a resumed run."""
        return len(self.writer.done)

    def write(self, flat: int, labels: np.ndarray) -> np.ndarray:
        """Write the labels of slice ``flat`` in the output's dtype; return them as written."""
        labels = labels.astype(self.writer.array.dtype, copy=False)
        if self.scribbles is not None:
            marks = read_slice(self.scribbles, self.layout.label_index(flat))
            labels = np.where(marks > 0, marks, labels).astype(labels.dtype)
        self.writer.write(flat, self.layout.label_index(flat), labels)
        return labels

    def position(self, flat: int) -> tuple[int, ...]:
        """Index of slice ``flat`` along the stack axes."""
        return self.layout.position(flat)
