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


def test_at_stack_level_the_darker_half_is_remote_where_the_cold_map_holds_scar():
    from ScarSegmentLib.pseudo_labels import pseudo_scar

    maps, masks, images, scar, _ = _ring_case()
    images[:, scar] = images[1][scar]  # the same scar on every slice of a stack labelled yes
    rows, cols = np.indices(masks.shape[1:]) - masks.shape[1] / 2
    angle = np.degrees(np.arctan2(rows, cols))
    # A map learnt from whole stacks: hot over a sliver of the scar only, cold over the rest of it.
    maps = np.where(masks[1] & (angle > 40) & (angle < 50), 4.0, -4.0)
    maps[masks[1] & (angle < -150)] = 0.0  # a middle class, so that the map splits three ways
    maps = np.repeat(maps[None], 3, 0)
    may_hold = np.array([True, True, True])

    def dice(found):
        return 2 * (found & scar).sum() / (found.sum() + 3 * scar.sum())

    assert dice(pseudo_scar(maps, masks, may_hold, images, remote="darker_half")) > 0.8
    # Statistics of the cold map count most of the scar as remote, and so miss it.
    assert dice(pseudo_scar(maps, masks, may_hold, images)) < 0.5
