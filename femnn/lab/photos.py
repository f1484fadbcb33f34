"""Photos of the part: reading, exposure/blur checks, hub detection, the camera homography, sub-pixel hubs.

Coordinates: every pixel position in this module is ``[col, row]`` (x to the right, y = row DOWN), the
order cv2 uses. scipy/skimage (row, col) arrays are converted right where they are read
(:func:`sample_bilinear`). Design positions are millimetres in the network frame (y UP); the
homography ``H`` maps design mm -> px and absorbs the flip, so the network frame is recovered by
``H^-1`` alone (:func:`px_to_design_mm`).

Hub centre to sub-pixel precision (:func:`fit_hub`): the hub is a disc of known radius; its rim is
visible between the necks. Along 360 rays from the current centre the grey profile is sampled
(bilinear, 0.25 px steps); a ray is used only where the profile is dark inside the rim and light
just outside it (rays into a neck, or within a few degrees of one, are dropped); its edge is where
the profile crosses the mid level between the ray's own dark and light levels (robust to uneven
lighting; a symmetric blur leaves that crossing in place). A circle (centre, radius) is fitted to
the edge points by least squares, outliers (3 MAD) dropped, and the rays are re-cast from the new
centre (3 passes). Neither the necks nor the bonds enter the fit, so the rotation of the necks with
the bonds (which biases a correlation of the hub's neighbourhood) does not move the centre. To
track a hub between two photos the SAME ray set (rays valid in both photos) is used in both fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femnn.errors import InputError

N_RAYS = 360


# --------------------------------------------------------------------------------------------- reading
def read_photo(path) -> np.ndarray:
    """Grey image (H, W) float32 in [0, 1] of a PNG/JPEG/TIFF (8 or 16 bit, grey or colour)."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), "", "no such photo; give a PNG, JPEG or TIFF file")
    img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if img is None or img.size == 0:
        raise InputError(str(path), "", "not a readable image (PNG, JPEG or TIFF expected)")
    full = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else None
    if full is None:
        img = img.astype(np.float32)
        full = float(max(img.max(), 1e-12))
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    return (img.astype(np.float32) / full).clip(0, 1)


def check_exposure(gray, src: str) -> tuple[float, float]:
    """(dark level, light level) of the photo; refuses over-exposed or low-contrast photos."""
    sat = float(np.mean(gray >= 254.5 / 255))
    if sat > 0.05:
        raise InputError(src, "exposure", f"over-exposed: {100 * sat:.0f} % of the pixels are saturated (white); "
                         "reduce the exposure so that the background is light grey, not white, and retake the photo")
    small = gray[::4, ::4]
    thr = _otsu(small)
    dark, light = float(np.median(small[small < thr])), float(np.median(small[small >= thr]))
    if light - dark < 0.2:
        raise InputError(src, "exposure", f"too little contrast between the part ({dark:.2f}) and the background "
                         f"({light:.2f}, full scale 1); use a light background and an exposure that keeps the part dark")
    return dark, light


def _otsu(gray) -> float:
    import cv2

    step = max(1, int(np.sqrt(gray.size / 1e6)))  # ~1 Mpx is plenty for a histogram
    u8 = np.clip(gray[::step, ::step] * 255, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (float(t) + 0.5) / 255


def sample_bilinear(gray, cols, rows) -> np.ndarray:
    """Bilinear samples of ``gray`` at [col, row] positions (any shape); outside: NaN."""
    import cv2

    c = np.asarray(cols, np.float32)
    r = np.asarray(rows, np.float32)
    shp, n = c.shape, c.size
    w = 4096  # cv2.remap wants maps shorter than 32767 in each direction
    m = -(-n // w) * w
    cp = np.full(m, -10, np.float32)
    rp = np.full(m, -10, np.float32)
    cp[:n], rp[:n] = c.ravel(), r.ravel()
    out = cv2.remap(np.asarray(gray, np.float32), cp.reshape(-1, w), rp.reshape(-1, w), interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    return out.ravel()[:n].reshape(shp)


# ----------------------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class Blobs:
    """Hub-like dark discs of a photo: centres [col, row] (k, 2) px and radii (k,) px (coarse)."""

    centres_px: np.ndarray
    radii_px: np.ndarray


def detect_hubs(gray, radius_px: float | None = None) -> Blobs:
    """Round dark blobs (hubs): isolated maxima of the distance transform of the dark mask.

    A point of a bond's ridge has the same distance to the background along the bond; a hub centre
    does not: the distance transform half a radius away from a hub centre is at most ~0.7 of its
    value in every direction (necks included). With ``radius_px`` given, only blobs of 0.7-1.4 x that
    radius are kept; otherwise the radius is the median of the round blobs found."""
    import cv2

    thr = _otsu(gray)
    # work on a reduced copy for speed (the centres are refined later by fit_hub)
    f = max(1, int(round(min(gray.shape) / 1000)))
    m = (gray[::f, ::f] < thr).astype(np.uint8)
    dt = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    k = 7
    dil = cv2.dilate(dt, np.ones((k, k), np.uint8))
    rr, cc = np.nonzero((dt >= dil - 1e-6) & (dt > 4))
    if rr.size == 0:
        return Blobs(np.zeros((0, 2)), np.zeros(0))
    d = dt[rr, cc]
    th = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    sc = cc[:, None] + 0.5 * d[:, None] * np.cos(th)
    sr = rr[:, None] + 0.5 * d[:, None] * np.sin(th)
    around = sample_bilinear(dt, sc, sr)
    iso = np.nanmax(around, axis=1) <= 0.75 * d
    rr, cc, d = rr[iso], cc[iso], d[iso]
    # non-maximum suppression: strongest first, drop anything within its radius
    order = np.argsort(-d)
    keep = []
    for i in order:
        if all((rr[i] - rr[j]) ** 2 + (cc[i] - cc[j]) ** 2 > (0.8 * max(d[i], d[j])) ** 2 for j in keep):
            keep.append(i)
    keep = np.array(keep, int)
    cen = np.stack([cc[keep], rr[keep]], axis=1).astype(float) * f + (f - 1) / 2
    rad = d[keep].astype(float) * f
    ref = radius_px if radius_px is not None else (float(np.median(rad)) if rad.size else 0.0)
    ok = (rad >= 0.7 * ref) & (rad <= 1.4 * ref) if ref > 0 else np.ones(rad.size, bool)
    return Blobs(cen[ok], rad[ok])


# --------------------------------------------------------------------------------------- homography
def fit_homography(design_mm, px) -> np.ndarray:
    """Least-squares homography design mm -> px on all points (normalised DLT, cv2.findHomography)."""
    import cv2

    Hm, _ = cv2.findHomography(np.asarray(design_mm, np.float64), np.asarray(px, np.float64), 0)
    if Hm is None:
        raise ValueError("homography fit failed (degenerate points)")
    return Hm / Hm[2, 2]


def apply_h(Hm, pts) -> np.ndarray:
    pts = np.asarray(pts, float)
    ph = pts @ Hm[:, :2].T + Hm[:, 2]
    return ph[..., :2] / ph[..., 2:3]


def px_to_design_mm(Hm, px) -> np.ndarray:
    """Pixel [col, row] -> design mm [x, y] (y up) through the inverse homography."""
    return apply_h(np.linalg.inv(Hm), px)


def px_per_mm_of(Hm, at_mm) -> float:
    """Local scale sqrt|det J| of the homography at a design point (px per mm)."""
    e = 1e-3
    p0 = apply_h(Hm, np.asarray(at_mm, float)[None])[0]
    px = apply_h(Hm, (np.asarray(at_mm, float) + [e, 0])[None])[0]
    py = apply_h(Hm, (np.asarray(at_mm, float) + [0, e])[None])[0]
    J = np.stack([(px - p0) / e, (py - p0) / e], axis=1)
    return float(np.sqrt(abs(np.linalg.det(J))))


def match_nodes(design_mm, blobs: Blobs, max_roll_deg: float = 45.0):
    """Assign blobs to design nodes -> (H design mm -> px, index of the blob per node (-1: none)).

    Hypotheses: the two design nodes farthest apart (and two more pairs, in case one is hidden)
    against every ordered pair of blobs give a similarity (y flipped: the photo is not mirrored)
    with a roll within ``max_roll_deg``; the one matching the most nodes (then the smallest
    residual) wins, and is refined by homographies on the matched hubs."""
    from scipy.spatial import cKDTree

    P = np.asarray(design_mm, float) * [1, -1]  # y down like the image
    Q = blobs.centres_px
    n, k = len(P), len(Q)
    if k < 2 or n < 2:
        return None, np.full(n, -1)
    tree = cKDTree(Q)
    rad = float(np.median(blobs.radii_px))
    D = np.linalg.norm(P[:, None] - P[None], axis=2)
    pairs = []
    for _ in range(3):
        a, b = np.unravel_index(np.argmax(D), D.shape)
        pairs.append((a, b))
        D[a, :] = D[:, a] = D[b, :] = D[:, b] = -1
        if D.max() <= 0:
            break
    best = None
    ii, jj = np.nonzero(~np.eye(k, dtype=bool))
    for a, b in pairs:
        vp = P[b] - P[a]
        vq = Q[jj] - Q[ii]
        s = np.linalg.norm(vq, axis=1) / np.linalg.norm(vp)
        ang = np.arctan2(vq[:, 1], vq[:, 0]) - np.arctan2(vp[1], vp[0])
        ang = (ang + np.pi) % (2 * np.pi) - np.pi
        ok = np.abs(ang) <= np.radians(max_roll_deg)
        for h in np.flatnonzero(ok):
            c, sn = s[h] * np.cos(ang[h]), s[h] * np.sin(ang[h])
            R = np.array([[c, -sn], [sn, c]])
            mapped = (P - P[a]) @ R.T + Q[ii[h]]
            dist, idx = tree.query(mapped)
            good = dist < 1.5 * rad
            score = (int(good.sum()), -float(np.sum(np.minimum(dist, 1.5 * rad) ** 2)))
            if best is None or score > best[0]:
                best = (score, mapped)
    mapped = best[1]
    assign = np.full(n, -1)
    Hm = None
    for tol in (1.5, 0.7, 0.5):
        dist, idx = tree.query(mapped)
        good = dist < tol * rad
        # one blob per node
        assign = np.where(good, idx, -1)
        vals, counts = np.unique(assign[assign >= 0], return_counts=True)
        for v in vals[counts > 1]:
            dup = np.flatnonzero(assign == v)
            keep = dup[np.argmin(dist[dup])]
            assign[dup[dup != keep]] = -1
        m = assign >= 0
        if m.sum() >= 4:
            Hm = fit_homography(np.asarray(design_mm)[m], Q[assign[m]])
            mapped = apply_h(Hm, np.asarray(design_mm, float))
    return Hm, assign


# ------------------------------------------------------------------------------------- sub-pixel hub
@dataclass(frozen=True)
class HubFit:
    centre_px: np.ndarray    # [col, row]
    radius_px: float
    valid: np.ndarray        # (N_RAYS,) bool: rays used
    edge_sigma_px: float     # blur of the rim edge (Gaussian sigma estimated from the 25-75 % width)
    residual_px: float       # RMS distance of the rim points from the fitted circle
    n_rays: int


def _row_median(A) -> np.ndarray:
    """Median of each row ignoring NaN (NaN where a row has none); much faster than np.nanmedian."""
    S = np.sort(A, axis=1)  # NaN sort last
    k = np.sum(np.isfinite(A), axis=1)
    r = np.arange(A.shape[0])
    lo, hi = np.maximum((k - 1) // 2, 0), np.maximum(k // 2, 0)
    med = 0.5 * (S[r, np.minimum(lo, A.shape[1] - 1)] + S[r, np.minimum(hi, A.shape[1] - 1)])
    return np.where(k > 0, med, np.nan)


def _ray_edges(gray, centre, R):
    """Edge radius per ray (NaN where the ray is not a clean dark->light rim) and the 25-75 % width."""
    th = np.arange(N_RAYS) * (2 * np.pi / N_RAYS)
    r = np.arange(0.45 * R, 1.6 * R, 0.25)
    cols = centre[0] + np.cos(th)[:, None] * r
    rows = centre[1] + np.sin(th)[:, None] * r
    P = sample_bilinear(gray, cols, rows)
    delta = max(0.15 * R, 4.0)
    inner = r < R - delta
    outer = (r > R + delta) & (r < R + delta + 0.3 * R)
    dark = _row_median(P[:, inner])
    light = _row_median(P[:, outer])
    span = light - dark
    mid = (dark + light) / 2
    ok = np.isfinite(span) & (span > 0.15)
    # clean: inner all dark, outer all light
    ok &= np.nanmax(P[:, inner], axis=1) < dark + 0.3 * span
    ok &= np.nanmin(P[:, outer], axis=1) > light - 0.3 * span
    band = (r >= R - delta) & (r <= R + delta)
    ib = np.flatnonzero(band)
    Pb = P[:, ib]
    above = Pb > mid[:, None]
    # first crossing outward; must be the only one in the band
    ncross = np.sum(np.diff(above.astype(np.int8), axis=1) != 0, axis=1)
    ok &= ncross == 1
    j = np.argmax(above, axis=1)
    ok &= j > 0
    j = np.clip(j, 1, len(ib) - 1)
    rows_ = np.arange(N_RAYS)
    p0, p1 = Pb[rows_, j - 1], Pb[rows_, j]
    t = (mid - p0) / np.where(p1 != p0, p1 - p0, np.nan)
    edge = r[ib][j - 1] + t * (r[1] - r[0])
    edge = np.where(ok, edge, np.nan)
    # edge width: 25 % and 75 % crossings (Gaussian: 1.349 sigma)
    q25, q75 = dark + 0.25 * span, dark + 0.75 * span
    w25 = np.argmax(Pb > q25[:, None], axis=1)
    w75 = np.argmax(Pb > q75[:, None], axis=1)
    width = (w75 - w25) * (r[1] - r[0])
    sigma = float(np.nanmedian(np.where(ok, width, np.nan)) / 1.349) if ok.any() else np.nan
    return th, edge, sigma


def _circle_fit(x, y, c0, r0):
    """Geometric least-squares circle through points (Gauss-Newton from (c0, r0))."""
    cx, cy, r = float(c0[0]), float(c0[1]), float(r0)
    for _ in range(10):
        dx, dy = x - cx, y - cy
        d = np.hypot(dx, dy)
        res = d - r
        J = np.stack([-dx / d, -dy / d, -np.ones_like(d)], axis=1)
        step, *_ = np.linalg.lstsq(J, -res, rcond=None)
        cx, cy, r = cx + step[0], cy + step[1], r + step[2]
        if np.max(np.abs(step)) < 1e-6:
            break
    res = np.hypot(x - cx, y - cy) - r
    return np.array([cx, cy]), r, res


def fit_hub(gray, centre0, radius0, allowed=None, passes: int = 3, min_rays: int = 30) -> HubFit | None:
    """Sub-pixel hub centre from its rim (see the module docstring); None if too few clean rays."""
    c, R = np.asarray(centre0, float), float(radius0)
    valid = np.zeros(N_RAYS, bool)
    sigma, res_rms = np.nan, np.nan
    for _ in range(passes):
        th, edge, sigma = _ray_edges(gray, c, R)
        valid = np.isfinite(edge)
        # drop the rays next to an unusable one (the corners where a neck meets the rim)
        valid &= np.roll(valid, 3) & np.roll(valid, -3)
        if allowed is not None:
            valid &= allowed
        if valid.sum() < min_rays:
            return None
        x = c[0] + edge[valid] * np.cos(th[valid])
        y = c[1] + edge[valid] * np.sin(th[valid])
        c_new, R_new, res = _circle_fit(x, y, c, R)
        mad = np.median(np.abs(res - np.median(res))) * 1.4826 + 1e-3
        inl = np.abs(res - np.median(res)) < 3 * mad + 0.05
        if inl.sum() >= min_rays and not inl.all():
            c_new, R_new, res = _circle_fit(x[inl], y[inl], c_new, R_new)
            idx = np.flatnonzero(valid)
            valid[idx[~inl]] = False
        res_rms = float(np.sqrt(np.mean(res ** 2)))
        c, R = c_new, R_new
    return HubFit(c, float(R), valid, float(sigma), res_rms, int(valid.sum()))


def track_hub(gray_ref, gray_state, c_ref, c_state0, R):
    """(ref fit, state fit) of one hub with the SAME rays in both photos (None if it fails)."""
    a = fit_hub(gray_ref, c_ref, R)
    if a is None:
        return None, None
    b = fit_hub(gray_state, c_state0, a.radius_px, allowed=a.valid)
    if b is None:
        return a, None
    a2 = fit_hub(gray_ref, a.centre_px, a.radius_px, allowed=b.valid, passes=1)
    b2 = fit_hub(gray_state, b.centre_px, b.radius_px, allowed=b.valid, passes=1)
    return (a2 or a), (b2 or b)
