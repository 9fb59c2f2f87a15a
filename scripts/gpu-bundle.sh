#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no .NET: this machine's .NET runtime (the shared
# framework and host only, no SDK), xUnit's console runner 2.4.1 (from NuGet) and Release builds of the kernel,
# autograd and model test assemblies and of the lddm CLI (Linux x64 only). Writes .gpu/lddm-gpu.tar.xz (~40 MiB,
# under the device tool's 64 MiB) — .gpu/ is git-ignored.
#   scripts/gpu-bundle.sh && (on the GPU machine) scripts/gpu-check.sh .gpu/lddm-gpu.tar.xz
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'gpu-bundle: %s\n' "$*" >&2; }
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
fx=$(ls -d "$root"/shared/Microsoft.NETCore.App/10.* | sort -V | tail -1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
log "building Release"
dotnet build tests/Lddm.Kernels.Tests -c Release -v q -nologo | grep -E " error |Warn|Error" || true
dotnet build tests/Lddm.Autograd.Tests -c Release -v q -nologo | grep -E " error |Error" || true
dotnet build tests/Lddm.Models.Tests -c Release -v q -nologo | grep -E " error |Error" || true
dotnet build Lddm.Cli -c Release -v q -nologo | grep -E " error |Error" || true
log "staging runtime $(basename "$fx")"
mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/dotnet/host"
cp "$root/dotnet" "$stage/dotnet/"
cp -r "$root/host/fxr" "$stage/dotnet/host/"
cp -r "$fx" "$stage/dotnet/shared/Microsoft.NETCore.App/"
runner=${NUGET_PACKAGES:-$HOME/.nuget/packages}/xunit.runner.console/2.4.1/tools/netcoreapp2.0
if [[ ! -d $runner ]]; then
  log "fetching xunit.runner.console 2.4.1 from NuGet"
  tmp=$(mktemp -d)
  printf '%s\n' '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFramework>net10.0</TargetFramework>' \
    '<ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup><ItemGroup>' \
    '<PackageDownload Include="xunit.runner.console" Version="[2.4.1]" /></ItemGroup></Project>' > "$tmp/x.csproj"
  dotnet restore "$tmp/x.csproj" -v q >/dev/null
  rm -rf "$tmp"
fi
cp -r "$runner" "$stage/xunit"
for t in Kernels Autograd Models; do
  cp -r "tests/Lddm.$t.Tests/bin/Release/net10.0" "$stage/test-$t"
done
cp -r Lddm.Cli/bin/Release/net10.0 "$stage/lddm"
# Plot natives for other platforms and the SkiaSharp/HarfBuzz natives are not used by train/bench/device.
find "$stage" -type d -name runtimes -prune -exec rm -rf {} +
mkdir -p .gpu
tar -C "$stage" -cf - . | xz -T2 -6 > .gpu/lddm-gpu.tar.xz
log "wrote .gpu/lddm-gpu.tar.xz ($(du -h .gpu/lddm-gpu.tar.xz | cut -f1))"
