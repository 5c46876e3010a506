"""Reading and writing keypoints and other stage inputs/outputs (light imports only)."""
from .formats import (
                      COCO18_FROM_BODY25,
                      COCO18_FROM_BODY25B,
                      COCO18_FROM_COCO17,
                      COCO18_FROM_MEDIAPIPE33,
                      FORMATS,
                      guess_openpose_25,
                      to_coco18,
)
from .openpose import list_keypoint_files, read_openpose_folder, read_openpose_tracks, write_openpose_folder
from .tracks import load_tracks

__all__ = [
    "COCO18_FROM_BODY25", "COCO18_FROM_BODY25B", "COCO18_FROM_COCO17", "COCO18_FROM_MEDIAPIPE33", "FORMATS",
    "guess_openpose_25", "to_coco18",
    "list_keypoint_files", "read_openpose_folder", "read_openpose_tracks", "write_openpose_folder",
    "load_tracks",
]
