"""Classical baselines scored in the same runs as differentiable feature clustering."""

from __future__ import annotations

import numpy as np

FELZENSZWALB_GRID = tuple((scale, 0.8, min_size) for scale in (100, 300, 1000) for min_size in (50, 200))
KMEANS_GRID = (3, 5, 8)


def felzenszwalb(image: np.ndarray, scale: float, sigma: float, min_size: int) -> np.ndarray:
    """scikit-image's graph-based segmentation (one grid point)."""
    from skimage.segmentation import felzenszwalb as graph_segmentation

    return graph_segmentation(image, scale=scale, sigma=sigma, min_size=min_size)


def kmeans_colour(image: np.ndarray, n_clusters: int) -> np.ndarray:
    """k-means on the pixel colours alone (no position), seeded."""
    from sklearn.cluster import KMeans

    pixels = image.reshape(-1, image.shape[-1] if image.ndim == 3 else 1).astype(np.float32)
    model = KMeans(n_clusters=n_clusters, n_init=1, random_state=0).fit(pixels)
    return model.labels_.reshape(image.shape[:2])


def random_forest(image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """scikit-image trainable segmentation on the same scribbles.

    ``multiscale_basic_features`` with its defaults and
    ``RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0)``; returns the
    painted ids.
    """
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    channel_axis = -1 if image.ndim == 3 else None
    features = multiscale_basic_features(image, channel_axis=channel_axis)
    classifier = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0)
    classifier = fit_segmenter(scribbles, features, classifier)
    return predict_segmenter(features, classifier)
