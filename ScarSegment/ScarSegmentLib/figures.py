"""Figure of short-axis slices with the segmentation drawn over the LGE image (for reports)."""

from pathlib import Path

import numpy as np

from LGECore import labels as L

OUTLINES = (  # (mask function, colour, line width, name)
    (lambda a: L.lv_myocardium(a) | (a == L.BLOOD_POOL), "#e3b778", 1.0, "epicardium"),
    (lambda a: a == L.BLOOD_POOL, "#d9544f", 1.0, "endocardium"),
)


def _slices_to_show(labels, count, apex_side):
    """Up to `count` evenly spaced slices holding myocardium, ordered apex -> base."""
    present = np.flatnonzero(L.lv_myocardium(labels).any(axis=(1, 2)))
    if present.size == 0:
        present = np.arange(labels.shape[0])
    if apex_side == "last":
        present = present[::-1]
    picks = np.unique(np.round(np.linspace(0, present.size - 1, min(count, present.size))).astype(int))
    return present[picks]


def _crop(labels, margin=12):
    """Row and column ranges around the heart (all slices), so the figure shows the heart large."""
    heart = np.isin(labels, (L.BLOOD_POOL, L.MYOCARDIUM, L.SCAR, L.MVO)).any(axis=0)
    if not heart.any():
        return slice(None), slice(None)
    rows, cols = np.flatnonzero(heart.any(axis=1)), np.flatnonzero(heart.any(axis=0))
    size = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 2 * margin
    centre = ((rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2)
    r0 = int(np.clip(centre[0] - size // 2, 0, max(labels.shape[1] - size, 0)))
    c0 = int(np.clip(centre[1] - size // 2, 0, max(labels.shape[2] - size, 0)))
    return slice(r0, r0 + size), slice(c0, c0 + size)


def draw_slices(image, labels, path, count=6, apex_side="first", slice_names=None, title=None):
    """Write a PNG of up to `count` slices (apex -> base) with myocardium outlines, scar and MVO.

    `slice_names`: optional {slice index: text} shown above each slice (e.g. the AHA level).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    values, array = image.array, labels.array
    chosen = _slices_to_show(array, count, apex_side)
    rows, cols = _crop(array)
    aspect = image.spacing[1] / image.spacing[0]
    figure = Figure(figsize=(2.3 * len(chosen), 5.2), dpi=110)
    FigureCanvasAgg(figure)
    scar_colour = ListedColormap([L.SEGMENTS[L.SCAR]["color"]])
    mvo_colour = ListedColormap([L.SEGMENTS[L.MVO]["color"]])
    for index, z in enumerate(chosen):
        picture = values[z][rows, cols]
        low, high = np.percentile(values[z], (1, 99.5))
        # Top row: the image alone, so the enhancement itself can be judged; bottom: with labels.
        plain = figure.add_subplot(2, len(chosen), index + 1)
        ax = figure.add_subplot(2, len(chosen), len(chosen) + index + 1)
        for axes in (plain, ax):
            axes.imshow(picture, cmap="gray", vmin=low, vmax=high, aspect=aspect,
                        interpolation="nearest")
            axes.set_axis_off()
        part = array[z][rows, cols]
        for mask_of, colour, width, _ in OUTLINES:
            mask = mask_of(part)
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=width)
        for value, colours in ((L.SCAR, scar_colour), (L.MVO, mvo_colour)):
            mask = part == value
            if mask.any():
                ax.imshow(np.ma.masked_where(~mask, mask), cmap=colours, alpha=0.55,
                          aspect=aspect, interpolation="nearest")
        name = (slice_names or {}).get(int(z), "")
        plain.set_title(f"slice {z}" + (f"\n{name}" if name else ""), fontsize=8)
    figure.suptitle(title or "Short-axis slices, apex to base: scar yellow, MVO blue, "
                    "myocardium outlined", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png", facecolor="white")
    return path
