"""Draw the extension icon and the three module icons (128 x 128 PNG) with matplotlib.

Run from the repository root:  python Utilities/make_icons.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Wedge  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZE = 128  # pixels
BACKGROUND = "#1d2733"
MYOCARDIUM = "#6e5a52"
BLOOD_POOL = "#b9b3ad"
SCAR = "#ffe74a"
EDGE = "#10161d"


def _canvas():
    figure = plt.figure(figsize=(1, 1), dpi=SIZE)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_xlim(-1, 1)
    axes.set_ylim(-1, 1)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.add_patch(Circle((0, 0), 0.98, color=BACKGROUND))
    return figure, axes


def _save(figure, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=SIZE, transparent=True)
    plt.close(figure)
    print(f"wrote {path.relative_to(REPO)}")


def _bullseye(axes, scar_segments):
    """The AHA 17-segment bullseye (anterior at the top, septum on the left); scar ones bright."""
    rings = [(0.92, 0.68, 6, 1), (0.68, 0.44, 6, 7), (0.44, 0.22, 4, 13)]  # outer, inner, n, first
    for outer, inner, count, first in rings:
        step = 360.0 / count
        for index in range(count):
            # The first segment of a ring is centred at the top; numbers go anticlockwise.
            theta1 = 90.0 - step / 2 + index * step
            colour = SCAR if first + index in scar_segments else MYOCARDIUM
            axes.add_patch(Wedge((0, 0), outer, theta1, theta1 + step, width=outer - inner,
                                 facecolor=colour, edgecolor=EDGE, linewidth=1.2))
    apex = SCAR if 17 in scar_segments else MYOCARDIUM
    axes.add_patch(Circle((0, 0), 0.22, facecolor=apex, edgecolor=EDGE, linewidth=1.2))


def _short_axis(axes, scar_from, scar_to, outline=False):
    """An LGE short-axis slice: dark myocardial ring, grey blood pool, bright scar arc."""
    axes.add_patch(Circle((0, 0), 0.80, color=MYOCARDIUM))
    axes.add_patch(Wedge((0, 0), 0.80, scar_from, scar_to, width=0.32, color=SCAR))
    axes.add_patch(Circle((0, 0), 0.48, color=BLOOD_POOL))
    if outline:
        for radius, colour in ((0.80, "#4fc3f7"), (0.48, "#ef5350")):
            axes.add_patch(Circle((0, 0), radius, fill=False, edgecolor=colour, linewidth=2.2))


def extension_icon():
    figure, axes = _canvas()
    _bullseye(axes, scar_segments={1, 2, 7, 8, 13})
    _save(figure, REPO / "ScarSynth.png")


def aha_bullseye_icon():
    figure, axes = _canvas()
    _bullseye(axes, scar_segments={4, 5, 10, 11, 15})
    for angle in np.deg2rad([120.0, 240.0]):  # RV insertion points: boundaries 1|2 and 3|4
        axes.plot([0.68 * np.cos(angle), 0.95 * np.cos(angle)],
                  [0.68 * np.sin(angle), 0.95 * np.sin(angle)], color="#4fc3f7", linewidth=2.5)
    _save(figure, REPO / "AHABullseye" / "Resources" / "Icons" / "AHABullseye.png")


def scar_segment_icon():
    figure, axes = _canvas()
    _short_axis(axes, scar_from=-60.0, scar_to=40.0, outline=True)
    _save(figure, REPO / "ScarSegment" / "Resources" / "Icons" / "ScarSegment.png")


def scar_synth_icon():
    """Left half noise, right half a synthesised slice with scar: generation from noise."""
    figure, axes = _canvas()
    _short_axis(axes, scar_from=-70.0, scar_to=30.0)
    noise = np.random.default_rng(3).uniform(0.15, 0.85, size=(24, 12))
    image = axes.imshow(noise, cmap="gray", extent=(-0.98, 0.0, -0.98, 0.98), zorder=3,
                        interpolation="nearest")
    image.set_clip_path(Circle((0, 0), 0.98, transform=axes.transData))
    axes.plot([0, 0], [-0.98, 0.98], color=SCAR, linewidth=2.0, zorder=4)
    _save(figure, REPO / "ScarSynth" / "Resources" / "Icons" / "ScarSynth.png")


if __name__ == "__main__":
    extension_icon()
    aha_bullseye_icon()
    scar_segment_icon()
    scar_synth_icon()
