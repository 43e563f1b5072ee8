"""AHA-guided scar masks on real hearts: placement, contiguity, transmurality, MVO, seeds, patterns."""

import numpy as np
import pytest
from scipy import ndimage

from AHABullseyeLib.aha import segment_aha
from AHABullseyeLib.aha_model import TERRITORIES
from AHABullseyeLib.polar import myocardium_polar
from AHABullseyeLib.quantify import quantify_aha
from AHABullseyeLib.transmurality import ray_transmurality
from AHABullseyeLib.wall import wall_depth
from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.io import read_emidec_dataset
from LGECore.phantom import make_phantom
from ScarSynthLib.scar_masks import make_scar_labels, random_scar_config
from ScarSynthLib.scar_random import SEGMENT_NEIGHBOURS

ALL_AROUND = np.ones((3, 3, 3), dtype=bool)


@pytest.fixture(scope="module")
def healthy(emidec_dir):
    """Label maps of three real hearts without scar."""
    cases = [c for c in read_emidec_dataset(emidec_dir) if not c.has_infarct][:3]
    return [c.load()[1] for c in cases]


@pytest.fixture(scope="module")
def infarcted(emidec_dir):
    case = next(c for c in read_emidec_dataset(emidec_dir) if c.name == "Case_P001")
    return case.load()[1]


def _pieces(mask):
    return ndimage.label(mask, structure=ALL_AROUND)[1]


@pytest.mark.parametrize("request_", [
    dict(territory="LAD", transmurality=0.5),
    dict(territory="RCA", transmurality=0.3, extent=0.6),
    dict(segments=[5, 6, 11, 12, 16], transmurality=0.9),
])
def test_ischaemic_scar_is_in_the_segments_contiguous_and_as_deep_as_asked(healthy, request_):
    for labels in healthy:
        new, params = make_scar_labels(labels, seed=4, **request_)
        scar = L.scar(new.array)
        wanted = params["segments"]
        segments = segment_aha(labels).segments.array
        assert scar.any()
        assert np.all(L.lv_myocardium(labels.array)[scar]), "scar outside the myocardium"
        assert set(np.unique(segments[scar])) <= set(wanted)
        assert _pieces(scar) == 1
        # Transmurality measured by the AHA code, along rays, in the scarred segments.
        table = quantify_aha(new, segment_aha(new))
        scarred = [r for r in table["segments"] if r["scar_ml"] > 0]
        weights = np.array([r["scar_ml"] for r in scarred])
        measured = np.array([r["transmurality_mean_percent"] for r in scarred]) / 100
        assert abs(np.average(measured, weights=weights) - request_["transmurality"]) < 0.12
        # Outside the chosen segments, nothing changed.
        assert np.array_equal(new.array[~np.isin(segments, wanted)], labels.array[~np.isin(segments, wanted)])


def test_full_extent_reaches_every_chosen_segment_and_a_smaller_one_covers_less(healthy):
    labels = healthy[0]
    full, params = make_scar_labels(labels, territory="RCA", extent=1.0, seed=1)
    part, part_params = make_scar_labels(labels, territory="RCA", extent=0.4, seed=1)
    assert abs(part_params["footprint_extent"] - 0.4) < 0.05
    present = set(np.unique(segment_aha(labels).segments.array[L.lv_myocardium(labels.array)]))
    assert set(params["segments_with_scar"]) == set(TERRITORIES["RCA"]) & present
    assert 0 < L.scar(part.array).sum() < 0.7 * L.scar(full.array).sum()
    assert _pieces(L.scar(part.array)) == 1


def test_a_partial_infarct_favours_the_apical_end(healthy):
    labels = healthy[0]
    segments = segment_aha(labels).segments.array
    lad = np.isin(segments, TERRITORIES["LAD"]) & L.lv_myocardium(labels.array)
    apical_share_of_territory = np.mean(segments[lad] >= 13)
    shares = []
    for seed in range(4):
        new, _ = make_scar_labels(labels, territory="LAD", extent=0.4, seed=seed)
        shares.append(np.mean(segments[L.scar(new.array)] >= 13))
    assert np.mean(shares) > apical_share_of_territory + 0.2


def test_mvo_lies_inside_transmural_scar(healthy):
    for labels in healthy:
        new, params = make_scar_labels(labels, territory="LAD", transmurality=0.85, mvo=True, seed=7)
        mvo = new.array == L.MVO
        assert mvo.any() and params["mvo_voxels_added"] == mvo.sum()
        # MVO is a core: every MVO voxel sits on a ray whose wall is mostly scar.
        polar = myocardium_polar(new, segment_aha(new).frame)
        ray_t, _ = ray_transmurality(new, polar)
        at_mvo = new.array[polar.k, polar.row, polar.column] == L.MVO
        assert np.median(ray_t[at_mvo]) >= 0.75
        assert np.mean(ray_t[at_mvo] >= 0.5) > 0.95
        # ... and it is surrounded by scar rather than healthy myocardium.
        rim = ndimage.binary_dilation(mvo, structure=np.ones((1, 3, 3))) & ~mvo & L.lv_myocardium(new.array)
        assert np.mean(new.array[rim] == L.SCAR) > 0.5


def test_mvo_needs_a_transmural_ischaemic_scar(healthy):
    with pytest.raises(InputError, match="transmural"):
        make_scar_labels(healthy[0], territory="LAD", transmurality=0.5, mvo=True)
    with pytest.raises(InputError, match="MVO"):
        make_scar_labels(healthy[0], territory="LAD", transmurality=0.9, mvo=True, pattern="midwall")


def test_same_seed_same_scar_other_seed_other_scar(healthy):
    request_ = dict(territory="LCX", transmurality=0.6, extent=0.6)
    first, p1 = make_scar_labels(healthy[1], seed=11, **request_)
    again, p2 = make_scar_labels(healthy[1], seed=11, **request_)
    other, _ = make_scar_labels(healthy[1], seed=12, **request_)
    assert np.array_equal(first.array, again.array) and p1 == p2
    assert not np.array_equal(first.array, other.array)


def test_input_is_not_modified_and_existing_scar_is_kept(infarcted):
    before = infarcted.array.copy()
    # All segments, deep, with MVO: the new scar surely meets the old one.
    new, params = make_scar_labels(infarcted, segments=range(1, 18), transmurality=0.9, mvo=True, seed=0)
    assert np.array_equal(infarcted.array, before)
    assert params["scar_voxels_added"] > 0 and params["mvo_voxels_added"] > 0
    old_scar = L.scar(before)
    assert np.array_equal(new.array[old_scar], before[old_scar])  # scar and MVO kept as they were
    assert L.scar(new.array).sum() == old_scar.sum() + params["scar_voxels_added"]
    assert params["existing_scar_voxels"] == old_scar.sum()


@pytest.mark.parametrize("pattern, deep_side", [("epicardial", "outer"), ("midwall", "middle"),
                                                ("ischaemic", "inner")])
def test_patterns_sit_at_their_depth_of_the_wall(healthy, pattern, deep_side):
    labels = healthy[0]
    new, _ = make_scar_labels(labels, segments=[3, 4, 9, 10], transmurality=0.35,
                              pattern=pattern, seed=2)
    scar = L.scar(new.array)
    depth = wall_depth(labels)[scar]
    depth = depth[np.isfinite(depth)]
    touches_pool = ndimage.binary_dilation(labels.array == L.BLOOD_POOL, np.ones((1, 3, 3)))
    share_at_pool = np.mean(touches_pool[scar])
    if deep_side == "inner":
        assert np.median(depth) < 0.35 and share_at_pool > 0.3
    elif deep_side == "middle":
        assert 0.3 < np.median(depth) < 0.7 and share_at_pool < 0.05
    else:
        assert np.median(depth) > 0.65 and share_at_pool < 0.05


def test_patchy_scar_comes_in_several_pieces(healthy):
    new, params = make_scar_labels(healthy[0], segments=[2, 3, 8, 9, 14], pattern="patchy",
                                   transmurality=0.4, extent=0.35, seed=5)
    assert _pieces(L.scar(new.array)) >= 2
    assert set(params["segments_with_scar"]) <= {2, 3, 8, 9, 14}


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "either"),
    (dict(segments=[1], territory="LAD"), "either"),
    (dict(territory="LMCA"), "Unknown coronary territory"),
    (dict(segments=[0, 18]), "1..17"),
    (dict(segments=[1], transmurality=1.5), "transmurality"),
    (dict(segments=[1], extent=0), "extent"),
    (dict(segments=[1], pattern="diffuse"), "pattern"),
])
def test_bad_requests_are_refused_clearly(healthy, kwargs, message):
    with pytest.raises(InputError, match=message):
        make_scar_labels(healthy[0], **kwargs)


def test_labels_without_blood_pool_or_myocardium_are_refused(healthy):
    labels = healthy[0]
    with pytest.raises(InputError, match="blood pool"):
        make_scar_labels(labels.with_array(np.where(labels.array == 1, 0, labels.array)), territory="LAD")
    with pytest.raises(InputError, match="myocardium"):
        make_scar_labels(labels.with_array(np.where(labels.array == 2, 0, labels.array)), territory="LAD")


def test_random_configs_are_plausible_and_reproducible():
    configs = [random_scar_config(seed) for seed in range(1000)]
    assert configs[17] == random_scar_config(17)
    for config in configs:
        assert config["pattern"] == "ischaemic"
        assert _connected(config["segments"])
        assert 0.25 <= config["transmurality"] <= 1.0 and 0.5 <= config["extent"] <= 1.0
        assert not config["mvo"] or config["transmurality"] >= 0.75
    # Infarcts lie downstream of the occlusion: apical segments more often than basal ones.
    involved = np.zeros(18)
    for config in configs:
        involved[config["segments"]] += 1
    assert involved[13:17].mean() > involved[7:13].mean() > involved[1:7].mean()
    sizes = [len(c["segments"]) for c in configs]
    assert 2 <= np.median(sizes) <= 12 and min(sizes) >= 1
    assert 0.3 < np.mean([c["mvo"] for c in configs]) < 0.8
    mixed = [random_scar_config(seed, non_ischaemic=0.5)["pattern"] for seed in range(100)]
    assert 20 < sum(p != "ischaemic" for p in mixed) < 80


def test_random_configs_draw_valid_scars(healthy):
    for seed in range(6):
        config = random_scar_config(seed)
        new, params = make_scar_labels(healthy[seed % len(healthy)], **config)
        scar = L.scar(new.array)
        assert scar.any() and _pieces(scar) == 1
        assert (new.array == L.MVO).any() == config["mvo"]


def _connected(segments):
    segments = set(segments)
    reached, frontier = set(), [min(segments)]
    while frontier:
        segment = frontier.pop()
        reached.add(segment)
        frontier += [n for n in SEGMENT_NEIGHBOURS[segment] if n in segments and n not in reached]
    return reached == segments


# --- On the project's phantom: an RV label, a known AHA map, oblique and flipped stacks. ---


@pytest.fixture(scope="module")
def phantoms():
    return [make_phantom(seed=1, n_slices=10), make_phantom(seed=2, n_slices=9, apex_first=False)]


@pytest.mark.parametrize("index", [0, 1])
def test_phantom_scar_follows_the_true_aha_map(phantoms, index):
    phantom = phantoms[index]
    new, params = make_scar_labels(phantom.labels, territory="LCX", transmurality=0.6, seed=3)
    scar = L.scar(new.array)
    assert "rv_label" in params["aha_orientation"]  # the RV orients the split, nothing assumed
    truth = phantom.aha_segments.array[scar]
    assert np.mean(np.isin(truth, TERRITORIES["LCX"])) > 0.9  # borders may differ by a few voxels
    assert _pieces(scar) == 1
    # Given the true map, the scar stays inside it exactly.
    exact, _ = make_scar_labels(phantom.labels, territory="LCX", transmurality=0.6, seed=3,
                                aha_segments=phantom.aha_segments)
    assert set(np.unique(phantom.aha_segments.array[L.scar(exact.array)])) <= set(TERRITORIES["LCX"])


def test_phantom_transmurality_and_mvo(phantoms):
    phantom = phantoms[0]
    for transmurality in (0.3, 0.8):
        new, _ = make_scar_labels(phantom.labels, segments=[1, 2, 7, 8], transmurality=transmurality,
                                  mvo=transmurality >= 0.75, seed=0, aha_segments=phantom.aha_segments)
        table = quantify_aha(new, segment_aha(new))
        scarred = [r for r in table["segments"] if r["scar_ml"] > 0]
        measured = np.average([r["transmurality_mean_percent"] / 100 for r in scarred],
                              weights=[r["scar_ml"] for r in scarred])
        assert abs(measured - transmurality) < 0.12
        assert (new.array == L.MVO).any() == (transmurality >= 0.75)
