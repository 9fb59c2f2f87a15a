#!/usr/bin/env bash
# Di-LADD in the text experiment of #11/#12 (docs/results/text-quality.md's protocol): SOTU characters, L = 64, MM-DiT
# small (equal token-stream width h = 128 with MDLM small; the frozen encoder is outside the budget), batch 32, 2,000
# steps split 1,000 stage 1 (token loss only, the codebook settles) + 1,000 stage 2 (token + code NELBO), seed 0,
# unweighted token CE as the other text runs; the latent = P = 4 codes of the frozen MDLM encoder (runs/text2/enc-mdlm,
# the one FUJI frozen-mdlm reads: chunk-mean pooled to 4 × 32) through a cosine EMA codebook of C = 32 codes
# (β = 0.1, decay 0.95, dead-code threshold 2 as the authors'). C = 32 keeps the authors' 4 vectors per code per step
# (theirs 512 × 64 vectors for 8,192 codes; here 32 × 4 = 128 for 32): with threshold 2 on an EMA count of ≈ the
# per-batch count, a code needs ≥ 2 assignments per step to live, so C = 256 would re-seed most codes every step.
# Then the validation NELBO (token + latent terms, code usage) and gen-PPL under the judge at N = 2 … 64, joint and
# sequential (N_lat = 8), 256 samples per point; the rows (labelled Di-LADD) replace any earlier Di-LADD rows in
# docs/results/lddm-text.csv.
#   RUNS=runs/text2 scripts/diladd-text.sh          (≈ 30 min training + 20 min sweep on a loaded 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-2000}
COUNT=${COUNT:-256}
CODES=${CODES:-32}
RUNS=${RUNS:-runs/text2}
OUT=${OUT:-docs/results/lddm-text}
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
lddm() { dotnet "$DLL" "$@"; }
run="$RUNS/diladd"
if [[ -f $run/latest && $(cat "$run/latest") == step-$(printf %08d $((STEPS - STEPS / 2))) ]]; then
  echo "$run is trained: skipping its training"
else
  # --resume continues an interrupted run (either stage) from its last checkpoint.
  /usr/bin/time -f "wall %e s" dotnet "$DLL" train --model diladd --preset small --stage 0 --data text --corpus sotu --length 64 \
    --batch 32 --steps "$STEPS" --seed 0 --set decay=cosine --set eval_every=500 --set eval_sequences=256 \
    --set checkpoint_every=500 --set elbo_weighting=false --set encoder=frozen-mdlm --set encoder_checkpoint="$RUNS/enc-mdlm" \
    --set latent_patches=4 --set latent_dim=32 --set independent_times=true --set latent_codes="$CODES" --out "$run" \
    $([[ -d $run ]] && echo --resume)
fi
{ echo "== diladd"; lddm eval --checkpoint "$run" --draws 4 2>&1 | grep -iE "nelbo|nll|bits|term|code"; } >> "$OUT-nelbo.txt"
lddm eval-gen --judge "$RUNS/judge" --steps 2,4,8,16,32,64 --count "$COUNT" --out "$OUT-e" \
  --checkpoint "$run,$run" --sampler joint,sequential --latent-steps 8 --label "Di-LADD C$CODES frozen-mdlm,Di-LADD C$CODES frozen-mdlm seq8"
{ grep -v '^Di-LADD' "$OUT.csv"; tail -n +2 "$OUT-e.csv"; } > "$OUT.csv.tmp" && mv "$OUT.csv.tmp" "$OUT.csv"
