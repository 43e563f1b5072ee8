"""ScarSynth's MRML logic on a real Slicer scene (slicer-core): preview, generation, background work."""

import time

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core is not installed", allow_module_level=True)

from LGECore import labels as L  # noqa: E402
from LGECore import scene as S
from LGECore.background import run_in_background  # noqa: E402
from LGECore.errors import InputError, ScarSynthError  # noqa: E402
from LGECore.io import read_emidec_dataset  # noqa: E402
from ScarSynthLib import scene as synth_scene  # noqa: E402
from ScarSynthLib.scar_masks import make_scar_labels  # noqa: E402


class Cancelled(Exception):
    pass


@pytest.fixture(scope="module")
def heart(emidec_dir):
    case = next(c for c in read_emidec_dataset(emidec_dir) if not c.has_infarct)
    return case.load()


@pytest.fixture
def nodes(heart):
    image, labels = heart
    scene = slicer.vtkMRMLScene()
    volume_node = S.volume_to_node(image, scene, "LGE")
    segmentation_node = S.labels_to_segmentation_node(labels, scene, volume_node, name="Heart")
    return scene, volume_node, segmentation_node


def test_preview_puts_the_requested_scar_into_a_segmentation_node(nodes, heart):
    scene, volume_node, segmentation_node = nodes
    image, labels = heart
    calls = []
    node, params = synth_scene.preview_scar(
        scene, volume_node, segmentation_node, segments=[3, 4, 9, 10, 15], transmurality=0.8,
        mvo=True, seed=5, progress=lambda f, m="": calls.append((f, m)))
    names = {node.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(node.GetSegmentation().GetNumberOfSegments())}
    assert {"Scar", "MVO"} <= names
    drawn = S.segmentation_node_to_labels(node, image)
    expected, expected_params = make_scar_labels(labels, segments=[3, 4, 9, 10, 15],
                                                 transmurality=0.8, mvo=True, seed=5)
    assert np.array_equal(drawn.array, expected.array) and params == expected_params
    assert calls[-1][0] == 1.0 and "Scar of" in calls[-1][1]
    # The input segmentation still holds no scar; a second preview reuses the output node.
    assert not L.scar(S.segmentation_node_to_labels(segmentation_node, image).array).any()
    again, _ = synth_scene.preview_scar(scene, volume_node, segmentation_node, territory="LAD",
                                        output_segmentation=node)
    assert again is node
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 2


def test_preview_on_the_phantom_as_the_module_self_test_does():
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=0, n_slices=8)
    scene = slicer.vtkMRMLScene()
    volume_node = S.volume_to_node(phantom.image, scene, "Phantom LGE")
    heart = S.labels_to_segmentation_node(phantom.labels, scene, volume_node, "Heart")
    node, params = synth_scene.preview_scar(scene, volume_node, heart, segments=[1, 2, 7, 8, 13, 14, 17],
                                            transmurality=0.8, mvo=True)
    drawn = S.segmentation_node_to_labels(node, phantom.image).array
    scar = L.scar(drawn)
    assert "rv_label" in params["aha_orientation"]  # the RV segment came through the scene
    assert (drawn == L.MVO).any() and np.all(L.lv_myocardium(phantom.labels.array)[scar])
    assert np.isin(phantom.aha_segments.array[scar], [1, 2, 7, 8, 13, 14, 17]).mean() > 0.9


def test_preview_reports_bad_choices_clearly(nodes):
    scene, volume_node, segmentation_node = nodes
    with pytest.raises(InputError, match="transmural"):
        synth_scene.preview_scar(scene, volume_node, segmentation_node, territory="LAD",
                                 transmurality=0.3, mvo=True)
    with pytest.raises(InputError, match="segmentation"):
        synth_scene.preview_scar(scene, volume_node, None, territory="LAD")


def test_background_work_reports_progress_and_can_be_cancelled():
    seen = []
    assert run_in_background(lambda: time.sleep(0.3) or 42, lambda f, m="": seen.append(f),
                             fraction=0.5, message="waiting") == 42
    assert seen and all(f == 0.5 for f in seen)

    def cancel(fraction, message=""):
        raise Cancelled()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_in_background(lambda: time.sleep(5), cancel)
    assert time.monotonic() - started < 4  # control came back before the work finished
    with pytest.raises(ZeroDivisionError):
        run_in_background(lambda: 1 / 0)


def test_generate_makes_a_volume_on_the_input_grid(nodes, heart):
    diffusion = pytest.importorskip("ScarSynthLib.diffusion")
    try:
        diffusion.load_generator(device="cpu")
    except ScarSynthError as error:
        pytest.skip(f"no diffusion weights: {error}")
    scene, volume_node, segmentation_node = nodes
    volume, segmentation, params = synth_scene.generate_scar_image(
        scene, volume_node, segmentation_node, territory="RCA", seed=1, device="cpu",
        num_inference_steps=2)
    heart[0].check_same_grid(S.volume_from_node(volume), what="synthetic volume")
    assert L.scar(S.segmentation_node_to_labels(segmentation, heart[0]).array).sum() == params["scar_voxels_added"]
