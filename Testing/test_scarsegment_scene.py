"""ScarSegment's MRML logic on a real slicer-core scene: in-process and as a background command."""

import subprocess

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
from LGECore import scene as S  # noqa: E402
from LGECore import scene_tables as T  # noqa: E402
from LGECore.progress import parse_progress_line  # noqa: E402
from LGECore.volume import Volume  # noqa: E402
from ScarSegmentLib import scene as SS  # noqa: E402


def ring_case():
    """A small LGE-like stack: dark ring, bright blood pool, bright scar sector with a dark core."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:4, 0:48, 0:48]
    radius = np.hypot(y - 24, x - 24)
    angle = np.degrees(np.arctan2(y - 24, x - 24)) % 360
    labels = np.zeros((4, 48, 48), np.uint8)
    labels[radius < 9] = 1
    labels[(radius >= 9) & (radius < 15)] = 2
    scar = (labels == 2) & (angle < 80)
    labels[scar] = 3
    image = rng.normal(100, 8, labels.shape)
    image[labels == 1] = rng.normal(300, 15, (labels == 1).sum())
    image[labels == 2] = rng.normal(60, 6, (labels == 2).sum())
    image[scar] = rng.normal(260, 15, scar.sum())
    spacing = (1.4, 1.4, 8.0)
    return Volume(image.astype(np.float32), spacing, (10.0, -20.0, 30.0)), Volume(labels, spacing, (10.0, -20.0, 30.0))


@pytest.fixture
def scene_with_case():
    scene = slicer.vtkMRMLScene()
    image, labels = ring_case()
    volume_node = S.volume_to_node(image, scene, "LGE")
    myocardium = labels.with_array(np.where(labels.array == 3, 2, labels.array).astype(np.uint8))
    myocardium_node = S.labels_to_segmentation_node(myocardium, scene, volume_node, name="Contours")
    return scene, volume_node, myocardium_node, labels


def test_in_process_segmentation_makes_named_segments_and_a_table(scene_with_case):
    scene, volume_node, myocardium_node, truth = scene_with_case
    segmentation, table, result = SS.segment_volume_node(
        volume_node, scene, method="nsd", n_sd=3, myocardium_node=myocardium_node)
    names = {segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())}
    assert {"Scar", "Healthy myocardium", "LV blood pool"} <= names
    labels = S.segmentation_node_to_labels(segmentation, S.volume_from_node(volume_node))
    scar, true_scar = labels.array == 3, truth.array == 3
    assert 2 * (scar & true_scar).sum() / (scar.sum() + true_scar.sum()) > 0.9
    rows = T.table_node_to_rows(table)
    burden = next(r for r in rows if r["Measurement"].startswith("Scar burden"))
    assert float(burden["Value"]) == pytest.approx(result.metrics["scar_burden_percent"], abs=0.01)
    assert any(r["Measurement"] == "Method" and "3-SD" in r["Value"] for r in rows)


def test_background_command_round_trip(scene_with_case, tmp_path):
    scene, volume_node, myocardium_node, truth = scene_with_case
    image_path, myocardium_path, remote_path = SS.export_inputs(volume_node, tmp_path / "in", myocardium_node)
    assert remote_path is None
    command = SS.segment_command(image_path, tmp_path / "out", method="fwhm",
                                 myocardium_path=myocardium_path)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    fractions = [p[0] for p in map(parse_progress_line, finished.stderr.splitlines()) if p]
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    segmentation, table, result = SS.import_outputs(tmp_path / "out", scene, volume_node)
    assert result.metrics["method"] == "fwhm"
    assert segmentation.GetSegmentation().GetSegment("scar") is not None
    assert table.GetNumberOfRows() >= 9


def test_failed_command_reports_the_problem_and_imports_nothing(scene_with_case, tmp_path):
    scene, volume_node, _, _ = scene_with_case
    image_path, _, _ = SS.export_inputs(volume_node, tmp_path / "in")
    command = SS.segment_command(image_path, tmp_path / "out", method="nsd",
                                 weights=tmp_path / "missing.safetensors")
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2 and "Weights file not found" in finished.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(Exception, match="No segmentation"):
        SS.import_outputs(tmp_path / "out", scene, volume_node)


def test_panel_weights_field(tmp_path):
    """An empty field means the shipped model; a named file or installed model is passed on; a
    missing one is named."""
    import pathlib

    from LGECore.errors import WeightsError

    assert SS.chosen_weights(pathlib.Path("")) is None and SS.chosen_weights("") is None
    weights = tmp_path / "local.safetensors"
    weights.write_bytes(b"0")
    assert SS.chosen_weights(pathlib.Path(weights)) == str(weights)
    assert SS.segment_command("in.nrrd", "out", weights=SS.chosen_weights(weights))[-2:] == ["--weights", str(weights)]
    with pytest.raises(WeightsError, match="do not exist"):
        SS.chosen_weights(tmp_path / "missing.safetensors")
    assert SS.chosen_weights(pathlib.Path("scar_weak_slice")) == "scar_weak_slice"
    with pytest.raises(WeightsError, match="scar_weak_sllce"):
        SS.chosen_weights(pathlib.Path("scar_weak_sllce"))


@pytest.fixture(scope="module")
def phantom_case():
    """A small scanner-contrast phantom with scar, and its contours with the scar drawn as
    myocardium (the thresholds must find the scar themselves)."""
    from LGECore import labels as L
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=2, territory="LAD", transmurality=0.8, look="scanner",
                           n_slices=6, matrix_size=96)
    labels = phantom.labels.array
    contours = phantom.labels.with_array(np.where(L.scar(labels), L.MYOCARDIUM, labels).astype(np.uint8))
    return phantom, contours


@pytest.fixture
def phantom_scene(phantom_case):
    phantom, contours = phantom_case
    scene = slicer.vtkMRMLScene()
    volume_node = S.volume_to_node(phantom.image, scene, "phantom LGE")
    myocardium_node = S.labels_to_segmentation_node(contours, scene, volume_node, name="Contours")
    return scene, volume_node, myocardium_node


def node_count(scene):
    return scene.GetNumberOfNodes()


def test_background_segmentation_fills_the_scene(phantom_case, phantom_scene):
    """The panel's path: a separate process thresholds inside the given myocardium; its labels
    come back on the volume's grid as a new segmentation node, with a measurement table."""
    from LGECore import labels as L

    phantom, _ = phantom_case
    scene, volume_node, myocardium_node = phantom_scene
    before = node_count(scene)
    fractions = []
    segmentation, table, result = SS.segment_in_background(
        scene, volume_node, method="fwhm", myocardium_node=myocardium_node,
        progress=lambda fraction, message: fractions.append(fraction))
    assert scene.IsNodePresent(segmentation) and scene.IsNodePresent(table)
    assert node_count(scene) > before
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    labels = S.segmentation_node_to_labels(segmentation, S.volume_from_node(volume_node))
    assert labels.same_grid(phantom.image)
    scar, true_scar = L.scar(labels.array), L.scar(phantom.labels.array)
    assert 2 * (scar & true_scar).sum() / (scar.sum() + true_scar.sum()) > 0.9
    rows = T.table_node_to_rows(table)
    assert any(r["Measurement"] == "Method" and "FWHM" in r["Value"] for r in rows)
    assert result.metrics["threshold"]["remote"] == "automatic"


def remote_region(phantom):
    """A hand-drawn remote region: the healthy myocardium of the middle slices, which gives
    another threshold than the automatically found one."""
    from LGECore import labels as L

    region = phantom.labels.array == L.MYOCARDIUM
    region[:2] = region[-2:] = False
    return region


@pytest.mark.parametrize("method", ["nsd", "fwhm"])
def test_a_given_remote_region_sets_the_threshold_as_the_lib_does(phantom_case, phantom_scene, method):
    """Every segment of the remote node, whatever its name, is remote myocardium; the background
    run passes it as --remote and its threshold is the Lib's with the same region."""
    from ScarSegmentLib.segment import segment

    phantom, contours = phantom_case
    scene, volume_node, myocardium_node = phantom_scene
    region = remote_region(phantom)
    halves = np.zeros_like(region, np.uint8)
    halves[region] = np.where(np.indices(region.shape)[2][region] < 48, 1, 2)
    remote_node = S.labels_to_segmentation_node(phantom.labels.with_array(halves), scene, volume_node)
    names = remote_node.GetSegmentation()
    names.GetNthSegment(0).SetName("remote, left")  # names that match no label
    names.GetNthSegment(1).SetName("Segment_2")

    _, table, result = SS.segment_in_background(
        scene, volume_node, method=method, n_sd=3, myocardium_node=myocardium_node,
        remote_node=remote_node)
    given = segment(phantom.image, method=method, n_sd=3, myocardium=contours, remote=region)
    automatic = segment(phantom.image, method=method, n_sd=3, myocardium=contours)
    threshold = result.metrics["threshold"]
    assert threshold["remote"] == "given"
    assert threshold["remote_voxels"] == given.metrics["threshold"]["remote_voxels"] == region.sum()
    assert threshold["threshold"] == pytest.approx(given.metrics["threshold"]["threshold"])
    assert threshold["threshold"] != pytest.approx(automatic.metrics["threshold"]["threshold"], rel=1e-3)
    method_row = next(r for r in T.table_node_to_rows(table) if r["Measurement"] == "Method")
    assert f"threshold {threshold['threshold']}" in method_row["Value"]

    # The in-process path takes the same region, also from a label-map node.
    remote_labelmap = S.volume_to_node(phantom.labels.with_array(halves), scene, "remote", labelmap=True)
    _, _, in_process = SS.segment_volume_node(volume_node, scene, method=method, n_sd=3,
                                              myocardium_node=myocardium_node, remote_node=remote_labelmap)
    assert in_process.metrics["threshold"] == given.metrics["threshold"]


def test_the_command_carries_the_exported_remote_mask(phantom_case, phantom_scene, tmp_path):
    from LGECore.io import read_mask

    phantom, _ = phantom_case
    scene, volume_node, myocardium_node = phantom_scene
    region = remote_region(phantom)
    remote_node = S.labels_to_segmentation_node(
        phantom.labels.with_array(region.astype(np.uint8) * 2), scene, volume_node)
    image_path, myocardium_path, remote_path = SS.export_inputs(
        volume_node, tmp_path, myocardium_node, remote_node)
    mask = read_mask(remote_path)
    assert mask.same_grid(phantom.image)
    np.testing.assert_array_equal(mask.array != 0, region)
    command = SS.segment_command(image_path, tmp_path / "out", method="nsd",
                                 myocardium_path=myocardium_path, remote_path=remote_path)
    assert command[command.index("--remote") + 1] == str(remote_path)
    assert "--remote" not in SS.segment_command(image_path, tmp_path / "out", method="nsd")


def test_a_remote_region_with_the_network_is_refused_and_adds_nothing(phantom_case, phantom_scene):
    from LGECore.background import CommandFailed

    phantom, _ = phantom_case
    scene, volume_node, _ = phantom_scene
    remote_node = S.labels_to_segmentation_node(
        phantom.labels.with_array(remote_region(phantom).astype(np.uint8) * 2), scene, volume_node)
    before = node_count(scene)
    with pytest.raises(CommandFailed, match="--remote apply to --method nsd or fwhm only"):
        SS.segment_in_background(scene, volume_node, method="dl", remote_node=remote_node)
    assert node_count(scene) == before


@pytest.mark.parametrize("way", ["in_process", "background_command"])
def test_core_and_grey_zone_are_segments_of_their_own_and_table_rows(scene_with_case, tmp_path, way):
    """Both definitions' core and grey zone come in as segments beside the labels' (the max band's
    hidden), the node still reads back as the same labels, and the table gives their volumes."""
    from LGECore import labels as L

    scene, volume_node, myocardium_node, truth = scene_with_case
    if way == "in_process":
        segmentation, table, result = SS.segment_volume_node(
            volume_node, scene, method="nsd", n_sd=2, myocardium_node=myocardium_node)
    else:
        image_path, myocardium_path, _ = SS.export_inputs(volume_node, tmp_path / "in", myocardium_node)
        command = SS.segment_command(image_path, tmp_path / "out", method="nsd", n_sd=2,
                                     myocardium_path=myocardium_path)
        assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 0
        segmentation, table, result = SS.import_outputs(tmp_path / "out", scene, volume_node)
    grid = S.volume_from_node(volume_node)
    ids = [info["id"] for info in L.ZONE_SEGMENTS.values()]
    masks = S.segment_masks(segmentation, ids, grid)
    for ((zone, definition), info), mask in zip(L.ZONE_SEGMENTS.items(), masks):
        assert np.array_equal(mask, result.zones[definition].zones == (1 if zone == "infarct_core" else 2))
        shown = segmentation.GetDisplayNode().GetSegmentVisibility(info["id"])
        assert shown == (definition == "sd")
    assert masks[0].any()  # the scar's bright core
    labels = S.segmentation_node_to_labels(segmentation, grid)
    assert np.array_equal(labels.array, result.labels.array)  # the zones are not labels
    rows = {r["Measurement"]: r["Value"] for r in T.table_node_to_rows(table)}
    assert float(rows["Infarct core (> 3 SD) volume"]) == pytest.approx(
        result.metrics["infarct_core_sd_volume_ml"], abs=0.01)
    assert "Grey zone (remote peak to half max), % of LV myocardium" in rows
