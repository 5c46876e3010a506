#!/usr/bin/env bash
# Screenshot of the browser viewer (`synrecon view`) with headless Chromium (Debian's `chromium`).
# Usage: docs/img/make_viewer_png.sh FUSE_OUTDIR OUT.png [PORT]
# The viewer serves on 127.0.0.1 only; Chromium renders its page (WebGL in software) into OUT.png.
set -euo pipefail
recon=$1 out=$2 port=${3:-8093}
python -m synnet_recon.cli view "$recon" --port "$port" > /tmp/synrecon_view_$port.log 2>&1 &
viewer=$!
trap 'kill "$viewer" 2>/dev/null || true' EXIT
for _ in $(seq 60); do grep -q "viewer at" /tmp/synrecon_view_$port.log && break; sleep 1; done
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$profile" --enable-unsafe-swiftshader --use-angle=swiftshader \
  --window-size=1280,800 --virtual-time-budget=20000 --screenshot="$out" "http://127.0.0.1:$port/"
rm -rf "$profile"
