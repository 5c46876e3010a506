"""One module per `synrecon` command; see synnet_recon/cli.py."""
from __future__ import annotations

from ..errors import InputError


def parse_pairs(values, option: str) -> dict[str, str]:
    """Repeated ``NAME=VALUE`` options (e.g. ``--depth-dir cam0=depth/cam0``) as a dict."""
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not value:
            raise InputError(None, f"{option} expects NAME=VALUE, got {v!r}")
        out[key] = value
    return out
