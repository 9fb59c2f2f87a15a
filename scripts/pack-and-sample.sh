#!/usr/bin/env bash
# Packs the Lddm libraries into a local folder feed, checks the packages (scripts/check-packages.cs), then builds the
# samples/Lddm.Sample host application against the PACKED packages (not project references), trains a tiny model with it
# and generates from the checkpoint it wrote. Prints the bin/ size an embedder of Lddm.Training pays.
#   scripts/pack-and-sample.sh [STEPS]     (default 30 training steps; a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-30}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
feed="$work/feed"
# A fresh version per run: the NuGet cache (~/.nuget/packages) never serves an older build under the same number.
version="0.1.0-local.$(date -u +%Y%m%d%H%M%S)"

echo "== the README's embedding snippet matches samples/Lddm.Sample/Program.cs (every line of its #regions)"
# README stripped once into a file: `sed README | grep -q` under pipefail fails at random when grep exits on an early
# match and sed takes SIGPIPE (exit 141); that race failed CI once.
readme_stripped="$work/readme-stripped.md"
sed 's/^[[:space:]]*//' README.md > "$readme_stripped"
missing=0
while IFS= read -r line; do
  if ! grep -qxF -- "$line" "$readme_stripped"; then
    echo "pack-and-sample: README.md lacks the sample line: $line" >&2
    missing=1
  fi
done < <(awk '/#region/{on=1; next} /#endregion/{on=0} on' samples/Lddm.Sample/Program.cs | sed 's/^[[:space:]]*//' | grep -v '^$')
[ "$missing" -eq 0 ]

echo "== pack $version into $feed"
for p in Lddm.Kernels Lddm.Autograd Lddm.Models Lddm.Training Lddm.Plots; do
  dotnet pack "$p" -c Release -o "$feed" -p:Version="$version" --nologo -v quiet
done
ls -l "$feed"

echo "== check the packages"
dotnet run scripts/check-packages.cs -- "$feed"

echo "== build samples/Lddm.Sample from the packages"
out="$work/sample"
dotnet build samples/Lddm.Sample -c Release -o "$out" -p:LddmVersion="$version" \
  --source "$feed" --source https://api.nuget.org/v3/index.json --nologo -v quiet
echo "embedder bin/ (Lddm.Training and its dependencies): $(du -sh "$out" | cut -f1)"
if ls "$out" | grep -i -e skia -e harfbuzz -e scottplot >/dev/null; then
  echo "pack-and-sample: the sample's bin/ holds graphics libraries" >&2
  exit 1
fi

echo "== train a tiny model from the sample, then generate from its checkpoint"
run="$work/run"
dotnet "$out/Lddm.Sample.dll" train "$run" "$steps"
dotnet "$out/Lddm.Sample.dll" generate "$run" | tee "$work/generate.txt"
grep -q "samples" "$work/generate.txt"
echo "pack-and-sample: ok"
