"""SynNet (Wu et al., ICCV-W 2019, section 3): temporal offset of two clips by matching pose features.

Pipeline, per clip (weights shared between the two clips):
  joint heatmaps (T, 18, H, W) -> per-frame ResNet features (T, C, h, w)
  -> global encoding: five conv3x3-ReLU-maxpool(2) blocks -> (T, F)
  -> temporal encoding: bi-directional ConvLSTM over the ResNet maps -> (T, F)
  -> concat + FC -> per-frame features (T, F).
Then a matching cost volume stacks the two clips' features under every candidate shift,
(S, T, 2F), and a head turns it into S logits.

Shift convention, used everywhere in synnet_recon.sync: shift s means clip b's window starts
s input frames *later* than clip a's on the shared clock, so frame k of a shows the same instant as
frame k - s of b. Classes are m in [-M, M-1] (class index m + M), meaning an offset of m*r frames
at the training fps.

What the paper does vs. the shipped default (``SynNetConfig.default()``):
  * paper (``SynNetConfig.paper()``): n = 8 frames sampled every r = 4 frames, ResNet-50,
    F = 256, cost volume over the 2M class shifts, head = BatchNorm + three FC layers.
  * shipped default: all n*r = 32 frames at full rate, a light ResNet (BasicBlocks), and the
    shift-equivariant "shift" head scoring the 2M*r frame shifts
    s in [-M*r - r//2, M*r - r//2 - 1]; the class log-probability of m pools (logsumexp) the r frame
    shifts nearest to m*r. The finer scores are returned too (``frame_logits``).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..paths import WEIGHTS_DIR
from .heatmaps import render_heatmaps

BACKBONES = ("resnet50", "resnet18", "lite")
HEADS = ("paper", "shift")


@dataclass
class SynNetConfig:
    """Hyper-parameters of SynNet. ``n``, ``M``, ``r`` are the paper's symbols."""

    n: int = 8                 # frames per clip seen by the paper's network (sampled every r frames)
    M: int = 4                 # classes m in [-M, M-1]
    r: int = 4                 # temporal down-sampling rate = frames per class step
    F: int = 128               # feature size per frame
    fps: float = 30.0          # frame rate the model was trained at
    full_rate: bool = True     # see all n*r frames and score shifts at frame resolution
    backbone: str = "lite"     # "resnet50" (Bottleneck), "resnet18" or "lite" (BasicBlock)
    width: int = 32            # channels of the first ResNet stage
    heatmap_size: int = 32     # heatmaps are heatmap_size x heatmap_size cells
    sigma: float = 1.5         # Gaussian std in heatmap cells
    lstm_hidden: int = 64      # ConvLSTM hidden channels per direction
    head: str = "shift"        # "paper" (BatchNorm + 3 FC) or "shift" (shared pair scorer)
    head_hidden: int = 128     # hidden units of the head's FC layers (shift head: per frame pair)
    # Ablation switches (paper Table 4).
    bidirectional: bool = True   # False: one-direction ConvLSTM ("w/o bi-convLSTM")
    temporal: bool = True        # False: no temporal encoding
    global_enc: bool = True      # False: no global encoding
    cost_volume: bool = True     # False: plain concatenation of the two clips' features
    penalty: bool = True         # False: cross-entropy only
    alpha: float = 0.5           # loss = alpha * CE + (1 - alpha) * penalty
    name: str = "custom"         # preset the config came from (recorded in checkpoints)
    extra: dict = field(default_factory=dict)  # free-form notes kept with the config; unused by the model

    def __post_init__(self):
        self.validate()

    # ---- presets -------------------------------------------------------------------------
    @classmethod
    def paper(cls, **kw) -> "SynNetConfig":
        """The paper's network: ResNet-50, n=8, M=4, r=4, F=256, cost volume + BN + 3 FC."""
        base = dict(n=8, M=4, r=4, F=256, full_rate=False, backbone="resnet50", width=64,
                    heatmap_size=64, sigma=2.0, lstm_hidden=256, head="paper", head_hidden=512,
                    name="paper")
        base.update(kw)
        return cls(**base)

    @classmethod
    def default(cls, **kw) -> "SynNetConfig":
        """The shipped default: light ResNet, full frame rate, shift head (trains fast)."""
        base = dict(name="default")
        base.update(kw)
        return cls(**base)

    @classmethod
    def tiny(cls, **kw) -> "SynNetConfig":
        """A very small variant for CPU training and tests."""
        base = dict(F=64, width=16, heatmap_size=24, sigma=1.2, lstm_hidden=32, head_hidden=64,
                    name="tiny")
        base.update(kw)
        return cls(**base)

    @classmethod
    def preset(cls, preset_name: str, /, **kw) -> "SynNetConfig":
        presets = {"paper": cls.paper, "default": cls.default, "tiny": cls.tiny}
        if preset_name not in presets:
            raise ValueError(f"unknown SynNet preset {preset_name!r}; choose one of {sorted(presets)}")
        return presets[preset_name](**kw)

    # ---- checks and derived sizes ----------------------------------------------------------
    def validate(self) -> None:
        if not isinstance(self.M, int) or self.M < 1:
            raise ValueError(f"M must be an integer >= 1, got {self.M!r}")
        if not isinstance(self.n, int) or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n!r}")
        if not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"r must be an integer >= 1, got {self.r!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose one of {HEADS}")
        if self.F < 1 or self.width < 1 or self.lstm_hidden < 1 or self.head_hidden < 1:
            raise ValueError("F, width, lstm_hidden and head_hidden must be positive")
        if self.heatmap_size < 8:
            raise ValueError(f"heatmap_size must be >= 8, got {self.heatmap_size}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.head == "paper" and self.full_rate and self.cost_volume:
            raise ValueError("head 'paper' scores the 2M class shifts only; use full_rate=False "
                             "or head='shift'")
        if not (self.temporal or self.global_enc):
            raise ValueError("at least one of temporal and global_enc must be on")
        if self.max_shift >= self.frames:
            raise ValueError(f"largest shift {self.max_shift} leaves no overlap in {self.frames} frames")

    @property
    def window_frames(self) -> int:
        """Input frames per window at ``fps`` (the paper's clip spans n*r original frames)."""
        return self.n * self.r

    @property
    def frames(self) -> int:
        """Frames the network actually sees per clip: n*r at full rate, else n."""
        return self.n * self.r if self.full_rate else self.n

    @property
    def n_classes(self) -> int:
        return 2 * self.M

    @property
    def shift_step(self) -> int:
        """Input frames per unit of the scored shifts (1 at full rate, r otherwise)."""
        return 1 if self.full_rate else self.r

    @property
    def shifts(self) -> torch.Tensor:
        """(S,) scored shifts in the network's frame units (see module docstring)."""
        if self.full_rate:
            lo = -self.M * self.r - self.r // 2
            return torch.arange(lo, lo + 2 * self.M * self.r)
        return torch.arange(-self.M, self.M)

    @property
    def max_shift(self) -> int:
        return int(self.shifts.abs().max())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SynNetConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SynNet config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def parse(cls, spec: str) -> "SynNetConfig":
        """A preset name, a JSON object, or a path to a JSON file. JSON may name a ``preset``
        and override its fields, e.g. '{"preset": "default", "F": 64}'."""
        from pathlib import Path
        spec = spec.strip()
        if spec.startswith("{"):
            try:
                d = json.loads(spec)
            except json.JSONDecodeError as exc:
                raise ValueError(f"config is not valid JSON: {exc}") from None
        elif spec.endswith(".json") or Path(spec).is_file():
            try:
                d = json.loads(Path(spec).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"cannot read config {spec}: {exc}") from None
        else:
            return cls.preset(spec)
        if not isinstance(d, dict):
            raise ValueError("config JSON must be an object")
        preset = d.pop("preset", None)
        if preset is None:
            return cls.from_dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SynNet config keys: {sorted(unknown)}")
        return cls.preset(preset, **d)


# ---- deep feature extraction: ResNet written out ------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.down = None
        if stride != 1 or cin != planes:
            self.down = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """ResNet trunk for heatmap input (no classifier).

    resnet50: Bottleneck [3, 4, 6, 3], 7x7/2 stem + maxpool, output stride 32, 32*width channels.
    resnet18: BasicBlock [2, 2, 2, 2], same stem, output stride 32, 8*width channels.
    lite:     BasicBlock [1, 1, 1], 3x3/2 stem, output stride 8, 4*width channels (small heatmaps).
    Forward: (N, 18, H, W) -> (N, out_channels, h, w).
    """

    def __init__(self, kind: str, in_channels: int = 18, width: int = 64):
        super().__init__()
        if kind == "resnet50":
            block, layers, strides = Bottleneck, [3, 4, 6, 3], [1, 2, 2, 2]
        elif kind == "resnet18":
            block, layers, strides = BasicBlock, [2, 2, 2, 2], [1, 2, 2, 2]
        elif kind == "lite":
            block, layers, strides = BasicBlock, [1, 1, 1], [1, 2, 2]
        else:
            raise ValueError(f"unknown backbone {kind!r}")
        if kind == "lite":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, (nblocks, stride) in enumerate(zip(layers, strides)):
            planes = width * 2 ** i
            blocks = [block(cin, planes, stride)]
            cin = planes * block.expansion
            blocks += [block(cin, planes) for _ in range(nblocks - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin

    def forward(self, x):
        return self.stages(self.stem(x))


class GlobalEncoder(nn.Module):
    """Five conv3x3-ReLU-maxpool(2) blocks (ceil mode, so small maps shrink to 1x1), then a
    global average to a vector. (N, C, h, w) -> (N, F)."""

    def __init__(self, cin: int, F_: int):
        super().__init__()
        chans = [cin] + [max(F_ // 2 ** (4 - i), 16) for i in range(4)] + [F_]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, 1, 1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2, ceil_mode=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).mean(dim=(2, 3))


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: the LSTM's matrix products replaced by 3x3 convolutions.

    forward(x (N, Cin, h, w), (hid (N, Ch, h, w), cell (N, Ch, h, w))) -> (hid, cell).
    """

    def __init__(self, cin: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(cin + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x, state):
        hid, cell = state
        i, f, o, g = self.gates(torch.cat([x, hid], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        hid = torch.sigmoid(o) * torch.tanh(cell)
        return hid, cell


class TemporalEncoder(nn.Module):
    """(Bi-directional) ConvLSTM over a clip's feature maps, then a vector per frame.

    The two directions share no information; their outputs are concatenated per frame.
    forward: (B, T, C, h, w) -> (B, T, F).
    """

    def __init__(self, cin: int, hidden: int, F_: int, bidirectional: bool = True):
        super().__init__()
        self.reduce = nn.Conv2d(cin, hidden, 1)  # keeps the recurrent convs cheap for ResNet-50
        self.fwd = ConvLSTMCell(hidden, hidden)
        self.bwd = ConvLSTMCell(hidden, hidden) if bidirectional else None
        self.proj = nn.Linear(hidden * (2 if bidirectional else 1), F_)

    @staticmethod
    def _run(cell: ConvLSTMCell, x: torch.Tensor) -> torch.Tensor:
        """One direction, step by step through ``cell``: (B, T, C, h, w) -> (B, T, Ch, h, w).
        The reference for ``_run_fused``."""
        b, t, c, h, w = x.shape
        hid = x.new_zeros(b, cell.hidden, h, w)
        state = (hid, hid)
        outs = []
        for k in range(t):
            state = cell(x[:, k], state)
            outs.append(state[0])
        return torch.stack(outs, dim=1)

    def _run_fused(self, x: torch.Tensor) -> torch.Tensor:
        """Both directions at once, spatially averaged: (B, T, C, h, w) -> (B, T, n * Ch).

        The same numbers as ``_run`` per direction (then the mean over h, w), faster: the gates'
        input half is one convolution over all frames, and each step multiplies the unfolded hidden
        states of both directions with their weights in one batched matrix product.
        """
        cells = [self.fwd] + ([self.bwd] if self.bwd is not None else [])
        n, hid_ch, (b, t, c, h, w) = len(cells), self.fwd.hidden, x.shape
        k = self.fwd.gates.kernel_size[0]
        pad = self.fwd.gates.padding
        w_x = torch.cat([cl.gates.weight[:, :c] for cl in cells])  # (n*4Ch, C, k, k)
        bias = torch.cat([cl.gates.bias for cl in cells])
        w_h = torch.stack([cl.gates.weight[:, c:].flatten(1) for cl in cells])  # (n, 4Ch, Ch*k*k)
        gx = F.conv2d(x.flatten(0, 1), w_x, bias, padding=pad)  # (B*T, n*4Ch, h, w)
        gx = gx.unflatten(0, (b, t)).unflatten(2, (n, 4 * hid_ch)).flatten(4)  # (B, T, n, 4Ch, hw)
        if n == 2:  # the backward direction reads the frames in reverse
            gx = torch.stack([gx[:, :, 0], gx[:, :, 1].flip(1)], dim=2)
        gx = gx.permute(1, 2, 3, 0, 4).flatten(3)  # (T, n, 4Ch, B*hw)
        hid = x.new_zeros(n, b, hid_ch, h, w)
        cell = x.new_zeros(n, hid_ch, b * h * w)
        outs = []
        for step in range(t):
            cols = F.unfold(hid.flatten(0, 1), k, padding=pad).unflatten(0, (n, b))  # (n, B, Ch*k*k, hw)
            cols = cols.permute(0, 2, 1, 3).flatten(2)  # (n, Ch*k*k, B*hw)
            g = gx[step] + torch.bmm(w_h, cols)  # (n, 4Ch, B*hw)
            i, f, o, gg = g.chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(gg)
            new = (torch.sigmoid(o) * torch.tanh(cell)).unflatten(2, (b, h * w))  # (n, Ch, B, hw)
            hid = new.permute(0, 2, 1, 3).unflatten(3, (h, w))
            outs.append(new.mean(-1))  # (n, Ch, B)
        out = torch.stack(outs).permute(3, 0, 1, 2)  # (B, T, n, Ch)
        if n == 2:
            out = torch.stack([out[:, :, 0], out[:, :, 1].flip(1)], dim=2)
        return out.flatten(2)

    def forward(self, x):
        b, t, c, h, w = x.shape
        x = F.relu(self.reduce(x.flatten(0, 1))).unflatten(0, (b, t))
        return self.proj(self._run_fused(x))

    def forward_stepwise(self, x):
        """``forward`` through the cells one step and one direction at a time (the reference)."""
        b, t, c, h, w = x.shape
        x = F.relu(self.reduce(x.flatten(0, 1))).unflatten(0, (b, t))
        out = self._run(self.fwd, x)
        if self.bwd is not None:
            out = torch.cat([out, self._run(self.bwd, x.flip(1)).flip(1)], dim=2)
        return self.proj(out.mean(dim=(3, 4)))


class FeatureAggregation(nn.Module):
    """Per-clip features (paper Fig. 4). (B, T, 18, H, W) heatmaps -> (B, T, F)."""

    def __init__(self, cfg: SynNetConfig):
        super().__init__()
        self.backbone = ResNet(cfg.backbone, 18, cfg.width)
        c = self.backbone.out_channels
        self.global_enc = GlobalEncoder(c, cfg.F) if cfg.global_enc else None
        self.temporal = TemporalEncoder(c, cfg.lstm_hidden, cfg.F, cfg.bidirectional) if cfg.temporal else None
        n_in = cfg.F * (int(cfg.global_enc) + int(cfg.temporal))
        self.fuse = nn.Linear(n_in, cfg.F)
        self.channels_last = False  # run the ResNet in channels-last memory format (faster on CPU)

    def use_channels_last(self, on: bool = True) -> "FeatureAggregation":
        """Keep the ResNet's weights and inputs channels-last (same numbers, ~1.6x faster on a CPU)."""
        self.channels_last = on
        self.backbone.to(memory_format=torch.channels_last if on else torch.contiguous_format)
        return self

    def forward(self, heat):
        b, t = heat.shape[:2]
        x = heat.flatten(0, 1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        maps = self.backbone(x).contiguous()  # (B*T, C, h, w)
        parts = []
        if self.global_enc is not None:
            parts.append(self.global_enc(maps).unflatten(0, (b, t)))
        if self.temporal is not None:
            parts.append(self.temporal(maps.unflatten(0, (b, t))))
        return self.fuse(torch.cat(parts, dim=-1))


# ---- matching cost volume --------------------------------------------------------------------

def shift_clip(fb: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip b's features re-indexed onto clip a's frames for shift ``s``.

    fb: (B, T, F). Returns (out (B, T, F), valid (T,) bool) with out[:, k] = fb[:, k - s] where
    0 <= k - s < T and zeros elsewhere (the paper's blank columns): b starts s frames later than a,
    so a's frame k and b's frame k - s show the same instant.
    """
    t = fb.shape[1]
    k = torch.arange(t, device=fb.device)
    valid = (k - s >= 0) & (k - s < t)
    out = torch.zeros_like(fb)
    if abs(s) >= t:
        return out, valid
    if s >= 0:
        out[:, s:] = fb[:, : t - s]
    else:
        out[:, : t + s] = fb[:, -s:]
    return out, valid


def matching_cost_volume(fa: torch.Tensor, fb: torch.Tensor, shifts) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack the two clips' features under every candidate shift (paper section 3.2, Fig. 3).

    fa, fb: (B, T, F) per-frame features of clips a and b.
    shifts: S integers (see ``shift_clip`` for the sign).
    Returns (volume (B, S, T, 2F) with volume[:, i, k] = [fa[k], fb[k - shifts[i]]] (zeros where
    out of range), mask (S, T) bool: True where b's frame exists).
    """
    cols, masks = [], []
    for s in [int(s) for s in shifts]:
        shifted, valid = shift_clip(fb, s)
        cols.append(torch.cat([fa, shifted], dim=-1))
        masks.append(valid)
    return torch.stack(cols, dim=1), torch.stack(masks, dim=0)


class PaperHead(nn.Module):
    """BatchNorm over the cost volume, then three FC layers (paper section 3.3).
    (B, S, T, 2F) -> (B, S) logits."""

    def __init__(self, S: int, T: int, F_: int, hidden: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(2 * F_)
        self.fc = nn.Sequential(nn.Linear(S * T * 2 * F_, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, S))

    def forward(self, volume, mask):
        x = self.bn(volume.permute(0, 3, 1, 2))  # channels = 2F
        return self.fc(x.flatten(1))


class ShiftHead(nn.Module):
    """Shift-equivariant head: one small shared network scores each overlapping frame pair of a
    shift; a shift's logit is the mean over its overlap. (B, S, T, 2F) -> (B, S) logits."""

    def __init__(self, F_: int, hidden: int):
        super().__init__()
        self.pair = nn.Sequential(nn.Linear(4 * F_, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, volume, mask):
        # Only the valid (overlapping) positions are scored: about 30% fewer than S*T.
        s_idx, k_idx = mask.nonzero(as_tuple=True)
        fa, fb = volume[:, s_idx, k_idx].chunk(2, dim=-1)  # (B, P, F) each
        pair = self.pair(torch.cat([fa, fb, fa * fb, (fa - fb).abs()], dim=-1))[..., 0]  # (B, P)
        total = pair.new_zeros(pair.shape[0], mask.shape[0]).index_add(1, s_idx, pair)
        count = mask.sum(-1).clamp(min=1).to(pair.dtype)
        return total / count

    def _first_layer_parts(self, fa: torch.Tensor, fb: torch.Tensor):
        """The first layer split by its input blocks: (per_a (Ta, H) with the bias, per_b (Tb, H),
        the weights of the product and difference terms (H, 2F))."""
        first = self.pair[0]
        Fd = fa.shape[1]
        w_a, w_b, w_pd = first.weight[:, :Fd], first.weight[:, Fd:2 * Fd], first.weight[:, 2 * Fd:]
        return fa @ w_a.T + first.bias, fb @ w_b.T, w_pd

    def diagonal_sums(self, fa: torch.Tensor, fb: torch.Tensor, shifts: torch.Tensor, valid_a: torch.Tensor,
                      valid_b: torch.Tensor, chunk: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
        """Pair scores of two whole tracks summed along the diagonals of their Ta x Tb matrix.

        fa: (Ta, F), fb: (Tb, F) per-frame features; shifts: (D,) integer shifts (a's frame i pairs
        with b's frame i - s, the convention of ``shift_clip``); valid_a (Ta,), valid_b (Tb,) bool:
        frames that take part. Returns (sums (D,), counts (D,)) over the valid pairs of each
        diagonal; sums / counts is what ``forward`` gives for a shift when every frame is valid.
        Only the pairs on the asked diagonals are scored. The first layer is split by its input
        blocks: the fa and fb terms are computed once per frame, only the product and difference
        terms once per pair. ``pair_matrix`` + ``matrix_diagonal_sums`` give the same numbers
        when most of the matrix is needed anyway.
        """
        rest = self.pair[1:]
        per_a, per_b, w_pd = self._first_layer_parts(fa, fb)
        sums, counts = fa.new_zeros(len(shifts)), torch.zeros(len(shifts), dtype=torch.int64, device=fa.device)
        # shifts in blocks of about DIAGONAL_BLOCK frame pairs: memory flat in the tracks' length
        step = max(1, DIAGONAL_BLOCK // max(len(fa), 1))
        for s0 in range(0, len(shifts), step):
            ia, ib, d = diagonal_pairs(len(fa), len(fb), shifts[s0:s0 + step], valid_a, valid_b)
            scores = fa.new_empty(len(ia))
            for lo in range(0, len(ia), chunk):
                a, b = ia[lo:lo + chunk], ib[lo:lo + chunk]
                xa, xb = fa[a], fb[b]
                h = per_a[a] + per_b[b] + torch.cat([xa * xb, (xa - xb).abs()], dim=-1) @ w_pd.T
                scores[lo:lo + chunk] = rest(h)[:, 0]
            sums[s0:s0 + step] = fa.new_zeros(len(shifts[s0:s0 + step])).index_add(0, d, scores)
            counts[s0:s0 + step] = torch.bincount(d, minlength=len(shifts[s0:s0 + step]))
        return sums, counts

    def pair_matrix(self, fa: torch.Tensor, fb: torch.Tensor, valid_a: torch.Tensor, valid_b: torch.Tensor,
                    rows: int | None = None) -> torch.Tensor:
        """Every valid frame pair's score at once: (Ta, Tb), 0 where a frame is not valid.

        The same numbers as ``diagonal_sums`` scores pair by pair (the same operations, each pair's
        row of the products computed alone), without gathering: ``rows`` frames of a against all
        valid frames of b per step. Costs Ta x Tb pairs: for tracks whose search range and chance
        diagonals cover most of the matrix anyway (align's tracks up to about half a minute).
        """
        rest, rows = self.pair[1:], rows or PAIR_ROWS
        ia, ib = valid_a.nonzero()[:, 0], valid_b.nonzero()[:, 0]
        xa_all, xb = fa[ia], fb[ib]
        per_a, per_b, w_pd = self._first_layer_parts(xa_all, xb)
        out = fa.new_zeros(len(fa), len(fb))
        if not len(ia) or not len(ib):
            return out
        block = fa.new_empty(len(ia), len(ib))
        for lo in range(0, len(ia), rows):
            xa = xa_all[lo:lo + rows, None, :]
            prod = torch.cat([xa * xb[None], (xa - xb[None]).abs()], dim=-1).flatten(0, 1)
            h = (per_a[lo:lo + rows, None, :] + per_b[None]).flatten(0, 1) + prod @ w_pd.T
            block[lo:lo + rows] = rest(h)[:, 0].view(-1, len(ib))
        out[ia[:, None], ib[None, :]] = block
        return out


PAIR_ROWS = 8  # frames of a per step of ShiftHead.pair_matrix (8 x Tb pairs: stays in cache)


def matrix_diagonal_sums(matrix: torch.Tensor, shifts: torch.Tensor, valid_a: torch.Tensor, valid_b: torch.Tensor,
                         order_b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ShiftHead.diagonal_sums`` from a ``pair_matrix``: the same pairs summed in the same order.

    order_b: (Tb,) b's frames reordered (frame j of the reordered track is b's frame order_b[j]),
    as for chance (``evidence.null_orders``); valid_b is given in b's own order.
    """
    vb = valid_b if order_b is None else valid_b[order_b]
    ia, jb, d = diagonal_pairs(matrix.shape[0], matrix.shape[1], shifts, valid_a, vb)
    ib = jb if order_b is None else order_b[jb]
    sums = matrix.new_zeros(len(shifts)).index_add(0, d, matrix[ia, ib])
    return sums, torch.bincount(d, minlength=len(shifts))


DIAGONAL_BLOCK = 4_000_000  # frame pairs whose indices ShiftHead.diagonal_sums holds at once


def diagonal_pairs(ta: int, tb: int, shifts: torch.Tensor, valid_a: torch.Tensor, valid_b: torch.Tensor):
    """Frame pairs (i, j = i - s) of every shift s with 0 <= i < ta, 0 <= j < tb, both valid.

    shifts: (D,) integers; valid_a (ta,), valid_b (tb,) bool. Returns (i (P,), j (P,), shift index (P,)).
    """
    i = torch.arange(ta)
    j = i[None, :] - shifts.long()[:, None]  # (D, ta)
    ok = (j >= 0) & (j < tb) & valid_a[None, :]
    ok &= valid_b[j.clamp(0, max(tb - 1, 0))] if tb else torch.zeros_like(ok)
    d_idx, i_idx = ok.nonzero(as_tuple=True)
    return i_idx, j[d_idx, i_idx], d_idx


BATCH_FRAMES = 2048  # frames whose heatmaps track_features renders at once with a context (74 kB each)


def track_features(model: "SynNet", xy: torch.Tensor, conf: torch.Tensor, context: int | None = None,
                   batch: int = 64) -> torch.Tensor:
    """Per-frame features of a whole track, each frame once.

    xy: (T, 18, 2) px (NaN = missing), conf: (T, 18), at the model's frame rate.
    context: None: heatmaps normalized over the whole track and the bi-ConvLSTM run over all T
        frames. An integer W: the track cut into windows of W frames every W // 2 frames, each
        normalized and encoded as a training window is (the ConvLSTM starts afresh in each); every
        frame takes its features from the window whose centre is nearest.
    Returns (T, F) features, the rows that ``FeatureAggregation`` gives clip frames.
    """
    cfg = model.cfg
    T = len(xy)
    if context is None or T <= context:
        heat = render_heatmaps(xy[None].float(), conf[None].float(), cfg.heatmap_size, cfg.sigma)
        return model.features(heat)[0]
    starts = sorted(set(range(0, T - context + 1, max(1, context // 2))) | {T - context})
    starts_t = torch.tensor(starts)
    frames = starts_t[:, None] + torch.arange(context)  # (C, W)
    batch = max(1, min(batch, BATCH_FRAMES // context))  # windows rendered and encoded at once
    feats = torch.cat([model.features(render_heatmaps(xy[frames[i:i + batch]].float(), conf[frames[i:i + batch]].float(),
                                                      cfg.heatmap_size, cfg.sigma))
                       for i in range(0, len(frames), batch)])  # (C, W, F)
    centres = starts_t.float() + (context - 1) / 2
    best = (torch.arange(T).float()[:, None] - centres[None, :]).abs().argmin(1)  # (T,) window per frame
    return feats[best, torch.arange(T) - starts_t[best]]


class ConcatHead(nn.Module):
    """Ablation "w/o matching cost volume": the two clips' features simply concatenated, then
    BatchNorm and three FC layers. (B, T, F) x 2 -> (B, S) logits."""

    def __init__(self, S: int, T: int, F_: int, hidden: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(2 * F_)
        self.fc = nn.Sequential(nn.Linear(2 * T * F_, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, S))

    def forward(self, fa, fb):
        x = self.bn(torch.cat([fa, fb], dim=-1).transpose(1, 2))
        return self.fc(x.flatten(1))


class SynNet(nn.Module):
    """The whole network: two weight-sharing branches, cost volume, head."""

    def __init__(self, cfg: SynNetConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.features = FeatureAggregation(cfg)
        S, T = len(cfg.shifts), cfg.frames
        if not cfg.cost_volume:
            self.head = ConcatHead(S, T, cfg.F, cfg.head_hidden)
        elif cfg.head == "paper":
            self.head = PaperHead(S, T, cfg.F, cfg.head_hidden)
        else:
            self.head = ShiftHead(cfg.F, cfg.head_hidden)
        self.register_buffer("shift_values", cfg.shifts.clone(), persistent=False)

    def heatmaps(self, xy: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        """Keypoint windows -> network input heatmaps.

        xy: (B, window_frames, 18, 2) px, NaN = missing; conf: (B, window_frames, 18).
        Returns (B, frames, 18, H, W): every r-th frame unless full_rate.
        """
        cfg = self.cfg
        if xy.shape[1] != cfg.window_frames:
            raise ValueError(f"expected windows of {cfg.window_frames} frames, got {xy.shape[1]}")
        # Normalize over the whole window, then subsample.
        heat = render_heatmaps(xy.float(), conf.float(), cfg.heatmap_size, cfg.sigma)
        return heat if cfg.full_rate else heat[:, :: cfg.r]

    def forward(self, heat_a: torch.Tensor, heat_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score all candidate shifts of clip b relative to clip a.

        heat_a, heat_b: (B, T, 18, H, W) heatmaps, T = cfg.frames.
        Returns dict:
          frame_logits: (B, S) logits over cfg.shifts (frame units at full rate, else = classes);
          class_logits: (B, 2M) logits over classes m in [-M, M-1] (pooled by logsumexp at full rate).
        """
        cfg = self.cfg
        b = heat_a.shape[0]
        feats = self.features(torch.cat([heat_a, heat_b], dim=0))  # (2B, T, F)
        fa, fb = feats[:b], feats[b:]
        if cfg.cost_volume:
            volume, mask = matching_cost_volume(fa, fb, self.shift_values.tolist())
            logits = self.head(volume, mask)
        else:
            logits = self.head(fa, fb)
        return {"frame_logits": logits, "class_logits": pool_to_classes(logits, cfg)}

    def forward_keypoints(self, a_xy, a_conf, b_xy, b_conf) -> dict[str, torch.Tensor]:
        """forward() from keypoint windows: (B, window_frames, 18, 2) px and (B, window_frames, 18)."""
        return self(self.heatmaps(a_xy, a_conf), self.heatmaps(b_xy, b_conf))


def pool_to_classes(frame_logits: torch.Tensor, cfg: SynNetConfig) -> torch.Tensor:
    """(B, S) shift logits -> (B, 2M) class logits. At full rate, class m pools (logsumexp) the r
    frame shifts in [m*r - r//2, m*r - r//2 + r - 1]; otherwise shifts already are the classes."""
    if not cfg.full_rate:
        return frame_logits
    return frame_logits.unflatten(-1, (2 * cfg.M, cfg.r)).logsumexp(-1)


def shift_targets(offset_frames: torch.Tensor, cfg: SynNetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """True offsets of b relative to a (input frames at cfg.fps, integers) -> (shift index (B,),
    class index (B,)). Class m = round(offset / r) with ties to the lower class is consistent with
    the frame-shift partition of ``pool_to_classes``."""
    d = offset_frames.long()
    cls = torch.div(d + cfg.r // 2, cfg.r, rounding_mode="floor") + cfg.M
    if cfg.full_rate:
        idx = d - int(cfg.shifts[0])
    else:
        idx = cls
    return idx, cls


def synnet_loss(frame_logits: torch.Tensor, offset_frames: torch.Tensor, cfg: SynNetConfig):
    """alpha * cross-entropy + (1 - alpha) * penalty (paper eq. 1).

    frame_logits: (B, S) logits over cfg.shifts; offset_frames: (B,) true offsets in input frames.
    The paper's penalty |l - argmax| has no gradient; we use its expectation under the softmax,
    sum_s p(s) |s - l|, in class units (divide by r at full rate), which is differentiable and equals
    the paper's term when the prediction is confident.
    Returns (loss scalar, dict of float stats: ce, penalty).
    """
    idx, _ = shift_targets(offset_frames, cfg)
    ce = F.cross_entropy(frame_logits.float(), idx)
    p = frame_logits.float().softmax(-1)
    dist = (cfg.shifts.to(p.device)[None, :] - idx[:, None] - int(cfg.shifts[0])).abs().float()
    penalty = (p * dist).sum(-1).mean() / (cfg.r if cfg.full_rate else 1)
    alpha = cfg.alpha if cfg.penalty else 1.0
    loss = alpha * ce + (1 - alpha) * penalty
    return loss, {"ce": float(ce.detach()), "penalty": float(penalty.detach())}


# ---- weights -----------------------------------------------------------------------------------

DEFAULT_CHECKPOINT = WEIGHTS_DIR / "synnet_default.pt"  # the shipped weights (docs/model_card.md)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint dict {"config", "model" (state dict), "step", "metrics", ...}.

    InputError when the file is missing, unreadable or not a SynNet checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types on corrupt files
        raise InputError(path, f"not a readable SynNet checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise InputError(path, "not a SynNet checkpoint (no config / model inside)")
    return state


def model_from_checkpoint(state: dict, path: str | Path = "checkpoint") -> SynNet:
    """A SynNet in eval mode (float32 weights) from a loaded checkpoint dict; ``path`` names it
    in the InputError raised when the weights do not fit the config."""
    try:
        cfg = SynNetConfig.from_dict(dict(state["config"]))
        model = SynNet(cfg)
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise InputError(path, f"checkpoint does not fit SynNet: {str(exc).splitlines()[0]}") from None
    return model.eval()


def load_synnet(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[SynNet, dict]:
    """The trained SynNet at ``path`` (default: the shipped weights) on ``device``, in eval mode,
    and its checkpoint dict (for "metrics", "step")."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    state = load_checkpoint(path)
    return model_from_checkpoint(state, path).to(device), state
