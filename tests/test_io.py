import numpy as np
import pytest
import tifffile

from napari_diffseg.io import read_image, read_label_metadata, read_scribbles, write_labels


def test_tiff_pixel_size_from_imagej_metadata(tmp_path):
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(
        path, np.zeros((10, 12), np.uint16), imagej=True, resolution=(1 / 0.5, 1 / 0.25), metadata={"unit": "micron"}
    )
    loaded = read_image(path)
    assert loaded.data.shape == (10, 12)
    assert loaded.pixel_size == pytest.approx((0.25, 0.5))


def test_tiff_pixel_size_from_resolution_tags(tmp_path):
    path = tmp_path / "tags.tif"
    tifffile.imwrite(path, np.zeros((10, 12), np.uint8), resolution=(1e4 / 0.3, 1e4 / 0.6), resolutionunit="CENTIMETER")
    assert read_image(path).pixel_size == pytest.approx((0.6, 0.3))


def test_tiff_without_physical_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((10, 12), np.float32))
    assert read_image(path).pixel_size is None


@pytest.mark.parametrize("dpi", [72, 96])
def test_screen_resolution_of_an_image_editor_is_no_pixel_size(tmp_path, dpi):
    path = tmp_path / "editor.tif"
    tifffile.imwrite(path, np.zeros((10, 12), np.uint8), resolution=(dpi, dpi), resolutionunit="INCH")
    assert read_image(path).pixel_size is None
    scanned = tmp_path / "scanned.tif"  # any other resolution in inches stays a pixel size
    tifffile.imwrite(scanned, np.zeros((10, 12), np.uint8), resolution=(25400, 25400), resolutionunit="INCH")
    assert read_image(scanned).pixel_size == pytest.approx((1.0, 1.0))


def test_labels_tiff_keeps_pixel_size_and_metadata(tmp_path):
    labels = np.arange(120, dtype=np.uint16).reshape(10, 12)
    path = tmp_path / "labels.tiff"
    write_labels(path, labels, pixel_size=(0.25, 0.5), metadata={"seed": 3, "params": {"channels": 32}})
    loaded = read_image(path)
    np.testing.assert_array_equal(loaded.data, labels)
    assert loaded.data.dtype == np.uint16
    assert loaded.pixel_size == pytest.approx((0.25, 0.5))
    assert read_label_metadata(path) == {"seed": 3, "params": {"channels": 32}}


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_png_and_jpeg_are_read(tmp_path, suffix):
    import imageio.v3 as iio

    image = np.random.default_rng(0).integers(0, 255, (16, 20, 3), dtype=np.uint8)
    path = tmp_path / f"photo{suffix}"
    iio.imwrite(path, image)
    loaded = read_image(path)
    assert loaded.data.shape == (16, 20, 3) and loaded.pixel_size is None


def test_labels_png_round_trip(tmp_path):
    labels = np.array([[1, 300], [65535, 7]] * 4, np.uint16).repeat(4, axis=1)
    write_labels(tmp_path / "labels.png", labels)
    np.testing.assert_array_equal(read_image(tmp_path / "labels.png").data, labels)


def test_labels_too_large_for_png_are_refused(tmp_path):
    with pytest.raises(ValueError, match="tif"):
        write_labels(tmp_path / "labels.png", np.full((8, 8), 70000, np.uint32))


def test_unsupported_output_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.tif"):
        write_labels(tmp_path / "labels.jpg", np.ones((8, 8), np.uint16))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(tmp_path / "absent.tif")


@pytest.mark.parametrize("name", ["broken.tif", "broken.png", "broken.jpg"])
def test_corrupt_file_is_a_value_error_of_one_line(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image" * 10)
    with pytest.raises(ValueError, match="cannot read") as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_unsupported_input_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="supported image files"):
        read_image(path)


def test_reference_scribbles_file(tmp_path):
    import imageio.v3 as iio

    reference = np.full((8, 8), 255, np.uint8)
    reference[2, :3], reference[5, :3] = 0, 4
    iio.imwrite(tmp_path / "scribble.png", reference)
    scribbles = read_scribbles(tmp_path / "scribble.png", "reference")
    assert scribbles[2, 0] == 1 and scribbles[5, 0] == 5 and scribbles[0, 0] == 0
    assert read_scribbles(tmp_path / "scribble.png")[0, 0] == 255


def test_rgb_scribble_file_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="single-channel"):
        read_scribbles(tmp_path / "rgb.tif")


def test_unknown_scribble_format(tmp_path):
    with pytest.raises(ValueError, match="scribble format"):
        read_scribbles(tmp_path / "whatever.png", "ilastik")
