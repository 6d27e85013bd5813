/*
 * fdpass.h - passing an fd over a unix socket (SCM_RIGHTS), for the C tests
 * that hand session fds between processes: session_test, load_stages,
 * trap_stages, hostile_stages.
 *
 * Only sendmsg/recvmsg and copies on the stack: no lock, no allocation, so
 * any process or signal handler may use them. The received fd is
 * close-on-exec (MSG_CMSG_CLOEXEC), as the tests' own fds are.
 * (examples/ keep their own copy: they are samples a reader copies alone.)
 */
#ifndef LUFS_TESTS_FDPASS_H
#define LUFS_TESTS_FDPASS_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Room for one fd's control message, aligned as a cmsghdr. */
union fdpass_control {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

/*
 * Sends the len bytes at msg with fd attached (fd < 0: none). 0 once all
 * bytes went, -errno (-EPROTO for a short send). MSG_NOSIGNAL: a peer that
 * is gone is EPIPE, not a SIGPIPE.
 */
static inline int fdpass_send(int sock, const void *msg, size_t len, int fd)
{
	union fdpass_control control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&control, 0, sizeof control);
		h.msg_control = control.buf;
		h.msg_controllen = sizeof control.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	ssize_t n = sendmsg(sock, &h, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EPROTO;
}

/*
 * Receives one message of at most len bytes into msg; *fd gets the fd it
 * carried, or -1. Bytes received, 0 at EOF, or -errno.
 */
static inline ssize_t fdpass_recv(int sock, void *msg, size_t len, int *fd)
{
	union fdpass_control control;
	struct iovec iov = { .iov_base = msg, .iov_len = len };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			    .msg_controllen = sizeof control.buf };
	*fd = -1;
	ssize_t n = recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			memcpy(fd, CMSG_DATA(c), sizeof *fd);
			break;
		}
	return n;
}

/* Sends fd with a one-byte message. 0 or -errno. */
static inline int fdpass_send_fd(int sock, int fd)
{
	char byte = 'F';
	return fdpass_send(sock, &byte, 1, fd);
}

/* Receives a one-byte message and its fd: the fd, or -errno (-EPROTO: no fd came). */
static inline int fdpass_recv_fd(int sock)
{
	char byte;
	int fd;
	ssize_t n = fdpass_recv(sock, &byte, 1, &fd);
	if (n < 0)
		return (int)n;
	return n == 1 && fd >= 0 ? fd : -EPROTO;
}

#endif /* LUFS_TESTS_FDPASS_H */
