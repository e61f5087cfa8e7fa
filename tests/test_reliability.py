"""Faults a user can cause with files and the command line: one clear line, nothing half-written.

Each command runs in a real subprocess, as a user would start it, with real files.
"""

from __future__ import annotations

import io
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tifffile
import torch
from conftest import piecewise_rgb, region_truth

from napari_diffseg import Segmenter
from napari_diffseg.io import write_labels
from napari_diffseg.model_file import FORMAT_VERSION

QUICK = ["--max-iter", "3", "--quiet"]
POSIX = pytest.mark.skipif(os.name != "posix", reason="uses POSIX resource limits and signals")


def cli(*args: str, limits: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``napari-diffseg ARGS`` in a fresh interpreter, optionally under resource ``limits``
    (Python statements run first, e.g. to set an rlimit)."""
    code = f"import sys\n{limits}\nfrom napari_diffseg.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def photo(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "photo.tif"
    tifffile.imwrite(path, piecewise_rgb(region_truth(32, 40), noise=5.0))
    return path


# ---------------------------------------------------------------- model files
def test_loading_a_folder_says_it_is_a_folder(tmp_path: pathlib.Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a folder, not a model file"):
        Segmenter.load(tmp_path)


class _Payload:
    def __init__(self, sentinel: str):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_a_crafted_pickle_payload_is_refused_without_running(tmp_path: pathlib.Path) -> None:
    sentinel = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"meta": _Payload(str(sentinel))}, path)  # torch.save pickles the payload object
    with pytest.raises(ValueError, match="not a napari-diffseg model file"):
        Segmenter.load(path)
    assert not sentinel.exists(), "loading a model file ran code from it"
    torch.load(path, weights_only=False)  # the payload is live: unrestricted unpickling runs it
    assert sentinel.exists()


def test_a_model_of_another_format_version_gets_a_clear_message(tmp_path: pathlib.Path) -> None:
    model = Segmenter(max_iter=2, threads=1)
    model.fit(np.random.default_rng(0).random((16, 16)))
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    state["meta"] = state["meta"].replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99')
    path = tmp_path / "future.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"model format 99; this napari-diffseg .* reads format 1"):
        Segmenter.load(path)


# ---------------------------------------------------------------- atomic outputs
@POSIX
@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_write_cut_short_by_a_full_disk_leaves_no_file(tmp_path: pathlib.Path, suffix: str) -> None:
    target = tmp_path / f"labels{suffix}"
    code = textwrap.dedent(
        f"""
        import resource, signal, numpy as np
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from napari_diffseg.io import write_labels
        rng = np.random.default_rng(0)
        write_labels({str(target)!r}, rng.integers(1, 60000, (512, 512)).astype(np.uint16))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert list(tmp_path.iterdir()) == [], "neither the output nor a temporary file is left behind"


def test_an_existing_output_is_replaced_whole_and_keeps_its_permissions(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "labels.tif"
    write_labels(target, np.ones((8, 8), np.uint16))
    target.chmod(0o640)
    write_labels(target, np.full((8, 8), 2, np.uint16))
    assert tifffile.imread(target).max() == 2
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["labels.tif"]


@POSIX
def test_segment_under_a_file_size_limit_fails_with_one_line_and_no_output(tmp_path, photo) -> None:
    out = tmp_path / "out" / "labels.tif"
    out.parent.mkdir()
    limits = "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    limits += "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))"
    line = one_line_error(cli("segment", str(photo), "-o", str(out), *QUICK, limits=limits))
    assert "labels.tif" in line
    assert list(out.parent.iterdir()) == []


@POSIX
def test_segment_into_an_unwritable_folder_fails_with_one_line(tmp_path, photo) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = one_line_error(cli("segment", str(photo), "-o", str(folder / "labels.tif"), *QUICK))
    finally:
        folder.chmod(0o700)
    assert "locked" in line


# ---------------------------------------------------------------- bad inputs
def test_a_zero_byte_file_fails_with_one_line(tmp_path) -> None:
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    line = one_line_error(cli("segment", str(empty), "-o", str(tmp_path / "labels.tif"), *QUICK))
    assert "empty.tif" in line


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_corrupt_file_fails_with_one_line(tmp_path, suffix) -> None:
    path = tmp_path / f"broken{suffix}"
    header = b"II*\x00" if suffix == ".tif" else b"\x89PNG\r\n\x1a\n"
    path.write_bytes(header + os.urandom(300))
    line = one_line_error(cli("segment", str(path), "-o", str(tmp_path / "labels.tif"), *QUICK))
    assert f"broken{suffix}" in line


def test_a_tiff_with_unexpected_axes_fails_with_one_line_naming_the_way_out(tmp_path) -> None:
    path = tmp_path / "tzcyx.tif"
    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 2, 16, 16), dtype=np.uint16)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX"})
    line = one_line_error(cli("segment", str(path), "-o", str(tmp_path / "labels.tif"), *QUICK))
    assert "segment-stack" in line or "channel" in line


@POSIX
def test_a_tiff_stack_larger_than_the_address_space_limit_is_read_slice_by_slice(tmp_path) -> None:
    """A 4.3 GB TIFF stack (sparse on disk) opened under a limit of 1.5 GB more address space than
    the process already has: it cannot be memory-mapped whole, so slices are read page by page."""
    path = tmp_path / "big.tif"
    stack = tifffile.memmap(path, shape=(1024, 1024, 2048), dtype=np.uint16)
    stack[700, 5:9, 10:20] = 1234
    stack.flush()
    del stack
    code = textwrap.dedent(
        f"""
        import resource
        from napari_diffseg.stack.io import open_stack, read_slice
        size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 3 * 2**29, resource.RLIM_INFINITY))
        stack = open_stack({str(path)!r})
        plane = read_slice(stack, (700,))
        assert plane.shape == (1024, 2048) and plane[5:9, 10:20].min() == 1234 and plane.sum() == 40 * 1234
        print(type(stack).__module__)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "zarr" in result.stdout


@POSIX
def test_segment_with_too_little_memory_fails_with_one_line(tmp_path) -> None:
    path = tmp_path / "large.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 4000, (2048, 2048), dtype=np.uint16))
    limits = textwrap.dedent(
        """
        import resource
        import torch  # what every run needs is mapped before the limit
        size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 2**27, resource.RLIM_INFINITY))
        """
    )
    line = one_line_error(cli("segment", str(path), "-o", str(tmp_path / "labels.tif"), *QUICK, limits=limits))
    assert "memory" in line.lower()


@POSIX
def test_segment_stack_killed_mid_run_resumes_where_it_stopped(tmp_path) -> None:
    # Slices of about 0.2 s each: far longer than the 50 ms between looks at the store, so the kill
    # lands while slices remain (with 48 x 48 slices and 3 iterations all 12 could end between two looks).
    truth = region_truth(96, 96)
    stack = np.stack([piecewise_rgb(truth, seed=i)[..., 0] for i in range(12)])
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack)
    out = tmp_path / "labels.zarr"
    args = [str(source), "-o", str(out), "--max-iter", "40", "--threads", "1", "--quiet"]
    code = "import sys\nfrom napari_diffseg.cli import main\nsys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, "segment-stack", *args])
    deadline = time.monotonic() + 120
    import zarr

    while time.monotonic() < deadline:
        time.sleep(0.05)
        if out.exists():
            try:
                done = int((zarr.open(str(out), mode="r")[:] > 0).any(axis=(1, 2)).sum())
            except Exception:  # noqa: BLE001 - the store is being created
                continue
            if done >= 2:
                break
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = zarr.open(str(out), mode="r")[:]
    finished = int((partial > 0).any(axis=(1, 2)).sum())
    assert 1 <= finished < 12, "the kill came mid-run"
    resumed = cli("segment-stack", *args, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = cli("segment-stack", str(source), "-o", str(tmp_path / "whole.zarr"), *args[3:], timeout=300)
    assert whole.returncode == 0, whole.stderr
    labels = zarr.open(str(out), mode="r")[:]
    assert (labels > 0).all(), "every slice is labelled after the resume"
    assert np.array_equal(labels, zarr.open(str(tmp_path / "whole.zarr"), mode="r")[:])
