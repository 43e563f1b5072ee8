"""Results back to PACS: labels as a DICOM Segmentation (highdicom) that references the source
series, and a report as an Encapsulated PDF in the source study.

Both take the DICOM files the image was read from, in the order of its slices (the `files` of
dicom.FolderChoice), so every frame points at the image it was drawn on.
"""

from pathlib import Path

import numpy as np

from . import labels as L
from .errors import InputError
from .outputs import write_bytes_atomic

MANUFACTURER = "ScarSynth"
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"


def read_sources(files):
    """The source datasets (pixel data included, as highdicom reads their geometry)."""
    import pydicom

    return [pydicom.dcmread(str(path)) for path in files]


def _code(triple):
    """A highdicom code from a (scheme, value, meaning) triple; this package's own codes go under a
    private scheme, whose designators begin with 99."""
    from highdicom.sr import CodedConcept

    scheme, value, meaning = triple
    return CodedConcept(value, scheme if scheme in ("SCT", "DCM") else f"99{scheme.upper()}", meaning)


def _segment_descriptions(present, version):
    """One SegmentDescription per label present, numbered 1..N in label order."""
    from highdicom import AlgorithmIdentificationSequence
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentDescription
    from pydicom.sr.codedict import codes

    algorithm = AlgorithmIdentificationSequence(name=MANUFACTURER, version=version,
                                                family=codes.cid7162.ArtificialIntelligence)
    return [SegmentDescription(
        segment_number=number, segment_label=L.SEGMENTS[label]["name"],
        segmented_property_category=_code(L.SEGMENTS[label]["category"]),
        segmented_property_type=_code(L.SEGMENTS[label]["type"]),
        algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
        for number, label in enumerate(present, start=1)]


def check_dicom_sources(choice):
    """InputError, before any work, unless a DICOM Segmentation can reference the images read: a
    DICOM input (`choice`, a dicom.FolderChoice, is None for an image file) of one series, with
    the frame of reference the Segmentation shares."""
    import pydicom

    if choice is None or not choice.files:
        raise InputError("--dicom writes DICOM objects that reference the images read; give a DICOM folder.")
    headers = [pydicom.dcmread(str(path), stop_before_pixels=True) for path in choice.files]
    series = {header.SeriesInstanceUID for header in headers}
    if len(series) != 1:
        raise InputError(f"The stack was read from {len(series)} DICOM series (one per slice); a DICOM "
                         "Segmentation references the images of one series.")
    if not all(getattr(header, "FrameOfReferenceUID", "") for header in headers):
        raise InputError("The DICOM images have no Frame of Reference UID, which a DICOM Segmentation needs.")


def write_dicom_seg(labels, files, path, version):
    """Write `labels` (a label Volume on the grid read from `files`, slices in their order) as a
    DICOM Segmentation with one segment per label present; returns `path`."""
    import highdicom

    sources = read_sources(files)
    array = np.asarray(labels.array)
    if len(sources) == 1:  # a multi-frame source: its frames are the slices
        frames = int(getattr(sources[0], "NumberOfFrames", 1))
    else:
        frames = len(sources)
    if array.shape != (frames, sources[0].Rows, sources[0].Columns):
        raise InputError(f"The labels (shape {array.shape}) are not on the grid of the DICOM images they "
                         f"should reference ({frames} x {sources[0].Rows} x {sources[0].Columns}).")
    present = sorted(set(np.unique(array).tolist()) - {L.BACKGROUND})
    numbered = np.zeros(array.shape, dtype=np.uint8)
    for number, label in enumerate(present, start=1):
        numbered[array == label] = number
    try:
        segmentation = highdicom.seg.Segmentation(
            source_images=sources, pixel_array=numbered,
            segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=_segment_descriptions(present or [L.MYOCARDIUM], version),
            series_instance_uid=highdicom.UID(), series_number=9901, sop_instance_uid=highdicom.UID(),
            instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name="ScarSegment",
            software_versions=version, device_serial_number="0", content_label="SCAR",
            series_description="ScarSynth LV, scar and MVO", omit_empty_frames=False)
    except ValueError as error:  # highdicom names what the source images lack for the IOD
        raise InputError(f"No DICOM Segmentation can reference these images: {error}") from None
    return _save(segmentation, path)


def _save(dataset, path):
    import io

    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return write_bytes_atomic(buffer.getvalue(), Path(path))


def write_encapsulated_pdf(pdf, source_file, path, title, version):
    """Write the PDF bytes `pdf` as a DICOM Encapsulated PDF in the study (and for the patient) of
    `source_file`; returns `path`."""
    import highdicom
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    source = pydicom.dcmread(str(source_file), stop_before_pixels=True)
    dataset = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(dataset, keyword, getattr(source, keyword, ""))
    dataset.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    dataset.SOPInstanceUID = highdicom.UID()
    dataset.SeriesInstanceUID = highdicom.UID()
    dataset.Modality = "DOC"
    dataset.SeriesNumber, dataset.InstanceNumber = 9902, 1
    dataset.ConversionType = "WSD"
    dataset.Manufacturer, dataset.SoftwareVersions = MANUFACTURER, version
    dataset.SeriesDescription = dataset.DocumentTitle = title
    dataset.ContentDate = dataset.StudyDate
    dataset.BurnedInAnnotation = "YES"  # the report names the patient's figures
    dataset.MIMETypeOfEncapsulatedDocument = "application/pdf"
    dataset.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    dataset.EncapsulatedDocumentLength = len(pdf)
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return _save(dataset, path)
