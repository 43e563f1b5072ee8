"""Segmentation metrics of the EMIDEC challenge, for one case or a whole dataset.

Per class (EMIDEC definitions: myocardium = labels 2+3+4, infarct = label 3, MVO = label 4; plus
LV blood pool = 1 and scar = 3+4): 3D Dice (1 when both masks are empty), predicted and reference
volume and their absolute difference in mL; for infarct, scar and MVO also the volume difference
as % of the reference myocardium volume; for the myocardium the Hausdorff distance and its 95th
percentile in mm (MONAI, with the voxel spacing).
"""

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.io import image_stem, read_labels
from LGECore.outputs import write_text_atomic

CLASSES = {
    "blood_pool": (L.BLOOD_POOL,),
    "myocardium": L.LV_MYOCARDIUM_LABELS,
    "infarct": (L.SCAR,),
    "scar": L.SCAR_LABELS,
    "mvo": (L.MVO,),
}
RATIO_CLASSES = ("infarct", "scar", "mvo")


def dice(prediction, reference):
    """Dice of two boolean masks; 1.0 when both are empty (nothing to find, nothing found)."""
    total = int(prediction.sum()) + int(reference.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(prediction, reference).sum()) / total


def hausdorff_mm(prediction, reference, spacing_zyx, percentile=None):
    """Symmetric Hausdorff distance (or its percentile) in mm between boolean masks [z, y, x].

    0 when both are empty; NaN when exactly one is empty (undefined).
    """
    has_prediction, has_reference = bool(prediction.any()), bool(reference.any())
    if not has_prediction and not has_reference:
        return 0.0
    if has_prediction != has_reference:
        return float("nan")
    import torch
    from monai.metrics import compute_hausdorff_distance

    with warnings.catch_warnings():  # MONAI's deprecation notices say nothing about the result
        warnings.simplefilter("ignore", FutureWarning)
        value = compute_hausdorff_distance(
            torch.from_numpy(np.ascontiguousarray(prediction))[None, None],
            torch.from_numpy(np.ascontiguousarray(reference))[None, None],
            percentile=percentile,
            spacing=[float(s) for s in spacing_zyx],
        )
    return float(value.item())


def evaluate_labels(prediction, reference):
    """EMIDEC metrics (flat dict) of a predicted label Volume against a reference on the same grid."""
    reference.check_same_grid(prediction, what="prediction")
    predicted = L.check_label_array(prediction.array, name="prediction")
    truth = L.check_label_array(reference.array, name="reference")
    voxel_ml = reference.voxel_volume_ml
    reference_myocardium_ml = float(L.lv_myocardium(truth).sum()) * voxel_ml
    metrics = {}
    for name, values in CLASSES.items():
        mask_pred, mask_true = np.isin(predicted, values), np.isin(truth, values)
        volume_pred = float(mask_pred.sum()) * voxel_ml
        volume_true = float(mask_true.sum()) * voxel_ml
        metrics[f"{name}_dice"] = dice(mask_pred, mask_true)
        metrics[f"{name}_volume_ml"] = volume_pred
        metrics[f"{name}_reference_volume_ml"] = volume_true
        metrics[f"{name}_volume_difference_ml"] = abs(volume_pred - volume_true)
        if name in RATIO_CLASSES:
            metrics[f"{name}_volume_difference_percent_of_myocardium"] = (
                100.0 * abs(volume_pred - volume_true) / reference_myocardium_ml
                if reference_myocardium_ml > 0 else float("nan"))
    spacing_zyx = reference.spacing[::-1]
    myo_pred, myo_true = L.lv_myocardium(predicted), L.lv_myocardium(truth)
    metrics["myocardium_hausdorff_mm"] = hausdorff_mm(myo_pred, myo_true, spacing_zyx)
    metrics["myocardium_hausdorff95_mm"] = hausdorff_mm(myo_pred, myo_true, spacing_zyx, 95)
    return metrics


def _label_files(folder):
    """{case name: label file} in a folder: EMIDEC layout (Case/Contours/Case.nii.gz) or flat files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"Not a folder: {folder}")
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            for candidate in (entry / "Contours", entry):
                files = [f for f in sorted(candidate.glob("*")) if f.is_file() and image_stem(f.name)]
                # EMIDEC contours, or one output folder of `scarsynth segment` (labels.nii.gz).
                named = [f for f in files if image_stem(f.name) in (entry.name, "labels")]
                if named:
                    found[entry.name] = named[0]
                    break
        elif entry.is_file() and image_stem(entry.name):
            found.setdefault(image_stem(entry.name), entry)
    return found


def evaluate_folders(prediction_dir, reference_dir, spacing=None, progress=True):
    """Rows (dicts) of metrics, one per reference case, matched to predictions by case name.

    A reference case without a prediction gets a row whose 'status' says so.
    """
    from tqdm import tqdm

    references = _label_files(reference_dir)
    predictions = _label_files(prediction_dir)
    if not references:
        raise InputError(f"No label files found in {reference_dir}.")
    matched = sorted(set(references) & set(predictions))
    if not matched:
        raise InputError(
            f"No prediction in {prediction_dir} matches a case of {reference_dir} by name "
            f"(reference cases: {', '.join(sorted(references)[:5])}...).")
    rows = []
    for name in tqdm(sorted(references), desc="evaluate", unit="case", disable=not progress):
        if name not in predictions:
            rows.append({"case": name, "status": "missing prediction"})
            continue
        reference = with_spacing(read_labels(references[name]), spacing)
        prediction = with_spacing(read_labels(predictions[name]), spacing)
        rows.append({"case": name, "status": "ok", **evaluate_labels(prediction, reference)})
    return rows


def with_spacing(volume, spacing):
    """The same Volume with its spacing replaced (for files whose headers lost it), or unchanged."""
    if spacing is None:
        return volume
    from LGECore.volume import Volume

    return Volume(volume.array, spacing, volume.origin, volume.direction)


def summary_row(rows):
    """Mean of every metric over the evaluated cases (NaN values skipped)."""
    evaluated = [row for row in rows if row.get("status") == "ok"]
    keys = [k for k in evaluated[0] if k not in ("case", "status")] if evaluated else []
    mean = {"case": "mean", "status": f"{len(evaluated)} of {len(rows)} cases"}
    for key in keys:
        values = [row[key] for row in evaluated if not math.isnan(row[key])]
        mean[key] = float(np.mean(values)) if values else float("nan")
    return mean


def write_csv(rows, path):
    """Write rows atomically as CSV (columns = union of keys, in first-seen order)."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return write_text_atomic(text.getvalue(), path)
