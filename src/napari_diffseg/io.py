"""Reading images and scribbles from files and writing label images.

TIFF goes through tifffile (with the pixel size from the resolution tags or ImageJ
metadata); PNG and JPEG through imageio. Label images are written as TIFF, with the input's
pixel size and a JSON description of how they were made, or as 16-bit PNG.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .atomic import atomic_path

TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
IMAGE_SUFFIXES = TIFF_SUFFIXES + PNG_SUFFIXES + (".jpg", ".jpeg")
LABEL_SUFFIXES = TIFF_SUFFIXES + PNG_SUFFIXES
ZARR_SUFFIX = ".zarr"
STACK_SUFFIXES = (ZARR_SUFFIX, ".npy", *TIFF_SUFFIXES)  # stacks read lazily (napari_diffseg.stack.io)

# Micrometres per unit, for the units of TIFF resolution tags and ImageJ metadata.
_MICROMETRES = {
    "inch": 25400.0,
    "cm": 1e4,
    "mm": 1e3,
    "um": 1.0,
    "µm": 1.0,
    "\\u00B5m": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "nm": 1e-3,
}
_RESUNIT_NAMES = {2: "inch", 3: "cm", 4: "mm", 5: "um"}
# Pixels per inch that image editors and screenshots write when nothing was calibrated.
_SCREEN_DPI = (72.0, 96.0)


@dataclass(frozen=True)
class LoadedImage:
    """An image read from a file.

    Attributes
    ----------
    data : numpy.ndarray
        The pixels as stored (TIFF: the first series; PNG/JPEG: (H, W) or (H, W, 3|4)).
    pixel_size : tuple of float or None
        (y, x) pixel size in micrometres, or None when the file does not give a physical one.
    """

    data: np.ndarray
    pixel_size: tuple[float, float] | None = None


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read a TIFF, PNG or JPEG image and its pixel size.

    Parameters
    ----------
    path : str or path-like
        File ending in .tif, .tiff, .png, .jpg or .jpeg.

    Returns
    -------
    LoadedImage
        Pixels and, for TIFF, the pixel size in micrometres when the file records one.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For an unsupported extension or a file that cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file {path!r} does not exist")
    suffix = _suffix(path)
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot read {path!r}: supported image files end in {', '.join(IMAGE_SUFFIXES)}")
    try:
        if suffix in TIFF_SUFFIXES:
            return _read_tiff(path)
        import imageio.v3 as iio

        return LoadedImage(np.asarray(iio.imread(path)))
    except Exception as error:  # noqa: BLE001 - decoders raise anything on a corrupt file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot read {path!r} as an image ({reason})") from None


def _read_tiff(path: str) -> LoadedImage:
    import tifffile

    # tifffile logs what it finds wrong in a corrupt file; the error raised says it once.
    with _logs_silenced("tifffile"), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError("the TIFF holds no image")
        data = tif.series[0].asarray()
        page = tif.pages.first
        imagej_unit = (tif.imagej_metadata or {}).get("unit")
        return LoadedImage(data, _tiff_pixel_size(page, imagej_unit))


@contextlib.contextmanager
def _logs_silenced(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _tiff_pixel_size(page: Any, imagej_unit: str | None) -> tuple[float, float] | None:
    """(y, x) pixel size in micrometres from a TIFF page's resolution tags, or None.

    None too for the screen resolutions image editors write by default (72 or 96 pixels per
    inch, without ImageJ metadata): they say nothing of the sample (a 350 um pixel).
    """
    x_resolution, y_resolution = page.get_resolution()
    if not (x_resolution > 0 and y_resolution > 0):
        return None
    unit = _RESUNIT_NAMES.get(int(page.resolutionunit))
    if imagej_unit is not None:
        unit = imagej_unit.strip().lower()
    elif unit == "inch" and x_resolution == y_resolution and x_resolution in _SCREEN_DPI:
        return None
    if unit not in _MICROMETRES:
        return None
    scale = _MICROMETRES[unit]
    return (scale / y_resolution, scale / x_resolution)


def read_scribbles(path: str | os.PathLike, file_format: str = "napari") -> np.ndarray:
    """Read scribbles from an image file.

    Parameters
    ----------
    path : str or path-like
        Single-channel integer image (TIFF or PNG; JPEG is lossy and invents classes).
    file_format : {"napari", "reference"}
        ``"napari"``: 0 = unlabeled, each positive id a class. ``"reference"``: the
        reference repository's files, 255 = unlabeled and any other value ``v`` is class
        ``v + 1`` (napari reserves 0 for unlabeled).

    Returns
    -------
    numpy.ndarray
        napari-style scribbles.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For a file that is not a single-channel image, or an unknown ``file_format``.
    """
    from .preprocess import reference_scribbles

    if file_format not in ("napari", "reference"):
        raise ValueError(f"unknown scribble format {file_format!r}; choose napari or reference")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scribbles file {os.fspath(path)!r} does not exist")
    data = read_image(path).data
    if data.ndim != 2:
        raise ValueError(
            f"scribbles in {os.fspath(path)!r} have shape {data.shape}; a single-channel label image is "
            "needed (save the napari Labels layer, not a screenshot or an RGB rendering)"
        )
    return reference_scribbles(data) if file_format == "reference" else data


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    pixel_size: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a label image as TIFF or 16-bit PNG, chosen by the extension.

    The file is written under a temporary name in the same folder and renamed when complete,
    so an interrupted write never leaves a file that looks finished.

    Parameters
    ----------
    path : str or path-like
        Destination ending in .tif, .tiff or .png.
    labels : numpy.ndarray
        Unsigned integer (H, W) labels.
    pixel_size : tuple of float, optional
        (y, x) pixel size in micrometres, written to the TIFF resolution tags (in
        pixels per centimetre, the TIFF standard unit).
    metadata : dict, optional
        JSON-serialisable description (version, parameters, seed...) written as the TIFF
        ImageDescription. PNG files keep only the labels.

    Raises
    ------
    ValueError
        For another extension, or ids too large for a 16-bit PNG.
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    if suffix not in LABEL_SUFFIXES:
        raise ValueError(f"cannot write labels to {path!r}: the output must end in {', '.join(LABEL_SUFFIXES)}")
    labels = np.asarray(labels)
    if suffix in PNG_SUFFIXES:
        if labels.max(initial=0) > np.iinfo(np.uint16).max:
            raise ValueError(f"label ids above 65535 do not fit in a PNG; write {path!r} as .tif instead")
        import imageio.v3 as iio

        with atomic_path(path) as partial:
            iio.imwrite(partial, labels.astype(np.uint16), extension=suffix)
        return
    import tifffile

    options: dict[str, Any] = {}
    if pixel_size is not None:
        size_y, size_x = pixel_size
        options.update(resolution=(1e4 / size_x, 1e4 / size_y), resolutionunit="CENTIMETER")
    with atomic_path(path) as partial:
        tifffile.imwrite(
            partial,
            labels,
            photometric="minisblack",
            description=json.dumps(metadata or {}),
            metadata=None,
            software="napari-diffseg",
            compression="zlib",
            **options,
        )


def read_label_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Return the JSON description that :func:`write_labels` stored in a TIFF."""
    import tifffile

    with tifffile.TiffFile(os.fspath(path)) as tif:
        description = tif.pages.first.description
    try:
        return json.loads(description)
    except json.JSONDecodeError:
        raise ValueError(f"{os.fspath(path)!r} has no napari-diffseg description") from None
