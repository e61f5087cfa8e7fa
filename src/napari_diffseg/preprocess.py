"""Turn user images and scribbles into the arrays the network trains on.

Pure numpy / scikit-image: no torch here, so the napari layer can validate inputs cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SIDE = 8
RGB_CHANNELS = (3, 4)  # a trailing axis of this many entries is RGB(A), as napari guesses
_SUPPORTED_KINDS = "biuf"
_PERCENTILE_SAMPLES = 65_536  # pixels the normalisation percentiles are estimated from, at most

# sRGB (D65) -> CIE XYZ, each row divided by the white point, as scikit-image's rgb2lab.
_XYZ_FROM_LINEAR_RGB = (
    np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
    / np.array([0.95047, 1.0, 1.08883])[:, None]
).astype(np.float32)


@dataclass(frozen=True)
class Scribbles:
    """Scribbles mapped to network channels.

    Attributes
    ----------
    targets : numpy.ndarray
        int64 (H, W) map: channel index of each painted pixel, -1 where unlabeled.
    ids : numpy.ndarray
        The painted label ids in channel order (sorted ascending).
    """

    targets: np.ndarray
    ids: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of painted classes."""
        return int(self.ids.size)


def channels_last(image: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, bool]:
    """Return ``image`` as (H, W, C) and whether it is RGB(A).

    Parameters
    ----------
    image : numpy.ndarray
        2D grayscale, (H, W, 3|4) RGB(A), or 3D with an explicit ``channel_axis``.
    channel_axis : int or None
        Axis holding channels. ``None`` guesses like napari: 2D is grayscale and a
        trailing axis of 3 or 4 entries is RGB(A); anything else must say where channels are.

    Raises
    ------
    ValueError
        For any other dimensionality, or a 3D image with no channel axis to guess.
    """
    if image.ndim == 2:
        if channel_axis is not None:
            raise ValueError(f"a 2D image has no channel axis; pass channel_axis=None (got {channel_axis})")
        return image[..., None], False
    if image.ndim != 3:
        raise ValueError(
            f"expected a 2D image (H, W) or 3D with channels, got {image.ndim}D with shape "
            f"{image.shape}; for stacks use segment_stack or pick one slice"
        )
    if channel_axis is None:
        if is_rgb_shape(image.shape):
            return image, True
        raise ValueError(
            f"cannot tell which axis of shape {image.shape} holds channels; pass channel_axis "
            "(e.g. channel_axis=0 for (C, H, W)), or use segment_stack for a (Z, Y, X) stack"
        )
    if not -3 <= channel_axis < 3:
        raise ValueError(f"channel_axis {channel_axis} is out of range for a 3D image")
    return np.moveaxis(image, channel_axis, -1), False


def is_rgb_shape(shape: tuple[int, ...]) -> bool:
    """Whether an image of ``shape`` with no channel axis given is RGB(A): a trailing axis of 3 or 4 entries."""
    return len(shape) > 0 and shape[-1] in RGB_CHANNELS


def check_dtype(array: np.ndarray, what: str = "image") -> None:
    """Raise TypeError unless ``array`` holds booleans, integers or real floats."""
    if array.dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(f"unsupported {what} dtype {array.dtype}; convert it to an integer or float array")


def prepare_image(
    image: np.ndarray,
    channel_axis: int | None = None,
    *,
    normalization: str = "percentile",
    smooth_sigma: float = 0.0,
    color_space: str = "rgb",
) -> np.ndarray:
    """Normalise an image to a float32 (C, H, W) array in [0, 1].

    Parameters
    ----------
    image : array_like
        2D, RGB(A) or multichannel image of any real dtype. Non-finite pixels get a label
        like every other pixel: +inf is read as the channel's largest finite value, -inf as
        its smallest, NaN (missing) as its median.
    channel_axis : int or None
        See :func:`channels_last`.
    normalization : {"percentile", "reference"}
        ``"percentile"`` maps the 1st-99.8th percentiles to [0, 1] (jointly for RGB,
        per channel otherwise); ``"reference"`` divides uint8 by 255 and otherwise
        falls back to ``"percentile"``.
    smooth_sigma : float
        Gaussian smoothing in pixels, applied after normalisation (0: none).
    color_space : {"rgb", "lab"}
        ``"lab"`` converts RGB(A) images to CIE L*a*b* (as :func:`skimage.color.rgb2lab`;
        uint8 is read as sRGB in 0-255, other dtypes are first stretched to [0, 1]) and
        then stretches the percentiles jointly; other images are not affected.

    Returns
    -------
    numpy.ndarray
        float32 (C, H, W); the alpha channel of RGBA is dropped.
    """
    image = np.asarray(image)
    check_dtype(image)
    hwc, rgb = channels_last(image, channel_axis)
    if rgb and hwc.shape[-1] == 4:
        hwc = hwc[..., :3]
    height, width = hwc.shape[:2]
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(f"image is {height}x{width} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if rgb and color_space == "lab":
        data = _percentile_normalize(rgb_to_lab(hwc), joint=True)
    elif normalization == "reference" and hwc.dtype == np.uint8:
        data = hwc.astype(np.float32) / 255.0
    else:
        data = _percentile_normalize(_fill_nonfinite(_as_float32(hwc)), joint=rgb)
    if smooth_sigma > 0:
        from skimage.filters import gaussian

        data = gaussian(data, sigma=smooth_sigma, channel_axis=-1, preserve_range=True)
    return np.ascontiguousarray(np.moveaxis(data, -1, 0), dtype=np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB image, as float32 (H, W, 3).

    Parameters
    ----------
    rgb : numpy.ndarray
        (H, W, 3) sRGB image: uint8 in 0-255, or any other real dtype, which is stretched
        to [0, 1] by its 1st-99.8th percentiles first.

    Returns
    -------
    numpy.ndarray
        L* in [0, 100] and a*, b* channels, equal to :func:`skimage.color.rgb2lab` of the
        image in [0, 1] (to float32 precision). uint8 images take a lookup table, which
        makes this about twice as fast as scikit-image's float path.
    """
    if rgb.dtype == np.uint8:
        linear = _LINEAR_FROM_SRGB_U8[rgb]
    else:
        linear = _srgb_to_linear(_percentile_normalize(_fill_nonfinite(_as_float32(rgb)), joint=True))
    # Elementwise rather than a matrix product: numpy's BLAS threads keep spinning after a
    # call and slowed torch's next forward pass about 1.5x on 2 cores (measured).
    matrix = _XYZ_FROM_LINEAR_RGB
    r, g, b = linear[..., 0], linear[..., 1], linear[..., 2]
    lab = np.empty(linear.shape, np.float32)
    for row in range(3):
        xyz = matrix[row, 0] * r + matrix[row, 1] * g + matrix[row, 2] * b
        lab[..., row] = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + np.float32(16 / 116))
    fx, fy, fz = lab[..., 0].copy(), lab[..., 1].copy(), lab[..., 2]
    lab[..., 0] = 116 * fy - 16
    lab[..., 1] = 500 * (fx - fy)
    lab[..., 2] = 200 * (fy - fz)
    return lab


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0.04045, ((values + 0.055) / 1.055) ** 2.4, values / 12.92).astype(np.float32)


_LINEAR_FROM_SRGB_U8 = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255)


def _fill_nonfinite(data: np.ndarray) -> np.ndarray:
    """Replace non-finite pixels, channel by channel: +inf by the largest finite value,
    -inf by the smallest (saturated, as a clipped sensor reads them) and NaN (missing) by the
    median. Without finite pixels, -inf, NaN and +inf become 0, 0.5 and 1."""
    bad = ~np.isfinite(data)
    if not bad.any():
        return data
    data = data.copy()
    for c in range(data.shape[-1]):
        channel, mask = data[..., c], bad[..., c]
        finite = channel[~mask]
        low, middle, high = (finite.min(), np.median(finite), finite.max()) if finite.size else (0.0, 0.5, 1.0)
        values = channel[mask]
        channel[mask] = np.where(np.isnan(values), middle, np.where(values > 0, high, low))
    return data


def _as_float32(data: np.ndarray) -> np.ndarray:
    """``data`` as float32; floats too large for float32 arithmetic are scaled down first."""
    if data.dtype.kind == "f" and data.dtype.itemsize >= 4:
        finite = data[np.isfinite(data)]
        largest = float(np.abs(finite).max(initial=0.0))
        if largest > float(np.finfo(np.float32).max) / 4:  # differences of such values overflow float32
            data = data.astype(np.float64) / largest
    return data.astype(np.float32)


def _percentile_normalize(data: np.ndarray, *, joint: bool, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    axes = None if joint else (0, 1)
    pixels = data.reshape(-1, 1, data.shape[-1])
    step = max(1, pixels.shape[0] // _PERCENTILE_SAMPLES)  # an even sample keeps large images fast
    lo, hi = np.percentile(pixels[::step], [low, high], axis=axes, keepdims=True).astype(data.dtype)  # not float64
    span = hi - lo
    # Where the percentiles coincide (a constant or near-binary channel) use min/max instead.
    flat = span <= 0
    if np.any(flat):
        lo = np.where(flat, data.min(axis=axes, keepdims=True), lo)
        hi = np.where(flat, data.max(axis=axes, keepdims=True), hi)
        span = hi - lo
    scaled = (data - lo) / np.where(span > 0, span, 1.0)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def prepare_scribbles(scribbles: np.ndarray | None, shape: tuple[int, int]) -> Scribbles:
    """Map napari-style scribbles (0 = unlabeled, positive ids = classes) to channels.

    Parameters
    ----------
    scribbles : array_like or None
        Integer (or boolean) array of the image's spatial ``shape``; ``None`` or all
        zeros means an unsupervised run.
    shape : tuple of int
        Spatial (H, W) shape of the image.

    Raises
    ------
    ValueError
        On a shape mismatch (checked first), negative values or non-integral floats.
    TypeError
        On a non-numeric dtype.
    """
    if scribbles is None:
        return Scribbles(np.full(shape, -1, dtype=np.int64), np.zeros(0, dtype=np.int64))
    scribbles = np.asarray(scribbles)
    if scribbles.shape != tuple(shape):
        raise ValueError(
            f"scribbles have shape {scribbles.shape} but the image's spatial shape is "
            f"{tuple(shape)}; paint the scribbles on a layer of the image's shape"
        )
    check_dtype(scribbles, "scribbles")
    if scribbles.dtype.kind == "f" and (not np.all(np.isfinite(scribbles)) or np.any(scribbles != np.round(scribbles))):
        raise ValueError("scribbles must be integer class ids (0 = unlabeled); got non-integral floats")
    if scribbles.dtype.kind != "b" and scribbles.size and scribbles.min() < 0:
        raise ValueError("scribbles must be >= 0 (0 = unlabeled, positive ids are classes)")
    ids_all = scribbles.astype(np.int64)
    ids = np.unique(ids_all)
    ids = ids[ids > 0]
    targets = np.searchsorted(ids, ids_all).astype(np.int64)
    targets[ids_all == 0] = -1
    return Scribbles(targets, ids)


def reference_scribbles(reference: np.ndarray) -> np.ndarray:
    """Convert a reference-repository scribble image to napari ids.

    The reference uses 255 for unlabeled and any other value ``v`` as class ``v``;
    napari reserves 0 for unlabeled, so ``v`` becomes ``v + 1``.
    """
    reference = np.asarray(reference)
    if reference.ndim == 3:
        raise ValueError("reference scribbles must be a single-channel image (RGB scribble files give bogus classes)")
    out = reference.astype(np.int64) + 1
    out[reference == 255] = 0
    return out


def scribbles_in_order(mapped: Scribbles, keep_order: np.ndarray) -> Scribbles:
    """``mapped`` with the ids of ``keep_order`` first (on their channels, in that order), then the new ids."""
    if mapped.n_classes == 0:
        return mapped
    present = set(mapped.ids.tolist())
    kept = [i for i in keep_order.tolist() if i in present]
    order = np.array(kept + sorted(present - set(kept)), dtype=np.int64)
    channel_of = np.searchsorted(mapped.ids, order)  # old channel of each new channel
    new_channel = np.empty_like(channel_of)
    new_channel[channel_of] = np.arange(order.size)
    targets = np.where(mapped.targets >= 0, new_channel[np.maximum(mapped.targets, 0)], -1)
    return Scribbles(targets, order)


def map_scribbles(
    scribbles: np.ndarray | list[np.ndarray | None] | None,
    n_images: int,
    spatial: tuple[int, int],
    keep_order: np.ndarray | None = None,
) -> Scribbles:
    """Map the scribbles of ``n_images`` images of ``spatial`` shape to channels.

    ``scribbles`` is one array (or None) for one image, or a list with one array (or None)
    per image; ids in ``keep_order`` keep their channel order (:func:`scribbles_in_order`).
    """
    if isinstance(scribbles, list):
        if len(scribbles) != n_images:
            raise ValueError(f"got {len(scribbles)} scribble arrays for {n_images} images; pass one per image")
        scribbles = np.stack([np.zeros(spatial, np.uint8) if s is None else np.asarray(s) for s in scribbles])
        mapped = prepare_scribbles(scribbles, (n_images, *spatial))
    elif n_images > 1:
        if scribbles is not None:
            raise ValueError("with a list of images, pass scribbles as a list too (one per image)")
        mapped = prepare_scribbles(None, (n_images, *spatial))
    else:
        mapped = prepare_scribbles(scribbles, spatial)
    return mapped if keep_order is None else scribbles_in_order(mapped, keep_order)
