#!/usr/bin/env bash
# From nothing to a metrics table on CPU: set up .venv, prepare the offline demo data, run DAT-light (real weights)
# once on the whole frames, test the untrained demo SeeClear* model (step 0), train it, test it, and score bicubic,
# DAT-light alone, step 0 and the trained model with seeclear-evaluate (PSNR/SSIM, LPIPS/DISTS with the real VGG16,
# Farneback tOF/E*warp). About 20 minutes on 2 cores. Trained weights: experiments/SeeClearStar_demo/models/.
# Extra arguments go to the training command (e.g. --force_yml train:total_iter=200).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
[ -f datasets/demo/manifest.json ] || $PY -m scripts.prepare_demo_data
# threads: each command takes the cores other processes leave idle (seeclear_arch/sampling/threads.py)

echo "== DAT-light x4 on the whole LR frames: the training condition and the DAT-light row =="
$PY -m seeclear_arch.data.condition_cache -opt options/train_seeclear_star_demo.yml \
    --lq datasets/demo/train/BIx4 --out datasets/demo/train/DATx4
$PY -m seeclear_arch.data.condition_cache -opt options/test_seeclear_star_demo.yml \
    --lq datasets/demo/test/BIx4 --out results/DAT-light_demo_test --ext png
echo "== step 0: the untrained demo model =="
$PY -m seeclear_arch.test -opt options/test_seeclear_star_demo.yml \
    --force_yml name=SeeClearStar_demo_step0 path:pretrain_network_g=~ val:pbar=true
echo "== training (options/train_seeclear_star_demo.yml) =="
$PY -m seeclear_arch.train -opt options/train_seeclear_star_demo.yml "$@"
echo "== testing the trained model (options/test_seeclear_star_demo.yml) =="
$PY -m seeclear_arch.test -opt options/test_seeclear_star_demo.yml --force_yml val:pbar=true

echo "== held-out demo sequences (mean over sequences; per sequence: results/quickstart/eval.csv) =="
$PY -m seeclear_arch.evaluation --gt datasets/demo/test/GT --bicubic-from datasets/demo/test/BIx4 \
    --sr DAT-light=results/DAT-light_demo_test \
    --sr step0=results/SeeClearStar_demo_step0/visualization/demo_test \
    --sr 'SeeClear*=results/SeeClearStar_demo_test/visualization/demo_test' \
    --metrics psnr,ssim,lpips,dists,tof,ewarp --flow farneback --quiet --out results/quickstart/eval.json
