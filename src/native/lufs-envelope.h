/*
 * The private hand-over between libliveupdate-preload.so and the
 * liveupdatefs daemon. Not part of the LUO uAPI.
 *
 * FUSE cannot install a file descriptor in the calling process, so the three
 * fd-returning LUO requests (CREATE_SESSION, RETRIEVE_SESSION, RETRIEVE_FD)
 * are completed in two steps by the preload library, from the thread that
 * made the request:
 *
 *   PREPARE  ioctl(fd, LUFS_ENVELOPE_REQUEST, &env) with the caller's own
 *            request and argument inside (for a session on a mount met
 *            before, the short form LUFS_PREPARE_SESSION below). The daemon
 *            decodes and runs the request exactly as the kernel would and,
 *            on success, leaves a result waiting under env.ticket for this
 *            thread alone:
 *              - a session: on the node env.node_name next to the device
 *                node. installed_fd carries the fd number the library holds
 *                reserved (an O_PATH fd of its own, taken before PREPARE):
 *                the daemon writes the caller's struct back with it now, as
 *                the kernel copies the struct back before it installs the
 *                fd (EFAULT: PREPARE fails and the session is undone);
 *              - a file: sent over env.channel_fd (SCM_RIGHTS).
 *   open     (a session) the library opens the node, O_CLOEXEC, with the
 *            access mode of the fd the request came on (a read-only device
 *            fd, --device-mode 0640, gives a read-only session fd), and
 *            moves the new fd onto the reserved number (dup3 onto its
 *            reserved fd; where that fd was the only free number it is
 *            closed first, and if another thread's fds moved meanwhile the
 *            library writes the number the session got into the struct).
 *            The open is the commit: the open file owns the session. The node's entry and attributes never change while the
 *            daemon serves, so the kernel keeps them: after the first use of
 *            a node number the open is one OPEN request, and the whole
 *            CREATE_SESSION + close three (PREPARE, OPEN, RELEASE).
 *   COMMIT   (a file) the library reports the fd it received; the daemon
 *            writes the caller's struct back with it and returns the final
 *            result. If COMMIT fails, the library closes that fd.
 *            (any result) when installing failed (the open of the node
 *            failed, no file arrived), install_errno says why: the daemon
 *            undoes the result and answers that errno. (A session's struct
 *            then holds the reserved number, which is closed again: only
 *            for errors the kernel cannot have at that step, such as
 *            ENFILE at the open or a daemon that died.)
 *
 * The library initialises answered to 0; the daemon sets it on every envelope
 * it handles, so an error from PREPARE/COMMIT is the LUO result, not a sign
 * of a foreign file. A result the requesting thread never takes is undone
 * when that thread exits. The daemon decides every result; the library only
 * moves descriptors.
 * The layout is fixed (checked by _Static_assert and by the daemon's tests).
 */
#ifndef LUFS_ENVELOPE_H
#define LUFS_ENVELOPE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* nr 0xEF is outside both LUO ranges: a kernel device answers EINVAL. */
#define LUFS_ENVELOPE_REQUEST	_IO(0xBA, 0xEF)
#define LUFS_ENVELOPE_MAGIC	0x4c55464553454e56ULL	/* "LUFSENV" */
#define LUFS_ENVELOPE_VERSION	1

enum lufs_envelope_phase {
	/*
	 * Does a LiveUpdateFs daemon serve this file? Any phase the daemon does
	 * not know is answered EINVAL with answered set, on the device, session
	 * and control nodes alike; the library sends this one before a request
	 * that is not an envelope (PRESERVE_FD, GET_NAME, ...) on a mount it has
	 * not met, to learn which mount answers its frozen-size questions.
	 */
	LUFS_PHASE_PROBE = 0,
	LUFS_PHASE_PREPARE = 1,
	LUFS_PHASE_COMMIT = 2,
	/*
	 * Is the file behind channel_fd (one of the caller's fds) frozen by a
	 * preservation (spec 8.2)? Sent on the mount's control node
	 * LUFS_CONTROL_NODE; answers 0 (not frozen) or EPERM (frozen). The
	 * library asks before ftruncate/fallocate on an unlinked tmpfs file.
	 */
	LUFS_PHASE_QUERY_FROZEN = 3,
	/*
	 * `liveupdatefs reboot`: freeze every outgoing session (spec 7 step 1);
	 * root or the daemon's user only (EPERM). Sent on LUFS_CONTROL_NODE;
	 * request is LUFS_FREEZE_IN_PLACE or LUFS_FREEZE_DURABLE; channel_fd
	 * is a terminal for progress lines, or -1. Answers 0 or the errno that
	 * stopped the freeze (then nothing changed). On success the daemon
	 * holds every later LUO request until the restart or until the freeze
	 * is called off (the sender ends, or stays silent past the daemon's
	 * --freeze-timeout), and reports installed_fd = sessions, install_errno
	 * = files, ticket = bytes frozen. arg: the boot (status.json's "boot"
	 * as a number) the sender means, or 0; another boot -> ESTALE. EBUSY
	 * with node_name "reboot": another reboot owns this boot; EBUSY
	 * otherwise: a writer of a preserved memfd would not stop.
	 */
	LUFS_PHASE_FREEZE = 4,
	/*
	 * After FREEZE (and the end of the holders), from the same process:
	 * the daemon commits the generation, answers, unmounts and execs
	 * itself into the next boot (in place with the memfds still open).
	 * EINVAL without a freeze, EBUSY from another process; a failed
	 * commit calls the freeze off and returns its errno.
	 */
	LUFS_PHASE_RESTART = 5,
	/*
	 * `liveupdatefs run` (not the library): channel_fd is the listener of
	 * the seccomp user-notification filter the sender has just installed on
	 * itself; the daemon takes it (pidfd_getfd) and from then on answers the
	 * trapped calls of the sender's process tree, for processes of the
	 * sender's user only (root: all). Sent on LUFS_CONTROL_NODE. Answers 0,
	 * EINVAL (not a seccomp listener), EMFILE (the daemon serves too many
	 * listeners of this user) or the errno of taking the fd.
	 */
	LUFS_PHASE_SERVE_LISTENER = 6,
};

/*
 * The short forms of a session's hand-over, for a mount whose daemon has
 * answered an envelope before (the library knows it by its unique mount
 * id): the request value carries what the envelope would, in its nr and
 * size bits (direction none: FUSE copies nothing), and the ioctl's return
 * value answers; no envelope is read or written.
 *
 *   ioctl(fd, LUFS_PREPARE_SESSION(nr, reserved_fd), arg): PREPARE of the
 *     caller's CREATE_SESSION (nr 0x00) or RETRIEVE_SESSION (nr 0x01) with
 *     its own arg; reserved_fd (at most LUFS_SHORT_FD_MAX) is the fd number
 *     the library holds reserved. Returns the number of the session's node
 *     (LUFS_SESSION_NODE_PREFIX + the number in lower-case hex), the struct
 *     written back, or -1 with the request's errno.
 *   ioctl(fd, LUFS_ABORT_SESSION(err), node): that node could not be
 *     opened (err): the daemon undoes the session; returns -1 with err.
 *
 * The daemon serves them only for a thread that has sent an envelope
 * PREPARE before (it forgets threads without a hand-over beyond the last
 * 64); for any other they are what they are on the kernel: nr 0xE0-0xE2 are
 * outside both LUO ranges, EINVAL. So a short PREPARE answered EINVAL is
 * sent again as an envelope, whose answer stands. The size bits are never
 * 0, so a plain _IO(0xBA, 0xE0) is an unknown nr for every thread.
 */
#define LUFS_PREPARE_SESSION(nr, reserved_fd)	_IOC(_IOC_NONE, 0xBA, 0xE0 + (nr), (reserved_fd) + 1)
#define LUFS_ABORT_SESSION(err)			_IOC(_IOC_NONE, 0xBA, 0xE2, (err))
#define LUFS_SHORT_FD_MAX			(_IOC_SIZEMASK - 1)

/* FREEZE's request field. */
#define LUFS_FREEZE_IN_PLACE	0	/* memfds kept open across an exec of the daemon */
#define LUFS_FREEZE_DURABLE	1	/* memfd data copied into the store and fsynced */

/* Multi-open node beside the device node, for requests that need no session. */
#define LUFS_CONTROL_NODE	".lufs-control"

/*
 * Read-only node beside the device node: the daemon's pid in decimal followed
 * by "\n", and nothing else ("4711\n"); mode as status.json (readable by whoever
 * may open the device), regular file, on the same mount. Opening and reading it
 * costs the daemon nothing beyond the answer (no scan of processes, unlike
 * status.json, which the library never opens). The library reads it (open,
 * read, close) only to name the daemon as its ptracer (PR_SET_PTRACER), i.e.
 * where Yama's ptrace_scope is 1 and the node's owner (the daemon's user) is
 * not root: once per process and mount (a restarted daemon has a new mount
 * and pid), and after each fork.
 */
#define LUFS_DAEMON_NODE	".lufs-daemon"

/*
 * Per-session nodes are named LUFS_SESSION_NODE_PREFIX + a node number in
 * hex. A number is the session's from its PREPARE until its file is
 * released; then a later session takes it again.
 */
#define LUFS_SESSION_NODE_PREFIX	".lufs-session-"


struct lufs_envelope {
	__u64 magic;		/* in: LUFS_ENVELOPE_MAGIC */
	__u64 answered;		/* out: LUFS_ENVELOPE_MAGIC once a LiveUpdateFs daemon
				 * has handled the envelope (success or error); a
				 * library that finds 0 here talks to something else
				 * and passes the caller's request through unchanged */
	__u32 version;		/* in: LUFS_ENVELOPE_VERSION */
	__u32 phase;		/* in: enum lufs_envelope_phase */
	__u64 request;		/* in: the caller's ioctl request */
	__u64 arg;		/* in: the caller's ioctl argument */
	__s32 reserve_errno;	/* in, PREPARE: 0, or why no fd slot could be reserved */
	__s32 channel_fd;	/* in, PREPARE: socket for SCM_RIGHTS, or -1;
				 * in, QUERY_FROZEN: the file to ask about */
	__u64 ticket;		/* out of PREPARE, in to COMMIT */
	__s32 installed_fd;	/* in, PREPARE of a session: the fd number reserved
				 * for it, which the caller's struct gets;
				 * in, COMMIT: the fd now holding the file, or -1 */
	__s32 install_errno;	/* in, COMMIT: 0, or why installing failed */
	char node_name[64];	/* out of PREPARE: session node to open, NUL-terminated */
};

_Static_assert(sizeof(struct lufs_envelope) == 128, "lufs_envelope layout");

#endif /* LUFS_ENVELOPE_H */
