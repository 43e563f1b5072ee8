"""Heart and body geometry of the LGE phantom, built in the heart's own frame.

The heart frame (see the project's geometry convention): u is the long axis from base to apex,
a the in-plane anterior direction and s the in-plane septal direction, with a x s = u. The LV
is a family of nested truncated half-ellipsoids around the axis: the surface at wall depth
lam (0 = endocardium, 1 = epicardium) has radius k(theta) * (Rn + lam * W(theta)) at the base
plane (t = 0) and reaches the axis at t = Ln + lam * w_apex. Solving for lam at a point gives its
fractional depth in the wall, used for the labels, the scar transmurality and the epicardial fat.
The RV is a crescent hugging the septal epicardium between the two insertion angles.
"""

from dataclasses import dataclass

import numpy as np

from .errors import InputError

PATIENT_ANTERIOR = np.array([0.0, -1.0, 0.0])
PATIENT_RIGHT = np.array([-1.0, 0.0, 0.0])
TYPICAL_LONG_AXIS = np.array([0.6, -0.5, -0.6])  # base -> apex: left, anterior, inferior

# Internal tissue classes: the image is rendered from these, the labels are derived from them.
AIR, SOFT, FAT, MUSCLE, LUNG, LIVER, SPINE, AORTA, STOMACH = range(9)
PERI_FAT, RV_WALL, RV_BLOOD, LV_BLOOD, MYO, SCAR, MVO, PAPILLARY = range(9, 17)
N_CLASSES = 17
LAMBDA_FAR = 4.5  # wall depths beyond this are not resolved (well outside the RV and fat)


def heart_frame(long_axis):
    """(u, a, s) for a base->apex long axis: a = patient anterior projected, s = u x a."""
    u = np.asarray(long_axis, dtype=float)
    u = u / np.linalg.norm(u)
    a = PATIENT_ANTERIOR - PATIENT_ANTERIOR.dot(u) * u
    if np.linalg.norm(a) < 0.2:  # long axis nearly antero-posterior: use the head direction
        superior = np.array([0.0, 0.0, 1.0])
        a = superior - superior.dot(u) * u
    a = a / np.linalg.norm(a)
    return u, a, np.cross(u, a)


@dataclass
class HeartShape:
    """Random but plausible sizes (mm, degrees) of one heart; drawn by `draw_heart_shape`."""

    endo_radius: float  # Rn: endocardial radius at the base plane
    base_wall: float  # W: mean wall thickness at the base
    apex_wall: float  # thickness of the apical cap
    endo_length: float  # Ln: base plane to endocardial apex
    exponent: float  # p: 2 = ellipsoid, larger = blunter
    ellipticity: float
    ellipse_angle: float
    wobble: tuple  # (amplitude, phase) of a third harmonic of the cross-section
    thick_angle: float  # where the wall is thickest (septum is usually thicker)
    thick_amount: float
    insertion_anterior: float  # theta of the anterior RV insertion point
    insertion_inferior: float
    rv_depth: float  # largest RV cavity depth (mm)
    rv_length: float  # the RV reaches this far towards the apex (mm from the base plane)
    fat_phase: float

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else float(v)) for k, v in self.__dict__.items()}


def draw_heart_shape(rng, endo_length):
    return HeartShape(
        endo_radius=rng.uniform(21.0, 27.0),
        base_wall=rng.uniform(8.0, 11.0),
        apex_wall=rng.uniform(5.5, 8.0),
        endo_length=endo_length,
        exponent=rng.uniform(2.0, 2.6),
        ellipticity=rng.uniform(0.0, 0.08),
        ellipse_angle=rng.uniform(0.0, 180.0),
        wobble=(rng.uniform(0.0, 0.03), rng.uniform(0.0, 360.0)),
        thick_angle=rng.uniform(70.0, 110.0),
        thick_amount=rng.uniform(0.0, 0.15),
        insertion_anterior=rng.uniform(25.0, 45.0),
        insertion_inferior=rng.uniform(135.0, 160.0),
        rv_depth=rng.uniform(11.0, 19.0),
        rv_length=endo_length * rng.uniform(0.7, 0.85),
        fat_phase=rng.uniform(0.0, 360.0),
    )


def _k(shape, theta):
    """Cross-section shape factor at angle theta (radians)."""
    e_angle = np.deg2rad(shape.ellipse_angle)
    amp, phase = shape.wobble
    return (1.0 + shape.ellipticity * np.cos(2 * (theta - e_angle))
            + amp * np.cos(3 * theta + np.deg2rad(phase)))


def _wall(shape, theta):
    return shape.base_wall * (1.0 + shape.thick_amount * np.cos(theta - np.deg2rad(shape.thick_angle)))


def surface_radius(shape, lam, t, theta):
    """Radius of the depth-`lam` surface at height t (0 where the surface has closed)."""
    radius = _k(shape, theta) * (shape.endo_radius + lam * _wall(shape, theta))
    length = shape.endo_length + lam * shape.apex_wall
    frac = np.clip(np.maximum(t, 0.0) / length, 0.0, 1.0)
    return radius * (1.0 - frac ** shape.exponent) ** (1.0 / shape.exponent)


def wall_depth(shape, t, r, theta, iterations=11):
    """Fractional wall depth lam of points (negative inside the cavity, LAMBDA_FAR far out).

    Points above the base plane (t < 0) get LAMBDA_FAR: the phantom has no atria.
    """
    k = _k(shape, theta)
    wall = _wall(shape, theta)
    tt = np.maximum(t, 0.0)
    p = shape.exponent

    def excess(lam):  # > 0 outside the depth-lam surface
        radius = k * (shape.endo_radius + lam * wall)
        length = shape.endo_length + lam * shape.apex_wall
        return (r / radius) ** p + (tt / length) ** p - 1.0

    lam = np.full(r.shape, LAMBDA_FAR, dtype=np.float32)
    inside_cavity = excess(0.0) < 0
    lam[inside_cavity] = -1.0
    todo = ~inside_cavity & (excess(LAMBDA_FAR) < 0)
    lo = np.zeros(int(todo.sum()), dtype=np.float32)
    hi = np.full_like(lo, LAMBDA_FAR)
    k, wall, tt, r_ = k[todo], wall[todo], tt[todo], r[todo]
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        out = (r_ / (k * (shape.endo_radius + mid * wall))) ** p + \
              (tt / (shape.endo_length + mid * shape.apex_wall)) ** p > 1.0
        lo = np.where(out, mid, lo)
        hi = np.where(out, hi, mid)
    lam[todo] = 0.5 * (lo + hi)
    lam[t < 0] = LAMBDA_FAR
    return lam


def _angle_fraction(theta_deg, start, end):
    """Position of theta within the arc start->end (degrees, increasing): 0..1 inside."""
    return ((theta_deg - start) % 360.0) / ((end - start) % 360.0)


def heart_classes(shape, t, r, theta):
    """Tissue class and wall depth of points given in heart coordinates (t, r mm; theta rad).

    Returns (classes uint8 with 255 where the heart does not claim the point, lam).
    Scar and MVO are added later (they depend on the AHA segments of the slice).
    """
    lam = wall_depth(shape, t, r, theta)
    classes = np.full(r.shape, 255, dtype=np.uint8)
    near = np.flatnonzero(lam < LAMBDA_FAR)  # only these can belong to the heart
    classes.flat[near] = _near_heart_classes(shape, t.flat[near], r.flat[near], theta.flat[near],
                                             lam.flat[near])
    return classes, lam


def _near_heart_classes(shape, t, r, theta, lam):
    theta_deg = np.rad2deg(theta) % 360.0
    classes = np.full(r.shape, 255, dtype=np.uint8)

    # Epicardial fat: thin everywhere, thicker in the interventricular grooves and the base.
    groove = (np.exp(-(((theta_deg - shape.insertion_anterior + 180) % 360 - 180) / 14.0) ** 2)
              + np.exp(-(((theta_deg - shape.insertion_inferior + 180) % 360 - 180) / 14.0) ** 2))
    basal = np.exp(-np.maximum(t, 0.0) / 12.0)
    fat_mm = (0.2 + 2.0 * np.maximum(np.cos(theta + np.deg2rad(shape.fat_phase)), 0.0) ** 3
              + 5.0 * groove + 4.0 * basal)
    fat_lam = 1.0 + fat_mm / shape.base_wall
    classes[(lam > 1.0) & (lam < fat_lam)] = PERI_FAT

    # RV: crescent outside the septal epicardium between the insertion angles.
    a0, i0 = shape.insertion_anterior, shape.insertion_inferior
    epi_r = surface_radius(shape, 1.0, t, theta)
    along = np.clip(1.0 - (np.maximum(t, 0.0) / shape.rv_length) ** 2, 0.0, None) ** 0.5
    along = np.where(t < 0, 0.0, along)
    margin_deg = np.rad2deg(4.0 / np.maximum(epi_r, 5.0))
    phi = _angle_fraction(theta_deg, a0, i0)
    phi_wall = _angle_fraction(theta_deg, a0 - margin_deg, i0 + margin_deg)
    depth = shape.rv_depth * np.maximum(np.sin(np.pi * np.clip(phi, 0, 1)), 0.0) ** 0.7 * (1.15 - 0.3 * phi) * along
    depth_wall = shape.rv_depth * np.maximum(np.sin(np.pi * np.clip(phi_wall, 0, 1)), 0.0) ** 0.7 * (1.15 - 0.3 * phi_wall) * along
    outside_lv = lam > 1.0
    rv_sector = outside_lv & (phi_wall < 1.0) & (along > 0)
    classes[rv_sector & (r < epi_r + depth_wall + 4.5 + 4.0 * groove)] = PERI_FAT
    classes[rv_sector & (r < epi_r + depth_wall + 3.0)] = RV_WALL
    rv_blood = outside_lv & (phi < 1.0) & (r < epi_r + depth) & (depth > 0.5)
    classes[rv_blood] = RV_BLOOD

    classes[(lam >= 0.0) & (lam <= 1.0)] = MYO
    cavity = lam < 0.0
    classes[cavity] = LV_BLOOD
    # Papillary muscles: dark blobs in the mid cavity, labelled as blood pool (as in EMIDEC).
    inner = np.flatnonzero(cavity & (t > 0.3 * shape.endo_length) & (t < 0.8 * shape.endo_length))
    t_in, r_in, theta_in = t[inner], r[inner], theta[inner]
    endo_r = surface_radius(shape, 0.0, t_in, theta_in)
    for angle in (215.0, 305.0):
        c = np.deg2rad(angle)
        dx = r_in * np.cos(theta_in) - 0.62 * endo_r * np.cos(c)
        dy = r_in * np.sin(theta_in) - 0.62 * endo_r * np.sin(c)
        classes[inner[np.hypot(dx, dy) < 0.16 * endo_r]] = PAPILLARY
    return classes


@dataclass
class BodyShape:
    """Chest around the heart, in patient LPS mm relative to the heart centre."""

    centre: tuple  # body ellipse centre (x, y)
    semi_axes: tuple
    fat: float
    muscle: float
    diaphragm: float  # height of the diaphragm below the heart centre

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else float(v)) for k, v in self.__dict__.items()}


def draw_body_shape(rng):
    semi_y = rng.uniform(115.0, 140.0)
    return BodyShape(
        centre=(rng.uniform(-50.0, -25.0), semi_y - rng.uniform(70.0, 95.0)),
        semi_axes=(rng.uniform(165.0, 200.0), semi_y),
        fat=rng.uniform(6.0, 18.0),
        muscle=rng.uniform(6.0, 12.0),
        diaphragm=rng.uniform(35.0, 50.0),
    )


def body_classes(body, x, y, z):
    """Tissue classes of points given by LPS coordinates (mm) relative to the heart centre."""
    cx, cy = body.centre
    ax, ay = body.semi_axes

    def inside(shrink):
        return ((x - cx) / (ax - shrink)) ** 2 + ((y - cy) / (ay - shrink)) ** 2 < 1.0

    classes = np.full(np.broadcast(x, y, z).shape, AIR, dtype=np.uint8)
    classes[inside(0.0)] = FAT
    classes[inside(body.fat)] = MUSCLE
    inner = inside(body.fat + body.muscle)
    classes[inner] = SOFT
    # Diaphragm: a dome, the right side higher, falling off towards the back and front.
    dome = -body.diaphragm - 0.2 * x - 0.002 * (y - cy + 20.0) ** 2
    above = z > dome
    for lung_x, half_width in ((70.0, 60.0), (-100.0, 65.0)):
        lung = (((x - lung_x) / half_width) ** 2 + ((y - cy - 10.0) / (ay - 10.0)) ** 2
                + ((z - 10.0) / 140.0) ** 2) < 1.0
        classes[lung & above & inside(body.fat + body.muscle + 5.0)] = LUNG
    liver = ((x + 50.0) / 120.0) ** 2 + ((y - cy) / (ay - 15.0)) ** 2 + ((z - dome + 75.0) / 80.0) ** 2 < 1.0
    classes[liver & ~above & inner] = LIVER
    stomach = ((x - 75.0) / 50.0) ** 2 + ((y - cy + 20.0) / 45.0) ** 2 + ((z - dome + 45.0) / 40.0) ** 2 < 1.0
    classes[stomach & ~above & inner] = STOMACH
    spine_y = cy + 0.7 * ay
    classes[((x - cx) ** 2 + (y - spine_y) ** 2) < 19.0 ** 2] = SPINE
    classes[((x - cx - 28.0) ** 2 + (y - spine_y + 25.0) ** 2) < 11.0 ** 2] = AORTA
    return classes


def check_direction(direction):
    """A 3x3 orthonormal direction matrix, or InputError."""
    try:
        matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    except (TypeError, ValueError):
        raise InputError("The direction must be a 3x3 matrix (9 numbers).") from None
    if not np.all(np.isfinite(matrix)) or not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4):
        raise InputError("The direction matrix must be orthonormal (its columns unit length and "
                         "perpendicular).")
    return matrix
