"""The AHA 17-segment bullseye (polar map) as a PNG or SVG figure.

Layout as in the AHA statement: basal ring outside, then mid, apical, and the apex in the centre;
segment 1 at the top and numbering anticlockwise, so the septum lies on the left.
"""

import os
import tempfile
from pathlib import Path

import numpy as np

from LGECore.errors import InputError

from .aha_model import RINGS, TERRITORIES, territory_of

# (inner radius, outer radius) of each level in the figure.
_RADII = {"apex": (0.0, 1.0), "apical": (1.0, 2.0), "mid": (2.0, 3.0), "basal": (3.0, 4.0)}


def segment_wedges():
    """{segment: (inner radius, outer radius, start angle, end angle)}, angles in degrees
    anticlockwise from the figure's x axis."""
    wedges = {17: (0.0, 1.0, 0.0, 360.0)}
    for level in ("basal", "mid", "apical"):
        segments = RINGS[level]
        width = 360.0 / len(segments)
        for index, segment in enumerate(segments):
            centre = 90.0 + index * width  # first segment of each ring at the top, anticlockwise
            wedges[segment] = _RADII[level] + (centre - width / 2, centre + width / 2)
    return wedges


def _segment_at(radius, angle_deg):
    """The segment under a point of the figure (None outside the bullseye)."""
    for segment, (inner, outer, start, end) in segment_wedges().items():
        if inner <= radius < outer and (angle_deg - start) % 360.0 < (end - start):
            return segment
    return None


def _territory_boundaries(ax):
    """Thick lines where neighbouring segments belong to different coronary territories."""
    from matplotlib import patheffects

    # Black with a white halo: visible on light and dark segments alike.
    line = dict(color="black", linewidth=2.4, solid_capstyle="butt",
                path_effects=[patheffects.withStroke(linewidth=5.0, foreground="white"), patheffects.Normal()])
    for level in ("basal", "mid", "apical"):  # radial boundaries inside each ring
        inner, outer = _RADII[level]
        segments = RINGS[level]
        width = 360.0 / len(segments)
        for index, segment in enumerate(segments):
            following = segments[(index + 1) % len(segments)]
            if territory_of(segment) != territory_of(following):
                angle = np.radians(90.0 + (index + 0.5) * width)
                ax.plot([inner * np.cos(angle), outer * np.cos(angle)],
                        [inner * np.sin(angle), outer * np.sin(angle)], **line)
    angles = np.arange(0.0, 360.5, 0.5)
    for radius in (1.0, 2.0, 3.0):  # circular boundaries between rings
        differs = np.array([
            territory_of(_segment_at(radius - 0.5, a)) != territory_of(_segment_at(radius + 0.5, a))
            for a in angles])
        runs = np.split(np.arange(len(angles)), np.flatnonzero(np.diff(differs.astype(int))) + 1)
        for run in runs:
            if differs[run[0]] and len(run) > 1:
                theta = np.radians(angles[run])
                ax.plot(radius * np.cos(theta), radius * np.sin(theta), **line)
    for name, members in TERRITORIES.items():  # names outside the rings
        basal = [s for s in members if s <= 6]
        wedges = segment_wedges()
        centre = np.radians(np.mean([(wedges[s][2] + wedges[s][3]) / 2 for s in basal]))
        ax.text(4.45 * np.cos(centre), 4.45 * np.sin(centre), name, ha="center", va="center",
                fontsize=10, fontweight="bold")


def bullseye_figure(values, title=None, label="", cmap="magma_r", territories=True,
                    vmin=0.0, vmax=None, value_format="{:.0f}"):
    """(matplotlib Figure, bullseye axes) coloured by `values` ({segment 1..17: number or None}).

    None or NaN values are drawn grey with 'n/a'; vmax defaults to the largest value. The
    bullseye axes use the layout of segment_wedges() in data coordinates.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Wedge

    unknown = set(values) - set(range(1, 18))
    if unknown:
        raise InputError(f"Bullseye values for unknown segments {sorted(unknown)}; segments are 1..17.")
    numbers = {s: (float(v) if v is not None and np.isfinite(float(v)) else None)
               for s, v in values.items()}
    finite = [v for v in numbers.values() if v is not None]
    if vmax is None:
        vmax = max(finite + [vmin + 1.0]) if finite else vmin + 1.0
    norm = Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1.0)
    colours = colormaps[cmap]

    figure = Figure(figsize=(6.2, 5.2))
    FigureCanvasAgg(figure)
    ax = figure.add_axes([0.02, 0.04, 0.78, 0.86])
    for segment, (inner, outer, start, end) in segment_wedges().items():
        value = numbers.get(segment)
        face = colours(norm(value)) if value is not None else (0.85, 0.85, 0.85, 1.0)
        ax.add_patch(Wedge((0, 0), outer, start, end, width=outer - inner,
                           facecolor=face, edgecolor="white", linewidth=1.2))
        radius = (inner + outer) / 2 if segment != 17 else 0.0
        middle = np.radians((start + end) / 2)
        luminance = 0.299 * face[0] + 0.587 * face[1] + 0.114 * face[2]
        ink = "white" if luminance < 0.5 else "black"
        text = value_format.format(value) if value is not None else "n/a"
        ax.text(radius * np.cos(middle), radius * np.sin(middle) + 0.12, text, ha="center",
                va="center", fontsize=10, color=ink, fontweight="bold")
        ax.text(radius * np.cos(middle), radius * np.sin(middle) - 0.22, str(segment), ha="center",
                va="center", fontsize=7, color=ink)
    if territories:
        _territory_boundaries(ax)
    ax.set_xlim(-4.8, 4.8)
    ax.set_ylim(-4.8, 4.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        figure.suptitle(title, fontsize=12)
    bar_axes = figure.add_axes([0.83, 0.15, 0.035, 0.65])
    colour_bar = figure.colorbar(ScalarMappable(norm=norm, cmap=colours), cax=bar_axes)
    colour_bar.set_label(label)
    return figure, ax


def draw_bullseye(values, path, title=None, label="", cmap="magma_r", territories=True,
                  vmin=0.0, vmax=None, value_format="{:.0f}"):
    """Draw the bullseye coloured by `values` ({segment 1..17: number or None}) to `path`.

    The figure format follows the suffix (.png or .svg); the file is written atomically. The
    other arguments are those of bullseye_figure. Returns the path.
    """
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"The bullseye is written as .png or .svg; got {path.name}.")
    figure, _ = bullseye_figure(values, title=title, label=label, cmap=cmap, territories=territories,
                                vmin=vmin, vmax=vmax, value_format=value_format)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=150, format=path.suffix.lower()[1:])
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a figure is for sharing
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
