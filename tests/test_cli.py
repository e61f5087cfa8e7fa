"""The command line end to end, on files in tmp_path."""

import pathlib
import re
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch
from conftest import piecewise_rgb, region_truth

from napari_diffseg import __version__
from napari_diffseg.cli import main
from napari_diffseg.io import read_image, read_label_metadata

QUICK = ["--max-iter", "5", "--quiet"]


@pytest.fixture
def rgb_png(tmp_path):
    path = tmp_path / "photo.png"
    iio.imwrite(path, piecewise_rgb(region_truth(32, 40), noise=5.0))
    return path


@pytest.fixture
def gray_tiff(tmp_path):
    path = tmp_path / "cells.tif"
    image = (region_truth(32, 40) * 900 + 100).astype(np.uint16)
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / 0.65, 1 / 0.65), metadata={"unit": "micron"})
    return path


def test_segment_tiff_to_tiff_keeps_pixel_size_and_records_the_run(tmp_path, gray_tiff, capsys):
    out = tmp_path / "labels.tif"
    args = ["segment", str(gray_tiff), "-o", str(out), "--max-iter", "5", "--seed", "3", "--channels", "16"]
    assert main([*args, "--progress"]) == 0  # --progress: stderr is captured, not a terminal
    loaded = read_image(out)
    assert loaded.data.shape == (32, 40) and loaded.data.min() >= 1
    assert loaded.pixel_size == pytest.approx((0.65, 0.65))
    meta = read_label_metadata(out)
    assert meta["version"] == __version__ and meta["seed"] == 3 and meta["preset"] == "fast"
    assert meta["params"]["max_iter"] == 5 and meta["params"]["channels"] == 16
    err = capsys.readouterr().err
    assert "5/5" in err and "labels" in err  # the progress bar


def test_segment_png_to_png(tmp_path, rgb_png):
    out = tmp_path / "labels.png"
    assert main(["segment", str(rgb_png), "-o", str(out), *QUICK]) == 0
    labels = iio.imread(out)
    assert labels.shape == (32, 40) and labels.dtype == np.uint16 and labels.min() >= 1


def test_segment_with_napari_scribbles_keeps_their_ids(tmp_path, rgb_png):
    scribbles = np.zeros((32, 40), np.uint8)
    scribbles[5:25, 4], scribbles[5:15, 34] = 2, 7
    tifffile.imwrite(tmp_path / "scribbles.tif", scribbles)
    out = tmp_path / "labels.tif"
    assert main(["segment", str(rgb_png), "-o", str(out), "--scribbles", str(tmp_path / "scribbles.tif"), *QUICK]) == 0
    labels = read_image(out).data
    assert set(np.unique(labels)) <= {2, 7} and labels[10, 4] == 2
    assert read_label_metadata(out)["scribbles"] == "scribbles.tif"


def test_segment_with_reference_scribbles(tmp_path, rgb_png):
    reference = np.full((32, 40), 255, np.uint8)
    reference[5:25, 4], reference[5:15, 34] = 0, 1
    iio.imwrite(tmp_path / "photo_scribble.png", reference)
    out = tmp_path / "labels.tif"
    args = ["segment", str(rgb_png), "-o", str(out), "--scribbles", str(tmp_path / "photo_scribble.png")]
    assert main([*args, "--scribble-format", "reference", "--preset", "paper", *QUICK]) == 0
    labels = read_image(out).data
    assert set(np.unique(labels)) <= {1, 2} and labels[10, 4] == 1 and labels[10, 34] == 2
    assert read_label_metadata(out)["preset"] == "paper"


def test_segment_multichannel_with_channel_axis_and_an_overlay(tmp_path):
    path = tmp_path / "channels.tif"
    truth = region_truth(24, 24)
    tifffile.imwrite(path, np.stack([truth * 50, 200 - truth * 50]).astype(np.uint8))
    out, overlay = tmp_path / "labels.tif", tmp_path / "overlay.png"
    assert main(["segment", str(path), "-o", str(out), "--channel-axis", "0", "--overlay", str(overlay), *QUICK]) == 0
    assert read_image(out).data.shape == (24, 24)
    assert iio.imread(overlay).shape == (24, 2 * 24 + 8, 3)


def test_help_explains_the_reference_scribble_format(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "255 = unlabeled" in text and "v + 1" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "{tmp}/absent.tif", "-o", "{tmp}/out.tif"], "does not exist"),
        (["segment", "{tmp}/broken.png", "-o", "{tmp}/out.tif"], "cannot read"),
        (["segment", "{tmp}/stack.tif", "-o", "{tmp}/out.tif"], "expected a 2D image"),
        (["segment", "{tmp}/ambiguous.tif", "-o", "{tmp}/out.tif"], "--channel-axis"),
        (["segment", "{tmp}/tiny.tif", "-o", "{tmp}/out.tif"], "at least 8x8"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/out.jpg"], "must end in"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif", "--overlay", "{tmp}/o.tif"], "must end in .png"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif", "--scribbles", "{tmp}/tiny.tif"], "shape"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif", "--scribbles", "{tmp}/negative.tif"], ">= 0"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif", "--channels", "1"], "channels"),
        (["segment", "{tmp}/good.tif", "-o", "{tmp}/nowhere/out.tif"], "the folder"),
        pytest.param(
            ["segment", "{tmp}/good.tif", "-o", "{tmp}/out.tif", "--device", "cuda"],
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU"),
        ),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(tmp_path, capsys, args, message):
    (tmp_path / "broken.png").write_bytes(b"not a png" * 20)
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((2, 3, 16, 16), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "ambiguous.tif", np.zeros((5, 16, 16), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "tiny.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(tmp_path / "good.tif", (region_truth(16, 16) * 60).astype(np.uint8))
    tifffile.imwrite(tmp_path / "negative.tif", -np.ones((16, 16), np.int16))
    code = main([a.format(tmp=tmp_path) for a in args] + ["--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("napari-diffseg: error:")
    assert message in err


def test_installed_command_reports_a_missing_file_in_one_line(tmp_path):
    command = pathlib.Path(sys.executable).parent / "napari-diffseg"
    result = subprocess.run(
        [str(command), "segment", str(tmp_path / "absent.png"), "-o", str(tmp_path / "out.tif")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_writes_labels_and_an_overlay(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--max-iter", "3", "--quiet"]) == 0
    labels = read_image(out / "demo-labels.tif").data
    overlay = iio.imread(out / "demo-overlay.png")
    assert labels.shape == (512, 512) and labels.min() >= 1
    assert overlay.shape == (512, 2 * 512 + 8, 3) and overlay.dtype == np.uint8
    assert str(out / "demo-overlay.png") in capsys.readouterr().out


def test_the_progress_bar_shows_iteration_labels_loss_and_time_left_only_when_asked(tmp_path, rgb_png, capsys):
    args = ["segment", str(rgb_png), "--max-iter", "3", "--threads", "1", "--device", "cpu"]
    assert main([*args, "-o", str(tmp_path / "a.tif")]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: no bar unless asked
    assert main([*args, "-o", str(tmp_path / "b.tif"), "--progress"]) == 0
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert re.fullmatch(r"photo\.png: iteration 3/3 \|█+\| \[\d\d:\d\d<00:00, labels \d+, loss \d+\.\d{3}\]", final)
    assert main([*args, "-o", str(tmp_path / "c.tif"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["segment", "segment-stack", "demo"])
def test_every_subcommand_takes_threads_and_overwrite(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads N CPU threads for torch (default: torch's, one per core)" in text
    assert "--overwrite replace existing outputs (without it, an existing output is refused)" in text


def test_threads_reach_the_run(tmp_path, rgb_png):
    out = tmp_path / "labels.tif"
    assert main(["segment", str(rgb_png), "-o", str(out), "--threads", "2", *QUICK]) == 0
    assert read_label_metadata(out)["params"]["threads"] == 2


def test_readout_chooses_how_scribbles_label_the_image(tmp_path, rgb_png):
    from napari_diffseg import segment

    scribbles = np.zeros((32, 40), np.uint8)
    scribbles[5:25, 4], scribbles[5:15, 34] = 2, 7
    iio.imwrite(tmp_path / "scribbles.png", scribbles)
    image = iio.imread(rgb_png)
    results = {}
    for readout in ("auto", "argmax", "linear", "context", "spatial"):
        out = tmp_path / f"{readout}.tif"
        args = ["segment", str(rgb_png), "--scribbles", str(tmp_path / "scribbles.png"), "-o", str(out)]
        assert main([*args, "--readout", readout, "--threads", "1", *QUICK]) == 0
        results[readout] = tifffile.imread(out)
        expected = segment(image, scribbles, readout=readout, max_iter=5, threads=1)
        np.testing.assert_array_equal(results[readout], expected)  # the run used that readout
        chosen = "context" if readout == "auto" else readout  # auto on a colour image: context
        assert read_label_metadata(out)["params"]["readout"] == chosen
    np.testing.assert_array_equal(results["auto"], results["context"])
    assert len({labels.tobytes() for labels in results.values()}) > 2  # the readouts differ on this image


def test_segment_stack_takes_readout(tmp_path):
    from napari_diffseg import Segmenter

    stack = np.stack([piecewise_rgb(region_truth(32, 40), noise=5.0, seed=z)[..., 0] for z in range(3)])
    scribbles = np.zeros(stack.shape, np.uint8)
    scribbles[0, 5:25, 4], scribbles[0, 5:15, 34] = 1, 2
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    tifffile.imwrite(tmp_path / "scribbles.tif", scribbles, photometric="minisblack")
    args = ["segment-stack", str(tmp_path / "stack.tif"), "--scribbles", str(tmp_path / "scribbles.tif")]
    model = tmp_path / "model.pt"
    outputs = ["-o", str(tmp_path / "labels.tif"), "--save-model", str(model), "--readout", "spatial"]
    assert main([*args, *outputs, "--threads", "1", *QUICK]) == 0
    assert Segmenter.load(model, device="cpu").params.readout == "spatial"


@pytest.mark.parametrize("command", ["segment", "segment-stack"])
def test_help_of_readout_names_each_choice_and_the_presets_default(capsys, command):
    from napari_diffseg.params import PRESETS

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--readout {auto,argmax,linear,context,spatial}" in text
    assert "auto = context for colour (RGB) images, linear for others" in text
    assert "spatial = strokes spread along the image's edges by a graph cut" in text
    assert f"fast: {PRESETS['fast'].readout}" in text


def test_demo_help_describes_what_the_demo_does(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the photo beside a copy with the labels' colours and boundaries" in text
    assert "stop once at most K labels remain (default: 3)" in text
    assert "scribble" not in text and "drawn on it" not in text
