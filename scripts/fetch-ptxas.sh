#!/usr/bin/env bash
# Obtain NVIDIA's ptxas (from Debian non-free package nvidia-cuda-toolkit) WITHOUT installing
# anything: the .deb is fetched with `apt-get download` and only usr/bin/ptxas is unpacked
# into a cache folder.
#
#   export LDDM_PTXAS=$(scripts/fetch-ptxas.sh | tail -1)
#
# Env:
#   LDDM_PTXAS_CACHE  cache folder (default: <repo>/.cache/ptxas)
#   LDDM_PTXAS_PKG    Debian package holding /usr/bin/ptxas (default: nvidia-cuda-toolkit)
# All messages go to stderr; the last stdout line is the absolute path of ptxas.
set -euo pipefail

log() { printf 'fetch-ptxas: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LDDM_PTXAS_CACHE:-$REPO/.cache/ptxas}"
PKG="${LDDM_PTXAS_PKG:-nvidia-cuda-toolkit}"
SOURCES_FILE=/etc/apt/sources.list.d/lddm-debian-non-free.sources

mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
PTXAS="$CACHE/root/usr/bin/ptxas"

works() { [[ -x "$PTXAS" ]] && "$PTXAS" --version >/dev/null 2>&1; }

if works; then
  log "already present: $("$PTXAS" --version | tail -2 | sed -n 1,1p)"
  echo "$PTXAS"
  exit 0
fi

SUDO=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to add apt sources / apt-get update"
  SUDO=(sudo)
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu required)"

# `apt-cache show` exits 0 even for packages that are only referenced, so look for a candidate.
have_pkg() {
  local cand
  cand="$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [[ -n "$cand" && "$cand" != "(none)" ]]
}

if ! have_pkg; then
  if [[ ! -f "$SOURCES_FILE" ]]; then
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    log "adding Debian contrib/non-free for $codename in $SOURCES_FILE"
    "${SUDO[@]}" tee "$SOURCES_FILE" >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  log "apt-get update"
  "${SUDO[@]}" apt-get update -qq >&2 || die "apt-get update failed"
  have_pkg || die "package $PKG not available even after enabling non-free"
fi

DL="$(mktemp -d "$CACHE/dl.XXXXXX")"
trap 'rm -rf "$DL"' EXIT
chmod 777 "$DL"   # let the _apt sandbox user write here (avoids an unsandboxed-download warning)

log "apt-get download $PKG (~85 MB)"
if ! (cd "$DL" && apt-get download -q "$PKG" >&2); then
  log "download failed; refreshing package lists and retrying"
  "${SUDO[@]}" apt-get update -qq >&2
  (cd "$DL" && apt-get download -q "$PKG" >&2) || die "apt-get download $PKG failed"
fi
DEB="$(ls "$DL"/*.deb | sed -n 1,1p)"

dpkg-deb -c "$DEB" | grep ' \./usr/bin/ptxas$' >/dev/null || die "$PKG does not contain /usr/bin/ptxas"

log "extracting usr/bin/ptxas from $(basename "$DEB")"
rm -rf "$CACHE/root"
mkdir -p "$CACHE/root"
# Only ptxas is needed (it links against glibc only), so skip the other ~170 MB.
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$CACHE/root" ./usr/bin/ptxas
basename "$DEB" > "$CACHE/SOURCE_DEB"

if command -v ldd >/dev/null 2>&1 && ldd "$PTXAS" | grep 'not found' >/dev/null; then
  ldd "$PTXAS" >&2
  die "ptxas has unresolved shared libraries"
fi
works || die "extracted ptxas does not run"

log "ok: $("$PTXAS" --version | tail -2 | sed -n 1,1p)"
echo "$PTXAS"
