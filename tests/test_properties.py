"""Property-based tests: generated images, scribbles and parameters never break the contract.

Invariants checked over every public entry point: only ``ValueError`` / ``TypeError`` (with a
message) escape; labels have the image's spatial shape and dtype uint16 or uint32; painted ids
appear; ``segment`` never returns 0; inputs are never modified. The ``ci`` profile (default, see
``conftest.py``) keeps this file under a minute; ``--hypothesis-profile long`` runs many more
examples.
"""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_diffseg import Params, Segmenter, segment, segment_stack
from napari_diffseg.params import PRESETS

FAST = {"max_iter": 2, "refine_iter": 1, "threads": 1}
REAL_DTYPES = [
    "bool",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
]
ALLOWED = (ValueError, TypeError)
SLOW = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def digest(*arrays: np.ndarray | None) -> list[bytes]:
    return [b"" if a is None else hashlib.blake2b(np.ascontiguousarray(a).tobytes()).digest() for a in arrays]


def fill(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, kind: str) -> np.ndarray:
    """Random, constant or near-constant values that fit ``dtype``."""
    if dtype == "bool":
        return rng.random(shape) < (0.5 if kind == "random" else 0.01 if kind == "near" else 0.0)
    info = np.finfo(dtype) if dtype.startswith("float") else np.iinfo(dtype)
    base = np.zeros(shape) + float(rng.uniform(max(float(info.min), -1e6), min(float(info.max), 1e6)))
    if kind == "random":
        low, high = (0.0, float(info.max)) if rng.random() < 0.3 else (float(info.min) / 2, float(info.max) / 2)
        if dtype.startswith("float"):
            low, high = max(low, -1e30 if dtype != "float16" else -6e4), min(high, 1e30 if dtype != "float16" else 6e4)
        values = rng.uniform(low, high, shape)
    elif kind == "near":
        values = base.copy()
        values.flat[rng.integers(0, values.size)] += 1
    else:
        values = base
    return np.clip(values, float(info.min), float(info.max)).astype(dtype)


@st.composite
def images(draw: st.DrawFn, *, max_side: int = 256) -> tuple[np.ndarray, int | None]:
    """An image of any real dtype and layout with ``channel_axis`` (None for grey and RGB)."""
    height = draw(st.integers(8, max_side))
    width = draw(st.integers(8, max_side))
    dtype = draw(st.sampled_from(REAL_DTYPES))
    layout = draw(st.sampled_from(["grey", "rgb", "channels"]))
    kind = draw(st.sampled_from(["random", "constant", "near"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if layout == "grey":
        image, axis = fill(rng, (height, width), dtype, kind), None
    elif layout == "rgb":
        image, axis = fill(rng, (height, width, 3), dtype, kind), None
    else:
        n_channels = draw(st.integers(1, 5))
        axis = draw(st.sampled_from([0, 1, 2, -1]))
        image = np.moveaxis(fill(rng, (height, width, n_channels), dtype, kind), -1, axis)
        if n_channels in (3, 4) and axis in (2, -1):
            axis = draw(st.sampled_from([axis, None]))
    if image.dtype.kind == "f":
        nan_share, inf_share = draw(st.floats(0, 1)), draw(st.floats(0, 1))
        image = image.copy()
        image[rng.random(image.shape) < nan_share] = np.nan
        image[rng.random(image.shape) < inf_share] = rng.choice([np.inf, -np.inf])
    return image, axis


@st.composite
def scribbles_for(draw: st.DrawFn, shape: tuple[int, int]) -> np.ndarray | None:
    """None, or scribbles with 1-4 ids anywhere in 1..2**32-1 over any share of the pixels."""
    n_classes = draw(st.integers(0, 4))
    if n_classes == 0:
        return None
    ids = draw(st.lists(st.integers(1, 2**32 - 1), min_size=n_classes, max_size=n_classes, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    share = draw(st.floats(0.001, 1.0))
    painted = rng.random(shape) < share
    out = np.where(painted, rng.choice(np.array(ids, dtype=np.uint64), size=shape), 0)
    for i in ids:  # every drawn id is painted at least once
        out.flat[rng.integers(0, out.size)] = i
    dtype = np.uint32 if max(ids) > np.iinfo(np.int32).max else draw(st.sampled_from([np.uint32, np.int64]))
    return out.astype(dtype)


def spatial_shape(image: np.ndarray, axis: int | None) -> tuple[int, int]:
    if image.ndim == 2:
        return image.shape
    if axis is None:
        return image.shape[:2]
    return tuple(s for i, s in enumerate(image.shape) if i != axis % 3)


def check_labels(labels: np.ndarray, shape: tuple[int, ...], scribbles: np.ndarray | None) -> None:
    assert labels.shape == tuple(shape)
    assert labels.dtype in (np.uint16, np.uint32)
    assert labels.min() >= 1
    if scribbles is not None:
        painted = set(np.unique(scribbles[scribbles > 0]).tolist())
        assert painted <= set(np.unique(labels).tolist())


@SLOW
@given(data=st.data())
def test_segment_keeps_its_contract(data: st.DataObject) -> None:
    image, axis = data.draw(images())
    scribbles = data.draw(scribbles_for(spatial_shape(image, axis)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    before = digest(image, scribbles)
    try:
        labels = segment(image, scribbles, channel_axis=axis, seed=seed, **FAST)
    except ALLOWED as error:
        assert str(error)
        return
    finally:
        assert digest(image, scribbles) == before
    check_labels(labels, spatial_shape(image, axis), scribbles)


@SLOW
@given(data=st.data())
def test_segmenter_train_refine_predict_save_load(data: st.DataObject) -> None:
    image, axis = data.draw(images(max_side=96))
    shape = spatial_shape(image, axis)
    scribbles = data.draw(scribbles_for(shape))
    correction = data.draw(scribbles_for(shape))
    other, _ = data.draw(images(max_side=96))
    before = digest(image, scribbles, correction)
    model = Segmenter("fast", seed=data.draw(st.integers(0, 2**32 - 1)), **FAST)
    try:
        for _ in model.train(image, scribbles, channel_axis=axis):
            pass
    except ALLOWED as error:
        assert str(error)
        assert digest(image, scribbles, correction) == before
        return
    check_labels(model.labels(), shape, scribbles)
    edited = correction
    if correction is not None and scribbles is not None:
        edited = np.where(correction > 0, correction, scribbles)
    try:
        for _ in model.refine(edited):
            pass
    except ALLOWED as error:
        assert str(error)
    else:
        check_labels(model.labels(), shape, edited)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = Segmenter.load(buffer)
    try:
        predicted = loaded.predict(other, channel_axis=None if other.ndim == 2 or other.shape[-1] in (3, 4) else 0)
    except ALLOWED as error:
        assert str(error)
    else:
        assert predicted.dtype in (np.uint16, np.uint32)
        assert predicted.ndim == 2
    assert digest(image, scribbles, correction) == before


@SLOW
@given(data=st.data())
def test_segment_stack_keeps_its_contract(data: st.DataObject) -> None:
    n_slices = data.draw(st.integers(1, 3))
    side = data.draw(st.integers(8, 32))
    dtype = data.draw(st.sampled_from(REAL_DTYPES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    four_d = data.draw(st.booleans())
    shape = (n_slices, 2, side, side) if four_d else (n_slices, side, side)
    stack = fill(rng, shape, dtype, data.draw(st.sampled_from(["random", "constant", "near"])))
    mode = data.draw(st.sampled_from(["shared", "independent"]))
    scribbles = None
    if data.draw(st.booleans()):
        scribbles = np.zeros((n_slices, side, side), np.uint32)
        scribbles[0, : side // 2, :2] = data.draw(st.integers(1, 2**32 - 1))
        scribbles[0, side // 2 :, -2:] = data.draw(st.integers(1, 2**32 - 1))
    before = digest(stack, scribbles)
    try:
        labels = segment_stack(stack, scribbles, axis=0, channel_axis=1 if four_d else None, mode=mode, **FAST)
    except ALLOWED as error:
        assert str(error)
        return
    finally:
        assert digest(stack, scribbles) == before
    assert labels.shape == (n_slices, side, side)
    assert labels.dtype in (np.uint16, np.uint32)
    if scribbles is not None:
        assert set(np.unique(scribbles[0][scribbles[0] > 0]).tolist()) <= set(np.unique(labels[0]).tolist())


EDGE_VALUES = [0, 1, -1, 2, 63, 64, 2**31, 0.0, -0.5, 0.5, 1.5, math.nan, math.inf, -math.inf, None, True, "x", 1e308]


@settings(max_examples=200)
@given(name=st.sampled_from(sorted(PRESETS["fast"].to_dict())), value=st.sampled_from(EDGE_VALUES))
def test_every_parameter_at_and_beyond_its_bounds(name: str, value: object) -> None:
    try:
        params = PRESETS["fast"].replace(**{name: value})
    except ALLOWED as error:
        assert str(error)
        return
    for field, got in params.to_dict().items():
        if isinstance(got, float):
            assert math.isfinite(got), f"{field}={got} was accepted"
    assert isinstance(params, Params)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", ["lr", "momentum", "con_weight", "sim_weight", "scribble_weight", "smooth_sigma"])
def test_non_finite_float_parameters_are_refused(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite"):
        segment(np.zeros((16, 16)), **{name: value})


@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
def test_seeds_outside_the_valid_range_say_which_are_valid(seed: int) -> None:
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\*\*32 - 1"):
        Segmenter(seed=seed)


def test_largest_seed_is_accepted() -> None:
    labels = segment(np.arange(256.0).reshape(16, 16), seed=2**32 - 1, **FAST)
    assert labels.shape == (16, 16)


def test_huge_channel_count_is_refused_up_front_with_the_estimate() -> None:
    from napari_diffseg.memory import InsufficientMemoryError

    with pytest.raises(InsufficientMemoryError, match=r"needs about [0-9.]+ GiB.*channels"):
        segment(np.random.default_rng(0).random((32, 40)), channels=100000, **FAST)


def test_an_image_of_only_plus_and_minus_infinity_gives_two_labels() -> None:
    image = np.full((24, 24), np.inf)
    image[:, :12] = -np.inf
    labels = segment(image, max_iter=20, threads=1)
    left, right = np.unique(labels[:, :8]), np.unique(labels[:, 16:])
    assert left.size == right.size == 1
    assert left[0] != right[0]


def test_largest_scribble_ids_survive() -> None:
    image = np.zeros((24, 24))
    image[:, 12:] = 1
    scribbles = np.zeros((24, 24), np.uint32)
    scribbles[4:20, 2:5] = 2**32 - 1
    labels = segment(image, scribbles, max_iter=5, threads=1)
    assert labels.dtype == np.uint32
    assert 2**32 - 1 in labels
    assert labels.min() >= 1
