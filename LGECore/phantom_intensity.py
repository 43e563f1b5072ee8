"""LGE (inversion recovery: magnitude, or phase-sensitive) intensities of the phantom's tissue
classes, and the acquisition effects: smooth coil bias field, blur, and noise."""

import numpy as np
from scipy import ndimage

from . import phantom_geometry as g

LOOKS = ("emidec", "scanner", "psir")

# "scanner": mean magnitude signal relative to blood with the inversion time nulling healthy
# myocardium, as in LGE straight from the scanner.
SCANNER_SIGNAL = {
    g.AIR: 0.0, g.SOFT: 0.42, g.FAT: 0.85, g.MUSCLE: 0.22, g.LUNG: 0.05, g.LIVER: 0.38,
    g.SPINE: 0.3, g.AORTA: 0.9, g.STOMACH: 0.15, g.PERI_FAT: 0.8, g.RV_WALL: 0.08, g.RV_BLOOD: 0.95,
    g.LV_BLOOD: 1.0, g.MYO: 0.06, g.SCAR: 1.2, g.MVO: 0.12, g.PAPILLARY: 0.2,
}
SCANNER_BLOOD_LEVEL = 170.0
# "psir": phase-sensitive inversion recovery, the signed magnetisation at the inversion time
# relative to blood. Tissues with a long T1 are still negative: healthy myocardium is the darkest
# tissue, darker than air and lung (zero), and MVO (no contrast agent) darker still.
PSIR_SIGNAL = {
    g.AIR: 0.0, g.SOFT: 0.35, g.FAT: 0.8, g.MUSCLE: -0.15, g.LUNG: 0.02, g.LIVER: 0.3,
    g.SPINE: 0.3, g.AORTA: 0.9, g.STOMACH: 0.1, g.PERI_FAT: 0.75, g.RV_WALL: -0.15, g.RV_BLOOD: 0.95,
    g.LV_BLOOD: 1.0, g.MYO: -0.2, g.SCAR: 1.2, g.MVO: -0.3, g.PAPILLARY: -0.1,
}
PSIR_OFFSET = 2048.0  # stored grey level of zero magnetisation: scanners store PSIR with an offset
# "emidec": grey levels of the 8-bit EMIDEC export, whose intensities were
# remapped to a low contrast; label means measured over its 80 cases: blood 160, myocardium 145,
# scar 163, MVO 151; body 5th..95th percentile 121..194.
EMIDEC_GREY = {
    g.AIR: 25.0, g.SOFT: 140.0, g.FAT: 196.0, g.MUSCLE: 128.0, g.LUNG: 118.0, g.LIVER: 152.0,
    g.SPINE: 135.0, g.AORTA: 172.0, g.STOMACH: 100.0, g.PERI_FAT: 185.0, g.RV_WALL: 140.0, g.RV_BLOOD: 158.0,
    g.LV_BLOOD: 160.0, g.MYO: 144.0, g.SCAR: 168.0, g.MVO: 147.0, g.PAPILLARY: 147.0,
}


def class_signal_table(rng, look):
    """Per-case signal of each class for the look, jittered a little by the seed."""
    table = np.zeros(g.N_CLASSES + 1, dtype=np.float32)
    if look == "scanner":
        for cls, value in SCANNER_SIGNAL.items():
            table[cls] = value * rng.uniform(0.9, 1.1)
        table[g.MYO] = SCANNER_SIGNAL[g.MYO] * rng.uniform(0.6, 1.6)  # imperfect nulling
        table[g.SCAR] = max(table[g.SCAR], table[g.LV_BLOOD] * 1.05)
        return table * SCANNER_BLOOD_LEVEL
    if look == "psir":
        for cls, value in PSIR_SIGNAL.items():
            table[cls] = value * rng.uniform(0.9, 1.1)
        table[g.MYO] = rng.uniform(-0.35, -0.05)  # depends on the inversion time chosen
        table[g.SCAR] = max(table[g.SCAR], table[g.LV_BLOOD] * 1.05)
        table[g.MVO] = min(table[g.MVO], table[g.MYO] - 0.05)
        return table * SCANNER_BLOOD_LEVEL
    shift = rng.uniform(-12.0, 12.0)  # case-to-case brightness (EMIDEC: +-14 between cases)
    for cls, value in EMIDEC_GREY.items():
        table[cls] = value + shift + rng.uniform(-3.0, 3.0)
    table[g.AIR] = EMIDEC_GREY[g.AIR]
    table[g.SCAR] = max(table[g.SCAR], table[g.LV_BLOOD] + 3.0)
    table[g.MVO] = min(table[g.MVO], table[g.SCAR] - 12.0)
    return table


def noise_level(rng, look):
    """Noise sigma (grey levels) of the look."""
    if look in ("scanner", "psir"):
        return float(rng.uniform(0.03, 0.06) * SCANNER_BLOOD_LEVEL)
    return float(rng.uniform(6.0, 9.0))


def lung_vessels(rng, in_lung, brightness):
    """Sparse bright dots (vessels in cross-section) on the lungs, before the blur."""
    dots = (rng.random(in_lung.shape) < 0.01) & in_lung
    return dots * np.float32(brightness)


def smooth_texture(rng, shape, sigma_px, amplitude):
    """Multiplicative low-frequency texture (1 +- amplitude) so tissues are not flat."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                                    sigma=(0.5, sigma_px, sigma_px))
    field /= max(float(field.std()), 1e-6)
    return 1.0 + amplitude * field


def bias_field(rng, points_mm, strength=1.0):
    """Smooth receive-coil bias: brighter towards a random near coil, range about 0.7..1.3."""
    coil = rng.normal(0.0, 1.0, 3)
    coil[1] = -abs(coil[1]) - 0.5  # anterior coil array is usually the closest
    coil = 250.0 * coil / np.linalg.norm(coil)
    distance = np.linalg.norm(points_mm - coil, axis=-1)
    field = (distance.min() / distance) ** (strength * rng.uniform(0.6, 1.2))
    return (field / field.mean()).astype(np.float32)


def add_rician_noise(rng, image, sigma):
    """Magnitude of the image plus complex Gaussian noise: Rician statistics, dark areas too."""
    real = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.hypot(real, imaginary)


def add_psir_noise(rng, image, sigma):
    """The real part after phase correction: Gaussian noise on the signed signal, stored with the
    scanner's offset."""
    return image + rng.normal(0.0, sigma, image.shape).astype(np.float32) + np.float32(PSIR_OFFSET)


def clutter(rng, grid, centre, eligible, contrast, count=60):
    """Random round structures (vessels, bowel, fat pads) in the abdomen and mediastinum.

    Spheres of 4..20 mm around `centre` (LPS), brighter or darker by up to `contrast`, applied
    only where `eligible` (so never on the heart, lungs or air). Evaluated in small windows.
    """
    out = np.zeros(grid.shape, np.float32)
    centres = centre + rng.uniform([-150, -60, -150], [150, 160, 80], size=(count, 3))
    radii = rng.uniform(4.0, 20.0, count)
    deltas = contrast * rng.choice([-0.9, -0.5, 0.5, 0.8, 1.0], count)
    spacing = np.asarray(grid.spacing)[::-1]  # z, y, x
    for c, radius, delta in zip(centres, radii, deltas):
        index = grid.lps_to_index(c[None])[0]
        lo = np.maximum(np.floor(index - radius / spacing), 0).astype(int)
        hi = np.minimum(np.ceil(index + radius / spacing) + 1, grid.shape).astype(int)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.meshgrid(*[np.arange(l, h) for l, h in zip(lo, hi)], indexing="ij")
        points = grid.index_to_lps(np.stack([zz, yy, xx], -1).reshape(-1, 3))
        inside = (np.linalg.norm(points - c, axis=1) < radius).reshape(zz.shape)
        window = tuple(slice(l, h) for l, h in zip(lo, hi))
        out[window] += np.where(inside & eligible[window], np.float32(delta), 0)
    return out
