"""One call that segments an LGE volume by any method and quantifies the result.

Methods: "dl" (the deep network: blood pool, myocardium, scar, MVO), "nsd" (n SD above remote
myocardium) and "fwhm" (full width at half maximum). The threshold methods need an LV
myocardium: a label map the caller gives, else the network's.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from AHABullseyeLib.orientation import orientation_warnings
from LGECore.errors import InputError
from LGECore.io import check_geometry, check_image
from LGECore.progress import quiet
from LGECore.volume import slices_first

from .grey_zone import measure_zones
from .presence import scar_presence
from .quantify import quantify_scar
from .request import METHODS
from .thresholds import check_remote_shape, fwhm_scar, nsd_scar

METHOD_NAMES = {"dl": "deep network", "nsd": "n-SD threshold", "fwhm": "FWHM threshold"}


@dataclass
class Segmentation:
    """Labels on the input grid, the network's probabilities (dl only), metrics and warnings."""

    labels: object  # Volume, uint8, project label numbers
    probabilities: object = None  # float32 (5, z, y, x) or None
    metrics: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    zones: dict = field(default_factory=dict)  # grey_zone.ScarZones by definition


def spacing_warnings(image):
    """Warnings about a voxel spacing that is probably not physical."""
    if image.spacing_is_placeholder:
        return [
            "Spacing assumed: the image header says 1 x 1 x 1 mm voxels, which is rarely physical "
            "for cardiac MRI; volumes and masses use that spacing (give the true spacing with "
            "--spacing)."]
    return []


def on_axes(result, order):
    """`result` with its labels and probabilities transposed by `order` (as numpy.transpose)."""
    probabilities = result.probabilities
    if probabilities is not None:
        probabilities = np.ascontiguousarray(np.transpose(probabilities, (0,) + tuple(a + 1 for a in order)))
    zones = {name: replace(found, zones=np.ascontiguousarray(np.transpose(found.zones, order)))
             for name, found in result.zones.items()}
    return Segmentation(result.labels.transposed(order), probabilities, result.metrics, result.warnings, zones)


def _run_network(image, device, weights, report):
    """(network result, description of the weights used)."""
    try:
        from .inference import segment_dl
        from .segmenter import find_entry
    except ImportError as error:
        raise InputError(f"The deep segmentation model is not available here ({error}).") from None
    entry = find_entry(weights)
    path = Path(entry["path"])
    used = f"{entry.get('name', path.stem)} ({path.name}, sha256 {str(entry.get('sha256'))[:12]})"
    report(0.1, f"deep network {entry.get('name', path.stem)}: segmenting")
    result = segment_dl(image, weights=weights, device=device, progress=report is not quiet, checked=True)
    return result, used


def check_segment_inputs(image, method="dl", myocardium=None, remote=None):
    """InputError for inputs `segment` cannot work on; the image's values are checked here once."""
    if method not in METHODS:
        raise InputError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    check_image(image)
    check_geometry(image)
    if myocardium is not None:
        image.check_same_grid(myocardium, what="myocardium label map")
        if method == "dl":
            raise InputError("A given myocardium is used by the nsd and fwhm methods only, not dl.")
    if remote is not None and method == "dl":
        raise InputError("A remote-myocardium region is used by the nsd and fwhm methods only.")
    if remote is not None:
        check_remote_shape(remote, image)


def segment(image, method="dl", n_sd=5.0, myocardium=None, remote=None, device=None,
            weights=None, progress=None):
    """Segment `image` (a Volume) and quantify it; returns a Segmentation.

    `myocardium`: label Volume on the image grid (nsd/fwhm only; the network's when None).
    `remote`: optional boolean array [z, y, x] of remote myocardium (nsd/fwhm only).
    `progress`: callable(fraction 0..1, message), or None for silence.
    """
    check_segment_inputs(image, method, myocardium, remote)
    return segment_checked(image, method, n_sd, myocardium, remote, device, weights, progress)


def segment_checked(image, method="dl", n_sd=5.0, myocardium=None, remote=None, device=None,
                    weights=None, progress=None):
    """`segment` on inputs that check_segment_inputs has passed (as `run` does once for all)."""
    if image.slices_first_order() != (0, 1, 2):
        # The threshold methods and the per-slice counts go slice by slice along the first array
        # axis: work on the same voxels with the slices there, and answer on the input's axes.
        (image, myocardium, remote), back = slices_first(image, myocardium, remote)
        return on_axes(segment_checked(image, method, n_sd, myocardium, remote, device, weights, progress), back)
    report = progress or quiet
    warnings = spacing_warnings(image) + orientation_warnings(image.direction)
    info = {"method": method, "method_name": METHOD_NAMES[method]}
    probabilities, remote_found = None, None
    if method == "dl" or myocardium is None:
        network, info["weights"] = _run_network(image, device, weights, report)
        warnings += list(getattr(network, "notes", []))
        probabilities, labels = network.probabilities, network.labels
        if method != "dl":
            info["myocardium_source"] = "deep network"
            myocardium = labels
    else:
        info["myocardium_source"] = "given"
    if method != "dl":
        report(0.6, f"{METHOD_NAMES[method]}: finding remote myocardium and thresholding")
        result = (nsd_scar(image, myocardium, n_sd=n_sd, remote=remote) if method == "nsd"
                  else fwhm_scar(image, myocardium, remote=remote))
        info["threshold"] = result.summary()
        labels, remote_found = result.labels, result.remote_mask
        probabilities = None  # the network's probabilities do not describe a threshold's labels
    report(0.9, "quantifying")
    zones, zone_metrics, zone_thresholds = measure_zones(image, labels, remote_found)
    metrics = {**info, **quantify_scar(labels), **zone_metrics, "grey_zone_thresholds": zone_thresholds}
    if probabilities is not None:  # the network's own labels: how sure it is that there is scar at all
        metrics["scar_presence"] = scar_presence(probabilities, labels.array)
    report(1.0, "done")
    return Segmentation(labels, probabilities, metrics, warnings, zones)
