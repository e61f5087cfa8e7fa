"""Objects from classes: splitting touching objects, size filter, units, 3D linking, measurements."""

from __future__ import annotations

import numpy as np
import pytest

from napari_diffseg.objects import measure_objects, object_classes, split_instances, split_slices


def touching_discs(radius: float, rows: int, cols: int, *, seed: int = 0) -> tuple[np.ndarray, int]:
    """A grid of discs (radii 0.9-1.15 ``radius``, centres ``2 radius`` apart): many touch or overlap."""
    rng = np.random.default_rng(seed)
    step = 2 * radius
    shape = (int(step * rows + 2 * radius), int(step * cols + 2 * radius))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for i in range(rows):
        for j in range(cols):
            cy, cx = (np.array([i, j]) + 1) * step + rng.uniform(-0.1, 0.1, 2) * radius
            mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < (radius * rng.uniform(0.9, 1.15)) ** 2
    return mask, rows * cols


def disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius**2


@pytest.mark.parametrize(("radius", "rows", "cols"), [(5, 10, 10), (12, 6, 9), (40, 4, 5)])
def test_touching_discs_are_counted_within_two_percent(radius, rows, cols):
    mask, count = touching_discs(radius, rows, cols)
    assert split_instances(mask, split_touching=False).max() < count / 2  # they do touch
    instances = split_instances(mask)
    assert instances.dtype == np.uint32 and instances.shape == mask.shape
    assert abs(int(instances.max()) - count) <= max(1, 0.02 * count)
    assert np.array_equal(np.unique(instances), np.arange(instances.max() + 1))  # ids 1..n
    assert np.array_equal(instances > 0, mask)  # every object pixel kept, none added


def test_segment_style_labels_and_intensity_image():
    mask, count = touching_discs(8, 6, 6)
    mask = np.pad(mask, 30)
    rng = np.random.default_rng(1)
    image = (mask * 200 + rng.normal(40, 15, mask.shape)).astype(np.float32)
    labels = np.where(mask, 3, 7).astype(np.uint16)  # no 0: the smaller class is the objects
    assert object_classes(labels) == [3]
    instances = split_instances(labels, image=image)
    assert abs(int(instances.max()) - count) <= 1
    union = instances > 0  # boundaries follow the image's edges; small gaps enclosed by discs may close
    assert (union & mask).sum() / (union | mask).sum() > 0.8


def test_boundaries_move_to_the_image_edges():
    shape = (96, 160)
    truth = disc(shape, (48, 50), 20) | disc(shape, (48, 88), 20)
    grown = disc(shape, (48, 50), 24) | disc(shape, (48, 88), 24)  # a class boundary 4 px too wide
    image = np.where(truth, 1000.0, 100.0)

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    plain = split_instances(grown, image=image, refine_boundaries=False, tighten=0)
    snapped = split_instances(grown, image=image, tighten=0)
    assert plain.max() == snapped.max() == 2
    assert iou(plain > 0, truth) < 0.85 < 0.95 < iou(snapped > 0, truth)


def test_tighten_removes_the_halo_and_keeps_dim_objects():
    shape = (96, 200)
    bright, dim = disc(shape, (48, 50), 18), disc(shape, (48, 140), 18)
    halo = disc(shape, (48, 50), 24) | disc(shape, (48, 140), 24)
    rng = np.random.default_rng(0)
    image = np.where(bright, 1000.0, np.where(dim, 350.0, 100.0)) + rng.normal(0, 20, shape)
    image[halo & ~(bright | dim)] += 60  # a dim halo that the class took in
    spot = disc(shape, (44, 46), 5)
    image[spot] = 300.0  # dim texture inside the bright nucleus: kept

    def best_iou(instances, truth):
        return max((truth & (instances == i)).sum() / (truth | (instances == i)).sum() for i in (1, 2))

    loose = split_instances(halo, image=image, refine_boundaries=False, tighten=0)
    tight = split_instances(halo, image=image, refine_boundaries=False)
    assert loose.max() == tight.max() == 2  # the dim object is kept beside the bright one
    assert best_iou(loose, bright) < 0.6 and best_iou(loose, dim) < 0.6
    assert best_iou(tight, bright) > 0.9 and best_iou(tight, dim) > 0.9
    unfilled = split_instances(halo, image=image, refine_boundaries=False, fill_holes=False)
    assert np.all(unfilled[spot] == unfilled[48, 50])  # filled back by the tightening itself
    assert np.array_equal(split_instances(halo, tighten=0.7), split_instances(halo, tighten=0))  # needs the image
    with pytest.raises(ValueError, match="tighten"):
        split_instances(halo, image=image, tighten=1.5)


def test_nuclei_on_tissue_that_the_class_took_in_are_counted_and_textured_nuclei_stay_whole():
    from benchmarks.objects import match

    shape = (240, 320)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    tissue = (yy > 20) & (yy < 220) & (xx > 20) & (xx < 300)  # dim tissue on a dark background
    centres = [(60 + 60 * i, 60 + 66 * j) for i in range(3) for j in range(4)]
    truth = np.zeros(shape, np.int32)
    for k, centre in enumerate(centres, 1):
        truth[disc(shape, centre, rng.uniform(11, 15))] = k
    image = np.where(truth > 0, 800.0, np.where(tissue, 220.0, 60.0)) + rng.normal(0, 25, shape)
    labels = np.where(tissue, 1, 2).astype(np.uint8)  # the nuclei class took in the whole tissue
    objects = split_instances(labels, [1], image=image)
    assert int(objects.max()) == len(centres)
    assert match(objects, truth)["f1"] == 1.0
    assert (objects[tissue & (truth == 0)] > 0).mean() < 0.02  # the tissue is left out

    # Nuclei whose dim rim stands out from the background: the rim stays in them.
    core = np.zeros(shape, bool)
    for centre in centres:
        core |= disc(shape, centre, 7)
    spots = core & (rng.random(shape) < 0.5)
    textured = np.where(spots, 900.0, np.where(truth > 0, 520.0, 60.0)) + rng.normal(0, 25, shape)
    whole = split_instances(np.where(truth > 0, 1, 2).astype(np.uint8), [1], image=textured, refine_boundaries=False)
    assert int(whole.max()) == len(centres)
    assert ((whole > 0) & (truth > 0)).sum() / ((whole > 0) | (truth > 0)).sum() > 0.9


def test_textured_nuclei_whose_dim_interior_the_class_left_out_stay_whole_and_dark_gaps_stay_open():
    from scipy import ndimage

    from benchmarks.objects import match

    shape = (200, 260)
    rng = np.random.default_rng(2)
    truth = np.zeros(shape, np.int32)
    rim = np.zeros(shape, bool)
    for k, centre in enumerate([(50 + 100 * i, 45 + 57 * j) for i in range(2) for j in range(4)], 1):
        truth[disc(shape, centre, 20)] = k
        rim |= disc(shape, centre, 20) & ~disc(shape, centre, 7)
    # Bright chromatin at the rim, a dim interior (brighter than the background) that the class left out.
    image = np.where(rim, 900.0, np.where(truth > 0, 420.0, 80.0)) + rng.normal(0, 25, shape)
    objects = split_instances(np.where(rim, 1, 2).astype(np.uint8), [1], image=image)
    assert int(objects.max()) == 8
    assert match(objects, truth)["f1"] == 1.0  # one object per nucleus, interior included

    # Five touching nuclei around a dark gap of about half a nucleus: the gap stays background.
    ring = np.zeros((120, 120), np.int32)
    for k in range(5):
        centre = (60 + 24.5 * np.sin(2 * np.pi * k / 5), 60 + 24.5 * np.cos(2 * np.pi * k / 5))
        ring[disc(ring.shape, centre, 15) & (ring == 0)] = k + 1
    gap = ndimage.binary_fill_holes(ring > 0) & (ring == 0)
    assert 0.4 * np.pi * 15**2 < gap.sum() < np.pi * 15**2
    image = np.where(ring > 0, 900.0, 80.0) + rng.normal(0, 25, ring.shape)
    objects = split_instances(np.where(ring > 0, 1, 2).astype(np.uint8), [1], image=image, refine_boundaries=False)
    assert int(objects.max()) == 5
    assert (objects[gap] > 0).mean() < 0.05


def test_nuclei_in_tissue_that_the_class_took_in_are_found_in_3d_too():
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:40, :90, :90]
    truth = np.zeros(z.shape, np.int32)
    centres = [(cz, cy, cx) for cz in (12, 28) for cy in (25, 65) for cx in (25, 65)]
    for k, (cz, cy, cx) in enumerate(centres, 1):
        truth[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < 8**2] = k
    tissue = (z > 3) & (z < 37) & (y > 5) & (y < 85) & (x > 5) & (x < 85)
    image = np.where(truth > 0, 800.0, np.where(tissue, 200.0, 50.0)) + rng.normal(0, 20, truth.shape)
    objects = split_instances(np.where(tissue, 1, 2).astype(np.uint8), [1], image=image, per_slice=False)
    assert int(objects.max()) == len(centres)
    owners = [np.bincount(objects[truth == k]).argmax() for k in range(1, len(centres) + 1)]
    assert 0 not in owners and len(set(owners)) == len(centres)  # one object per nucleus
    assert all((objects == o).sum() < 1.5 * (truth == k).sum() for k, o in enumerate(owners, 1))  # without the tissue


def test_size_filter_default_explicit_and_off():
    shape = (80, 120)
    labels = np.zeros(shape, np.uint8)
    labels[disc(shape, (40, 30), 12)] = 1
    labels[disc(shape, (40, 80), 6)] = 1
    labels[10:12, 100:102] = 1  # a 4-pixel speck
    assert split_instances(labels).max() == 2  # speck dropped by the default (derived from sizes)
    assert split_instances(labels, min_size=0).max() == 3
    kept = split_instances(labels, min_size=200)
    assert kept.max() == 1 and kept[40, 30] == 1
    with pytest.raises(ValueError, match="min_size"):
        split_instances(labels, min_size=-1)


def test_physical_units_from_spacing():
    mask, count = touching_discs(10, 3, 4)
    pixels = split_instances(mask)
    scaled = split_instances(mask, spacing=(0.25, 0.25))
    assert np.array_equal(pixels, scaled)  # the typical size is measured in the same units
    table = measure_objects(scaled, spacing=(0.25, 0.25), unit="um")
    assert len(table) == count and table.attrs["unit"] == "um"
    np.testing.assert_allclose(table["area_um2"], table["num_pixels"] * 0.0625)
    np.testing.assert_allclose(table["equivalent_diameter_um"], 2 * np.sqrt(table["area_um2"] / np.pi))
    in_pixels = measure_objects(pixels)
    np.testing.assert_allclose(table["centroid_x_um"], in_pixels["centroid_x_px"] * 0.25)
    # min_size in physical units: 30 um2 = 480 pixels at 0.25 um drops every disc (about 314 pixels)
    assert split_instances(mask, spacing=(0.25, 0.25), min_size=30).max() == 0


def balls_stack(z_spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Two touching balls of radius 12 (physical units), sampled every ``z_spacing`` along z."""
    zz = np.arange(0, 36, z_spacing)[:, None, None]
    yy, xx = np.mgrid[:40, :64]
    yy, xx = yy[None], xx[None]
    first = (zz - 18) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 < 144
    second = (zz - 18) ** 2 + (yy - 20) ** 2 + (xx - 42) ** 2 < 144
    return first, second


def test_objects_linked_across_slices_with_anisotropic_spacing():
    first, second = balls_stack(3.0)
    labels = (first | second).astype(np.uint8)
    linked = split_instances(labels, per_slice=False, spacing=(3.0, 1.0, 1.0))
    assert linked.max() == 2
    inside_first, inside_second = np.bincount(linked[first], minlength=3), np.bincount(linked[second], minlength=3)
    assert inside_first.argmax() != inside_second.argmax()
    assert inside_first.max() > 0.97 * first.sum() and inside_second.max() > 0.97 * second.sum()
    table = measure_objects(linked, spacing=(3.0, 1.0, 1.0))
    assert len(table) == 2 and "volume_unit3" in table and "eccentricity" not in table
    np.testing.assert_allclose(table["volume_unit3"], table["num_pixels"] * 3.0)
    np.testing.assert_allclose(table["volume_unit3"], 4 / 3 * np.pi * 12**3, rtol=0.15)


def test_thin_stack_objects_reaching_both_ends_are_found():
    # Columns through all 4 slices: the stack's ends are background, as its sides are.
    shape = (60, 130)
    columns = [disc(shape, (30, cx), 10) for cx in (20, 60, 105)]
    stack = np.broadcast_to(np.any(columns, axis=0), (4, *shape))
    linked = split_instances(stack, per_slice=False)
    assert linked.max() == 3
    for column in columns:
        ids = np.unique(linked[:, column])
        assert ids.size == 1 and ids[0] > 0  # one object through every slice


def test_a_class_covering_the_whole_image_is_one_object():
    labels = np.full((40, 70), 4, np.uint8)
    instances = split_instances(labels, classes=[4], image=np.random.default_rng(0).random(labels.shape))
    assert np.array_equal(instances, np.ones(labels.shape, np.uint32))


def test_local_background_matches_the_full_resolution_normalised_convolution():
    from scipy import ndimage

    from napari_diffseg.objects import _local_mean

    rng = np.random.default_rng(2)
    values = ndimage.gaussian_filter(rng.random((203, 151)), 4).astype(np.float32)
    where = rng.random(values.shape) > 0.4
    sigma = np.array([12.0, 9.0])
    exact = ndimage.gaussian_filter(values * where, sigma, truncate=3.0) / ndimage.gaussian_filter(
        where.astype(float), sigma, truncate=3.0
    )
    approx = _local_mean(values, where, sigma, fallback=0.0)
    assert approx.shape == values.shape
    assert np.abs(approx - exact).max() < 0.02 * np.ptp(values)


def test_per_slice_objects_and_the_slice_generator():
    first, second = balls_stack(3.0)
    labels = (first | second).astype(np.uint8)
    per_slice = split_instances(labels, spacing=(3.0, 1.0, 1.0))
    n_planes = int((first | second).any(axis=(1, 2)).sum())
    assert per_slice.max() == 2 * n_planes  # two 2D objects in every non-empty slice, ids unique
    assert all(len(np.unique(plane[plane > 0])) in (0, 2) for plane in per_slice)
    yielded = list(split_slices(labels, spacing=(3.0, 1.0, 1.0)))
    assert [item.index for item in yielded] == list(range(labels.shape[0]))
    assert np.array_equal(np.stack([item.instances for item in yielded]), per_slice)
    assert sum(item.n_objects for item in yielded) == per_slice.max()
    table = measure_objects(per_slice, labels=labels)
    assert len(table) == per_slice.max() and "slice" in table and "eccentricity" in table
    assert set(table["slice"]) == set(np.flatnonzero((first | second).any(axis=(1, 2))))


def test_slices_split_in_threads_give_the_same_objects():
    mask, count = touching_discs(6, 4, 5)
    rng = np.random.default_rng(3)
    stack = np.stack([np.roll(mask, shift, axis=1) for shift in range(0, 35, 5)])
    image = (stack * 200 + rng.normal(40, 15, stack.shape)).astype(np.float32)
    one = split_instances(stack, image=image, workers=1)
    assert np.array_equal(split_instances(stack, image=image, workers=3), one)
    assert np.array_equal(split_instances(stack, image=image, workers=None), one)
    assert abs(int(one.max()) - stack.shape[0] * count) <= stack.shape[0]
    first_two = []
    for item in split_slices(stack, image=image, workers=2):  # stopping early leaves no thread behind
        first_two.append(item.instances)
        if len(first_two) == 2:
            break
    assert np.array_equal(np.stack(first_two), one[:2])


def test_a_piece_under_min_size_is_merged_into_its_neighbour_and_other_clumps_stay():
    clump, count = touching_discs(6, 3, 4)
    clump = np.pad(clump, 4)
    mask = np.concatenate([clump, np.zeros((clump.shape[0], 9), bool), np.roll(clump, 3, axis=0)], axis=1)
    bump = disc(mask.shape, (7, 16), 3.5) & ~mask  # on the first clump's first disc: its own seed, a small piece
    rng = np.random.default_rng(5)
    image = (rng.uniform(120, 220, mask.shape) * (mask | bump) + rng.normal(40, 15, mask.shape)).astype(np.float32)
    right = slice(clump.shape[1] + 9, None)
    without = split_instances(np.where(mask, 1, 2), classes=[1], image=image, min_size=40)
    objects = split_instances(np.where(mask | bump, 1, 2), classes=[1], image=image, min_size=40)
    assert int(objects.max()) == int(without.max()) == 2 * count
    neighbour = np.unique(objects[bump & (objects > 0)])
    assert neighbour.size == 1 and np.any(objects[disc(mask.shape, (16, 16), 3)] == neighbour[0])
    assert np.array_equal(objects[:, right], without[:, right])  # the other clump is not flooded again


def test_measurements_per_channel_and_class():
    shape = (60, 100)
    labels = np.zeros(shape, np.uint8)
    labels[disc(shape, (30, 25), 10)] = 2
    labels[disc(shape, (30, 70), 15)] = 3
    image = np.zeros((*shape, 2), np.float32)
    image[..., 0] = np.where(labels == 2, 10.0, 1.0)
    image[..., 1] = np.where(labels == 3, 5.0, 0.5)
    instances = split_instances(labels, image=image)  # classes None: every positive id
    assert instances.max() == 2
    table = measure_objects(instances, image, labels=labels)
    assert list(table["label"]) == [1, 2] and list(table["class"]) == [2, 3]
    first = table.iloc[0]
    assert first["intensity_mean_ch0"] == pytest.approx(10.0) and first["intensity_max_ch1"] == pytest.approx(0.5)
    np.testing.assert_allclose(table["intensity_sum_ch0"], table["intensity_mean_ch0"] * table["num_pixels"])
    expected = {"area_px2", "centroid_y_px", "bbox_min_y", "bbox_max_x", "eccentricity", "solidity"}
    assert expected <= set(table.columns)
    assert table.loc[0, "bbox_min_y"] == 21 and table.loc[0, "bbox_max_y"] == 40
    assert table["eccentricity"].max() < 0.3 and table["solidity"].min() > 0.9
    gray = measure_objects(instances, image[..., 0])
    assert {"intensity_mean", "intensity_max", "intensity_sum"} <= set(gray.columns)
    empty = measure_objects(np.zeros(shape, np.uint32), image)
    assert len(empty) == 0 and "intensity_mean_ch1" in empty


def test_inputs_are_not_modified():
    mask, _ = touching_discs(8, 3, 3)
    labels = np.where(mask, 1, 2).astype(np.uint16)
    image = np.where(mask, 5.0, 1.0)
    labels_copy, image_copy = labels.copy(), image.copy()
    instances = split_instances(labels, image=image)
    instances_copy = instances.copy()
    measure_objects(instances, image, labels=labels, spacing=(2.0, 2.0))
    assert np.array_equal(labels, labels_copy) and np.array_equal(image, image_copy)
    assert np.array_equal(instances, instances_copy)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: split_instances(np.zeros((8, 8), float)), "integer label image"),
        (lambda: split_instances(np.zeros((2, 2, 8, 8), np.uint8)), r"2D \(H, W\) or a stack"),
        (lambda: split_instances(np.ones((8, 8), np.uint8), classes=[4]), "no pixel of labels has id 4"),
        (lambda: split_instances(np.ones((8, 8), np.uint8), classes=[0]), "must not contain 0"),
        (lambda: split_instances(np.ones((8, 8), np.uint8), image=np.ones((8, 9))), "does not fit labels"),
        (lambda: split_instances(np.ones((8, 8), np.uint8), spacing=(1, 0)), "spacing="),
        (lambda: split_instances(np.arange(64).reshape(8, 8) % 3 + 1), "pass classes="),
        (lambda: split_instances(np.ones((8, 8), np.uint8), radius=0), "radius="),
        (lambda: measure_objects(np.ones((8, 8), np.uint8), labels=np.ones((4, 4))), "labels of shape"),
        (lambda: measure_objects(np.ones((8, 8), np.uint8), spacing=(1, 1, 1)), "spacing="),
        (lambda: list(split_slices(np.ones((8, 8), np.uint8))), "needs an"),
        (lambda: split_instances(np.ones((8, 8), np.uint8), workers=0), "workers=0"),
    ],
)
def test_errors_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_benchmark_matching_is_one_to_one():
    from benchmarks.objects import match

    truth = np.zeros((20, 40), np.uint16)
    truth[2:10, 2:10] = 1
    truth[2:10, 20:30] = 5
    prediction = np.zeros_like(truth)
    prediction[2:10, 2:9] = 3  # IoU 7/8 with 1
    prediction[2:10, 20:24] = 4  # IoU 0.4 with 5: below 0.5
    prediction[2:10, 24:30] = 6  # IoU 0.6 with 5
    prediction[15:18, 15:18] = 7  # a false object
    scores = match(prediction, truth)
    assert (scores["tp"], scores["n_pred"], scores["n_true"]) == (2, 4, 2)
    assert scores["f1"] == pytest.approx(2 * 2 / 6)
    assert scores["iou_sum"] == pytest.approx(7 / 8 + 0.6)
    assert match(truth, truth)["f1"] == 1.0 and match(np.zeros_like(truth), np.zeros_like(truth))["f1"] == 1.0


def test_a_disc_cut_in_two_is_merged_back_and_touching_discs_are_not():
    from napari_diffseg.objects import _merge_convex_pairs

    shape = (80, 140)
    halves = disc(shape, (40, 40), 15).astype(np.uint32)
    halves[:, 40:] *= 2  # one disc cut along a diameter: two convex halves whose union is convex
    pair = (disc(shape, (40, 70), 15) | disc(shape, (40, 100), 15)).astype(np.uint32)
    pair[:, 85:] *= 2  # two touching discs: their union has a waist
    objects = np.where(halves > 0, halves, np.where(pair > 0, pair + 2, 0)).astype(np.uint32)
    merged = _merge_convex_pairs(objects)
    assert len(np.unique(merged[halves > 0])) == 1
    assert len(np.unique(merged[pair > 0])) == 2
    assert merged.max() == 3


def test_nuclei_lying_apart_and_cut_in_halves_are_merged_back_and_a_touching_pair_is_not():
    from skimage.draw import ellipse

    from napari_diffseg.objects import _merge_convex_pairs

    shape = (120, 400)
    objects = np.zeros(shape, np.uint32)
    for k, x in enumerate((40, 120, 200)):  # three elongated nuclei, each cut across its middle
        rows, cols = ellipse(40, x, 10, 25, shape)
        objects[rows, cols] = np.where(cols < x, 2 * k + 1, 2 * k + 2)
    pair = disc(shape, (90, 300), 15.5) | disc(shape, (90, 326), 15.5)  # two touching nuclei of that size
    objects[pair] = np.where(np.nonzero(pair)[1] < 313, 7, 8)
    merged = _merge_convex_pairs(objects)
    # Two halves cover over 1.5 times the median object (a half), not the median component (a nucleus).
    assert merged.max() == 5
    assert all(len(np.unique(merged[objects == 2 * k + 1])) == 1 for k in range(3))
    assert all((merged[objects == 2 * k + 1][0] == merged[objects == 2 * k + 2]).all() for k in range(3))
    assert len(np.unique(merged[pair])) == 2


def test_the_wider_merge_leaves_clumps_of_more_than_four_objects():
    from napari_diffseg.objects import _merge_convex_pairs

    objects = np.zeros((200, 480), np.uint32)
    for k in range(11):  # lying apart: eleven objects of 100 px and twelve of 900 px
        objects[10:20, 10 + 40 * k : 20 + 40 * k] = k + 1
    for k in range(12):
        objects[40:70, 10 + 40 * k : 40 + 40 * k] = 12 + k
    for k in range(5):  # a clump of five 300 px pieces: any two make a rectangle of 600 px
        objects[100:130, 10 + 10 * k : 20 + 10 * k] = 24 + k
    # 600 px is over 1.5 times the median object (300 px) and within 1.5 times the median group
    # (900 px), but the clump has more than four objects.
    assert np.array_equal(_merge_convex_pairs(objects), objects)


def test_the_typical_radius_is_not_inflated_by_one_large_clump():
    from scipy import ndimage

    from napari_diffseg.objects import _edt, _typical_radius

    shape = (300, 300)
    mask = np.zeros(shape, bool)
    for y in range(20, 290, 25):
        for x in (20, 45, 70):
            mask |= disc(shape, (y, x), 10)  # 33 isolated discs of radius 10
    mask[150:230, 150:230] = True  # one solid clump
    distance = _edt(mask, np.ones(2))
    assert 3 * distance[mask].mean() > 18  # the plain estimate follows the clump
    assert _typical_radius(mask, distance, ndimage.label(mask)[0]) <= 1.6 * 10.5


def test_elongated_textured_nuclei_stay_whole_given_half_their_length_as_radius():
    from skimage.measure import regionprops_table

    from benchmarks.objects import ellipse_field, match

    image, truth = ellipse_field(3.0, 10, touching=False, side=384)
    labels = np.where(truth > 0, 1, 2).astype(np.uint8)
    half_length = np.median(regionprops_table(truth, properties=["axis_major_length"])["axis_major_length"]) / 2
    objects = split_instances(labels, [1], image=image, radius=half_length)
    assert abs(int(objects.max()) - int(truth.max())) <= 0.02 * truth.max()
    assert match(objects, truth)["f1"] >= 0.95


@pytest.mark.slow
def test_benchmark_corrections_start_from_the_five_stroke_segmentation():
    from benchmarks.datasets import MISSING_DATA
    from benchmarks.objects import corrected, load, match, set_names, strokes

    if not set_names("nuclei2d"):
        pytest.skip(MISSING_DATA)
    import napari_diffseg

    result = corrected("nuclei2d", 0, rounds=1)
    image, truth = load("nuclei2d")
    labels = napari_diffseg.segment(image, strokes(truth, 0), seed=0, threads=1)
    assert result["f1"][0] == match(split_instances(labels, classes=[1], image=image), truth)["f1"]
    assert len(result["f1"]) == len(result["fg_iou"]) == 2
    assert all(0 <= value <= 1 for value in result["f1"] + result["fg_iou"])
