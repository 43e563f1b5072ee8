"""LGE (inversion recovery, magnitude) intensities of the phantom's tissue classes, and the
acquisition effects: smooth coil bias field, blur, and Rician noise."""

import numpy as np
from scipy import ndimage

from . import phantom_geometry as g

# Mean signal relative to blood with the inversion time nulling healthy myocardium.
MEAN_SIGNAL = {
    g.AIR: 0.0, g.SOFT: 0.42, g.FAT: 0.85, g.MUSCLE: 0.22, g.LUNG: 0.05, g.LIVER: 0.38,
    g.SPINE: 0.3, g.AORTA: 0.9, g.PERI_FAT: 0.8, g.RV_WALL: 0.08, g.RV_BLOOD: 0.95,
    g.LV_BLOOD: 1.0, g.MYO: 0.06, g.SCAR: 1.2, g.MVO: 0.12, g.PAPILLARY: 0.2,
}
BLOOD_LEVEL = 170.0  # grey value of blood before bias and noise (EMIDEC-like 8-bit range)


def class_signal_table(rng):
    """Per-case signal of each class: the means above, jittered a little by the seed."""
    table = np.zeros(g.N_CLASSES + 1, dtype=np.float32)
    for cls, value in MEAN_SIGNAL.items():
        table[cls] = value * rng.uniform(0.9, 1.1)
    table[g.MYO] = MEAN_SIGNAL[g.MYO] * rng.uniform(0.6, 1.6)  # imperfect nulling
    table[g.SCAR] = max(table[g.SCAR], table[g.LV_BLOOD] * 1.05)
    return table * BLOOD_LEVEL


def smooth_texture(rng, shape, sigma_px, amplitude):
    """Multiplicative low-frequency texture (1 +- amplitude) so tissues are not flat."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                                    sigma=(0.5, sigma_px, sigma_px))
    field /= max(float(field.std()), 1e-6)
    return 1.0 + amplitude * field


def bias_field(rng, points_mm):
    """Smooth receive-coil bias: brighter towards a random near coil, range about 0.7..1.3."""
    coil = rng.normal(0.0, 1.0, 3)
    coil[1] = -abs(coil[1]) - 0.5  # anterior coil array is usually the closest
    coil = 250.0 * coil / np.linalg.norm(coil)
    distance = np.linalg.norm(points_mm - coil, axis=-1)
    field = (distance.min() / distance) ** rng.uniform(0.6, 1.2)
    return (field / field.mean()).astype(np.float32)


def add_rician_noise(rng, image, sigma):
    """Magnitude of the image plus complex Gaussian noise: Rician statistics, dark areas too."""
    real = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.hypot(real, imaginary)
