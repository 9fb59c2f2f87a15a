#!/usr/bin/env bash
# The experiment of issue #7 (digest §7.2): on the State-of-the-Union corpus (character level, L = 64), train the AR
# judge, then MDLM, SEQ-LDDM and FUJI-LDDM with the same steps, batch and schedule (comparable parameter counts:
# MDLM = DiT small; LDDM = MM-DiT tiny + a tiny encoder, and for SEQ a tiny latent prior), and sweep the number of
# sampling steps N: generative perplexity under the judge and per-sequence unigram entropy, beside the same two
# numbers on real validation text. FUJI runs twice: with a learned encoder trained jointly (which collapses on
# sawtooth, docs/results/lddm-sawtooth.md) and with SEQ stage 1's encoder frozen (encoder = frozen-lddm), the
# analogue of LADD's frozen pretrained embedder. Writes docs/results/lddm-text.{csv,md,png} and the validation
# bounds to docs/results/lddm-text-nelbo.txt.
#   scripts/fetch-corpus.sh && scripts/text-experiment.sh          (≈ 50 min on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1500}
JUDGE_STEPS=${JUDGE_STEPS:-2000}
COUNT=${COUNT:-256}
RUNS=${RUNS:-runs/text}
OUT=${OUT:-docs/results/lddm-text}
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
lddm() { dotnet "$DLL" "$@"; }
train() { local dir=$1; shift; [[ -f $dir/latest ]] && { echo "$dir exists: skipping its training"; return; }
          /usr/bin/time -f "wall %e s" dotnet "$DLL" train "$@" --out "$dir"; }
# LADD's text recipe (§2.4, §6): unweighted token CE (the NELBO is still reported), no token time input, unweighted
# latent MSE, latent dropout p_cfg = 0.15, encoder corruption p_r, per-patch L2-normalised latents (P = 4 × d = 32).
common=(--data text --corpus sotu --length 64 --batch 32 --steps "$STEPS" --set decay=cosine
        --set elbo_weighting=false --set eval_every=1000 --set eval_sequences=256 --set checkpoint_every=1000)
latent=(--set latent_patches=4 --set latent_dim=32 --set latent_normalize=true --set latent_dropout=0.15
        --set encoder_corruption=true --set encoder_preset=tiny)
train "$RUNS/judge" --model ar --preset small --data text --corpus sotu --length 64 --batch 32 --steps "$JUDGE_STEPS" \
      --set decay=cosine --set eval_every=1000 --set eval_sequences=256 --set checkpoint_every=1000
train "$RUNS/mdlm" --model mdlm --preset small "${common[@]}"
train "$RUNS/seq" --model seq --preset tiny "${common[@]}" "${latent[@]}"
train "$RUNS/fuji" --model fuji --stage -1 --preset tiny "${common[@]}" "${latent[@]}"
train "$RUNS/fuji-frozen" --model fuji --preset tiny "${common[@]}" "${latent[@]}" \
      --set encoder=frozen-lddm --set encoder_checkpoint="$RUNS/seq/stage1"
: > "$OUT-nelbo.txt"
for m in judge mdlm seq fuji fuji-frozen; do
  echo "== $m" | tee -a "$OUT-nelbo.txt"
  lddm eval --checkpoint "$RUNS/$m" --draws 4 2>&1 | grep -iE "nelbo|nll|bits" | tee -a "$OUT-nelbo.txt"
done
lddm eval-gen --judge "$RUNS/judge" --checkpoint "$RUNS/mdlm,$RUNS/seq,$RUNS/fuji,$RUNS/fuji-frozen" \
    --label "MDLM,SEQ,FUJI,FUJI (frozen SEQ-1 encoder)" \
    --steps 2,4,8,16,32,64 --count "$COUNT" --out "$OUT"
# The equal-width ablation: MDLM with the LDDM token streams' size (tiny), no latent.
train "$RUNS/mdlm-tiny" --model mdlm --preset tiny "${common[@]}"
lddm eval --checkpoint "$RUNS/mdlm-tiny" --draws 4 2>&1 | grep -iE "nelbo" | sed 's/^/== mdlm-tiny: /' | tee -a "$OUT-nelbo.txt"
lddm eval-gen --judge "$RUNS/judge" --checkpoint "$RUNS/mdlm-tiny" --label "MDLM tiny" \
    --steps 2,4,8,16,32,64 --count "$COUNT" --out "$OUT-mdlm-tiny"
