"""Layer <-> array translation of the widget: planes, lazy reads, checks, undoable writes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import Dims
from napari.layers import Image, Labels

from napari_diffseg import _layers


def dims_for(ndim: int, point: tuple[float, ...], order: tuple[int, ...] | None = None, ndisplay: int = 2) -> Dims:
    dims = Dims(ndim=ndim, ndisplay=ndisplay, range=((0, 20, 1),) * ndim)
    if order is not None:
        dims.order = order
    dims.point = point
    return dims


def test_plane_key_follows_the_slider_in_data_coordinates():
    layer = Image(np.zeros((5, 16, 16)), scale=(2.0, 1.0, 1.0))
    assert _layers.plane_key(layer, dims_for(3, (6.0, 0, 0))) == (3, slice(None), slice(None))


def test_plane_key_with_transposed_axes_and_extra_viewer_dims():
    layer = Image(np.zeros((5, 16, 16)))
    dims = dims_for(4, (0, 2, 7, 0), order=(0, 2, 1, 3))  # viewer shows layer axes 0 and 2
    assert _layers.plane_key(layer, dims) == (slice(None), 7, slice(None))


def test_plane_key_refuses_3d_view_and_slices_outside_the_layer():
    layer = Image(np.zeros((5, 16, 16)))
    with pytest.raises(ValueError, match="2D view"):
        _layers.plane_key(layer, dims_for(3, (1, 0, 0), ndisplay=3))
    with pytest.raises(ValueError, match="outside layer"):
        _layers.plane_key(layer, dims_for(3, (9, 0, 0)))


class RecordingArray:
    """An array-like that records every read, to check that only one slice is read."""

    def __init__(self, data: np.ndarray):
        self.data, self.reads = data, []
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def __getitem__(self, key):
        self.reads.append(key)
        return self.data[key]


def test_dask_backed_images_are_read_one_slice_at_a_time():
    da = pytest.importorskip("dask.array")
    source = RecordingArray(np.arange(4 * 16 * 16, dtype=np.float32).reshape(4, 16, 16))
    layer = Image(da.from_array(source, chunks=(1, 16, 16)))
    source.reads.clear()
    plane = _layers.read_plane(layer, (2, slice(None), slice(None)))
    np.testing.assert_array_equal(plane, source.data[2])
    assert source.reads and all(key[0] in (2, slice(2, 3)) for key in source.reads)


def test_multiscale_images_are_read_at_full_resolution():
    levels = [np.arange(2 * 32 * 32).reshape(2, 32, 32), np.zeros((2, 16, 16))]
    layer = Image(levels, multiscale=True)
    assert _layers.spatial_shape(layer) == (2, 32, 32)
    np.testing.assert_array_equal(_layers.read_plane(layer, (1, slice(None), slice(None))), levels[0][1])


def test_several_layers_become_channels():
    first, second = Image(np.zeros((16, 16))), Image(np.ones((16, 16)))
    plane, channel_axis = _layers.image_plane([first, second], (slice(None), slice(None)))
    assert plane.shape == (16, 16, 2) and channel_axis == -1
    stack, channel_axis = _layers.image_stack([first, second])
    assert stack.shape == (16, 16, 2) and channel_axis == -1


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([Labels(np.zeros((16, 16), dtype=np.uint8), name="lab")], "Labels layer; pick an Image layer"),
        ([Image(np.zeros((16, 16, 3)), rgb=True), Image(np.zeros((16, 16)))], "RGB layers cannot be combined"),
        ([Image(np.zeros((16, 16))), Image(np.zeros((16, 20)))], "must have one shape"),
        ([Image(np.zeros((4, 30)), name="thin")], "at least 8x8"),
        ([], "no image layer"),
    ],
)
def test_bad_layer_choices_say_what_to_do(layers, message):
    with pytest.raises(ValueError, match=message):
        _layers.check_channel_layers(layers)


def test_scribbles_of_another_shape_are_refused():
    image = Image(np.zeros((3, 16, 16)))
    _layers.check_scribbles(Labels(np.zeros((3, 16, 16), dtype=np.uint8)), image)
    with pytest.raises(ValueError, match="New scribble layer"):
        _layers.check_scribbles(Labels(np.zeros((16, 16), dtype=np.uint8), name="s"), image)


def test_commit_plane_is_one_undo_step_back_to_before():
    layer = Labels(np.zeros((3, 8, 8), dtype=np.uint32))
    key = (1, slice(None), slice(None))
    layer.data[key] = 4  # what the plane held before the run
    before = layer.data[key].copy()
    _layers.show_plane(layer, key, np.full((8, 8), 9, dtype=np.uint16))  # a preview, no history
    result = np.arange(64, dtype=np.uint16).reshape(8, 8) % 3 + 1
    assert _layers.commit_plane(layer, key, result, before) == 64
    np.testing.assert_array_equal(layer.data[1], result)
    assert not layer.data[0].any() and not layer.data[2].any()
    layer.undo()
    np.testing.assert_array_equal(layer.data[1], before)
    layer.redo()
    np.testing.assert_array_equal(layer.data[1], result)


def test_sub_key_and_absolute_index():
    key = (slice(None), 2, slice(None), slice(None))
    assert _layers.sub_key(key, (5,)) == (5, 2, slice(None), slice(None))
    index = _layers.absolute_index((3, slice(None), slice(None)), (np.array([0, 1]), np.array([4, 5])))
    assert [list(i) for i in index] == [[3, 3], [0, 1], [4, 5]]


def test_the_output_widens_for_large_ids():
    layer = Labels(np.zeros((2, 8, 8), dtype=np.uint16))
    key = (0, slice(None), slice(None))
    _layers.commit_plane(layer, key, np.full((8, 8), 70_000, dtype=np.uint32), layer.data[key].copy())
    assert layer.data.dtype == np.uint32 and (layer.data[0] == 70_000).all()
    layer.undo()
    assert not layer.data.any()
