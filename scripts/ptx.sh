#!/usr/bin/env bash
# Proves the GPU path without a GPU: compiles every ILGPU kernel to PTX and assembles it with ptxas for
# sm_80 and sm_90. Writes the per-kernel resource table to artifacts/ptx-report.txt; fails on any error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
configuration="${CONFIGURATION:-Release}"
if [[ -z "${LDDM_PTXAS:-}" ]]; then
  LDDM_PTXAS="$(scripts/fetch-ptxas.sh | tail -1)"
  export LDDM_PTXAS
fi
mkdir -p artifacts
dotnet run --project Lddm.Cli -c "$configuration" --no-build -- ptx | tee artifacts/ptx-report.txt
