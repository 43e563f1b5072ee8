"""The bullseye figure: layout (segment 1 at the top, anticlockwise), colours, PNG and SVG."""

import numpy as np
import pytest

from AHABullseyeLib.bullseye import bullseye_figure, draw_bullseye, segment_wedges
from LGECore.errors import InputError


def pixel_colour(figure, ax, x, y):
    """RGB (0..1) of the rendered figure at data point (x, y)."""
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3] / 255.0
    px, py = ax.transData.transform((x, y))
    return image[image.shape[0] - 1 - int(round(py)), int(round(px))]


def centre_of(segment):
    inner, outer, start, end = segment_wedges()[segment]
    radius = 0.0 if segment == 17 else (inner + outer) / 2
    angle = np.radians((start + end) / 2)
    return radius * np.cos(angle), radius * np.sin(angle) - 0.45  # below the printed value


def test_layout_follows_the_aha_statement():
    wedges = segment_wedges()
    assert set(wedges) == set(range(1, 18))
    middle = {s: ((w[2] + w[3]) / 2) % 360 for s, w in wedges.items()}
    assert middle[1] == 90 and middle[7] == 90 and middle[13] == 90  # anterior at the top
    assert middle[2] == 150 and middle[3] == 210 and middle[4] == 270  # anticlockwise: septum left
    assert middle[14] == 180 and middle[16] == 0
    assert wedges[1][:2] == (3.0, 4.0) and wedges[7][:2] == (2.0, 3.0) and wedges[13][:2] == (1.0, 2.0)


def test_colours_follow_the_values():
    values = {s: 0.0 for s in range(1, 18)}
    values[4] = 100.0
    values[12] = None
    figure, ax = bullseye_figure(values, cmap="Greys", vmin=0, vmax=100, territories=False)
    high = pixel_colour(figure, ax, *centre_of(4))
    low = pixel_colour(figure, ax, *centre_of(1))
    missing = pixel_colour(figure, ax, *centre_of(12))
    assert high.mean() < 0.2 and low.mean() > 0.9  # Greys: 100 black, 0 white
    assert np.allclose(missing, 0.85, atol=0.03)  # grey "n/a"


def test_png_and_svg_are_written(tmp_path):
    values = {s: float(s) for s in range(1, 18)}
    png = draw_bullseye(values, tmp_path / "b.png", title="t", label="scar %")
    svg = draw_bullseye(values, tmp_path / "b.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "b.svg"]  # no temporary left


def test_bad_values_and_formats(tmp_path):
    with pytest.raises(InputError, match="18"):
        draw_bullseye({18: 1.0}, tmp_path / "b.png")
    with pytest.raises(InputError, match=".png or .svg"):
        draw_bullseye({1: 1.0}, tmp_path / "b.jpg")
    assert not list(tmp_path.iterdir())
