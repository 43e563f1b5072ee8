"""AHA 17-segment assignment against the phantom's true segment map, invariants and bad input."""

import numpy as np
import pytest

from AHABullseyeLib.aha import segment_aha
from AHABullseyeLib.insertion import InsertionPointError
from AHABullseyeLib.quantify import quantify_aha
from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.phantom import make_phantom
from LGECore.volume import Volume

SMALL = dict(matrix_size=128, pixel_spacing=1.6)


def agreement(result, true_segments):
    """Fraction of LV myocardium voxels whose segment is the true one."""
    myocardium = true_segments > 0
    return float(np.mean(result.segments.array[myocardium] == true_segments[myocardium]))


def without_rv(labels):
    return labels.with_array(np.where(labels.array == L.RV_BLOOD_POOL, 0, labels.array))


def check_every_voxel_once(result, labels):
    """Each LV myocardium voxel has exactly one segment 1..17, and nothing else has one."""
    segments = result.segments.array
    myocardium = L.lv_myocardium(labels.array)
    assert segments.dtype == np.uint8
    assert np.all((segments[myocardium] >= 1) & (segments[myocardium] <= 17))
    assert not np.any(segments[~myocardium])


PHANTOMS = {
    "oblique apex-first": dict(seed=0, territory="LAD", transmurality=0.6, **SMALL),
    "oblique apex-last": dict(seed=1, apex_first=False, territory="RCA", mvo=True, **SMALL),
    "fine pixels, 8 mm slices": dict(seed=2, n_slices=12, pixel_spacing=1.2, slice_spacing=8.0,
                                     matrix_size=160, scar_segments=(5, 6, 11)),
    "identity direction apex-first": dict(seed=3, direction=np.eye(3), territory="LCX", **SMALL),
    "identity direction apex-last": dict(seed=4, direction=np.eye(3), apex_first=False,
                                         scar_segments=(2, 3, 8, 9), **SMALL),
}


@pytest.fixture(scope="module", params=list(PHANTOMS))
def phantom(request):
    return make_phantom(**PHANTOMS[request.param])


def test_rv_label_gives_the_true_segments(phantom):
    result = segment_aha(phantom.labels)
    assert result.insertion_source == "rv_label"
    assert result.apex_side == ("first" if phantom.truth["apex_first"] else "last")
    check_every_voxel_once(result, phantom.labels)
    assert agreement(result, phantom.aha_segments.array) >= 0.95


def test_two_user_points_give_the_true_segments(phantom):
    pair = phantom.truth["representative_insertion_points_lps"]
    for points in ([pair["anterior"], pair["inferior"]], [pair["inferior"], pair["anterior"]]):
        result = segment_aha(without_rv(phantom.labels), rv_insertion_lps=np.array(points))
        assert result.insertion_source == "user"
        assert agreement(result, phantom.aha_segments.array) >= 0.95


def test_per_slice_user_points_give_the_true_segments(phantom):
    points = phantom.truth["insertion_points_lps"]
    per_slice = [p for p in points["anterior"] + points["inferior"] if p is not None]
    assert len(per_slice) > 2
    result = segment_aha(without_rv(phantom.labels), rv_insertion_lps=np.array(per_slice))
    assert agreement(result, phantom.aha_segments.array) >= 0.95


def test_scar_percent_per_segment_matches_truth(phantom):
    table = quantify_aha(phantom.labels, segment_aha(phantom.labels))
    truth = phantom.truth["scar_percent_by_segment"]
    for row in table["segments"]:
        expected = truth[str(row["segment"])]
        if expected is None:
            assert row["myocardium_ml"] < 0.5  # a segment the phantom lacks is (nearly) empty
        else:
            assert row["scar_percent"] == pytest.approx(expected, abs=2.0), row["name"]
    scarred = [s for s, p in truth.items() if p]
    assert scarred  # the phantom has scar, so the comparison above was not trivially 0 vs 0


def test_one_anterior_point_gives_six_equal_sectors():
    # With one point the rule is six 60-degree sectors; pick a phantom whose true septal arc is
    # close to 120 degrees, so that rule and truth agree.
    for seed in range(40):
        shape = make_phantom(seed=seed, n_slices=4, matrix_size=48, pixel_spacing=4.0).truth["heart"]
        if abs(shape["insertion_inferior"] - shape["insertion_anterior"] - 120.0) < 6.0:
            break
    else:
        pytest.fail("no phantom seed with a 120-degree septal arc")
    phantom = make_phantom(seed=seed, **SMALL)
    anterior = phantom.truth["representative_insertion_points_lps"]["anterior"]
    result = segment_aha(without_rv(phantom.labels), rv_insertion_lps=np.array([anterior]))
    assert agreement(result, phantom.aha_segments.array) >= 0.95
    width = result.septal_width_deg[np.isfinite(result.septal_width_deg)]
    assert np.allclose(width, 120.0)


def test_anisotropic_in_plane_spacing():
    phantom = make_phantom(seed=5, territory="LAD", **SMALL)
    labels = phantom.labels
    # Keep every other column: the same anatomy on a grid with 2x wider columns.
    coarse = Volume(labels.array[:, :, ::2], (2 * labels.spacing[0],) + labels.spacing[1:],
                    labels.origin, labels.direction)
    truth = phantom.aha_segments.array[:, :, ::2]
    assert agreement(segment_aha(coarse), truth) >= 0.95


def test_without_rv_or_points_an_orientation_is_assumed_loudly():
    phantom = make_phantom(seed=6, with_rv=False, **SMALL)
    result = segment_aha(phantom.labels)
    assert result.insertion_source == "assumed"
    assert any("ASSUMED" in w for w in result.warnings)
    check_every_voxel_once(result, phantom.labels)
    # Anterior from the geometry, septum from the handedness rule: close to the truth.
    assert agreement(result, phantom.aha_segments.array) >= 0.75


def test_user_apex_side_overrides_geometry():
    phantom = make_phantom(seed=7, **SMALL)
    assert segment_aha(phantom.labels).apex_side == "first"
    forced = segment_aha(phantom.labels, apex="last")
    assert (forced.apex_side, forced.apex_source) == ("last", "user")
    levels = forced.slice_levels
    assert levels[max(levels)] in ("apical", "apex")  # the user's apex end is now apical
    with pytest.raises(InputError, match="apex"):
        segment_aha(phantom.labels, apex="top")


@pytest.fixture(scope="module")
def scarred_phantom():
    return make_phantom(seed=8, territory="LAD", transmurality=0.7, mvo=True, **SMALL)


def test_in_plane_rotation_of_the_image_leaves_the_table_unchanged(scarred_phantom):
    labels = scarred_phantom.labels
    table = quantify_aha(labels, segment_aha(labels))
    for turns in (1, 2, 3):
        rotated = labels.with_array(np.rot90(labels.array, turns, axes=(1, 2)).copy())
        rotated_table = quantify_aha(rotated, segment_aha(rotated))
        for row, turned in zip(table["segments"] + [table["total"]],
                               rotated_table["segments"] + [rotated_table["total"]]):
            for column, value in row.items():
                if isinstance(value, float):
                    assert turned[column] == pytest.approx(value, abs=0.01), (row["name"], column)
                else:
                    assert turned[column] == value


def test_same_anatomy_on_a_mirrored_grid_gives_the_same_segments(scarred_phantom):
    labels = scarred_phantom.labels
    result = segment_aha(labels)
    # Reverse the columns and flip the column axis: every voxel keeps its patient position.
    direction = labels.direction.copy()
    direction[:, 0] *= -1
    origin = labels.index_to_lps([[0, 0, labels.shape[2] - 1]])[0]
    mirrored = Volume(labels.array[:, :, ::-1].copy(), labels.spacing, origin, direction)
    assert np.allclose(mirrored.index_to_lps([[3, 7, 0]]), labels.index_to_lps([[3, 7, labels.shape[2] - 1]]))
    mirrored_result = segment_aha(mirrored)
    assert np.array_equal(mirrored_result.segments.array[:, :, ::-1], result.segments.array)


def test_input_is_not_modified(scarred_phantom):
    before = scarred_phantom.labels.array.copy()
    segment_aha(scarred_phantom.labels)
    assert np.array_equal(before, scarred_phantom.labels.array)


def ring_stack(n_slices=6, blood=True):
    z, y, x = np.mgrid[:n_slices, :40, :40]
    radius = np.hypot(y - 20, x - 20)
    array = np.zeros((n_slices, 40, 40), np.uint8)
    array[radius < 12] = L.MYOCARDIUM
    if blood:
        array[radius < 7] = L.BLOOD_POOL
    return Volume(array, spacing=(1.5, 1.5, 8.0))


def test_no_myocardium_is_a_clear_error():
    empty = ring_stack().with_array(np.zeros((6, 40, 40), np.uint8))
    with pytest.raises(InputError, match="no LV myocardium"):
        segment_aha(empty)


def test_one_slice_is_a_clear_error():
    with pytest.raises(InputError, match="single slice"):
        segment_aha(ring_stack(n_slices=1))
    with pytest.raises(InputError, match="at least 3"):
        segment_aha(ring_stack(n_slices=2))


def test_no_blood_pool_is_a_clear_error():
    with pytest.raises(InputError, match="no LV blood pool"):
        segment_aha(ring_stack(blood=False))


def test_bad_points_are_clear_errors(scarred_phantom):
    with pytest.raises(InputError, match="shape"):
        segment_aha(scarred_phantom.labels, rv_insertion_lps=np.zeros((2, 2)))
    with pytest.raises(InputError, match="NaN"):
        segment_aha(scarred_phantom.labels, rv_insertion_lps=np.full((1, 3), np.nan))
    points = scarred_phantom.truth["insertion_points_lps"]["anterior"]
    one_slice = [p for p in points if p is not None][0]
    three = np.array(one_slice) + np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0]])  # one slice, not one point
    with pytest.raises(InputError, match="more than two"):
        segment_aha(scarred_phantom.labels, rv_insertion_lps=three)


def test_user_points_without_a_septal_arc_between_them_are_clear_errors(scarred_phantom):
    """The same point twice, or two points in one direction from the LV centre, leave no septal
    arc: an InsertionPointError (an InputError), not empty septal segments and a division by zero."""
    anterior = scarred_phantom.truth["representative_insertion_points_lps"]["anterior"]
    with pytest.raises(InsertionPointError, match="points 1 and 2 are the same point"):
        segment_aha(scarred_phantom.labels, rv_insertion_lps=np.array([anterior, anterior]))
    with pytest.raises(InsertionPointError, match="NaN or infinite coordinates .point 2"):
        segment_aha(scarred_phantom.labels, rv_insertion_lps=np.array([anterior, [np.nan, 2, 3]]))
    stack = ring_stack()  # concentric rings: the LV centre is at row 20, column 20 on every slice
    good = stack.index_to_lps([[2, 20, 30], [2, 30, 20]])
    assert segment_aha(stack, rv_insertion_lps=good).insertion_source == "user"
    for zyx in ([[1, 20, 30], [4, 20, 30]],  # one in-plane position on two slices
                [[2, 20, 28], [2, 20, 31]]):  # one direction from the centre, two radii
        with pytest.raises(InsertionPointError, match="same direction from the LV centre"):
            segment_aha(stack, rv_insertion_lps=stack.index_to_lps(zyx))
    assert issubclass(InsertionPointError, InputError)


def test_labels_outside_the_convention_are_rejected():
    stack = ring_stack()
    with pytest.raises(InputError, match="unknown label"):
        segment_aha(stack.with_array(stack.array * 3))


def test_clockwise_override_fixes_a_mirrored_geometry(scarred_phantom):
    # Columns reversed but the geometry kept: the heart is now mirrored in patient space (as when
    # a header lost a flip). With the RV the septum is still found; only the override tells
    # which insertion point is anterior.
    labels = scarred_phantom.labels
    mirrored = labels.with_array(labels.array[:, :, ::-1].copy())
    truth = scarred_phantom.aha_segments.array[:, :, ::-1]
    assert agreement(segment_aha(mirrored), truth) < 0.7
    fixed = segment_aha(mirrored, direction="clockwise")
    assert fixed.direction == "clockwise"
    assert agreement(fixed, truth) >= 0.95
    with pytest.raises(InputError, match="direction"):
        segment_aha(labels, direction="sideways")
