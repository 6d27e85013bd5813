/*
 * bench.h - the few helpers every benchmark program shares.
 * Define BENCH_NAME (the program's name, for messages) before including.
 */
#ifndef LUFS_BENCH_H
#define LUFS_BENCH_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Prints "NAME: what: strerror(errno)" and returns the exit status 1. */
static inline int die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, strerror(errno));
	return 1;
}

static inline int64_t now_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

#endif
