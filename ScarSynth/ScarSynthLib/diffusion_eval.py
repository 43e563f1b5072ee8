"""Realism figures and a montage of the generator on held-out cases (never seen in training).

Figures: per case, the mean intensity of scar over remote (healthy) myocardium and of LV blood pool
over myocardium, in the real image and in the image re-synthesised from the same labels; and, on
normal cases, the scar/remote ratio of a new random scar the generator was asked to draw.
"""

import io

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.outputs import write_bytes_atomic


def _ratio(image, labels, numerator, denominator):
    top, bottom = np.isin(labels, numerator), np.isin(labels, denominator)
    if top.sum() < 10 or bottom.sum() < 10:
        return None
    return float(image[top].mean() / max(image[bottom].mean(), 1e-6))


def _with_new_scars(labels, seed):
    """Labels with a new random scar on every slice (in-plane sector; see joint_losses)."""
    from .scar_regions import random_scar_labels

    rng = np.random.default_rng(seed)
    return np.stack([random_scar_labels(s, rng) if L.lv_myocardium(s).any() else s for s in labels])


def evaluate_generator(dataset_dir, weights=None, num_inference_steps=25, seed=0, progress=False,
                       strength=None):
    """Realism figures on the held-out cases; returns (per-case rows, summary, examples)."""
    import time

    from LGECore.io import read_emidec_dataset

    from .diffusion import _check_steps, sampling_settings, synthesize_volume
    from .diffusion_data import held_out_cases

    _check_steps(num_inference_steps)
    sampling_settings(weights, strength)  # the weights load and the strength is checked before any work
    cases = read_emidec_dataset(dataset_dir)
    held_out = held_out_cases(cases)
    if not held_out:
        raise InputError(f"{dataset_dir} holds {len(cases)} cases and none is held out (every 10th by name, "
                         "from the 6th); the generator is scored on held-out cases only.")
    rows, examples = [], []
    seconds, slices = 0.0, 0
    for case in held_out:
        image, labels = case.load()
        target = labels.array if case.has_infarct else _with_new_scars(labels.array, seed)
        began = time.time()
        synthetic = synthesize_volume(image, labels.with_array(target), seed=seed,
                                      num_inference_steps=num_inference_steps, weights=weights,
                                      progress=progress, strength=strength,
                                      reference_labels=None if case.has_infarct else labels).array
        seconds += time.time() - began
        slices += int(L.lv_myocardium(target).any(axis=(1, 2)).sum())
        row = dict(case=case.name, new_scar=not case.has_infarct,
                   scar_remote_real=_ratio(image.array, labels.array, L.SCAR_LABELS, [L.MYOCARDIUM]),
                   scar_remote_synthetic=_ratio(synthetic, target, L.SCAR_LABELS, [L.MYOCARDIUM]),
                   pool_myo_real=_ratio(image.array, labels.array, [L.BLOOD_POOL], L.LV_MYOCARDIUM_LABELS),
                   pool_myo_synthetic=_ratio(synthetic, target, [L.BLOOD_POOL], L.LV_MYOCARDIUM_LABELS))
        rows.append(row)
        z = int(np.argmax(L.scar(target).sum(axis=(1, 2))))
        examples.append((case.name, image.array[z], target[z], synthetic[z]))
    summary = {}
    for key in ("scar_remote_real", "scar_remote_synthetic", "pool_myo_real", "pool_myo_synthetic"):
        for new_scar in (False, True):
            values = [r[key] for r in rows if r[key] is not None and r["new_scar"] == new_scar]
            if values:
                summary[f"{key}{'_new_scar' if new_scar else ''}_median"] = round(float(np.median(values)), 3)
    summary["seconds_per_slice"] = round(seconds / max(slices, 1), 3)
    return rows, summary, examples


def save_montage(examples, path):
    """PNG with one row per example: real | labels | synthetic (intensity windows shared per row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.5 * len(examples)), squeeze=False)
    for row, (name, real, labels, synthetic) in zip(axes, examples):
        rows, cols = np.nonzero(labels > 0)
        half = int(1.2 * max(np.ptp(rows), np.ptp(cols))) // 2 + 10
        centre = (rows.mean(), cols.mean())
        window = (slice(max(0, int(centre[0]) - half), int(centre[0]) + half),
                  slice(max(0, int(centre[1]) - half), int(centre[1]) + half))
        low, high = np.percentile(real[window], (1, 99.5))
        row[0].imshow(real[window], cmap="gray", vmin=low, vmax=high)
        row[1].imshow(labels[window], cmap="magma", vmin=0, vmax=4, interpolation="nearest")
        row[2].imshow(synthetic[window], cmap="gray", vmin=low, vmax=high)
        row[0].set_ylabel(name, fontsize=8)
        for axis, title in zip(row, ("real", "labels (target)", "synthetic")):
            axis.set_title(title, fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=90)
    plt.close(figure)
    return write_bytes_atomic(picture.getvalue(), path)
