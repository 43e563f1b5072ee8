"""DICOM folders: the short-axis stack is found however the scanner split it into series."""

import json
import locale
import logging
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from LGECore import io
from LGECore.errors import InputError
from LGECore.volume import Volume

STUDY_UID = "1.2.826.0.1.3680043.2.1125.1.4241"
OBLIQUE = np.array([
    [0.8, -0.36, 0.48],
    [0.6, 0.48, -0.64],
    [0.0, 0.8, 0.6],
])


def _stack(shape=(6, 20, 24), seed=0, spacing=(1.4, 1.3, 8.5)):
    rng = np.random.default_rng(seed)
    return Volume(
        np.round(rng.uniform(0, 500, shape)).astype(np.float32),
        spacing=spacing, origin=(-50.5, 20.25, 110.0), direction=OBLIQUE)


def write_dicom(volume, folder, series_number=10, one_series_per_slice=False,
                image_type="ORIGINAL\\PRIMARY\\M\\NORM", description="LGE SAX", slices=None,
                name="img", turn_odd_slices=0.0, study_uid=STUDY_UID):
    """Write slices of `volume` as MR DICOM files with their patient geometry: one series, or
    one series per slice (numbered from `series_number`), of the DICOM study `study_uid`."""
    # SimpleITK's DICOM writer leaves the process in the C locale (ASCII); later tests read UTF-8.
    saved_locale = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_slices(volume, folder, series_number, one_series_per_slice, image_type, description,
                            slices, name, turn_odd_slices, study_uid)
    finally:
        locale.setlocale(locale.LC_ALL, saved_locale)


def _write_dicom_slices(volume, folder, series_number, one_series_per_slice, image_type, description, slices,
                        name, turn_odd_slices, study_uid):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(volume.shape[0]) if slices is None else slices:
        # odd slices turned in plane by `turn_odd_slices` radians: direction cosines that differ a
        # little, as they do between breath-holds planned alike
        angle = turn_odd_slices * (k % 2)
        rows = np.cos(angle) * volume.direction[:, 0] + np.sin(angle) * volume.direction[:, 1]
        cols = -np.sin(angle) * volume.direction[:, 0] + np.cos(angle) * volume.direction[:, 1]
        number = series_number + k if one_series_per_slice else series_number
        slice_image = sitk.GetImageFromArray(volume.array[k].astype(np.int16))
        slice_image.SetSpacing(volume.spacing[:2])
        position = volume.index_to_lps([[k, 0, 0]])[0]
        tags = {
            "0008|0060": "MR",
            "0008|0008": image_type,
            "0008|103e": description,
            "0020|000d": study_uid,
            "0020|000e": f"{study_uid}.{number}",
            "0020|0052": f"{study_uid}.0",  # one frame of reference: the patient did not move
            "0020|0011": str(number),
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "\\".join(f"{v:.6f}" for v in np.concatenate([rows, cols])),
            "0028|0030": f"{volume.spacing[1]:.6f}\\{volume.spacing[0]:.6f}",
            "0018|0050": f"{volume.spacing[2]:.6f}",
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        # file names in no particular slice order, as exports often are
        writer.SetFileName(str(folder / f"{name}_{(k * 7919) % 1000:03d}_{k}.dcm"))
        writer.Execute(slice_image)


def _assert_same(a, b):
    assert a.same_grid(b, tolerance=1e-4)
    np.testing.assert_array_equal(a.array, b.array)


def test_one_series_keeps_geometry(tmp_path):
    stack = _stack()
    write_dicom(stack, tmp_path / "dicom")
    _assert_same(stack, io.read_image(tmp_path / "dicom"))


def test_one_series_per_slice_is_one_stack(tmp_path):
    stack = _stack()
    write_dicom(stack, tmp_path / "dicom", one_series_per_slice=True)
    _assert_same(stack, io.read_image(tmp_path / "dicom"))


def test_direction_cosines_rounded_differently_per_slice_are_one_stack(tmp_path):
    stack = _stack()
    write_dicom(stack, tmp_path / "dicom", one_series_per_slice=True, turn_odd_slices=0.0011)
    back = io.read_image(tmp_path / "dicom")
    assert back.shape == stack.shape
    np.testing.assert_array_equal(back.array, stack.array)


def test_magnitude_stack_is_chosen_among_psir_localiser_and_other_files(tmp_path, caplog):
    stack = _stack()
    folder = tmp_path / "dicom"
    write_dicom(stack, folder / "mag", series_number=10, one_series_per_slice=True)
    psir = stack.with_array(4096 - stack.array)
    write_dicom(psir, folder / "psir", series_number=30, one_series_per_slice=True,
                image_type="DERIVED\\PRIMARY\\P\\PSIR", description="LGE SAX PSIR")
    localiser = Volume(_stack(seed=1).array[:3], spacing=(1.4, 1.3, 8.5), origin=(0, 0, 0))
    write_dicom(localiser, folder / "loc", series_number=2, description="localiser")
    (folder / "README.txt").write_text("exported from the scanner\n")
    with caplog.at_level(logging.WARNING):
        back, choice = io.read_image_and_choice(folder)
    _assert_same(stack, back)
    assert "LGE SAX PSIR" in caplog.text and "localiser" in caplog.text
    assert choice.read == "series 10-15 'LGE SAX' (6 slices)"
    assert sorted(choice.others) == ["series 2 'localiser' (3 slices)", "series 30-35 'LGE SAX PSIR' (6 slices)"]
    assert "series 30-35 'LGE SAX PSIR'" in choice.note()


def test_a_repeated_slice_is_taken_from_the_later_series(tmp_path):
    stack = _stack()
    repeat = stack.array.copy()
    repeat[3] += 1000
    write_dicom(stack, tmp_path / "dicom", series_number=10, one_series_per_slice=True)
    write_dicom(stack.with_array(repeat), tmp_path / "dicom", series_number=20, slices=[3], name="repeat")
    back = io.read_image(tmp_path / "dicom")
    np.testing.assert_array_equal(back.array, repeat)


def test_a_missing_slice_is_named(tmp_path):
    write_dicom(_stack(), tmp_path / "dicom", one_series_per_slice=True, slices=[0, 1, 2, 4, 5])
    with pytest.raises(InputError, match="not equally spaced: slices 3 and 4 are 17.0 mm apart"):
        io.read_image(tmp_path / "dicom")


@pytest.mark.parametrize("slice_cut", [5, 2])
def test_a_damaged_file_is_named_not_left_out(tmp_path, slice_cut):
    # A last slice left out would be a stack one slice short; one in the middle a spacing error.
    write_dicom(_stack(), tmp_path / "dicom")
    damaged = next((tmp_path / "dicom").glob(f"*_{slice_cut}.dcm"))
    damaged.write_bytes(damaged.read_bytes()[:-300])
    (tmp_path / "dicom" / "README.txt").write_text("not DICOM: skipped")
    with pytest.raises(InputError, match=f"{damaged.name} in .* is a damaged DICOM file"):
        io.read_image(tmp_path / "dicom")
    if slice_cut == 5:  # without the damaged last slice, the stack is read
        damaged.unlink()
        assert io.read_image(tmp_path / "dicom").shape[0] == 5


def test_several_images_per_position_are_not_a_stack(tmp_path):
    """A cine series (several frames at each position) is refused rather than read as slices."""
    stack = _stack()
    write_dicom(stack, tmp_path / "dicom", name="frame1")
    write_dicom(stack.with_array(stack.array + 1), tmp_path / "dicom", name="frame2")
    with pytest.raises(InputError, match="several images at each slice position"):
        io.read_image(tmp_path / "dicom")


def test_other_sequences_on_the_same_slices_stay_apart(tmp_path):
    """A T2 stack planned on the LGE slices (same geometry, another series description) is not
    mixed into the LGE stack, which has more slices."""
    stack = _stack()
    write_dicom(stack, tmp_path / "dicom", series_number=10, one_series_per_slice=True)
    t2 = stack.with_array(stack.array + 2000)
    write_dicom(t2, tmp_path / "dicom", series_number=40, description="T2 STIR SAX", slices=[1, 2, 3], name="t2")
    _assert_same(stack, io.read_image(tmp_path / "dicom"))


def test_a_multi_frame_file_is_read_whole(tmp_path):
    stack = Volume(_stack().array.astype(np.int16), spacing=(1.4, 1.3, 8.5), origin=(-50.5, 20.25, 110.0))
    (tmp_path / "dicom").mkdir()
    image = io.volume_to_sitk(stack)
    image.SetMetaData("0008|0060", "MR")
    sitk.WriteImage(image, str(tmp_path / "dicom" / "enhanced.dcm"))
    back = io.read_image(tmp_path / "dicom")
    _assert_same(stack.with_array(stack.array.astype(np.float32)), back)


@pytest.mark.parametrize("make, message", [
    (lambda folder: (folder / "notes.txt").write_text("no images"), "holds no DICOM images"),
    (lambda folder: write_dicom(_stack(), folder, slices=[2]), "single images only"),
])
def test_folders_without_a_stack_are_named(tmp_path, make, message):
    folder = tmp_path / "dicom"
    folder.mkdir()
    make(folder)
    with pytest.raises(InputError, match=message):
        io.read_image(folder)


def test_segment_cli_reads_per_slice_series_as_the_stack(tmp_path):
    """`scarsynth segment` on a DICOM folder of one series per slice gives the labels, on the same
    grid, that it gives on the stack saved as NIfTI."""
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=3, n_slices=8, matrix_size=128, scar_segments=(7, 8, 13))
    image = phantom.image.with_array(np.round(phantom.image.array))
    write_dicom(image, tmp_path / "dicom", one_series_per_slice=True)
    io.write_volume(image, tmp_path / "lge.nii.gz")
    myocardium = io.write_volume(phantom.labels, tmp_path / "myocardium.nii.gz")
    for source, out in (("dicom", "from_dicom"), ("lge.nii.gz", "from_nifti")):
        done = subprocess.run(
            [sys.executable, "-m", "ScarSynthLib.cli", "segment", str(tmp_path / source),
             "-o", str(tmp_path / out), "--method", "nsd", "--myocardium", str(myocardium)],
            capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    from_dicom = io.read_labels(tmp_path / "from_dicom" / "labels.nii.gz")
    _assert_same(io.read_labels(tmp_path / "from_nifti" / "labels.nii.gz"), from_dicom)
    assert from_dicom.same_grid(image, tolerance=1e-4)
    assert (from_dicom.array == 3).sum() > 0
    metrics = json.loads((tmp_path / "from_dicom" / "metrics.json").read_text())
    assert metrics["dicom_series"] == "series 10-17 'LGE SAX' (8 slices)" and metrics["dicom_other_series"] == []
    assert "dicom_series" not in json.loads((tmp_path / "from_nifti" / "metrics.json").read_text())


def test_run_report_names_the_stack_read_and_the_others(tmp_path):
    """`scarsynth run` on a folder holding magnitude and PSIR stacks: the report names the stack
    it read and warns of the other."""
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=3, n_slices=8, matrix_size=128, scar_segments=(7, 8, 13))
    image = phantom.image.with_array(np.round(phantom.image.array))
    write_dicom(image, tmp_path / "dicom" / "mag", series_number=5)
    write_dicom(image.with_array(4096 - image.array), tmp_path / "dicom" / "psir", series_number=6,
                image_type="DERIVED\\PRIMARY\\P\\PSIR", description="LGE SAX PSIR")
    myocardium = io.write_volume(phantom.labels, tmp_path / "myocardium.nii.gz")
    done = subprocess.run(
        [sys.executable, "-m", "ScarSynthLib.cli", "run", str(tmp_path / "dicom"), "-o", str(tmp_path / "out"),
         "--method", "nsd", "--myocardium", str(myocardium)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "dicom: series 5 'LGE SAX' (8 slices)" in report
    assert "also there: series 6 'LGE SAX PSIR' (8 slices)" in report and "also there" in done.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["input"] == "dicom: series 5 'LGE SAX' (8 slices)"


def test_per_slice_series_load_into_one_volume_node(tmp_path):
    """In a Slicer scene the stack of a folder of single-slice series becomes one volume node on
    the stack's geometry, named after the stack read; an image file keeps its own name."""
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("slicer-core is not installed")
    from LGECore import scene as S

    stack = _stack()
    write_dicom(stack, tmp_path / "dicom" / "mag", series_number=10, one_series_per_slice=True)
    write_dicom(stack.with_array(4096 - stack.array), tmp_path / "dicom" / "psir", series_number=30,
                one_series_per_slice=True, image_type="DERIVED\\PRIMARY\\P\\PSIR", description="LGE SAX PSIR")
    mrml_scene = slicer.vtkMRMLScene()
    node, choice = S.load_stack_node(tmp_path / "dicom", mrml_scene)
    _assert_same(stack, S.volume_from_node(node))
    assert node.GetName() == "dicom series 10-15 'LGE SAX' (6 slices)"
    assert choice.others == ("series 30-35 'LGE SAX PSIR' (6 slices)",)
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1

    file_node, file_choice = S.load_stack_node(io.write_volume(stack, tmp_path / "lge.v2.nii.gz"), mrml_scene)
    assert file_node.GetName() == "lge.v2" and file_choice is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM images"):
        S.load_stack_node(tmp_path / "empty", mrml_scene)
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 2  # nothing added
