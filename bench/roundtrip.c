/*
 * roundtrip - ioctl round-trip latency, for scripts/bench.
 *
 *   roundtrip floor N THREADS         FIONREAD on a pipe: the kernel floor
 *   roundtrip peer PATH N THREADS     GET_NAME on PATH (bench/fuse_peer's node)
 *   roundtrip luo DEVICE N THREADS    CREATE_SESSION "bench-rt-<pid>" on DEVICE
 *                                     (LiveUpdateFs, under the preload library),
 *                                     then GET_NAME on the session fd
 *
 * THREADS client processes (fork) share the fd and make N/THREADS calls each;
 * each checks the answer of its first call. Prints "ns_per_call X" (wall time
 * over all calls / total calls) and "calls N". Exit 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define BENCH_NAME "roundtrip"
#include "bench.h"

#define PEER_NAME "bench-peer"

/* One client: `calls` requests on fd; returns the process exit status. */
static int client(int floor, int fd, long calls, const char *expect)
{
	if (floor) {
		for (long i = 0; i < calls; i++) {
			int avail = -1;
			if (ioctl(fd, FIONREAD, &avail) != 0)
				return die("FIONREAD");
			if (i == 0 && avail != 0) {
				fprintf(stderr, "roundtrip: FIONREAD gave %d, expected 0\n", avail);
				return 1;
			}
		}
		return 0;
	}
	for (long i = 0; i < calls; i++) {
		struct liveupdate_session_get_name gn;
		memset(&gn, 0, sizeof(gn));
		gn.size = sizeof(gn);
		if (ioctl(fd, LIVEUPDATE_SESSION_GET_NAME, &gn) != 0)
			return die("GET_NAME");
		if (i == 0 && strncmp((const char *)gn.name, expect, sizeof(gn.name)) != 0) {
			fprintf(stderr, "roundtrip: GET_NAME gave \"%.64s\", expected \"%s\"\n",
				(const char *)gn.name, expect);
			return 1;
		}
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: roundtrip floor N THREADS | peer PATH N THREADS | luo DEVICE N THREADS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	int floor = strcmp(argv[1], "floor") == 0;
	int peer = strcmp(argv[1], "peer") == 0;
	int luo = strcmp(argv[1], "luo") == 0;
	if (!(floor && argc == 4) && !((peer || luo) && argc == 5))
		return usage();
	long n = atol(argv[argc - 2]);
	long threads = atol(argv[argc - 1]);
	if (n <= 0 || threads <= 0 || threads > n)
		return usage();
	long per = n / threads;

	int fd = -1;
	char expect[LIVEUPDATE_SESSION_NAME_LENGTH] = "";
	if (floor) {
		int p[2];
		if (pipe(p) != 0)
			return die("pipe");
		fd = p[0];
	} else if (peer) {
		fd = open(argv[2], O_RDWR);
		if (fd < 0)
			return die(argv[2]);
		snprintf(expect, sizeof(expect), "%s", PEER_NAME);
	} else {
		int dev = open(argv[2], O_RDWR);
		if (dev < 0)
			return die(argv[2]);
		struct liveupdate_ioctl_create_session cs;
		memset(&cs, 0, sizeof(cs));
		cs.size = sizeof(cs);
		snprintf((char *)cs.name, sizeof(cs.name), "bench-rt-%d", (int)getpid());
		if (ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs) != 0)
			return die("CREATE_SESSION");
		fd = cs.fd;
		snprintf(expect, sizeof(expect), "%s", (const char *)cs.name);
		close(dev);
	}

	int64_t start = now_ns(CLOCK_MONOTONIC);
	pid_t *kids = calloc((size_t)threads, sizeof(pid_t));
	if (!kids)
		return die("calloc");
	int failed = 0;
	long started = 0;
	for (long t = 0; t < threads; t++) {
		pid_t pid = fork();
		if (pid < 0) {
			die("fork");
			failed = 1;
			break;
		}
		if (pid == 0)
			_exit(client(floor, fd, per, expect));
		kids[started++] = pid;
	}
	for (long t = 0; t < started; t++) {
		int status;
		if (waitpid(kids[t], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	int64_t wall = now_ns(CLOCK_MONOTONIC) - start;
	free(kids);
	if (failed) {
		fprintf(stderr, "roundtrip: a client failed\n");
		return 1;
	}
	long total = per * threads;
	printf("ns_per_call %.1f\ncalls %ld\n", (double)wall / (double)total, total);
	close(fd);
	return 0;
}
