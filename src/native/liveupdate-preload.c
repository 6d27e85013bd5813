/*
 * libliveupdate-preload.so: the LD_PRELOAD client library of LiveUpdateFs.
 *
 * LiveUpdateFs serves /dev/liveupdate from a FUSE daemon. FUSE runs the
 * caller's ioctls in the daemon but cannot put a new file descriptor into the
 * caller, so the three LUO requests that return one (CREATE_SESSION,
 * RETRIEVE_SESSION, RETRIEVE_FD) are finished here in two steps over the
 * private envelope defined in lufs-envelope.h (the contract; read it
 * first): PREPARE, then the open of the session node (which commits it) or,
 * for a memfd, COMMIT. Every other ioctl goes straight to glibc.
 *
 * The library holds no LUO semantics: the daemon decides every result and
 * errno. The library only reserves an fd number, installs the result (opens
 * the session node onto that number, or receives the memfd over a socket)
 * and reports back.
 *
 * It also emulates the frozen size of preserved memfds (spec 8.2): before
 * ftruncate/fallocate on an unlinked tmpfs file it asks the daemon
 * (LUFS_PHASE_QUERY_FROZEN on the mount's control node) and fails with EPERM
 * if the file is frozen. Without a reachable daemon those calls run unchanged.
 * The daemon asked is the one of the mount directory remembered last: the
 * directory of the last file whose envelope a LiveUpdateFs daemon answered
 * (or LIVEUPDATEFS_MOUNTPOINT before any did).
 *
 * Signal handlers may call ioctl, ftruncate and fallocate, so nothing here
 * takes a lock or allocates: shared state is C11 atomics (the remembered
 * mount directories are immutable once published), the control node is
 * opened for each frozen-size query and closed after it (no fd number is kept
 * that the program could close or reuse behind our back), and only
 * async-signal-safe calls are made once the library is loaded.
 *
 * Where Yama's ptrace_scope is 1 and the daemon is not root, the daemon can
 * read this process's memory only if the process names it as its ptracer
 * (PR_SET_PTRACER). That is done before the first LUO request of each process
 * (again in a forked child) and for each new mount, with the pid read from the
 * mount's LUFS_DAEMON_NODE; never where it is not needed, so a host program's
 * own ptracer stays unless this library needs the slot.
 *
 * Only calls made through glibc's dynamic symbols are seen: static binaries
 * and raw syscall(SYS_ioctl, ...) bypass the library.
 *
 * The library is inert (every call goes straight to glibc) in the daemon
 * itself, which would otherwise ask itself and wait forever (a container may
 * list the library in /etc/ld.so.preload), where LIVEUPDATEFS_PRELOAD=off,
 * and in the process trees of `liveupdatefs run`, which set
 * LIVEUPDATEFS_SECCOMP (their seccomp filter serves them).
 * It reads its environment with secure_getenv: in a set-uid program it uses
 * neither variable.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/liveupdate.h>
#include <linux/magic.h>

#include "lufs-envelope.h"

/* Built with -fvisibility=hidden: only the wrappers leave the library. */
#define EXPORT __attribute__((visibility("default")))

/* Linux 6.8: a mount id that is never reused (older headers lack it). */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

/* ---- the next definitions of the wrapped functions (normally glibc's) ---- */

typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*ftruncate64_fn)(int, off64_t);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*fallocate64_fn)(int, int, off64_t, off64_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);
typedef int (*posix_fallocate64_fn)(int, off64_t, off64_t);

static _Atomic(ioctl_fn) next_ioctl;
static _Atomic(ftruncate_fn) next_ftruncate;
static _Atomic(ftruncate64_fn) next_ftruncate64;
static _Atomic(fallocate_fn) next_fallocate;
static _Atomic(fallocate64_fn) next_fallocate64;
static _Atomic(posix_fallocate_fn) next_posix_fallocate;
static _Atomic(posix_fallocate64_fn) next_posix_fallocate64;

/* Loads a next_* pointer; a missing symbol fails the call with ENOSYS. */
#define NEXT(name) atomic_load_explicit(&next_##name, memory_order_relaxed)

static int real_ioctl(int fd, unsigned long request, void *arg)
{
	ioctl_fn f = NEXT(ioctl);

	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(fd, request, arg);
}

/* ---- set-up: once at load (constructor), or at the first call before it ---- */

enum library_mode { MODE_UNKNOWN = 0, MODE_ACTIVE, MODE_INERT };
static atomic_int library_mode;

static void remember_mount_dir(const char *dir);

/* The daemon's executable is named liveupdatefs (docs/design.md §10.4). */
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

/*
 * Idempotent, so two threads may run it at once (a call that comes before the
 * constructor, from another library's constructor): both find the same values.
 * No lock, so no thread ever waits for another here.
 */
static int init(void)
{
	const char *dir, *switch_, *seccomp;
	int mode;

	atomic_store_explicit(&next_ioctl, (ioctl_fn)dlsym(RTLD_NEXT, "ioctl"), memory_order_relaxed);
	atomic_store_explicit(&next_ftruncate, (ftruncate_fn)dlsym(RTLD_NEXT, "ftruncate"), memory_order_relaxed);
	atomic_store_explicit(&next_ftruncate64, (ftruncate64_fn)dlsym(RTLD_NEXT, "ftruncate64"), memory_order_relaxed);
	atomic_store_explicit(&next_fallocate, (fallocate_fn)dlsym(RTLD_NEXT, "fallocate"), memory_order_relaxed);
	atomic_store_explicit(&next_fallocate64, (fallocate64_fn)dlsym(RTLD_NEXT, "fallocate64"), memory_order_relaxed);
	atomic_store_explicit(&next_posix_fallocate, (posix_fallocate_fn)dlsym(RTLD_NEXT, "posix_fallocate"),
			      memory_order_relaxed);
	atomic_store_explicit(&next_posix_fallocate64, (posix_fallocate64_fn)dlsym(RTLD_NEXT, "posix_fallocate64"),
			      memory_order_relaxed);

	switch_ = secure_getenv("LIVEUPDATEFS_PRELOAD");
	seccomp = secure_getenv("LIVEUPDATEFS_SECCOMP");
	/* Under `liveupdatefs run` (docs/seccomp.md) the filter serves the
	 * process: it does so as the kernel would (one fd slot, the exact
	 * FIONREAD), so the library (say from /etc/ld.so.preload) keeps out;
	 * a stale variable in a process under no filter does not count. */
	mode = (switch_ && strcmp(switch_, "off") == 0) || is_daemon() ||
	       (seccomp && *seccomp && prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2) ? MODE_INERT : MODE_ACTIVE;
	if (mode == MODE_ACTIVE) {
		dir = secure_getenv("LIVEUPDATEFS_MOUNTPOINT");
		if (dir && *dir)
			remember_mount_dir(dir);
	}
	atomic_store_explicit(&library_mode, mode, memory_order_release);
	return mode;
}

__attribute__((constructor)) static void library_loaded(void)
{
	int saved = errno;

	init();
	errno = saved;
}

/* true: serve this call; false: go straight to glibc. Resolves on first use. */
static inline bool active(void)
{
	int mode = atomic_load_explicit(&library_mode, memory_order_acquire);

	if (mode == MODE_UNKNOWN) {
		int saved = errno;

		mode = init();
		errno = saved;
	}
	return mode == MODE_ACTIVE;
}

/* ---- async-signal-safe helpers (no stdio, no locale, no allocation) ---- */

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

/* "dir/name" into buf; -1 (ENAMETOOLONG) if it does not fit. */
static int join_path(char *buf, size_t size, const char *dir, const char *name)
{
	size_t d = strlen(dir), n = strlen(name);

	if (d + 1 + n + 1 > size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(buf, dir, d);
	buf[d] = '/';
	memcpy(buf + d + 1, name, n + 1);
	return 0;
}

/* The directory holding the file behind fd, from its /proc/self/fd link. */
static int fd_dir(int fd, char *buf, size_t size)
{
	char link[32] = "/proc/self/fd/", digits[12];
	size_t at = strlen(link), n_digits = 0;
	unsigned int v = (unsigned int)fd;
	char *slash;
	ssize_t n;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	do {
		digits[n_digits++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n_digits)
		link[at++] = digits[--n_digits];
	link[at] = '\0';

	n = readlink(link, buf, size);
	if (n < 0)
		return -1;
	if ((size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash || buf[0] != '/') {
		/* Not a path ("anon_inode:...", "socket:[...]"). */
		errno = ENOENT;
		return -1;
	}
	if (slash == buf)
		slash++;	/* keep "/" itself */
	*slash = '\0';
	return 0;
}

/* Who owns fd's file, on which device and mount, without asking a FUSE daemon. */
struct fd_identity {
	uid_t uid;
	dev_t dev;
	unsigned long long mount;	/* a never-reused mount id, or 0 if the kernel has none */
};

static int identify(int fd, struct fd_identity *id)
{
	struct statx stx;
	struct stat st;

	/* AT_STATX_DONT_SYNC: FUSE answers from its cache, no request to the daemon. */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_UID | STATX_MNT_ID_UNIQUE, &stx) == 0 &&
	    (stx.stx_mask & STATX_UID)) {
		id->uid = stx.stx_uid;
		id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
		id->mount = (stx.stx_mask & STATX_MNT_ID_UNIQUE) ? stx.stx_mnt_id : 0;
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return -1;
	id->uid = st.st_uid;
	id->dev = st.st_dev;
	id->mount = 0;
	return 0;
}

/* ---- the remembered mount directory ---- */

/*
 * Every directory is written once into a slot of its own and published by
 * an atomic pointer; a published slot never changes, so a reader (even a
 * signal handler that interrupted a writer) uses the string it loaded
 * without a lock or a retry. Switching back to a directory met before reuses
 * its slot; a process that meets more than MOUNT_DIR_SLOTS different
 * directories keeps the last one it could remember.
 */
#define MOUNT_DIR_SLOTS 16
static char mount_dir_slot[MOUNT_DIR_SLOTS][PATH_MAX];
static atomic_bool mount_dir_ready[MOUNT_DIR_SLOTS];
static atomic_uint mount_dir_claimed;
static _Atomic(const char *) mount_dir;	/* NULL: none known yet */

/*
 * The unique mount id of the remembered directory's mount, once a request
 * there found it (0: none yet). Only a shortcut: a request on a file of this
 * mount needs no look at its path.
 */
static atomic_ullong mount_dir_mount;

static const char *known_mount_dir(void)
{
	return atomic_load_explicit(&mount_dir, memory_order_acquire);
}

static void remember_mount_dir(const char *dir)
{
	const char *current = known_mount_dir();
	size_t len = strlen(dir);
	unsigned int i, n;

	if (current && strcmp(current, dir) == 0)
		return;
	if (len == 0 || len >= PATH_MAX)
		return;
	n = atomic_load_explicit(&mount_dir_claimed, memory_order_relaxed);
	for (i = 0; i < n && i < MOUNT_DIR_SLOTS; i++) {
		if (atomic_load_explicit(&mount_dir_ready[i], memory_order_acquire) &&
		    strcmp(mount_dir_slot[i], dir) == 0) {
			atomic_store_explicit(&mount_dir, mount_dir_slot[i], memory_order_release);
			return;
		}
	}
	do {
		if (n >= MOUNT_DIR_SLOTS)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&mount_dir_claimed, &n, n + 1, memory_order_relaxed,
							memory_order_relaxed));
	memcpy(mount_dir_slot[n], dir, len + 1);
	atomic_store_explicit(&mount_dir_ready[n], true, memory_order_release);
	atomic_store_explicit(&mount_dir, mount_dir_slot[n], memory_order_release);
}

/* ---- PR_SET_PTRACER ---- */

/* A test build may point this at a file of its own (cc -DLUFS_YAMA_PTRACE_SCOPE=...). */
#ifndef LUFS_YAMA_PTRACE_SCOPE
#define LUFS_YAMA_PTRACE_SCOPE "/proc/sys/kernel/yama/ptrace_scope"
#endif

/* Yama's ptrace_scope (0-3), or -1 without Yama; read once per program. */
static int yama_ptrace_scope(void)
{
	static atomic_int cached = -2;	/* -2: not read yet */
	int scope = atomic_load_explicit(&cached, memory_order_relaxed);
	char c;
	int fd;

	if (scope != -2)
		return scope;
	scope = -1;
	fd = open(LUFS_YAMA_PTRACE_SCOPE, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) == 1 && c >= '0' && c <= '9')
			scope = c - '0';
		close(fd);
	}
	atomic_store_explicit(&cached, scope, memory_order_relaxed);
	return scope;
}

/*
 * The daemon's pid from dir/LUFS_DAEMON_NODE ("4711\n"), which must be on
 * the same mount (device) as the file we act for; 0 if there is none.
 * scratch: PATH_MAX bytes.
 */
static pid_t read_daemon_pid(const char *dir, dev_t dev, char *scratch)
{
	char text[16];
	struct fd_identity node;
	size_t len = 0, i;
	ssize_t n;
	long pid = 0;
	int fd;

	if (join_path(scratch, PATH_MAX, dir, LUFS_DAEMON_NODE) < 0)
		return 0;
	fd = open(scratch, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (identify(fd, &node) == 0 && node.dev == dev) {
		while (len < sizeof(text)) {
			n = read(fd, text + len, sizeof(text) - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
	}
	close(fd);
	/* Digits, then "\n", then the end: anything else is not the node's contract. */
	if (len < 2 || len >= sizeof(text) || text[len - 1] != '\n')
		return 0;
	for (i = 0; i < len - 1; i++) {
		if (text[i] < '0' || text[i] > '9' || pid > INT_MAX / 10)
			return 0;
		pid = pid * 10 + (text[i] - '0');
	}
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/*
 * What this process has named: ptracer_process is the getpid() the other two
 * belong to (a forked child finds its parent's pid there and starts afresh);
 * ptracer_daemon the pid named (0: none); ptracer_mount the unique mount id
 * the setting was checked for (0: check again next time). Threads may race
 * here: the worst case is one more check or prctl, and PR_SET_PTRACER names
 * one process anyway (the last call wins).
 */
static atomic_int ptracer_process;
static atomic_int ptracer_daemon;
static atomic_ullong ptracer_mount;

/* Nothing to do for PR_SET_PTRACER on this mount (id: its file's identity)? */
static bool ptracer_settled(const struct fd_identity *id)
{
	return yama_ptrace_scope() != 1 ||
	       (id->mount && atomic_load_explicit(&ptracer_process, memory_order_acquire) == getpid() &&
		atomic_load_explicit(&ptracer_mount, memory_order_relaxed) == id->mount);
}

/*
 * The daemon reads and writes this process's memory and takes its fds
 * (process_vm_readv/writev, pidfd_getfd). Where Yama's ptrace_scope is 1, a
 * daemon that is not root (a mount without root) may only do that if this
 * process names it as its ptracer. A root daemon has CAP_SYS_PTRACE and
 * needs nothing, so the host program's own ptracer is left alone; so it is
 * without Yama, and with scope 2 or 3, where naming does not help.
 *
 * fd: a file of the mount in dir (maybe_fuse: not known to be FUSE yet).
 * Checked again in each new process (fork) and for each mount (a daemon that
 * restarted has a new mount and pid); with a kernel that has no unique mount
 * ids (before 6.8), on every call. scratch: PATH_MAX bytes. Keeps errno.
 */
static void name_daemon_as_ptracer(int fd, const char *dir, bool maybe_fuse, char *scratch)
{
	struct fd_identity id;
	int saved = errno;
	pid_t me, daemon;

	if (yama_ptrace_scope() != 1 || identify(fd, &id) < 0 || ptracer_settled(&id))
		goto out;
	me = getpid();
	if (maybe_fuse && !fd_on_fs(fd, FUSE_SUPER_MAGIC))
		goto out;
	if (atomic_load_explicit(&ptracer_process, memory_order_acquire) != me) {
		/* A new process: Yama's exception is per process, and this one has none. */
		atomic_store_explicit(&ptracer_daemon, 0, memory_order_relaxed);
		atomic_store_explicit(&ptracer_mount, 0, memory_order_relaxed);
		atomic_store_explicit(&ptracer_process, me, memory_order_release);
	}
	if (id.uid != 0) {
		daemon = dir[0] ? read_daemon_pid(dir, id.dev, scratch) : 0;
		if (daemon <= 0)
			goto out;
		/*
		 * A failure (the pid is not in our pid namespace) is not retried
		 * for this mount: it would fail again, at three daemon round
		 * trips per request.
		 */
		if (atomic_load_explicit(&ptracer_daemon, memory_order_relaxed) != daemon &&
		    prctl(PR_SET_PTRACER, (unsigned long)daemon, 0, 0, 0) == 0)
			atomic_store_explicit(&ptracer_daemon, daemon, memory_order_relaxed);
	}
	atomic_store_explicit(&ptracer_mount, id.mount, memory_order_relaxed);
out:
	errno = saved;
}

/* ---- the fd hand-over ---- */

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

/* Does a LiveUpdateFs daemon serve fd? (LUFS_PHASE_PROBE) Keeps errno. */
static bool daemon_answers(int fd)
{
	struct lufs_envelope env;
	int saved = errno;

	envelope_init(&env, LUFS_PHASE_PROBE, 0, 0);
	real_ioctl(fd, LUFS_ENVELOPE_REQUEST, &env);
	errno = saved;
	return env.answered == LUFS_ENVELOPE_MAGIC;
}

/*
 * Reserves the fd number the new fd is to take (the kernel's first step):
 * an O_PATH fd of the mount's directory, so that a session node is opened
 * relative to it (a path walk of one name), or of "/" where that directory
 * is unknown or cannot be opened. O_PATH: no request to any daemon, now or
 * at the close. Returns the fd, or -1 with errno (EMFILE, ENFILE).
 */
static int reserve_slot(const char *dir, bool *in_dir)
{
	int slot = dir[0] ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;

	*in_dir = slot >= 0;
	if (slot < 0 && (!dir[0] || (errno != EMFILE && errno != ENFILE)))
		slot = open("/", O_PATH | O_CLOEXEC);
	return slot;
}

/* Is fd on the mount with unique id `mount`? (no path walk, no request) */
static bool on_mount(int fd, unsigned long long mount)
{
	struct statx stx;

	return statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &stx) == 0 &&
	       (stx.stx_mask & STATX_MNT_ID_UNIQUE) && stx.stx_mnt_id == mount;
}

/*
 * Where the fd field of the caller's CREATE_SESSION or RETRIEVE_SESSION
 * struct is (the same place in both).
 */
static __s32 *session_fd_field(void *arg)
{
	return &((struct liveupdate_ioctl_create_session *)arg)->fd;
}

_Static_assert(offsetof(struct liveupdate_ioctl_create_session, fd) ==
	       offsetof(struct liveupdate_ioctl_retrieve_session, fd), "the fd of both session structs");

/*
 * Opens the session node the daemon reserved for this thread, with the
 * access mode of the fd the request came on (a read-only device fd gives a
 * read-only session fd: a group that may only read the device,
 * --device-mode 0640, can still open the node). The open is the commit: the
 * new open file owns the session. PREPARE has written *slot, the fd number
 * reserved before it, into the caller's struct; the new fd is moved onto
 * that number (dup3 onto our own slot: no other thread can take it
 * meanwhile), so the caller gets the number the kernel reserves first.
 * Neither dup3 nor the close of the spare fd sends the daemon a request (no
 * FLUSH: the daemon opens files FOPEN_NOFLUSH; no RELEASE: a copy is still
 * open). slot_in_dir: the slot is an O_PATH fd of dir (reserve_slot).
 * scratch: PATH_MAX bytes.
 */
static int open_session_node(int fd, const char *dir, const char *name, size_t name_size,
			     int *slot, bool slot_in_dir, void *arg, char *scratch)
{
	int flags = fcntl(fd, F_GETFL), opened, reserved = *slot;

	if (flags < 0)
		return -1;
	if (!memchr(name, '\0', name_size) || reserved < 0) {
		errno = EPROTO;
		return -1;
	}
	if (!dir[0]) {
		errno = ENOENT;	/* no path to the mount (no /proc) */
		return -1;
	}
	if (join_path(scratch, PATH_MAX, dir, name) < 0)
		return -1;
	flags = (flags & O_ACCMODE) | O_CLOEXEC;
	opened = slot_in_dir ? openat(reserved, name, flags) : open(scratch, flags);
	if (opened < 0 && errno == EMFILE) {
		/*
		 * The slot was the one free number. The open failed before its
		 * path was walked, so the daemon saw nothing; open again into
		 * the slot's number.
		 */
		close(reserved);
		*slot = -1;
		opened = open(scratch, flags);
		/* Only if another thread closed and opened fds meanwhile: the
		 * struct then names the fd the session has. */
		if (opened >= 0 && opened != reserved)
			*session_fd_field(arg) = opened;
		return opened;
	}
	if (opened < 0)
		return -1;
	if (dup3(opened, reserved, O_CLOEXEC) < 0) {
		close_keep_errno(opened);	/* its release undoes the session */
		return -1;
	}
	close(opened);
	*slot = -1;
	return reserved;
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

/* The name of session node `node` (lufs-envelope.h), into name (64 bytes). */
static void session_node_name(unsigned int node, char *name)
{
	static const char hex[] = "0123456789abcdef";
	size_t at = strlen(LUFS_SESSION_NODE_PREFIX), digits = 0;
	unsigned int v = node;

	memcpy(name, LUFS_SESSION_NODE_PREFIX, at);
	do {
		digits++;
		v >>= 4;
	} while (v);
	name[at + digits] = '\0';
	do {
		name[at + --digits] = hex[node & 0xf];
		node >>= 4;
	} while (digits);
}

/*
 * CREATE_SESSION or RETRIEVE_SESSION on a mount whose daemon has answered
 * before, in the short form (lufs-envelope.h LUFS_PREPARE_SESSION): *slot
 * holds the reserved number. Returns 1, with *slot still open, when the
 * answer is EINVAL, which the envelope must confirm (this thread may be new
 * to the daemon); else the result, with *slot closed.
 */
static int complete_session_short(int fd, unsigned int nr, void *arg, const char *dir,
				   int *slot, bool slot_in_dir, char *scratch)
{
	char name[64];
	int saved_errno = errno, node, installed, err;

	node = real_ioctl(fd, LUFS_PREPARE_SESSION(nr, *slot), arg);
	if (node < 0 && errno == EINVAL) {
		errno = saved_errno;
		return 1;
	}
	if (node < 0) {
		/* The daemon's answer to the request itself (EEXIST, EFAULT, ...). */
		close_keep_errno(*slot);
		return -1;
	}
	session_node_name((unsigned int)node, name);
	installed = open_session_node(fd, dir, name, sizeof(name), slot, slot_in_dir, arg, scratch);
	err = errno;
	close_keep_errno(*slot);	/* still open if installing stopped early */
	if (installed >= 0) {
		/* The open was the commit; PREPARE wrote the caller's struct. */
		errno = saved_errno;
		return 0;
	}
	real_ioctl(fd, LUFS_ABORT_SESSION(err & LUFS_SHORT_FD_MAX), (void *)(uintptr_t)node);
	errno = err;
	return -1;
}

/*
 * CREATE_SESSION, RETRIEVE_SESSION, RETRIEVE_FD on a FUSE file in dir
 * (PATH_MAX bytes): see lufs-envelope.h. remembered: dir is the one
 * remembered for fd's mount, which its daemon has answered before, not yet
 * checked against it. scratch: PATH_MAX bytes.
 */
static int complete_fd_request(int fd, unsigned long request, void *arg,
			       char *dir, bool remembered, unsigned long long mount, char *scratch)
{
	unsigned int nr = (unsigned int)request;
	bool file = nr == LIVEUPDATE_SESSION_RETRIEVE_FD;
	int saved_errno = errno;
	struct lufs_envelope env;
	int sv[2] = { -1, -1 };
	int reserve_errno = 0;
	int slot, installed, ret, err;
	bool slot_in_dir;

	/*
	 * The kernel reserves the new fd number before doing anything, so
	 * EMFILE comes before the request's effects. Holding a number here lets
	 * the daemon apply that order (it decides when reserve_errno applies),
	 * and a session fd takes that number.
	 */
	slot = reserve_slot(dir, &slot_in_dir);
	if (remembered && slot >= 0 && !(slot_in_dir && on_mount(slot, mount))) {
		/* The remembered directory is gone or another mount's now: ask /proc. */
		close(slot);
		if (fd_dir(fd, dir, PATH_MAX) < 0)
			dir[0] = '\0';
		slot = reserve_slot(dir, &slot_in_dir);
	}
	if (slot < 0) {
		reserve_errno = errno;
	} else if (remembered && !file && slot <= LUFS_SHORT_FD_MAX) {
		ret = complete_session_short(fd, nr, arg, dir, &slot, slot_in_dir, scratch);
		if (ret <= 0)
			return ret;
	}
	if (file && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		if (!reserve_errno)
			reserve_errno = errno;
		sv[0] = sv[1] = -1;
	}

	/* The kernel uses only the low 32 bits of the request: send those. */
	envelope_init(&env, LUFS_PHASE_PREPARE, nr, (uintptr_t)arg);
	env.reserve_errno = reserve_errno;
	env.channel_fd = sv[1];	/* the daemon takes its own copy with pidfd_getfd */
	if (!file)
		env.installed_fd = slot;
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
	/* A LiveUpdateFs daemon answered: frozen-size questions go to this mount now. */
	if (dir[0]) {
		remember_mount_dir(dir);
		atomic_store_explicit(&mount_dir_mount, mount, memory_order_relaxed);
	}
	if (ret < 0) {
		/* The daemon's answer to the request itself (EINVAL, ENOENT, ...). */
		close_keep_errno(slot);
		close_keep_errno(sv[0]);
		close_keep_errno(sv[1]);
		errno = err;
		return -1;
	}

	if (file)
		installed = receive_file(sv[0], &slot);
	else
		installed = open_session_node(fd, dir, env.node_name, sizeof(env.node_name),
					      &slot, slot_in_dir, arg, scratch);
	err = errno;
	close_keep_errno(slot);	/* still open if installing stopped early */
	close_keep_errno(sv[0]);
	close_keep_errno(sv[1]);
	if (!file && installed >= 0) {
		/* The open was the commit; PREPARE wrote the caller's struct. */
		errno = saved_errno;
		return 0;
	}

	/*
	 * COMMIT: the fd the retrieved file landed on, or why the result could
	 * not be installed (the daemon then undoes it and answers that errno).
	 */
	env.phase = LUFS_PHASE_COMMIT;
	env.answered = 0;
	env.installed_fd = installed;
	env.install_errno = installed < 0 ? err : 0;
	if (real_ioctl(fd, LUFS_ENVELOPE_REQUEST, &env) < 0) {
		close_keep_errno(installed);
		return -1;
	}
	/* The daemon has written the fd into the caller's struct. */
	errno = saved_errno;
	return 0;
}

/*
 * The program's own request with the shape of a short hand-over request
 * (lufs-envelope.h: nr 0xE0-0xE2, no direction, a size): the daemon takes
 * that shape from a thread that has sent a PREPARE before for the library's
 * own, which never pass through this file's ioctl. On our files the
 * program's goes out as the same encoding with nr 0xE3, an unknown nr like
 * 0xE0-0xE2 are on the kernel, so that it gets the kernel's answer.
 */
static unsigned long unknown_if_short_form(unsigned long request)
{
	unsigned int value = (unsigned int)request;

	if (_IOC_DIR(value) != _IOC_NONE || _IOC_SIZE(value) == 0 ||
	    _IOC_NR(value) < _IOC_NR(LUFS_PREPARE_SESSION(0, 0)) ||
	    _IOC_NR(value) > _IOC_NR(LUFS_ABORT_SESSION(0)))
		return request;
	return _IOC(_IOC_NONE, LIVEUPDATE_IOCTL_TYPE, _IOC_NR(LUFS_ABORT_SESSION(0)) + 1, _IOC_SIZE(value));
}

/* Requests of type 0xBA: LUO requests, and the only ones we may act on. */
static int luo_ioctl(int fd, unsigned long request, void *arg)
{
	unsigned int nr = (unsigned int)request;
	bool returns_fd = nr == LIVEUPDATE_IOCTL_CREATE_SESSION ||
			  nr == LIVEUPDATE_IOCTL_RETRIEVE_SESSION ||
			  nr == LIVEUPDATE_SESSION_RETRIEVE_FD;
	char dir[PATH_MAX], scratch[PATH_MAX];
	int saved_errno = errno;
	struct fd_identity id;
	const char *known;
	bool ours, settled;

	/* The common case: another request on the mount met last, all set up. */
	if (identify(fd, &id) < 0)
		id.mount = 0;
	settled = id.mount && id.mount == atomic_load_explicit(&mount_dir_mount, memory_order_relaxed) &&
		  ptracer_settled(&id);
	if (settled && !returns_fd) {
		errno = saved_errno;
		return real_ioctl(fd, unknown_if_short_form(request), arg);
	}
	/*
	 * An fd-returning request there: its node is in the remembered
	 * directory (checked once its slot is open), so no readlink of
	 * /proc/self/fd, a path walk through /proc and a d_path.
	 */
	known = known_mount_dir();
	if (settled && known && strlen(known) < sizeof(dir)) {
		strcpy(dir, known);
		errno = saved_errno;
		return complete_fd_request(fd, request, arg, dir, true, id.mount, scratch);
	}

	/*
	 * The directory is that of the mount (all nodes are in its root). A file
	 * without one (no /proc) can still take RETRIEVE_FD; "" then.
	 */
	if (fd_dir(fd, dir, sizeof(dir)) < 0)
		dir[0] = '\0';
	known = known_mount_dir();
	ours = known && dir[0] && strcmp(known, dir) == 0;
	if (!ours && !fd_on_fs(fd, FUSE_SUPER_MAGIC)) {
		errno = saved_errno;
		return real_ioctl(fd, request, arg);
	}
	/* Before any request: the daemon reads even the envelope from our memory. */
	name_daemon_as_ptracer(fd, dir, false, scratch);
	if (returns_fd) {
		errno = saved_errno;
		return complete_fd_request(fd, request, arg, dir, false, id.mount, scratch);
	}
	/* A request on a mount not met before (a session fd received from another process). */
	if (!ours && dir[0] && daemon_answers(fd)) {
		remember_mount_dir(dir);
		ours = true;
	}
	if (!ours) {
		errno = saved_errno;
		return real_ioctl(fd, request, arg);
	}
	atomic_store_explicit(&mount_dir_mount, id.mount, memory_order_relaxed);
	errno = saved_errno;
	return real_ioctl(fd, unknown_if_short_form(request), arg);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	/* The kernel truncates request to 32 bits; compare what it compares. */
	if (!active() || _IOC_TYPE((unsigned int)request) != LIVEUPDATE_IOCTL_TYPE)
		return real_ioctl(fd, request, arg);
	return luo_ioctl(fd, request, arg);
}

/* ---- the frozen size (spec 8.2) ---- */

/*
 * Asks the daemon of the mount in dir whether the file behind fd has a frozen
 * size. The control node is opened for this one question and closed after it.
 */
static bool daemon_says_frozen(const char *dir, int fd)
{
	char path[PATH_MAX];
	struct lufs_envelope env;
	int cfd, ret, err;

	if (join_path(path, sizeof(path), dir, LUFS_CONTROL_NODE) < 0)
		return false;
	cfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (cfd < 0)
		return false;
	/* The daemon takes the file with pidfd_getfd. */
	name_daemon_as_ptracer(cfd, dir, true, path);
	envelope_init(&env, LUFS_PHASE_QUERY_FROZEN, 0, 0);
	env.channel_fd = fd;
	ret = real_ioctl(cfd, LUFS_ENVELOPE_REQUEST, &env);
	err = errno;
	close(cfd);
	return ret < 0 && env.answered == LUFS_ENVELOPE_MAGIC && err == EPERM;
}

/*
 * Would the kernel refuse this size change with EPERM because the file is
 * frozen by a preservation? Only unlinked tmpfs files (memfds) can be
 * preserved, so only those are asked about. A truncate to the current size
 * is no change and is allowed. Keeps errno.
 */
static bool size_frozen(int fd, bool truncate, off64_t length)
{
	const char *dir = known_mount_dir();
	int saved_errno = errno;
	struct stat st;
	bool frozen = false;
	int flags;

	if (!dir)
		return false;
	if (fd_on_fs(fd, TMPFS_MAGIC) && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_nlink == 0 &&
	    !(truncate && length == st.st_size)) {
		/* An fd not open for writing is refused by the VFS first. */
		flags = fcntl(fd, F_GETFL);
		if (flags >= 0 && (flags & O_ACCMODE) != O_RDONLY)
			frozen = daemon_says_frozen(dir, fd);
	}
	errno = saved_errno;
	return frozen;
}

/*
 * Argument checks vfs_fallocate and tmpfs make before a frozen file is
 * refused: a negative offset or an empty range (EINVAL), a mode tmpfs does not
 * support or PUNCH_HOLE without KEEP_SIZE (EOPNOTSUPP), offset + len past the
 * largest file size (EFBIG). Such calls go straight through.
 */
static bool fallocate_may_change(int mode, off64_t offset, off64_t len)
{
	if (offset < 0 || len <= 0 || len > INT64_MAX - offset)
		return false;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return false;
	return !(mode & FALLOC_FL_PUNCH_HOLE) || (mode & FALLOC_FL_KEEP_SIZE);
}

EXPORT int ftruncate(int fd, off_t length)
{
	if (active() && length >= 0 && size_frozen(fd, true, length)) {
		errno = EPERM;
		return -1;
	}
	if (!NEXT(ftruncate)) {
		errno = ENOSYS;
		return -1;
	}
	return NEXT(ftruncate)(fd, length);
}

EXPORT int ftruncate64(int fd, off64_t length)
{
	if (active() && length >= 0 && size_frozen(fd, true, length)) {
		errno = EPERM;
		return -1;
	}
	if (!NEXT(ftruncate64)) {
		errno = ENOSYS;
		return -1;
	}
	return NEXT(ftruncate64)(fd, length);
}

EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
	if (active() && fallocate_may_change(mode, offset, len) &&
	    size_frozen(fd, false, 0)) {
		errno = EPERM;
		return -1;
	}
	if (!NEXT(fallocate)) {
		errno = ENOSYS;
		return -1;
	}
	return NEXT(fallocate)(fd, mode, offset, len);
}

EXPORT int fallocate64(int fd, int mode, off64_t offset, off64_t len)
{
	if (active() && fallocate_may_change(mode, offset, len) &&
	    size_frozen(fd, false, 0)) {
		errno = EPERM;
		return -1;
	}
	if (!NEXT(fallocate64)) {
		errno = ENOSYS;
		return -1;
	}
	return NEXT(fallocate64)(fd, mode, offset, len);
}

/* posix_fallocate returns the error number and leaves errno alone. */
EXPORT int posix_fallocate(int fd, off_t offset, off_t len)
{
	if (active() && fallocate_may_change(0, offset, len) && size_frozen(fd, false, 0))
		return EPERM;
	if (!NEXT(posix_fallocate))
		return ENOSYS;
	return NEXT(posix_fallocate)(fd, offset, len);
}

EXPORT int posix_fallocate64(int fd, off64_t offset, off64_t len)
{
	if (active() && fallocate_may_change(0, offset, len) && size_frozen(fd, false, 0))
		return EPERM;
	if (!NEXT(posix_fallocate64))
		return ENOSYS;
	return NEXT(posix_fallocate64)(fd, offset, len);
}
