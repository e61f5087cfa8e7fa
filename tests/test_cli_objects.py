"""``napari-diffseg objects`` and the --objects/--table outputs of segment and segment-stack, end to end."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import three_discs as discs

from napari_diffseg.cli import main

FAST = ["--max-iter", "3", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture
def labels_tif(tmp_path):
    path = tmp_path / "classes.tif"
    tifffile.imwrite(path, discs(), resolution=(1 / 0.5, 1 / 0.5), resolutionunit="CENTIMETER")
    return path


def test_objects_splits_touching_discs_and_writes_a_table_in_micrometres(tmp_path, labels_tif, capsys):
    path = tmp_path / "classes_um.tif"
    tifffile.imwrite(path, discs(), imagej=True, resolution=(1 / 0.5, 1 / 0.5), metadata={"unit": "micron"})
    out, table = tmp_path / "objects.tif", tmp_path / "objects.csv"
    assert main(["objects", str(path), "-o", str(out), "--table", str(table)]) == 0
    objects = tifffile.imread(out)
    assert objects.dtype == np.uint32 and objects.max() == 3
    rows = pd.read_csv(table)
    assert len(rows) == 3 and list(rows["label"]) == [1, 2, 3]
    assert (rows["class"] == 1).all()
    disc_area = np.pi * 10**2 * 0.5**2  # 0.5 um pixels
    assert rows["area_um2"].iloc[2] == pytest.approx(disc_area, rel=0.1)
    assert "wrote 3 objects" in capsys.readouterr().out


def test_no_split_min_size_and_radius(tmp_path):
    labels = discs()
    labels[60:62, 2:4] = 1  # a 4-pixel speck
    tifffile.imwrite(tmp_path / "c.tif", labels)
    assert (
        main(["objects", str(tmp_path / "c.tif"), "-o", str(tmp_path / "a.tif"), "--no-split", "--min-size", "0"]) == 0
    )
    assert tifffile.imread(tmp_path / "a.tif").max() == 3  # two touching discs as one, the disc, the speck
    assert main(["objects", str(tmp_path / "c.tif"), "-o", str(tmp_path / "b.tif"), "--min-size", "10"]) == 0
    assert tifffile.imread(tmp_path / "b.tif").max() == 3  # split, speck dropped
    radius = ["--radius", "40", "--min-size", "0"]  # seeds at least 18 px apart: the pair's centres are 17 apart
    assert main(["objects", str(tmp_path / "c.tif"), "-o", str(tmp_path / "r.tif"), *radius]) == 0
    assert tifffile.imread(tmp_path / "r.tif").max() == 3  # the pair as one, the disc, the speck


def test_image_adds_intensities_and_classes_choose(tmp_path):
    labels = discs() * 2
    labels[50:60, 5:15] = 3
    image = (labels * 40 + 10).astype(np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", labels)
    tifffile.imwrite(tmp_path / "i.tif", image)
    args = ["objects", str(tmp_path / "c.tif"), "--image", str(tmp_path / "i.tif"), "--classes", "3"]
    assert main([*args, "-o", str(tmp_path / "o.tif"), "--table", str(tmp_path / "t.csv")]) == 0
    rows = pd.read_csv(tmp_path / "t.csv")
    assert len(rows) == 1 and rows["class"].iloc[0] == 3 and rows["intensity_mean"].iloc[0] == pytest.approx(130)
    assert "area_px2" in rows


def test_a_stack_gives_per_slice_or_3d_objects(tmp_path):
    stack = np.stack([discs()] * 12)
    np.save(tmp_path / "stack.npy", stack)
    assert (
        main(
            [
                "objects",
                str(tmp_path / "stack.npy"),
                "-o",
                str(tmp_path / "flat.tif"),
                "--table",
                str(tmp_path / "f.csv"),
            ]
        )
        == 0
    )
    assert tifffile.imread(tmp_path / "flat.tif").max() == 36
    assert list(pd.read_csv(tmp_path / "f.csv")["slice"]) == [i for i in range(12) for _ in range(3)]
    threaded = tmp_path / "threaded.tif"
    assert main(["objects", str(tmp_path / "stack.npy"), "-o", str(threaded), "--threads", "2"]) == 0
    assert np.array_equal(tifffile.imread(threaded), tifffile.imread(tmp_path / "flat.tif"))
    assert main(["objects", str(tmp_path / "stack.npy"), "-o", str(tmp_path / "3d.tif"), "--3d"]) == 0
    assert tifffile.imread(tmp_path / "3d.tif").max() == 3


def test_errors_are_in_flag_terms(tmp_path, labels_tif, capsys):
    out = str(tmp_path / "o.tif")
    assert main(["objects", str(labels_tif), "-o", out, "--classes", "7"]) == 1
    assert "error: --classes [7]: no pixel of labels has id 7" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", out, "--min-size", "-1"]) == 1
    assert "error: --min-size -1.0 must be >= 0" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", out, "--radius", "0"]) == 1
    assert "error: --radius 0.0 must be > 0 (or drop it to measure it)" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", out, "--threads", "0"]) == 1
    assert "error: --threads 0 must be an integer >= 1, or drop it" in capsys.readouterr().err
    many = np.arange(3, dtype=np.uint8).repeat(30).reshape(9, 10) + 1
    tifffile.imwrite(tmp_path / "many.tif", many)
    assert main(["objects", str(tmp_path / "many.tif"), "-o", out]) == 1
    assert "pass --classes with the ids" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", str(tmp_path / "nowhere" / "o.tif")]) == 1
    assert "the folder" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", out]) == 0
    assert main(["objects", str(labels_tif), "-o", out]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["objects", str(labels_tif), "-o", out, "--overwrite"]) == 0


def scribbles():
    """Strokes: 1 in the three discs, 2 in the background."""
    strokes = np.zeros((64, 96), np.uint8)
    strokes[19:22, 15:25] = strokes[19:22, 33:41] = strokes[43:46, 65:75] = 1
    strokes[2:4, 5:90] = strokes[58:61, 5:50] = 2
    return strokes


def test_segment_writes_objects_and_table(tmp_path):
    image = (discs() * 180 + 20).astype(np.uint8)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    tifffile.imwrite(tmp_path / "strokes.tif", scribbles())
    args = ["segment", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "l.tif"), *FAST, "--max-iter", "30"]
    args += ["--scribbles", str(tmp_path / "strokes.tif"), "--classes", "1"]
    assert main([*args, "--objects", str(tmp_path / "obj.tif"), "--table", str(tmp_path / "t.csv")]) == 0
    labels, objects = tifffile.imread(tmp_path / "l.tif"), tifffile.imread(tmp_path / "obj.tif")
    assert objects.max() == len(pd.read_csv(tmp_path / "t.csv")) == 3
    assert objects.shape == labels.shape and 0 in objects


def test_segment_stack_writes_objects_of_the_label_stack(tmp_path):
    stack = (np.stack([discs()] * 3) * 180 + 20).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    tifffile.imwrite(tmp_path / "strokes.tif", np.stack([scribbles()] * 3))
    args = ["segment-stack", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "l.zarr"), *FAST, "--max-iter", "30"]
    args += ["--scribbles", str(tmp_path / "strokes.tif"), "--classes", "1"]
    assert main([*args, "--objects", str(tmp_path / "obj.tif"), "--table", str(tmp_path / "t.csv")]) == 0
    objects = tifffile.imread(tmp_path / "obj.tif")
    assert objects.shape == stack.shape and objects.max() == len(pd.read_csv(tmp_path / "t.csv")) == 9
