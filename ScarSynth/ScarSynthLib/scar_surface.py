"""The LV wall as a cylinder of cells (slice level x angle bin), on which scar footprints grow.

A scar footprint is the patch of endocardial surface a scar covers. It is grown on a coarse grid of
cells: one row per slice holding myocardium, one column per angular bin around the slice's blood
pool centre (the myocardium centre in the apical cap). Distances on the grid are scale-free (the
circumference counts 1, the long axis about half of that), so bogus voxel spacings in exported
files do not change the shape of a scar. Each scar pattern then decides which depths of the wall
under the footprint become scar (see scar_patterns.py).
"""

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

ANGLE_BINS = 72  # 5-degree cells
LONG_AXIS_LENGTH = 0.5  # the long axis, measured in circumferences
DISTAL_BIAS = 0.5  # how strongly a partial-extent infarct prefers the apical end


@dataclass
class WallGrid:
    """Cells of the LV wall: `level`/`angle_bin` of every myocardium voxel (-1 elsewhere)."""

    level: np.ndarray  # [z, y, x] int, slice level of the voxel's cell, -1 outside the myocardium
    angle_bin: np.ndarray  # [z, y, x] int, angular bin of the voxel's cell, -1 outside
    slices: np.ndarray  # slice index (z) of each level
    n_bins: int = ANGLE_BINS

    @property
    def n_levels(self):
        return len(self.slices)

    def cell_index(self, mask):
        """Flat cell indices (level * n_bins + bin) of the voxels in `mask`."""
        return self.level[mask] * self.n_bins + self.angle_bin[mask]

    def cell_counts(self, mask):
        """Voxel count of `mask` per cell, as a (n_levels, n_bins) array."""
        counts = np.bincount(self.cell_index(mask), minlength=self.n_levels * self.n_bins)
        return counts.reshape(self.n_levels, self.n_bins)

    def to_voxels(self, cell_values, mask):
        """Value of each voxel's cell, for the voxels in `mask` (a 1D array in mask order)."""
        return np.asarray(cell_values).ravel()[self.cell_index(mask)]


def wall_grid(myocardium, blood_pool, n_bins=ANGLE_BINS):
    """Assign every myocardium voxel to a cell: its slice level and its angle around the LV centre."""
    slices = np.flatnonzero(myocardium.any(axis=(1, 2)))
    level = np.full(myocardium.shape, -1, dtype=np.int32)
    angle_bin = np.full(myocardium.shape, -1, dtype=np.int32)
    rows, cols = np.indices(myocardium.shape[1:])
    for rank, z in enumerate(slices):
        centre_mask = blood_pool[z] if blood_pool[z].any() else myocardium[z]
        cy, cx = ndimage.center_of_mass(centre_mask)
        inside = myocardium[z]
        angle = np.arctan2(rows[inside] - cy, cols[inside] - cx)
        bins = np.floor((angle + np.pi) / (2 * np.pi) * n_bins).astype(np.int32) % n_bins
        level[z][inside] = rank
        angle_bin[z][inside] = bins
    return WallGrid(level, angle_bin, slices, n_bins)


def cell_graph(cells):
    """Sparse adjacency of the True cells of a (levels, bins) grid; angle wraps around.

    Edge weights are distances in circumferences: one bin is 1/n_bins, one level is
    LONG_AXIS_LENGTH / n_levels.
    """
    n_levels, n_bins = cells.shape
    index = np.arange(cells.size).reshape(cells.shape)
    rows, cols, weights = [], [], []
    around = (index, np.roll(index, -1, axis=1), 1.0 / n_bins)
    along = (index[:-1], index[1:], LONG_AXIS_LENGTH / max(n_levels, 1))
    for a, b, weight in (around, along):
        keep = cells.ravel()[a.ravel()] & cells.ravel()[b.ravel()]
        rows.append(a.ravel()[keep])
        cols.append(b.ravel()[keep])
        weights.append(np.full(keep.sum(), weight))
    rows, cols, weights = (np.concatenate(x) for x in (rows, cols, weights))
    return coo_matrix((weights, (rows, cols)), shape=(cells.size, cells.size)).tocsr()


def components(cells):
    """Connected groups of True cells: a list of boolean (levels, bins) arrays, largest first."""
    count, label = connected_components(cell_graph(cells), directed=False)
    label = label.reshape(cells.shape)
    groups = [cells & (label == k) for k in range(count)]
    groups = [g for g in groups if g.any()]
    return sorted(groups, key=lambda g: -g.sum())


def geodesic_distance(cells, sources):
    """Distance (circumferences) from the `sources` cells to every cell, moving through `cells`."""
    graph = cell_graph(cells)
    distance = dijkstra(graph, directed=False, indices=np.flatnonzero(sources), min_only=True)
    return distance.reshape(cells.shape)


def smooth_noise(shape, rng, sigma_bins=4.0):
    """Zero-mean, unit-deviation random field on the cell grid, smooth over a few cells."""
    noise = rng.standard_normal(shape)
    sigma = (min(1.0, sigma_bins / 4.0), sigma_bins)
    noise = ndimage.gaussian_filter(noise, sigma, mode=("nearest", "wrap"))
    return (noise - noise.mean()) / (noise.std() + 1e-12)


def edge_distance(footprint):
    """Distance (circumferences) from each footprint cell to the footprint's circumferential edge.

    Only the sides across the angle count as edges: a footprint that reaches the base or apex ends
    there with full thickness, like a real infarct reaching the end of the stack.
    """
    outside_around = ~footprint & (np.roll(footprint, 1, axis=1) | np.roll(footprint, -1, axis=1))
    if not outside_around.any():  # the footprint goes all the way round
        return np.where(footprint, np.inf, np.nan)
    reach = footprint | outside_around
    distance = geodesic_distance(reach, outside_around)
    return np.where(footprint, distance, np.nan)


def grow_footprint(selected, weights, extent, rng, apicalness=None, noise=0.15):
    """Grow a connected patch covering `extent` (0..1] of the `selected` cells' voxel weight.

    The patch starts near the middle of the selection and spreads outwards along the wall; smooth
    noise on the distance makes its border irregular. `apicalness` (per level, 0 base .. 1 apex)
    makes it favour the apical end: myocardium further down an occluded artery dies first, so
    infarcts are distal-heavy. Returns (footprint cells, seed distance normalised 0..1 over the
    footprint).
    """
    distal = np.zeros(selected.shape)
    if apicalness is not None:
        distal += np.asarray(apicalness, dtype=float)[:, None]
    eccentricity = _eccentricity(selected)
    central = selected & (eccentricity <= np.nanpercentile(eccentricity[selected], 50))
    candidates = np.flatnonzero(central)
    preference = 0.1 + distal.ravel()[candidates] ** 2
    seed = np.zeros(selected.shape, dtype=bool)
    seed.flat[rng.choice(candidates, p=preference / preference.sum())] = True
    distance = geodesic_distance(selected, seed)
    scale = np.max(distance[selected]) or 1.0
    score = distance / scale + DISTAL_BIAS * (1.0 - distal) + noise * smooth_noise(selected.shape, rng)
    score = np.where(selected, score, np.inf)
    if extent >= 1.0:
        footprint = selected.copy()
    else:
        footprint = _flood(selected, weights, score, extent)
    spread = np.where(footprint, distance, np.nan)
    spread = spread / (np.nanmax(spread) or 1.0)
    return footprint, spread


def _flood(selected, weights, score, extent):
    """Grow from the lowest-score cell, always taking the lowest-score neighbour next, until the
    patch holds `extent` of the selection's voxel weight (so it is one piece, of the right size)."""
    n_levels, n_bins = selected.shape
    target = extent * weights[selected].sum()
    start = np.unravel_index(np.argmin(score), score.shape)
    footprint = np.zeros(selected.shape, dtype=bool)
    frontier, covered = [(score[start], start)], 0.0
    while frontier and covered < target:
        _, (level, angle) = heapq.heappop(frontier)
        if footprint[level, angle]:
            continue
        footprint[level, angle] = True
        covered += weights[level, angle]
        for nl, na in ((level - 1, angle), (level + 1, angle),
                       (level, (angle - 1) % n_bins), (level, (angle + 1) % n_bins)):
            if 0 <= nl < n_levels and selected[nl, na] and not footprint[nl, na]:
                heapq.heappush(frontier, (score[nl, na], (nl, na)))
    return footprint


def _eccentricity(cells):
    """Per cell, the largest geodesic distance to any other cell of its group (small = central)."""
    graph = cell_graph(cells)
    index = np.flatnonzero(cells)
    distance = dijkstra(graph, directed=False, indices=index)[:, index]
    distance[~np.isfinite(distance)] = 0.0
    result = np.full(cells.shape, np.nan)
    result.flat[index] = distance.max(axis=1)
    return result


def patchy_footprint(selected, weights, extent, rng):
    """Several separate patches covering about `extent` of the selected cells' voxel weight."""
    field = np.where(selected, smooth_noise(selected.shape, rng, sigma_bins=2.5), -np.inf)
    order = np.argsort(-field, axis=None)
    covered = np.cumsum(weights.ravel()[order]) / weights[selected].sum()
    take = order[: int(np.searchsorted(covered, extent)) + 1]
    footprint = np.zeros(selected.shape, dtype=bool)
    footprint.flat[take] = True
    footprint &= selected
    return footprint, np.where(footprint, 0.0, np.nan)
