/*
 * preserve_test - PRESERVE_FD and memfd preservation (docs/behaviour.md §4.3, §8.1, §8.2,
 * docs/behaviour.md §6).
 *
 * Kernel order for PRESERVE_FD: token already used in this session (EEXIST)
 * -> fget (EBADF) -> a handler accepts the file (ENOENT; only shmem files
 * with no links qualify) -> global table of preserved inodes (EBUSY) ->
 * preserve (freezes the size: ftruncate/fallocate -> EPERM). Closing the
 * session unpreserves everything.
 */
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/vfs.h>

#include "luo.h"
#include "tap.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

static int dev;

static int session(const char *name)
{
	int s = lu_create(dev, name);
	if (s < 0) {
		char why[100];
		snprintf(why, sizeof why, "errno %d (%s)", -s, tap_errname(-s));
		tap_fatal("4.1", why, "CREATE_SESSION %s", name);
	}
	return s;
}

static int memfd_or_die(const char *name, unsigned flags, off_t size)
{
	int fd = lu_memfd(name, flags, size);
	if (fd < 0)
		tap_fatal("8.1", strerror(-fd), "memfd_create %s", name);
	return fd;
}

static int is_tmpfs(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static void test_tokens(int a, int b)
{
	int m0 = memfd_or_die("tok0", 0, 0), m1 = memfd_or_die("tokmax", 0, 0);
	int mb = memfd_or_die("tokb", 0, 0);
	check_rc(lu_preserve(a, m0, 0), 0, "4.3", "PRESERVE_FD of a memfd with token 0");
	check_rc(lu_preserve(a, m1, UINT64_MAX), 0, "4.3", "PRESERVE_FD of a memfd with token UINT64_MAX");
	check_rc(lu_preserve(a, -1, 0), EEXIST, "4.3", "duplicate token with fd -1 -> EEXIST (token checked before the fd)");
	check_rc(lu_preserve(a, m0, 0), EEXIST, "4.3", "the same fd with the same token -> EEXIST");
	check_rc(lu_preserve(a, mb, UINT64_MAX), EEXIST, "4.3", "another memfd with a used token -> EEXIST");
	check_rc(lu_preserve(b, mb, 0), 0, "4.3", "the same token in another session works");
	close(m0);
	close(m1);
	close(mb);
}

static void test_ebadf(int s)
{
	check_rc(lu_preserve(s, -1, 100), EBADF, "4.3", "PRESERVE_FD of fd -1 -> EBADF");
	check_rc(lu_preserve(s, -1000, 100), EBADF, "4.3", "PRESERVE_FD of fd -1000 -> EBADF");
	int closed = open("/dev/null", O_RDONLY);
	close(closed);
	check_rc(lu_preserve(s, closed, 100), EBADF, "4.3", "PRESERVE_FD of a closed fd number -> EBADF");

	int m = memfd_or_die("opath", 0, 4096);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", m);
	int op = neg_errno(open(path, O_PATH));
	check_rc(op < 0 ? op : lu_preserve(s, op, 100), EBADF, "4.3", "PRESERVE_FD of an O_PATH fd of a memfd -> EBADF");
	close_if(op);
	close(m);
}

/* Cases that no handler accepts. Token 200 is tried each time. */
static void enoent(int s, int fd, const char *what)
{
	if (fd < 0) {
		char why[120];
		snprintf(why, sizeof why, "cannot set up: errno %d (%s)", -fd, tap_errname(-fd));
		check_why(0, why, "8.1", "PRESERVE_FD of %s -> ENOENT", what);
		return;
	}
	check_rc(lu_preserve(s, fd, 200), ENOENT, "8.1", "PRESERVE_FD of %s -> ENOENT", what);
	close(fd);
}

static void test_enoent(int s)
{
	int p[2], sp[2];
	if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		tap_fatal("8.1", strerror(errno), "pipe/socketpair");
	enoent(s, p[0], "a pipe (read end)");
	enoent(s, p[1], "a pipe (write end)");
	enoent(s, sp[0], "a unix socket");
	close(sp[1]);
	enoent(s, neg_errno(open("/dev/null", O_RDWR)), "/dev/null");
	enoent(s, neg_errno(eventfd(0, 0)), "an eventfd");

	/* a regular file on a disk (non-tmpfs) file system: /var/tmp, else the cwd */
	static const char *const dirs[] = { "/var/tmp", "." };
	char disk[PATH_MAX] = "";
	int df = -ENOENT;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && df < 0; i++) {
		snprintf(disk, sizeof disk, "%s/lufs-preserve-XXXXXX", dirs[i]);
		df = neg_errno(mkstemp(disk));
		if (df >= 0 && is_tmpfs(df)) {
			unlink(disk);
			close(df);
			df = -EXDEV; /* reported if no candidate is left */
		}
	}
	if (df >= 0) {
		int again = neg_errno(open(disk, O_RDWR));
		enoent(s, df, "a regular disk file (linked)");
		unlink(disk);
		enoent(s, again, "a regular disk file, unlinked while open (not shmem)");
	} else {
		enoent(s, df, "a regular disk file (no non-tmpfs directory writable among /var/tmp and .)");
		enoent(s, df, "a regular disk file, unlinked while open");
	}

	char shm[] = "/dev/shm/lufs-preserve-XXXXXX";
	int sf = mkstemp(shm);
	enoent(s, sf < 0 ? -errno : sf, "a linked file in /dev/shm (tmpfs, nlink 1)");
	if (sf >= 0)
		unlink(shm);
	enoent(s, neg_errno(open("/dev/shm", O_RDONLY | O_DIRECTORY)), "a tmpfs directory (/dev/shm)");

	int huge = memfd_create("hugetlb", MFD_HUGETLB);
	enoent(s, huge < 0 ? -errno : huge, "a MFD_HUGETLB memfd");

	int m = memfd_or_die("after-enoent", 0, 0);
	check_rc(lu_preserve(s, m, 200), 0, "4.3", "the token of the failed attempts is still free");
	close(m);
}

static void test_accepted(int s)
{
	int m = memfd_or_die("sealing", MFD_ALLOW_SEALING, 4096);
	check_rc(lu_preserve(s, m, 300), 0, "8.1", "PRESERVE_FD of a MFD_ALLOW_SEALING memfd");
	close(m);

	m = memfd_or_die("sealed", MFD_ALLOW_SEALING, 4096);
	int rc = neg_errno(fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	check_rc(rc < 0 ? rc : lu_preserve(s, m, 301), 0, "8.2", "PRESERVE_FD of a memfd sealed SHRINK|GROW|SEAL (supported seals)");
	close(m);

	int t = neg_errno(open("/dev/shm", O_TMPFILE | O_RDWR, 0600));
	check_rc(t < 0 ? t : lu_preserve(s, t, 302), 0, "8.1", "PRESERVE_FD of an O_TMPFILE file in /dev/shm");
	close_if(t);

	char shm[] = "/dev/shm/lufs-unlinked-XXXXXX";
	int u = mkstemp(shm);
	if (u >= 0)
		unlink(shm);
	check_rc(u < 0 ? -errno : lu_preserve(s, u, 303), 0, "8.1", "PRESERVE_FD of a /dev/shm file unlinked while open");
	close_if(u);

	m = memfd_or_die("rdonly", 0, 4096);
	int ro = lu_reopen(m, O_RDONLY);
	check_rc(ro < 0 ? ro : lu_preserve(s, ro, 304), 0, "8.1", "PRESERVE_FD of an O_RDONLY reopen of a memfd (access mode does not matter)");
	close_if(ro);
	close(m);
}

static void test_ebusy(int a, int b)
{
	int m = memfd_or_die("busy", 0, 4096);
	check_rc(lu_preserve(a, m, 400), 0, "4.3", "PRESERVE_FD of a memfd for the EBUSY cases");
	check_rc(lu_preserve(a, m, 401), EBUSY, "4.3", "the same memfd again with another token -> EBUSY");
	int d = dup(m);
	check_rc(lu_preserve(a, d, 402), EBUSY, "4.3", "a dup() of it -> EBUSY");
	close(d);
	int r = lu_reopen(m, O_RDWR);
	check_rc(r < 0 ? r : lu_preserve(a, r, 403), EBUSY, "4.3", "a reopen of the same inode via /proc/self/fd -> EBUSY");
	check_rc(lu_preserve(b, m, 404), EBUSY, "4.3", "the same memfd in another session -> EBUSY");
	check_rc(lu_preserve(a, m, 400), EEXIST, "4.3", "the same memfd with its own token -> EEXIST (token check first)");
	int other = memfd_or_die("busy-other", 0, 0);
	check_rc(lu_preserve(a, other, 401), 0, "4.3", "the tokens of the EBUSY attempts are still free");
	close(other);

	/* the caller's fd is not needed after PRESERVE_FD */
	close(m);
	check_rc(r < 0 ? r : lu_preserve(a, r, 405), EBUSY, "4.3", "after closing the preserved fd, a reopen made before is still EBUSY");
	check_rc(r < 0 ? r : neg_errno(ftruncate(r, 8192)), EPERM, "8.2", "... and its size is still frozen (ftruncate -> EPERM)");
	close_if(r);
}

static void test_frozen(int s)
{
	int m = memfd_or_die("frozen", 0, 8192);
	char fill[8192];
	memset(fill, 'f', sizeof fill);
	(void)!pwrite(m, fill, sizeof fill, 0);
	check_rc(lu_preserve(s, m, 500), 0, "8.2", "PRESERVE_FD of an 8 KiB memfd");

	check_rc(neg_errno(ftruncate(m, 4096)), EPERM, "8.2", "ftruncate to a smaller size -> EPERM");
	check_rc(neg_errno(ftruncate(m, 16384)), EPERM, "8.2", "ftruncate to a larger size -> EPERM");
	check_rc(neg_errno(ftruncate(m, 8192)), 0, "8.2", "ftruncate to the same size works");
	check_rc(neg_errno(fallocate(m, 0, 0, 4096)), EPERM, "8.2", "fallocate inside the size -> EPERM");
	check_rc(neg_errno(fallocate(m, 0, 8192, 4096)), EPERM, "8.2", "fallocate past the size -> EPERM");
	check_rc(neg_errno(fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096)), EPERM, "8.2",
		 "fallocate punch hole -> EPERM");

	char buf[16] = "inside the size";
	char back[16] = { 0 };
	long w = neg_errno(pwrite(m, buf, sizeof buf, 100));
	check(w == (long)sizeof buf && pread(m, back, sizeof back, 100) == (ssize_t)sizeof back &&
		      memcmp(buf, back, sizeof buf) == 0,
	      "8.2", "pwrite inside the size works and reads back");
	struct stat st;
	check(fstat(m, &st) == 0 && st.st_size == 8192, "8.2", "the size is still 8192 after the refused changes");
	/* Not checked: a write past EOF of a frozen memfd is EPERM in the kernel
	 * but succeeds here (README, "Differences from the kernel"). */
	void *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	int stored = map != MAP_FAILED;
	if (stored) {
		((char *)map)[8191] = 'z';
		munmap(map, 8192);
	}
	check(stored && pread(m, back, 1, 8191) == 1 && back[0] == 'z', "8.2", "a store through a shared mapping inside the size works");

	int r = lu_reopen(m, O_RDWR);
	check_rc(r < 0 ? r : neg_errno(ftruncate(r, 0)), EPERM, "8.2", "ftruncate through another open of the inode -> EPERM");
	close_if(r);

	int t = neg_errno(open("/dev/shm", O_TMPFILE | O_RDWR, 0600));
	int rc = t < 0 ? t : neg_errno(ftruncate(t, 4096));
	rc = rc < 0 ? rc : lu_preserve(s, t, 501);
	check_rc(rc < 0 ? rc : neg_errno(ftruncate(t, 0)), EPERM, "8.2", "a preserved O_TMPFILE file: ftruncate -> EPERM");
	check_rc(rc < 0 ? rc : neg_errno(fallocate(t, 0, 0, 8192)), EPERM, "8.2", "a preserved O_TMPFILE file: fallocate -> EPERM");
	close_if(t);
	close(m);
}

static void test_unpreserve(void)
{
	int s = session("preserve-unpreserve");
	int m = memfd_or_die("unpreserve", 0, 4096);
	check_rc(lu_preserve(s, m, 1), 0, "8.6", "PRESERVE_FD in a session that will be closed");
	check_rc(neg_errno(ftruncate(m, 0)), EPERM, "8.2", "while preserved, ftruncate -> EPERM");
	close(s);
	check_rc(neg_errno(ftruncate(m, 8192)), 0, "8.6", "after the session is closed, ftruncate works again");
	check_rc(neg_errno(fallocate(m, 0, 0, 16384)), 0, "8.6", "after the session is closed, fallocate works again");
	s = session("preserve-unpreserve");
	check_rc(lu_preserve(s, m, 1), 0, "5.2", "the same memfd can be preserved again in a new session");
	close(s);
	close(m);
}

static void test_too_large(int s)
{
	/* More than UINT_MAX pages (16 TiB of 4 KiB pages): sparse, costs nothing. */
	off_t huge = ((off_t)UINT32_MAX + 1) * 4096;
	int m = lu_memfd("huge", 0, 0);
	if (m < 0 || ftruncate(m, huge) != 0) {
		check(0, "8.2", "a memfd of 2^32 pages can be made (setup)");
		close_if(m);
		return;
	}
	check_rc(lu_preserve(s, m, 0xEFB16), EFBIG, "8.2", "memfd of more than UINT_MAX pages -> EFBIG");
	check(ftruncate(m, 4096) == 0, "8.2", "the refused memfd is not frozen");
	check_rc(lu_preserve(s, m, 0xEFB16), 0, "8.2", "after shrinking it, the same memfd and token preserve");
	close(m);
}

static void test_readonly_struct(int s)
{
	size_t pg = lu_page();
	struct liveupdate_session_preserve_fd *p =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		tap_fatal("4.3", strerror(errno), "mmap");
	int m = memfd_or_die("ro-struct", 0, 4096);
	p->size = sizeof *p;
	p->fd = m;
	p->token = 600;
	mprotect(p, pg, PROT_READ);
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, p), EFAULT, "4.3", "PRESERVE_FD with a read-only struct -> EFAULT");
	check_rc(lu_preserve(s, m, 601), EBUSY, "4.3", "... but the file stays preserved (another token -> EBUSY)");
	int other = memfd_or_die("ro-struct-other", 0, 0);
	check_rc(lu_preserve(s, other, 600), EEXIST, "4.3", "... and its token is taken (EEXIST)");
	check_rc(neg_errno(ftruncate(m, 0)), EPERM, "8.2", "... and its size is frozen");
	close(other);
	close(m);
	munmap(p, pg);
}

static void test_many_files(void)
{
	enum { N = 1000 };
	int s = session("preserve-many");
	int keep = -1, ok = 0, first_err = 0;
	for (int i = 0; i < N; i++) {
		int m = lu_memfd("many", 0, 4096);
		if (i == 0 && m >= 0)
			keep = lu_reopen(m, O_RDWR);
		int rc = m < 0 ? m : lu_preserve(s, m, 10000 + (uint64_t)i);
		if (rc == 0)
			ok++;
		else if (!first_err)
			first_err = -rc;
		close_if(m); /* the realistic pattern: close right after preserving */
	}
	char why[100];
	snprintf(why, sizeof why, "%d preserved, first error %d (%s)", ok, first_err, tap_errname(first_err));
	check_why(ok == N, why, "5.3", "%d memfds preserved in one session, each closed right after", N);
	int m = memfd_or_die("many-dup", 0, 0);
	check_rc(lu_preserve(s, m, 10000 + N / 2), EEXIST, "4.3", "their tokens are still held (EEXIST)");
	close(m);
	check_rc(keep < 0 ? keep : neg_errno(ftruncate(keep, 0)), EPERM, "8.2", "the first of them is still frozen");
	close(s);
	check_rc(keep < 0 ? keep : neg_errno(ftruncate(keep, 0)), 0, "8.6", "closing the session unfreezes it");
	close_if(keep);
}

/*
 * Files served by LiveUpdateFs itself. Kept last: an emulator that inspects
 * such a file (fstat, close of its copy) sends a FUSE request to itself.
 */
static void test_own_files(int s, int other_session)
{
	check_rc(lu_preserve(s, dev, 250), ENOENT, "8.1", "PRESERVE_FD of the device fd itself -> ENOENT");
	check_rc(lu_preserve(s, other_session, 250), ENOENT, "8.1", "PRESERVE_FD of another session's fd -> ENOENT");
	check_rc(lu_preserve(s, s, 250), ENOENT, "8.1", "PRESERVE_FD of the session's own fd -> ENOENT");
}

int main(void)
{
	dev = lu_open_device_or_die();
	int a = session("preserve-a"), b = session("preserve-b");

	test_tokens(a, b);
	test_ebadf(a);
	test_enoent(a);
	test_accepted(a);
	test_ebusy(a, b);
	test_frozen(a);
	test_unpreserve();
	test_too_large(a);
	test_readonly_struct(a);
	test_many_files();
	test_own_files(a, b);

	close(a);
	close(b);
	close(dev);

	/* PRESERVE_FD of the device and of session fds must not have kept them */
	dev = lu_open_device(O_RDWR);
	check_rc(dev, 0, "3", "the device opens again: the failed PRESERVE_FD of it kept no reference");
	int s = dev < 0 ? dev : lu_create(dev, "preserve-a");
	check_rc(s, 0, "5.2", "the session whose fd was offered to PRESERVE_FD is gone after close (name free)");
	close_if(s);
	close_if(dev);
	return tap_done();
}
