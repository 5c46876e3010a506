"""align on real video with a bystander who does not move (tests/data/video/bystander_cam0{1,4}.mp4,
made by make_clips.py: cam04's clip starts 6 frames = 0.1 s after cam01's), through the CLI in a
subprocess, as a user runs it: the offset, and a terminal free of MediaPipe's C++ log lines."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIPS = [REPO / "tests" / "data" / "video" / f"bystander_cam0{k}.mp4" for k in (1, 4)]
TRUE_OFFSET = 6 / 60.0
NATIVE_LOG = re.compile(r"absl::InitializeLog|inference_feedback_manager|XNNPACK|TensorFlow Lite|"
                        r"landmark_projection|gl_context|^[IWEF]\d{4} ", re.MULTILINE)


def run_align(tmp_path, *options):
    out = tmp_path / "sync.json"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("SYNRECON_NATIVE_LOGS", None)
    proc = subprocess.run([sys.executable, "-c", "from synnet_recon.cli import main; main()", "align",
                           *map(str, CLIPS), "--out", str(out), *options],
                          capture_output=True, text=True, env=env, timeout=900)
    return proc, (json.loads(out.read_text()) if out.is_file() else None)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return run_align(tmp_path_factory.mktemp("align"))


@pytest.mark.slow
def test_no_native_log_lines_on_stderr(default_run):
    proc, _ = default_run
    assert proc.returncode == 0, proc.stderr
    assert not NATIVE_LOG.search(proc.stderr), proc.stderr


@pytest.mark.slow
def test_the_bystander_is_ignored_and_the_offset_is_right(default_run):
    _, sync = default_run
    late = sync["videos"][1]
    assert late["offset_seconds"] is not None
    assert abs(late["offset_seconds"] - TRUE_OFFSET) < 1.0 / 60


@pytest.mark.slow
def test_the_person_who_moves_most_gives_the_offset(tmp_path):
    """What pose hands to align: the first track of each video is the participant, whose motion
    alone gives the offset (align told to use one person per input)."""
    from synnet_recon.sync.align import AlignConfig, align

    res = align([str(c) for c in CLIPS], AlignConfig(max_people=1, progress=False, synnet="off"))
    late = res.videos[1]
    assert late.offset_seconds is not None
    assert abs(late.offset_seconds - TRUE_OFFSET) < 1.0 / 60  # measured: 0.105 s
