/*
 * scale - per-operation cost and daemon memory as state grows, for scripts/bench.
 *
 *   scale sessions N DEVICE   CREATE_SESSION "scale-<pid>-<i>" N times on DEVICE,
 *                             keeping every session fd open (RLIMIT_NOFILE is
 *                             raised to N + 64 first)
 *   scale files M DEVICE      one session "scale-files-<pid>", then M memfds of
 *                             4096 bytes each, PRESERVE_FD with token i; each
 *                             memfd is closed once preserved
 *
 * One untimed warm-up operation (a throwaway session, and for files one
 * preserve in it) comes first, so the smallest sizes measure the steady
 * state rather than the first call's setup.
 *
 * DEVICE is LiveUpdateFs's <mountpoint>/liveupdate, used under the preload
 * library. Prints "ns_per_op X" (time in CREATE_SESSION, or in PRESERVE_FD,
 * over the count), "ops N" and, while every session is still open,
 * "daemon_rss_kib K": VmRSS of the daemon whose pid <mountpoint>/status.json
 * gives as "daemonPid" (-1 if it cannot be read). Then closes everything.
 * Exit 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define BENCH_NAME "scale"
#include "bench.h"

#define FILE_SIZE 4096

/* The daemon's VmRSS in KiB, found through status.json next to device; -1 if unknown. */
static long daemon_rss_kib(const char *device)
{
	char path[4096];
	const char *slash = strrchr(device, '/');
	int dirlen = slash ? (int)(slash - device) : 1;
	snprintf(path, sizeof(path), "%.*s/status.json", dirlen, slash ? device : ".");
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	static char buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	const char *key = strstr(buf, "\"daemonPid\"");
	if (!key)
		return -1;
	const char *colon = strchr(key, ':');
	if (!colon)
		return -1;
	long pid = strtol(colon + 1, NULL, 10);
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session cs;
	memset(&cs, 0, sizeof(cs));
	cs.size = sizeof(cs);
	cs.fd = -1;
	snprintf((char *)cs.name, sizeof(cs.name), "%s", name);
	if (ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs) != 0)
		return -1;
	return cs.fd;
}

/* One untimed CREATE_SESSION (and PRESERVE_FD if with_file), then close. */
static int warm_up(int dev, int with_file)
{
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	snprintf(name, sizeof(name), "scale-warm-%d", (int)getpid());
	int session = create_session(dev, name);
	if (session < 0)
		return die("warm-up CREATE_SESSION");
	if (with_file) {
		int mfd = memfd_create("scale-warm", 0);
		if (mfd < 0 || ftruncate(mfd, FILE_SIZE) != 0)
			return die("warm-up memfd");
		struct liveupdate_session_preserve_fd p;
		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.fd = mfd;
		if (ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &p) != 0)
			return die("warm-up PRESERVE_FD");
		close(mfd);
	}
	close(session);
	return 0;
}

static int sessions(int dev, long n, const char *device)
{
	int *fds = calloc((size_t)n, sizeof(int));
	if (!fds)
		return die("calloc");
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	int64_t spent = 0;
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "scale-%d-%ld", (int)getpid(), i);
		int64_t start = now_ns(CLOCK_MONOTONIC);
		fds[i] = create_session(dev, name);
		spent += now_ns(CLOCK_MONOTONIC) - start;
		if (fds[i] < 0) {
			fprintf(stderr, "scale: CREATE_SESSION %ld of %ld: %s\n", i + 1, n, strerror(errno));
			return 1;
		}
	}
	printf("ns_per_op %.1f\nops %ld\ndaemon_rss_kib %ld\n", (double)spent / (double)n, n,
	       daemon_rss_kib(device));
	fflush(stdout);
	for (long i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

static int files(int dev, long m, const char *device)
{
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	snprintf(name, sizeof(name), "scale-files-%d", (int)getpid());
	int session = create_session(dev, name);
	if (session < 0)
		return die("CREATE_SESSION");
	int64_t spent = 0;
	for (long i = 0; i < m; i++) {
		int mfd = memfd_create("scale", 0);
		if (mfd < 0)
			return die("memfd_create");
		if (ftruncate(mfd, FILE_SIZE) != 0)
			return die("ftruncate");
		struct liveupdate_session_preserve_fd p;
		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.fd = mfd;
		p.token = (uint64_t)i;
		int64_t start = now_ns(CLOCK_MONOTONIC);
		int rc = ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &p);
		spent += now_ns(CLOCK_MONOTONIC) - start;
		if (rc != 0) {
			fprintf(stderr, "scale: PRESERVE_FD %ld of %ld: %s\n", i + 1, m, strerror(errno));
			return 1;
		}
		close(mfd);
	}
	printf("ns_per_op %.1f\nops %ld\ndaemon_rss_kib %ld\n", (double)spent / (double)m, m,
	       daemon_rss_kib(device));
	fflush(stdout);
	close(session);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: scale sessions N DEVICE | files M DEVICE\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return usage();
	int is_sessions = strcmp(argv[1], "sessions") == 0;
	if (!is_sessions && strcmp(argv[1], "files") != 0)
		return usage();
	long n = atol(argv[2]);
	if (n <= 0)
		return usage();
	const char *device = argv[3];

	if (is_sessions) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return die("getrlimit");
		rlim_t want = (rlim_t)n + 64;
		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			if (rl.rlim_max < want)
				rl.rlim_max = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				return die("setrlimit RLIMIT_NOFILE");
		}
	}

	int dev = open(device, O_RDWR);
	if (dev < 0)
		return die(device);
	if (warm_up(dev, !is_sessions) != 0)
		return 1;
	int rc = is_sessions ? sessions(dev, n, device) : files(dev, n, device);
	close(dev);
	return rc;
}
