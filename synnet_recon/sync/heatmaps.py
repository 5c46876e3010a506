"""Joint heatmaps: the pose representation SynNet reads (paper section 3.1, 18 joint channels).

Keypoints are rendered as one Gaussian per joint and frame, weighted by detector confidence.
Before rendering, coordinates are normalized *person-centrically per clip*:

* each frame is centred on the body (confidence-weighted mean of its detected joints), so camera
  translation and panning do not move the heatmaps;
* the whole clip is scaled by its median body size (RMS distance of the joints to that centre), so
  zoom and distance to the camera do not change the heatmap scale. One scale per clip keeps the
  within-clip size changes (a body turning, bending, crouching), which carry timing information.

Camera rotation about the optical axis and perspective changes are left for the network to learn.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Half-width of the heatmap grid in units of the clip's median RMS body radius. A standing
# person's joints lie within ~2.2 RMS radii of their centroid; 3 leaves room for raised arms.
GRID_HALF_WIDTH = 3.0


def person_normalize(xy: torch.Tensor, conf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre every frame on the body and scale every clip by its median body size.

    xy:   (B, T, J, 2) pixels, NaN where missing.
    conf: (B, T, J) confidences in [0, 1]; 0 where missing.
    Returns (uv (B, T, J, 2) in body units, roughly [-1, 1] for the body; 0 where missing,
    weight (B, T, J) = conf where the joint is valid, else 0).
    """
    valid = torch.isfinite(xy).all(-1) & (conf > 0)
    w = torch.where(valid, conf.clamp(min=0.0), torch.zeros_like(conf))
    xy0 = torch.where(valid[..., None], xy, torch.zeros_like(xy))
    wsum = w.sum(-1, keepdim=True)  # (B, T, 1)
    centre = (xy0 * w[..., None]).sum(-2) / wsum.clamp(min=1e-6)  # (B, T, 2)
    d2 = ((xy0 - centre[..., None, :]) ** 2).sum(-1)  # (B, T, J)
    rms = torch.sqrt((d2 * w).sum(-1) / wsum[..., 0].clamp(min=1e-6))  # (B, T)
    # Frames with fewer than 3 joints give no reliable size: leave them out of the median.
    count = valid.sum(-1)
    rms = torch.where(count >= 3, rms, torch.full_like(rms, float("nan")))
    scale = torch.nanmedian(rms, dim=1).values  # (B,)
    scale = torch.where(torch.isfinite(scale) & (scale > 1e-3), scale, torch.ones_like(scale))
    uv = (xy0 - centre[..., None, :]) / (GRID_HALF_WIDTH * scale[:, None, None, None])
    uv = torch.where(valid[..., None], uv, torch.zeros_like(uv))
    return uv, w


def render_heatmaps(xy: torch.Tensor, conf: torch.Tensor, size: int = 32, sigma: float = 1.5,
                    normalize: bool = True) -> torch.Tensor:
    """Render confidence-weighted Gaussian joint heatmaps, batched.

    xy:   (B, T, J, 2) pixel coordinates (x right, y down), NaN where missing.
    conf: (B, T, J) detector confidences; missing joints render as all-zero channels.
    size: heatmap height = width in cells; sigma: Gaussian std in cells.
    normalize: person-centric normalization (module docstring); False maps the raw pixel
        coordinates of a (size x size)-pixel image directly (for tests and already-normalized input).
    Returns (B, T, J, size, size) float32 in [0, 1].
    """
    if normalize:
        uv, w = person_normalize(xy, conf)
        cells = (uv + 1.0) * 0.5 * (size - 1)  # [-1, 1] -> [0, size-1]
    else:
        valid = torch.isfinite(xy).all(-1) & (conf > 0)
        w = torch.where(valid, conf, torch.zeros_like(conf))
        cells = torch.where(valid[..., None], xy, torch.zeros_like(xy))
    grid = torch.arange(size, dtype=cells.dtype, device=cells.device)
    # Separable Gaussian: exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2).
    gx = torch.exp(-((grid - cells[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (B, T, J, W)
    gy = torch.exp(-((grid - cells[..., 1:2]) ** 2) / (2 * sigma ** 2))  # (B, T, J, H)
    return (gy[..., :, None] * gx[..., None, :]) * w[..., None, None]


def prepare_heatmaps(heatmaps: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Adapt real heatmaps from a pose backend (e.g. OpenPose's 18 joint channels) to SynNet's input.

    heatmaps: (B, T, J, h, w) non-negative scores (background channel already dropped).
    Returns (B, T, J, size, size), resized bilinearly and scaled to max 1 per clip and joint.
    These are image-framed, not person-centric: crop around the person first for best results.
    """
    if heatmaps.ndim != 5:
        raise ValueError(f"heatmaps must be (B, T, J, h, w), got {tuple(heatmaps.shape)}")
    b, t, j, h, w = heatmaps.shape
    x = heatmaps.float().clamp(min=0).reshape(b * t, j, h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.reshape(b, t, j, size, size)
    peak = x.amax(dim=(1, 3, 4), keepdim=True).clamp(min=1e-6)
    return x / peak
