"""load_motion on real CMU mocap of each format, plus Motion time sampling and bad inputs."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synnet_recon.errors import InputError
from synnet_recon.motion import MOTION_EXTENSIONS, Motion, list_motion_files, load_motion
from synnet_recon.paths import PACKAGE_DATA
from synnet_recon.skeleton import JOINT_INDEX as J

# One clip per format: (path under mocap/, frames expected after dropping the T-pose, is a walk)
CLIPS = {
    "bvh_motionbuilder": ("cmu_bvh_mb/07_01.bvh", 317 - 1),
    "bvh_daz": ("cmu_bvh_daz/10_04.bvh", 550 - 1),
    "bvh_3dsmax": ("cmu_bvh_131/131_01.bvh", 994),  # no added T-pose in the 3dsMax release
    "asf_amc": ("cmu_asfamc/02/02_01.amc", 343),
}
RIGID_BONES = [("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("l_shoulder", "l_elbow"),
               ("l_elbow", "l_wrist"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
               ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "l_hip")]


@pytest.fixture(scope="module", params=sorted(CLIPS))
def clip(request, shared_data):
    rel, frames = CLIPS[request.param]
    return load_motion(shared_data / "mocap" / rel), frames


def bone_lengths(m: Motion, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(m.joints[:, J[a]] - m.joints[:, J[b]], axis=-1)


def test_frames_fps_and_finite(clip):
    m, frames = clip
    assert len(m) == frames
    assert m.fps == 120.0
    assert m.joints.shape == (frames, 18, 3)
    assert np.isfinite(m.joints).all()


def test_rigid_bones_keep_their_length(clip):
    m, _ = clip
    for a, b in RIGID_BONES:
        lengths = bone_lengths(m, a, b)
        assert lengths.std() < 0.01, (a, b)
        assert 0.08 < lengths.mean() < 0.6, (a, b, lengths.mean())


def test_feet_on_the_floor_and_body_upright(clip):
    m, _ = clip
    ankles_y = m.joints[:, [J["r_ankle"], J["l_ankle"]], 1]
    assert -0.02 < ankles_y.min() < 0.12  # ankles sit a few cm above the floor at their lowest
    y = m.joints[0, :, 1]
    for upper, lower in [("nose", "neck"), ("neck", "r_hip"), ("neck", "l_hip"), ("r_hip", "r_knee"),
                         ("l_hip", "l_knee"), ("r_knee", "r_ankle"), ("l_knee", "l_ankle")]:
        assert y[J[upper]] > y[J[lower]], (upper, lower)
    assert 1.2 < y[J["nose"]] < 1.9  # units detected: an adult, not a giant or a doll
    assert 0.2 < bone_lengths(m, "r_shoulder", "l_shoulder")[0] < 0.5  # DAZ rig: 23 cm, CMU rigs: 33-40 cm


def test_face_and_right_side_point_the_right_way(clip):
    """All four clips walk: the face looks along the walking direction, right is on the right."""
    m, _ = clip
    j = m.joints
    walk = j[-1, J["neck"]] - j[0, J["neck"]]
    walk[1] = 0.0
    walk /= np.linalg.norm(walk)
    ears_mid = 0.5 * (j[:, J["r_ear"]] + j[:, J["l_ear"]])
    face = j[:, J["nose"]] - ears_mid
    face[:, 1] = 0.0
    face /= np.linalg.norm(face, axis=1, keepdims=True)
    assert np.median(face @ walk) > 0.8
    # Facing f with Y up, the subject's right is f x up.
    right = np.cross(walk, [0.0, 1.0, 0.0])
    for a, b in [("r_shoulder", "l_shoulder"), ("r_hip", "l_hip"), ("r_eye", "l_eye"), ("r_ear", "l_ear")]:
        assert np.median((j[:, J[a]] - j[:, J[b]]) @ right) > 0.0, (a, b)
    # Face geometry: nose ~10 cm ahead of the ears' midpoint, eyes 7 cm apart.
    assert 0.07 < np.linalg.norm(j[0, J["nose"]] - ears_mid[0]) < 0.13
    assert np.linalg.norm(j[0, J["r_eye"]] - j[0, J["l_eye"]]) == pytest.approx(0.07, abs=1e-6)


def test_resample_with_fractional_start(shared_data):
    m = load_motion(shared_data / "mocap" / CLIPS["bvh_motionbuilder"][0])
    r = m.resample(30.0, start=1.5 / 120.0, duration=1.0)
    assert len(r) == 31 and r.fps == 30.0 and r.start == pytest.approx(0.0125)
    np.testing.assert_allclose(r.joints[0], 0.5 * (m.joints[1] + m.joints[2]), atol=1e-12)
    np.testing.assert_allclose(r.joints[1], m.joints[5] * 0.5 + m.joints[6] * 0.5, atol=1e-12)
    np.testing.assert_allclose(r.times[-1], 1.0125)
    # Clamped outside the clip, full clip by default.
    np.testing.assert_allclose(m.at(np.array([-1.0, 1e3])), m.joints[[0, -1]])
    assert len(m.resample(60.0)) == (len(m) - 1) // 2 + 1


def test_list_motion_files(shared_data):
    files = list_motion_files(shared_data / "mocap")
    assert files == sorted(files)
    assert {f.suffix for f in files} == set(MOTION_EXTENSIONS)
    assert len(files) == 96
    with pytest.raises(InputError):
        list_motion_files(shared_data / "no_such_folder")


GOOD_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  End Site
  {
    OFFSET 0 1 0
  }
}
MOTION
Frames: 2
Frame Time: 0.0083333
0 0 0 0 0 0
0 0 0 1 2 3
"""


@pytest.mark.parametrize("name, text, problem", [
    ("empty.bvh", "", "HIERARCHY"),
    ("truncated.bvh", GOOD_BVH.split("MOTION")[0], "HIERARCHY ... MOTION"),
    ("count.bvh", GOOD_BVH.replace("Frames: 2", "Frames: 3"), "motion values"),
    ("nonnumeric.bvh", GOOD_BVH.replace("1 2 3", "1 x 3"), "non-numeric"),
    ("channel.bvh", GOOD_BVH.replace("Xrotation\n", "Wrotation\n"), "CHANNELS"),
    ("braces.bvh", GOOD_BVH.replace("  }\n}", "  }\n"), "not closed"),
    ("skeleton.bvh", GOOD_BVH, "unrecognised skeleton"),
])
def test_malformed_bvh(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as e:
        load_motion(path)
    assert e.value.path == str(path)


def test_bad_paths(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_motion(tmp_path / "missing.bvh")
    (tmp_path / "clip.c3d").write_text("x")
    with pytest.raises(InputError, match="unknown motion file type"):
        load_motion(tmp_path / "clip.c3d")
    (tmp_path / "07_01.amc").write_text("1\nroot 0 0 0 0 0 0\n")
    with pytest.raises(InputError, match="07.asf") as e:
        load_motion(tmp_path / "07_01.amc")
    assert e.value.path.endswith("07_01.amc")


def test_malformed_asf_and_amc(tmp_path, shared_data):
    src = shared_data / "mocap" / "cmu_asfamc" / "02"
    asf = src.joinpath("02.asf").read_text()
    amc_lines = src.joinpath("02_01.amc").read_text().splitlines()[:3 + 2 * 30]  # header + 2 frames
    amc = "\n".join(amc_lines) + "\n"

    good = tmp_path / "good"
    good.mkdir()
    (good / "02.asf").write_text(asf)
    (good / "02_01.amc").write_text(amc)
    assert len(load_motion(good / "02_01.amc")) == 2

    cases = {
        "no_hierarchy": (asf.split(":hierarchy")[0], amc, "02.asf", ":hierarchy"),
        "bad_bone": (asf.replace("length 7.59371", "length seven"), amc, "02.asf", "bone without valid"),
        "missing_bone": (asf, amc.replace("lfemur", "lfemurX"), "02_01.amc", "lfemur"),
        "ragged": (asf, amc.replace("rtibia 11.5302", "rtibia 11.5302 4"), "02_01.amc", "rtibia"),
        "no_frames": (asf, "\n".join(amc_lines[:3]) + "\n", "02_01.amc", "no frames"),
    }
    for case, (asf_text, amc_text, bad_file, problem) in cases.items():
        d = tmp_path / case
        d.mkdir()
        (d / "02.asf").write_text(asf_text)
        (d / "02_01.amc").write_text(amc_text)
        with pytest.raises(InputError, match=problem) as e:
            load_motion(d / "02_01.amc")
        assert Path(e.value.path).name == bad_file, case


@pytest.mark.slow
def test_every_file_in_the_mocap_folder_loads(shared_data):
    for path in list_motion_files(shared_data / "mocap"):
        m = load_motion(path)
        assert m.fps == 120.0 and len(m) > 100, path
        assert np.isfinite(m.joints).all(), path
        for a, b in RIGID_BONES:
            assert bone_lengths(m, a, b).std() < 0.01, (path, a, b)
        # Floor at the feet's low percentile: the ankles sit near it most of the time.
        ankles_y = m.joints[:, [J["r_ankle"], J["l_ankle"]], 1].min(axis=1)
        assert -0.05 < np.percentile(ankles_y, 5) < 0.2, path
        assert 1.0 < np.percentile(m.joints[:, J["nose"], 1], 90) < 2.6, path


def test_face_model_matches_daz_eye_joints(shared_data):
    """DAZ rigs carry real eye joints: the head-orientation face model lands within a few cm of
    them, on the correct sides."""
    from synnet_recon.motion import _load_bvh

    path = shared_data / "mocap" / "cmu_bvh_daz" / "10_04.bvh"
    rig, _ = _load_bvh(path)
    m = load_motion(path)
    shift = m.joints[:, J["r_hip"]] - rig.positions["rThigh"] * 0.01  # DAZ units are cm; floor shift
    np.testing.assert_allclose(shift, shift[:1].repeat(len(shift), 0), atol=1e-9)
    for ours, theirs, other in [("l_eye", "leftEye", "rightEye"), ("r_eye", "rightEye", "leftEye")]:
        err = np.linalg.norm(m.joints[:, J[ours]] - (rig.positions[theirs] * 0.01 + shift), axis=1)
        wrong_side = np.linalg.norm(m.joints[:, J[ours]] - (rig.positions[other] * 0.01 + shift), axis=1)
        assert err.max() < 0.04 and np.all(err < wrong_side), ours


def test_z_up_rig_is_refused(tmp_path, shared_data):
    import re

    text = (shared_data / "mocap" / "cmu_bvh_mb" / "09_01.bvh").read_text()
    z_up = re.sub(r"OFFSET\s+(\S+)\s+(\S+)\s+(\S+)", r"OFFSET \1 \3 \2", text)  # swap the rig's y and z
    (tmp_path / "z_up.bvh").write_text(z_up)
    with pytest.raises(InputError, match="not Y up"):
        load_motion(tmp_path / "z_up.bvh")


# ------------------------------------------------------------------ fuzzing the BVH and ASF/AMC loaders

SMALL_ASF = Path(__file__).parent / "data" / "mocap"  # CMU subject 02 skeleton + 3 frames (README there)


def _small_bvh() -> str:
    """The packaged CMU walk cut to 4 frames: a valid BVH of 6.7 kB."""
    lines = (PACKAGE_DATA / "mocap" / "131_02.bvh").read_text().splitlines()
    i = lines.index("MOTION")
    return "\n".join(lines[:i + 1] + ["Frames: 4", lines[i + 2]] + lines[i + 3:i + 7]) + "\n"


_TOKENS = st.sampled_from(["", "0", "-1", "1e308", "-1e308", "nan", "inf", "-inf", "{", "}", "ROOT", "JOINT",
                           "End", "Site", "OFFSET", "CHANNELS", "3", "6", "99", "MOTION", "Frames:", "begin", "end",
                           ":root", ":bonedata", ":hierarchy", "root", "axis", "XYZ", "QQ", "dof", "rx", "length",
                           "lfemur", "1"]) | st.text(max_size=6)


@st.composite
def _mutated_text(draw, text: str):
    """``text`` with 1-3 edits: a line deleted, duplicated or inserted, a token replaced, or a cut."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "token", "token", "cut"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, " ".join(draw(st.lists(_TOKENS, max_size=4))))
        elif op == "token":
            tokens = lines[i].split() or [""]
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(_TOKENS)
            lines[i] = " ".join(tokens)
        else:
            lines = lines[:i] + [lines[i][:draw(st.integers(0, len(lines[i])))]]
    return "\n".join(lines) + "\n"


def _check_motion(path: Path, fuzz_check) -> None:
    motion, _ = fuzz_check(load_motion, path)
    if motion is not None:  # what loads is a usable clip
        assert np.isfinite(motion.joints).all() and motion.fps > 0
        motion.resample(30.0)


@pytest.mark.fuzz
@given(data=st.data())
def test_fuzz_bvh(data, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.bvh"
        path.write_text(data.draw(_mutated_text(_small_bvh())))
        _check_motion(path, fuzz_check)


@pytest.mark.fuzz
@given(data=st.data(), which=st.sampled_from(["asf", "amc"]))
def test_fuzz_asf_amc(data, which, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("02.asf", "02_01.amc"):
            text = (SMALL_ASF / name).read_text()
            (folder / name).write_text(data.draw(_mutated_text(text)) if name.endswith(which) else text)
        _check_motion(folder / "02_01.amc", fuzz_check)


@pytest.mark.fuzz
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".bvh", ".amc"]))
def test_fuzz_motion_bytes(raw, suffix, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "02.asf").write_bytes(raw)
        (folder / f"02_01{suffix}").write_bytes(raw)
        _check_motion(folder / f"02_01{suffix}", fuzz_check)


def test_small_files_load():
    assert len(load_motion(SMALL_ASF / "02_01.amc")) == 3
