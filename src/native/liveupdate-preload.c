/*
 * libliveupdate-preload.so: the LD_PRELOAD client library of LiveUpdateFs.
 *
 * LiveUpdateFs serves /dev/liveupdate from a FUSE daemon. FUSE runs the
 * caller's ioctls in the daemon but cannot put a new file descriptor into the
 * caller, so the three LUO requests that return one (CREATE_SESSION,
 * RETRIEVE_SESSION, RETRIEVE_FD) are finished here in two phases, PREPARE and
 * COMMIT, over the private envelope defined in lufs-envelope.h (the contract;
 * read it first). Every other ioctl goes straight to glibc.
 *
 * The library holds no LUO semantics: the daemon decides every result and
 * errno. The library only reserves an fd number, installs the result (opens
 * the session node, or receives the memfd over a socket) and reports back.
 *
 * It also emulates the frozen size of preserved memfds (spec 8.2): before
 * ftruncate/fallocate on an unlinked tmpfs file it asks the daemon
 * (LUFS_PHASE_QUERY_FROZEN on the mount's control node) and fails with EPERM
 * if the file is frozen. Without a reachable daemon those calls run unchanged.
 *
 * Only calls made through glibc's dynamic symbols are seen: static binaries
 * and raw syscall(SYS_ioctl, ...) bypass the library.
 *
 * The library is inert (every call goes straight to glibc) in the daemon
 * itself, which would otherwise ask itself and wait forever (a container may
 * list the library in /etc/ld.so.preload), and where LIVEUPDATEFS_PRELOAD=off.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/liveupdate.h>
#include <linux/magic.h>

#include "lufs-envelope.h"

/* Built with -fvisibility=hidden: only the wrappers leave the library. */
#define EXPORT __attribute__((visibility("default")))

/* The next definitions of the wrapped functions (normally glibc's). */
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off64_t, off64_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_posix_fallocate64)(int, off64_t, off64_t);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Set once by init(): this process must not be served by the library. */
static bool inert;

/* Guards the writes of mount_dir and the control node cache below. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A LiveUpdateFs mount directory, once known (from LIVEUPDATEFS_MOUNTPOINT or
 * the first LUO ioctl on a FUSE file). Written once under state_lock, then
 * published through mount_dir_known; readers need no lock.
 */
static char mount_dir[PATH_MAX];
static atomic_bool mount_dir_known;

/*
 * The mount's control node, opened on first need and kept. Its identity is
 * kept too, because the program may close the number behind our back (e.g.
 * closefrom) and reuse it for something else.
 */
static int control_fd = -1;
static dev_t control_dev;
static ino_t control_ino;

/*
 * A child forked while another thread held state_lock would otherwise find it
 * locked forever. The child has one thread, so a fresh mutex is safe there.
 */
static void reset_lock_in_child(void)
{
	pthread_mutex_init(&state_lock, NULL);
}

/* The daemon's executable is named liveupdatefs (design.md's contract). */
static bool is_daemon(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *base;

	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	return strcmp(base ? base + 1 : exe, "liveupdatefs") == 0;
}

static void init(void)
{
	const char *dir, *switch_;

	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
	real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
	real_fallocate = dlsym(RTLD_NEXT, "fallocate");
	real_fallocate64 = dlsym(RTLD_NEXT, "fallocate64");
	real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
	real_posix_fallocate64 = dlsym(RTLD_NEXT, "posix_fallocate64");

	switch_ = getenv("LIVEUPDATEFS_PRELOAD");
	inert = (switch_ && strcmp(switch_, "off") == 0) || is_daemon();
	if (inert)
		return;

	dir = getenv("LIVEUPDATEFS_MOUNTPOINT");
	if (dir && *dir && strlen(dir) < sizeof(mount_dir)) {
		strcpy(mount_dir, dir);
		atomic_store_explicit(&mount_dir_known, true, memory_order_release);
	}

	pthread_atfork(NULL, NULL, reset_lock_in_child);
}

/* Resolves the real functions on first use, from whichever thread comes first. */
static inline void ensure_init(void)
{
	pthread_once(&init_once, init);
}

/* Closes fd if it is open, without disturbing errno (cleanup paths). */
static void close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

static bool fd_on_fs(int fd, unsigned long magic)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == magic;
}

/* The directory holding the file behind fd, from its /proc/self/fd link. */
static int fd_dir(int fd, char *buf, size_t size)
{
	char link[40];
	char *slash;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size);
	if (n < 0)
		return -1;
	if ((size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		/* Not a path ("anon_inode:...", "socket:[...]"). */
		errno = ENOENT;
		return -1;
	}
	if (slash == buf)
		slash++;	/* keep "/" itself */
	*slash = '\0';
	return 0;
}

/* Remembers the directory of fd (a FUSE file) as the mount dir, once. Keeps errno. */
static void remember_mount_dir(int fd)
{
	char dir[PATH_MAX];
	int saved = errno;

	if (atomic_load_explicit(&mount_dir_known, memory_order_acquire))
		return;
	if (fd_dir(fd, dir, sizeof(dir)) == 0) {
		pthread_mutex_lock(&state_lock);
		if (!atomic_load_explicit(&mount_dir_known, memory_order_relaxed)) {
			strcpy(mount_dir, dir);
			atomic_store_explicit(&mount_dir_known, true,
					      memory_order_release);
		}
		pthread_mutex_unlock(&state_lock);
	}
	errno = saved;
}

static void envelope_init(struct lufs_envelope *env, __u32 phase,
			  __u64 request, __u64 arg)
{
	memset(env, 0, sizeof(*env));
	env->magic = LUFS_ENVELOPE_MAGIC;
	env->answered = 0;
	env->version = LUFS_ENVELOPE_VERSION;
	env->phase = phase;
	env->request = request;
	env->arg = arg;
	env->channel_fd = -1;
	env->installed_fd = -1;
}

/*
 * Opens the session node the daemon left for us. The reserved slot is closed
 * just before the open so that the session fd takes its number.
 */
static int open_session_node(int fd, const char *name, size_t name_size,
			     int *slot)
{
	char dir[PATH_MAX];
	char path[PATH_MAX];
	int n;

	if (fd_dir(fd, dir, sizeof(dir)) < 0)
		return -1;
	if (!memchr(name, '\0', name_size)) {
		errno = EPROTO;
		return -1;
	}
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	close_keep_errno(*slot);
	*slot = -1;
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Closes every fd carried by an SCM_RIGHTS message we are rejecting. */
static void close_passed_fds(struct cmsghdr *cm)
{
	size_t count, i;
	int passed;

	if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len < CMSG_LEN(0))
		return;
	count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	for (i = 0; i < count; i++) {
		memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		close(passed);
	}
}

/*
 * Receives the retrieved file the daemon queued on the socket during PREPARE.
 * MSG_DONTWAIT: the message is already there when PREPARE returns, and a
 * daemon that failed to send it must not hang the caller.
 */
static int receive_file(int sock, int *slot)
{
	char data[16];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int newfd;

	close_keep_errno(*slot);
	*slot = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	/* Exactly one fd, in one SCM_RIGHTS message, nothing cut off. */
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    (msg.msg_flags & MSG_CTRUNC) || CMSG_NXTHDR(&msg, cm)) {
		for (; cm; cm = CMSG_NXTHDR(&msg, cm))
			close_passed_fds(cm);
		errno = EPROTO;
		return -1;
	}
	memcpy(&newfd, CMSG_DATA(cm), sizeof(newfd));
	return newfd;
}

/* CREATE_SESSION, RETRIEVE_SESSION, RETRIEVE_FD on a FUSE file: see lufs-envelope.h. */
static int complete_fd_request(int fd, unsigned long request, void *arg)
{
	unsigned int nr = (unsigned int)request;
	int saved_errno = errno;
	struct lufs_envelope env;
	int sv[2] = { -1, -1 };
	int reserve_errno = 0;
	int slot, installed, install_errno, ret, err;

	/*
	 * The kernel reserves the new fd number before doing anything, so
	 * EMFILE comes before the request's effects. Holding a number here lets
	 * the daemon apply that order (it decides when reserve_errno applies).
	 */
	slot = open("/", O_PATH | O_CLOEXEC);
	if (slot < 0)
		reserve_errno = errno;
	if (nr == LIVEUPDATE_SESSION_RETRIEVE_FD &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		if (!reserve_errno)
			reserve_errno = errno;
		sv[0] = sv[1] = -1;
	}

	/* The kernel uses only the low 32 bits of the request: send those. */
	envelope_init(&env, LUFS_PHASE_PREPARE, nr, (uintptr_t)arg);
	env.reserve_errno = reserve_errno;
	env.channel_fd = sv[1];	/* the daemon takes its own copy with pidfd_getfd */
	ret = real_ioctl(fd, LUFS_ENVELOPE_REQUEST, &env);
	err = errno;

	if (env.answered != LUFS_ENVELOPE_MAGIC) {
		/* Some other FUSE file: behave as if the library were absent. */
		close_keep_errno(slot);
		close_keep_errno(sv[0]);
		close_keep_errno(sv[1]);
		errno = saved_errno;
		return real_ioctl(fd, request, arg);
	}
	if (ret < 0) {
		/* The daemon's answer to the request itself (EINVAL, ENOENT, ...). */
		close_keep_errno(slot);
		close_keep_errno(sv[0]);
		close_keep_errno(sv[1]);
		errno = err;
		return -1;
	}

	if (nr == LIVEUPDATE_SESSION_RETRIEVE_FD)
		installed = receive_file(sv[0], &slot);
	else
		installed = open_session_node(fd, env.node_name,
					      sizeof(env.node_name), &slot);
	install_errno = installed < 0 ? errno : 0;
	close_keep_errno(slot);	/* still open if installing stopped early */
	close_keep_errno(sv[0]);
	close_keep_errno(sv[1]);

	env.phase = LUFS_PHASE_COMMIT;
	env.answered = 0;
	env.installed_fd = installed;
	env.install_errno = install_errno;
	if (real_ioctl(fd, LUFS_ENVELOPE_REQUEST, &env) < 0) {
		close_keep_errno(installed);
		return -1;
	}
	/* The daemon has written the fd into the caller's struct. */
	errno = saved_errno;
	return 0;
}

/*
 * The daemon reads and writes this process's memory and takes its fds
 * (process_vm_readv/writev, pidfd_getfd). Where Yama's ptrace_scope is 1 a
 * daemon of the same user (the mount without root) may only do that if this
 * process names it as its ptracer. Its pid is in the mount's status.json.
 * Once per process; keeps errno.
 */
static atomic_bool ptracer_named;

static void name_daemon_as_ptracer(void)
{
	char path[PATH_MAX], text[8192];
	const char *key = "\"daemonPid\": ";
	char *at;
	ssize_t n;
	long pid;
	int fd, saved = errno;

	if (atomic_exchange(&ptracer_named, true))
		return;
	if (snprintf(path, sizeof(path), "%s/status.json", mount_dir) >= (int)sizeof(path))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		goto out;
	text[n] = '\0';
	at = strstr(text, key);
	pid = at ? strtol(at + strlen(key), NULL, 10) : 0;
	if (pid > 0)
		prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0);
out:
	errno = saved;
}

/* Requests of type 0xBA: LUO requests, and the only ones we may act on. */
static int luo_ioctl(int fd, unsigned long request, void *arg)
{
	unsigned int nr = (unsigned int)request;
	bool returns_fd = nr == LIVEUPDATE_IOCTL_CREATE_SESSION ||
			  nr == LIVEUPDATE_IOCTL_RETRIEVE_SESSION ||
			  nr == LIVEUPDATE_SESSION_RETRIEVE_FD;
	int saved_errno = errno;
	bool fuse;

	if (inert)
		return real_ioctl(fd, request, arg);
	if (!returns_fd &&
	    atomic_load_explicit(&mount_dir_known, memory_order_acquire)) {
		name_daemon_as_ptracer();
		return real_ioctl(fd, request, arg);
	}

	fuse = fd_on_fs(fd, FUSE_SUPER_MAGIC);
	errno = saved_errno;
	if (!fuse)
		return real_ioctl(fd, request, arg);

	remember_mount_dir(fd);
	if (atomic_load_explicit(&mount_dir_known, memory_order_acquire))
		name_daemon_as_ptracer();
	if (!returns_fd)
		return real_ioctl(fd, request, arg);
	return complete_fd_request(fd, request, arg);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	ensure_init();
	/* The kernel truncates request to 32 bits; compare what it compares. */
	if (_IOC_TYPE((unsigned int)request) != LIVEUPDATE_IOCTL_TYPE)
		return real_ioctl(fd, request, arg);
	return luo_ioctl(fd, request, arg);
}

/*
 * The mount's control node, validated by identity on each use. A number the
 * program has closed or reused is forgotten (not ours to close); a node of a
 * dead daemon (ENOTCONN) is closed and opened again.
 * Returns -1 if no control node can be opened.
 */
static int control_node_fd(void)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, n;

	pthread_mutex_lock(&state_lock);
	if (control_fd >= 0) {
		if (fstat(control_fd, &st) == 0) {
			if (st.st_dev == control_dev && st.st_ino == control_ino)
				goto out;
		} else if (errno != EBADF) {
			close(control_fd);
		}
		control_fd = -1;
	}

	n = snprintf(path, sizeof(path), "%s/%s", mount_dir, LUFS_CONTROL_NODE);
	if (n < 0 || (size_t)n >= sizeof(path))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		close(fd);
		goto out;
	}
	control_fd = fd;
	control_dev = st.st_dev;
	control_ino = st.st_ino;
out:
	fd = control_fd;
	pthread_mutex_unlock(&state_lock);
	return fd;
}

/* Asks the daemon whether the file behind fd has a frozen size. */
static bool daemon_says_frozen(int fd)
{
	struct lufs_envelope env;
	int cfd = control_node_fd();

	if (cfd < 0)
		return false;
	envelope_init(&env, LUFS_PHASE_QUERY_FROZEN, 0, 0);
	env.channel_fd = fd;
	if (real_ioctl(cfd, LUFS_ENVELOPE_REQUEST, &env) == 0)
		return false;
	return env.answered == LUFS_ENVELOPE_MAGIC && errno == EPERM;
}

/*
 * Would the kernel refuse this size change with EPERM because the file is
 * frozen by a preservation? Only unlinked tmpfs files (memfds) can be
 * preserved, so only those are asked about. A truncate to the current size
 * is no change and is allowed. Keeps errno.
 */
static bool size_frozen(int fd, bool truncate, off64_t length)
{
	int saved_errno = errno;
	struct stat st;
	bool frozen = false;
	int flags;

	if (!atomic_load_explicit(&mount_dir_known, memory_order_acquire))
		return false;
	if (fd_on_fs(fd, TMPFS_MAGIC) && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_nlink == 0 &&
	    !(truncate && length == st.st_size)) {
		/* An fd not open for writing is refused by the VFS first. */
		flags = fcntl(fd, F_GETFL);
		if (flags >= 0 && (flags & O_ACCMODE) != O_RDONLY)
			frozen = daemon_says_frozen(fd);
	}
	errno = saved_errno;
	return frozen;
}

/*
 * Argument checks the VFS and tmpfs make before a frozen file is refused:
 * a negative length (EINVAL) and, for fallocate, an empty range (EINVAL) or a
 * mode tmpfs does not support (EOPNOTSUPP). Such calls go straight through.
 */
static bool fallocate_may_change(int mode, off64_t offset, off64_t len)
{
	return offset >= 0 && len > 0 &&
	       !(mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE));
}

EXPORT int ftruncate(int fd, off_t length)
{
	ensure_init();
	if (length >= 0 && size_frozen(fd, true, length)) {
		errno = EPERM;
		return -1;
	}
	return real_ftruncate(fd, length);
}

EXPORT int ftruncate64(int fd, off64_t length)
{
	ensure_init();
	if (length >= 0 && size_frozen(fd, true, length)) {
		errno = EPERM;
		return -1;
	}
	return real_ftruncate64(fd, length);
}

EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
	ensure_init();
	if (fallocate_may_change(mode, offset, len) &&
	    size_frozen(fd, false, 0)) {
		errno = EPERM;
		return -1;
	}
	return real_fallocate(fd, mode, offset, len);
}

EXPORT int fallocate64(int fd, int mode, off64_t offset, off64_t len)
{
	ensure_init();
	if (fallocate_may_change(mode, offset, len) &&
	    size_frozen(fd, false, 0)) {
		errno = EPERM;
		return -1;
	}
	return real_fallocate64(fd, mode, offset, len);
}

/* posix_fallocate returns the error number and leaves errno alone. */
EXPORT int posix_fallocate(int fd, off_t offset, off_t len)
{
	ensure_init();
	if (fallocate_may_change(0, offset, len) && size_frozen(fd, false, 0))
		return EPERM;
	return real_posix_fallocate(fd, offset, len);
}

EXPORT int posix_fallocate64(int fd, off64_t offset, off64_t len)
{
	ensure_init();
	if (fallocate_may_change(0, offset, len) && size_frozen(fd, false, 0))
		return EPERM;
	return real_posix_fallocate64(fd, offset, len);
}
