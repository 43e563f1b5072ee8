"""Synthesise LGE slices from label maps with the conditional diffusion generator (inpainting).

Each slice with LV labels is cropped around the heart; the generator paints its paint region
(scar_regions: the new scar with a 3-pixel margin, or for older generators the whole heart region)
from the labels and the real pixels around it, sampled with DDIM (at most `num_inference_steps`
<= 50 network evaluations; fewer with strength < 1). The result is mapped back onto the input grid
and blended into the region. Every pixel outside the paint region is the input's, exactly.
"""

import functools
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from LGECore import labels as L
from LGECore.errors import InputError, WeightsError
from LGECore.io import check_image

from . import diffusion_data as data
from . import diffusion_model as dm
from .scar_regions import DEFAULT_REGION_KIND, paint_region

MAX_INFERENCE_STEPS = 50
SAMPLE_CLIP = 3.0  # normalised intensities: the context spans about [-1, 1], bright heart pixels more
BLEND_RAMP_PIXELS = 3.0  # soft edge inside the heart region; outside it nothing changes


def resolve_weights(weights):
    """(safetensors path, registry entry) of `weights`: None (shipped), a model name, or a path
    (see LGECore.models.resolve_weights); the entry holds the checksum and the architecture."""
    from LGECore import models

    entry = models.resolve_weights(weights, dm.DEFAULT_MODEL_NAME, dm.WEIGHTS_DIR, writer="scarsynth train-synth")
    return Path(entry["path"]), entry


@functools.lru_cache(maxsize=4)
def _load(path, sha256, config_json, device):
    """Build and fill the UNet once per (weights, device); later calls reuse it."""
    import torch

    from LGECore.models import load_state_dict

    model = dm.build_unet(json.loads(config_json))
    try:
        model.load_state_dict(load_state_dict(path, sha256))
    except RuntimeError as error:
        raise WeightsError(f"{Path(path).name} does not fit the generator's architecture: "
                           f"{str(error).splitlines()[0]}") from None
    return model.to(torch.device(device)).eval()


def load_generator(weights=None, device=None):
    """The generator UNet (eval mode) from the shipped weights, a model name or a .safetensors path.

    The sha256 recorded in the registry entry is checked; WeightsError when it does not match.
    """
    from LGECore.device import choose_device

    path, entry = resolve_weights(weights)
    if entry.get("kind", "conditional-diffusion-generator") != "conditional-diffusion-generator":
        raise WeightsError(f"{path.name} is a '{entry.get('kind')}' model, not the diffusion generator.")
    config = entry.get("unet_config", {})
    return _load(str(path), entry.get("sha256"), json.dumps(config, sort_keys=True),
                 str(choose_device(device)))


def _check_steps(num_inference_steps):
    if not isinstance(num_inference_steps, (int, np.integer)) or not 1 <= num_inference_steps <= MAX_INFERENCE_STEPS:
        raise InputError(f"num_inference_steps must be a whole number from 1 to {MAX_INFERENCE_STEPS}; "
                         f"got {num_inference_steps!r}.")


def label_template(images, regions, labels, label_means):
    """The context outside the region and each label's mean intensity inside it (normalised)."""
    import torch

    means = torch.as_tensor(label_means, dtype=torch.float32)
    return images * (1.0 - regions) + regions * means[labels]


def sample_normalised(model, images, regions, labels, seeds, num_inference_steps=25, progress=False,
                      strength=1.0, label_means=None, keep_known=False):
    """Generate normalised crops (N, S, S) from arrays of context images, regions and labels.

    Returns (samples, network evaluations per crop). DDIM (eta 0) is deterministic given the
    starting noise, which comes from a per-crop generator seeded with its seed. Its x0 estimate is
    clipped to +-SAMPLE_CLIP: the cosine schedule ends near zero signal, where an epsilon model's
    x0 estimate is unbounded (DPM-Solver++ starting at t = 999 diverges on it).

    strength < 1 starts from a label template (`label_means` per class, see label_template)
    noised to that fraction of the schedule instead of pure noise (SDEdit, Meng et al. 2022): the
    labels then also shape the start, and only strength x num_inference_steps evaluations run.

    keep_known: after every step the pixels outside the region are set to the real image noised to
    the next timestep (as RePaint does), so the network always sees the context it was trained on.
    """
    import torch

    dm.ensure_diffusers_importable()
    from diffusers import DDIMScheduler
    from tqdm import tqdm

    device = next(model.parameters()).device
    scheduler = DDIMScheduler.from_config(dm.build_train_scheduler().config, clip_sample=True,
                                          clip_sample_range=SAMPLE_CLIP)
    scheduler.set_timesteps(num_inference_steps)
    images = torch.as_tensor(images, dtype=torch.float32)
    condition = dm.make_condition(images, torch.as_tensor(regions, dtype=torch.float32),
                                  torch.as_tensor(labels).long()).to(device)
    noise = [torch.randn((1,) + tuple(images.shape[1:]), generator=torch.Generator().manual_seed(int(s)))
             for s in seeds]
    noise = torch.cat(noise).to(device)
    timesteps = scheduler.timesteps
    if strength < 1.0:
        if label_means is None:
            raise InputError("strength < 1 needs the label means of the weights' registry entry.")
        timesteps = timesteps[-max(1, int(round(strength * len(timesteps)))):]
        template = label_template(images, torch.as_tensor(regions, dtype=torch.float32),
                                  torch.as_tensor(labels).long(), label_means).to(device)
        sample = scheduler.add_noise(template, noise, timesteps[:1].to(device))
    else:
        sample = noise * scheduler.init_noise_sigma
    known = _known_pixels(images.to(device), torch.as_tensor(regions, dtype=torch.float32).to(device), noise,
                          scheduler, timesteps) if keep_known else None
    evaluations = 0
    with torch.no_grad():
        for index, t in enumerate(tqdm(timesteps, desc="synthesising", disable=not progress, leave=False)):
            model_input = torch.cat([scheduler.scale_model_input(sample, t)[:, None], condition], 1)
            epsilon = model(model_input, t.expand(len(images)).to(device)).sample[:, 0]
            evaluations += 1
            sample = scheduler.step(epsilon, t, sample).prev_sample
            if known is not None:
                sample = known(sample, index)
    return sample.cpu().numpy(), evaluations


def _known_pixels(images, regions, noise, scheduler, timesteps):
    """sample -> sample with the pixels outside `regions` replaced by `images` noised to the
    timestep after step `index` of `timesteps` (no noise after the last)."""
    def keep(sample, index):
        if index + 1 < len(timesteps):
            context = scheduler.add_noise(images, noise, timesteps[index + 1:index + 2].to(images.device))
        else:
            context = images
        return regions * sample + (1.0 - regions) * context

    return keep


def sample_crops(model, crops, seeds, num_inference_steps=25, progress=False, strength=1.0,
                 label_means=None, keep_known=False):
    """Generate normalised heart crops for SliceCrops (one seed each): (samples, evaluations)."""
    return sample_normalised(model, np.stack([c.image for c in crops]), np.stack([c.region for c in crops]),
                             np.stack([c.labels for c in crops]).astype(np.int64), seeds,
                             num_inference_steps, progress, strength, label_means, keep_known)


def paint_region_kind(weights=None):
    """What the weights paint: "scar" (the new scar and a margin) or "heart" (see scar_regions)."""
    _, entry = resolve_weights(weights)
    return entry.get("paint_region", DEFAULT_REGION_KIND)


def slice_crop(image2d, labels2d, extent, region_kind, reference2d=None):
    """The SliceCrop to paint on one slice, or None when there is nothing to paint."""
    if not data.lv_mask(labels2d).any():
        return None
    region = None if region_kind == "heart" else paint_region(labels2d, reference2d)
    if region is not None and not region.any():
        return None
    crop = data.crop_slice(image2d, labels2d, extent, region)
    return crop if crop.region.any() else None


def sampling_settings(weights=None, strength=None):
    """(strength, label means) to sample with: `strength` or the weights' recommended one."""
    _, entry = resolve_weights(weights)
    if strength is None:
        # Weights without label means cannot start from the label template: pure noise then.
        fallback = dm.RECOMMENDED_STRENGTH if entry.get("label_means") else 1.0
        strength = entry.get("sampling", {}).get("strength", fallback)
    strength = float(strength)
    if not 0.0 < strength <= 1.0:
        raise InputError(f"strength must lie in (0, 1]; got {strength}.")
    return strength, entry.get("label_means")


def paste_back(image2d, crop, sample):
    """`image2d` (float32 copy) with the heart region replaced by `sample` mapped back to its grid.

    A linear ramp of BLEND_RAMP_PIXELS inside the region blends into the real image; pixels
    outside the region keep their exact input values.
    """
    result = np.array(image2d, dtype=np.float32, copy=True)
    pixels = np.nonzero(crop.region_full)
    synthetic = crop.normalisation.inverse(crop.geometry.uncrop(sample, image2d.shape, pixels))
    synthetic = np.clip(synthetic, float(np.min(image2d)), float(np.max(image2d)))
    depth = ndimage.distance_transform_edt(crop.region_full)[pixels]
    weight = np.clip(depth / BLEND_RAMP_PIXELS, 0.0, 1.0)
    result[pixels] = weight * synthetic + (1.0 - weight) * result[pixels]
    return result


def _check_pair(image_array, label_array):
    if image_array.shape != label_array.shape:
        raise InputError(f"The label map has shape {label_array.shape} but the image has {image_array.shape}.")
    if image_array.dtype.kind not in "iuf" or not np.all(np.isfinite(image_array)):
        raise InputError("The image must hold finite numbers.")
    return L.check_label_array(label_array)


def synthesize_slice(image2d, labels2d, seed=0, num_inference_steps=25, weights=None, device=None,
                     progress=False, lv_extent=None, strength=None, reference_labels2d=None):
    """One 2D slice: (new image (H, W) float32, number of network evaluations used).

    `labels2d` (0..5) describes the heart to render (e.g. with a new scar); `reference_labels2d`, the
    labels of the slice as it is, narrows the paint region to the pixels whose label changes.
    `lv_extent` (pixels) fixes the crop scale (default: this slice's LV extent). A slice without LV,
    or with nothing to paint, is returned as is.
    """
    _check_steps(num_inference_steps)
    image2d = np.asarray(image2d)
    if image2d.ndim != 2:
        raise InputError(f"synthesize_slice needs a 2D slice; got shape {image2d.shape}.")
    labels2d = _check_pair(image2d, np.asarray(labels2d))
    reference = None if reference_labels2d is None else _check_pair(image2d, np.asarray(reference_labels2d))
    if not data.lv_mask(labels2d).any():
        return image2d.astype(np.float32, copy=True), 0
    extent = lv_extent or data.lv_extent(labels2d[None])
    kind = paint_region_kind(weights)
    crop = slice_crop(image2d.astype(np.float32), labels2d, extent, kind, reference)
    if crop is None:
        return image2d.astype(np.float32, copy=True), 0
    model = load_generator(weights, device)
    strength, label_means = sampling_settings(weights, strength)
    samples, evaluations = sample_crops(model, [crop], [seed], num_inference_steps, progress, strength,
                                        label_means, keep_known=kind == "scar")
    return paste_back(image2d, crop, samples[0]), evaluations


def _reference_array(reference_labels, image):
    if reference_labels is None:
        return None
    image.check_same_grid(reference_labels, what="reference label map")
    return _check_pair(image.array, reference_labels.array)


def synthesize_volume(image, labels, seed=0, num_inference_steps=25, weights=None, device=None,
                      progress=True, batch_size=16, strength=None, reference_labels=None):
    """A new LGE Volume (float32, on `image`'s grid) whose heart follows `labels`.

    `labels` (Volume, 0..5, on the same grid) carries the wanted anatomy, e.g. a new scar;
    `reference_labels` (optional, same grid), the labels of `image` as it is, so that only pixels
    whose label changes are painted (with a "scar" generator). Every slice with something to paint
    is synthesised (slice z uses seed + z); the rest of the volume, and every pixel outside the
    paint region, is identical to `image`. The inputs are not modified.
    `strength` (0, 1]: 1 starts from pure noise; below 1 from a noised label template (see
    sample_normalised); None takes the weights' recommended value (registry entry "sampling").
    """
    _check_steps(num_inference_steps)
    image.check_same_grid(labels, what="label map")
    check_image(image)
    label_array = _check_pair(image.array, labels.array)
    reference = _reference_array(reference_labels, image)
    extent = data.lv_extent(label_array)
    source = image.array.astype(np.float32)
    result = source.copy()
    kind = paint_region_kind(weights)
    crops = {z: slice_crop(source[z], label_array[z], extent, kind, None if reference is None else reference[z])
             for z in range(source.shape[0])}
    slices = [z for z, crop in crops.items() if crop is not None]
    model = load_generator(weights, device)
    strength, label_means = sampling_settings(weights, strength)
    from tqdm import tqdm

    for start in tqdm(range(0, len(slices), batch_size), desc="synthesise volume",
                      disable=not progress or len(slices) <= batch_size):
        chunk = slices[start:start + batch_size]
        samples, _ = sample_crops(model, [crops[z] for z in chunk], [seed + z for z in chunk], num_inference_steps,
                                  progress, strength, label_means, keep_known=kind == "scar")
        for z, sample in zip(chunk, samples):
            result[z] = paste_back(source[z], crops[z], sample)
    return image.with_array(result)
