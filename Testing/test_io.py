"""Image I/O: every format keeps the geometry, bad inputs give clear errors, writes are atomic."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from LGECore import io, outputs
from LGECore.errors import InputError
from LGECore.volume import Volume

OBLIQUE = np.array([
    [0.8, -0.36, 0.48],
    [0.6, 0.48, -0.64],
    [0.0, 0.8, 0.6],
])


def _image(shape=(6, 20, 24), seed=0):
    rng = np.random.default_rng(seed)
    return Volume(
        rng.uniform(0, 500, shape).astype(np.float32),
        spacing=(1.4, 1.3, 8.5), origin=(-50.5, 20.25, 110.0), direction=OBLIQUE)


def _labels(image):
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[:, 5:15, 6:18] = 2
    labels[:, 8:12, 9:15] = 1
    labels[1:4, 5:8, 6:10] = 3
    labels[2, 6, 7] = 4
    labels[:, 0:3, 0:4] = 5
    return image.with_array(labels)


def _assert_same(a, b, exact=True):
    assert a.same_grid(b, tolerance=1e-4)
    if exact:
        np.testing.assert_array_equal(a.array, b.array)
    else:
        np.testing.assert_allclose(a.array, b.array, atol=1.0)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_image_round_trip_keeps_geometry(tmp_path, suffix):
    image = _image()
    path = io.write_volume(image, tmp_path / f"lge{suffix}")
    _assert_same(image, io.read_image(path))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".seg.nrrd"])
def test_labels_round_trip_keeps_geometry_and_values(tmp_path, suffix):
    image = _image()
    labels = _labels(image)
    path = io.write_volume(labels, tmp_path / f"labels{suffix}")
    back = io.read_labels(path, like=image)
    _assert_same(labels, back)
    assert back.array.dtype == np.uint8


def test_seg_nrrd_segments_are_named(tmp_path):
    import slicerio

    path = io.write_volume(_labels(_image()), tmp_path / "labels.seg.nrrd")
    names = slicerio.segment_names(slicerio.read_segmentation(str(path)))
    assert set(names) == {"LV blood pool", "Healthy myocardium", "Scar", "MVO", "RV blood pool"}


def test_read_emidec_layout(tmp_path):
    image = _image()
    for name in ("Case_N001", "Case_P002"):
        io.write_volume(image, tmp_path / name / "Images" / f"{name}.nii.gz")
        io.write_volume(_labels(image), tmp_path / name / "Contours" / f"{name}.nii.gz")
    (tmp_path / "notes").mkdir()
    cases = io.read_emidec_dataset(tmp_path)
    assert [c.name for c in cases] == ["Case_N001", "Case_P002"]
    assert [c.has_infarct for c in cases] == [False, True]
    loaded_image, loaded_labels = cases[1].load()
    _assert_same(image, loaded_image)
    assert loaded_labels.array.max() == 5


def test_real_emidec_case_reads(emidec_dir):
    cases = io.read_emidec_dataset(emidec_dir)
    assert len(cases) >= 1
    image, labels = cases[0].load()
    assert image.shape == labels.shape and image.shape[1:] == (256, 256)
    assert set(np.unique(labels.array)) <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("array, message", [
    (np.zeros((20, 24), np.float32) + np.arange(24), "2D"),
    (np.random.default_rng(0).random((2, 3, 20, 24)).astype(np.float32), "4D"),
])
def test_wrong_dimensions_are_refused(tmp_path, array, message):
    path = tmp_path / "bad.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    with pytest.raises(InputError, match=message):
        io.read_image(path)


def test_single_frame_4d_is_accepted(tmp_path):
    array = np.random.default_rng(0).random((1, 3, 20, 24)).astype(np.float32)
    path = tmp_path / "one_frame.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    assert io.read_image(path).shape == (3, 20, 24)


def test_nan_and_constant_images_are_refused(tmp_path):
    image = _image()
    with_nan = image.array.copy()
    with_nan[2, 3, 4] = np.nan
    io.write_volume(image.with_array(with_nan), tmp_path / "nan.nii.gz")
    with pytest.raises(InputError, match="NaN"):
        io.read_image(tmp_path / "nan.nii.gz")
    io.write_volume(image.with_array(np.full(image.shape, 7, np.float32)), tmp_path / "flat.nii.gz")
    with pytest.raises(InputError, match="constant"):
        io.read_image(tmp_path / "flat.nii.gz")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_truncated_nifti_is_refused_as_image_and_as_labels(tmp_path, suffix):
    # ITK reads a NIfTI file cut short and fills the missing voxels with zeros.
    image = _image()
    for name, volume, read in (("image", image, io.read_image), ("labels", _labels(image), io.read_labels)):
        whole = tmp_path / f"{name}{suffix}"
        io.write_volume(volume, whole)
        cut = tmp_path / f"{name}_cut{suffix}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
        with pytest.raises(InputError, match="truncated or damaged"):
            read(cut)
        assert read(whole).shape == image.shape


def test_truncated_mha_is_not_called_missing(tmp_path):
    whole = io.write_volume(_image(), tmp_path / "image.mha")
    cut = tmp_path / "cut.mha"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="not a readable image") as refused:
        io.read_image(cut)
    assert "No such file" not in str(refused.value)


def test_non_finite_label_values_are_refused(tmp_path):
    # ITK's NIfTI reader turns NaN and infinity into 0, which is a valid label.
    labels = _labels(_image()).array.astype(np.float32)
    for value in (np.nan, np.inf):
        bad = labels.copy()
        bad[2, 3, 4] = value
        path = tmp_path / "labels.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(bad), str(path))
        with pytest.raises(InputError, match="NaN or infinite"):
            io.read_labels(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_masks_may_be_empty_or_full_but_not_nan(tmp_path, suffix):
    grid = _image()
    for fill in (0.0, 3.0):
        path = io.write_volume(grid.with_array(np.full(grid.shape, fill, np.float32)), tmp_path / f"m{fill:.0f}{suffix}")
        mask = io.read_mask(path)
        assert mask.array.dtype == bool and mask.array.all() == bool(fill) and mask.same_grid(grid)
    bad = np.zeros(grid.shape, np.float32)
    bad[1, 2, 3] = np.nan
    path = io.write_volume(grid.with_array(bad), tmp_path / f"nan{suffix}")
    with pytest.raises(InputError, match="remote mask nan.* NaN or infinite"):
        io.read_mask(path, name="remote mask")


def test_corrupt_and_missing_files_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"this is not an image" * 10)
    with pytest.raises(InputError, match="Could not read"):
        io.read_image(corrupt)
    with pytest.raises(InputError, match="No such file"):
        io.read_image(tmp_path / "absent.nrrd")
    bad_seg = tmp_path / "broken.seg.nrrd"
    bad_seg.write_bytes(b"NRRD0004\nnonsense")
    with pytest.raises(InputError, match="segmentation"):
        io.read_labels(bad_seg)


def test_labels_on_another_grid_are_refused(tmp_path):
    image = _image()
    labels = _labels(image)
    shifted = Volume(labels.array, labels.spacing, (0.0, 0.0, 0.0), labels.direction)
    io.write_volume(shifted, tmp_path / "shifted.nii.gz")
    with pytest.raises(InputError, match="origin"):
        io.read_labels(tmp_path / "shifted.nii.gz", like=image)
    cropped = Volume(labels.array[:, :10], labels.spacing, labels.origin, labels.direction)
    io.write_volume(cropped, tmp_path / "cropped.nii.gz")
    with pytest.raises(InputError, match="shape"):
        io.read_labels(tmp_path / "cropped.nii.gz", like=image)


def test_unknown_label_values_are_refused(tmp_path):
    labels = _labels(_image())
    array = labels.array.copy()
    array[0, 0, 0] = 9
    io.write_volume(labels.with_array(array), tmp_path / "odd.nii.gz")
    with pytest.raises(InputError, match=r"unknown label values \[9\]"):
        io.read_labels(tmp_path / "odd.nii.gz")


def test_write_refuses_to_overwrite_an_input(tmp_path):
    path = io.write_volume(_image(), tmp_path / "input.nii.gz")
    before = path.read_bytes()
    with pytest.raises(InputError, match="overwrite"):
        io.write_volume(_image(seed=1), path, protect=[path])
    assert path.read_bytes() == before


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        io.write_volume(_image(), tmp_path / "out.png.unknown")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_dir_writes_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with outputs.atomic_output_dir(tmp_path / "out") as staging:
            (staging / "a.txt").write_text("partial")
            raise RuntimeError("failure half-way")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    with outputs.atomic_output_dir(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("done")
        (staging / "b.txt").write_text("done")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]


def test_atomic_output_dir_in_an_existing_folder_puts_everything_back_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.txt", "stale.txt", "mine.txt"):
        (out / name).write_text("old")
    real_replace = outputs.os.replace

    def fail_on_b(source, target):
        if Path(target).name == "b.txt":
            raise OSError("disk full")
        return real_replace(source, target)

    monkeypatch.setattr(outputs.os, "replace", fail_on_b)
    with pytest.raises(OSError, match="disk full"):
        with outputs.atomic_output_dir(out, replaces=("stale.txt",)) as staging:
            (staging / "a.txt").write_text("new")
            (staging / "b.txt").write_text("new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "old", "stale.txt": "old", "mine.txt": "old"}
    with pytest.raises(OSError, match="disk full"):
        with outputs.atomic_output_dir(tmp_path / "fresh") as staging:
            (staging / "a.txt").write_text("new")
            (staging / "b.txt").write_text("new")
    assert not (tmp_path / "fresh").exists()  # not even empty
    monkeypatch.undo()
    with outputs.atomic_output_dir(out, replaces=("stale.txt",)) as staging:
        (staging / "a.txt").write_text("new")
        (staging / "b.txt").write_text("new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "new", "b.txt": "new", "mine.txt": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_output_folder_problems_are_found_before_any_work(tmp_path):
    (tmp_path / "file").write_text("kept")
    for outdir in (tmp_path / "file", tmp_path / "file" / "sub"):
        with pytest.raises(InputError, match="is a file"):
            outputs.check_output_dir(outdir)
    (tmp_path / "out" / "labels.nii.gz").mkdir(parents=True)
    with pytest.raises(InputError, match="is a folder"):
        with outputs.atomic_output_dir(tmp_path / "out", replaces=("labels.nii.gz",)):
            raise AssertionError("the body must not run")
    outputs.check_output_dir(tmp_path / "new" / "deeper")  # may be made


def test_volume_index_and_physical_points_agree():
    image = _image()
    sitk_image = io.volume_to_sitk(image)
    for zyx in ([0, 0, 0], [3, 7, 11], [5, 19, 23]):
        expected = sitk_image.TransformIndexToPhysicalPoint([int(v) for v in zyx[::-1]])
        np.testing.assert_allclose(image.index_to_lps([zyx])[0], expected, atol=1e-6)
        np.testing.assert_allclose(image.lps_to_index(image.index_to_lps([zyx]))[0], zyx, atol=1e-9)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_transposed_volume_keeps_every_voxel_in_place(order):
    image = _image()
    moved = image.transposed(order)
    assert moved.shape == tuple(image.shape[a] for a in order)
    for zyx in ([0, 0, 0], [3, 7, 11], [5, 19, 23]):
        new_index = [zyx[a] for a in order]
        assert moved.array[tuple(new_index)] == image.array[tuple(zyx)]
        np.testing.assert_allclose(moved.index_to_lps([new_index])[0], image.index_to_lps([zyx])[0], atol=1e-6)
    back = moved.transposed(tuple(int(a) for a in np.argsort(order)))
    assert back.same_grid(image) and np.array_equal(back.array, image.array)


@pytest.mark.parametrize("spacing, axis", [
    ((1.4, 1.4, 10.0), 0), ((10.0, 1.4, 1.4), 2), ((1.4, 8.0, 1.4), 1),  # thick slices on any array axis
    ((1.5, 1.5, 0.75), 0), ((0.75, 1.5, 1.5), 2),  # a 3D acquisition's slices, thinner than its pixels
    ((1.4, 1.9, 10.0), 0),  # oblong pixels: the coarsest axis
    ((1.0, 1.0, 1.0), 0), ((1.3, 1.3, 1.31), 0),  # isotropic: the first axis
])
def test_slice_axis_from_the_spacing(spacing, axis):
    volume = Volume(np.zeros((4, 5, 6), np.float32), spacing)
    assert volume.slice_axis() == axis
    assert volume.transposed(volume.slices_first_order()).slice_axis() == 0


def test_written_files_have_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = io.write_volume(_image(), tmp_path / "out.nii.gz")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
