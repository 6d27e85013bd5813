/*
 * liveupdatefs-keeper - keeps a `liveupdatefs run` tree's seccomp listener
 * when no daemon serves it (docs/seccomp.md "When the daemon is gone").
 *
 *   liveupdatefs-keeper MOUNTDIR SOCKET_FD
 *
 * Started by `liveupdatefs run` before it installs its filter (so the keeper
 * itself is not filtered); receives the listener over SOCKET_FD (SCM_RIGHTS)
 * and leaves the run process's tree at once (it forks and the first process
 * exits: a program waiting for all its children never waits for the keeper).
 *
 * While the daemon that serves MOUNTDIR lives, the keeper only holds the
 * listener: the daemon answers every call. When that daemon ends (a stop, a
 * crash; a reboot's exec keeps the same process and its listeners), the
 * kernel would fail every later trapped call of the tree with ENOSYS once
 * the last copy of the listener is closed, ftruncate and FIONREAD on any
 * file included. The keeper's copy keeps it open: it answers each call with
 * CONTINUE (the kernel runs it as without a filter), and every 250 ms asks
 * whether a daemon serves MOUNTDIR again; the first that takes the listener
 * (LUFS_PHASE_SERVE_LISTENER) serves the tree from then on. The keeper ends
 * when the tree has (poll: POLLHUP on the listener).
 *
 * Plain C11 and the kernel's seccomp uAPI; no LUO semantics here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lufs-envelope.h"

#define RETRY_MS 250

static const char *mount_dir;

/* The listener sent by `liveupdatefs run`, or -1. */
static int receive_listener(int sock)
{
	char payload;
	struct iovec iov = { .iov_base = &payload, .iov_len = 1 };
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.space,
		.msg_controllen = sizeof(control.space),
	};
	struct cmsghdr *cmsg;
	int fd = -1;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

static int node_path(char *path, size_t size, const char *node)
{
	int n = snprintf(path, size, "%s/%s", mount_dir, node);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A pidfd of the daemon serving the mount (its .lufs-daemon node), or -1. */
static int daemon_pidfd(pid_t *pid)
{
	char path[PATH_MAX], text[32];
	ssize_t n;
	int fd;

	if (node_path(path, sizeof(path), LUFS_DAEMON_NODE) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	*pid = (pid_t)atoi(text);
	return *pid > 0 ? (int)syscall(SYS_pidfd_open, *pid, 0) : -1;
}

/* Hands the listener to the daemon serving the mount; 0 when it took it. */
static int hand_over(int listener)
{
	char path[PATH_MAX];
	struct lufs_envelope env;
	pid_t pid;
	int control, pidfd, ret;

	/* Where Yama's ptrace_scope is 1 a non-root daemon can take the fd
	 * (pidfd_getfd) only from a process that names it as its ptracer. */
	pidfd = daemon_pidfd(&pid);
	if (pidfd < 0)
		return -1;
	close(pidfd);
	prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0);
	if (node_path(path, sizeof(path), LUFS_CONTROL_NODE) < 0)
		return -1;
	control = open(path, O_RDONLY | O_CLOEXEC);
	if (control < 0)
		return -1;
	memset(&env, 0, sizeof(env));
	env.magic = LUFS_ENVELOPE_MAGIC;
	env.version = LUFS_ENVELOPE_VERSION;
	env.phase = LUFS_PHASE_SERVE_LISTENER;
	env.channel_fd = listener;
	env.installed_fd = -1;
	ret = ioctl(control, LUFS_ENVELOPE_REQUEST, &env);
	close(control);
	return ret == 0 && env.answered == LUFS_ENVELOPE_MAGIC ? 0 : -1;
}

/* Answers one call CONTINUE: the kernel runs it as without a filter. */
static void continue_one(int listener)
{
	struct seccomp_notif notif;
	struct seccomp_notif_resp resp;

	memset(&notif, 0, sizeof(notif));
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) != 0)
		return; /* ENOENT: its caller was killed meanwhile */
	memset(&resp, 0, sizeof(resp));
	resp.id = notif.id;
	resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* Waits while the daemon lives; 0 when it ended, -1 when the tree did. */
static int watch(int listener, int pidfd)
{
	struct pollfd fds[2] = {
		{ .fd = listener, .events = 0 },
		{ .fd = pidfd, .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return -1;
		if (fds[1].revents)
			return 0;
	}
}

/* Serves CONTINUE until a daemon takes the listener (0) or the tree ended (-1). */
static int keep(int listener)
{
	struct pollfd fd = { .fd = listener, .events = POLLIN };

	for (;;) {
		int ready = poll(&fd, 1, RETRY_MS);

		if (ready < 0 && errno != EINTR)
			return -1;
		if (ready > 0 && (fd.revents & POLLIN))
			continue_one(listener);
		else if (ready > 0 && (fd.revents & (POLLHUP | POLLERR | POLLNVAL)))
			return -1;
		else if (ready == 0 && hand_over(listener) == 0)
			return 0;
	}
}

int main(int argc, char **argv)
{
	int sock, listener, null_fd;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: liveupdatefs-keeper MOUNTDIR SOCKET_FD (started by liveupdatefs run)\n");
		return 2;
	}
	mount_dir = argv[1];
	sock = atoi(argv[2]);
	listener = receive_listener(sock);
	close(sock);
	if (listener < 0)
		return 1;
	/* Out of the run process's tree and terminal: the first process exits
	 * at once (run waits for it), the keeper lives on under the reaper. */
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	setsid();
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		close(null_fd);
	}
	for (;;) {
		int pidfd = daemon_pidfd(&pid);

		if (pidfd >= 0) {
			int ended = watch(listener, pidfd);

			close(pidfd);
			if (ended < 0)
				return 0;
		}
		if (keep(listener) < 0)
			return 0;
	}
}
