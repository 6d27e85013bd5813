/*
 * holder.h - what the *_stages programs' holder children share: a child that
 * keeps only some fds (its session fds) across the reboot must close every
 * other fd it inherited, or it would hold the device, memfds or the harness's
 * pipes by accident.
 */
#ifndef LUFS_TESTS_HOLDER_H
#define LUFS_TESTS_HOLDER_H

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Puts /dev/null on fds 0-2 (closes those it cannot replace): a child that
 * outlives the stage must never keep the harness's pipes open.
 */
static inline void quiet_stdio(void)
{
	int null = open("/dev/null", O_RDWR);
	for (int std = 0; std <= 2; std++)
		if (null < 0 || dup2(null, std) < 0)
			close(std);
	if (null > 2)
		close(null);
}

/* Closes every fd above 2 that is not in keep[0..n); -1 when /proc/self/fd cannot be read. */
static inline int close_all_but(const int *keep, int n)
{
	int extra[1024], n_extra = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) && n_extra < (int)(sizeof extra / sizeof extra[0])) {
		if (de->d_name[0] == '.')
			continue;
		int fd = atoi(de->d_name), kept = fd <= 2 || fd == dirfd(d);
		for (int i = 0; i < n && !kept; i++)
			kept = fd == keep[i];
		if (!kept)
			extra[n_extra++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n_extra; i++)
		close(extra[i]);
	return 0;
}

/*
 * Forks a holder: a child in a session of its own, with /dev/null on 0-2,
 * that keeps only keep[0..n) open and waits until it is killed (the reboot
 * ends it, as a kexec would). Returns its pid once it has closed everything
 * else, or -1. The caller flushes its stdio first.
 */
static inline pid_t start_holder(const int *keep, int n)
{
	int ready[2], kept[n + 1];
	char c = 0;

	if (pipe(ready) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		setsid();
		quiet_stdio();
		for (int i = 0; i < n; i++)
			kept[i] = keep[i];
		kept[n] = ready[1];
		close_all_but(kept, n + 1);
		c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	ssize_t got = pid > 0 ? read(ready[0], &c, 1) : -1;
	close(ready[0]);
	return got == 1 ? pid : -1;
}

#endif /* LUFS_TESTS_HOLDER_H */
