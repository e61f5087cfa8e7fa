"""Slices as dask tasks on a LocalCluster of two worker processes: the same labels as locally."""

import numpy as np
import pytest
from stack_synthetic import QUICK, moving_objects, strokes

from napari_diffseg import segment_stack

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
def test_cluster_labels_equal_local_labels(client, tmp_path):
    stack, truth = moving_objects(n_slices=6)
    for scribbles in (None, strokes(truth)):
        local = segment_stack(stack, scribbles, **QUICK)
        seen = []
        remote = segment_stack(stack, scribbles, client=client, callback=seen.append, **QUICK)
        assert np.array_equal(remote, local)
        assert sorted(p.index for p in seen if p.phase == "label") == [(z,) for z in range(6)]
    unfolded = segment_stack(stack, merge_fragments=False, **QUICK)
    assert not np.array_equal(unfolded, segment_stack(stack, **QUICK)), "the tasks above folded fragments"
    written = segment_stack(stack, client=client, out=tmp_path / "labels.zarr", **QUICK)
    assert np.array_equal(written[:], segment_stack(stack, **QUICK))


@pytest.mark.slow
def test_workers_keep_only_the_latest_model(client):
    stack, _ = moving_objects(n_slices=6)
    segment_stack(stack, client=client, **QUICK)

    def loaded_models():
        from napari_diffseg.stack.distributed import cached_model_count

        return cached_model_count()

    assert set(client.run(loaded_models).values()) <= {0, 1}


@pytest.mark.slow
def test_the_command_line_labels_on_a_scheduler(client, tmp_path, capsys):
    import tifffile

    from napari_diffseg.cli import main

    stack, _ = moving_objects(n_slices=6)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    command = ["segment-stack", str(tmp_path / "stack.tif"), "--max-iter", "20", "--threads", "1", "-q"]
    out = tmp_path / "labels.tif"
    assert main([*command, "-o", str(out), "--device", "cpu", "--scheduler", client.scheduler.address]) == 0
    assert np.array_equal(tifffile.imread(out), segment_stack(stack, **QUICK))
    assert main([*command, "-o", str(tmp_path / "x.tif"), "--scheduler", "tcp://127.0.0.1:9"]) == 1
    assert "cannot reach the dask scheduler" in capsys.readouterr().err
