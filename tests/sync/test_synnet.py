"""SynNet: block shapes, cost-volume semantics, loss, training, shipped weights, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synnet_recon.errors import InputError
from synnet_recon.motion import Motion
from synnet_recon.sync import model as sm
from synnet_recon.sync.heatmaps import person_normalize, prepare_heatmaps, render_heatmaps
from synnet_recon.sync.model import SynNet, SynNetConfig, matching_cost_volume, synnet_loss


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the dev machine is shared; oversubscribed threads are much slower
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)


def synthetic_motion(seconds: float = 6.0, fps: float = 30.0, seed: int = 0) -> Motion:
    """A standing body whose limbs swing with random, non-periodic phases (no shared data needed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    base = np.array([[0, 1.7, 0], [0, 1.5, 0], [-.2, 1.5, 0], [-.25, 1.2, 0], [-.3, .95, 0], [.2, 1.5, 0],
                     [.25, 1.2, 0], [.3, .95, 0], [-.1, 1.0, 0], [-.1, .55, 0], [-.1, .1, 0], [.1, 1.0, 0],
                     [.1, .55, 0], [.1, .1, 0], [-.03, 1.73, .05], [.03, 1.73, .05], [-.07, 1.7, 0], [.07, 1.7, 0]])
    joints = np.repeat(base[None], len(t), axis=0)
    for j in (3, 4, 6, 7, 9, 10, 12, 13):
        freqs = rng.uniform(0.3, 1.5, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        wave = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phase)) / 3
        joints[:, j, 2] += 0.35 * wave
        joints[:, j, 1] += 0.1 * np.cos(2 * np.pi * freqs[0] * t + phase[1])
    joints[:, :, 0] += 0.3 * np.sin(0.5 * t)[:, None]
    return Motion(joints, fps, "synthetic")


# ---- heatmaps ------------------------------------------------------------------------------

def test_heatmaps_shape_peak_and_missing():
    xy = torch.full((1, 2, 18, 2), 5.0)
    xy[0, 0, 3] = torch.tensor([2.0, 7.0])  # x=2, y=7
    xy[0, 1, 4] = float("nan")
    conf = torch.ones(1, 2, 18)
    conf[0, 0, 5] = 0.0
    h = render_heatmaps(xy, conf, size=12, sigma=1.0, normalize=False)
    assert h.shape == (1, 2, 18, 12, 12)
    assert tuple(np.unravel_index(int(h[0, 0, 3].argmax()), (12, 12))) == (7, 2)  # (row=y, col=x)
    assert float(h[0, 1, 4].abs().sum()) == 0.0 and float(h[0, 0, 5].abs().sum()) == 0.0
    assert float(h.max()) <= 1.0 + 1e-6


def test_person_normalization_ignores_camera_translation_and_zoom():
    rng = np.random.default_rng(1)
    xy = torch.tensor(rng.uniform(100, 300, (2, 8, 18, 2)), dtype=torch.float32)
    conf = torch.ones(2, 8, 18)
    moved = xy * 1.7 + torch.tensor(rng.uniform(-200, 200, (1, 8, 1, 2)), dtype=torch.float32)  # per-frame pan
    h1 = render_heatmaps(xy, conf, size=16)
    h2 = render_heatmaps(moved, conf, size=16)
    assert torch.allclose(h1, h2, atol=1e-4)
    uv, w = person_normalize(xy, conf)
    assert float(uv.abs().max()) < 1.0 and torch.equal(w, conf)


def test_prepare_real_heatmaps():
    h = prepare_heatmaps(torch.rand(2, 3, 18, 46, 46) * 5, size=24)
    assert h.shape == (2, 3, 18, 24, 24) and float(h.max()) <= 1.0 + 1e-6
    with pytest.raises(ValueError):
        prepare_heatmaps(torch.rand(3, 18, 46, 46))


# ---- model blocks ----------------------------------------------------------------------------

def test_paper_config_block_shapes():
    cfg = SynNetConfig.paper(heatmap_size=32)  # ResNet-50, n=8, M=4, r=4, F=256; small maps for speed
    assert (cfg.n, cfg.M, cfg.r, cfg.F, cfg.backbone, cfg.head) == (8, 4, 4, 256, "resnet50", "paper")
    net = SynNet(cfg).eval()
    B, T = 1, cfg.n
    heat = torch.rand(B, T, 18, 32, 32)
    with torch.no_grad():
        maps = net.features.backbone(heat.flatten(0, 1))
        assert maps.shape == (B * T, 2048, 1, 1)
        assert net.features.global_enc(maps).shape == (B * T, 256)
        assert net.features.temporal(maps.unflatten(0, (B, T))).shape == (B, T, 256)
        feats = net.features(heat)
        assert feats.shape == (B, T, 256)
        vol, mask = matching_cost_volume(feats, feats, cfg.shifts.tolist())
        assert vol.shape == (B, 2 * cfg.M, T, 2 * 256) and mask.shape == (2 * cfg.M, T)
        assert net.head(vol, mask).shape == (B, 2 * cfg.M)
        xy = torch.rand(B, cfg.window_frames, 18, 2) * 200
        out = net.forward_keypoints(xy, torch.ones(B, cfg.window_frames, 18), xy, torch.ones(B, cfg.window_frames, 18))
    assert out["class_logits"].shape == (B, 8) and out["frame_logits"].shape == (B, 8)


def test_default_config_shapes_and_class_pooling():
    cfg = SynNetConfig.default()
    assert cfg.full_rate and cfg.head == "shift" and cfg.window_frames == 32 and cfg.frames == 32
    assert cfg.shifts.tolist() == list(range(-18, 14))  # class m pools m*4-2 .. m*4+1
    net = SynNet(SynNetConfig.tiny()).eval()
    xy = torch.rand(2, 32, 18, 2) * 200
    conf = torch.ones(2, 32, 18)
    with torch.no_grad():
        out = net.forward_keypoints(xy, conf, xy, conf)
    assert out["frame_logits"].shape == (2, 32) and out["class_logits"].shape == (2, 8)
    expect = out["frame_logits"].unflatten(-1, (8, 4)).logsumexp(-1)
    assert torch.allclose(out["class_logits"], expect)
    idx, cls = sm.shift_targets(torch.tensor([-18, -15, -14, 0, 1, 2, 13]), net.cfg)
    assert cls.tolist() == [0, 0, 1, 4, 4, 5, 7] and idx.tolist() == [0, 3, 4, 18, 19, 20, 31]


@pytest.mark.parametrize("switch", [{"bidirectional": False}, {"cost_volume": False}, {"temporal": False},
                                    {"global_enc": False}, {"penalty": False},
                                    {"head": "paper", "full_rate": False}])
def test_ablation_switches_run(switch):
    cfg = SynNetConfig.tiny(n=4, r=2, M=2, heatmap_size=16, **switch)
    net = SynNet(cfg)
    xy = torch.rand(2, cfg.window_frames, 18, 2) * 100
    conf = torch.ones(2, cfg.window_frames, 18)
    out = net.forward_keypoints(xy, conf, xy, conf)
    loss, _ = synnet_loss(out["frame_logits"], torch.tensor([0, 2]), cfg)
    loss.backward()
    assert out["class_logits"].shape == (2, 4) and torch.isfinite(loss)


def test_cost_volume_shift_semantics():
    T, F, s0 = 8, 5, 3
    fa = torch.randn(1, T, F)
    # b starts s0 frames later: b's frame j shows a's frame j + s0
    fb = torch.zeros(1, T, F)
    fb[:, : T - s0] = fa[:, s0:]
    shifts = list(range(-4, 4))
    vol, mask = matching_cost_volume(fa, fb, shifts)
    i = shifts.index(s0)
    a_half, b_half = vol[0, i, :, :F], vol[0, i, :, F:]
    assert mask[i].tolist() == [k >= s0 for k in range(T)]
    # Where b exists, the aligned slice pairs identical features up to where b ran out.
    for k in range(s0, T):
        assert torch.equal(b_half[k], fb[0, k - s0])
    assert torch.equal(b_half[s0:], a_half[s0:])  # the aligned slice pairs identical features
    other = vol[0, shifts.index(s0 - 1), s0:, F:]
    assert not torch.equal(other, a_half[s0:])
    assert float(b_half[:s0].abs().sum()) == 0.0  # zero-filled blank columns
    assert torch.equal(a_half, fa[0])
    # Negative shift: b's frame k - s for k < T + s.
    j = shifts.index(-2)
    assert mask[j].tolist() == [k < T - 2 for k in range(T)]
    assert torch.equal(vol[0, j, : T - 2, F:], fb[0, 2:]) and float(vol[0, j, T - 2:, F:].abs().sum()) == 0


def test_penalty_direction():
    cfg = SynNetConfig.tiny(full_rate=False, head="paper")
    label = torch.tensor([0])  # class m=0 -> index M
    near = torch.full((1, 8), -5.0)
    far = near.clone()
    near[0, cfg.M + 1] = 5.0  # one class off
    far[0, cfg.M + 3] = 5.0   # three classes off
    ln, sn = synnet_loss(near, label, cfg)
    lf, sf = synnet_loss(far, label, cfg)
    assert abs(sn["ce"] - sf["ce"]) < 1e-5 and sf["penalty"] > sn["penalty"] and float(lf) > float(ln)
    # Gradient exists through the penalty alone.
    x = far.clone().requires_grad_(True)
    cfg_pen = SynNetConfig.tiny(full_rate=False, head="paper", alpha=1e-6)
    synnet_loss(x, label, cfg_pen)[0].backward()
    assert float(x.grad.abs().sum()) > 0


# ---- training -------------------------------------------------------------------------------

def _fixed_pairs(cfg: SynNetConfig, n: int, seed: int = 0) -> dict:
    from synnet_recon.sync.data import DataConfig, PairStream
    stream = PairStream(cfg, DataConfig(augment=False, eval_noise=0.3), seed=seed, motions=[synthetic_motion()])
    items = []
    for it in stream:
        items.append(it)
        if len(items) == n:
            break
    return {k: torch.stack([i[k] for i in items]) for k in items[0]}


def test_tiny_training_overfits_fixed_pairs():
    cfg = SynNetConfig.tiny(n=4, r=2, M=2, heatmap_size=16, F=32, width=8, lstm_hidden=16, head_hidden=32)
    batch = _fixed_pairs(cfg, 8)
    net = SynNet(cfg)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    heat_a = net.heatmaps(batch["a_xy"], batch["a_conf"])
    heat_b = net.heatmaps(batch["b_xy"], batch["b_conf"])
    losses = []
    for _ in range(25):
        out = net(heat_a, heat_b)
        loss, _ = synnet_loss(out["frame_logits"], batch["offset"], cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])


def test_pair_stream_offsets_split_and_seeding():
    from synnet_recon.sync.data import is_heldout, sample_offset, split_files
    cfg = SynNetConfig.default()
    rng = np.random.default_rng(0)
    offs = np.array([sample_offset(cfg, rng, True) for _ in range(4000)])
    assert offs.min() == -18 and offs.max() == 13 and len(np.unique(offs)) == 32
    paper = np.array([sample_offset(SynNetConfig.paper(), rng, True) for _ in range(200)])
    assert set(np.unique(paper)) <= set(range(-16, 13, 4))
    names = [f"{i:02d}_{j:02d}.bvh" for i in range(1, 30) for j in range(1, 6)]
    train, held = split_files(names, "train"), split_files(names, "heldout")
    assert not set(train) & set(held) and len(train) + len(held) == len(names) and 10 < len(held) < 60
    assert [is_heldout(n) for n in names] == [is_heldout(n) for n in names]
    a = _fixed_pairs(SynNetConfig.tiny(), 3, seed=1)
    b = _fixed_pairs(SynNetConfig.tiny(), 3, seed=2)
    assert not torch.equal(torch.nan_to_num(a["a_xy"]), torch.nan_to_num(b["a_xy"]))


def _write_cache(path, motions):
    np.savez_compressed(path, names=np.array([m.name for m in motions]), lengths=np.array([len(m) for m in motions]),
                        fps=np.array(30.0), joints=np.concatenate([m.joints for m in motions]).astype(np.float32))


def test_train_cli_checkpoints_and_resume(tmp_path, capsys):
    from synnet_recon.cli import main
    from synnet_recon.sync.data import is_heldout
    # Names chosen so both splits have a motion.
    names = [f"m{i}" for i in range(40)]
    train_name = next(n for n in names if not is_heldout(n))
    held_name = next(n for n in names if is_heldout(n))
    ms = [synthetic_motion(seed=1), synthetic_motion(seed=2)]
    ms[0].name, ms[1].name = train_name, held_name
    cache = tmp_path / "motions.npz"
    _write_cache(cache, ms)
    cfg = json.dumps({"preset": "tiny", "n": 4, "r": 2, "M": 2, "heatmap_size": 16, "F": 16, "width": 8,
                      "lstm_hidden": 8, "head_hidden": 16})
    args = ["train", "--config", cfg, "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "4",
            "--workers", "0", "--device", "cpu", "--motions", str(cache), "--val-pairs", "8", "--ckpt-every", "1"]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0
    run = tmp_path / "run"
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val" in x for x in lines)
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 2 and state["config"]["M"] == 2 and "model" in state
    with pytest.raises(SystemExit) as e:
        main(args[:6] + ["3"] + args[7:] + ["--resume"])
    assert e.value.code == 0
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 3


def test_train_cli_fine_tunes_with_conditions_and_a_frozen_backbone(tmp_path):
    """--init + --freeze features.backbone + --conditions: the ResNet's weights (and BatchNorm
    statistics) stay those of the initial checkpoint, the rest of the network moves."""
    from synnet_recon.cli import main
    from synnet_recon.sync.data import is_heldout
    from synnet_recon.sync.train import save_checkpoint
    names = [f"m{i}" for i in range(40)]
    ms = [synthetic_motion(seed=1), synthetic_motion(seed=2)]
    ms[0].name = next(n for n in names if not is_heldout(n))
    ms[1].name = next(n for n in names if is_heldout(n))
    cache = tmp_path / "motions.npz"
    _write_cache(cache, ms)
    cfg = SynNetConfig.tiny(n=4, r=2, M=2, heatmap_size=16, F=16, width=8, lstm_hidden=8, head_hidden=16)
    init = SynNet(cfg)
    save_checkpoint(tmp_path / "init.pt", init, cfg, 0, {})
    args = ["train", "--init", str(tmp_path / "init.pt"), "--out", str(tmp_path / "run"), "--steps", "3",
            "--batch-size", "4", "--workers", "0", "--device", "cpu", "--motions", str(cache), "--val-pairs", "4",
            "--ckpt-every", "3", "--lr", "1e-2", "--warmup", "1", "--freeze", "features.backbone",
            "--conditions", '{"upper_body": 0.5, "frame_rate": 0.5, "dropped_frames": 0.5}', "--chunk", "4"]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0
    after = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    before = init.state_dict()
    for k, v in before.items():
        same = torch.equal(v, after[k])
        assert same if k.startswith("features.backbone") else True, k
    moved = [k for k in before if not k.startswith("features.backbone") and not torch.equal(before[k], after[k])]
    assert any(k.startswith("head") for k in moved) and any(k.startswith("features.temporal") for k in moved)


def test_freeze_prefix_must_name_parameters():
    from synnet_recon.errors import InputError
    from synnet_recon.sync.train import freeze_parameters
    with pytest.raises(InputError, match="names no parameters"):
        freeze_parameters(SynNet(SynNetConfig.tiny()), ("features.backbon3",))


# ---- shipped weights and the matcher ----------------------------------------------------------

def test_shipped_checkpoint_beats_chance_on_heldout_motion():
    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    from synnet_recon.sync.data import DataConfig, PairStream, is_heldout
    from synnet_recon.sync.matcher import SynNetMatcher
    path = PACKAGE_DATA / "mocap" / "131_02.bvh"  # a CMU walk in the held-out split, shipped in the package
    assert is_heldout(path)
    matcher = SynNetMatcher()
    cfg = matcher.config
    assert (cfg.M, cfg.r, cfg.window_frames, cfg.fps) == (4, 4, 32, 30.0)
    motion = load_motion(path).resample(cfg.fps)
    stream = PairStream(SynNetConfig(full_rate=False), DataConfig(augment=False), seed=7, motions=[motion])
    items = [it for _, it in zip(range(48), stream)]
    stack = {k: torch.stack([i[k] for i in items]).numpy() for k in items[0]}
    logp = matcher.score_windows(stack["a_xy"], stack["a_conf"], stack["b_xy"], stack["b_conf"], (640, 480), (640, 480))
    assert logp.shape == (48, 8) and np.allclose(np.exp(logp).sum(-1), 1, atol=1e-4)
    acc = float(np.mean(logp.argmax(-1) - cfg.M == stack["offset"] // cfg.r))
    assert acc > 2 * (1 / 8), acc
    frames = matcher.score_windows_frames(stack["a_xy"][:2], stack["a_conf"][:2], stack["b_xy"][:2], stack["b_conf"][:2])
    assert frames.shape == (2, len(matcher.frame_shifts))


# ---- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{"M": 0}, {"n": 1}, {"r": 0}, {"backbone": "vgg"}, {"head": "mlp"},
                                 {"alpha": 0.0}, {"full_rate": True, "head": "paper"}])
def test_bad_configs_raise_value_error(bad):
    with pytest.raises(ValueError):
        SynNetConfig(**bad)


def test_config_parse():
    assert SynNetConfig.parse("paper").backbone == "resnet50"
    assert SynNetConfig.parse('{"preset": "default", "F": 64, "name": "x"}').F == 64
    with pytest.raises(ValueError):
        SynNetConfig.parse("nonsense")
    with pytest.raises(ValueError):
        SynNetConfig.parse('{"preset": "default", "bogus": 1}')


def test_missing_and_corrupt_checkpoint(tmp_path):
    from synnet_recon.sync.matcher import SynNetMatcher
    with pytest.raises(InputError, match="not found"):
        SynNetMatcher(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError) as e:
        SynNetMatcher(bad)
    assert str(bad) in str(e.value)
    wrong = tmp_path / "wrong.pt"
    torch.save({"config": {"M": 4}, "model": {"x": torch.zeros(1)}}, wrong)
    with pytest.raises(InputError, match="does not fit"):
        SynNetMatcher(wrong)


@pytest.mark.parametrize("args", [
    ["train", "--config", '{"preset": "default", "M": 0}', "--out", "OUT"],
    ["train", "--config", "resnet9000", "--out", "OUT"],
    ["train", "--conditions", '{"upper_bdy": 0.5}', "--out", "OUT"],
    ["train", "--conditions", '{"upper_body": 2}', "--out", "OUT"],
    ["train", "--conditions", "everything", "--out", "OUT"],
    ["eval", "--checkpoint", "BAD"],
    ["eval", "--ablation", "oops"],
])
def test_cli_errors_are_one_line_exit_2(args, tmp_path, capsys):
    from synnet_recon.cli import main
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    args = [str(tmp_path / "out") if a == "OUT" else str(bad) if a == "BAD" else a for a in args]
    if args[0] == "eval" and args[1] == "--checkpoint":
        args += ["--pairs", "1", "--no-baselines"]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.startswith("synrecon: error:") and "\n" not in err, err


def test_mirror_tta_is_a_normalized_average():
    from synnet_recon.sync.matcher import SynNetMatcher, mirror_windows
    xy = torch.rand(2, 32, 18, 2) * 100
    conf = torch.rand(2, 32, 18)
    twice = mirror_windows(*mirror_windows(xy, conf, xy, conf))
    assert torch.equal(twice[0], xy) and torch.equal(twice[1], conf)
    m = SynNetMatcher(mirror_tta=True)
    lp = m.score_windows(xy.numpy(), conf.numpy(), xy.numpy(), conf.numpy())
    assert lp.shape == (2, 8) and np.allclose(np.exp(lp).sum(-1), 1, atol=1e-4)


def test_matcher_accepts_real_heatmaps():
    from synnet_recon.sync.matcher import SynNetMatcher
    m = SynNetMatcher()
    xy = torch.rand(2, 32, 18, 2) * 200 + 50
    conf = torch.ones(2, 32, 18)
    # Heatmaps of another resolution, like a backend's (46x46), built from the same keypoints.
    heat = render_heatmaps(xy, conf, size=46, sigma=2.0)
    lp = m.score_heatmaps(heat.numpy(), heat.numpy())
    assert lp.shape == (2, 8) and np.allclose(np.exp(lp).sum(-1), 1, atol=1e-4)
    with pytest.raises(ValueError):
        m.score_heatmaps(heat[:, :5].numpy(), heat[:, :5].numpy())


def test_matcher_is_uniform_on_windows_without_a_body():
    from synnet_recon.sync.matcher import SynNetMatcher
    m = SynNetMatcher()
    xy = np.random.default_rng(0).uniform(50, 250, (2, 32, 18, 2)).astype(np.float32)
    conf = np.ones((2, 32, 18), np.float32)
    xy_b = xy.copy()
    xy_b[0] = np.nan  # pair 0: b sees nobody
    xy_b[1, :, 4:] = np.nan  # pair 1: b sees 4 joints per frame only
    lp = m.score_windows(xy, conf, xy_b, conf)
    assert np.allclose(lp, -np.log(8))
    assert np.allclose(m.score_windows_frames(xy, conf, xy_b, conf), -np.log(len(m.frame_shifts)))


def test_shift_head_is_the_mean_pair_score_over_each_overlap():
    head = sm.ShiftHead(6, 8)
    fa, fb = torch.randn(2, 7, 6), torch.randn(2, 7, 6)
    shifts = [-3, 0, 2, 6]
    vol, mask = matching_cost_volume(fa, fb, shifts)
    got = head(vol, mask)
    for i, s in enumerate(shifts):
        ks = [k for k in range(7) if 0 <= k - s < 7]
        x = torch.stack([torch.cat([fa[:, k], fb[:, k - s], fa[:, k] * fb[:, k - s], (fa[:, k] - fb[:, k - s]).abs()], -1)
                         for k in ks], 1)
        assert torch.allclose(got[:, i], head.pair(x)[..., 0].mean(1), atol=1e-5)
