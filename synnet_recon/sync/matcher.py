"""Inference API for SynNet: score the temporal offset of keypoint windows (used by ``align``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..skeleton import LEFT_RIGHT_SWAP
from .model import DEFAULT_CHECKPOINT, SynNetConfig, load_synnet, pool_to_classes


class SynNetMatcher:
    """A trained SynNet, ready to score window pairs.

    config: the model's SynNetConfig (n, M, r, fps used in training).
    window_frames: input frames per window at ``config.fps`` (n*r; the paper's network reads every
        r-th of them, the shipped default all of them).
    frame_shifts: (S,) the offsets, in frames at config.fps, that ``score_windows_frames`` scores.
    Shift sign (everywhere in synnet_recon.sync): class m means b's window starts m*r frames later
    than a's on the shared clock, so a's frame k and b's frame k - m*r show the same instant.
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                 mirror_tta: bool = False, min_valid_fraction: float = 0.5):
        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        self.checkpoint = path
        self.device = torch.device(device)
        self.model, state = load_synnet(path, self.device)
        self.config: SynNetConfig = self.model.cfg
        self.window_frames: int = self.config.window_frames
        self.frame_shifts = (self.config.shifts * self.config.shift_step).numpy()
        self.metrics: dict = dict(state.get("metrics") or {})
        self.batch_size = batch_size
        # Test-time augmentation: also score the mirrored windows (x negated, left/right joints
        # swapped, as in training) and average the log-probabilities. Twice the cost.
        self.mirror_tta = mirror_tta
        # A window pair where either clip has a body (>= MIN_JOINTS joints) in fewer than this
        # fraction of its frames carries no timing information; the network would then fall back
        # on its own window-position cues (it prefers m = 0 on empty input), so such pairs get a
        # uniform distribution instead.
        self.min_valid_fraction = min_valid_fraction

    def _check(self, name: str, xy: np.ndarray, conf: np.ndarray) -> None:
        w = self.window_frames
        if xy.ndim != 4 or xy.shape[1:] != (w, 18, 2):
            raise ValueError(f"{name}_xy must be (B, {w}, 18, 2), got {xy.shape}")
        if conf.shape != xy.shape[:3]:
            raise ValueError(f"{name}_conf must be {xy.shape[:3]}, got {conf.shape}")

    @torch.no_grad()
    def _run(self, a_xy, a_conf, b_xy, b_conf) -> dict[str, np.ndarray]:
        a_xy, b_xy = np.asarray(a_xy, np.float32), np.asarray(b_xy, np.float32)
        a_conf, b_conf = np.asarray(a_conf, np.float32), np.asarray(b_conf, np.float32)
        self._check("a", a_xy, a_conf)
        self._check("b", b_xy, b_conf)
        if len(a_xy) != len(b_xy):
            raise ValueError(f"a and b hold different numbers of windows: {len(a_xy)} vs {len(b_xy)}")
        cls, frm = [], []
        for i in range(0, len(a_xy), self.batch_size):
            t = [torch.from_numpy(x[i:i + self.batch_size]).to(self.device) for x in (a_xy, a_conf, b_xy, b_conf)]
            logp = self.model.forward_keypoints(*t)["frame_logits"].float().log_softmax(-1)
            if self.mirror_tta:
                logp = 0.5 * (logp + self.model.forward_keypoints(*mirror_windows(*t))["frame_logits"]
                              .float().log_softmax(-1))
                logp = logp.log_softmax(-1)
            cls.append(pool_to_classes(logp, self.config).log_softmax(-1).cpu().numpy())
            frm.append(logp.cpu().numpy())
        S = len(self.frame_shifts)
        if not cls:
            return {"class": np.zeros((0, self.config.n_classes), np.float32), "frame": np.zeros((0, S), np.float32)}
        cls, frm = np.concatenate(cls), np.concatenate(frm)
        empty = (body_fraction(a_xy, a_conf) < self.min_valid_fraction) | \
                (body_fraction(b_xy, b_conf) < self.min_valid_fraction)
        cls[empty] = -np.log(cls.shape[1])
        frm[empty] = -np.log(S)
        return {"class": cls, "frame": frm}

    def score_all(self, a_xy, a_conf, b_xy, b_conf) -> dict[str, np.ndarray]:
        """Both resolutions in one pass: {"class": (B, 2M), "frame": (B, S)} log-probabilities."""
        return self._run(a_xy, a_conf, b_xy, b_conf)

    @torch.no_grad()
    def score_heatmaps(self, heat_a, heat_b) -> np.ndarray:
        """Score windows given as real joint heatmaps from a pose backend instead of keypoints.

        heat_a, heat_b: (B, window_frames, 18, h, w) non-negative (background channel dropped).
        They are resized to the model's heatmap size and scaled to peak 1
        (``heatmaps.prepare_heatmaps``); crop them around the person first, since the model was
        trained on person-centred heatmaps. Returns (B, 2M) class log-probabilities.
        """
        from .heatmaps import prepare_heatmaps
        c = self.config
        ha, hb = (torch.as_tensor(np.asarray(h, np.float32)) for h in (heat_a, heat_b))
        for name, h in (("heat_a", ha), ("heat_b", hb)):
            if h.ndim != 5 or h.shape[1] != self.window_frames or h.shape[2] != 18:
                raise ValueError(f"{name} must be (B, {self.window_frames}, 18, h, w), got {tuple(h.shape)}")
        ha, hb = (prepare_heatmaps(h, c.heatmap_size) for h in (ha, hb))
        if not c.full_rate:
            ha, hb = ha[:, :: c.r], hb[:, :: c.r]
        out = []
        for i in range(0, len(ha), self.batch_size):
            sl = slice(i, i + self.batch_size)
            logits = self.model(ha[sl].to(self.device), hb[sl].to(self.device))["class_logits"]
            out.append(logits.float().log_softmax(-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, c.n_classes), np.float32)

    def score_windows(self, a_xy, a_conf, b_xy, b_conf, image_size_a=None, image_size_b=None) -> np.ndarray:
        """Log-probabilities of the offset classes of window pairs.

        a_xy, b_xy: (B, window_frames, 18, 2) pixels (NaN = missing); a_conf, b_conf: (B, window_frames, 18).
        image_size_a/b: (w, h); unused by the person-centric heatmaps, accepted for the API.
        Returns (B, 2M) log-probabilities over classes m in [-M, M-1] (index m + M): b's window starts
        m*r frames after a's.
        """
        return self._run(a_xy, a_conf, b_xy, b_conf)["class"]

    def score_windows_frames(self, a_xy, a_conf, b_xy, b_conf, image_size_a=None, image_size_b=None) -> np.ndarray:
        """Like ``score_windows`` at frame resolution: (B, S) log-probabilities over ``frame_shifts``
        (equal to the classes' m*r when the model is not full-rate)."""
        return self._run(a_xy, a_conf, b_xy, b_conf)["frame"]


MIN_JOINTS = 5  # joints a frame needs to count as showing the body


def body_fraction(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Fraction of each window's frames with at least MIN_JOINTS detected joints.
    xy: (B, W, 18, 2), conf: (B, W, 18) -> (B,)."""
    ok = np.isfinite(xy).all(-1) & (conf > 0)
    return (ok.sum(-1) >= MIN_JOINTS).mean(-1)


def mirror_windows(a_xy, a_conf, b_xy, b_conf):
    """Mirror both windows: x negated (the heatmaps are person-centred, so no image width is
    needed) and left/right joints swapped. Tensors (B, W, 18, 2) and (B, W, 18)."""
    perm = torch.as_tensor(LEFT_RIGHT_SWAP, device=a_xy.device)

    def flip(xy, conf):
        xy = xy[:, :, perm].clone()
        xy[..., 0] = -xy[..., 0]
        return xy, conf[:, :, perm]

    return (*flip(a_xy, a_conf), *flip(b_xy, b_conf))
