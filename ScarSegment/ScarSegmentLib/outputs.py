"""Writing a segmentation's files: labels, probabilities and metrics, on the input grid."""

import json
import math
from pathlib import Path


def json_ready(value):
    """`value` with NaN and infinities replaced by None, so json.dumps writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_segmentation(result, folder, extra=None):
    """labels.nii.gz, grey_zone_sd.nii.gz and grey_zone_max.nii.gz (1 infarct core, 2 grey zone, by
    each definition), probabilities.nii.gz (when present) and metrics.json into `folder`."""
    from LGECore.io import write_volume

    write_volume(result.labels, Path(folder) / "labels.nii.gz")
    for definition, zones in result.zones.items():
        write_volume(result.labels.with_array(zones.zones), Path(folder) / f"grey_zone_{definition}.nii.gz")
    if result.probabilities is not None:
        write_probabilities(result.probabilities, result.labels, Path(folder) / "probabilities.nii.gz")
    document = {**(extra or {}), **result.metrics, "warnings": result.warnings}
    (Path(folder) / "metrics.json").write_text(json.dumps(json_ready(document), indent=2) + "\n")


def write_probabilities(probabilities, grid, path):
    """A 5-component image on the labels' grid: component c = probability of label c."""
    import numpy as np
    import SimpleITK as sitk

    array = np.moveaxis(np.asarray(probabilities, dtype=np.float32), 0, -1)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=True)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(tuple(grid.direction.ravel()))
    sitk.WriteImage(image, str(path), useCompression=True)
