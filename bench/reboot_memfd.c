/*
 * reboot_memfd - one memfd across `liveupdatefs reboot`, for scripts/bench.
 *
 *   reboot_memfd prepare SIZE [DATA]   session "bench", token 1: a memfd of SIZE
 *                                      bytes of which the first DATA bytes are
 *                                      written (default: all); forks a holder
 *                                      and prints "holder PID".
 *   reboot_memfd retrieve SIZE [DATA]  prints "session_ns T" (CLOCK_REALTIME when
 *                                      RETRIEVE_SESSION returned), "restore_ms M"
 *                                      (RETRIEVE_FD), checks size and data, finishes.
 *   reboot_memfd prepare-many COUNT SIZE   COUNT sessions "bench-I", each holding one
 *                                      memfd of SIZE bytes (all written) under token 1:
 *                                      the many-small-files shape; forks a holder.
 *   reboot_memfd retrieve-many COUNT SIZE  retrieves and checks them all, finishes each.
 *   reboot_memfd fill PATH SIZE        writes the same SIZE bytes into a new file
 *                                      PATH: the source of the plain-copy reference.
 * Exit 0 on success. Data byte i is (i * 7 + i / 4096) & 0xff.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define BENCH_NAME "reboot_memfd"
#include "bench.h"

#define CHUNK (1 << 20)

static const char *device(void)
{
	const char *d = getenv("LIVEUPDATE_DEVICE");
	return d && d[0] ? d : "/dev/liveupdate";
}

/* Bytes offset..offset+n-1 of the pattern, a 4 KiB block at a time (a loop that vectorizes). */
static void fill(unsigned char *buf, int64_t offset, size_t n)
{
	for (size_t i = 0; i < n;) {
		int64_t at = offset + (int64_t)i;
		size_t m = (size_t)(4096 - at % 4096);
		if (m > n - i)
			m = n - i;
		unsigned char first = (unsigned char)(at * 7 + at / 4096);
		for (size_t j = 0; j < m; j++)
			buf[i + j] = (unsigned char)(first + j * 7);
		i += m;
	}
}

/* Writes the pattern's first `bytes` bytes into fd; 0, or die()'s status. */
static int write_pattern(int fd, int64_t bytes)
{
	unsigned char *buf = malloc(CHUNK);
	if (!buf)
		return die("malloc");
	for (int64_t at = 0; at < bytes; at += CHUNK) {
		size_t n = (size_t)(bytes - at < CHUNK ? bytes - at : CHUNK);
		fill(buf, at, n);
		if (pwrite(fd, buf, n, at) != (ssize_t)n)
			return die("pwrite");
	}
	free(buf);
	return 0;
}

static int fill_file(const char *path, int64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return die(path);
	if (write_pattern(fd, size))
		return 1;
	if (close(fd) < 0)
		return die("close");
	return 0;
}

/* The name of session i of count: "bench" alone, "bench-I" among many. */
static void session_name(char *name, size_t size, int i, int count)
{
	if (count == 1)
		snprintf(name, size, "bench");
	else
		snprintf(name, size, "bench-%d", i);
}

/* One fd per session: lift the soft limit on open files to the hard one. */
static int allow_fds(int count)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return die("getrlimit");
	if (lim.rlim_cur < (rlim_t)count + 64) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
			return die("setrlimit");
	}
	return 0;
}

/* The device, with room for COUNT session fds; -1 after saying why. */
static int open_device(int count)
{
	if (allow_fds(count))
		return -1;
	int dev = open(device(), O_RDWR);
	if (dev < 0)
		die("open device");
	return dev;
}

static int prepare(int count, int64_t size, int64_t data)
{
	int dev = open_device(count);
	if (dev < 0)
		return 1;
	for (int i = 0; i < count; i++) {
		struct liveupdate_ioctl_create_session create = { .size = sizeof create };
		session_name((char *)create.name, sizeof create.name, i, count);
		if (ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &create) < 0)
			return die("CREATE_SESSION");
		int mfd = memfd_create("bench", 0);
		if (mfd < 0 || ftruncate(mfd, size) < 0)
			return die("memfd");
		if (write_pattern(mfd, data))
			return 1;
		struct liveupdate_session_preserve_fd preserve = { .size = sizeof preserve, .fd = mfd, .token = 1 };
		if (ioctl(create.fd, LIVEUPDATE_SESSION_PRESERVE_FD, &preserve) < 0)
			return die("PRESERVE_FD");
		close(mfd);
	}
	close(dev);
	fflush(stdout);
	/* The holder keeps every session fd open until the reboot. */
	pid_t pid = fork();
	if (pid < 0)
		return die("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		setsid();
		for (;;)
			pause();
	}
	printf("holder %d\n", (int)pid);
	return 0;
}

/* Checks that fd holds SIZE bytes of which the first DATA are the pattern. */
static int check_file(int fd, int64_t size, int64_t data)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size != size) {
		fprintf(stderr, "reboot_memfd: size %lld, expected %lld\n", (long long)st.st_size, (long long)size);
		return 1;
	}
	unsigned char *got = malloc(CHUNK), *want = malloc(CHUNK);
	if (!got || !want)
		return die("malloc");
	for (int64_t at = 0; at < data; at += CHUNK) {
		size_t n = (size_t)(data - at < CHUNK ? data - at : CHUNK);
		fill(want, at, n);
		if (pread(fd, got, n, at) != (ssize_t)n || memcmp(got, want, n) != 0) {
			fprintf(stderr, "reboot_memfd: data differs in the MiB at %lld\n", (long long)at);
			return 1;
		}
	}
	free(got);
	free(want);
	return 0;
}

static int retrieve(int count, int64_t size, int64_t data)
{
	int dev = open_device(count);
	if (dev < 0)
		return 1;
	int64_t restore_ns = 0;
	for (int i = 0; i < count; i++) {
		struct liveupdate_ioctl_retrieve_session session = { .size = sizeof session };
		session_name((char *)session.name, sizeof session.name, i, count);
		if (ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &session) < 0)
			return die("RETRIEVE_SESSION");
		if (i == 0)
			printf("session_ns %lld\n", (long long)now_ns(CLOCK_REALTIME));
		int64_t start = now_ns(CLOCK_MONOTONIC);
		struct liveupdate_session_retrieve_fd file = { .size = sizeof file, .token = 1 };
		if (ioctl(session.fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &file) < 0)
			return die("RETRIEVE_FD");
		restore_ns += now_ns(CLOCK_MONOTONIC) - start;
		if (check_file(file.fd, size, data))
			return 1;
		struct liveupdate_session_finish finish = { .size = sizeof finish };
		if (ioctl(session.fd, LIVEUPDATE_SESSION_FINISH, &finish) < 0)
			return die("FINISH");
		close(file.fd);
		close(session.fd);
	}
	printf("restore_ms %.1f\n", (double)restore_ns / 1e6);
	return 0;
}

#define USAGE "usage: reboot_memfd prepare|retrieve SIZE [DATA] | prepare-many|retrieve-many COUNT SIZE | fill PATH SIZE\n"

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, USAGE);
		return 2;
	}
	bool many = strcmp(argv[1], "prepare-many") == 0 || strcmp(argv[1], "retrieve-many") == 0;
	if (strcmp(argv[1], "fill") == 0 || many) {
		if (argc != 4) {
			fprintf(stderr, USAGE);
			return 2;
		}
	}
	if (strcmp(argv[1], "fill") == 0)
		return fill_file(argv[2], strtoll(argv[3], NULL, 0));
	if (many) {
		int count = atoi(argv[2]);
		int64_t size = strtoll(argv[3], NULL, 0);
		if (count < 1) {
			fprintf(stderr, USAGE);
			return 2;
		}
		return argv[1][0] == 'p' ? prepare(count, size, size) : retrieve(count, size, size);
	}
	int64_t size = strtoll(argv[2], NULL, 0);
	int64_t data = argc == 4 ? strtoll(argv[3], NULL, 0) : size;
	if (strcmp(argv[1], "prepare") == 0)
		return prepare(1, size, data);
	if (strcmp(argv[1], "retrieve") == 0)
		return retrieve(1, size, data);
	fprintf(stderr, USAGE);
	return 2;
}
