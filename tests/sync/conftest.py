import pytest


@pytest.fixture(scope="module")
def motion():
    """The packaged motion-capture clip (a fresh load per test module)."""
    from synnet_recon.motion import load_motion
    from synnet_recon.synth.scene import PACKAGED_MOTION

    return load_motion(PACKAGED_MOTION)
