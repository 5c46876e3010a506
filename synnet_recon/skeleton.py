"""The 18-joint OpenPose COCO skeleton every stage of synnet-recon speaks."""
from __future__ import annotations

import numpy as np

COCO18_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_JOINTS = len(COCO18_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(COCO18_NAMES)}

# Bones as (parent, child) index pairs, OpenPose's drawing order.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)

# Permutation that swaps left and right joints (for mirroring and detector swaps).
LEFT_RIGHT_SWAP = np.array(
    [JOINT_INDEX[n.replace("r_", "@").replace("l_", "r_").replace("@", "l_")] for n in COCO18_NAMES]
)
