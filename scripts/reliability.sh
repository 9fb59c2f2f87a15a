#!/usr/bin/env bash
# Attacks `lddm` as a user and an adversary would (bad configs and flags, bad --out folders, corrupted and crafted
# checkpoints, kill -9 at random moments, SIGINT, concurrent runs on one folder) and writes the attack table to
# docs/results/reliability.md. Each case is classified from the process's behaviour alone:
#   clean    exit 2 and exactly one stderr line "lddm: ..." (no stack trace)
#   ok       exit 0 where working is the right answer (e.g. --resume extending steps, a no-op mutation)
#   silent   exit 0 where a refusal was required (a changed checkpoint loaded) -- counted as a failure
#   crash    a stack trace, "bug:", or any other exit code
#   hang     no exit within 120 s
#   lost     the attacked run's checkpoint no longer loads, or its files differ from an uninterrupted run's
# Usage: scripts/reliability.sh [mutations per kind, default 40]. Takes a few minutes on 2 cores.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-40}
RANDOM=20261204 # reproducible mutations and kill times
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Lddm.Cli -c Release -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
W=$(mktemp -d /tmp/lddm-reliability-XXXXXX)
trap 'rm -rf "$W"' EXIT
cp -r Lddm.Cli/bin/Release/net10.0 "$W/bin" # a private copy: rebuilding the tree meanwhile does not disturb the run
DLL="$W/bin/lddm.dll"
lddm() { dotnet "$DLL" "$@"; }
OUT=docs/results/reliability.md
TINY=(train --data sawtooth --preset xxs --length 8 --batch 4 --seed 3 --device cpu
      --set warmup_steps=2 --set log_every=4 --set eval_every=0 --set eval_sequences=4 --set checkpoint_every=3)
SAMPLE=(sample --count 1 --steps 2 --device cpu)

declare -A TRIED CLEAN OK SILENT CRASH HANG LOST
CATEGORIES=()
DETAILS="$W/details.md"
: >"$DETAILS"

outcome() { # rc stderr-file expect → prints the class
  local rc=$1 err=$2 expect=$3
  if [ "$rc" -eq 124 ]; then echo hang
  elif grep -qE '^\s+at |bug:' "$err"; then echo crash
  elif [ "$rc" -eq 2 ] && [ "$(grep -c . "$err")" -eq 1 ] && grep -q '^lddm: ' "$err"; then echo clean
  elif [ "$rc" -eq 0 ] && [ "$expect" = clean ]; then echo silent
  elif [ "$rc" -eq 0 ]; then echo ok
  else echo crash
  fi
}

record() { # category name class rc stderr-file
  local cat=$1 name=$2 class=$3 rc=$4 err=$5
  if [ -z "${TRIED[$cat]+x}" ]; then
    CATEGORIES+=("$cat"); TRIED[$cat]=0; CLEAN[$cat]=0; OK[$cat]=0; SILENT[$cat]=0; CRASH[$cat]=0; HANG[$cat]=0; LOST[$cat]=0
  fi
  TRIED[$cat]=$((TRIED[$cat] + 1))
  case $class in
    clean) CLEAN[$cat]=$((CLEAN[$cat] + 1)) ;;
    ok) OK[$cat]=$((OK[$cat] + 1)) ;;
    silent) SILENT[$cat]=$((SILENT[$cat] + 1)) ;;
    crash) CRASH[$cat]=$((CRASH[$cat] + 1)) ;;
    hang) HANG[$cat]=$((HANG[$cat] + 1)) ;;
    lost) LOST[$cat]=$((LOST[$cat] + 1)) ;;
  esac
  local line
  line=$(grep -m1 . "$err" | cut -c1-220 | sed 's/|/\\|/g; s/\/tmp\/lddm-reliability-[A-Za-z0-9]*/$W/g')
  echo "| $cat | $name | $rc | $class | ${line:-} |" >>"$DETAILS"
}

attack() { # category name expect(clean|ok|either) command...
  local cat=$1 name=$2 expect=$3; shift 3
  [ "$1" = lddm ] && { shift; set -- dotnet "$DLL" "$@"; }
  (cd "$W" && timeout 120 "$@") >"$W/out" 2>"$W/err"
  local rc=$?
  record "$cat" "$name" "$(outcome $rc "$W/err" "$expect")" "$rc" "$W/err"
}

loads() { lddm "${SAMPLE[@]}" --checkpoint "$1" >/dev/null 2>"$W/load-err"; }
flip() { # file offset bit
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\x$(printf %02x $((b ^ (1 << $3))))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
header_end() { echo $((8 + $(od -An -tu8 -N8 "$1" | tr -d ' '))); }

echo "reliability: training the victim runs"
(cd "$W" && lddm "${TINY[@]}" --steps 12 --out victim >/dev/null 2>&1) || { echo "victim run failed" >&2; exit 1; }
SNAP="$W/victim/$(cat "$W/victim/latest")"
fresh() { rm -rf "$W/v"; cp -r "$W/victim" "$W/v"; echo "$W/v/$(basename "$SNAP")"; }

echo "reliability: config and flags"
printf '{"steps": NaN}' >"$W/nan.json"; printf '' >"$W/empty.json"; printf 'null' >"$W/null.json"
printf '{"steps": 5, "steps": 6}' >"$W/dup.json"; printf '{"init": null}' >"$W/nullkey.json"; printf '{"steps": 5' >"$W/trunc.json"
printf '[1, 2]' >"$W/array.json"; printf '{"stepz": 5}' >"$W/unknown.json"; printf '{"steps": "ten"}' >"$W/type.json"
printf '{"learning_rate": Infinity}' >"$W/inf.json"; printf '\xff\xfe{}' >"$W/binary.json"; mkdir -p "$W/dir.json"
for f in nan empty null dup nullkey trunc array unknown type inf binary dir missing; do
  attack config "--config $f.json" clean lddm train --config "$f.json" --out "cfg-$f"
done
attack config "--model mdlm --stage 2" clean lddm train --model mdlm --stage 2 --out s2
attack config "--steps -40" clean lddm train --steps -40 --out neg
attack config "--steps 99999999999" clean lddm train --steps 99999999999 --out big
attack config "--set learning_rate=NaN" clean lddm train --set learning_rate=NaN --out lr
attack config "--set steps=null" clean lddm train --set steps=null --out sn
attack config "--set nope=1" clean lddm train --set nope=1 --out nope
attack config "--preset huge" clean lddm train --preset huge --out ph
attack config "--device tpu" clean lddm train --device tpu --out dev
attack config "--batch 4096 --length 4096 --preset base (memory)" clean lddm train --batch 4096 --length 4096 --preset base --out mem
attack config "--resume without --out" clean lddm train --resume
attack config "sample --temperature abc" clean lddm sample --checkpoint victim --temperature abc
attack config "sample --count -1" clean lddm sample --checkpoint victim --count -1
attack config "sample --checkpoint missing" clean lddm sample --checkpoint missing
attack config "sample --temperature 1,5 (comma)" clean lddm sample --checkpoint victim --temperature 1,5
attack config "sample --seed -1" clean lddm sample --checkpoint victim --seed -1
attack config "train --stepz 5 (typo)" clean lddm train --stepz 5
attack config "verb typo: trian" clean lddm trian
printf 'Call me Ishmael.' >"$W/short.txt"; : >"$W/empty.txt"
attack config "train --corpus short.txt" clean lddm train --corpus short.txt --out short
attack config "train --corpus empty.txt" clean lddm train --corpus empty.txt --out emptytext
attack config "train --corpus missing.txt" clean lddm train --corpus missing.txt --out missingtext

echo "reliability: --out folders"
touch "$W/a-file"
attack out "--out is a file" clean lddm "${TINY[@]}" --steps 3 --out a-file
attack out "--out under /proc" clean lddm "${TINY[@]}" --steps 3 --out /proc/lddm-run
attack out "--out under a file" clean lddm "${TINY[@]}" --steps 3 --out a-file/run
attack out "--out not empty, no --resume" clean lddm "${TINY[@]}" --steps 3 --out victim
cp -r "$W/victim" "$W/resumable"
attack out "--resume with another --batch" clean lddm train --out resumable --resume --batch 8
attack out "--resume with --steps 6 < saved step 12" clean lddm train --out resumable --resume --steps 6
attack out "--resume alone (finished run)" ok lddm train --out resumable --resume
attack out "--resume --steps 15 (extend a finished run)" ok lddm train --out resumable --resume --steps 15
attack out "--resume on an empty folder" ok lddm "${TINY[@]}" --steps 3 --out empty-run --resume

echo "reliability: crafted checkpoints"
crafted() { # name command-that-damages-$S ; then sample must refuse cleanly
  local name=$1; shift
  S=$(fresh); eval "$*"
  attack checkpoint "$name" clean lddm "${SAMPLE[@]}" --checkpoint v
}
crafted "model.safetensors missing" 'rm "$S/model.safetensors"'
crafted "model.safetensors is a directory" 'rm "$S/model.safetensors"; mkdir "$S/model.safetensors"'
crafted "ema.safetensors empty" ': >"$S/ema.safetensors"'
crafted "state.json missing" 'rm "$S/state.json"'
crafted "state.json without ema_updates" 'sed -i "/ema_updates/d" "$S/state.json"'
crafted "state.json step -40" 'sed -i "s/\"step\": 12/\"step\": -40/" "$S/state.json"'
crafted "state.json optimizer_steps 2^31-1" 'sed -i "s/\"optimizer_steps\": 12/\"optimizer_steps\": 2147483647/" "$S/state.json"'
crafted "state.json format_version 99" 'sed -i "s/\"format_version\": 1/\"format_version\": 99/" "$S/state.json"'
crafted "state.json is null" 'printf null >"$S/state.json"'
crafted "latest names ../.." 'echo ../.. >"$W/v/latest"'
crafted "latest is empty" ': >"$W/v/latest"'
crafted "latest is a directory" 'rm "$W/v/latest"; mkdir "$W/v/latest"'
crafted "dtype F32 -> F64 in the header" 'sed -i "0,/\"F32\"/s//\"F64\"/" "$S/model.safetensors"'
crafted "dtype F32 -> I32 in the header, hash recomputed" 'sed -i "0,/\"F32\"/s//\"I32\"/" "$S/model.safetensors"; h=$(sha256sum "$S/model.safetensors" | cut -c1-64); sed -i "s/\"model.safetensors\": \"[0-9a-f]*\"/\"model.safetensors\": \"$h\"/" "$S/state.json"'
crafted "invalid UTF-8 in the header" 'printf "\xff" | dd of="$S/model.safetensors" bs=1 seek=12 conv=notrunc status=none'
crafted "header length 2^63" 'printf "\x00\x00\x00\x00\x00\x00\x00\x80" | dd of="$S/model.safetensors" bs=1 seek=0 conv=notrunc status=none'
crafted "NaN weight, hash recomputed" 'e=$(header_end "$S/model.safetensors"); printf "\x00\x00\xc0\x7f" | dd of="$S/model.safetensors" bs=1 seek=$((e + 40)) conv=notrunc status=none; h=$(sha256sum "$S/model.safetensors" | cut -c1-64); sed -i "s/\"model.safetensors\": \"[0-9a-f]*\"/\"model.safetensors\": \"$h\"/" "$S/state.json"'
crafted "+Inf EMA weight, hash recomputed" 'e=$(header_end "$S/ema.safetensors"); printf "\x00\x00\x80\x7f" | dd of="$S/ema.safetensors" bs=1 seek=$((e + 400)) conv=notrunc status=none; h=$(sha256sum "$S/ema.safetensors" | cut -c1-64); sed -i "s/\"ema.safetensors\": \"[0-9a-f]*\"/\"ema.safetensors\": \"$h\"/" "$S/state.json"'
S=$(fresh); e=$(header_end "$S/optimizer.safetensors"); printf "\x00\x00\xc0\x7f" | dd of="$S/optimizer.safetensors" bs=1 seek=$((e + 8)) conv=notrunc status=none
h=$(sha256sum "$S/optimizer.safetensors" | cut -c1-64); sed -i "s/\"optimizer.safetensors\": \"[0-9a-f]*\"/\"optimizer.safetensors\": \"$h\"/" "$S/state.json"
attack checkpoint "NaN optimizer moment, then --resume" clean lddm train --out v --resume --steps 15

echo "reliability: $N header, $N data bit flips and $N truncations"
files=(model.safetensors ema.safetensors optimizer.safetensors)
for kind in header data truncation; do
  for ((i = 0; i < N; i++)); do
    S=$(fresh); f="$S/${files[RANDOM % 3]}"; size=$(stat -c %s "$f"); e=$(header_end "$f")
    case $kind in
      header) off=$((8 + (RANDOM * 32768 + RANDOM) % (e - 8))); flip "$f" $off $((RANDOM % 8)); what="$(basename "$f") header bit flip at $off" ;;
      data) off=$((e + (RANDOM * 32768 + RANDOM) % (size - e))); flip "$f" $off $((RANDOM % 8)); what="$(basename "$f") data bit flip at $off" ;;
      truncation) off=$(((RANDOM * 32768 + RANDOM) % size)); truncate -s $off "$f"; what="$(basename "$f") truncated to $off bytes" ;;
    esac
    # A resume reads all three tensor files (sample reads only model and ema).
    attack "$kind mutations" "$what" clean lddm train --out v --resume --steps 13
  done
done

echo "reliability: kill -9 at random moments, then --resume"
(cd "$W" && lddm "${TINY[@]}" --steps 30 --out straight >/dev/null 2>&1)
ref="$W/straight/$(cat "$W/straight/latest")"
for ((k = 0; k < 8; k++)); do
  run="$W/killed-$k"
  args=("${TINY[@]}" --steps 30 --out "killed-$k")
  fault=""
  [ $k -eq 0 ] && fault="snapshot-file@1"    # inside the first save
  [ $k -eq 1 ] && fault="snapshot-renamed@1" # after the first snapshot's rename, before its pointer
  [ $k -eq 2 ] && fault="snapshot-file@8"    # inside a later save
  kills=0
  for ((round = 0; round < 3; round++)); do
    if [ -n "$fault" ] && [ $round -eq 0 ]; then
      (cd "$W" && LDDM_FAULT=$fault timeout 120 dotnet "$DLL" "${args[@]}"; echo $? >"$W/rc") >/dev/null 2>&1
      r=$(cat "$W/rc")
    else
      (cd "$W" && exec dotnet "$DLL" "${args[@]}") >/dev/null 2>&1 &
      pid=$!
      sleep "0.$((2 + RANDOM % 9))"
      kill -9 $pid 2>/dev/null
      wait $pid 2>/dev/null
      r=$?
    fi
    [ "$r" -eq 137 ] && kills=$((kills + 1)) # 128 + SIGKILL: the process died there (else it had already exited)
    # A bare --resume once the run has saved its config; before that (killed during start-up) its flags again.
    if [ -e "$run/run.json" ]; then args=(train --out "killed-$k" --resume); else args=("${TINY[@]}" --steps 30 --out "killed-$k" --resume); fi
  done
  (cd "$W" && timeout 120 dotnet "$DLL" train --out "killed-$k" --resume) >"$W/out" 2>"$W/err"
  rc=$?
  class=$(outcome $rc "$W/err" ok)
  if [ "$class" = ok ]; then
    snap="$run/$(cat "$run/latest")"
    for f in model.safetensors ema.safetensors optimizer.safetensors state.json; do
      cmp -s "$ref/$f" "$snap/$f" || { class=lost; echo "$f differs" >"$W/err"; }
    done
  fi
  record "kill -9 + resume" "run $k: $kills SIGKILLs (first ${fault:-at a random time}), then --resume; files vs uninterrupted" "$class" $rc "$W/err"
done

echo "reliability: SIGINT, then --resume"
LONG=("${TINY[@]}" --steps 400 --set checkpoint_every=100)
(cd "$W" && dotnet "$DLL" "${LONG[@]}" --out straight-long >/dev/null 2>&1)
set -m # a job-controlled background process does not ignore SIGINT
(cd "$W" && exec dotnet "$DLL" "${LONG[@]}" --out interrupted) >"$W/int-out" 2>"$W/int-err" &
pid=$!
set +m
t=0
while [ $t -lt 1200 ] && ! grep -q '^step ' "$W/int-out"; do sleep 0.05; t=$((t + 1)); done # training has begun
sleep "0.$((RANDOM % 10))"
kill -INT $pid 2>/dev/null; wait $pid; rc=$?
stopped=$(grep -o 'stopped at step [0-9]*' "$W/int-out")
(cd "$W" && timeout 120 dotnet "$DLL" train --out interrupted --resume) >"$W/out" 2>"$W/err"
rc2=$?
class=$(outcome $rc2 "$W/err" ok)
[ $rc -eq 130 ] || class=crash
snap="$W/interrupted/$(cat "$W/interrupted/latest")"
ref="$W/straight-long/$(cat "$W/straight-long/latest")"
for f in model.safetensors ema.safetensors optimizer.safetensors state.json; do
  cmp -s "$ref/$f" "$snap/$f" || class=lost
done
echo "first run exit $rc (130 = stopped and saved; ${stopped:-no stop line})" >"$W/err"
record "SIGINT + resume" "Ctrl+C during training, then --resume; files vs uninterrupted" "$class" $rc2 "$W/err"

echo "reliability: concurrent runs on one --out"
for n in 2 3; do
  dir="shared-$n"
  (cd "$W" && exec dotnet "$DLL" "${TINY[@]}" --steps 300 --set checkpoint_every=100 --out "$dir") >"$W/first-out" 2>"$W/first-err" &
  first=$!
  t=0
  while [ $t -lt 300 ] && [ ! -e "$W/$dir/lddm.pid" ]; do sleep 0.05; t=$((t + 1)); done
  for ((j = 1; j < n; j++)); do
    attack concurrent "run $((j + 1)) of $n on one --out" clean lddm "${TINY[@]}" --steps 300 --out "$dir" --resume
  done
  wait $first; rc=$?
  class=clean
  if [ $rc -ne 0 ] || ! loads "$W/$dir"; then class=lost; fi
  echo "first run exit $rc; its checkpoint $( [ $class = lost ] && echo 'does not load' || echo 'loads and verifies')" >"$W/err"
  record concurrent "the first of $n runs finishes intact" "$([ $class = lost ] && echo lost || echo ok)" $rc "$W/err"
done

total() { local s=0 c; for c in "${CATEGORIES[@]}"; do s=$((s + $(eval echo "\${$1[\$c]}"))); done; echo $s; }
{
  echo "# Reliability: the attack table"
  echo
  echo "Regenerated by \`scripts/reliability.sh $N\` ($(date -u +%Y-%m-%d), $(nproc) cores, commit $(git rev-parse --short HEAD))."
  echo "Every case runs the real \`lddm\` and is classified from its exit code and stderr alone: *clean* = exit 2 with"
  echo "exactly one \`lddm: ...\` line; *ok* = exit 0 where working is right; *silent* = exit 0 where a refusal was"
  echo "required; *crash* = a stack trace, \`bug:\` or another exit code; *hang* = no exit in 120 s; *data lost* = the"
  echo "attacked run's checkpoint no longer loads or differs from an uninterrupted run's. Mutations and kill times come"
  echo "from a fixed seed."
  echo
  echo "| attack | cases tried | clean errors | ok | silently accepted | crashes | hangs | data lost |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${CATEGORIES[@]}"; do
    echo "| $c | ${TRIED[$c]} | ${CLEAN[$c]} | ${OK[$c]} | ${SILENT[$c]} | ${CRASH[$c]} | ${HANG[$c]} | ${LOST[$c]} |"
  done
  echo "| **total** | **$(total TRIED)** | **$(total CLEAN)** | **$(total OK)** | **$(total SILENT)** | **$(total CRASH)** | **$(total HANG)** | **$(total LOST)** |"
  echo
  echo "Not attacked here (covered by the test suite instead): a parameter turned NaN mid-run (the divergence guard,"
  echo "\`DivergenceAndResumeTests\`); 300 + 120 + 120 FsCheck mutations of the safetensors reader and the checkpoint loader"
  echo "in-process (\`CheckpointFuzzTests\`). Not attacked at all: a full disk (needs a size-limited mount) and an unwritable"
  echo "folder (the script may run as root, which ignores permissions; \`/proc\` stands in)."
  echo
  echo "## Every case"
  echo
  echo "| attack | case | exit | class | first stderr line |"
  echo "|---|---|---:|---|---|"
  cat "$DETAILS"
} >"$OUT"
echo "reliability: wrote $OUT"
grep -E '^\| \*\*total' "$OUT"
