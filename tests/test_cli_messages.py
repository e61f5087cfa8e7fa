"""Command-line error messages, verbatim: flags and commands, not the library's parameter names."""

import numpy as np
import pytest
import tifffile
import torch
from conftest import region_truth

from napari_diffseg.cli import main
from napari_diffseg.cli.errors import cli_message

FAST = ["--max-iter", "2", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture
def files(tmp_path):
    tifffile.imwrite(tmp_path / "good.tif", (region_truth(16, 16) * 60).astype(np.uint8))
    tifffile.imwrite(tmp_path / "ambiguous.tif", np.zeros((5, 16, 16), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "stack4d.tif", np.zeros((2, 3, 16, 16), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "tiny.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(tmp_path / "negative.tif", -np.ones((16, 16), np.int16))
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((6, 16, 16), np.uint8))
    (tmp_path / "scribbles.png").write_bytes(b"")
    (tmp_path / "photo.png").write_bytes(b"")
    return tmp_path


SEGMENT = ["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif"]
STACK = ["segment-stack", "{tmp}/stack.tif", "-o", "{tmp}/out.zarr"]

MESSAGES = [
    (["segment", "{tmp}/absent.tif", "-o", "{tmp}/out.tif"], "image file '{tmp}/absent.tif' does not exist"),
    ([*SEGMENT, "--scribbles", "{tmp}/absent.tif"], "--scribbles file '{tmp}/absent.tif' does not exist"),
    (
        ["segment", "{tmp}/ambiguous.tif", "-o", "{tmp}/out.tif"],
        "cannot tell which axis of shape (5, 16, 16) holds channels; pass --channel-axis "
        "(e.g. --channel-axis 0 for (C, H, W)), or use napari-diffseg segment-stack for a (Z, Y, X) stack",
    ),
    (
        ["segment", "{tmp}/stack4d.tif", "-o", "{tmp}/out.tif"],
        "expected a 2D image (H, W) or 3D with channels, got 4D with shape (2, 3, 16, 16); "
        "for stacks use napari-diffseg segment-stack or pick one slice",
    ),
    ([*SEGMENT, "--channel-axis", "0"], "a 2D image has no channel axis; drop --channel-axis (got 0)"),
    (
        ["segment", "{tmp}/ambiguous.tif", "-o", "{tmp}/out.tif", "--channel-axis", "5"],
        "--channel-axis 5 is out of range for a 3D image",
    ),
    ([*SEGMENT, "--max-iter", "0"], "--max-iter must be a positive integer; got 0"),
    ([*SEGMENT, "--min-labels", "0"], "--min-labels must be a positive integer; got 0"),
    ([*SEGMENT, "--channels", "1"], "--channels must be at least 2; got 1"),
    ([*SEGMENT, "--threads", "0"], "--threads must be a positive integer; got 0"),
    ([*SEGMENT, "--preset", "paper", "--readout", "spatial"], "--readout spatial needs --preset fast"),
    ([*STACK, "--preset", "paper", "--readout", "linear"], "--readout linear needs --preset fast"),
    (
        [*SEGMENT, "--scribbles", "{tmp}/tiny.tif"],
        "the --scribbles file has shape (4, 4) but the image's spatial shape is (16, 16); "
        "give --scribbles of the image's height and width",
    ),
    (
        [*SEGMENT, "--scribbles", "{tmp}/negative.tif"],
        "--scribbles must be >= 0 (0 = unlabeled, positive ids are classes)",
    ),
    (["segment", "{tmp}/tiny.tif", "-o", "{tmp}/out.tif"], "image is 4x4 pixels; at least 8x8 is needed"),
    (
        [*STACK, "--scribbles", "{tmp}/scribbles.png"],
        "--scribbles '{tmp}/scribbles.png': segment-stack reads scribble stacks from .zarr, .npy, .tif or .tiff "
        "files; save the scribbles as TIFF (a napari Labels layer: File > Save Selected Layers, .tif)",
    ),
    (
        ["segment-stack", "{tmp}/photo.png", "-o", "{tmp}/out.zarr"],
        "STACK '{tmp}/photo.png' is not a stack file: segment-stack reads .zarr, .npy, .tif or .tiff stacks, "
        "or a folder or quoted glob of 2D images; for one 2D image use napari-diffseg segment",
    ),
    (
        [*STACK, "--mode", "independent", "--save-model", "{tmp}/model.pt"],
        "--model and --save-model belong to --mode shared; drop them or change --mode",
    ),
    ([*STACK, "--train-slices", "1,9"], "--train-slices: slice 9 is out of range; the stack has slices 0..5"),
    ([*STACK, "--axis", "5"], "--axis 5 is out of range for a 3D stack of shape (6, 16, 16)"),
    (
        [*STACK, "--channel-axis", "0"],
        "--channel-axis 0 is also a stack axis; they must differ",
    ),
    (
        ["segment-stack", "{tmp}/stack4d.tif", "-o", "{tmp}/out.zarr"],
        "slices of a stack of shape (2, 3, 16, 16) along axis (0,) are 3D; pass every non-spatial axis in --axis "
        "(comma-separated, e.g. --axis 0,1) and channels as --channel-axis",
    ),
    (["segment-stack", "{tmp}/absent.tif", "-o", "{tmp}/out.zarr"], "stack '{tmp}/absent.tif' does not exist"),
    ([*STACK, "--model", "{tmp}/absent.pt"], "--model file '{tmp}/absent.pt' does not exist"),
    pytest.param(
        [*SEGMENT, "--device", "cuda"],
        "--device cuda was requested but no CUDA GPU is available; use --device auto or --device cpu",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU"),
    ),
]


@pytest.mark.parametrize(("args", "message"), MESSAGES)
def test_a_run_error_is_one_line_in_cli_terms_with_exit_status_1(files, capsys, args, message):
    fill = {"tmp": str(files)}
    command, *rest = (a.format(**fill) for a in args)
    code = main([command, *FAST, *rest])  # the test's own flags come last and win
    err = capsys.readouterr().err
    assert (code, err) == (1, f"napari-diffseg: error: {message.format(**fill)}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "x.tif"], "the following arguments are required: -o/--output"),
        (["segment", "x.tif", "-o", "y.tif", "--max-iter", "many"], "argument --max-iter: invalid int value: 'many'"),
        (
            ["segment-stack", "s.tif", "-o", "y.zarr", "--train-slices", "a,b"],
            "argument --train-slices: comma-separated integers are needed, such as 3,10,20; got 'a,b'",
        ),
        (["demo", "--scribbles", "s.tif"], "unrecognized arguments: --scribbles s.tif"),
        (
            ["segment", "x.tif", "-o", "y.tif", "--readout", "best"],
            "argument --readout: invalid choice: 'best' (choose from 'auto', 'argmax', 'linear', 'context', 'spatial')",
        ),
        (
            ["segment-stack", "s.tif", "-o", "y.zarr", "--readout", "graphcut"],
            "argument --readout: invalid choice: 'graphcut' "
            "(choose from 'auto', 'argmax', 'linear', 'context', 'spatial')",
        ),
        (["demo", "--readout", "spatial"], "unrecognized arguments: --readout spatial"),
    ],
)
def test_a_usage_error_exits_2_with_usage_and_one_message_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("usage: napari-diffseg") and err.endswith(f"error: {message}\n")


@pytest.mark.parametrize(
    ("api", "cli"),
    [
        ("threads must be a positive integer or None; got 0", "--threads must be a positive integer; got 0"),
        (
            "output 'x.zarr' already exists; pass overwrite=True to replace it or choose another path",
            "--output 'x.zarr' already exists; pass --overwrite to replace it or choose another path",
        ),
        (
            "mode='independent' labels slices one after another; use mode='shared' with a client",
            "--mode independent labels slices one after another; use --mode shared with --scheduler",
        ),
        (
            "3 scribble classes but only 2 channels; raise channels or paint fewer classes",
            "3 scribble classes but only 2 channels; raise --channels or paint fewer classes",
        ),
        (
            "training on 4096x4096 pixels needs about 3.0 GiB but only 1.0 GiB is available on cpu; "
            "use preset='fast', fewer channels, or a smaller train_pixels",
            "training on 4096x4096 pixels needs about 3.0 GiB but only 1.0 GiB is available on cpu; "
            "use --preset fast or fewer --channels",
        ),
        (
            "train_slices is empty; pass at least one slice or None",
            "--train-slices is empty; pass at least one slice or drop it",
        ),
        (
            "the model was trained on images with 1 channel(s); this image has 3. Pass the matching channel_axis or "
            "train a new model",
            "the model was trained on images with 1 channel(s); this image has 3. Pass the "
            "matching --channel-axis or train a new model",
        ),
    ],
)
def test_library_messages_become_cli_messages(api, cli):
    assert cli_message(ValueError(api)) == cli


def test_cli_messages_stay_as_they_are():
    message = "--output 'x' already exists; pass --overwrite to replace it or choose another path"
    assert cli_message(ValueError(message)) == message
    assert cli_message(FileNotFoundError(2, "No such file or directory", "a/b.tif")) == (
        "'a/b.tif': No such file or directory"
    )


def test_the_library_keeps_its_own_messages(tmp_path):
    from napari_diffseg import segment

    with pytest.raises(ValueError, match=r"^max_iter must be a positive integer; got 0$"):
        segment(np.zeros((16, 16)), max_iter=0)
    with pytest.raises(ValueError, match=r"pass channel_axis \(e\.g\. channel_axis=0 for \(C, H, W\)\)"):
        segment(np.zeros((5, 16, 16)))
