/*
 * luo.h - the LUO helper library of the LiveUpdateFs C tests: open the
 * device, create and retrieve sessions, preserve, retrieve and finish, and
 * the memfds, fds and mappings the cases are made of.
 *
 * Every helper returns the result (fd, 0, ...) on success and -errno on
 * failure, so a case is usually one line of tap.h:
 *     check_rc(lu_preserve(s, fd, 7), EBADF, "4.3", "closed fd -> EBADF");
 * The request helpers (lu_ioctl, lu_create ... lu_name_is), lu_memfd and
 * close_if are system calls on a struct on the stack, no lock and no
 * allocation, so a signal handler may call them. The others may not: the
 * *_or_die ones print (stdio), lu_device_path reads the environment,
 * lu_reopen formats with snprintf and lu_count_fds* use opendir.
 */
#ifndef LUFS_TESTS_LUO_H
#define LUFS_TESTS_LUO_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#include "tap.h"

/* ------------------------------------------------------------------ */
/* The device and its requests                                         */

static inline int neg_errno(long rc)
{
	return rc < 0 ? -errno : (int)rc;
}

static inline const char *lu_device_path(void)
{
	const char *p = getenv("LIVEUPDATE_DEVICE");
	return p && p[0] ? p : "/dev/liveupdate";
}

static inline int lu_open_device(int flags)
{
	return neg_errno(open(lu_device_path(), flags));
}

/* Opens the device with flags (O_RDWR, O_RDONLY) or ends the program with a not-ok line. */
static inline int lu_open_device_flags_or_die(int flags)
{
	int fd = lu_open_device(flags);
	if (fd < 0) {
		char why[160];
		snprintf(why, sizeof why, "errno %d (%s) opening %s", -fd, tap_errname(-fd),
			 lu_device_path());
		tap_fatal("3", why, "open the device");
	}
	return fd;
}

static inline int lu_open_device_or_die(void)
{
	return lu_open_device_flags_or_die(O_RDWR);
}

static inline int lu_ioctl(int fd, unsigned long req, void *arg)
{
	return neg_errno(ioctl(fd, req, arg));
}

static inline void lu_fill_name(__u8 dst[LIVEUPDATE_SESSION_NAME_LENGTH], const char *name)
{
	memset(dst, 0, LIVEUPDATE_SESSION_NAME_LENGTH);
	strncpy((char *)dst, name, LIVEUPDATE_SESSION_NAME_LENGTH);
}

/* CREATE_SESSION; returns the session fd or -errno. */
static inline int lu_create(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	lu_fill_name(cs.name, name);
	int rc = lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs);
	return rc < 0 ? rc : cs.fd;
}

/* RETRIEVE_SESSION; returns the session fd or -errno. */
static inline int lu_retrieve(int dev, const char *name)
{
	struct liveupdate_ioctl_retrieve_session rs = { .size = sizeof rs, .fd = -1 };
	lu_fill_name(rs.name, name);
	int rc = lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &rs);
	return rc < 0 ? rc : rs.fd;
}

static inline int lu_preserve(int session, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd p = { .size = sizeof p, .fd = fd, .token = token };
	return lu_ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &p);
}

/* RETRIEVE_FD; returns the file's fd or -errno. */
static inline int lu_retrieve_fd(int session, uint64_t token)
{
	struct liveupdate_session_retrieve_fd r = { .size = sizeof r, .fd = -1, .token = token };
	int rc = lu_ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &r);
	return rc < 0 ? rc : r.fd;
}

static inline int lu_finish(int session)
{
	struct liveupdate_session_finish f = { .size = sizeof f };
	return lu_ioctl(session, LIVEUPDATE_SESSION_FINISH, &f);
}

/* GET_NAME into out (64 bytes, always NUL-terminated on success). */
static inline int lu_get_name(int session, char out[LIVEUPDATE_SESSION_NAME_LENGTH])
{
	struct liveupdate_session_get_name g = { .size = sizeof g };
	int rc = lu_ioctl(session, LIVEUPDATE_SESSION_GET_NAME, &g);
	if (rc >= 0)
		memcpy(out, g.name, LIVEUPDATE_SESSION_NAME_LENGTH);
	return rc;
}

/* 1 if GET_NAME on session succeeds and returns exactly name. */
static inline int lu_name_is(int session, const char *name)
{
	char got[LIVEUPDATE_SESSION_NAME_LENGTH];
	return lu_get_name(session, got) == 0 &&
	       strncmp(got, name, LIVEUPDATE_SESSION_NAME_LENGTH) == 0;
}

/* ------------------------------------------------------------------ */
/* Files, fds and memory                                               */

/* memfd of the given size; fd or -errno. */
static inline int lu_memfd(const char *name, unsigned flags, off_t size)
{
	int fd = memfd_create(name, flags);
	if (fd < 0)
		return -errno;
	if (size > 0 && ftruncate(fd, size) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* A new open file description of the same inode (via /proc/self/fd). */
static inline int lu_reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return neg_errno(open(path, flags));
}

static inline void close_if(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* The entries of an fd directory such as /proc/PID/fd, or -errno. */
static inline int lu_count_fds_in(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Number of open fds of this process. */
static inline int lu_count_fds(void)
{
	int n = lu_count_fds_in("/proc/self/fd");
	return n < 0 ? n : n - 1; /* the directory stream's own fd */
}

/* Sets RLIMIT_NOFILE (soft and, if needed, hard) to at least n. */
static inline int lu_raise_nofile(rlim_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= n)
		return 0;
	rl.rlim_cur = n;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	return neg_errno(setrlimit(RLIMIT_NOFILE, &rl));
}

static inline size_t lu_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Maps rw_pages read-write pages followed by one page that is unmapped
 * (mapped, then munmapped). Returns the base or NULL. Release with
 * lu_unmap(base, rw_pages).
 */
static inline unsigned char *lu_map_with_hole(size_t rw_pages)
{
	size_t pg = lu_page();
	void *p = mmap(NULL, (rw_pages + 1) * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap((char *)p + rw_pages * pg, pg);
	return p;
}

static inline void lu_unmap(void *base, size_t pages)
{
	if (base)
		munmap(base, pages * lu_page());
}

#endif /* LUFS_TESTS_LUO_H */
