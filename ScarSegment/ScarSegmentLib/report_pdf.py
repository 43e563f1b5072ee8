"""The run's report as a PDF (matplotlib): the pages a reading room files with the study, as
report.pdf and, for a DICOM input, as an Encapsulated PDF (LGECore.dicom_out).

Page 1: headline, warnings, key numbers and method; page 2: the bullseyes and the slices.
"""

import io

from .report import key_numbers, method_lines, headline

A4_INCHES = (8.27, 11.69)


def _text_page(plt, context):
    figure = plt.figure(figsize=A4_INCHES)
    lines = [("Myocardial scar report", 15, "bold"), (str(context["source"]), 9, "normal"),
             (f"Created {context['created']} by scarsynth run.", 8, "normal"), ("", 8, "normal"),
             (headline(context), 10, "bold"), ("", 8, "normal")]
    lines += [(f"Warning: {warning}", 8, "bold") for warning in context["warnings"]]
    lines += [("Key numbers", 11, "bold")]
    lines += [(f"{name}: {value} {unit}", 8, "normal") for name, value, unit in key_numbers(context)]
    lines += [("", 8, "normal"), ("Method", 11, "bold")]
    lines += [(line, 8, "normal") for line in method_lines(context["metrics"])]
    y = 0.96
    for text, size, weight in lines:
        figure.text(0.07, y, text[:150], fontsize=size, weight=weight, va="top")
        y -= 0.012 + size * 0.0016
    return figure


def _image_page(plt, context):
    images = [context["images"][key] for key in ("bullseye", "transmurality", "slices") if key in context["images"]]
    figure = plt.figure(figsize=A4_INCHES)
    for index, path in enumerate(images):
        axis = figure.add_subplot(len(images), 1, index + 1)
        axis.imshow(plt.imread(str(path)))
        axis.axis("off")
    return figure


def report_pdf(context):
    """The report's PDF, as bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer) as pages:
        for make in (_text_page, _image_page):
            figure = make(plt, context)
            pages.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()
