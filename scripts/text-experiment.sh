#!/usr/bin/env bash
# The text experiment of issue #11 (the authors' protocol, scaled down): on the State-of-the-Union corpus (character
# level, L = 64), train the AR judge, a second judge (other seed and size) and two frozen pretrained encoders (a masked
# LM = MDLM tiny, and an AR tiny — never a judge), then the generators at EQUAL TOKEN-STREAM WIDTH (h = 128, the LM1B
# protocol; a frozen encoder is outside the budget), all with the same 2,000 steps × 32 × 64 characters:
#   MDLM small · FUJI small with the latent zeroed (control) · FUJI small two-stage (stage 1 token loss only, stage 2 encoder frozen) · FUJI small on the frozen
#   pretrained MDLM encoder · SEQ small (two stages)
# FUJI runs with independent times, so each is also sampled latents-first (--sampler sequential, N_lat = 8).
# Sweep: gen-PPL under the judge ± SE and unigram entropy at N ∈ {2, …, 64}, 256 samples per point; the second judge
# at N = 2 and 8; the validation NELBO split into token and latent terms. Writes docs/results/lddm-text-*.
#   scripts/fetch-corpus.sh && scripts/text-experiment.sh          (≈ 2 h on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-2000}
COUNT=${COUNT:-256}
RUNS=${RUNS:-runs/text2}
OUT=${OUT:-docs/results/lddm-text}
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
lddm() { dotnet "$DLL" "$@"; }
train() { local dir=$1; shift; [[ -f $dir/latest ]] && { echo "$dir exists: skipping its training"; return; }
          /usr/bin/time -f "wall %e s" dotnet "$DLL" train "$@" --out "$dir"; }
pre=(--data text --corpus sotu --length 64 --batch 32 --set decay=cosine --set eval_every=1000 --set eval_sequences=256
     --set checkpoint_every=500)
# LADD's text recipe: unweighted token CE (the NELBO is still reported), no token time input, latent dropout
# p_cfg = 0.15, p_r encoder corruption one coin per sequence, per-patch L2-normalised latents (P = 4 × d = 32).
common=("${pre[@]}" --steps "$STEPS" --seed 0 --set elbo_weighting=false)
latent=(--set latent_patches=4 --set latent_dim=32 --set latent_normalize=true --set latent_dropout=0.15
        --set encoder_corruption=true)
train "$RUNS/judge"    --model ar   --preset small --steps 2000 --seed 0 "${pre[@]}"
train "$RUNS/judge2"   --model ar   --preset tiny  --steps 2000 --seed 2 "${pre[@]}"
train "$RUNS/enc-mdlm" --model mdlm --preset tiny  --steps 1500 --seed 4 "${pre[@]}"
train "$RUNS/enc-ar"   --model ar   --preset tiny  --steps 1500 --seed 3 "${pre[@]}"
train "$RUNS/mdlm" --model mdlm --preset small "${common[@]}"
train "$RUNS/fuji-2stage" --model fuji --preset small --stage 0 --set encoder_preset=tiny "${common[@]}" "${latent[@]}" \
      --set independent_times=true
train "$RUNS/fuji-mdlmenc" --model fuji --preset small --set encoder=frozen-mdlm --set encoder_checkpoint="$RUNS/enc-mdlm" \
      "${common[@]}" "${latent[@]}" --set independent_times=true
# The architecture-matched control: the same MM-DiT small with the latent zeroed.
train "$RUNS/fuji-zero" --model fuji --preset small --stage -1 --set all_zero_latent=true --set encoder_preset=tiny \
      "${common[@]}" --set latent_patches=4 --set latent_dim=32 --set latent_normalize=true
train "$RUNS/seq" --model seq --preset small --set encoder_preset=tiny "${common[@]}" "${latent[@]}"
: > "$OUT-nelbo.txt"
for m in judge judge2 enc-mdlm enc-ar mdlm fuji-2stage fuji-mdlmenc seq fuji-zero; do
  echo "== $m" >> "$OUT-nelbo.txt"
  lddm eval --checkpoint "$RUNS/$m" --draws 4 2>&1 | grep -iE "nelbo|nll|bits|term" >> "$OUT-nelbo.txt"
done
gen() { local out=$1; shift
  lddm eval-gen --judge "$RUNS/judge" --steps 2,4,8,16,32,64 --count "$COUNT" --out "$OUT-$out" "$@"
  lddm eval-gen --judge "$RUNS/judge2" --steps 2,8 --count "$COUNT" --out "$OUT-judge2-$out" "$@"; }
gen a --checkpoint "$RUNS/mdlm,$RUNS/fuji-2stage,$RUNS/fuji-2stage" --sampler joint,joint,sequential --latent-steps 8 \
      --label "MDLM,FUJI two-stage,FUJI two-stage seq8"
gen b --checkpoint "$RUNS/fuji-mdlmenc,$RUNS/fuji-mdlmenc" --sampler joint,sequential --latent-steps 8 \
      --label "FUJI frozen-mdlm,FUJI frozen-mdlm seq8"
gen c --checkpoint "$RUNS/seq" --label "SEQ"
lddm eval-gen --judge "$RUNS/judge" --steps 2,4,8,16,32,64 --count "$COUNT" --out "$OUT-d" --checkpoint "$RUNS/fuji-zero" \
      --label "FUJI zero latent (control)"
# One CSV for every generator (each group's own .md/.png stay beside it).
{ head -1 "$OUT-a.csv"; for g in a b c d; do tail -n +2 "$OUT-$g.csv"; done; } > "$OUT.csv"
{ head -1 "$OUT-judge2-a.csv"; for g in a b c; do tail -n +2 "$OUT-judge2-$g.csv"; done; } > "$OUT-judge2.csv"
