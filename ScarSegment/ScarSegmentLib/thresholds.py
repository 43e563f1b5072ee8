"""Clinical scar thresholds on a given LV myocardium: n-SD above remote myocardium, and FWHM.

Both methods label only voxels inside the given myocardium, so scar never leaks into the blood
pool or outside the heart. MVO is found afterwards as a dark core enclosed by scar.

The remote (healthy, nulled) myocardium is found automatically unless the caller gives it. The
rule, per short-axis slice with a blood pool:
  - split the myocardial ring into 12 sectors of 30 degrees around the blood-pool centroid;
  - slide a window of 3 contiguous sectors (90 degrees) around the ring and keep the window with
    the lowest median intensity: in LGE, healthy myocardium is nulled (dark) and scar is bright,
    so the darkest contiguous part of the wall is the best guess of remote myocardium;
  - across the stack, drop windows whose median is an outlier (more than 3 median absolute
    deviations above the median of all windows; e.g. a slice where the whole ring is enhanced or
    partial volume at the base), so the remote region is dark and has a low variance.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.volume import slices_first, turned

N_SECTORS = 12
WINDOW_SECTORS = 3
MIN_REMOTE_VOXELS = 10
MIN_ISLAND_AREA_MM2 = 10.0


@dataclass
class ThresholdResult:
    """Labels (project numbers, on the input grid) and what the threshold was made of."""

    labels: object  # Volume, uint8
    method: str
    threshold: float
    remote_mean: float
    remote_sd: float
    remote_voxels: int
    remote_mask: np.ndarray  # bool [z, y, x]
    details: dict = field(default_factory=dict)

    def summary(self):
        """JSON-ready description of the threshold and the remote region."""
        return {
            "method": self.method,
            "threshold": round(float(self.threshold), 4),
            "remote_mean": round(float(self.remote_mean), 4),
            "remote_sd": round(float(self.remote_sd), 4),
            "remote_voxels": int(self.remote_voxels),
            **self.details,
        }


def _is_mask(array):
    return array.dtype == bool or set(np.unique(array).tolist()) <= {0, 1}


def _myocardium_and_pool(myocardium):
    """(myocardium mask, blood-pool mask) from a label Volume or a boolean mask Volume.

    With a bare mask the blood pool is taken as the cavity the myocardial ring encloses.
    """
    array = np.asarray(myocardium.array)
    if _is_mask(array):
        myo = array.astype(bool)
        cavity = np.stack([ndimage.binary_fill_holes(ring) for ring in myo]) & ~myo
        return myo, cavity
    labels = L.check_label_array(array, name="myocardium label map")
    return L.lv_myocardium(labels), labels == L.BLOOD_POOL


def _check_inputs(image, myocardium):
    image.check_same_grid(myocardium, what="myocardium label map")
    array = image.array
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputError("The image contains NaN or infinite values.")


def _slice_angles(mask_slice, centre):
    rows, cols = np.nonzero(mask_slice)
    return np.arctan2(rows - centre[0], cols - centre[1]), rows, cols


def find_remote_myocardium(image, myocardium):
    """Boolean mask [z, y, x] of remote (healthy, dark) myocardium, by the rule in the module doc.

    `myocardium` is a label Volume (project numbers) or a boolean mask Volume on the image grid.
    """
    _check_inputs(image, myocardium)
    myo, pool = _myocardium_and_pool(myocardium)
    values = image.array.astype(np.float64)
    windows = []  # (slice index, median, rows, cols)
    for z in range(myo.shape[0]):
        if myo[z].sum() < MIN_REMOTE_VOXELS:
            continue
        centre_mask = pool[z] if pool[z].any() else myo[z]
        centre = ndimage.center_of_mass(centre_mask)
        angles, rows, cols = _slice_angles(myo[z], centre)
        sector = ((angles + np.pi) / (2 * np.pi) * N_SECTORS).astype(int) % N_SECTORS
        best = None
        for start in range(N_SECTORS):
            chosen = np.isin(sector, [(start + k) % N_SECTORS for k in range(WINDOW_SECTORS)])
            if chosen.sum() < MIN_REMOTE_VOXELS:
                continue
            median = float(np.median(values[z, rows[chosen], cols[chosen]]))
            if best is None or median < best[0]:
                best = (median, rows[chosen], cols[chosen])
        if best is not None:
            windows.append((z,) + best)
    remote = np.zeros(myo.shape, dtype=bool)
    if not windows:
        raise InputError(
            "No remote myocardium found: the myocardium is too small "
            f"(fewer than {MIN_REMOTE_VOXELS} voxels in every slice).")
    medians = np.array([w[1] for w in windows])
    centre, spread = np.median(medians), np.median(np.abs(medians - np.median(medians)))
    for z, median, rows, cols in windows:
        if median <= centre + 3 * max(spread, 1e-6 * max(abs(centre), 1.0)):
            remote[z, rows, cols] = True
    return remote


def check_remote_shape(remote, image):
    """Refuse a remote region whose array shape is not the image's."""
    if np.shape(remote) != image.shape:
        raise InputError(f"The remote region has shape {np.shape(remote)}; the image has {image.shape}.")


def _remote_statistics(image, myo, remote):
    if remote is None:
        raise InputError("No remote myocardium given.")
    check_remote_shape(remote, image)
    remote = np.asarray(remote, dtype=bool)
    remote = remote & myo
    if remote.sum() < MIN_REMOTE_VOXELS:
        raise InputError(
            f"The remote myocardium holds {int(remote.sum())} voxels inside the myocardium; "
            f"at least {MIN_REMOTE_VOXELS} are needed for a mean and SD.")
    values = image.array[remote].astype(np.float64)
    return remote, float(values.mean()), float(values.std(ddof=1))


def remove_small_islands(mask, spacing, min_area_mm2=MIN_ISLAND_AREA_MM2):
    """Drop 2D connected pieces (per slice, 8-connected) smaller than `min_area_mm2`."""
    pixel_area = float(spacing[0]) * float(spacing[1])
    min_pixels = max(1, int(np.ceil(min_area_mm2 / pixel_area)))
    cleaned = np.zeros_like(mask, dtype=bool)
    structure = np.ones((3, 3), dtype=bool)
    for z in range(mask.shape[0]):
        if not mask[z].any():
            continue
        pieces, count = ndimage.label(mask[z], structure=structure)
        sizes = np.bincount(pieces.ravel(), minlength=count + 1)
        keep = sizes >= min_pixels
        keep[0] = False
        cleaned[z] = keep[pieces]
    return cleaned


def find_mvo(scar, myo, pool):
    """MVO: myocardium that is not scar but lies fully enclosed by scar (per slice).

    Microvascular obstruction is the dark core of an infarct; it often touches the endocardium, so
    the blood pool counts as part of the enclosure. A region reachable from outside the
    scar-plus-pool area (healthy wall connected around the ring) is not enclosed.
    """
    mvo = np.zeros_like(scar, dtype=bool)
    for z in range(scar.shape[0]):
        if not scar[z].any():
            continue
        wall = scar[z] | pool[z]
        enclosed = ndimage.binary_fill_holes(wall) & ~wall
        mvo[z] = enclosed & myo[z] & ~scar[z]
    return mvo


def _labels_from_masks(myocardium, myo, pool, scar, mvo):
    """Project labels: keep blood pool / RV from the given labels, split the myocardium."""
    array = np.asarray(myocardium.array)
    if _is_mask(array):
        labels = np.zeros(myo.shape, dtype=np.uint8)
    else:
        labels = L.check_label_array(array).copy()
    labels[myo] = L.MYOCARDIUM
    labels[scar & myo] = L.SCAR
    labels[mvo & myo] = L.MVO
    return myocardium.with_array(labels)


def _finish(image, myocardium, myo, pool, raw_scar, with_mvo, min_island_mm2):
    scar = remove_small_islands(raw_scar & myo, image.spacing, min_island_mm2)
    mvo = find_mvo(scar, myo, pool) if with_mvo else np.zeros_like(scar)
    return _labels_from_masks(myocardium, myo, pool, scar, mvo)


def _myocardium_and_remote(image, myocardium, remote):
    """Checked inputs, the myocardium and pool masks, and the remote region with its mean and SD
    (found automatically when `remote` is None, which the last value says)."""
    _check_inputs(image, myocardium)
    myo, pool = _myocardium_and_pool(myocardium)
    if not myo.any():
        raise InputError("The myocardium is empty: nothing to threshold.")
    automatic = remote is None
    if automatic:
        remote = find_remote_myocardium(image, myocardium)
    remote, mean, sd = _remote_statistics(image, myo, remote)
    return myo, pool, remote, mean, sd, automatic


def _on_slices_first(run, image, myocardium, remote):
    """`run(image, myocardium, remote)` with the slices on array axis 0, where the per-slice steps
    (remote sectors, island areas, MVO cores) take them; its result comes back on the input's axes."""
    if image.slices_first_order() == (0, 1, 2):
        return run(image, myocardium, remote)
    # Checked before turning, so that errors name the shapes as given.
    image.check_same_grid(myocardium, what="myocardium label map")
    if remote is not None:
        check_remote_shape(remote, image)
    (image, myocardium, remote), back = slices_first(image, myocardium, remote)
    result = run(image, myocardium, remote)
    return replace(result, labels=turned(result.labels, back), remote_mask=turned(result.remote_mask, back))


def nsd_scar(image, myocardium, n_sd=5.0, remote=None, mvo=True, min_island_mm2=MIN_ISLAND_AREA_MM2):
    """Scar = myocardium brighter than remote mean + n_sd x remote SD (n_sd 2, 3, 5 or 6 usually).

    `myocardium`: label Volume (project numbers; blood pool 1 is kept and used for the centroid)
    or boolean mask Volume, on the image grid, whose slices may lie along any array axis.
    `remote`: optional boolean array on the image's array axes; found automatically when None.
    Returns a ThresholdResult whose labels and remote mask are on the input grid.
    """
    if not np.isfinite(n_sd) or n_sd <= 0:
        raise InputError(f"The number of SDs must be positive; got {n_sd}.")
    return _on_slices_first(
        lambda image, myocardium, remote: _nsd(image, myocardium, remote, n_sd, mvo, min_island_mm2),
        image, myocardium, remote)


def _nsd(image, myocardium, remote, n_sd, mvo, min_island_mm2):
    myo, pool, remote, mean, sd, automatic = _myocardium_and_remote(image, myocardium, remote)
    threshold = mean + n_sd * sd
    labels = _finish(image, myocardium, myo, pool, image.array > threshold, mvo, min_island_mm2)
    return ThresholdResult(labels, f"{n_sd:g}-SD", threshold, mean, sd, int(remote.sum()), remote,
                           {"n_sd": float(n_sd), "remote": "automatic" if automatic else "given"})


def fwhm_scar(image, myocardium, remote=None, mvo=True, min_island_mm2=MIN_ISLAND_AREA_MM2,
              baseline="remote"):
    """Full width at half maximum: scar = myocardium at or above half the maximal scar signal.

    The maximum is the 99th percentile of the brightest connected enhanced region (myocardium above
    remote mean + 2 SD), which is robust to single noisy voxels. With no such region (no
    enhancement) the result has no scar instead of labelling half the healthy wall.
    `baseline`: "remote" takes the half maximum above the remote-myocardium mean,
    remote + (max - remote) / 2, which is the classic max / 2 when healthy myocardium is nulled
    to 0 but stays right for images with an intensity offset (PSIR, rescaled exports);
    "zero" is the classic max / 2.
    """
    if baseline not in ("remote", "zero"):
        raise InputError(f"Unknown FWHM baseline '{baseline}'; use 'remote' or 'zero'.")
    return _on_slices_first(
        lambda image, myocardium, remote: _fwhm(image, myocardium, remote, mvo, min_island_mm2, baseline),
        image, myocardium, remote)


def _fwhm(image, myocardium, remote, mvo, min_island_mm2, baseline):
    myo, pool, remote, mean, sd, automatic = _myocardium_and_remote(image, myocardium, remote)
    values = image.array.astype(np.float64)
    enhanced = remove_small_islands(myo & (values > mean + 2 * sd), image.spacing, min_island_mm2)
    details = {"remote": "automatic" if automatic else "given"}
    if not enhanced.any():
        threshold = float(values[myo].max()) + 1.0
        details["note"] = "no enhanced region brighter than remote mean + 2 SD: no scar"
        raw = np.zeros_like(myo)
    else:
        pieces, _ = ndimage.label(enhanced)
        brightest = pieces == pieces.flat[np.argmax(np.where(enhanced, values, -np.inf))]
        maximum = float(np.percentile(values[brightest], 99))
        base = mean if baseline == "remote" else 0.0
        threshold = base + 0.5 * (maximum - base)
        details.update(maximum=round(maximum, 4), baseline=baseline)
        raw = values >= threshold
    labels = _finish(image, myocardium, myo, pool, raw, mvo, min_island_mm2)
    return ThresholdResult(labels, "FWHM", threshold, mean, sd, int(remote.sum()), remote, details)
