"""One progress scale: fractions 0..1 in every API; percent only on the wire between processes."""

import io

import numpy as np
import pytest

from LGECore.progress import parse_progress_line, report, scaled
from LGECore.volume import Volume, slices_first, turned


def test_a_reported_fraction_reads_back_as_the_same_fraction():
    stream = io.StringIO()
    report(0.4, "finding remote myocardium", stream)
    assert stream.getvalue() == "progress: 40% finding remote myocardium\n"
    assert parse_progress_line(stream.getvalue()) == (0.4, "finding remote myocardium")
    assert parse_progress_line("warning: something else") is None


def test_a_step_reports_inside_its_share_of_the_whole():
    seen = []
    step = scaled(lambda fraction, message: seen.append((fraction, message)), 0.2, 0.6)
    step(0.0, "start")
    step(0.5, "half")
    step(1.0, "end")
    assert [f for f, _ in seen] == pytest.approx([0.2, 0.4, 0.6])


def test_segment_reports_fractions_that_end_at_one():
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.segment import segment

    phantom = make_phantom(seed=2, territory="LAD", n_slices=4, matrix_size=96)
    seen = []
    segment(phantom.image, method="fwhm", myocardium=phantom.labels, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen) and all(0.0 <= f <= 1.0 for f in seen)


def test_slices_first_turns_volumes_and_arrays_together_and_back():
    array = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    volume = Volume(array, spacing=(10.0, 1.5, 1.5))  # ITK x spacing 10 mm: slices along array axis 2
    mask = array > 5
    (stack, turned_mask, nothing), back = slices_first(volume, mask, None)
    assert stack.shape == (4, 2, 3) and stack.spacing[2] == 10.0
    np.testing.assert_array_equal(turned_mask, stack.array > 5)
    assert nothing is None
    np.testing.assert_array_equal(turned(stack, back).array, array)
    np.testing.assert_array_equal(turned(turned_mask, back), mask)
