"""DICOM out: the labels as a DICOM Segmentation that references the source series, and the run's
report as a PDF and a DICOM Encapsulated PDF in the source study; both read back with pydicom."""

import numpy as np
import pytest

from LGECore import io
from LGECore import labels as L
from test_dicom import write_dicom

pydicom = pytest.importorskip("pydicom")
highdicom = pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def dicom_case(tmp_path_factory):
    """A phantom written as one DICOM series, and its labels as NIfTI on the same grid."""
    from LGECore.phantom import make_phantom

    folder = tmp_path_factory.mktemp("dicom_case")
    phantom = make_phantom(seed=3, n_slices=6, matrix_size=96, territory="LAD", mvo=True, look="scanner")
    write_dicom(phantom.image.with_array(np.round(phantom.image.array)), folder / "dicom")
    io.write_volume(phantom.labels, folder / "myocardium.nii.gz")
    return folder


def scarsynth(capsys, *args):
    from ScarSynthLib.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


def frames_by_label(segmentation, source_uid):
    """{project label: mask of the frame drawn on the source image `source_uid`}."""
    pixels = segmentation.get_pixels_by_source_instance(source_sop_instance_uids=[source_uid])[0]
    names = {info["name"]: label for label, info in L.SEGMENTS.items()}
    return {names[item.SegmentLabel]: pixels[..., index] > 0
            for index, item in enumerate(segmentation.SegmentSequence)}


def test_segment_writes_a_dicom_segmentation_of_every_slice(dicom_case, tmp_path, capsys):
    out = tmp_path / "out"
    code, stderr = scarsynth(capsys, "segment", dicom_case / "dicom", "-o", out, "--method", "nsd",
                             "--myocardium", dicom_case / "myocardium.nii.gz", "--dicom")
    assert code == 0, stderr
    segmentation = highdicom.seg.segread(str(out / "labels.seg.dcm"))
    _, choice = io.read_image_and_choice(dicom_case / "dicom")
    sources = [pydicom.dcmread(path, stop_before_pixels=True) for path in choice.files]
    assert segmentation.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert segmentation.StudyInstanceUID == sources[0].StudyInstanceUID
    assert segmentation.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    labels = io.read_labels(out / "labels.nii.gz").array
    assert {item.SegmentLabel for item in segmentation.SegmentSequence} == {
        L.SEGMENTS[label]["name"] for label in np.unique(labels) if label}
    for k, source in enumerate(sources):  # the volume's slice k was read from choice.files[k]
        for label, mask in frames_by_label(segmentation, source.SOPInstanceUID).items():
            assert np.array_equal(mask, labels[k] == label), (k, label)


def test_run_writes_the_report_as_pdf_and_encapsulated_pdf(dicom_case, tmp_path, capsys):
    out = tmp_path / "out"
    code, stderr = scarsynth(capsys, "run", dicom_case / "dicom", "-o", out, "--method", "fwhm",
                             "--myocardium", dicom_case / "myocardium.nii.gz", "--dicom")
    assert code == 0, stderr
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000  # two pages with the figures
    document = pydicom.dcmread(out / "report.pdf.dcm")
    source = pydicom.dcmread(next((dicom_case / "dicom").iterdir()), stop_before_pixels=True)
    assert document.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert document.StudyInstanceUID == source.StudyInstanceUID and document.PatientID == source.PatientID
    assert document.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert document.EncapsulatedDocument[:document.EncapsulatedDocumentLength] == pdf
    assert (out / "labels.seg.dcm").exists() and "labels.seg.dcm" in (out / "report.md").read_text()


@pytest.mark.parametrize("problem", ["nifti", "per_slice_series", "no_frame_of_reference"])
def test_dicom_outputs_that_cannot_reference_their_images_are_refused_before_any_work(
        dicom_case, tmp_path, capsys, problem):
    image = tmp_path / "in"
    volume = io.read_image(dicom_case / "dicom")
    if problem == "nifti":
        image = io.write_volume(volume, tmp_path / "lge.nii.gz")
        expected = "give a DICOM folder"
    elif problem == "per_slice_series":
        write_dicom(volume, image, one_series_per_slice=True)
        expected = "one series"
    else:
        write_dicom(volume, image)
        for path in image.iterdir():
            dataset = pydicom.dcmread(path)
            del dataset.FrameOfReferenceUID
            dataset.save_as(path)
        expected = "Frame of Reference"
    code, stderr = scarsynth(capsys, "segment", image, "-o", tmp_path / "out", "--method", "nsd",
                             "--myocardium", dicom_case / "myocardium.nii.gz", "--dicom")
    assert code == 2 and expected in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_a_real_case_exported_as_dicom_comes_back_as_the_same_labels(emidec_dir, tmp_path, capsys):
    """A shared real case written as a DICOM series: the Segmentation's frames are its labels."""
    from LGECore.io import read_emidec_dataset

    case = next(case for case in read_emidec_dataset(emidec_dir) if case.name == "Case_P002")
    image, labels = case.load()
    write_dicom(image.with_array(np.round(image.array)), tmp_path / "dicom")
    io.write_volume(labels, tmp_path / "myocardium.nii.gz")
    code, stderr = scarsynth(capsys, "segment", tmp_path / "dicom", "-o", tmp_path / "out", "--method", "nsd",
                             "--myocardium", tmp_path / "myocardium.nii.gz", "--dicom")
    assert code == 0, stderr
    segmentation = highdicom.seg.segread(str(tmp_path / "out" / "labels.seg.dcm"))
    _, choice = io.read_image_and_choice(tmp_path / "dicom")
    found = io.read_labels(tmp_path / "out" / "labels.nii.gz").array
    assert (found == L.SCAR).any()
    for k, path in enumerate(choice.files):
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        for label, mask in frames_by_label(segmentation, uid).items():
            assert np.array_equal(mask, found[k] == label)
