"""Scribble readout that spreads strokes along the image: class model + contrast-sensitive graph cut.

Pure numpy/scipy/scikit-image/PyMaxflow. The class evidence of every pixel (a mixture of linear
discriminants of the painted classes on per-pixel features, e.g. the network's responses, and a
geodesic distance to each class's strokes) is combined with a Potts model on the 4-neighbour grid
whose edge weights fall with the colour difference across the edge, and the strokes are hard
constraints. Two classes are solved exactly by one minimum cut; more classes by alpha-expansion.
Optionally, as in GrabCut, the class model is re-fitted on the regularised labels and the graph
solved again (:func:`spatial_readout`). Where a class is made of many separate objects, few of
them painted (:func:`reached_share`), one linear discriminant without the geodesic term is used
instead. :func:`local_correction` keeps a correction to the region its stroke is painted in.

Arrays: ``features`` (Q, H, W), ``image`` (C, H, W), ``targets`` (H, W) int with the class index
0..K-1 of painted pixels and -1 elsewhere; labels are class indices 0..K-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_HARD = 1e6  # unary cost of a class other than the painted one (a hard constraint)


def contrast_weights(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contrast-sensitive Potts weights of the 4-neighbour grid, in (0, 1].

    ``exp(-beta * |I_p - I_q|^2)`` with ``beta = 1 / (2 * mean |I_p - I_q|^2)`` over the image
    (Boykov & Jolly 2001; Rother et al. 2004).

    Parameters
    ----------
    image : numpy.ndarray
        (C, H, W) image (any scale; NaN treated as 0).

    Returns
    -------
    tuple of numpy.ndarray
        Weights of the horizontal edges (H, W-1) and of the vertical edges (H-1, W).
    """
    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    right = ((data[:, :, 1:] - data[:, :, :-1]) ** 2).sum(0)
    down = ((data[:, 1:, :] - data[:, :-1, :]) ** 2).sum(0)
    mean = (right.sum() + down.sum()) / max(1, right.size + down.size)
    beta = 1.0 / (2.0 * mean) if mean > 0 else 0.0
    return np.exp(-beta * right), np.exp(-beta * down)


def fit_discriminant(
    features: np.ndarray,
    classes: np.ndarray,
    n_classes: int,
    *,
    sample_weight: np.ndarray | None = None,
    shrinkage: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Linear discriminant (equal priors, pooled covariance shrunk towards the identity).

    Parameters
    ----------
    features : numpy.ndarray
        (Q, N) features of the training pixels.
    classes : numpy.ndarray
        (N,) class index 0..``n_classes``-1 of each.
    n_classes : int
        Number of classes (a class without pixels gets a score of -inf everywhere).
    sample_weight : numpy.ndarray, optional
        (N,) weight of each pixel (default 1).
    shrinkage : float
        Share of the covariance replaced by a multiple of the identity.

    Returns
    -------
    tuple of numpy.ndarray
        ``weight`` (K, Q) and ``bias`` (K,): the score of class k is ``weight[k] @ x + bias[k]``.
    """
    x = np.asarray(features, dtype=np.float64)
    q = x.shape[0]
    w = np.ones(x.shape[1]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    counts = np.bincount(classes, weights=w, minlength=n_classes)
    onehot = np.zeros((n_classes, x.shape[1]))
    onehot[classes, np.arange(x.shape[1])] = w
    sums = onehot @ x.T
    means = sums / np.maximum(counts, 1e-12)[:, None]
    within = ((x * w) @ x.T - sums.T @ means) / max(1e-12, counts.sum())
    scale = np.trace(within) / q + 1e-6
    shrunk = (1 - shrinkage) * within + shrinkage * scale * np.eye(q)
    weight = np.linalg.solve(shrunk, means.T).T
    bias = -0.5 * (weight * means).sum(1)
    bias[counts == 0] = -np.inf
    return weight, bias


@dataclass(frozen=True)
class ClassModel:
    """A mixture discriminant: linear discriminants of components, each owned by one class.

    The components share one covariance, so a class's log-likelihood is the log-sum-exp of its
    components' linear scores (plus their log share of the class).

    Attributes
    ----------
    weight, bias : numpy.ndarray
        (M, Q) and (M,) linear scores of the M components.
    owner : numpy.ndarray
        (M,) class index of each component.
    n_classes : int
        Number of classes.
    """

    weight: np.ndarray
    bias: np.ndarray
    owner: np.ndarray
    n_classes: int

    def costs(self, features: np.ndarray) -> np.ndarray:
        """(K, H, W) negative log posteriors (equal class priors) of (Q, H, W) ``features``; a
        class without components costs ``_HARD``."""
        scores = np.einsum("mq,qhw->mhw", self.weight.astype(np.float32), np.asarray(features, np.float32))
        scores += self.bias.astype(np.float32)[:, None, None]
        top = scores.max(0, keepdims=True)
        likelihood = np.zeros((self.n_classes, *scores.shape[1:]), np.float32)
        np.add.at(likelihood, self.owner, np.exp(scores - top))
        with np.errstate(divide="ignore"):
            log_likelihood = np.log(likelihood)
        costs = np.log(likelihood.sum(0, keepdims=True)) - log_likelihood
        return np.minimum(costs, _HARD)


def fit_class_model(
    features: np.ndarray,
    classes: np.ndarray,
    n_classes: int,
    *,
    components: int = 8,
    sample_weight: np.ndarray | None = None,
    shrinkage: float = 0.9,
    min_pixels: int = 50,
) -> ClassModel:
    """Fit a :class:`ClassModel`: each class split by k-means into up to ``components`` parts.

    Parameters
    ----------
    features : numpy.ndarray
        (Q, N) features of the training pixels.
    classes : numpy.ndarray
        (N,) class index of each.
    n_classes : int
        Number of classes.
    components : int
        Most components per class; a class gets at most one per ``min_pixels`` pixels.
    sample_weight : numpy.ndarray, optional
        (N,) weight of each pixel in the discriminant.
    shrinkage : float
        Covariance shrinkage (see :func:`fit_discriminant`).
    min_pixels : int
        Pixels per component at least.
    """
    from scipy.cluster.vq import kmeans2

    x = np.asarray(features, dtype=np.float32)
    parts = np.zeros(classes.shape, np.int64)
    owner: list[int] = []
    for k in range(n_classes):
        members = np.flatnonzero(classes == k)
        n_parts = max(1, min(components, members.size // min_pixels))
        if members.size == 0:
            continue
        local = np.zeros(members.size, np.int64)
        if n_parts > 1:
            _, local = kmeans2(x[:, members].T, n_parts, minit="++", seed=0, iter=10)
            local = np.unique(local, return_inverse=True)[1]  # drop empty clusters
        parts[members] = len(owner) + local
        owner += [k] * (int(local.max()) + 1)
    weight, bias = fit_discriminant(x, parts, len(owner), sample_weight=sample_weight, shrinkage=shrinkage)
    w = np.ones(classes.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    part_mass = np.bincount(parts, weights=w, minlength=len(owner))
    owner_array = np.asarray(owner, np.int64)
    class_mass = np.bincount(owner_array, weights=part_mass, minlength=n_classes)
    bias = bias + np.log(part_mass / class_mass[owner_array])
    return ClassModel(weight, bias, owner_array, n_classes)


def graph_cut(
    costs: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray],
    targets: np.ndarray,
    smoothness: float,
    *,
    cycles: int = 2,
) -> np.ndarray:
    """Labels minimising ``sum costs[l_p, p] + smoothness * sum w_pq [l_p != l_q]`` with strokes fixed.

    Parameters
    ----------
    costs : numpy.ndarray
        (K, H, W) unary costs.
    weights : tuple of numpy.ndarray
        Edge weights from :func:`contrast_weights`.
    targets : numpy.ndarray
        (H, W) class of painted pixels (kept as they are), -1 elsewhere.
    smoothness : float
        Weight of the pairwise term.
    cycles : int
        Alpha-expansion sweeps over the classes (more than two classes only).

    Returns
    -------
    numpy.ndarray
        (H, W) int64 class indices.
    """
    costs = np.asarray(costs, dtype=np.float64).copy()
    n_classes = costs.shape[0]
    painted = targets >= 0
    if painted.any():
        hard = np.full((n_classes, int(painted.sum())), _HARD)
        hard[targets[painted], np.arange(hard.shape[1])] = 0.0
        costs[:, painted] = hard
    costs = np.minimum(costs, _HARD)
    right, down = smoothness * weights[0], smoothness * weights[1]
    labels = costs.argmin(0)
    if n_classes < 2 or smoothness == 0:
        return labels
    if n_classes == 2:
        return _expand(costs[0], costs[1], np.zeros_like(labels), 1, right, down).astype(np.int64)
    for _ in range(cycles):
        changed = False
        for alpha in range(n_classes):
            keep = np.take_along_axis(costs, labels[None], 0)[0]
            moved = _expand(keep, costs[alpha], labels, alpha, right, down)
            if moved.any() and (labels[moved] != alpha).any():
                labels = np.where(moved, alpha, labels)
                changed = True
        if not changed:
            break
    return labels


def _expand(
    keep: np.ndarray, take: np.ndarray, labels: np.ndarray, alpha: int, right: np.ndarray, down: np.ndarray
) -> np.ndarray:
    """The optimal alpha-expansion move (True: take ``alpha``) by one minimum cut.

    For an edge p -> q of weight w, with x = 1 meaning "take alpha": E(0, 0) = a = w [l_p != l_q],
    E(0, 1) = b = w [l_p != alpha], E(1, 0) = c = w [l_q != alpha], E(1, 1) = 0, written as
    a + (c - a) x_p - c x_q + (b + c - a) (1 - x_p) x_q (submodular: b + c >= a).
    """
    import maxflow

    height, width = labels.shape
    cost0, cost1 = keep.copy(), take.copy()  # cost of keeping the label / of taking alpha
    graph = maxflow.Graph[float](height * width, 2 * height * width)
    nodes = graph.add_grid_nodes((height, width))
    for axis, weight in ((1, right), (0, down)):
        first = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
        second = (slice(None), slice(1, None)) if axis == 1 else (slice(1, None), slice(None))
        lp, lq = labels[first], labels[second]
        a, b, c = weight * (lp != lq), weight * (lp != alpha), weight * (lq != alpha)
        cost1[first] += c - a
        cost1[second] -= c
        graph.add_edges(nodes[first].ravel(), nodes[second].ravel(), (b + c - a).ravel(), np.zeros(a.size))
    low = np.minimum(cost0, cost1)
    graph.add_grid_tedges(nodes, cost1 - low, cost0 - low)
    graph.maxflow()
    return graph.get_grid_segments(nodes)


def geodesic_costs(image: np.ndarray, targets: np.ndarray, n_classes: int, scale: float) -> np.ndarray:
    """(K, H, W) geodesic distance of every pixel to the strokes of each class, divided by ``scale``.

    The local cost of a step is 1 + the image's contrast there (its gradient magnitude over its
    mean), so distances grow slowly inside homogeneous regions and fast across edges.
    """
    from skimage.graph import MCP_Geometric

    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    gradient = np.sqrt(sum(dy**2 + dx**2 for dy, dx in (np.gradient(channel) for channel in data)))
    local = 1.0 + gradient / max(float(gradient.mean()), 1e-12)
    out = np.full((n_classes, *targets.shape), _HARD, np.float32)
    for k in range(n_classes):
        starts = np.argwhere(targets == k)
        if starts.size:
            distance, _ = MCP_Geometric(local).find_costs(starts)
            out[k] = np.minimum(distance / scale, _HARD)
    return out


def reached_share(labels: np.ndarray, targets: np.ndarray, n_classes: int) -> float:
    """The smallest share, over the classes, of a class's pixels in regions that hold a stroke of it.

    A class whose regions are all painted has 1; one of many separate objects (nuclei), few of
    which are painted, has a small share: distance to its strokes is then no evidence.

    Parameters
    ----------
    labels : numpy.ndarray
        (H, W) class indices.
    targets : numpy.ndarray
        (H, W) class index of painted pixels, -1 elsewhere.
    n_classes : int
        Number of classes.
    """
    from scipy import ndimage

    shares = []
    for k in range(n_classes):
        members = labels == k
        if not members.any():
            continue
        components, _ = ndimage.label(members, structure=np.ones((3, 3), bool))
        painted = np.unique(components[(targets == k) & members])
        shares.append(np.isin(components, painted[painted > 0]).sum() / members.sum())
    return float(min(shares, default=1.0))


def spatial_readout(
    features: np.ndarray,
    image: np.ndarray,
    targets: np.ndarray,
    n_classes: int,
    *,
    smoothness: float = 2.0,
    refits: int = 0,
    components: int = 8,
    shrinkage: float = 0.2,
    stroke_weight: float = 1.0,
    fit_pixels: int = 20000,
    geodesic: float = 1.0,
    geodesic_scale: float = 50.0,
    adaptive: bool = True,
    objects_share: float = 0.8,
    objects_shrinkage: float = 0.9,
    objects_components: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of every pixel from per-pixel features, scribbles and the image's edges.

    Fits the class model (:func:`fit_class_model`) on the painted pixels, solves the
    contrast-sensitive graph cut (:func:`graph_cut`) with the strokes fixed, then ``refits``
    times re-fits the class model on the regularised labels (of an even grid of about
    ``fit_pixels`` pixels plus the painted ones, which weigh ``1 + stroke_weight``) and solves
    again, as GrabCut does.

    Parameters
    ----------
    features : numpy.ndarray
        (Q, H, W) per-pixel features (the network's responses).
    image : numpy.ndarray
        (C, H, W) image whose colour differences weigh the edges.
    targets : numpy.ndarray
        (H, W) class index of painted pixels, -1 elsewhere; every class 0..``n_classes``-1
        should be painted somewhere.
    n_classes : int
        Number of classes.
    smoothness : float
        Weight of the pairwise term against the class model's negative log posteriors.
    refits : int
        Re-estimation rounds of the class model on its own regularised labels.
    components : int
        Most mixture components per class.
    shrinkage : float
        Covariance shrinkage of the discriminant.
    stroke_weight : float
        Extra weight of the painted pixels in the re-fits.
    fit_pixels : int
        About how many unpainted pixels the re-fits use.
    geodesic : float
        Weight of the geodesic distance to each class's strokes (:func:`geodesic_costs`).
    geodesic_scale : float
        Distance (in pixels of a flat region) that costs as much as one unit of evidence.
    adaptive : bool
        Measure :func:`reached_share` of the solution without the geodesic term. Below
        ``objects_share`` a class is made of many separate objects, most of them unpainted
        (nuclei in a microscope image): the class model is re-fitted with
        ``objects_components`` components and covariance shrinkage ``objects_shrinkage``,
        without geodesic term or re-fits,
        since strokes on a few objects describe the others poorly and distance to them is no
        evidence. Otherwise ``geodesic`` is scaled by the share.
    objects_share, objects_shrinkage, objects_components
        See ``adaptive`` (measured on the development sets, see ``docs/benchmarks.md``).

    Returns
    -------
    labels : numpy.ndarray
        (H, W) int64 class indices; painted pixels keep their class.
    weight, bias : numpy.ndarray
        A linear discriminant of the classes fitted on the final labels (see
        :func:`fit_discriminant`), to label images without strokes.
    """
    features = np.asarray(features, dtype=np.float32)
    targets = np.asarray(targets)
    if targets.shape != features.shape[1:] or image.shape[1:] != targets.shape:
        raise ValueError(
            f"features {features.shape}, image {image.shape} and targets {targets.shape} must share height and width"
        )
    weights = contrast_weights(image)
    painted = targets >= 0
    flat = features.reshape(features.shape[0], -1)
    model = fit_class_model(
        flat[:, painted.ravel()], targets[painted], n_classes, components=components, shrinkage=shrinkage
    )
    costs = model.costs(features)
    share = reached_share(graph_cut(costs, weights, targets, smoothness), targets, n_classes) if adaptive else 1.0
    if share < objects_share:  # many separate objects, most of them unpainted (nuclei): one linear discriminant
        model = fit_class_model(
            flat[:, painted.ravel()],
            targets[painted],
            n_classes,
            components=objects_components,
            shrinkage=objects_shrinkage,
        )
        costs, geodesic, refits = model.costs(features), 0.0, 0
    geodesic *= share
    near = geodesic * geodesic_costs(image, targets, n_classes, geodesic_scale) if geodesic else 0.0
    labels = graph_cut(costs + near, weights, targets, smoothness)
    step = max(1, int(np.sqrt(targets.size / fit_pixels)))
    grid = np.zeros(targets.shape, bool)
    grid[step // 2 :: step, step // 2 :: step] = True
    chosen = (grid | painted).ravel()
    sample_weight = np.where(painted.ravel()[chosen], 1.0 + stroke_weight, 1.0)
    for _ in range(refits):
        model = fit_class_model(
            flat[:, chosen],
            labels.ravel()[chosen],
            n_classes,
            components=components,
            sample_weight=sample_weight,
            shrinkage=shrinkage,
        )
        labels = graph_cut(model.costs(features) + near, weights, targets, smoothness)
    weight, bias = fit_discriminant(flat[:, chosen], labels.ravel()[chosen], n_classes, shrinkage=shrinkage)
    return labels, weight, bias


def local_correction(
    previous: np.ndarray, proposal: np.ndarray, strokes: np.ndarray, earlier: np.ndarray | None = None
) -> np.ndarray:
    """``previous`` with the regions of ``proposal`` that grow out of the new ``strokes``.

    A corrective stroke of class k fixes the region it is painted in and leaves the rest
    alone: of the pixels that ``proposal`` turns into k, only those 8-connected to a new
    stroke of k inside the regions of ``previous`` that the stroke lies in are taken
    (painted pixels always take their class).

    Parameters
    ----------
    previous, proposal : numpy.ndarray
        (H, W) labels before the strokes and a new solution with them.
    strokes : numpy.ndarray
        (H, W) labels of the pixels painted since ``previous``, 0 elsewhere.
    earlier : numpy.ndarray, optional
        (H, W) labels of the strokes painted before, 0 elsewhere. When the change would take
        pixels of a class c next to an earlier stroke of c (undoing what the user painted as
        c), it takes from c only the pixels nearer to the new stroke than to every earlier
        stroke of c, so a stroke at the border of an object cannot hand the object to the
        other side.
    """
    out = _grow(previous, proposal, strokes)
    if earlier is None:
        return out
    from scipy import ndimage

    allowed = np.ones(previous.shape, bool)
    contested = False
    for value in np.unique(strokes[strokes > 0]):
        to_new = None
        for old in np.unique(previous[(out == value) & (previous != value)]):
            taken = (previous == old) & (out == value)
            if not (ndimage.binary_dilation(taken, np.ones((3, 3), bool)) & (earlier == old)).any():
                continue
            if to_new is None:
                to_new = ndimage.distance_transform_edt(strokes != value)
            allowed &= ~taken | (to_new < ndimage.distance_transform_edt(earlier != old))
            contested = True
    return _grow(previous, np.where(allowed, proposal, previous), strokes) if contested else out


def _grow(previous: np.ndarray, proposal: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """:func:`local_correction` without earlier strokes: the pixels ``proposal`` turns into a new
    stroke's class, 8-connected to it inside the regions of ``previous`` it lies in."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    out = previous.copy()
    for value in np.unique(strokes[strokes > 0]):
        stroke = strokes == value
        region = np.zeros(previous.shape, bool)
        for old in np.unique(previous[stroke]):
            components, _ = ndimage.label(previous == old, structure=eight)
            touched = np.unique(components[stroke])
            region |= np.isin(components, touched[touched > 0])
        grown = (region & (proposal == value)) | stroke
        components, _ = ndimage.label(grown, structure=eight)
        touched = np.unique(components[stroke])
        out[np.isin(components, touched[touched > 0])] = value
    return out
