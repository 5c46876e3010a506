from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="synnet-recon",
    version="0.1.0",
    description="Synchronize videos from moving cameras by pose (SynNet) and fuse them into 3D point clouds.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["synnet_recon", "synnet_recon.*", "plugins", "plugins.*"]),
    include_package_data=True,
    package_data={"synnet_recon": ["weights/*.pt", "weights/*.json", "data/*", "data/**/*"]},
    install_requires=[
        "torch>=2.2",
        "numpy>=1.24,<2",  # mediapipe 0.10.21 is built against numpy 1.x
        "mediapipe==0.10.21",  # last release that ships pose weights in its wheel
        "protobuf>=3.20,<5",
        "open3d-cpu>=0.18; sys_platform == 'linux' and platform_machine == 'x86_64'",
        "open3d>=0.18; sys_platform != 'linux' or platform_machine != 'x86_64'",
        "libusb-package>=1.0; sys_platform == 'linux'",  # libusb for open3d without apt
        "trimesh>=4.0",
        "kornia>=0.7",
        "pycolmap>=0.6",
        "click>=8.1",
        "av>=11",
        "viser>=0.2",
        "tqdm>=4.60",
        "scipy>=1.10",
        "threadpoolctl>=3.1",  # numpy's BLAS held to one thread inside fuse (synnet_recon/blas.py)
        "matplotlib>=3.7",
        "dask[distributed]>=2024.1",  # synrecon batch: one task per recording, local or remote cluster
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2", "pytest-xdist>=3", "ruff>=0.6", "hypothesis>=6"],
    },
    entry_points={
        "console_scripts": ["synrecon=synnet_recon.cli:main"],
        "synnet_recon.exporters": [
            "nerfstudio = plugins.nerfstudio_export:exporter",
            "colmap = plugins.colmap_export:exporter",
            "open3d = plugins.open3d_system:exporter",
            "trc = plugins.trc_export:exporter",
        ],
        "nerfstudio.dataparser_configs": ["synnet-recon = plugins.nerfstudio_dataparser:synnet_dataparser"],
        "synnet_recon.pose_backends": ["mediapipe = synnet_recon.pose:MediaPipeBackend"],
        "synnet_recon.depth_backends": [
            "rgbd = synnet_recon.recon.depth:RGBDDepth",
            "stereo = synnet_recon.recon.depth:StereoDepth",
            "mono = synnet_recon.recon.depth:MonoDepth",
            "mvs = synnet_recon.recon.mvs:MVSDepth",
        ],
    },
)
