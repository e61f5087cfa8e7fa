"""The widget's off-GUI-thread work as plain generators (no Qt, no napari)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_diffseg import _runs


def halves(shape=(24, 32)) -> np.ndarray:
    image = np.zeros(shape, dtype=np.float32)
    image[..., shape[-1] // 2 :] = 1
    return image + np.random.default_rng(0).normal(0, 0.05, shape).astype(np.float32)


def train(image: np.ndarray, **params) -> list[_runs.Frame]:
    frames = _runs.train_frames(image, None, channel_axis=None, preset="fast", seed=0, device="cpu", params=params)
    return list(frames)


def test_train_frames_send_the_model_progress_and_a_final_result():
    frames = train(halves(), max_iter=3)
    assert frames[0].model is not None and frames[0].progress is None
    progress = [f.progress.iteration for f in frames if f.progress is not None]
    assert progress == list(range(1, len(progress) + 1)) and 1 <= len(progress) <= 3
    assert frames[-1].final and frames[-1].labels.shape == (24, 32)
    np.testing.assert_array_equal(frames[-1].labels, frames[0].model.labels())


def test_previews_come_no_more_often_than_their_interval(monkeypatch):
    monkeypatch.setattr(_runs, "PREVIEW_EVERY_S", 0.0)
    frames = train(halves(), max_iter=4, min_labels=1)
    previews = [f for f in frames if f.labels is not None and not f.final]
    assert 1 <= len(previews) <= 4  # with no minimum interval, the cost-based spacing still applies


def test_refine_and_predict_frames_end_with_labels():
    first = _runs.train_frames(halves(), None, channel_axis=None, preset="fast", seed=0, device="cpu", params={})
    untrained = next(first)
    scribbles = np.zeros((24, 32), dtype=np.uint8)
    scribbles[2:5, 2:8], scribbles[2:5, 20:30] = 1, 2
    with pytest.raises(RuntimeError):
        list(_runs.refine_frames(untrained.model, scribbles))  # not trained yet: the worker reports it
    trained = untrained.model
    list(trained.train(halves(), scribbles))
    refined = list(_runs.refine_frames(trained, scribbles))
    assert refined[-1].final and set(np.unique(refined[-1].labels)) <= {1, 2}
    [predicted] = list(_runs.predict_frames(trained, halves()[::-1].copy(), None))
    assert predicted.final and predicted.labels.shape == (24, 32)


def test_stack_frames_report_each_slice_and_stop_on_request():
    pytest.importorskip("napari_diffseg.stack")
    stack = np.stack([halves() for _ in range(3)])
    frames = list(_runs.stack_frames(stack, None, stop=threading.Event(), axis=0, max_iter=3, device="cpu"))
    assert sorted(f.index for f in frames if f.labels is not None) == [(0,), (1,), (2,)]
    assert frames[-1].final

    stop = threading.Event()
    stopped = []
    for frame in _runs.stack_frames(stack, None, stop=stop, axis=0, max_iter=50, min_labels=1, device="cpu"):
        stopped.append(frame)
        stop.set()
    assert stopped[-1].final and not any(f.labels is not None for f in stopped)


def test_stack_frames_raise_the_stack_error_in_the_worker():
    pytest.importorskip("napari_diffseg.stack")
    with pytest.raises(ValueError):
        list(_runs.stack_frames(np.zeros((3, 24, 32)), None, stop=threading.Event(), axis=5, device="cpu"))


def test_jobs_run_numpy_blas_on_one_thread_and_restore_it():
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert before  # numpy's OpenBLAS is loaded
    with _runs.one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
