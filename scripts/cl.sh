#!/usr/bin/env bash
# Proves the OpenCL path without an OpenCL runtime: generates OpenCL C 2.0 for every ILGPU kernel an OpenCL device
# loads, for the generic vendor and for Intel, and checks each with clang -x cl -cl-std=CL2.0 -fsyntax-only
# (Debian's clang; LDDM_CLANG overrides). Writes the table to artifacts/cl-report.txt; fails on any error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
configuration="${CONFIGURATION:-Release}"
mkdir -p artifacts
dotnet run --project Lddm.Cli -c "$configuration" --no-build -- cl | tee artifacts/cl-report.txt
