/*
 * tap.h - the tiny harness shared by the LiveUpdateFs C tests.
 *
 * Every case prints one line:
 *     ok N - [§x.y] description
 *     not ok N - [§x.y] description (got errno E (NAME), expected ...)
 * and tap_done() prints the plan and the summary line "N passed, M failed"
 * and returns the exit status (1 if anything failed).
 *
 * Helpers that talk to the device return the result (fd, 0, ...) on success
 * and -errno on failure, so a case is usually one line:
 *     check_rc(lu_preserve(s, fd, 7), EBADF, "4.3", "closed fd -> EBADF");
 * Only the parent process of a test prints; forked children report back
 * through exit codes or pipes.
 */
#ifndef LUFS_TESTS_TAP_H
#define LUFS_TESTS_TAP_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

#define TAP_PRINTF(fmt_idx) __attribute__((format(printf, fmt_idx, fmt_idx + 1)))

static int tap_count;
static int tap_failures;

static inline const char *tap_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

static inline void tap_vline(int pass, const char *detail, const char *sec,
			     const char *fmt, va_list ap)
{
	tap_count++;
	if (!pass)
		tap_failures++;
	/* numeric sections get the § sign; other labels ("envelope") do not */
	printf("%sok %d - [%s%s] ", pass ? "" : "not ", tap_count,
	       sec[0] >= '0' && sec[0] <= '9' ? "§" : "", sec);
	vprintf(fmt, ap);
	if (!pass && detail && detail[0])
		printf(" (%s)", detail);
	putchar('\n');
	fflush(stdout);
}

/* A boolean case; `why` explains a failure (may be NULL). */
static inline TAP_PRINTF(4) void check_why(int pass, const char *why, const char *sec,
					   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

#define check(cond, sec, ...) check_why((cond), "condition false: " #cond, (sec), __VA_ARGS__)

static inline void tap_describe_rc(char *buf, size_t n, long rc, int e1, int e2)
{
	char want[96];
	if (e1 == 0)
		snprintf(want, sizeof want, "success");
	else if (e2 == 0)
		snprintf(want, sizeof want, "errno %d (%s)", e1, tap_errname(e1));
	else
		snprintf(want, sizeof want, "errno %d (%s) or %d (%s)", e1, tap_errname(e1), e2,
			 tap_errname(e2));
	if (rc >= 0)
		snprintf(buf, n, "got success (%ld), expected %s", rc, want);
	else
		snprintf(buf, n, "got errno %ld (%s), expected %s", -rc, tap_errname((int)-rc), want);
}

/*
 * rc is ">= 0 on success, -errno on failure". expected == 0 means success
 * is expected, otherwise the errno that must come back.
 */
static inline TAP_PRINTF(4) void check_rc(long rc, int expected, const char *sec,
					  const char *fmt, ...)
{
	char why[200];
	int pass = expected == 0 ? rc >= 0 : rc == -(long)expected;
	tap_describe_rc(why, sizeof why, rc, expected, 0);
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

/* Like check_rc, but either of two errnos is accepted. */
static inline TAP_PRINTF(5) void check_rc2(long rc, int e1, int e2, const char *sec,
					   const char *fmt, ...)
{
	char why[200];
	int pass = rc == -(long)e1 || rc == -(long)e2;
	tap_describe_rc(why, sizeof why, rc, e1, e2);
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

static inline void tap_note(const char *fmt, ...) TAP_PRINTF(1);
static inline void tap_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	printf("%d passed, %d failed\n", tap_count - tap_failures, tap_failures);
	fflush(stdout);
	return tap_failures ? 1 : 0;
}

/* A setup step failed so badly that the rest cannot run: report and stop. */
static inline TAP_PRINTF(3) _Noreturn void tap_fatal(const char *sec, const char *why,
						     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vline(0, why, sec, fmt, ap);
	va_end(ap);
	tap_done();
	exit(1);
}

/* ------------------------------------------------------------------ */
/* Device and session helpers: all return >= 0 or -errno.              */

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

/* Number of open fds of this process. */
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

#endif /* LUFS_TESTS_TAP_H */
