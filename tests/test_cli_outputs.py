"""The one output rule of every subcommand: the folder must exist; an existing output needs --overwrite."""

import numpy as np
import pytest
import tifffile
from conftest import region_truth

from napari_diffseg.cli import main

FAST = ["--max-iter", "2", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture
def tmp(tmp_path):
    tifffile.imwrite(tmp_path / "good.tif", (region_truth(16, 16) * 60).astype(np.uint8))
    tifffile.imwrite(tmp_path / "stack.tif", (np.stack([region_truth(16, 16)] * 3) * 60).astype(np.uint8))
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "a.tif", (region_truth(16, 16) * 60).astype(np.uint8))
    return tmp_path


def run(tmp, args):
    command, *rest = (a.format(tmp=tmp) for a in args)
    return main([command, *FAST, *rest])


SEGMENT = ["segment", "{tmp}/good.tif"]
STACK = ["segment-stack", "{tmp}/stack.tif"]
FOLDER = ["segment-stack", "{tmp}/images"]

MISSING_FOLDER = [
    ([*SEGMENT, "-o", "{tmp}/nowhere/out.tif"], "--output", "{tmp}/nowhere/out.tif"),
    ([*SEGMENT, "-o", "{tmp}/nowhere/out.png"], "--output", "{tmp}/nowhere/out.png"),
    ([*SEGMENT, "-o", "{tmp}/out.tif", "--overlay", "{tmp}/nowhere/o.png"], "--overlay", "{tmp}/nowhere/o.png"),
    ([*STACK, "-o", "{tmp}/nowhere/out.zarr"], "--output", "{tmp}/nowhere/out.zarr"),
    ([*STACK, "-o", "{tmp}/nowhere/out.tif"], "--output", "{tmp}/nowhere/out.tif"),
    ([*FOLDER, "-o", "{tmp}/nowhere/labels"], "--output", "{tmp}/nowhere/labels"),
    ([*STACK, "-o", "{tmp}/out.zarr", "--save-model", "{tmp}/nowhere/m.pt"], "--save-model", "{tmp}/nowhere/m.pt"),
    (["demo", "-o", "{tmp}/nowhere/demo"], "--output-dir", "{tmp}/nowhere/demo"),
]


@pytest.mark.parametrize(("args", "flag", "path"), MISSING_FOLDER)
def test_an_output_in_a_missing_folder_is_refused_naming_the_folder(tmp, capsys, args, flag, path):
    assert run(tmp, args) == 1
    path = path.format(tmp=tmp)
    assert capsys.readouterr().err == (
        f"napari-diffseg: error: cannot write {flag} {path!r}: the folder '{tmp}/nowhere' does not exist; "
        "create it first or choose another path\n"
    )
    assert not (tmp / "nowhere").exists()


EXISTING = [
    ([*SEGMENT, "-o", "{tmp}/out.tif"], "{tmp}/out.tif", "--output {path!r} already exists"),
    ([*SEGMENT, "-o", "{tmp}/out.png"], "{tmp}/out.png", "--output {path!r} already exists"),
    ([*SEGMENT, "-o", "{tmp}/new.tif", "--overlay", "{tmp}/o.png"], "{tmp}/o.png", "--overlay {path!r} already exists"),
    ([*STACK, "-o", "{tmp}/out.tif"], "{tmp}/out.tif", "--output {path!r} already exists"),
    ([*STACK, "-o", "{tmp}/out.zarr"], "{tmp}/out.zarr", "--output {path!r} already exists"),
    (
        [*STACK, "-o", "{tmp}/new.zarr", "--save-model", "{tmp}/m.pt"],
        "{tmp}/m.pt",
        "--save-model {path!r} already exists",
    ),
    (
        [*FOLDER, "-o", "{tmp}/labels"],
        "{tmp}/labels/a.tif",
        "--output '{tmp}/labels' already holds 'a.tif'",
    ),
    (["demo", "-o", "{tmp}/demo"], "{tmp}/demo/demo-overlay.png", "--output-dir '{tmp}/demo' already holds"),
]


@pytest.mark.parametrize(("args", "existing", "message"), EXISTING)
def test_an_existing_output_is_refused_without_overwrite(tmp, capsys, args, existing, message):
    existing = tmp / existing.format(tmp=tmp).removeprefix(f"{tmp}/")
    existing.parent.mkdir(exist_ok=True)
    existing.mkdir() if existing.suffix == ".zarr" else existing.write_bytes(b"keep me")
    assert run(tmp, args) == 1
    err = capsys.readouterr().err
    expected = message.format(tmp=tmp, path=str(existing))
    assert err.startswith(f"napari-diffseg: error: {expected}") and err.count("\n") == 1
    assert "pass --overwrite to replace" in err
    assert existing.is_dir() or existing.read_bytes() == b"keep me"


def test_overwrite_replaces_the_outputs_of_every_subcommand(tmp):
    for output in ("out.tif", "o.png", "stack.zarr", "m.pt"):
        (tmp / output).write_bytes(b"old")
    (tmp / "labels").mkdir()
    (tmp / "labels" / "a.tif").write_bytes(b"old")
    assert run(tmp, [*SEGMENT, "-o", "{tmp}/out.tif", "--overlay", "{tmp}/o.png", "--overwrite"]) == 0
    assert run(tmp, [*STACK, "-o", "{tmp}/stack.zarr", "--save-model", "{tmp}/m.pt", "--overwrite"]) == 0
    assert run(tmp, [*FOLDER, "-o", "{tmp}/labels", "--overwrite"]) == 0
    for output in ("out.tif", "o.png", "m.pt", "labels/a.tif"):
        assert (tmp / output).read_bytes() != b"old", output
    assert (tmp / "stack.zarr").is_dir()


def test_a_folder_output_is_created_inside_an_existing_folder(tmp, capsys):
    assert run(tmp, [*FOLDER, "-o", "{tmp}/new-labels"]) == 0
    assert tifffile.imread(tmp / "new-labels" / "a.tif").shape == (16, 16)
    assert run(tmp, ["demo", "-o", "{tmp}/demo-output", "--max-iter", "1"]) == 0
    assert sorted(p.name for p in (tmp / "demo-output").iterdir()) == ["demo-labels.tif", "demo-overlay.png"]
    assert run(tmp, ["demo", "-o", "{tmp}/demo-output"]) == 1
    assert capsys.readouterr().err == (
        f"napari-diffseg: error: --output-dir '{tmp}/demo-output' already holds 'demo-labels.tif' (and 1 more of "
        "the outputs); pass --overwrite to replace them or choose another folder\n"
    )


def test_an_output_with_a_wrong_ending_is_refused(tmp, capsys):
    assert run(tmp, [*SEGMENT, "-o", "{tmp}/out.jpg"]) == 1
    assert capsys.readouterr().err == (
        f"napari-diffseg: error: --output '{tmp}/out.jpg' must end in .tif, .tiff or .png\n"
    )
    assert run(tmp, [*SEGMENT, "-o", "{tmp}/out.tif", "--overlay", "{tmp}/o.tif"]) == 1
    assert capsys.readouterr().err == f"napari-diffseg: error: --overlay '{tmp}/o.tif' must end in .png\n"
