"""The infarct core and the peri-infarct grey zone: the scar split by how bright it is.

Both definitions of the literature are measured, each inside the scar the segmentation found
(labels 3 and 4, whichever method drew it), with the remote myocardium of the n-SD method:

- "sd", a band above remote myocardium (mean m, SD s): core where the signal is above m + 3 s,
  grey zone from m + 2 s to m + 3 s (Yokota et al., J Cardiovasc Magn Reson 2008;10:17).
- "max", a band relative to the infarct's maximum signal: core at or above half the maximum,
  grey zone from the peak signal of remote myocardium to half the maximum (Yan et al.,
  Circulation 2006;114:32-39; Schmidt et al., Circulation 2007;115:2006-2014). As in this
  package's FWHM threshold, "half" is measured from the remote mean, which is the classic 50 %
  when healthy myocardium is nulled to 0 and stays right for PSIR or rescaled images; the maximum
  and the remote peak are 99th percentiles, robust to one noisy voxel.

MVO, dark because no contrast reaches it, is core in both. Scar dimmer than the band's lower edge
is neither core nor grey zone, so core plus grey zone may be less than the scar.
"""

from dataclasses import dataclass

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError

from .quantify import MYOCARDIUM_DENSITY_G_PER_ML
from .thresholds import find_remote_myocardium

DEFINITIONS = ("sd", "max")
OUTSIDE, CORE, GREY_ZONE = 0, 1, 2
ZONE_NAMES = {CORE: "Infarct core", GREY_ZONE: "Grey zone"}


@dataclass
class ScarZones:
    """Core and grey zone of one definition: `zones` [z, y, x] holds OUTSIDE, CORE or GREY_ZONE."""

    definition: str
    zones: np.ndarray
    lower_edge: float = None  # signal where the grey zone starts (None without scar)
    core_threshold: float = None  # signal where the core starts


def _band(definition, scar_values, remote_values):
    """(grey zone's lower edge, core threshold) in image signal."""
    mean, sd = float(remote_values.mean()), float(remote_values.std(ddof=1))
    if definition == "sd":
        return mean + 2 * sd, mean + 3 * sd
    maximum = float(np.percentile(scar_values, 99))
    return float(np.percentile(remote_values, 99)), mean + 0.5 * (maximum - mean)


def split_scar(image, labels, definition="sd", remote=None):
    """ScarZones of `labels` (a label Volume on `image`'s grid, slices along array axis 0).

    `remote`: boolean array of remote myocardium (the threshold's), found from the labels when None.
    """
    if definition not in DEFINITIONS:
        raise InputError(f"Unknown grey-zone definition '{definition}'; use one of {', '.join(DEFINITIONS)}.")
    array = np.asarray(labels.array)
    scar, mvo = array == L.SCAR, array == L.MVO
    zones = np.zeros(array.shape, dtype=np.uint8)
    if not scar.any():
        zones[mvo] = CORE
        return ScarZones(definition, zones)
    if remote is None:
        remote = find_remote_myocardium(image, labels)
    remote = np.asarray(remote, dtype=bool) & L.lv_myocardium(array) & ~L.scar(array)
    values = np.asarray(image.array, dtype=np.float64)
    if remote.sum() < 2:
        raise InputError("The grey zone needs remote (healthy) myocardium to compare with; none was found.")
    lower, upper = _band(definition, values[scar], values[remote])
    zones[scar & (values > lower)] = GREY_ZONE
    zones[scar & (values > upper)] = CORE
    zones[mvo] = CORE
    return ScarZones(definition, zones, lower, upper)


def zone_metrics(labels, zones):
    """Flat metrics of one ScarZones: volumes (mL), masses (g) and % of the LV myocardium."""
    voxel_ml = labels.voxel_volume_ml
    myocardium_ml = float(L.lv_myocardium(np.asarray(labels.array)).sum()) * voxel_ml
    metrics = {}
    for zone, name in ((CORE, "infarct_core"), (GREY_ZONE, "grey_zone")):
        volume = float((zones.zones == zone).sum()) * voxel_ml
        key = f"{name}_{zones.definition}"
        metrics[f"{key}_volume_ml"] = volume
        metrics[f"{key}_mass_g"] = volume * MYOCARDIUM_DENSITY_G_PER_ML
        metrics[f"{key}_percent"] = 100.0 * volume / myocardium_ml if myocardium_ml > 0 else 0.0
    return metrics


def zone_summary(zones):
    """JSON-ready thresholds of one ScarZones."""
    def rounded(value):
        return None if value is None else round(float(value), 4)
    return {"lower_edge": rounded(zones.lower_edge), "core_threshold": rounded(zones.core_threshold)}


def measure_zones(image, labels, remote=None):
    """({definition: ScarZones}, flat metrics of both, their thresholds) for a segmentation."""
    if remote is None and (np.asarray(labels.array) == L.SCAR).any():
        remote = find_remote_myocardium(image, labels)  # found once for both definitions
    found = {definition: split_scar(image, labels, definition, remote) for definition in DEFINITIONS}
    metrics = {}
    for zones in found.values():
        metrics.update(zone_metrics(labels, zones))
    return found, metrics, {definition: zone_summary(zones) for definition, zones in found.items()}
