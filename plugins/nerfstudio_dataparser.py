"""nerfstudio dataparser for `synrecon export nerfstudio` folders, with per-frame ``times``.

Registered under the ``nerfstudio.dataparser_configs`` entry point as ``synnet-recon``::

    ns-train <method> synnet-recon --data ns_data/

nerfstudio is imported only when nerfstudio asks for ``synnet_dataparser`` (or the classes):
importing this module never needs it. All parsing is :func:`plugins.nerfstudio_export.parse_transforms`.
"""
# No `from __future__ import annotations`: nerfstudio's config system (tyro) reads the config
# dataclass's annotations, which must be real types, not strings to resolve in this module.
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Type

_LAZY = ("synnet_dataparser", "SynnetDataParserConfig", "SynnetDataParser")


@lru_cache(maxsize=1)
def _build() -> dict:
    """Define the nerfstudio classes (imports nerfstudio and torch)."""
    try:
        from nerfstudio.cameras.cameras import Cameras, CameraType
        from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
        from nerfstudio.data.scene_box import SceneBox
        from nerfstudio.plugins.registry_dataparser import DataParserSpecification
    except ImportError as exc:
        raise ImportError(f"the synnet-recon dataparser needs nerfstudio ({exc})") from exc
    import torch

    from synnet_recon.io.depth_png import DEPTH_PNG_SCALE

    from .nerfstudio_export import parse_transforms

    @dataclass
    class SynnetDataParserConfig(DataParserConfig):
        """Folders written by `synrecon export nerfstudio`: synchronized moving cameras with times."""

        _target: Type = field(default_factory=lambda: SynnetDataParser)
        data: Path = Path()
        eval_interval: int = 8  # every n-th frame held out for eval; 0 = train and eval on all
        auto_scale_poses: bool = True  # scale camera centres into [-1, 1]
        scale_factor: float = 1.0
        scene_scale: float = 1.0  # half side of the scene box
        depth_unit_scale_factor: float = 1.0 / DEPTH_PNG_SCALE  # our depth PNGs are millimetres

    class SynnetDataParser(DataParser):
        config: SynnetDataParserConfig
        includes_time: bool = True

        def __init__(self, config: SynnetDataParserConfig):
            super().__init__(config=config)
            self.includes_time = True

        def _generate_dataparser_outputs(self, split: str = "train", **kwargs):
            c = self.config
            d = parse_transforms(c.data, split, c.eval_interval, c.auto_scale_poses, c.scale_factor)
            col = lambda a, dtype=torch.float32: torch.as_tensor(a, dtype=dtype)[:, None]
            cameras = Cameras(
                camera_to_worlds=torch.from_numpy(d.camera_to_world),
                fx=col(d.fx), fy=col(d.fy), cx=col(d.cx), cy=col(d.cy),
                width=col(d.width, torch.int32), height=col(d.height, torch.int32),
                distortion_params=torch.as_tensor(d.distortion, dtype=torch.float32),
                camera_type=CameraType.PERSPECTIVE,
                times=col(d.times),
            )
            s = c.scene_scale
            metadata = {"depth_filenames": d.depth_filenames, "depth_unit_scale_factor": c.depth_unit_scale_factor}
            if d.points_xyz is not None:
                metadata["points3D_xyz"] = torch.from_numpy(d.points_xyz)
                metadata["points3D_rgb"] = torch.from_numpy(d.points_rgb)
            return DataparserOutputs(
                image_filenames=d.image_filenames,
                cameras=cameras,
                scene_box=SceneBox(aabb=torch.tensor([[-s, -s, -s], [s, s, s]], dtype=torch.float32)),
                dataparser_scale=d.scale,
                dataparser_transform=torch.as_tensor(d.transform, dtype=torch.float32),
                metadata=metadata,
            )

    spec = DataParserSpecification(config=SynnetDataParserConfig(),
                                   description="synnet-recon: synchronized moving cameras with per-frame times")
    return {"synnet_dataparser": spec, "SynnetDataParserConfig": SynnetDataParserConfig,
            "SynnetDataParser": SynnetDataParser}


def __getattr__(name: str):
    if name in _LAZY:
        return _build()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
