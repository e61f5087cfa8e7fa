"""Translate between napari layers and the 2D arrays the core works on.

Everything the widget reads from or writes to a layer goes through here: which 2D plane
``viewer.dims`` shows, reading that plane (from numpy, dask, zarr or the full-resolution
level of a multiscale image), the output Labels layer, and undoable writes into it.
No torch and no Qt here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .preprocess import MIN_SIDE

if TYPE_CHECKING:
    import napari
    from napari.components import Dims
    from napari.layers import Image, Labels, Layer

PlaneKey = tuple  # ints on the non-displayed axes, slice(None) on the two displayed ones
OUTPUT_SUFFIX = " segmentation"
_MARKER = "napari_diffseg_source"


def full_resolution(layer: Layer):
    """The layer's data array, or its finest level when it is multiscale."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def spatial_shape(layer: Layer) -> tuple[int, ...]:
    """Shape of the layer's data without the RGB axis (napari's ``layer.ndim`` axes)."""
    shape = tuple(full_resolution(layer).shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def plane_key(layer: Layer, dims: Dims) -> PlaneKey:
    """Index of the 2D plane that ``dims`` shows, in ``layer``'s data coordinates.

    Raises
    ------
    ValueError
        In 3D view, or when the shown slice lies outside the layer.
    """
    if dims.ndisplay != 2:
        raise ValueError("segmentation works on the 2D slice shown: switch the viewer to 2D view")
    ndim = layer.ndim
    offset = dims.ndim - ndim
    displayed = {axis - offset for axis in dims.displayed}
    point = np.round(layer.world_to_data(dims.point)).astype(int)
    shape = spatial_shape(layer)
    key: list[int | slice] = []
    for axis in range(ndim):
        if axis in displayed:
            key.append(slice(None))
        elif 0 <= point[axis] < shape[axis]:
            key.append(int(point[axis]))
        else:
            raise ValueError(
                f"the slice shown is outside layer {layer.name!r} (axis {axis}); move the slider onto the image"
            )
    return tuple(key)


def read_plane(layer: Layer, key: PlaneKey) -> np.ndarray:
    """Read one 2D plane (with its RGB axis, if any) into memory, touching nothing else."""
    return np.asarray(full_resolution(layer)[key])


def image_plane(layers: Sequence[Image], key: PlaneKey) -> tuple[np.ndarray, int | None]:
    """The 2D plane of one image layer, or of several single-channel layers as channels.

    Returns
    -------
    plane : numpy.ndarray
        (H, W), (H, W, 3|4) RGB(A), or (H, W, C) for several layers.
    channel_axis : int or None
        ``-1`` when several layers were stacked as channels, else None.
    """
    if len(layers) == 1:
        return read_plane(layers[0], key), None
    return np.stack([read_plane(layer, key) for layer in layers], axis=-1), -1


def image_stack(layers: Sequence[Image]) -> tuple:
    """The whole (lazy, unread) data of one image layer, or of several as channels.

    Returns
    -------
    stack : array_like
        The finest level of the data; several layers are stacked lazily with dask.
    channel_axis : int or None
        ``-1`` when several layers were stacked as channels, else None.
    """
    if len(layers) == 1:
        return full_resolution(layers[0]), None
    import dask.array as da

    return da.stack([da.asarray(full_resolution(layer)) for layer in layers], axis=-1), -1


def sub_key(key: PlaneKey, where: tuple) -> PlaneKey:
    """Compose a key with an index into the region it selects (ints on its slice axes)."""
    parts = iter(where)
    return tuple(next(parts, slice(None)) if isinstance(k, slice) else k for k in key)


def check_channel_layers(layers: Sequence[Layer]) -> None:
    """Raise ValueError unless the layers are Image layers that can be used together.

    Several layers are used as the channels of one image: each must be single-channel
    (not RGB) and all must have the same shape.
    """
    from napari.layers import Image

    if not layers:
        raise ValueError("no image layer: open an image (File > Open) or a sample (File > Open Sample)")
    for layer in layers:
        if not isinstance(layer, Image):
            raise ValueError(f"{layer.name!r} is a {type(layer).__name__} layer; pick an Image layer")
        height, width = spatial_shape(layer)[-2:] if layer.ndim >= 2 else (0, 0)
        if full_resolution(layer).size == 0 or min(height, width) < MIN_SIDE:
            raise ValueError(
                f"image layer {layer.name!r} is {height}x{width} pixels; at least "
                f"{MIN_SIDE}x{MIN_SIDE} is needed: pick a larger image"
            )
    if len(layers) > 1:
        if any(layer.rgb for layer in layers):
            raise ValueError("RGB layers cannot be combined as channels; pick one RGB layer alone")
        shapes = {spatial_shape(layer) for layer in layers}
        if len(shapes) > 1:
            raise ValueError(
                "layers picked as channels must have one shape; got "
                + ", ".join(f"{layer.name!r} {spatial_shape(layer)}" for layer in layers)
            )


def check_scribbles(scribbles: Labels | None, image: Image) -> None:
    """Raise ValueError unless ``scribbles`` is None or a Labels layer of the image's shape."""
    from napari.layers import Labels

    if scribbles is None:
        return
    if not isinstance(scribbles, Labels):
        raise ValueError(f"{scribbles.name!r} is not a Labels layer; pick a Labels layer or none")
    if spatial_shape(scribbles) != spatial_shape(image):
        raise ValueError(
            f"scribble layer {scribbles.name!r} has shape {spatial_shape(scribbles)} but image "
            f"{image.name!r} has {spatial_shape(image)}; pick another scribble layer or add one "
            "with 'New scribble layer'"
        )


def is_output(layer: Layer) -> bool:
    """Whether ``layer`` is an output layer this plugin made."""
    return _MARKER in layer.metadata


def matches_image(layer: Layer, image: Image) -> bool:
    """Whether ``layer`` is a Labels layer with the same shape as ``image``."""
    from napari.layers import Labels

    return isinstance(layer, Labels) and spatial_shape(layer) == spatial_shape(image)


def geometry(layer: Layer) -> dict:
    """Keyword arguments that give a new layer the placement of ``layer``: scale, translate, rotate,
    shear, affine and, where napari has them, its physical units (so that measurements and the
    viewer's scale bar agree, and napari does not warn of inconsistent units)."""
    placement = {name: getattr(layer, name) for name in ("scale", "translate", "rotate", "shear", "affine")}
    units = getattr(layer, "units", None)
    return placement if units is None else placement | {"units": units}


def output_layer(viewer: napari.Viewer, image: Image) -> Labels:
    """The image's output layer ``"<name> segmentation"``: the existing one, or a new empty one."""
    name = image.name + OUTPUT_SUFFIX
    for layer in viewer.layers:
        if layer.name == name and is_output(layer) and matches_image(layer, image):
            return layer
    # uint16 draws faster than uint32 (napari colours it on the GPU); fit_dtype widens it when needed.
    data = np.zeros(spatial_shape(image), dtype=np.uint16)
    return viewer.add_labels(data, name=name, metadata={_MARKER: image.name}, **geometry(image))


def fit_dtype(layer: Labels, labels: np.ndarray) -> None:
    """Widen the layer's integer dtype in place when ``labels`` holds ids it cannot store."""
    dtype = layer.data.dtype
    if labels.size and labels.max() > np.iinfo(dtype).max:
        layer.data = layer.data.astype(np.promote_types(dtype, labels.dtype))


def add_scribble_layer(viewer: napari.Viewer, image: Image) -> Labels:
    """Add an empty Labels layer to paint on, with the image's shape and geometry, in paint mode."""
    data = np.zeros(spatial_shape(image), dtype=np.uint8)
    layer = viewer.add_labels(data, name=f"{image.name} scribbles", **geometry(image))
    layer.brush_size = max(3, min(spatial_shape(image)[-2:]) // 100)
    layer.mode = "paint"
    return layer


def absolute_index(key: PlaneKey, plane_indices: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Turn indices into the region ``key`` selects into indices into the full nD array.

    Each index array gets the smallest integer dtype that holds it: the undo history keeps
    them, so this divides its memory by up to four.
    """
    planes = iter(plane_indices)
    count = plane_indices[0].size
    full = (next(planes) if isinstance(k, slice) else np.full(count, k) for k in key)
    return tuple(index.astype(np.min_scalar_type(index.max(initial=0))) for index in full)


def commit_plane(layer: Labels, key: PlaneKey, labels: np.ndarray, before: np.ndarray) -> int:
    """Write ``labels`` into a plane as one undo step whose undo brings back ``before``.

    The plane may hold a preview at this point; it is first put back to ``before``
    without history, so that the undo step records what the plane held before the run.

    Returns
    -------
    int
        Number of pixels that changed relative to ``before``.
    """
    fit_dtype(layer, labels)
    layer.data[key] = before
    changed = np.nonzero(labels != before)
    if changed[0].size:
        with layer.block_history():
            layer.data_setitem(absolute_index(key, changed), labels[changed])
    else:
        layer.refresh()
    return int(changed[0].size)


def show_plane(layer: Labels, key: PlaneKey, labels: np.ndarray) -> None:
    """Show a preview in a plane, outside the undo history (``commit_plane`` records it)."""
    fit_dtype(layer, labels)
    layer.data[key] = labels
    layer.refresh()
