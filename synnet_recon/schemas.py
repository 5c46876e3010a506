"""Names and versions of our versioned JSON (and keypoint) files: the one place they are spelled out.

Every file we write carries ``"schema"`` and ``"version"``; its reader (beside its dataclass, see
docs/formats.md) accepts the versions listed in ``READABLE`` and rejects others in one line.
"""
from __future__ import annotations

SYNC = "synnet-recon/sync"                    # sync.json            synnet_recon.sync.result.SyncResult
SYNC_VERSION = 2                               # 2: videos[].keypoints (1 is still read)
REGISTRATION = "synnet-recon/registration"     # registration.json    synnet_recon.recon.registration.Registration
REGISTRATION_VERSION = 2
KEYPOINTS = "synnet-recon/keypoints"           # <sync>_keypoints/<name>.npz  synnet_recon.keypoints
KEYPOINTS_VERSION = 1
TRUTH = "synnet-recon/truth"                   # truth.json           synnet_recon.synth.scene
TRUTH_VERSION = 1
DEMO_REPORT = "synnet-recon/demo-report"       # demo_report.json     synnet_recon.demo.DemoReport
DEMO_REPORT_VERSION = 1
SKELETON3D = "synnet-recon/skeleton3d"         # skeleton3d.json     synnet_recon.recon.skeleton3d.Skeleton3D
SKELETON3D_VERSION = 1
TIMESTAMPS = "synnet-recon/timestamps"         # timestamps.json      synnet_recon.exporters.timestamps
TIMESTAMPS_VERSION = 1

# versions each reader accepts
READABLE: dict[str, tuple[int, ...]] = {
    SYNC: (1, 2),
    REGISTRATION: (1, 2),
    KEYPOINTS: (1,),
    TRUTH: (1,),
    DEMO_REPORT: (1,),
    TIMESTAMPS: (1,),
    SKELETON3D: (1,),
}
