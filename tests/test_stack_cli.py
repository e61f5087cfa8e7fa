"""``napari-diffseg segment-stack`` end to end, on files in tmp_path."""

import numpy as np
import pytest
import tifffile
import zarr
from stack_synthetic import QUICK, moving_objects

from napari_diffseg import Segmenter, segment_stack
from napari_diffseg.cli import main

FLAGS = ["--max-iter", "20", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def moving():
    return moving_objects(n_slices=6)


@pytest.fixture
def stack_tif(tmp_path, moving):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, moving[0])
    return path


def test_stack_file_to_zarr_with_a_progress_bar(tmp_path, stack_tif, moving, capsys):
    out = tmp_path / "labels.zarr"
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "--axis", "0", "--progress", *FLAGS]) == 0
    captured = capsys.readouterr()
    assert "slices 6/6" in captured.err and "wrote 6/6 slices" in captured.out
    assert np.array_equal(zarr.open_array(str(out), mode="r")[:], segment_stack(moving[0], **QUICK))


def test_existing_output_needs_overwrite_and_train_slices_are_checked(tmp_path, stack_tif, capsys):
    out = tmp_path / "labels.tif"
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "-q", *FLAGS]) == 0
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "-q", *FLAGS]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "-q", "--overwrite", *FLAGS]) == 0
    assert (
        main(["segment-stack", str(stack_tif), "-o", str(out), "-q", "--overwrite", "--train-slices", "1,9", *FLAGS])
        == 1
    )
    assert "out of range" in capsys.readouterr().err
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "-q", "--overwrite", "--axis", "5", *FLAGS]) == 1


def test_scribbles_train_slices_and_a_saved_model(tmp_path, stack_tif, moving):
    stack, truth = moving
    scribbles = tmp_path / "scribbles.tif"
    tifffile.imwrite(scribbles, (truth + 1).astype(np.uint8) * (np.arange(6)[:, None, None] == 0))
    out = tmp_path / "painted.zarr"
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "--scribbles", str(scribbles), "-q", *FLAGS]) == 0
    assert set(np.unique(zarr.open_array(str(out), mode="r")[:])) <= {1, 2, 3}

    model = Segmenter(seed=0, device="cpu", max_iter=20, threads=1).fit(list(stack[:2]))
    model.save(tmp_path / "model.pt")
    out = tmp_path / "reused.tif"
    assert main(["segment-stack", str(stack_tif), "-o", str(out), "--model", str(tmp_path / "model.pt"), "-q"]) == 0
    expected = segment_stack(stack, model=Segmenter.load(tmp_path / "model.pt", device="cpu"))
    assert np.array_equal(tifffile.imread(out), expected)


def test_save_model_then_model_gives_the_same_labels_without_training(tmp_path, stack_tif, capsys):
    trained, saved = tmp_path / "trained.tif", tmp_path / "model.pt"
    assert main(["segment-stack", str(stack_tif), "-o", str(trained), "--save-model", str(saved), "-q", *FLAGS]) == 0
    reused = tmp_path / "reused.tif"
    assert main(["segment-stack", str(stack_tif), "-o", str(reused), "--model", str(saved)]) == 0
    assert "training" not in capsys.readouterr().err
    assert np.array_equal(tifffile.imread(reused), tifffile.imread(trained))
    kept = tmp_path / "kept.tif"
    assert main(["segment-stack", str(stack_tif), "-o", str(kept), "--model", str(saved), "--keep-fragments"]) == 0
    assert len(np.unique(tifffile.imread(kept))) > len(np.unique(tifffile.imread(trained)))
    new_model = str(tmp_path / "m.pt")
    args = ["-o", str(tmp_path / "x.tif"), "--mode", "independent", "--save-model", new_model, "-q", *FLAGS]
    assert main(["segment-stack", str(stack_tif), *args]) == 1
    assert "--mode shared" in capsys.readouterr().err


def test_a_folder_of_2d_images_of_different_sizes_gets_one_model(tmp_path, moving):
    stack, truth = moving
    folder = tmp_path / "images"
    folder.mkdir()
    crops = [(slice(None), slice(None)), (slice(0, 44), slice(None)), (slice(None), slice(2, 48))]
    for z in range(3):
        image = (stack[2 * z][crops[z]] * 1000).clip(0, 65535).astype(np.uint16)
        tifffile.imwrite(folder / f"cells{z}.tif", image)
    out = tmp_path / "labels"
    assert main(["segment-stack", str(folder), "-o", str(out), "-q", "--device", "cpu", "--threads", "1"]) == 0
    labels = [tifffile.imread(out / f"cells{z}.tif") for z in range(3)]
    assert [lab.shape for lab in labels] == [truth[2 * z][crops[z]].shape for z in range(3)]
    majority = [
        {o: np.bincount(lab[truth[2 * z][crops[z]] == o]).argmax() for o in (0, 1, 2)} for z, lab in enumerate(labels)
    ]
    print(f"folder: object -> id per image {majority}")
    assert majority[0] == majority[1] == majority[2], "one model gives each object one id in every image"
    assert len(set(majority[0].values())) == 3
    assert main(["segment-stack", str(tmp_path / "images" / "cells*.tif"), "-o", str(out), "-q", *FLAGS]) == 1
