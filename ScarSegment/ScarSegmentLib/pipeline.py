"""Segmentation, AHA quantification, bullseye and report in one go (`scarsynth run`)."""

import csv
import json

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.io import write_volume
from LGECore.outputs import atomic_output_dir
from LGECore.progress import quiet, scaled
from LGECore.volume import slices_first, turned

from .evaluate import dice
from .outputs import json_ready, write_segmentation
from .report import build_context, write_html, write_markdown
from .segment import check_segment_inputs, on_axes, segment_checked

FILES = {
    "report.html": "this report, self-contained",
    "report.md": "this report in Markdown",
    "labels.nii.gz": "labels on the input grid (1 LV blood pool, 2 myocardium, 3 scar, 4 MVO, 5 RV)",
    "grey_zone_sd.nii.gz": "infarct core (1) and grey zone (2) by the 2-3 SD band above remote myocardium",
    "grey_zone_max.nii.gz": "infarct core (1) and grey zone (2) by the band up to half the maximum signal",
    "probabilities.nii.gz": "network probabilities, one component per label 0-4",
    "metrics.json": "volumes, masses, burden, method and warnings",
    "aha_segments.nii.gz": "AHA segment (1-17) of every LV myocardium voxel",
    "aha.csv": "scar per AHA segment, total and per coronary territory",
    "aha.json": "the same, with how the AHA segments were placed",
    "bullseye.png": "scar extent per AHA segment",
    "transmurality.png": "mean scar transmurality per AHA segment",
    "slices.png": "short-axis slices with the segmentation",
    "labels.seg.dcm": "the labels as a DICOM Segmentation referencing the source series (--dicom)",
    "report.pdf": "this report as a PDF (--dicom)",
    "report.pdf.dcm": "this report as a DICOM Encapsulated PDF in the source study (--dicom)",
    "image.nii.gz": "the phantom image the run used",
    "truth_labels.nii.gz": "the phantom's true labels",
}


def aha_quantification(labels, rv_insertion_lps=None, apex="auto", zones=None):
    """(AHA result, per-segment table, warnings); (None, None, [why]) when AHA is not possible.

    RV insertion points the user gave that cannot be used (NaN, the same point twice, no septal
    arc between them) raise insertion.InsertionPointError: the user asked for them, so a report
    without AHA, or with a degenerate septum, would answer another question."""
    try:
        from AHABullseyeLib.aha import segment_aha
        from AHABullseyeLib.insertion import InsertionPointError
        from AHABullseyeLib.quantify import quantify_aha
    except ImportError as error:
        return None, None, [f"No AHA quantification: this installation lacks it ({error})."]
    try:
        result = segment_aha(labels, rv_insertion_lps=rv_insertion_lps, apex=apex)
        return result, quantify_aha(labels, result, zones), list(result.warnings)
    except InsertionPointError:
        raise
    except InputError as error:
        return None, None, [f"No AHA quantification: {error}"]


def _check_rv_points(rv_insertion_lps):
    try:
        from AHABullseyeLib.insertion import check_user_points
    except ImportError:  # no AHA in this installation: the points are not used
        return
    check_user_points(rv_insertion_lps)


def compare_with_truth(labels, truth_labels):
    """[(quantity, found, true)] against known labels (the phantom's)."""
    from .quantify import quantify_scar

    found, true = quantify_scar(labels), quantify_scar(truth_labels)
    rows = [("Scar Dice", dice(L.scar(labels.array), L.scar(truth_labels.array)), 1.0),
            ("Myocardium Dice", dice(L.lv_myocardium(labels.array), L.lv_myocardium(truth_labels.array)), 1.0),
            ("MVO Dice", dice(labels.array == L.MVO, truth_labels.array == L.MVO), 1.0)]
    for key, name in (("scar_volume_ml", "Scar volume (mL)"), ("scar_burden_percent", "Scar burden (%)"),
                      ("mvo_volume_ml", "MVO volume (mL)"), ("myocardium_volume_ml", "Myocardium volume (mL)")):
        rows.append((name, found[key], true[key]))
    return rows


def _write_aha(folder, aha, table, segments):
    """AHA files; `segments` is the AHA segment map on the input's grid."""
    from AHABullseyeLib.bullseye import draw_bullseye
    from AHABullseyeLib.quantify import table_rows

    write_volume(segments, folder / "aha_segments.nii.gz")
    rows = table_rows(table) + table["territories"]
    with open(folder / "aha.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "aha.json").write_text(json.dumps(json_ready({**table, "aha": aha.summary()}), indent=2) + "\n")
    extent = {row["segment"]: row["scar_percent"] for row in table["segments"]}
    draw_bullseye(extent, folder / "bullseye.png", title="Scar extent (% of segment)",
                  label="scar %", vmin=0.0, vmax=100.0)
    depth = {row["segment"]: row["transmurality_mean_percent"] for row in table["segments"]}
    draw_bullseye(depth, folder / "transmurality.png", title="Mean transmurality of scar (%)",
                  label="transmurality %", vmin=0.0, vmax=100.0, cmap="viridis_r")


def _write_dicom_outputs(folder, labels, context, dicom_files):
    """labels.seg.dcm, report.pdf and report.pdf.dcm for an input read from `dicom_files`."""
    from LGECore.dicom_out import write_dicom_seg, write_encapsulated_pdf

    from . import __version__
    from .report_pdf import report_pdf

    write_dicom_seg(labels, dicom_files, folder / "labels.seg.dcm", __version__)
    pdf = report_pdf(context)
    (folder / "report.pdf").write_bytes(pdf)
    write_encapsulated_pdf(pdf, dicom_files[0], folder / "report.pdf.dcm", "Myocardial scar report", __version__)


def run_pipeline(image, outdir, source, method="dl", n_sd=5.0, myocardium=None, device=None,
                 weights=None, rv_insertion_lps=None, apex="auto", truth_labels=None,
                 notes=(), save_input=False, myocardium_source=None, progress=None, dicom_files=()):
    """Segment `image`, quantify per AHA segment, and write labels, figures and the report.

    `source`: how the report names the input. `truth_labels`: known labels (phantom) to compare
    with. `notes`: warnings the caller adds (e.g. "spacing assumed"). `save_input`: also write
    the image (and truth) into the output, for inputs that exist only in memory.
    `myocardium_source`: how the report names where a given myocardium came from. `dicom_files`:
    the DICOM files the image was read from, in slice order, for the DICOM outputs (none without).
    Returns the report context (dict). Everything appears in `outdir` together, or nothing.
    """
    from .figures import draw_slices

    report = progress or quiet
    check_segment_inputs(image, method, myocardium)  # the image is checked here, once for the whole run
    if rv_insertion_lps is not None and len(np.atleast_1d(rv_insertion_lps)) > 0:
        _check_rv_points(rv_insertion_lps)  # before segmenting: shape, NaN, a point given twice
    # The figures (slices, transmurality per slice) and the report's slice levels go slice by
    # slice along the first array axis: work on the same voxels with the slices there, and write
    # files on the input's axes.
    source_image = image
    (image, myocardium, truth_labels), back = slices_first(image, myocardium, truth_labels)
    # no progress asked for (a cohort's studies): None keeps the network's own bar quiet too
    result = segment_checked(image, method=method, n_sd=n_sd, myocardium=myocardium, device=device,
                             weights=weights, progress=scaled(report, 0.0, 0.6) if progress else None)
    if myocardium is not None and myocardium_source:
        result.metrics["myocardium_source"] = myocardium_source
    report(0.65, "AHA 17 segments")
    zones = {definition: found.zones for definition, found in result.zones.items()}
    aha, table, aha_warnings = aha_quantification(result.labels, rv_insertion_lps, apex, zones)
    warnings = list(notes) + result.warnings + aha_warnings
    comparison = None if truth_labels is None else compare_with_truth(result.labels, truth_labels)
    report(0.8, "figures and report")
    with atomic_output_dir(outdir, replaces=FILES) as folder:
        write_segmentation(on_axes(result, back), folder, {"input": source})
        images = {}
        if aha is not None:
            _write_aha(folder, aha, table, aha.segments.transposed(back))
            images.update(bullseye=folder / "bullseye.png", transmurality=folder / "transmurality.png")
        levels = aha.slice_levels if aha is not None else None
        draw_slices(image, result.labels, folder / "slices.png",
                    apex_side=aha.apex_side if aha is not None else "first", slice_names=levels)
        images["slices"] = folder / "slices.png"
        if save_input:
            write_volume(source_image, folder / "image.nii.gz")
            if truth_labels is not None:
                write_volume(turned(truth_labels, back), folder / "truth_labels.nii.gz")
        written = sorted(p.name for p in folder.iterdir()) + ["report.md", "report.html"]
        written += ["labels.seg.dcm", "report.pdf", "report.pdf.dcm"] if dicom_files else []
        files = [(name, FILES.get(name, "")) for name in FILES if name in written]
        context = build_context(source, result.metrics, warnings, table,
                                aha.summary() if aha is not None else None, comparison, images, files)
        write_markdown(context, folder / "report.md")
        write_html(context, folder / "report.html")
        if dicom_files:
            _write_dicom_outputs(folder, on_axes(result, back).labels, context, dicom_files)
    report(1.0, "done")
    return context

