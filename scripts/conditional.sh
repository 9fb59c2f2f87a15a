#!/usr/bin/env bash
# Conditional generation measured (issue 13) on the checkpoints the text and sawtooth experiments already trained (no
# training here): SOTU validation text at L = 64 keeps a prefix of L/2 (task prefix) or both ends around a middle gap
# of L/4 (task infill, positions 24..39); every model completes 128 sequences at N ∈ {2, 4, 8, 16, 32} token steps and
# the AR judge scores them beside the real span: MDLM (one block, and semi-AR blocks B = 16 and 8 at the same N), FUJI
# two-stage (joint, and latent-first with N_lat = 8), FUJI on the frozen MDLM encoder, SEQ with the unconditional prior
# latent and with the prompt-aware latent (its encoder on the template, free positions hidden). Sawtooth (L = 128): the
# first 32 bits are kept, the completion's exact conditional NLL under the true model. Writes docs/results/conditional-*.md
# (docs/results/conditional.md is the write-up).   scripts/conditional.sh      (≈ 20 min on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-128}
TEXT=${TEXT:-runs/text2}
SAW=${SAW:-runs/saw/s1}
OUT=${OUT:-docs/results/conditional}
STEPS=${STEPS:-2,4,8,16,32}
[[ -n ${DLL:-} ]] || dotnet build Lddm.Cli -c Release 2>&1 | grep -E "error|Build succeeded" | sort -u
DLL=${DLL:-Lddm.Cli/bin/Release/net10.0/lddm.dll}
lddm() { dotnet "$DLL" "$@"; }
text=("$TEXT/mdlm" "$TEXT/mdlm" "$TEXT/mdlm" "$TEXT/fuji-2stage" "$TEXT/fuji-2stage" "$TEXT/fuji-mdlmenc" "$TEXT/seq" "$TEXT/seq")
args=(--judge "$TEXT/judge" --checkpoint "$(IFS=,; echo "${text[*]}")"
      --label mdlm,mdlm-B16,mdlm-B8,fuji-2stage,fuji-2stage-seq8,fuji-mdlmenc,seq-prior,seq-prompt
      --block 0,16,8,0,0,0,0,0 --sampler joint,joint,joint,joint,sequential,joint,joint,joint --latent-steps 8
      --seq-latent prior,prior,prior,prior,prior,prior,prior,encoder --steps "$STEPS" --count "$COUNT" --batch 32)
for task in prefix infill; do
  /usr/bin/time -f "wall %e s" dotnet "$DLL" eval-cond "${args[@]}" --task "$task" --out "$OUT-$task" "$@" | tee "$OUT-$task.log"
done
/usr/bin/time -f "wall %e s" dotnet "$DLL" eval-cond --checkpoint "$SAW/mdlm,$SAW/fuji2,$SAW/fuji2" --label mdlm,fuji2,fuji2-seq8 \
  --sampler joint,joint,sequential --latent-steps 8 --steps "$STEPS" --count "$COUNT" --batch 64 --out "$OUT-sawtooth" "$@" \
  | tee "$OUT-sawtooth.log"
