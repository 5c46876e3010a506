"""Export synchronized, fused frames for nerfstudio and COLMAP/OpenMVS.

    python examples/03_fuse_and_view.py scene/                      # writes scene/recon_sync.json, scene/recon/
    python examples/04_export_nerfstudio_colmap.py scene/recon_sync.json scene/recon/ --out exports/

The same as `synrecon export nerfstudio|colmap SYNC --recon RECON --out DIR`. Camera poses come from
the registration in RECON/registration.json (every view relative to the first fused instant's
reference camera), intrinsics from the same file, images from the videos listed in SYNC.
"""
import argparse
from pathlib import Path

from synnet_recon import InputError
from synnet_recon.exporters import ExportConfig, get_exporter, list_exporters

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("sync", type=Path, help="sync.json from align")
parser.add_argument("recon", type=Path, help="output folder of fuse")
parser.add_argument("--out", type=Path, default=Path("exports"), help="folder for one sub-folder per format")
parser.add_argument("--formats", nargs="+", default=["nerfstudio", "colmap"], help=f"any of {list(list_exporters())}")
parser.add_argument("--every", type=int, default=1, help="keep every n-th synchronized instant")
args = parser.parse_args()

config = ExportConfig(every=args.every, image_ext="jpg", max_points=50_000)
for name in args.formats:
    exporter = get_exporter(name)  # built-ins and third-party entry points (synnet_recon.exporters)
    try:
        written = exporter(args.sync, args.recon, args.out / name, config)
    except InputError as exc:  # e.g. no registered instant in RECON, a video that moved
        raise SystemExit(f"error: {exc}") from None
    files = sorted(p for p in written.rglob("*") if p.is_file())
    print(f"{name}: {len(files)} files in {written}")
    for p in files[:4]:
        print("   ", p.relative_to(written))

# Next steps (outside this package):
#   nerfstudio: ns-train nerfacto --data exports/nerfstudio
#   COLMAP:     colmap image_undistorter --image_path exports/colmap/images --input_path exports/colmap/sparse/0 ...
