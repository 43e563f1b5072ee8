"""Heavy augmentation with MONAI transforms, so the network meets other scanners' images in training.

Geometry: any in-plane rotation, flips (orientation), scaling (pixel size and heart size), shear
and elastic warps. Appearance: gamma and contrast, histogram shifts, bias field, noise, blur and
simulated low resolution (other field strengths, sequences and reconstructions).
"""

import math


def training_transforms(patch_size):
    """MONAI dict transform for {"image": (1, H, W), "label": (1, H, W)} -> patch_size patches."""
    from monai import transforms as T

    both = ("image", "label")
    return T.Compose([
        T.RandAffined(
            both, prob=1.0, spatial_size=(patch_size, patch_size), rotate_range=math.pi,
            scale_range=(0.25, 0.25), shear_range=(0.1, 0.1), mode=("bilinear", "nearest"),
            padding_mode="zeros"),
        T.RandFlipd(both, prob=0.5, spatial_axis=0),
        T.RandFlipd(both, prob=0.5, spatial_axis=1),
        T.Rand2DElasticd(
            both, prob=0.2, spacing=(16, 16), magnitude_range=(1, 3),
            mode=("bilinear", "nearest"), padding_mode="zeros"),
        T.RandBiasFieldd("image", prob=0.3, coeff_range=(0.0, 0.3)),
        T.RandAdjustContrastd("image", prob=0.4, gamma=(0.5, 2.0)),
        T.RandHistogramShiftd("image", prob=0.4, num_control_points=(5, 10)),
        T.RandScaleIntensityd("image", prob=0.5, factors=0.2),
        T.RandShiftIntensityd("image", prob=0.5, offsets=0.1),
        T.RandSimulateLowResolutiond(
            "image", prob=0.2, zoom_range=(0.5, 1.0), upsample_mode="bilinear", align_corners=False),
        T.RandGaussianSmoothd("image", prob=0.2, sigma_x=(0.25, 1.0), sigma_y=(0.25, 1.0)),
        T.RandGaussianNoised("image", prob=0.3, std=0.05),
        T.EnsureTyped(both, track_meta=False),
    ])
