/*
 * holder.h - what the *_stages programs' holder children share: a child that
 * keeps only some fds (its session fds) across the reboot must close every
 * other fd it inherited, or it would hold the device, memfds or the harness's
 * pipes by accident.
 */
#ifndef LUFS_TESTS_HOLDER_H
#define LUFS_TESTS_HOLDER_H

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

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

#endif /* LUFS_TESTS_HOLDER_H */
