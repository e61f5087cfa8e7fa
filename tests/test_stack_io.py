"""Stack inputs and outputs: same labels from every input kind, slice-by-slice outputs, resume."""

import os

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from stack_synthetic import QUICK, moving_objects

from napari_diffseg import segment_stack
from napari_diffseg.stack.io import PROGRESS_KEY, open_stack


@pytest.fixture(scope="module")
def stack():
    return moving_objects(n_slices=6)[0]


@pytest.fixture(scope="module")
def reference(stack):
    return segment_stack(stack, **QUICK)


def _zarr_array(path, data):
    array = zarr.open_array(str(path), mode="w", shape=data.shape, chunks=(1, *data.shape[1:]), dtype=data.dtype)
    array[:] = data
    return array


def test_numpy_dask_zarr_and_tiff_inputs_give_identical_labels(tmp_path, stack, reference):
    tifffile.imwrite(tmp_path / "plain.tif", stack)
    tifffile.imwrite(tmp_path / "zlib.tif", stack, compression="zlib")  # not memory-mappable: read by page
    np.save(tmp_path / "stack.npy", stack)
    inputs = {
        "dask": da.from_array(stack, chunks=(1, 48, 48)),
        "zarr array": _zarr_array(tmp_path / "in.zarr", stack),
        "zarr path": tmp_path / "in.zarr",
        "tiff memmap": tmp_path / "plain.tif",
        "compressed tiff": tmp_path / "zlib.tif",
        "npy": tmp_path / "stack.npy",
    }
    for name, source in inputs.items():
        assert np.array_equal(segment_stack(source, **QUICK), reference), name


def test_open_stack_reads_nothing_until_indexed(tmp_path, stack):
    tifffile.imwrite(tmp_path / "plain.tif", stack)
    assert isinstance(open_stack(tmp_path / "plain.tif"), np.memmap)
    tifffile.imwrite(tmp_path / "zlib.tif", stack, compression="zlib")
    assert isinstance(open_stack(tmp_path / "zlib.tif"), zarr.Array)
    with pytest.raises(FileNotFoundError):
        open_stack(tmp_path / "missing.tif")
    (tmp_path / "image.png").write_bytes(b"")
    with pytest.raises(ValueError, match="lazily"):
        open_stack(tmp_path / "image.png")
    zarr.open_group(str(tmp_path / "group.zarr"), mode="w")
    with pytest.raises(ValueError, match="zarr group"):
        open_stack(tmp_path / "group.zarr")


def test_zarr_and_tiff_outputs_are_written_per_slice(tmp_path, stack, reference):
    written = segment_stack(stack, out=tmp_path / "labels.zarr", **QUICK)
    assert written.chunks == (1, 48, 48)
    assert np.array_equal(zarr.open_array(str(tmp_path / "labels.zarr"), mode="r")[:], reference)
    segment_stack(stack, out=tmp_path / "labels.tif", **QUICK)
    assert np.array_equal(tifffile.imread(tmp_path / "labels.tif"), reference)
    into = np.zeros(reference.shape, np.uint32)
    assert segment_stack(stack, out=into, **QUICK) is into and np.array_equal(into, reference)


def test_an_interrupted_run_resumes_without_redoing_finished_slices(tmp_path, stack, reference):
    out = tmp_path / "labels.zarr"
    segment_stack(stack, out=out, callback=lambda p: p.phase != "label" or p.done < 2, **QUICK)
    assert zarr.open_array(str(out), mode="r").attrs[PROGRESS_KEY]["done"] == [0, 1]
    labelled = []

    def record(progress):
        if progress.phase == "label":
            labelled.append(progress.index)

    resumed = segment_stack(stack, out=out, callback=record, **QUICK)
    assert labelled == [(z,) for z in range(2, len(stack))]
    assert np.array_equal(resumed[:], reference)


def test_an_interrupted_independent_run_resumes_and_carries_its_ids_on(tmp_path, stack):
    out = tmp_path / "labels.zarr"
    whole = segment_stack(stack, mode="independent", **QUICK)
    segment_stack(stack, out=out, mode="independent", callback=lambda p: p.phase != "label" or p.done < 3, **QUICK)
    labelled = []
    resumed = segment_stack(
        stack,
        out=out,
        mode="independent",
        callback=lambda p: labelled.append(p.index) if p.phase == "label" else None,
        **QUICK,
    )
    assert labelled == [(z,) for z in range(3, len(stack))]
    assert np.array_equal(resumed[:3], whole[:3]), "finished slices are kept"
    carried = np.mean(resumed[3] == resumed[2])
    print(f"independent resume: slice 3 agrees with slice 2 on {carried:.3f} of pixels")
    assert carried >= 0.9, "the first resumed slice is matched to the last finished one"


def test_resuming_needs_the_same_run(tmp_path, stack):
    out = tmp_path / "labels.zarr"
    segment_stack(stack, out=out, callback=lambda p: p.phase != "label" or p.done < 2, **QUICK)
    with pytest.raises(ValueError, match="already exists"):
        segment_stack(stack, out=out, **{**QUICK, "max_iter": 21})


@pytest.mark.parametrize("name", ["labels.zarr", "labels.tif"])
def test_an_existing_output_is_refused_unless_overwrite(tmp_path, stack, reference, name):
    out = tmp_path / name
    segment_stack(stack, out=out, **QUICK)
    with pytest.raises(ValueError, match="already exists"):
        segment_stack(stack, out=out, **QUICK)
    segment_stack(stack, out=out, overwrite=True, **QUICK)
    (tmp_path / "other.tif").write_bytes(b"not ours")
    with pytest.raises(ValueError, match="already exists"):
        segment_stack(stack, out=tmp_path / "other.tif", **QUICK)


def test_read_only_and_mismatched_outputs_are_refused(tmp_path, stack):
    _zarr_array(tmp_path / "ro.zarr", np.zeros(stack.shape, np.uint16))
    with pytest.raises(ValueError, match="read-only"):
        segment_stack(stack, out=zarr.open_array(str(tmp_path / "ro.zarr"), mode="r"), **QUICK)
    frozen = np.zeros(stack.shape, np.uint16)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        segment_stack(stack, out=frozen, **QUICK)
    with pytest.raises(ValueError, match="has shape"):
        segment_stack(stack, out=np.zeros((2, 48, 48), np.uint16), **QUICK)
    with pytest.raises(ValueError, match="must end in"):
        segment_stack(stack, out=tmp_path / "labels.png", **QUICK)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_is_refused(tmp_path, stack):
    folder = tmp_path / "locked"
    folder.mkdir()
    segment_stack(stack, out=folder / "old.zarr", **QUICK)
    segment_stack(stack, out=folder / "part.zarr", callback=lambda p: p.phase != "label" or p.done < 1, **QUICK)
    folder.chmod(0o555)
    (folder / "part.zarr").chmod(0o555)
    try:
        for name, overwrite in (("new.zarr", False), ("new.tif", False), ("old.zarr", True), ("part.zarr", False)):
            with pytest.raises(ValueError, match=r"cannot write|cannot resume"):
                segment_stack(stack, out=folder / name, overwrite=overwrite, **QUICK)
    finally:
        (folder / "part.zarr").chmod(0o755)
        folder.chmod(0o755)
