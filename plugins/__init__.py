"""Toolkit plugins: exporters to nerfstudio, COLMAP/OpenMVS and Open3D's reconstruction system,
and a nerfstudio dataparser. They are registered as entry points (see setup.py and
docs/plugins.md) and found through :mod:`synnet_recon.exporters`."""
