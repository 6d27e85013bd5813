# shellcheck shell=bash
# The chores the scripts in scripts/ share. Each script sources it first:
#   . "$(dirname "$0")/lib.sh"
# which changes to the repository root and sets the .NET CLI's environment.
#   lufs_setup                      builds (./scripts/setup) unless LIVEUPDATEFS_SKIP_SETUP=1
#   lufs_status / lufs_daemon_pid   a daemon's status.json, checked against docs/status.schema.json
#   lufs_wait / lufs_wait_daemon    polls until something is true / a daemon serves
#   lufs_test_category, lufs_log_once, lufs_test_error
#                                   a long NUnit category and what its log says
#   lufs_temp_dir, lufs_temp_mount, lufs_mount, lufs_unmount, lufs_on_exit
#                                   temporary folders and mounts, undone by one EXIT trap
#                                   (also after a failure or Ctrl-C)

lufs_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$lufs_root" || exit 1
lufs_script=${0##*/}
lufs_cli=$lufs_root/artifacts/bin/liveupdatefs
# shellcheck disable=SC2034 # for the scripts that source this file
lufs_preload=$lufs_root/artifacts/lib/libliveupdate-preload.so
# No first-run banner or telemetry notice in the scripts' output.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# ---- set-up -----------------------------------------------------------------
# LIVEUPDATEFS_SKIP_SETUP=1 skips the build (artifacts/ is built already). The
# per-script switches that came before it (BENCH_SKIP_SETUP, CHAOS_SKIP_SETUP,
# FAULTS_SKIP_SETUP, FUZZ_SKIP_SETUP, HOSTILE_SKIP_SETUP, LOAD_SKIP_SETUP) still
# skip their own script's.
lufs_skip_setup=${LIVEUPDATEFS_SKIP_SETUP:-0}
case $lufs_script in
bench | chaos | faults | fuzz | hostile | load)
  lufs_own_switch=${lufs_script^^}_SKIP_SETUP
  [ "${!lufs_own_switch:-0}" != 1 ] || lufs_skip_setup=1
  ;;
esac
lufs_setup() {
  [ "$lufs_skip_setup" = 1 ] || ./scripts/setup
}

# ---- status.json --------------------------------------------------------------
# lufs_status MOUNTDIR: the status.json of the daemon serving MOUNTDIR, when
# it matches docs/status.schema.json; otherwise says where it differs and fails.
lufs_status() {
  local doc problems
  # A daemon that does not answer is given 10 s (a read of a FUSE file waits for it).
  doc=$(timeout 10 cat "$1/status.json") || { echo "$lufs_script: no daemon answers $1/status.json" >&2; return 1; }
  if ! problems=$(jq -r -L "$lufs_root/scripts" --slurpfile schema "$lufs_root/docs/status.schema.json" \
    'include "json-schema"; schema_problems($schema[0])' <<<"$doc" 2>&1); then
    problems="not JSON: $problems"
  fi
  if [ -n "$problems" ]; then
    echo "$lufs_script: $1/status.json does not match docs/status.schema.json (a daemon of another version?):" >&2
    echo "  ${problems//$'\n'/$'\n'  }" >&2
    return 1
  fi
  printf '%s\n' "$doc"
}
# lufs_daemon_pid MOUNTDIR: the pid of the daemon serving MOUNTDIR.
lufs_daemon_pid() {
  local doc
  doc=$(lufs_status "$1") && jq -r .daemonPid <<<"$doc"
}

# ---- waiting ------------------------------------------------------------------
# lufs_wait SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds;
# fails when it has not within SECONDS.
lufs_wait() {
  local end=$((${EPOCHREALTIME//[!0-9]/} + $1 * 1000000))
  shift
  until "$@"; do
    [ "${EPOCHREALTIME//[!0-9]/}" -lt "$end" ] || return 1
    sleep 0.1
  done
}
# lufs_wait_daemon MOUNTDIR [SECONDS]: until a daemon serves MOUNTDIR (10 s at
# most), then checks its status.json.
lufs_wait_daemon() {
  lufs_wait "${2:-10}" timeout 2 test -e "$1/status.json" ||
    { echo "$lufs_script: no daemon serves $1 after ${2:-10} s" >&2; return 1; }
  lufs_status "$1" >/dev/null
}

# ---- the long NUnit categories (chaos, faults, hostile) ----------------------
# lufs_test_category CATEGORY LOG [PROGRESS-ERE]: runs the NUnit tests of
# CATEGORY with the detailed logger (it shows each test's own output) into
# LOG, and shows the lines that match PROGRESS-ERE as they come; returns
# dotnet test's status.
lufs_test_category() {
  local run=(dotnet test tests/LiveUpdateFs.Tests -c Release --nologo --filter "TestCategory=$1"
    --logger "console;verbosity=detailed")
  if [ -z "${3:-}" ]; then
    "${run[@]}" >"$2" 2>&1
    return
  fi
  "${run[@]}" 2>&1 | tee "$2" | grep --line-buffered -E "$3"
  return "${PIPESTATUS[0]}"
}
# lufs_log_once ERE LOG: LOG's lines that match ERE, unindented, each once
# (the detailed logger repeats a test's output).
lufs_log_once() {
  grep -E "$1" "$2" | sed 's/^ *//' | awk '!seen[$0]++' || true
}
# lufs_test_error LOG LINES: the error message of LOG's first failed test, at
# most LINES lines of it.
lufs_test_error() {
  awk '/^ *Error Message:/{p=1} /^ *Stack Trace:/{exit} p' "$1" | head -"$2"
}

# ---- clean-up on exit -------------------------------------------------------
lufs_exit_hooks=() # the scripts' own clean-up commands, run first
lufs_mounts=()     # mountpoints, unmounted next (added before mounting)
lufs_temp_dirs=()  # removed last
lufs_exit() {
  set +e
  local hook mnt dir
  for hook in "${lufs_exit_hooks[@]}"; do eval "$hook"; done
  for mnt in "${lufs_mounts[@]}"; do lufs_unmount "$mnt"; done
  for dir in "${lufs_temp_dirs[@]}"; do rm -rf "$dir"; done
}
# The trap is set by the first thing to undo: scripts with nothing to undo
# keep bash's own handling of EXIT and signals.
lufs_trap_set=
lufs_set_trap() {
  [ -z "$lufs_trap_set" ] || return 0
  lufs_trap_set=1
  trap lufs_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
# lufs_on_exit COMMAND: a clean-up of the script's own, run on exit before the
# mounts are undone (COMMAND is one string, evaluated then).
lufs_on_exit() {
  lufs_set_trap
  lufs_exit_hooks+=("$1")
}
# lufs_temp_dir VAR [PARENT]: a new folder under PARENT (TMPDIR, or /tmp),
# removed on exit; its path goes into VAR.
lufs_temp_dir() {
  local lufs_new_dir
  lufs_new_dir=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/lufs-$lufs_script-XXXXXX")
  lufs_set_trap
  lufs_temp_dirs+=("$lufs_new_dir")
  printf -v "$1" '%s' "$lufs_new_dir"
}
# lufs_unmount_on_exit MOUNTDIR: whatever mounts MOUNTDIR is unmounted on exit.
lufs_unmount_on_exit() {
  lufs_set_trap
  lufs_mounts+=("$1")
}
# lufs_mount MOUNTDIR STORE [MOUNT-OPTIONS...]: mounts a daemon (no device
# link), waits until it serves, and unmounts it on exit.
lufs_mount() {
  lufs_unmount_on_exit "$1"
  "$lufs_cli" mount --mountpoint "$1" --store "$2" --link none "${@:3}" >/dev/null
  lufs_wait_daemon "$1"
}
# lufs_temp_mount VAR [MOUNT-OPTIONS...]: lufs_mount on a new temporary folder
# DIR (in VAR): the mount is DIR/mnt, the store DIR/store; both go on exit.
lufs_temp_mount() {
  lufs_temp_dir "$1"
  lufs_mount "${!1}/mnt" "${!1}/store" "${@:2}"
}
# lufs_unmount MOUNTDIR: stops the daemon serving MOUNTDIR and unmounts it,
# whatever state it is in, and forgets it for the exit clean-up. A daemon
# that does not stop on request loses its mount and gets SIGTERM, if
# status.json named it and that pid still runs our binary (a stale pid may
# name another process by now).
lufs_unmount() {
  local mnt=$1 pid m kept=()
  pid=$(lufs_daemon_pid "$mnt" 2>/dev/null) || pid=
  if ! "$lufs_cli" unmount --mountpoint "$mnt" >/dev/null 2>&1; then
    fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$lufs_cli" ]; then
      kill "$pid" 2>/dev/null || true
    fi
  fi
  for m in "${lufs_mounts[@]}"; do
    [ "$m" = "$mnt" ] || kept+=("$m")
  done
  lufs_mounts=("${kept[@]}")
}
