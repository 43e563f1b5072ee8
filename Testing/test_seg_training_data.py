"""The segmenter's training data: spacing, neighbouring slices, field-of-view and window
intensity anchors."""

import numpy as np


def test_lost_spacing_is_replaced_only_where_the_header_lost_it():

    from LGECore.volume import Volume
    from ScarSegmentLib.data import with_assumed_spacing

    lost = Volume(np.zeros((2, 8, 8), np.float32), (1.0, 1.0, 1.0))
    fixed = with_assumed_spacing(lost, 1.35)
    assert fixed.spacing == (1.35, 1.35, 10.0) and fixed.array is lost.array and lost.spacing == (1.0, 1.0, 1.0)
    real = Volume(np.zeros((2, 8, 8), np.float32), (0.7, 0.7, 8.0))
    assert with_assumed_spacing(real, 1.35) is real


def test_neighbour_slices_are_channels_with_zeros_beyond_the_stack():

    from ScarSegmentLib.data import neighbour_slices

    stack = np.arange(1, 4, dtype=np.float32)[:, None, None] * np.ones((3, 2, 2), np.float32)
    assert neighbour_slices(stack, 1, 1)[:, 0, 0].tolist() == [1, 2, 3]
    assert neighbour_slices(stack, 0, 1)[:, 0, 0].tolist() == [0, 1, 2]
    assert neighbour_slices(stack, 2, 2)[:, 0, 0].tolist() == [1, 2, 3, 0, 0]
    assert neighbour_slices(stack, 2, 0).shape == (1, 2, 2)


def test_neighbours_of_thin_slices_lie_as_far_apart_as_in_training():

    from ScarSegmentLib.data import neighbour_slices, neighbour_step

    assert [neighbour_step(mm, 10.0) for mm in (10.0, 8.0, 12.0, 20.0, 5.0, 2.5, 1.5)] == [1, 1, 1, 1, 2, 4, 7]
    stack = np.arange(1, 10, dtype=np.float32)[:, None, None] * np.ones((9, 2, 2), np.float32)
    assert neighbour_slices(stack, 4, 1, step=4)[:, 0, 0].tolist() == [1, 5, 9]
    assert neighbour_slices(stack, 2, 1, step=4)[:, 0, 0].tolist() == [0, 3, 7]


def test_field_of_view_anchors_see_less_air_in_smaller_fields():

    from ScarSegmentLib.data import field_of_view_anchors, renormalise

    # Air (0) around a block of tissue (0.5 to 1) with the heart in the middle.
    image = np.zeros((3, 100, 100), np.float32)
    image[:, 25:75, 25:75] = np.linspace(0.5, 1.0, 50)[None, None, :]
    heart = np.zeros(image.shape, np.uint8)
    heart[:, 45:55, 45:55] = 2
    whole = np.percentile(image, (1.0, 99.5))
    anchors = field_of_view_anchors(image, heart, (1.0, 99.5), np.random.default_rng(0), count=40, smallest=0.2)
    assert anchors.shape == (40, 2) and np.all(anchors[:, 1] > anchors[:, 0])
    assert np.allclose(anchors.min(axis=0)[0], whole[0])  # some fields of view still hold air...
    assert anchors[:, 0].max() >= 0.5  # ...and some hold tissue alone
    full = field_of_view_anchors(image, heart, (1.0, 99.5), np.random.default_rng(0), count=3, smallest=1.0)
    assert np.allclose(full, whole[None])
    assert np.allclose(renormalise(np.array([0.5, 1.0], np.float32), (0.5, 1.0)), [0.0, 1.0])


def test_window_anchors_do_not_depend_on_the_field_of_view():

    from ScarSegmentLib.data import window_anchors

    rng = np.random.default_rng(0)
    scan = np.zeros((4, 200, 200), np.float32)  # air...
    scan[:, 30:170, 20:180] = rng.uniform(0.2, 1.0, (4, 140, 160))  # ...around the body
    heart, window = (100, 90), 60
    wide = window_anchors(scan, heart, window, (1.0, 99.5))
    tight = scan[:, 40:160, 40:150]  # another scanner's tighter field of view, no air at all
    assert np.allclose(window_anchors(tight, (heart[0] - 40, heart[1] - 40), window, (1.0, 99.5)), wide)
    assert np.allclose(wide, np.percentile(scan[:, 70:130, 60:120], (1.0, 99.5)))
    assert not np.allclose(wide, np.percentile(scan, (1.0, 99.5)))  # the whole scan's anchors differ
    # A window reaching beyond the image counts only the part inside it.
    edge = window_anchors(scan, (30, 20), window, (1.0, 99.5))
    assert np.allclose(edge, np.percentile(scan[:, :60, :50], (1.0, 99.5)))
