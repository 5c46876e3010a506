"""examples/*.py run end to end on small data; docs/cli.md matches the click commands."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(args, timeout=240):
    """Run a command line; fail the test with its output when it exits non-zero."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def example(name, *args, timeout=240):
    return run([sys.executable, EXAMPLES / name, *args], timeout=timeout)


def test_cli_docs_are_up_to_date():
    proc = subprocess.run([sys.executable, ROOT / "docs" / "gen_cli_docs.py", "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cli_docs_cover_every_command(tmp_path):
    from synnet_recon.cli import COMMANDS

    out = tmp_path / "cli.md"
    run([sys.executable, ROOT / "docs" / "gen_cli_docs.py", "--out", out])
    text = out.read_text()
    for name in COMMANDS:
        assert f"## synrecon {name}\n" in text
        assert f"Usage: synrecon {name} [OPTIONS]" in text, f"no --help text for {name}"


def test_every_example_is_documented():
    readme = (EXAMPLES / "README.md").read_text()
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert len(scripts) >= 4
    for name in scripts:
        assert name in readme


@pytest.mark.slow
def test_01_simulate_and_align(tmp_path):
    out = example("01_simulate_and_align.py", "--cameras", 3, "--seconds", 4, "--seed", 1, "--out", tmp_path)
    truth = json.loads((tmp_path / "scene" / "truth.json").read_text())
    sync = json.loads((tmp_path / "sync.json").read_text())
    assert sync["schema"] == "synnet-recon/sync"
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith("cam") and not line.startswith("camera")}
    assert sorted(rows) == ["cam0", "cam1", "cam2"]
    # the printed truth is truth.json's, and the printed estimate is sync.json's
    for cam, video in zip(truth["cameras"], sync["videos"]):
        assert float(rows[cam["name"]][1]) == pytest.approx(cam["offset_seconds"], abs=6e-4)
        if video["offset_seconds"] is not None:
            assert float(rows[cam["name"]][2]) == pytest.approx(video["offset_seconds"], abs=6e-4)


@pytest.fixture(scope="module")
def rendered_scene(tmp_path_factory):
    """2 cameras x 1.5 s at 320x240 placed like the demo's, rendered (videos + depth): the input
    of examples 02-04. Seed 1 is a scene whose views fuse (fuse's quality is tested elsewhere)."""
    from synnet_recon.demo import DemoConfig, demo_camera_path
    from synnet_recon.synth.scene import PACKAGED_MOTION, SceneConfig, simulate_scene, write_scene

    quick = DemoConfig.quick()
    scene = simulate_scene(SceneConfig(cameras=2, seconds=1.5, max_offset=0.2, motion=str(PACKAGED_MOTION), seed=1,
                                       width=quick.width, height=quick.height, camera_path=demo_camera_path(quick)))
    return write_scene(scene, tmp_path_factory.mktemp("examples") / "scene", render=True)


@pytest.mark.slow
def test_02_align_videos(rendered_scene, tmp_path):
    videos = sorted((rendered_scene / "videos").glob("*.mp4"))
    out = example("02_align_videos.py", *videos, "--out", tmp_path / "sync.json")
    sync = json.loads((tmp_path / "sync.json").read_text())
    assert [v["name"] for v in sync["videos"]] == ["cam0", "cam1"]
    assert sync["videos"][0]["offset_seconds"] == 0.0
    assert out.splitlines()[0].startswith("cam0: +0.0000 s")
    assert any(line.startswith("cam1: ") for line in out.splitlines())


@pytest.fixture(scope="module")
def wide_scene(tmp_path_factory):
    """3 instants of 2 cameras 60 degrees apart around the dancer (synth.wide), rendered with depth and
    keypoints in the simulate layout: the input of examples 03-04 (fuse needs the person in both views)."""
    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    root = tmp_path_factory.mktemp("examples") / "wide"
    render_wide_scene(WideSceneConfig(layout="room", separation_deg=60.0, instants=3, step=15), root)
    return root


@pytest.mark.slow
def test_03_fuse_and_view_then_04_export(wide_scene, tmp_path):
    recon = tmp_path / "recon"
    out = example("03_fuse_and_view.py", wide_scene, "--true-offsets", "--every", 1, "--out", recon)
    assert (recon / "fused.ply").stat().st_size > 0
    assert (recon / "fused.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reg = json.loads((recon / "registration.json").read_text())
    assert reg["schema"] == "synnet-recon/registration" and len(reg["frames"]) >= 2
    assert "fused" in out and "wrote" in out

    exports = tmp_path / "exports"
    out = example("04_export_nerfstudio_colmap.py", tmp_path / "recon_sync.json", recon, "--out", exports)
    transforms = json.loads((exports / "nerfstudio" / "transforms.json").read_text())
    assert len(transforms["frames"]) >= 2
    assert (exports / "colmap" / "sparse" / "0" / "images.txt").is_file()
    assert "nerfstudio:" in out and "colmap:" in out


def test_docs_index_links_every_doc_and_links_resolve():
    import re

    docs = ROOT / "docs"
    index = (docs / "index.md").read_text()
    for doc in sorted(docs.glob("*.md")):
        if doc.name != "index.md":
            assert f"]({doc.name})" in index, f"docs/index.md does not link {doc.name}"
    for page in ("index.md", "getting_started.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (docs / page).read_text()):
            if "://" not in target:
                assert (docs / target).exists(), f"docs/{page} links a missing {target}"
