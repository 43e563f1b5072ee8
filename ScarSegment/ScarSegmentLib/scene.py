"""MRML side of ScarSegment: volume node in, segmentation node and measurement table out.

Imports slicer (through LGECore.scene), never qt, so it runs inside Slicer and on the
slicer-core wheel alike. Two ways to run:
  - `segment_volume_node`: in this process (tests, scripts, small images);
  - `segment_in_background`: `export_inputs` + `segment_command` + `import_outputs`, the command
    run as a separate process (so Slicer never freezes and Cancel can stop it); the panel uses it.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from LGECore import labels as L
from LGECore import scene as S
from LGECore import scene_tables as T
from LGECore.background import lib_environment, python_executable, run_in_background
from LGECore.errors import InputError, WeightsError
from LGECore.io import read_labels, write_volume

from .grey_zone import CORE, DEFINITIONS, GREY_ZONE, ScarZones
from .presence import presence_rows
from .quantify import measurement_rows
from .segment import Segmentation, segment

IMAGE_FILE = "input.nrrd"
MYOCARDIUM_FILE = "myocardium.nrrd"
REMOTE_FILE = "remote.nrrd"


def labels_of_node(node, reference):
    """Project labels on `reference`'s grid from a segmentation or label-map node."""
    if node is None:
        return None
    if node.IsA("vtkMRMLSegmentationNode"):
        return S.segmentation_node_to_labels(node, reference)
    return S.labelmap_node_to_labels(node, reference)


def mask_of_node(node, reference):
    """A 0/1 uint8 Volume on `reference`'s grid: all segments of a segmentation node together
    (whatever their names), or the non-zero voxels of a label-map node."""
    if node is None:
        return None
    if node.IsA("vtkMRMLSegmentationNode"):
        return S.segmentation_node_to_mask(node, reference)
    volume = S.volume_from_node(node)
    reference.check_same_grid(volume, f"mask '{node.GetName()}'")
    return volume.with_array((volume.array != 0).astype(np.uint8))


def segment_volume_node(volume_node, scene, method="dl", n_sd=5.0, myocardium_node=None,
                        remote_node=None, device=None, weights=None, segmentation_node=None,
                        table_node=None, progress=None):
    """Segment a volume node in this process; returns (segmentation node, table node, Segmentation).

    `remote_node`: optional remote myocardium (nsd/fwhm only), see `mask_of_node`.
    """
    image = S.volume_from_node(volume_node)
    remote = mask_of_node(remote_node, image)
    result = segment(image, method=method, n_sd=n_sd, myocardium=labels_of_node(myocardium_node, image),
                     remote=None if remote is None else remote.array.astype(bool),
                     device=device, weights=weights, progress=progress)
    segmentation, table = put_result_in_scene(result, scene, volume_node, segmentation_node, table_node)
    return segmentation, table, result


def measurement_table_rows(metrics, warnings=()):
    """Rows (Measurement, Value, Unit) of a measurement table, method and warnings last."""
    rows = [{"Measurement": name, "Value": value, "Unit": unit}
            for name, value, unit in measurement_rows(metrics) + presence_rows(metrics)]
    method = metrics.get("method_name", metrics.get("method", ""))
    threshold = metrics.get("threshold", {})
    if threshold:
        method += f" ({threshold.get('method', '')}, threshold {threshold.get('threshold')})"
    rows.append({"Measurement": "Method", "Value": method, "Unit": ""})
    if metrics.get("weights"):
        rows.append({"Measurement": "Weights", "Value": metrics["weights"], "Unit": ""})
    for warning in warnings:
        rows.append({"Measurement": "Warning", "Value": warning, "Unit": ""})
    return rows


def zone_segments(zones):
    """[(segment id, name, colour, mask)] of the infarct core and grey zone of each definition
    present in `zones` ({definition: grey_zone.ScarZones})."""
    value = {"infarct_core": CORE, "grey_zone": GREY_ZONE}
    return [(info["id"], info["name"], info["color"], zones[definition].zones == value[zone])
            for (zone, definition), info in L.ZONE_SEGMENTS.items() if definition in zones]


def put_result_in_scene(result, scene, volume_node, segmentation_node=None, table_node=None):
    """(segmentation node, table node) holding a Segmentation's labels and measurements."""
    name = volume_node.GetName()
    segmentation = S.labels_to_segmentation_node(
        result.labels, scene, reference_volume_node=volume_node,
        name=f"{name} scar segmentation", node=segmentation_node)
    S.add_overlay_segments(segmentation, result.labels, zone_segments(result.zones),
                           hidden=[info["id"] for (_, definition), info in L.ZONE_SEGMENTS.items() if definition != "sd"])
    rows = measurement_table_rows(result.metrics, result.warnings)
    # Values mix numbers and text: keep one text column so every row fits the table.
    rows = [{**row, "Value": row["Value"] if isinstance(row["Value"], str) else f"{row['Value']:g}"}
            for row in rows]
    table = T.rows_to_table_node(rows, scene, name=f"{name} scar measurements", node=table_node)
    return segmentation, table


def export_inputs(volume_node, folder, myocardium_node=None, remote_node=None):
    """Write the input volume, and the myocardium labels and remote-myocardium mask when given,
    into `folder`; returns their paths (image, myocardium or None, remote or None)."""
    folder = Path(folder)
    image = S.volume_from_node(volume_node)
    image_path = write_volume(image, folder / IMAGE_FILE)
    myocardium = labels_of_node(myocardium_node, image)
    remote = mask_of_node(remote_node, image)
    return (image_path,
            write_volume(myocardium, folder / MYOCARDIUM_FILE) if myocardium is not None else None,
            write_volume(remote, folder / REMOTE_FILE) if remote is not None else None)


def chosen_weights(path):
    """The weights a panel's path field names (a weights file, its entry, a model folder, or the name
    of an installed model such as scar_weak_stack typed in), or None for the shipped model when it
    is empty."""
    from LGECore.models import is_model_name

    from .segmenter import find_entry

    text = str(path or "").strip()
    if text in ("", "."):  # an empty path field reads back as Path(".")
        return None
    if Path(text).exists():  # a weights file, its entry or a model folder
        return text
    if is_model_name(text):
        find_entry(text)  # WeightsError naming the installed models when there is none of that name
        return text
    raise WeightsError(f"The chosen network weights do not exist: {text}")


def segment_command(image_path, outdir, method="dl", n_sd=5.0, myocardium_path=None,
                    remote_path=None, device=None, weights=None, python=None):
    """Argument list that runs `segment` as a separate Python process (progress lines on stderr)."""
    command = [python or sys.executable, "-m", "ScarSegmentLib.cli", "segment", str(image_path),
               "-o", str(outdir), "--method", method, "--sd", f"{float(n_sd):g}"]
    if myocardium_path:
        command += ["--myocardium", str(myocardium_path)]
    if remote_path:
        command += ["--remote", str(remote_path)]
    if device:
        command += ["--device", device]
    if weights:
        command += ["--weights", str(weights)]
    return command


def import_outputs(outdir, scene, volume_node, segmentation_node=None, table_node=None):
    """Read a `segment` output folder into the scene; returns (segmentation, table, Segmentation)."""
    outdir = Path(outdir)
    if not (outdir / "labels.nii.gz").exists():
        raise InputError(f"No segmentation was written to {outdir}.")
    image = S.volume_from_node(volume_node)
    labels = read_labels(outdir / "labels.nii.gz", like=image)
    document = json.loads((outdir / "metrics.json").read_text())
    zones = {definition: ScarZones(definition, read_labels(outdir / f"grey_zone_{definition}.nii.gz", like=image).array)
             for definition in DEFINITIONS if (outdir / f"grey_zone_{definition}.nii.gz").exists()}
    result = Segmentation(labels, None, document, document.pop("warnings", []), zones)
    segmentation, table = put_result_in_scene(result, scene, volume_node, segmentation_node, table_node)
    return segmentation, table, result


def _command_environment():
    """The `segment` command imports ScarSegmentLib, AHABullseyeLib and LGECore."""
    import AHABullseyeLib
    import ScarSegmentLib

    return lib_environment((AHABullseyeLib, ScarSegmentLib))


def segment_in_background(scene, volume_node, method="dl", n_sd=5.0, myocardium_node=None,
                          remote_node=None, device=None, weights=None, segmentation_node=None,
                          table_node=None, progress=None, python=None):
    """Segment a volume node with `segment` run as a separate process; returns (segmentation node,
    table node, Segmentation).

    `myocardium_node` (project labels) and `remote_node` (every segment, or every non-zero voxel,
    is remote myocardium) are for nsd/fwhm only; the command refuses them with dl. The inputs go
    through a temporary folder. `progress(fraction, message)` sees the command's progress and may
    raise (Cancel) to stop it; a failing command raises CommandFailed with its own message.
    Nothing is added to the scene unless the command succeeds.
    """
    with tempfile.TemporaryDirectory(prefix="ScarSegment-") as folder:
        if progress is not None:
            progress(0.0, "Preparing the input...")
        image_path, myocardium_path, remote_path = export_inputs(
            volume_node, folder, myocardium_node, remote_node)
        outdir = Path(folder) / "output"
        command = segment_command(image_path, outdir, method=method, n_sd=n_sd,
                                  myocardium_path=myocardium_path, remote_path=remote_path,
                                  device=device, weights=weights, python=python or python_executable())
        run_in_background(command, progress, environment=_command_environment())
        return import_outputs(outdir, scene, volume_node, segmentation_node, table_node)
