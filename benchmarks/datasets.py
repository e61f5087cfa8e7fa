"""Loaders for the benchmark data sets and deterministic scribbles.

The data folder (layout in docs/benchmarks.md) is the environment variable
``NAPARI_DIFFSEG_DATA``, or else ``shared/data`` beside the project folder. Every loader
returns an empty list when the folder is absent, so that benchmarks and their tests skip
cleanly on a machine without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "NAPARI_DIFFSEG_DATA"
DATA_ROOT = Path(os.environ.get(DATA_ENV) or Path(__file__).resolve().parents[1].parent / "shared" / "data")
MISSING_DATA = (
    "benchmark-data test: needs the optional benchmark data set "
    f"(docs/benchmarks.md says how to obtain it; point {DATA_ENV} at its folder)"
)

# BSDS: the 50 dev images sorted by file name; the first 15 are used for tuning the fast
# preset, the other 35 are held out. The paper preset runs on the first 3 held-out images.
N_TUNE = 15
PAPER_SUBSET = ("25098", "26031", "27059")


@dataclass(frozen=True)
class BsdsImage:
    """One BSDS500 image and every human segmentation of it."""

    name: str
    image: np.ndarray
    truths: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class ScribbleImage:
    """One image with scribbles and its dense ground truth.

    Attributes
    ----------
    truth : numpy.ndarray
        Class map (VOC: class index, 255 = void) or instance mask (nuclei: 0 = background).
    scribbles : numpy.ndarray
        napari-style scribbles (0 = unlabeled).
    """

    name: str
    image: np.ndarray
    truth: np.ndarray
    scribbles: np.ndarray


def data_available(root: Path = DATA_ROOT) -> bool:
    """Whether the shared development data is present."""
    return (root / "bsds500_train" / "images").is_dir()


def bsds_names(root: Path = DATA_ROOT) -> list[str]:
    """Ids of the BSDS dev images, sorted by file name (empty when absent)."""
    folder = root / "bsds500_train" / "images"
    return sorted(p.stem for p in folder.glob("*.jpg")) if folder.is_dir() else []


def bsds_split(root: Path = DATA_ROOT) -> tuple[list[str], list[str]]:
    """(tuning ids, held-out ids)."""
    names = bsds_names(root)
    return names[:N_TUNE], names[N_TUNE:]


def load_bsds(names: list[str] | tuple[str, ...], root: Path = DATA_ROOT) -> list[BsdsImage]:
    """Load BSDS images with all their annotations."""
    from scipy.io import loadmat
    from skimage.io import imread

    out = []
    for name in names:
        image = imread(root / "bsds500_train" / "images" / f"{name}.jpg")
        cells = loadmat(root / "bsds500_train" / "groundTruth" / f"{name}.mat")["groundTruth"][0]
        truths = tuple(np.asarray(cell["Segmentation"][0, 0]) for cell in cells)
        out.append(BsdsImage(name, image, truths))
    return out


def voc_names(root: Path = DATA_ROOT) -> list[str]:
    """Ids of the VOC scribble images (empty when absent)."""
    folder = root / "voc2012_scribbles" / "images"
    return sorted(p.stem for p in folder.glob("*.jpg")) if folder.is_dir() else []


def load_voc_scribbles(root: Path = DATA_ROOT) -> list[ScribbleImage]:
    """The paper's six VOC images with its own scribbles (mapped to napari ids)."""
    from skimage.io import imread

    from napari_diffseg.preprocess import reference_scribbles

    folder = root / "voc2012_scribbles"
    out = []
    for name in voc_names(root):
        image = imread(folder / "images" / f"{name}.jpg")
        truth = _read_palette_png(folder / "SegmentationClassAug" / f"{name}.png")
        reference = imread(folder / "scribbles" / f"{name}_scribble.png")
        out.append(ScribbleImage(name, image, truth, reference_scribbles(reference)))
    return out


def _read_palette_png(path: Path) -> np.ndarray:
    """Palette indices of a PNG (not the RGB colours)."""
    from PIL import Image

    with Image.open(path) as png:
        return np.asarray(png)


def load_voc_foreground(root: Path = DATA_ROOT) -> list[ScribbleImage]:
    """VOC images with generated foreground (1) / background (2) strokes.

    ``truth`` is 1 for object pixels, 0 for background, 255 for void.
    """
    out = []
    for index, item in enumerate(load_voc_scribbles(root)):
        truth = np.where(item.truth == 255, 255, (item.truth > 0).astype(np.uint8)).astype(np.uint8)
        scribbles = stroke_scribbles(truth == 1, truth == 0, n_strokes=3, length=40, seed=index)
        out.append(ScribbleImage(item.name, item.image, truth, scribbles))
    return out


def load_nuclei(root: Path = DATA_ROOT) -> list[ScribbleImage]:
    """The nuclei image with generated foreground (1) / background (2) strokes."""
    import tifffile

    folder = root / "nuclei2d"
    if not folder.is_dir():
        return []
    image = tifffile.imread(folder / "img2d.tif")
    mask = tifffile.imread(folder / "mask2d.tif")
    scribbles = nuclei_scribbles(mask, n_nuclei=8, n_background=6, seed=0)
    return [ScribbleImage("nuclei2d", image, mask, scribbles)]


def stroke_scribbles(
    foreground: np.ndarray, background: np.ndarray, *, n_strokes: int, length: int, seed: int
) -> np.ndarray:
    """Short straight strokes: ``n_strokes`` inside ``foreground`` (id 1) and in ``background`` (id 2).

    Each stroke starts at a random pixel deep inside its region (distance transform above
    a third of its maximum) and runs horizontally, clipped to the region, so strokes never
    cross a boundary. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    scribbles = np.zeros(foreground.shape, dtype=np.uint8)
    for region, value in ((foreground, 1), (background, 2)):
        for _ in range(n_strokes):
            draw_stroke(scribbles, region, value, length, rng)
    return scribbles


def nuclei_scribbles(mask: np.ndarray, *, n_nuclei: int, n_background: int, seed: int) -> np.ndarray:
    """Short strokes inside ``n_nuclei`` random nuclei (id 1) and in the background (id 2)."""
    rng = np.random.default_rng(seed)
    scribbles = np.zeros(mask.shape, dtype=np.uint8)
    ids = np.unique(mask)
    ids = ids[ids > 0]
    for nucleus in rng.choice(ids, size=min(n_nuclei, ids.size), replace=False):
        draw_stroke(scribbles, mask == nucleus, 1, 8, rng)
    for _ in range(n_background):
        draw_stroke(scribbles, mask == 0, 2, 20, rng)
    return scribbles


def draw_stroke(scribbles: np.ndarray, region: np.ndarray, value: int, length: int, rng: np.random.Generator) -> None:
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(region)
    if depth.max() == 0:
        return
    rows, cols = np.nonzero(depth >= max(1.0, depth.max() / 3))
    pick = rng.integers(rows.size)
    row, col = rows[pick], cols[pick]
    start = max(0, col - length // 2)
    stop = min(region.shape[1], col + length // 2 + 1)
    segment = np.arange(start, stop)
    segment = segment[region[row, segment]]
    scribbles[row, segment] = value
