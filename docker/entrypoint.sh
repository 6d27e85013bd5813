#!/bin/bash
# The container's entrypoint (PID 1): checks what the emulator needs from
# `docker run`, mounts /dev/liveupdate, runs the command (default: bash) as a
# child under `liveupdatefs run` and stays to stop the emulator properly:
#
#   docker stop (SIGTERM) -> `liveupdatefs unmount`: the daemon freezes every
#   open outgoing session into the store volume FIRST, then the command gets
#   SIGTERM. The next `docker start` mounts the same store and boots into the
#   handed-over sessions, as after a live update.
#
# The same unmount runs when the command exits on its own (sessions kept open
# by processes it left behind are handed over too). As PID 1 it also reaps
# the orphans: the daemon, which `mount` and `reboot` start detached, and the
# processes `reboot` ends.
set -u

store=${LIVEUPDATEFS_STORE:-/var/lib/liveupdatefs}
mountpoint=${LIVEUPDATEFS_MOUNTPOINT:-/run/liveupdatefs}
me=liveupdatefs-entrypoint
run_line="docker run --device /dev/fuse --cap-add SYS_ADMIN --cap-add SYS_PTRACE -v liveupdatefs-store:$store IMAGE"

say() { echo "$me: $*" >&2; }

# ---- what `docker run` must grant -------------------------------------------
problems=()
# CapEff bits (linux/capability.h): 19 = CAP_SYS_PTRACE, 21 = CAP_SYS_ADMIN.
cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
has_cap() { (( (16#${cap_eff:-0} >> $1) & 1 )); }

if [ ! -c /dev/fuse ]; then
  problems+=("/dev/fuse is missing: run with --device /dev/fuse (the FUSE device the emulator serves /dev/liveupdate through)")
elif ! ( : <>/dev/fuse ) 2>/dev/null; then
  problems+=("/dev/fuse cannot be opened: pass it with --device /dev/fuse (a bind mount -v /dev/fuse is not allowed by the device cgroup)")
fi
has_cap 21 || problems+=("CAP_SYS_ADMIN is missing: run with --cap-add SYS_ADMIN (mounting the FUSE file system needs it)")
has_cap 19 || problems+=("CAP_SYS_PTRACE is missing: run with --cap-add SYS_PTRACE (the daemon reads and writes the callers' ioctl structs with process_vm_readv/writev and takes preserved fds with pidfd_getfd)")

if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do say "$p"; done
  say "run the image as: $run_line"
  exit 2
fi

# ---- signals -----------------------------------------------------------------
# Set before the mount: a docker stop that comes while it runs is kept and
# honoured once the node serves.
stop_requested=
on_signal() {
  # Ctrl-C on a terminal reaches the whole foreground process group, the
  # command included, which handles it itself (an interactive shell just
  # drops the line): the emulator keeps serving. A SIGINT sent to PID 1
  # alone (docker kill -s INT, the client's signal proxy) stops like SIGTERM.
  if [ "$1" = INT ] && [ -t 0 ]; then
    return
  fi
  stop_requested=$1
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

# ---- mount -------------------------------------------------------------------
# Returns once the node serves; the daemon runs detached (our child's child,
# so an orphan we reap) and logs to $store/liveupdatefs.log.
if ! liveupdatefs mount --mountpoint "$mountpoint" --store "$store" >&2; then
  say "mounting the emulator failed (see above; the daemon's log is $store/liveupdatefs.log)"
  say "if mount(2) was refused although the flags are given, the host's security profile forbids it:"
  say "on AppArmor hosts (Ubuntu) add --security-opt apparmor=unconfined"
  exit 1
fi

if [ -n "$stop_requested" ]; then
  say "SIG$stop_requested before the command started: stopping the emulator"
  liveupdatefs unmount --mountpoint "$mountpoint" >&2
  exit 143
fi

# ---- the command ---------------------------------------------------------------
[ $# -gt 0 ] || set -- bash

# A background job of a non-interactive shell starts with SIGINT and SIGQUIT
# ignored and stdin from /dev/null; undo both so the command behaves as in the
# foreground (Ctrl-C, an interactive shell on -it).
# The command runs under `liveupdatefs run`: its seccomp filter,
# inherited by everything the command starts, has the daemon serve the
# fd-returning requests of any program, also static ones, Go programs and raw
# syscall(SYS_ioctl) callers, which /etc/ld.so.preload cannot reach. run execs
# the command in place, so $child is the command's pid, as before. `docker
# exec` starts outside this tree: `docker exec CONTAINER liveupdatefs run --
# PROGRAM` for static programs there.
( trap - INT QUIT; exec liveupdatefs run --mountpoint "$mountpoint" -- "$@" ) <&0 &
child=$!

# `wait` returns when the command exits, or early (status > 128) when a
# trapped signal arrives; bash reaps every other child (orphans) meanwhile.
while :; do
  wait "$child"
  status=$?
  if [ -n "$stop_requested" ] || ! kill -0 "$child" 2>/dev/null; then
    break
  fi
done

# ---- stop: freeze first, then end the command ------------------------------------
# The freeze must see the sessions the command still holds, so the daemon
# stops (and hands them over) before the command is told to end.
if [ -n "$stop_requested" ]; then
  say "SIG$stop_requested: freezing the open sessions into $store for the next start"
else
  say "the command exited with $status; stopping the emulator (open sessions are handed over to the next start)"
fi
liveupdatefs unmount --mountpoint "$mountpoint" >&2 || say "unmount failed; the next start boots into the last committed state"

# SIGTERM; an interactive shell ignores it but ends on SIGHUP (its terminal
# went away); SIGKILL after 3 s (docker stop would kill everything soon anyway).
alive() { kill -0 "$child" 2>/dev/null; }
wait_gone() { # up to $1 tenths of a second
  local i
  for ((i = 0; i < $1; i++)); do alive || return 0; sleep 0.1; done
  return 1
}
if alive; then
  kill -TERM "$child" 2>/dev/null
  wait_gone 10 || { kill -HUP "$child" 2>/dev/null; wait_gone 20; } || kill -KILL "$child" 2>/dev/null
  wait "$child" 2>/dev/null
  status=$?
fi
exit "$status"
