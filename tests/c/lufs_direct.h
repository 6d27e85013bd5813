/*
 * lufs_direct.h - drive the private library/daemon protocol (lufs-envelope.h)
 * by hand, i.e. do what libliveupdate-preload.so does for CREATE_SESSION.
 *
 * Used by session_test (who may open a per-session node), nolib_test (to
 * obtain a session fd without the library) and the stage programs. The
 * envelope request 0xBAEF is passed through unchanged by the preload library.
 */
#ifndef LUFS_TESTS_DIRECT_H
#define LUFS_TESTS_DIRECT_H

#include <libgen.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lufs-envelope.h"
#include "luo.h"

/* An envelope of PHASE with the caller's REQUEST/ARG and CHANNEL_FD, unsent. */
static inline void lufs_fill(struct lufs_envelope *env, __u32 phase, __u64 request, void *arg, int channel_fd)
{
	memset(env, 0, sizeof *env);
	env->magic = LUFS_ENVELOPE_MAGIC;
	env->version = LUFS_ENVELOPE_VERSION;
	env->phase = phase;
	env->request = request;
	env->arg = (__u64)(uintptr_t)arg;
	env->channel_fd = channel_fd;
	env->installed_fd = -1;
}

/* Any envelope by hand: PHASE with the caller's REQUEST/ARG and CHANNEL_FD. */
static inline int lufs_send(int fd, __u32 phase, __u64 request, void *arg, int channel_fd,
			    struct lufs_envelope *env)
{
	lufs_fill(env, phase, request, arg, channel_fd);
	return lu_ioctl(fd, LUFS_ENVELOPE_REQUEST, env);
}

/*
 * PREPARE of CREATE_SESSION or RETRIEVE_SESSION: RESERVED_FD is the fd
 * number the session fd is to get (the library's reserved slot); the daemon
 * writes it into the caller's struct when this thread opens the node.
 */
static inline int lufs_prepare(int dev, unsigned long request, void *arg, int reserved_fd,
			       struct lufs_envelope *env)
{
	lufs_fill(env, LUFS_PHASE_PREPARE, request, arg, -1);
	env->installed_fd = reserved_fd;
	return lu_ioctl(dev, LUFS_ENVELOPE_REQUEST, env);
}

/*
 * The short PREPARE (LUFS_PREPARE_SESSION) of CREATE_SESSION (nr 0) or
 * RETRIEVE_SESSION (nr 1): the node number, or -errno.
 */
/*
 * The short forms go out as the system call itself: the preload library
 * turns a program's own ioctl of that shape into an unknown nr (only the
 * library's own are short forms), and these helpers speak for the library.
 */
static inline int lufs_ioctl_as_library(int fd, unsigned long request, void *arg)
{
	return neg_errno((int)syscall(SYS_ioctl, fd, request, arg));
}

static inline int lufs_prepare_short(int dev, unsigned int nr, void *arg, int reserved_fd)
{
	return lufs_ioctl_as_library(dev, LUFS_PREPARE_SESSION(nr, reserved_fd), arg);
}

/* The node name of node number `node` into out (64 bytes). */
static inline void lufs_node_name(int node, char out[64])
{
	snprintf(out, 64, "%s%x", LUFS_SESSION_NODE_PREFIX, (unsigned int)node);
}

/*
 * PREPARE of CREATE_SESSION NAME (into *cs) for a caller that may never open
 * the node (a creator that stops halfway): the number it reserves is one
 * O_PATH fd kept for the process's life, however many PREPAREs it makes.
 */
static inline int lufs_prepare_create(int dev, const char *name, struct liveupdate_ioctl_create_session *cs,
				      struct lufs_envelope *env)
{
	static int reserved = -1;

	if (reserved < 0)
		reserved = neg_errno(open("/", O_PATH | O_CLOEXEC));
	if (reserved < 0)
		return reserved;
	memset(cs, 0, sizeof *cs);
	cs->size = sizeof *cs;
	cs->fd = -1;
	lu_fill_name(cs->name, name);
	return lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, cs, reserved, env);
}

/*
 * COMMIT on the same fd, with the same envelope PREPARE filled in: the fd a
 * retrieved file landed on, or (installed_fd -1) why a result could not be
 * installed.
 */
static inline int lufs_commit(int dev, struct lufs_envelope *env, int installed_fd,
			      int install_errno)
{
	env->phase = LUFS_PHASE_COMMIT;
	env->installed_fd = installed_fd;
	env->install_errno = install_errno;
	env->answered = 0;
	return lu_ioctl(dev, LUFS_ENVELOPE_REQUEST, env);
}

/* Path of a node that lives beside the device node (symlinks resolved). */
static inline int lufs_node_path(const char *node_name, char *out, size_t n)
{
	char real[PATH_MAX];
	if (!realpath(lu_device_path(), real))
		return -errno;
	int len = snprintf(out, n, "%s/%s", dirname(real), node_name);
	return len > 0 && (size_t)len < n ? 0 : -ENAMETOOLONG;
}

/*
 * CREATE_SESSION the way the library does it: reserve an fd number (an
 * O_PATH fd), PREPARE, open the session node (the commit: the daemon writes
 * the reserved number into the struct), move the new fd onto the reserved
 * number. Returns the session fd or -errno (of whichever step failed).
 */
static inline int lufs_create_direct(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	struct lufs_envelope env;
	char path[PATH_MAX];
	int slot = neg_errno(open("/", O_PATH | O_CLOEXEC));

	if (slot < 0)
		return slot;
	lu_fill_name(cs.name, name);
	int rc = lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs, slot, &env);
	if (rc < 0) {
		close(slot);
		return rc;
	}
	env.node_name[sizeof env.node_name - 1] = '\0';
	rc = lufs_node_path(env.node_name, path, sizeof path);
	int fd = rc < 0 ? rc : neg_errno(open(path, O_RDWR | O_CLOEXEC));
	if (fd < 0) {
		rc = lufs_commit(dev, &env, -1, -fd);
		close(slot);
		return rc < 0 ? rc : -EPROTO;
	}
	rc = neg_errno(dup3(fd, slot, O_CLOEXEC));
	close(fd);
	if (rc < 0) {
		close(slot);
		return rc;
	}
	if (cs.fd != slot) {
		close(slot);
		return -EPROTO;
	}
	return slot;
}

#endif /* LUFS_TESTS_DIRECT_H */
