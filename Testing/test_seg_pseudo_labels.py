"""Scar pseudo-labels: the classifier's map says where, the image's n-SD rule says how far."""

import numpy as np


def _ring_case(slices=3, size=48):
    """Myocardium ring masks; a bright scar of a quarter of the ring on slice 1, a blurred map
    that is hot over half the ring there, a bright speck far from the hot part."""
    rows, cols = np.indices((size, size)) - size / 2
    radius, angle = np.hypot(rows, cols), np.degrees(np.arctan2(rows, cols))
    ring = (radius > 10) & (radius < 16)
    masks = np.repeat(ring[None], slices, 0)
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 1.0, masks.shape)
    scar = ring & (angle > 0) & (angle < 90)
    images[1][scar] += 6.0
    speck = ring & (np.abs(angle + 120) < 6)
    images[1][speck] += 6.0
    maps = np.where(ring & (angle > -20) & (angle < 160), 4.0, -4.0) + rng.normal(0, 0.3, masks.shape)
    maps = np.repeat(maps[1][None], slices, 0)
    return maps, masks, images, scar, speck


def test_the_scar_follows_the_bright_wall_where_the_map_is_hot():
    from ScarSegmentLib.pseudo_labels import pseudo_scar

    maps, masks, images, scar, speck = _ring_case()
    may_hold = np.array([False, True, False])
    labels = pseudo_scar(maps, masks, may_hold, images)
    assert not labels[[0, 2]].any()  # slices labelled no get no scar
    found = labels[1]
    dice = 2 * (found & scar).sum() / (found.sum() + scar.sum())
    assert dice > 0.9  # the map is hot over twice the scar; the image delineates it
    assert not (found & speck).any()  # bright, but nowhere near where the classifier looked
    # The map alone (its two upper classes) would have drawn the whole hot half of the ring.
    assert found.sum() < 0.7 * (masks[1] & (maps[1] > 0)).sum()


def test_no_scar_without_a_map_to_split():
    from ScarSegmentLib.pseudo_labels import pseudo_scar

    maps, masks, images, _, _ = _ring_case()
    flat = np.zeros_like(maps)
    assert not pseudo_scar(flat, masks, np.array([True, True, True]), images).any()
