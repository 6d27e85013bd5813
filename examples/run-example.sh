#!/usr/bin/env bash
# run-example.sh - the walkthrough of examples/README.md as a script: two VMs
# keep their guest RAM across a live update of the LiveUpdateFs emulator.
#
#     examples/run-example.sh [MOUNTPOINT]        (as root)
#
# MOUNTPOINT is where the emulator is mounted (default /run/liveupdatefs, what
# ./scripts/run and `liveupdatefs mount` use); the device is
# MOUNTPOINT/liveupdate. Build first: ./scripts/setup, or
# `make -C examples` once the rest of artifacts/ is built.
#
# Careful: the live update in step 4 ends EVERY process that holds an fd of
# this emulator, not only the example's, as a kexec ends every process.
#
# Steps:
#   1. start the agent (the single opener of the device)
#   2. start the VMMs "alpha" (64 MiB) and "beta" (16 MiB); each preserves
#      its guest RAM in its session and keeps running
#   3. show what the emulator holds
#   4. liveupdatefs reboot: freeze the sessions, end agent and VMMs, restart
#   5. start a new agent and the VMMs again: they get their sessions back,
#      check the guest RAM byte for byte, FINISH and exit 0
#   6. stop the new agent
# Exit status: 0 if every step checked out, 1 if one did not, 2 on bad usage.
# Nothing is left running, whatever happens.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lufs=$root/artifacts/bin/liveupdatefs
agent=$root/artifacts/examples/luo-agent
vmm=$root/artifacts/examples/vmm
mountpoint=${1:-/run/liveupdatefs}

say() { printf '%s\n' "$@"; }
# Milliseconds since the epoch.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' $((t / 1000)); }
step() { printf '\n==> %s\n' "$*"; }
usage_error() { say "run-example: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || usage_error "run me as root (liveupdatefs reboot needs root)"
for program in "$lufs" "$agent" "$vmm"; do
  [ -x "$program" ] || usage_error "$program is missing: run ./scripts/setup (or make -C examples)"
done
[ -e "$mountpoint/liveupdate" ] ||
  usage_error "no emulator at $mountpoint (start one: $lufs mount --mountpoint $mountpoint)"
mountpoint=$(cd "$mountpoint" && pwd -P)

# The programs open the device named by LIVEUPDATE_DEVICE (default /dev/liveupdate).
device=$mountpoint/liveupdate
work=$(mktemp -d "${TMPDIR:-/tmp}/luo-example.XXXXXX")
socket=$work/agent.sock

# ---------------------------------------------------------------------------
# Background programs. Each runs under `liveupdatefs run`, which sets up the
# preload library and then waits for the program as its child: $! is the pid
# of that wrapper, which exits with the program's status (137 after SIGKILL).

wrappers=()  # every wrapper started, for the clean-up
logs=()      # every log file, shown when something fails

# start LOG PROGRAM ARGS...: starts PROGRAM in the background; its wrapper pid is in $started.
start() {
  local log=$1
  shift
  LIVEUPDATE_DEVICE=$device "$lufs" run --mountpoint "$mountpoint" -- "$@" >"$log" 2>&1 &
  started=$!
  wrappers+=("$started")
  logs+=("$log")
}

# The pid of the program a wrapper runs (empty until the wrapper has started it).
program_of() {
  local children
  children=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
  printf '%s' "${children%% *}"
}

# running PID: 0 while the process runs (bash reaps its ended children).
running() { kill -0 "$1" 2>/dev/null; }

# wait_for_line LOG TEXT WRAPPER SECONDS: 0 once LOG has a line containing
# TEXT; 1 if the program ends first or the time runs out.
wait_for_line() {
  local log=$1 text=$2 wrapper=$3 deadline=$((SECONDS + $4))
  until grep -qF -- "$text" "$log"; do
    if ! running "$wrapper" || [ "$SECONDS" -ge "$deadline" ]; then
      grep -qF -- "$text" "$log"
      return
    fi
    sleep 0.1
  done
}

# wait_exit WRAPPER SECONDS: the program's exit status in $status, or 1 if it
# is still running after SECONDS.
wait_exit() {
  local wrapper=$1 deadline=$((SECONDS + $2))
  while running "$wrapper"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  status=0
  wait "$wrapper" || status=$?
}

# stop WRAPPER SIGNAL: sends SIGNAL to the program and reaps its wrapper.
stop() {
  local wrapper=$1 signal=$2 program tries=0
  while running "$wrapper" && [ "$tries" -lt 50 ]; do
    program=$(program_of "$wrapper")
    [ -z "$program" ] || kill -s "$signal" "$program" 2>/dev/null || true
    sleep 0.1
    tries=$((tries + 1))
  done
  # A wrapper that never started its program holds nothing of the emulator.
  if running "$wrapper"; then
    kill -s KILL "$wrapper" 2>/dev/null || true
  fi
  wait "$wrapper" 2>/dev/null || true
}

# show LOG: the program's output so far, indented.
show() { sed 's/^/    | /' "$1"; }

fail() {
  say "" "run-example: FAILED: $*" >&2
  for log in "${logs[@]}"; do
    say "--- $(basename "$log")" >&2
    show "$log" >&2
  done
  exit 1
}

cleanup() {
  for wrapper in "${wrappers[@]}"; do
    stop "$wrapper" KILL
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'say "run-example: interrupted" >&2; exit 1' INT TERM HUP

began=$(now_ms)
say "run-example: the emulator at $mountpoint, binaries from $root/artifacts"

# ---------------------------------------------------------------------------
step "1. start the agent: it opens $device and listens on $socket"
start "$work/agent-1.log" "$agent" serve "$socket"
agent1=$started
wait_for_line "$work/agent-1.log" "listening on" "$agent1" 30 || fail "the agent did not start"
show "$work/agent-1.log"

# ---------------------------------------------------------------------------
step "2. start the VMMs alpha (64 MiB) and beta (16 MiB); they preserve their guest RAM"
start "$work/alpha-1.log" "$vmm" alpha "$socket" 64
alpha1=$started
start "$work/beta-1.log" "$vmm" beta "$socket" 16
beta1=$started
wait_for_line "$work/alpha-1.log" "vmm alpha: guest RAM preserved (64 MiB)" "$alpha1" 60 ||
  fail "vmm alpha did not preserve its guest RAM (a session vm-alpha left over from an earlier run? see its output)"
wait_for_line "$work/beta-1.log" "vmm beta: guest RAM preserved (16 MiB)" "$beta1" 60 ||
  fail "vmm beta did not preserve its guest RAM"
show "$work/alpha-1.log"
show "$work/beta-1.log"
say "    the agent:"
show "$work/agent-1.log"

# ---------------------------------------------------------------------------
step "3. what the emulator holds now (liveupdatefs status)"
"$lufs" status --mountpoint "$mountpoint" | sed 's/^/    /' || fail "liveupdatefs status failed"

# ---------------------------------------------------------------------------
step "4. live update: liveupdatefs reboot --mountpoint $mountpoint"
rebooted=$(now_ms)
if ! "$lufs" reboot --mountpoint "$mountpoint" >"$work/reboot.log" 2>&1; then
  logs+=("$work/reboot.log")
  fail "liveupdatefs reboot failed"
fi
show "$work/reboot.log"
# The reboot SIGKILLs every process holding an emulator fd: the agent (device
# and session fds) and both VMMs (their session fds).
for pair in "agent:$agent1" "vmm alpha:$alpha1" "vmm beta:$beta1"; do
  name=${pair%:*}
  wait_exit "${pair##*:}" 10 || fail "the $name still runs after the reboot"
  [ "$status" -eq 137 ] || fail "the $name ended with status $status, not by the reboot's SIGKILL"
  say "    the $name was ended by the reboot (SIGKILL)"
done

# ---------------------------------------------------------------------------
step "5. the next boot: a new agent, then the VMMs again; they get their guest RAM back"
start "$work/agent-2.log" "$agent" serve "$socket"
agent2=$started
wait_for_line "$work/agent-2.log" "listening on" "$agent2" 30 || fail "the new agent did not start"
start "$work/alpha-2.log" "$vmm" alpha "$socket" 64
alpha2=$started
start "$work/beta-2.log" "$vmm" beta "$socket" 16
beta2=$started
for pair in "alpha:$alpha2:64" "beta:$beta2:16"; do
  IFS=: read -r name wrapper mib <<<"$pair"
  wait_exit "$wrapper" 60 || fail "vmm $name still runs after 60 s"
  [ "$status" -eq 0 ] || fail "vmm $name exited with status $status"
  grep -qF "vmm $name: guest RAM restored and verified ($mib MiB)" "$work/$name-2.log" ||
    fail "vmm $name exited 0 without \"guest RAM restored and verified ($mib MiB)\""
  show "$work/$name-2.log"
done
say "    the agent:"
show "$work/agent-2.log"
say "    from the reboot to both VMMs verified: $(($(now_ms) - rebooted)) ms"

# ---------------------------------------------------------------------------
step "6. stop the new agent (its session fds close: the finished sessions go away)"
stop "$agent2" TERM
"$lufs" status --mountpoint "$mountpoint" | sed 's/^/    /' || fail "liveupdatefs status failed"

say "" "run-example: OK: alpha and beta kept their guest RAM across the live update ($(($(now_ms) - began)) ms)"
