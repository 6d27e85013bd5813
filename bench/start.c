/*
 * start - how long a command takes to make a device node usable, for scripts/bench.
 *
 *   start NODE CMD [ARGS...]   runs CMD (its stdout to /dev/null, stderr kept),
 *                              waits for it, then opens NODE O_RDWR and closes it
 *
 * Used with CMD = `liveupdatefs mount ...`, which returns once the node serves.
 * Prints "command_ms T" (CMD's wall time) and "open_ms T" (from the start of
 * CMD to the open returning). Exit 1 if CMD fails or NODE cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "start"
#include "bench.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: start NODE CMD [ARGS...]\n");
		return 2;
	}
	const char *node = argv[1];
	fflush(stdout);
	int64_t start = now_ns(CLOCK_MONOTONIC);
	pid_t pid = fork();
	if (pid < 0)
		return die("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null < 0 || dup2(null, 1) < 0)
			_exit(127);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "start: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return die("waitpid");
	int64_t done = now_ns(CLOCK_MONOTONIC);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "start: %s failed (status %d)\n", argv[2], status);
		return 1;
	}
	int fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return die(node);
	int64_t opened = now_ns(CLOCK_MONOTONIC);
	close(fd);
	printf("command_ms %.1f\n", (double)(done - start) / 1e6);
	printf("open_ms %.1f\n", (double)(opened - start) / 1e6);
	return 0;
}
