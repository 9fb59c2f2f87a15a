#!/usr/bin/env bash
# Issue #11's sawtooth check beyond the tuned setting: MDLM (DiT tiny) vs two-stage FUJI (MM-DiT xxs + xxs encoder;
# stage 1 token loss only, stage 2 encoder frozen; independent times, so also sampled latents-first with N_lat = 8)
# on three settings — the #6 script's (L 128, 2 saws, scale 0.01, seed 0) and two others chosen before any result
# (L 64, 3 saws, 0.02, seed 11; L 96, 1 saw, 0.05, seed 23) — 1,500 steps × 64 each; sweep with the exact NLL and the
# coverage check (NLL SD against the data's, χ²/KS of the samples' maximum-likelihood saw phase), 1,024 samples per
# point. Writes docs/results/lddm-sawtooth-s{1,2,3}.*; s1 joins the #6 sweep's rows (docs/results/lddm-sawtooth.csv).
#   scripts/sawtooth-settings.sh          (≈ 1.5 h on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
O=${OUT:-docs/results/lddm-sawtooth}
train() { local dir=$1; shift; [[ -f $dir/latest ]] && { echo "$dir exists: skipping its training"; return; }
          /usr/bin/time -f "wall %e s" dotnet "$DLL" train "$@" --out "$dir"; }
common=(--data sawtooth --batch 64 --steps 1500 --set time_conditioning=true --set eval_every=500 --set eval_sequences=256
        --set checkpoint_every=500)
latent=(--set latent_patches=1 --set latent_dim=32 --set encoder_preset=xxs --set independent_times=true)
settings=("s1 128 2 0.01 0" "s2 64 3 0.02 11" "s3 96 1 0.05 23")
for s in "${settings[@]}"; do
  read -r name length saws scale seed <<<"$s"
  set_=(--length "$length" --set sawtooth_saws="$saws" --set sawtooth_scale="$scale" --seed "$seed")
  train "runs/saw/$name/mdlm" --model mdlm --preset tiny "${set_[@]}" "${common[@]}"
  train "runs/saw/$name/fuji2" --model fuji --preset xxs --stage 0 "${set_[@]}" "${common[@]}" "${latent[@]}"
done
sweep() { local s=$1 label=$2; shift 2
  dotnet "$DLL" sweep --checkpoint "runs/saw/$s/mdlm,runs/saw/$s/fuji2,runs/saw/$s/fuji2" --sampler joint,joint,sequential \
    --latent-steps 8 --label "$label,FUJI two-stage,FUJI two-stage seq8" --count 1024 --out "$O-$s" "$@"; }
sweep s1 "MDLM (rerun)" --steps 2,4,8,16,32 --append docs/results/lddm-sawtooth.csv
sweep s2 MDLM --steps 2,4,8,16,32,64
sweep s3 MDLM --steps 2,4,8,16,32
