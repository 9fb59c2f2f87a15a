#!/usr/bin/env bash
# The experiment of issue #6 (digest §7.1): MDLM vs FUJI-LDDM vs SEQ-LDDM on binary sawtooth (L = 128, 2 saws,
# scale 0.01), same number of optimizer steps and batch for all three, comparable parameter counts (MDLM: DiT tiny;
# LDDM: the two-stream MM-DiT at xxs plus an xxs encoder, and for SEQ an xxs latent prior), then the sweep over the
# number of sampling steps N: exact NLL of generated samples under the true model, unigram KL and per-sequence
# entropy, with standard errors. Writes docs/results/lddm-sawtooth.{csv,md,png} (+ one PNG per metric).
#   STEPS=1500 COUNT=2048 scripts/sawtooth-experiment.sh          (≈ 1 h on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1500}
COUNT=${COUNT:-2048}
RUNS=${RUNS:-runs/sawtooth}
OUT=${OUT:-docs/results/lddm-sawtooth}
dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
lddm() { dotnet Lddm.Cli/bin/Release/net10.0/lddm.dll "$@"; }
common=(--data sawtooth --length 128 --batch 64 --steps "$STEPS" --set time_conditioning=true
        --set eval_every=500 --set eval_sequences=256 --set checkpoint_every=500)
latent=(--set latent_patches=1 --set latent_dim=32 --set encoder_preset=xxs)
train() { local dir=$1; shift; [[ -f $dir/latest ]] && { echo "$dir exists: skipping its training"; return; }
          /usr/bin/time -f "wall %e s" dotnet Lddm.Cli/bin/Release/net10.0/lddm.dll train "$@" --out "$dir"; }
train "$RUNS/mdlm" --model mdlm --preset tiny "${common[@]}"
train "$RUNS/fuji" --model fuji --stage -1 --preset xxs "${common[@]}" "${latent[@]}"
train "$RUNS/seq" --model seq --preset xxs "${common[@]}" "${latent[@]}"
lddm sweep --checkpoint "$RUNS/mdlm,$RUNS/fuji,$RUNS/seq" --label MDLM,FUJI,SEQ \
    --steps 2,4,8,16,32,64,128 --count "$COUNT" --out "$OUT"
