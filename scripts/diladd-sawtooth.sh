#!/usr/bin/env bash
# Di-LADD on the sawtooth (#12), setting s1 of scripts/sawtooth-settings.sh (L 128, 2 saws, scale 0.01, seed 0, batch
# 64, 1,500 steps, time conditioning, MM-DiT xxs): the latent = P = 1 code of the frozen stage-1 encoder of the
# two-stage FUJI run (runs/saw/s1/fuji2/stage1, encoder = frozen-lddm, 1 × 32) through a cosine EMA codebook of C = 16
# codes — the authors' 4 vectors per code per step (64 × 1 vectors for 16 codes; with the dead-code threshold 2 a code
# needs ≥ 2 assignments per step to live). Stage 1 (750 steps, token loss only) then stage 2 (750, token + code NELBO),
# independent times. Then the exact-NLL sweep at N = 2 … 128, joint and sequential (N_lat = 8), 2,048 samples per point
# as the other rows of docs/results/lddm-sawtooth.csv, which it joins (--append; .md and .png regenerated).
#   RUNS=runs/saw scripts/diladd-sawtooth.sh          (≈ 40 min training + 30 min sweep on a loaded 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
CODES=${CODES:-16}
RUNS=${RUNS:-runs/saw}
O=${OUT:-docs/results/lddm-sawtooth}
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
run="$RUNS/s1/diladd"
if [[ -f $run/latest && $(cat "$run/latest") == step-00000750 ]]; then
  echo "$run is trained: skipping its training"
else
  /usr/bin/time -f "wall %e s" dotnet "$DLL" train --model diladd --preset xxs --stage 0 --data sawtooth --length 128 \
    --set sawtooth_saws=2 --set sawtooth_scale=0.01 --seed 0 --batch 64 --steps 1500 --set time_conditioning=true \
    --set eval_every=500 --set eval_sequences=256 --set checkpoint_every=250 --set latent_patches=1 --set latent_dim=32 \
    --set independent_times=true --set encoder=frozen-lddm --set encoder_checkpoint="$RUNS/s1/fuji2/stage1" \
    --set latent_codes="$CODES" --out "$run" $([[ -d $run ]] && echo --resume)
fi
dotnet "$DLL" eval --checkpoint "$run" --draws 4 --steps 8 --count 256 2>&1 | grep -iE "nelbo|term|code"
# Earlier rows of the same sweep (same data, count and seed) join the report; Di-LADD rows of an earlier run are dropped.
grep -v '^Di-LADD' "$O.csv" > "$O-earlier.csv.tmp"
dotnet "$DLL" sweep --checkpoint "$run,$run" --sampler joint,sequential --latent-steps 8 \
  --label "Di-LADD C$CODES,Di-LADD C$CODES seq8" --steps 2,4,8,16,32,64,128 --count 2048 --out "$O" --append "$O-earlier.csv.tmp"
rm -f "$O-earlier.csv.tmp"
