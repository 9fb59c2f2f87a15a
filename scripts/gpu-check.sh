#!/usr/bin/env bash
# The GPU check (issue #15), one command on a machine with an NVIDIA GPU and no .NET:
#   1. every kernel, autograd-op and model test with the GPU in the ILGPU slot (LDDM_TEST_ILGPU_DEVICE=cuda:0):
#      the real CUDA kernels against the float64 references and the SIMD CPU backend;
#   2. `lddm bench --quick --device cuda:0` (every kernel validated, then timed; matmul up to 4096³, attention up
#      to T = 4096);
#   3. 50 training steps of the small and base presets on cuda:0 (tokens/s once warm).
#   1b. (after 1) the TF32 tensor-core matmul with LDDM_CUDA_MMA=1, again with cp.async loads (LDDM_CUDA_MMA_ASYNC=1),
#       then BF16 inputs with LDDM_CUDA_MMA=bf16: their tests and the quick bench's matmul rows.
# Writes gpu-check.md (one table per part) and the raw logs to $OUT (or ./gpu-check-out). Bundle from
# scripts/gpu-bundle.sh. Budget: about 7 minutes on an H200 (before the cp.async block, ~2 more).
#   scripts/gpu-check.sh .gpu/lddm-gpu.tar.xz
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-.gpu/lddm-gpu.tar.xz}
out=${OUT:-$PWD/gpu-check-out}
device=${LDDM_GPU_DEVICE:-cuda:0}
mkdir -p "$out"
work=$(mktemp -d)
tar -C "$work" -xJf "$bundle" || { echo "gpu-check: cannot unpack $bundle" >&2; exit 1; }
export DOTNET_ROOT=$work/dotnet PATH=$work/dotnet:$PATH DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
       DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
report=$out/gpu-check.md
lddm() { dotnet "$work/lddm/lddm.dll" "$@"; }
{
  echo "# GPU check ($(date -u +%F))"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | sed -n 1,3p
  lddm device 2>&1 | sed -n 1,5p
  echo '```'
} > "$report"

# Tests: the GPU first; then every other ILGPU device the machine lists (an OpenCL runtime, if any) runs the kernel
# tests too — the same kernels through ILGPU's OpenCL C backend on a real OpenCL driver.
run_tests() { # device, label, assemblies...
  local dev=$1 label=$2; shift 2
  echo "## tests on $dev ($label)" | tee -a "$report"
  echo >> "$report"
  echo "| assembly | total | failed | skipped | time |" >> "$report"
  echo "|---|---:|---:|---:|---:|" >> "$report"
  for t in "$@"; do
    log=$out/tests-${dev%%:*}.log
    echo "==== Lddm.$t.Tests on $dev" >> "$log"
    LDDM_TEST_ILGPU_DEVICE=$dev DOTNET_ROLL_FORWARD=Major timeout 150 \
      dotnet "$work/xunit/xunit.console.dll" "$work/test-$t/Lddm.$t.Tests.dll" -nocolor -parallel none \
      > "$work/t.log" 2>&1
    cat "$work/t.log" >> "$log"
    line=$(grep -E "Total: [0-9]+" "$work/t.log" | tail -1)
    total=$(sed -E 's/.*Total: ([0-9]+).*/\1/' <<<"$line"); failed=$(sed -E 's/.*Failed: ([0-9]+).*/\1/' <<<"$line")
    skipped=$(sed -E 's/.*Skipped: ([0-9]+).*/\1/' <<<"$line"); time=$(sed -E 's/.*Time: ([0-9.]+s).*/\1/' <<<"$line")
    echo "| Lddm.$t.Tests | ${total:-?} | ${failed:-?} | ${skipped:-?} | ${time:-timeout} |" | tee -a "$report"
    if grep -q "\[FAIL\]" "$work/t.log"; then
      { echo; echo "Failures in Lddm.$t.Tests on $dev:"; echo '```'
        grep -A8 "\[FAIL\]" "$work/t.log" | grep -v "^\s*at \|Stack Trace\|^\s*$" | cut -c1-220 | sed -n 1,40p
        echo '```'; echo; } >> "$report"
    fi
  done
  echo >> "$report"
}
run_tests "$device" "the GPU" Kernels Autograd Models
# The TF32 tensor-core GEMM and attention (opt-in, LDDM_CUDA_MMA=1, unvalidated on hardware until this runs): their
# tests against the float64 reference with TF32 tolerances, then matmul and attention timed through them.
if [[ $device == cuda* ]]; then
  echo "## TF32 mma matmul on $device (LDDM_CUDA_MMA=1)" | tee -a "$report"
  echo '```' >> "$report"
  LDDM_CUDA_MMA=1 LDDM_TEST_ILGPU_DEVICE=$device DOTNET_ROLL_FORWARD=Major timeout 120 \
    dotnet "$work/xunit/xunit.console.dll" "$work/test-Kernels/Lddm.Kernels.Tests.dll" -nocolor -parallel none \
    -class Lddm.Kernels.Tests.MatmulMmaTests -class Lddm.Kernels.Tests.AttentionMmaTests -class Lddm.Kernels.Tests.LinearForwardTests \
    2>&1 | tee "$out/tests-mma.log" |
    grep -E "Total:|\[FAIL\]|C\[" | cut -c1-220 | sed -n 1,20p >> "$report"
  LDDM_CUDA_MMA=1 timeout 80 dotnet "$work/lddm/lddm.dll" bench --quick --device "$device" 2>&1 |
    tee "$out/bench-mma.log" | grep -iE "matmul|attention|error|wrong" >> "$report"
  echo '```' >> "$report"
  # The same TF32 GEMM with cp.async tile loads (LDDM_CUDA_MMA_ASYNC=1, MatmulMmaAsyncIlgpuKernels: A and B as stored
  # and quad-aligned; other layouts keep the register-staged kernel): the tests again, then the matmul rows.
  echo "## TF32 mma matmul, cp.async, on $device (LDDM_CUDA_MMA=1 LDDM_CUDA_MMA_ASYNC=1)" | tee -a "$report"
  echo '```' >> "$report"
  LDDM_CUDA_MMA=1 LDDM_CUDA_MMA_ASYNC=1 LDDM_TEST_ILGPU_DEVICE=$device DOTNET_ROLL_FORWARD=Major timeout 120 \
    dotnet "$work/xunit/xunit.console.dll" "$work/test-Kernels/Lddm.Kernels.Tests.dll" -nocolor -parallel none \
    -class Lddm.Kernels.Tests.MatmulMmaAsyncTests -class Lddm.Kernels.Tests.MatmulMmaTests -class Lddm.Kernels.Tests.LinearForwardTests \
    2>&1 | tee "$out/tests-mma-async.log" |
    grep -E "Total:|\[FAIL\]|C\[" | cut -c1-220 | sed -n 1,20p >> "$report"
  LDDM_CUDA_MMA=1 LDDM_CUDA_MMA_ASYNC=1 timeout 80 dotnet "$work/lddm/lddm.dll" bench --quick --device "$device" 2>&1 |
    tee "$out/bench-mma-async.log" | grep -iE "matmul|error|wrong" >> "$report"
  echo '```' >> "$report"
  # The BF16-input variant (LDDM_CUDA_MMA=bf16, m16n8k16): its tests with BF16 tolerances, then the same matmul rows.
  echo "## BF16 mma matmul on $device (LDDM_CUDA_MMA=bf16)" | tee -a "$report"
  echo '```' >> "$report"
  LDDM_CUDA_MMA=bf16 LDDM_TEST_ILGPU_DEVICE=$device DOTNET_ROLL_FORWARD=Major timeout 120 \
    dotnet "$work/xunit/xunit.console.dll" "$work/test-Kernels/Lddm.Kernels.Tests.dll" -nocolor -parallel none \
    -class Lddm.Kernels.Tests.MatmulMmaBf16Tests 2>&1 | tee "$out/tests-mma-bf16.log" |
    grep -E "Total:|\[FAIL\]|C\[" | cut -c1-220 | sed -n 1,20p >> "$report"
  LDDM_CUDA_MMA=bf16 timeout 80 dotnet "$work/lddm/lddm.dll" bench --quick --device "$device" 2>&1 |
    tee "$out/bench-mma-bf16.log" | grep -iE "matmul|error|wrong" >> "$report"
  echo '```' >> "$report"
fi
for other in $(lddm device 2>/dev/null | awk '$1 ~ /^opencl:/ {print $1}'); do
  run_tests "$other" "$(lddm device 2>/dev/null | awk -v d="$other" '$1 == d {$1=""; print substr($0,2)}')" Kernels
done

echo "## lddm bench --quick --device $device" | tee -a "$report"
echo '```' >> "$report"
timeout 80 dotnet "$work/lddm/lddm.dll" bench --quick --device "$device" 2>&1 | tee "$out/bench.log" | grep -v "^\s*$" >> "$report"
echo '```' >> "$report"

echo "## training steps on $device (small and base presets, batch 32 × 64 tokens, Moby-Dick)" | tee -a "$report"
echo >> "$report"
echo "| preset | parameters | steps | tokens/s (cumulative, incl. warm-up) | tokens/s (steady: steps 20 → last) |" >> "$report"
echo "|---|---:|---:|---:|---:|" >> "$report"
for preset in small base; do
  timeout 60 dotnet "$work/lddm/lddm.dll" train --preset "$preset" --steps 100 --device "$device" \
    --set log_every=20 --set eval_every=0 --set checkpoint_every=0 --out "$work/run-$preset" \
    > "$work/train.log" 2>&1
  { echo "==== $preset"; cat "$work/train.log"; } >> "$out/train.log"
  params=$(grep -oE "[0-9,]+ parameters" "$work/train.log" | sed -n 1,1p | cut -d' ' -f1)
  # The progress line's rate is cumulative: t(step) = step·tokens/rate; steady = Δtokens / Δt between two lines.
  grep -E "^step +[0-9]+/" "$work/train.log" | sed -E 's#^step +([0-9]+)/([0-9]+).* ([0-9.]+) tok/s.*#\1 \3#' |
    awk -v p="$preset" -v params="$params" '{ s[NR]=$1; r[NR]=$2 } END {
      if (NR < 2) { printf "| %s | %s | failed | | |\n", p, params; exit }
      tok=32*64; t1=s[1]*tok/r[1]; t2=s[NR]*tok/r[NR];
      printf "| %s | %s | %d | %.0f | %.0f |\n", p, params, s[NR], r[NR], (s[NR]-s[1])*tok/(t2-t1) }' | tee -a "$report"
done
echo >> "$report"
cat "$report"
