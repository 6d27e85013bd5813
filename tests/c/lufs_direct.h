/*
 * lufs_direct.h - drive the private library/daemon protocol (lufs-envelope.h)
 * by hand, i.e. do what libliveupdate-preload.so does for CREATE_SESSION.
 *
 * Used by session_test (who may open a per-session node) and nolib_test (to
 * obtain a session fd without the library). The envelope request 0xBAEF is
 * passed through unchanged by the preload library.
 */
#ifndef LUFS_TESTS_DIRECT_H
#define LUFS_TESTS_DIRECT_H

#include <libgen.h>
#include <limits.h>

#include "lufs-envelope.h"
#include "luo.h"

/* Any envelope by hand: PHASE with the caller's REQUEST/ARG and CHANNEL_FD. */
static inline int lufs_send(int fd, __u32 phase, __u64 request, void *arg, int channel_fd,
			    struct lufs_envelope *env)
{
	memset(env, 0, sizeof *env);
	env->magic = LUFS_ENVELOPE_MAGIC;
	env->version = LUFS_ENVELOPE_VERSION;
	env->phase = phase;
	env->request = request;
	env->arg = (__u64)(uintptr_t)arg;
	env->channel_fd = channel_fd;
	env->installed_fd = -1;
	return lu_ioctl(fd, LUFS_ENVELOPE_REQUEST, env);
}

static inline int lufs_prepare(int dev, unsigned long request, void *arg,
			       struct lufs_envelope *env)
{
	return lufs_send(dev, LUFS_PHASE_PREPARE, request, arg, -1, env);
}

/* COMMIT on the same fd, with the same envelope PREPARE filled in. */
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
 * CREATE_SESSION the way the library does it: PREPARE, open the node,
 * COMMIT. Returns the session fd or -errno (of whichever step failed).
 */
static inline int lufs_create_direct(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	struct lufs_envelope env;
	char path[PATH_MAX];

	lu_fill_name(cs.name, name);
	int rc = lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs, &env);
	if (rc < 0)
		return rc;
	env.node_name[sizeof env.node_name - 1] = '\0';
	rc = lufs_node_path(env.node_name, path, sizeof path);
	int fd = rc < 0 ? rc : neg_errno(open(path, O_RDWR | O_CLOEXEC));
	rc = lufs_commit(dev, &env, fd < 0 ? -1 : fd, fd < 0 ? -fd : 0);
	if (rc < 0) {
		close_if(fd);
		return rc;
	}
	if (fd < 0)
		return fd;
	if (cs.fd != fd) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

#endif /* LUFS_TESTS_DIRECT_H */
