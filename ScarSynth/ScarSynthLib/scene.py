"""ScarSynth on MRML nodes: scar mask preview and LGE synthesis from a volume and its segmentation.

The one file of ScarSynthLib that talks to a Slicer scene (imports slicer through
LGECore.scene; never qt). Everything takes the scene and nodes as arguments, so it runs in
Slicer and on the slicer-core wheel alike. Long work runs through LGECore.background.run_in_background
in a worker thread while the calling (main) thread keeps reporting to `progress(fraction, message)`,
which may raise to cancel; MRML nodes are only touched from the calling thread.
"""

from LGECore import scene as S
from LGECore.background import run_in_background
from LGECore.errors import InputError
from LGECore.volume import ras_to_lps

from .scar_masks import make_scar_labels


def read_inputs(volume_node, segmentation_node):
    """(image Volume, label Volume on the image grid) of an LGE volume node and its segmentation."""
    if volume_node is None:
        raise InputError("Select the LGE volume.")
    if segmentation_node is None:
        raise InputError("Select the segmentation with the LV blood pool and myocardium.")
    image = S.volume_from_node(volume_node)
    labels = S.segmentation_node_to_labels(segmentation_node, image, ignore_unknown=True)
    return image, labels


def preview_scar(scene, volume_node, segmentation_node, segments=None, territory=None,
                 transmurality=0.5, extent=1.0, mvo=False, pattern="ischaemic", seed=0,
                 rv_points_ras=None, output_segmentation=None, progress=None):
    """Draw the scar mask; put the labels with it into a segmentation node.

    Returns (segmentation node, params). `rv_points_ras`: optional RAS insertion points (N, 3).
    `output_segmentation` is reused (its segments replaced) or a new node is made. The input
    nodes are not changed.
    """
    _, labels, params = _scar_labels(volume_node, segmentation_node, segments, territory,
                                     transmurality, extent, mvo, pattern, seed, rv_points_ras, progress)
    node = S.labels_to_segmentation_node(labels, scene, volume_node, name=_name(volume_node, "scar"),
                                         node=output_segmentation)
    if progress is not None:
        progress(1.0, _summary(params))
    return node, params


def generate_scar_image(scene, volume_node, segmentation_node, segments=None, territory=None,
                        transmurality=0.5, extent=1.0, mvo=False, pattern="ischaemic", seed=0,
                        rv_points_ras=None, output_segmentation=None, output_volume=None,
                        device=None, num_inference_steps=25, weights=None, progress=None):
    """Draw the scar mask and synthesise the LGE image showing it.

    Returns (volume node, segmentation node, params); the image goes into `output_volume` or a new
    scalar volume node on the input grid. torch/diffusers are imported only here.
    """
    from .diffusion import synthesize_volume

    image = S.volume_from_node(volume_node)
    original, labels, params = _scar_labels(volume_node, segmentation_node, segments, territory,
                                            transmurality, extent, mvo, pattern, seed, rv_points_ras, progress)
    synthetic = run_in_background(
        lambda: synthesize_volume(image, labels, seed=seed, num_inference_steps=num_inference_steps,
                                  weights=weights, device=device, progress=False, reference_labels=original),
        progress, fraction=0.2, message="Synthesising the LGE image")
    if progress is not None:
        progress(0.95, "Adding the results to the scene")
    segmentation = S.labels_to_segmentation_node(
        labels, scene, volume_node, name=_name(volume_node, "scar"), node=output_segmentation)
    volume = S.volume_to_node(synthetic, scene, _name(volume_node, "synthetic"), node=output_volume)
    params.update(num_inference_steps=num_inference_steps, device=device or "auto")
    if progress is not None:
        progress(1.0, _summary(params))
    return volume, segmentation, params


def _scar_labels(volume_node, segmentation_node, segments, territory, transmurality, extent, mvo,
                 pattern, seed, rv_points_ras, progress):
    """(labels as they are, labels with the new scar, params)."""
    if progress is not None:
        progress(0.0, "Reading the volume and segmentation")
    _, labels = read_inputs(volume_node, segmentation_node)
    rv_lps = None if rv_points_ras is None or len(rv_points_ras) == 0 else ras_to_lps(rv_points_ras)
    new_labels, params = run_in_background(
        lambda: make_scar_labels(labels, segments=segments, territory=territory,
                                 transmurality=transmurality, extent=extent, mvo=mvo,
                                 pattern=pattern, seed=seed, rv_insertion_lps=rv_lps),
        progress, fraction=0.05, message="Drawing the scar mask")
    return labels, new_labels, params


def _name(volume_node, what):
    return f"{volume_node.GetName()} {what}"


def _summary(params):
    return (f"Scar of {params['scar_voxels_added']} voxels in segments "
            f"{', '.join(map(str, params['segments_with_scar'])) or 'none'}, transmurality "
            f"{100 * params['achieved_transmurality']:.0f} %, MVO {params['mvo_voxels_added']} voxels.")
