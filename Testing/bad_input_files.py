"""Broken inputs as a user would make them, for the bad-input corpus (test_bad_inputs.py).

`build_inputs(folder)` writes one small phantom case and every broken variant of it into
`folder`: images that are not images, label maps with foreign values, weights that lie about what
they hold, datasets without cases. The corpus then checks that no command changes a byte of them.
"""

import gzip
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from LGECore.io import write_volume
from LGECore.models import sha256_of
from LGECore.phantom import make_phantom
from LGECore.volume import Volume


def _images(folder, image):
    """Image files that are broken in their values, shape or bytes."""
    array = image.array.astype(np.float32)
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        broken = array.copy()
        broken[2, 40, 40] = value
        write_volume(image.with_array(broken), folder / f"{name}.nii.gz")
    write_volume(image.with_array(np.full_like(array, 7.0)), folder / "constant.nii.gz")
    write_volume(Volume(array, (30.0, 30.0, 10.0)), folder / "spacing_30mm.nii.gz")
    write_volume(Volume(array, (1000.0, 1000.0, 10.0)), folder / "spacing_1000mm.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(array[2]), str(folder / "2d.nii.gz"))
    frame = sitk.GetImageFromArray(array)
    sitk.WriteImage(sitk.JoinSeries([frame, frame]), str(folder / "4d.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([array] * 3, axis=-1), isVector=True), str(folder / "rgb.nii.gz"))
    raw = gzip.decompress((folder / "lge.nii.gz").read_bytes())
    (folder / "truncated.nii").write_bytes(raw[: len(raw) // 2])
    (folder / "truncated.nii.gz").write_bytes((folder / "lge.nii.gz").read_bytes()[:2000])
    (folder / "text.nii.gz").write_text("not an image\n")
    (folder / "huge_header.nii.gz").write_bytes(_nifti_header_only((4096, 4096, 64)))
    (folder / "empty.nii.gz").write_bytes(b"")
    (folder / "notes.txt").write_text("a user's notes, not an image\n")
    (folder / "a_folder.nii.gz").mkdir()
    header = (folder / "lge.nrrd").read_bytes()
    (folder / "nan_slice_spacing.nrrd").write_bytes(_nrrd_with_nan_slice_spacing(header))


def _nifti_header_only(shape):
    """A gzipped NIfTI whose header promises float32 voxels of `shape` and holds none of them."""
    import nibabel

    header = nibabel.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header.set_zooms((1.0, 1.0, 2.0))
    return gzip.compress(header.binaryblock + b"\0" * 4)


def _nrrd_with_nan_slice_spacing(data):
    """lge.nrrd with its third space direction made not-a-number."""
    head, _, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    for index, line in enumerate(lines):
        if line.startswith(b"space directions:"):
            vectors = line.split(b":", 1)[1].split()
            vectors[-1] = b"(nan,nan,nan)"
            lines[index] = b"space directions: " + b" ".join(vectors)
    return b"\n".join(lines) + b"\n\n" + body


def _label_maps(folder, labels):
    array = labels.array.astype(np.uint8)
    write_volume(labels.with_array(np.where(array == 2, 7, array).astype(np.uint8)), folder / "labels_7.nii.gz")
    write_volume(labels.with_array(array.astype(np.float32) + 0.5), folder / "labels_fraction.nii.gz")
    write_volume(labels.with_array(-array.astype(np.int16)), folder / "labels_negative.nii.gz")
    write_volume(Volume(array, (1.0, 1.0, 8.0), labels.origin, labels.direction), folder / "labels_off_grid.nii.gz")
    write_volume(Volume(array[:-1], labels.spacing, labels.origin, labels.direction), folder / "labels_short.nii.gz")
    write_volume(labels.with_array(np.zeros_like(array)), folder / "labels_empty.nii.gz")


def _weights(folder):
    """Model files that are not what they claim to be, beside copies of the shipped entry."""
    from ScarSegmentLib.segmenter import find_entry
    from safetensors.torch import load_file, save_file

    entry = find_entry(None)
    (folder / "pickle.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    (folder / "text.safetensors").write_text("weights\n")
    (folder / "weights.pt").write_bytes(pickle.dumps({}))
    tensors = load_file(entry["path"])
    first = next(iter(tensors))
    tensors[first] = tensors[first].clone().fill_(float("nan"))
    _write_model(folder / "nan_model", entry, tensors, save_file)
    _write_model(folder / "wrong_sha", entry, load_file(entry["path"]), save_file, sha256="0" * 64)
    _write_model(folder / "pickle_model", entry, tensors, save_file)
    (folder / "pickle_model" / "model.safetensors").write_bytes(pickle.dumps(tensors[first].tolist()))
    record = json.loads((folder / "pickle_model" / "model.json").read_text())
    record["sha256"] = sha256_of(folder / "pickle_model" / "model.safetensors")  # a true checksum of a pickle
    (folder / "pickle_model" / "model.json").write_text(json.dumps(record))
    (folder / "broken_entry").mkdir()
    (folder / "broken_entry" / "model.json").write_text("{not json")


def _write_model(folder, entry, tensors, save_file, sha256=None):
    folder.mkdir()
    save_file(tensors, str(folder / "model.safetensors"))
    record = {key: value for key, value in entry.items() if key != "path"}
    record.update(name="model", file="model.safetensors", sha256=sha256 or sha256_of(folder / "model.safetensors"))
    (folder / "model.json").write_text(json.dumps(record))


def _datasets(folder):
    """Dataset folders in the EMIDEC layout, and not."""
    (folder / "dataset_empty").mkdir()
    bad = folder / "dataset_bad_labels" / "Case_P001"
    for kind in ("Images", "Contours"):
        (bad / kind).mkdir(parents=True)
    shutil.copy(folder / "lge.nii.gz", bad / "Images" / "Case_P001.nii.gz")
    shutil.copy(folder / "labels_7.nii.gz", bad / "Contours" / "Case_P001.nii.gz")
    (bad.parent / "cases.csv").write_text("case,pathology\nCase_P001,infarct\n")
    (bad.parent / "figures.png").write_bytes(b"\x89PNG a user's figure")
    nan = folder / "dataset_nan_image" / "Case_N001"
    for kind in ("Images", "Contours"):
        (nan / kind).mkdir(parents=True)
    shutil.copy(folder / "nan.nii.gz", nan / "Images" / "Case_N001.nii.gz")
    shutil.copy(folder / "labels.nii.gz", nan / "Contours" / "Case_N001.nii.gz")


def _weak_labels(folder):
    """Yes/no label files for `train-weak`, each with one bad row."""
    for name, text in (("bad_value", "case,scar\nCase_P001,maybe\n"), ("bad_slice", "case,slice,scar\nCase_P001,x,no\n"),
                       ("unknown_case", "case,scar\nCase_P001,yes\nCase_X009,no\n"),
                       ("twice", "case,scar\nCase_P001,yes\nCase_P001,no\n"), ("no_columns", "patient;label\n")):
        (folder / f"weak_labels_{name}.csv").write_text(text)


def build_inputs(folder):
    """Write the good case (lge.nii.gz, lge.nrrd, labels.nii.gz) and its broken variants."""
    folder = Path(folder)
    phantom = make_phantom(seed=5, n_slices=6, matrix_size=96, pixel_spacing=2.0, territory="LAD",
                           mvo=True, look="scanner")
    write_volume(phantom.image, folder / "lge.nii.gz")
    write_volume(phantom.image, folder / "lge.nrrd")
    write_volume(phantom.labels, folder / "labels.nii.gz")
    _images(folder, phantom.image)
    _label_maps(folder, phantom.labels)
    _weights(folder)
    _datasets(folder)
    _weak_labels(folder)
    return folder


def snapshot(folder):
    """{relative path: bytes} of every file under `folder`, and the folders, to compare later."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else "folder")
            for path in sorted(folder.rglob("*"))}


def restore(folder, before):
    """Put `folder` back as `snapshot` saw it; returns the names that had changed."""
    folder = Path(folder)
    after = snapshot(folder)
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    for name in changed:
        path = folder / name
        if name not in before:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        elif before[name] != "folder":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(before[name])
    return changed
