/*
 * fd_ops - what the fd-returning requests cost per call, for scripts/bench
 *: the same program runs under the preload library and under
 * `liveupdatefs run` (seccomp), so the two ways of handing over an fd are
 * compared on the same requests.
 *
 *   fd_ops create DEVICE N            N x (CREATE_SESSION "fdops-<pid>-<i>", close)
 *   fd_ops prepare DEVICE NAME        creates session NAME with a 4 KiB memfd under
 *                                     token 1, forks a holder that keeps it open
 *                                     (the reboot ends it); prints "holder PID"
 *   fd_ops with-session DEVICE NAME CMD...
 *                                     RETRIEVE_SESSION NAME, runs CMD with the
 *                                     session fd inherited (FDOPS_SESSION_FD), then
 *                                     FINISH; exit status: CMD's
 *   fd_ops retrieve N                 N x (RETRIEVE_FD token 1 on $FDOPS_SESSION_FD, close)
 *   fd_ops getname N                  N x GET_NAME on $FDOPS_SESSION_FD: one FUSE
 *                                     round trip, the reference
 *   fd_ops fionread N                 N x FIONREAD on a pipe, and
 *   fd_ops truncate N                 N x ftruncate of a memfd (4 KiB, 8 KiB, ...):
 *                                     calls `run` traps unless --only-fd-requests
 *
 * Prints "ns_per_op X". Exit 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define BENCH_NAME "fd_ops"
#include "bench.h"

static int create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	snprintf((char *)c.name, sizeof(c.name), "%s", name);
	return ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &c) == 0 ? c.fd : -1;
}

static int session_fd(void)
{
	const char *text = getenv("FDOPS_SESSION_FD");

	return text ? atoi(text) : -1;
}

static void report(int64_t start, long n)
{
	printf("ns_per_op %.0f\n", (double)(now_ns(CLOCK_MONOTONIC) - start) / (double)n);
}

static int create(const char *device, long n)
{
	int dev = open(device, O_RDWR | O_CLOEXEC);
	char name[64];

	if (dev < 0)
		return die("open the device");
	int64_t start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "fdops-%d-%ld", (int)getpid(), i);
		int s = create_session(dev, name);
		if (s < 0)
			return die("CREATE_SESSION");
		close(s);
	}
	report(start, n);
	return 0;
}

static int prepare(const char *device, const char *name)
{
	int dev = open(device, O_RDWR | O_CLOEXEC);
	int s = dev < 0 ? -1 : create_session(dev, name);
	int m = memfd_create("fdops", MFD_CLOEXEC);
	struct liveupdate_session_preserve_fd p;

	if (s < 0 || m < 0 || ftruncate(m, 4096) != 0)
		return die("create the session and its memfd");
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.fd = m;
	p.token = 1;
	if (ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &p) != 0)
		return die("PRESERVE_FD");
	pid_t holder = fork();
	if (holder < 0)
		return die("fork");
	if (holder == 0) {
		for (;;)
			pause();
	}
	printf("holder %d\n", (int)holder);
	return 0;
}

static int with_session(const char *device, const char *name, char **cmd)
{
	int dev = open(device, O_RDWR | O_CLOEXEC);
	struct liveupdate_ioctl_retrieve_session r;
	char text[16];

	if (dev < 0)
		return die("open the device");
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	snprintf((char *)r.name, sizeof(r.name), "%s", name);
	if (ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r) != 0)
		return die("RETRIEVE_SESSION");
	close(dev); /* the device has one opener: CMD opens it again */
	if (fcntl(r.fd, F_SETFD, 0) != 0)
		return die("clear FD_CLOEXEC");
	snprintf(text, sizeof(text), "%d", r.fd);
	setenv("FDOPS_SESSION_FD", text, 1);
	pid_t child = fork();
	if (child == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	int status = 1;
	waitpid(child, &status, 0);
	struct liveupdate_session_finish f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	if (ioctl(r.fd, LIVEUPDATE_SESSION_FINISH, &f) != 0)
		return die("FINISH");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int retrieve(long n)
{
	int s = session_fd();
	struct liveupdate_session_retrieve_fd r;

	int64_t start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		r.token = 1;
		if (ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r) != 0)
			return die("RETRIEVE_FD");
		close(r.fd);
	}
	report(start, n);
	return 0;
}

static int getname(long n)
{
	int s = session_fd();
	struct liveupdate_session_get_name g;

	int64_t start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		memset(&g, 0, sizeof(g));
		g.size = sizeof(g);
		if (ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g) != 0)
			return die("GET_NAME");
	}
	report(start, n);
	return 0;
}

static int fionread(long n)
{
	int pipe_fds[2];

	if (pipe(pipe_fds) != 0)
		return die("pipe");
	int64_t start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		int available = -1;
		if (ioctl(pipe_fds[0], FIONREAD, &available) != 0 || available != 0)
			return die("FIONREAD");
	}
	report(start, n);
	return 0;
}

static int truncate_memfd(long n)
{
	int m = memfd_create("fdops-truncate", MFD_CLOEXEC);

	if (m < 0)
		return die("memfd_create");
	int64_t start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		if (ftruncate(m, 4096 * (1 + (i & 1))) != 0)
			return die("ftruncate");
	}
	report(start, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "create") == 0)
		return create(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "prepare") == 0)
		return prepare(argv[2], argv[3]);
	if (argc >= 5 && strcmp(argv[1], "with-session") == 0)
		return with_session(argv[2], argv[3], argv + 4);
	if (argc == 3 && strcmp(argv[1], "retrieve") == 0)
		return retrieve(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "getname") == 0)
		return getname(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "fionread") == 0)
		return fionread(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "truncate") == 0)
		return truncate_memfd(atol(argv[2]));
	fprintf(stderr, "usage: see the comment at the top of bench/fd_ops.c\n");
	return 2;
}
