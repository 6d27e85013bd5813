/*
 * preload_test - what the preload library itself must get right, beyond
 * moving fds:
 *
 *   preload_test                     (the C suite's loop; LIVEUPDATE_DEVICE)
 *     - a signal handler's ftruncate while the main thread is inside the
 *       library's ftruncate/fallocate: no deadlock (a child does it; the
 *       parent gives it WATCHDOG_SECONDS and reports a hang as not ok);
 *     - fallocate's argument checks come before the frozen size, as in the
 *       kernel: PUNCH_HOLE without KEEP_SIZE -> EOPNOTSUPP, offset + len past
 *       the largest file -> EFBIG, also on a preserved memfd;
 *     - a forked child's LUO requests and frozen-size checks work;
 *     - the daemon answers a PROBE envelope (the library's way to tell a
 *       LiveUpdateFs file), on the device and on a session fd;
 *     - no process of the program opens the mount's status.json (fanotify:
 *       needs root), which makes the daemon scan every process;
 *     - after a process's first CREATE_SESSION, each CREATE_SESSION + close
 *       costs three FUSE requests, an ioctl (PREPARE), an open (the commit)
 *       and a release (lufs-envelope.h), counted by the daemon in its
 *       status.json "fuseRequests" (read only after the fanotify case).
 *   preload_test two-mounts DEVICE2  (a second mount; NUnit's CConformanceTests)
 *     - the frozen size is asked of the mount that answered last: CREATE on
 *       mount B, then on A, then a PRESERVE_FD (no envelope) on B.
 *
 * Where Yama's ptrace_scope is 1 and the daemon is not root, the fork case
 * also covers PR_SET_PTRACER in the child; the program notes the scope.
 */
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "lufs_direct.h"
#include "luo.h"
#include "tap.h"

#define WATCHDOG_SECONDS 30

static long page;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Waits up to `seconds` for pid; a child still running then is killed.
 * Returns 1 if it ended by itself (status set), 0 if it had to be killed.
 */
static int wait_bounded(pid_t pid, int seconds, int *status)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < seconds * 100; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return 0;
}

static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = -1;
	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = -1;
		fclose(f);
	}
	return scope;
}

/* ------------------------------------------------------------------ */
/* fanotify: who opens status.json                                     */

static int watch_opens(const char *path)
{
	int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
	if (fan < 0)
		return -errno;
	if (fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, path) < 0) {
		int e = errno;
		close(fan);
		return -e;
	}
	return fan;
}

/* The FAN_OPEN events queued so far; *first_pid: who opened first. */
static int count_opens(int fan, int *first_pid)
{
	union {
		struct fanotify_event_metadata align;
		char bytes[4096];
	} buf;
	int n = 0;
	for (;;) {
		ssize_t len = read(fan, buf.bytes, sizeof buf.bytes);
		if (len <= 0)
			break;
		struct fanotify_event_metadata *m = &buf.align;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->fd >= 0)
				close(m->fd);
			if (m->mask & FAN_OPEN) {
				if (n++ == 0)
					*first_pid = m->pid;
			}
		}
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* a signal handler's ftruncate (the library took a lock there once)   */

struct signal_report {
	int setup_errno;
	char setup_step[48];
	long iterations, main_wrong, handler_calls, handler_wrong;
	double seconds;
};

static int sig_frozen = -1;
static volatile sig_atomic_t handler_calls, handler_wrong;

static void on_timer(int sig)
{
	int saved = errno;
	(void)sig;
	/* a size change of the preserved memfd: the library asks the daemon */
	if (!(ftruncate(sig_frozen, 3 * page) < 0 && errno == EPERM))
		handler_wrong++;
	handler_calls++;
	errno = saved;
}

static void signal_child(int report_fd)
{
	struct signal_report r = { 0 };
	int dev = -1, s = -1, loose = -1, rc = 0;

#define SETUP(step, expr)                                                     \
	do {                                                                  \
		rc = (expr);                                                  \
		if (rc < 0) {                                                 \
			r.setup_errno = -rc;                                  \
			snprintf(r.setup_step, sizeof r.setup_step, "%s", step); \
			goto out;                                             \
		}                                                             \
	} while (0)

	SETUP("open the device", dev = lu_open_device(O_RDWR));
	SETUP("CREATE_SESSION", s = lu_create(dev, "preload-signal"));
	SETUP("memfd", sig_frozen = lu_memfd("preload-frozen", MFD_CLOEXEC, 2 * page));
	SETUP("PRESERVE_FD", lu_preserve(s, sig_frozen, 1));
	SETUP("memfd", loose = lu_memfd("preload-loose", MFD_CLOEXEC, page));

	struct sigaction sa = { .sa_handler = on_timer, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	SETUP("sigaction", neg_errno(sigaction(SIGALRM, &sa, NULL)));
	struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
	SETUP("setitimer", neg_errno(setitimer(ITIMER_REAL, &every_ms, NULL)));

	double start = now();
	while (handler_calls < 400 && now() - start < 3.0) {
		r.iterations++;
		/* frozen: EPERM from the library; loose: the kernel's success */
		if (!(ftruncate(sig_frozen, 4 * page) < 0 && errno == EPERM))
			r.main_wrong++;
		if (!(fallocate(sig_frozen, 0, 0, 8 * page) < 0 && errno == EPERM))
			r.main_wrong++;
		if (posix_fallocate(sig_frozen, 0, 8 * page) != EPERM)
			r.main_wrong++;
		if (ftruncate(loose, (r.iterations & 1 ? 2 : 1) * page) != 0)
			r.main_wrong++;
		if (fallocate(loose, 0, 0, 2 * page) != 0)
			r.main_wrong++;
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_IGN);
	r.seconds = now() - start;
	r.handler_calls = handler_calls;
	r.handler_wrong = handler_wrong;
out:
	if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(3);
	_exit(0);
#undef SETUP
}

static void test_signal_handler(void)
{
	int pipefd[2];
	if (pipe(pipefd) < 0)
		tap_fatal("design", strerror(errno), "pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		tap_fatal("design", strerror(errno), "fork");
	if (pid == 0) {
		close(pipefd[0]);
		signal_child(pipefd[1]);
	}
	close(pipefd[1]);
	int status = 0;
	int ended = wait_bounded(pid, WATCHDOG_SECONDS, &status);
	check_why(ended, "the child hung in the library (a lock taken twice?) and was killed", "design",
		  "a SIGALRM handler's ftruncate while the main thread loops ftruncate/fallocate: no deadlock "
		  "(the child ends within %d s)", WATCHDOG_SECONDS);
	struct signal_report r;
	ssize_t got = ended ? read(pipefd[0], &r, sizeof r) : 0;
	close(pipefd[0]);
	if (got != (ssize_t)sizeof r) {
		check_why(0, ended ? "no report from the child" : "killed", "design", "the signal child reports");
		return;
	}
	if (r.setup_errno) {
		char why[120];
		snprintf(why, sizeof why, "%s: errno %d (%s)", r.setup_step, r.setup_errno, tap_errname(r.setup_errno));
		check_why(0, why, "design", "the signal child sets up a session with a preserved memfd");
		return;
	}
	tap_note("signal child: %ld loop passes, %ld handler calls in %.2f s", r.iterations, r.handler_calls,
		 r.seconds);
	check(r.handler_calls >= 20, "design", "the timer interrupted the loop (%ld times)", r.handler_calls);
	check(r.handler_wrong == 0, "8.2", "every ftruncate of the preserved memfd in the handler -> EPERM (%ld not)",
	      r.handler_wrong);
	check(r.main_wrong == 0, "8.2",
	      "every call of the loop meanwhile gets the kernel's result: EPERM on the preserved memfd, "
	      "success on another (%ld not)", r.main_wrong);
}

/* ------------------------------------------------------------------ */
/* fallocate: the VFS's argument checks come first                     */

static void test_fallocate_arguments(int s)
{
	int plain = lu_memfd("preload-plain", MFD_CLOEXEC, 4 * page);
	int m = lu_memfd("preload-punch", MFD_CLOEXEC, 4 * page);
	int rc = m < 0 ? m : lu_preserve(s, m, 1);
	check_rc(rc, 0, "4.3", "PRESERVE_FD a 4-page memfd");
	if (plain < 0 || rc < 0) {
		close_if(plain);
		close_if(m);
		return;
	}
	check_rc(neg_errno(fallocate(plain, FALLOC_FL_PUNCH_HOLE, 0, page)), EOPNOTSUPP, "8.2",
		 "kernel: PUNCH_HOLE without KEEP_SIZE on a memfd -> EOPNOTSUPP");
	check_rc(neg_errno(fallocate(m, FALLOC_FL_PUNCH_HOLE, 0, page)), EOPNOTSUPP, "8.2",
		 "PUNCH_HOLE without KEEP_SIZE on a preserved memfd -> EOPNOTSUPP (checked before the frozen size)");
	check_rc(neg_errno(fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, page)), EPERM, "8.2",
		 "PUNCH_HOLE | KEEP_SIZE on a preserved memfd -> EPERM");
	check_rc(neg_errno(fallocate(plain, 0, page, INT64_MAX - page / 2)), EFBIG, "8.2",
		 "kernel: fallocate with offset + len past the largest file -> EFBIG");
	check_rc(neg_errno(fallocate(m, 0, page, INT64_MAX - page / 2)), EFBIG, "8.2",
		 "the same on a preserved memfd -> EFBIG (checked before the frozen size)");
	check_rc(neg_errno(fallocate(m, 0, 0, page)), EPERM, "8.2", "fallocate inside the size of a preserved memfd -> EPERM");
	close(plain);
	close(m);
}

/* ------------------------------------------------------------------ */
/* the library in a forked child                                       */

enum {
	FORK_GET_NAME = 1 << 0,
	FORK_FROZEN = 1 << 1,
	FORK_PRESERVE = 1 << 2,
	FORK_FROZEN_OWN = 1 << 3,
	FORK_CREATE = 1 << 4,
	FORK_SETUP = 1 << 5,
};

static int fork_child(int dev, int s, int frozen)
{
	int failed = 0;
	if (!lu_name_is(s, "preload-main"))
		failed |= FORK_GET_NAME;
	if (neg_errno(ftruncate(frozen, 0)) != -EPERM)
		failed |= FORK_FROZEN;
	int own = lu_memfd("preload-child", MFD_CLOEXEC, page);
	if (own < 0)
		return failed | FORK_SETUP;
	if (lu_preserve(s, own, 2) != 0)
		failed |= FORK_PRESERVE;
	else if (neg_errno(ftruncate(own, 0)) != -EPERM)
		failed |= FORK_FROZEN_OWN;
	int c = lu_create(dev, "preload-fork-child");
	if (c < 0 || !lu_name_is(c, "preload-fork-child"))
		failed |= FORK_CREATE;
	return failed;
}

static void test_fork(int dev, int s)
{
	int frozen = lu_memfd("preload-fork", MFD_CLOEXEC, page);
	int rc = frozen < 0 ? frozen : lu_preserve(s, frozen, 3);
	check_rc(rc, 0, "4.3", "PRESERVE_FD a memfd before the fork");
	if (rc < 0) {
		close_if(frozen);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		tap_fatal("design", strerror(errno), "fork");
	if (pid == 0)
		_exit(fork_child(dev, s, frozen));
	int status = 0;
	int ended = wait_bounded(pid, WATCHDOG_SECONDS, &status);
	int failed = ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	check_why(failed >= 0 && !(failed & FORK_SETUP), ended ? "the child crashed or could not make a memfd" : "the child hung",
		  "design", "a forked child runs its LUO requests");
	if (failed < 0 || (failed & FORK_SETUP))
		failed = ~0;
	check(!(failed & FORK_GET_NAME), "5.2", "child: GET_NAME on the inherited session fd");
	check(!(failed & FORK_FROZEN), "8.2", "child: ftruncate of the memfd preserved by the parent -> EPERM");
	check(!(failed & FORK_PRESERVE), "4.3", "child: PRESERVE_FD into the inherited session");
	check(!(failed & FORK_FROZEN_OWN), "8.2", "child: ftruncate of the memfd it preserved -> EPERM");
	check(!(failed & FORK_CREATE), "4.1", "child: CREATE_SESSION on the inherited device fd, GET_NAME on the new session");
	int again = lu_memfd("preload-again", MFD_CLOEXEC, page);
	check_rc(again < 0 ? again : lu_preserve(s, again, 2), EEXIST, "4.3",
		 "parent: token 2, which the child preserved, -> EEXIST (its request reached the daemon)");
	close_if(again);
	close(frozen);
}

/* ------------------------------------------------------------------ */
/* the PROBE envelope                                                  */

static void check_probe(int fd, const char *what)
{
	struct lufs_envelope env;
	int rc = lufs_send(fd, LUFS_PHASE_PROBE, 0, NULL, -1, &env);
	check(rc == -EINVAL && env.answered == LUFS_ENVELOPE_MAGIC, "envelope",
	      "PROBE on %s -> EINVAL with answered set (got %d, answered %s)", what, rc,
	      env.answered == LUFS_ENVELOPE_MAGIC ? "set" : "not set");
}

/* ------------------------------------------------------------------ */
/* round trips: status.json "fuseRequests"                              */

static const char *const operations[] = { "lookup", "getattr", "setattr", "open", "read",
					  "write", "flush", "release", "readdir", "ioctl" };
#define OPERATIONS ((int)(sizeof operations / sizeof operations[0]))

/* The daemon's request counts from status.json at path; 0, or -1 if unreadable. */
static int read_request_counts(const char *path, long counts[OPERATIONS])
{
	static char doc[1 << 20];
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len < sizeof doc - 1 && (n = read(fd, doc + len, sizeof doc - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	doc[len] = '\0';
	const char *object = strstr(doc, "\"fuseRequests\"");
	const char *end = object ? strchr(object, '}') : NULL;
	for (int i = 0; i < OPERATIONS; i++) {
		char key[32];
		snprintf(key, sizeof key, "\"%s\":", operations[i]);
		const char *at = object ? strstr(object, key) : NULL;
		if (!at || at > end)
			return -1;
		counts[i] = strtol(at + strlen(key), NULL, 10);
	}
	return 0;
}

static void test_round_trips(int dev, const char *status_path)
{
	enum { N = 50 };
	long first[OPERATIONS], second[OPERATIONS], after[OPERATIONS];
	char name[32], seen[256] = "";
	int s = lu_create(dev, "round-trips");
	check_rc(s, 0, "design", "this process's first CREATE_SESSION (its node's entry is cached from then on)");
	close_if(s);
	/* Two reads in a row: what a read of status.json itself costs, between two renders. */
	int rc = read_request_counts(status_path, first) | read_request_counts(status_path, second);
	int created = 0;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "round-trips-%d", i);
		s = lu_create(dev, name);
		created += s >= 0;
		close_if(s);
	}
	rc |= read_request_counts(status_path, after);
	check(rc == 0 && created == N, "design", "%d CREATE_SESSION + close, status.json's \"fuseRequests\" read around them", N);
	if (rc != 0)
		return;
	/*
	 * Under `liveupdatefs run` (a Docker entrypoint) the library is inert
	 * (LIVEUPDATEFS_SECCOMP): the filter traps the ioctl and the daemon
	 * answers it from the listener, so only the node's open and release
	 * reach FUSE.
	 */
	int trapped = getenv("LIVEUPDATEFS_SECCOMP") != NULL;
	long total = 0;
	int exact = 1;
	for (int i = 0; i < OPERATIONS; i++) {
		long spent = after[i] - second[i] - (second[i] - first[i]);
		int want = (strcmp(operations[i], "ioctl") == 0 && !trapped) || strcmp(operations[i], "open") == 0 ||
			   strcmp(operations[i], "release") == 0 ? N : 0;
		total += spent;
		exact &= spent == want;
		if (spent)
			snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " %s %ld", operations[i], spent);
	}
	if (trapped)
		check(exact && total == 2 * N, "design",
		      "under run each CREATE_SESSION + close costs 2 FUSE requests: open, release; the ioctl is trapped (%d rounds:%s)",
		      N, seen);
	else
		check(exact && total == 3 * N, "design",
		      "each CREATE_SESSION + close costs 3 FUSE requests: ioctl, open, release (%d rounds:%s)", N, seen);
}

/*
 * A program's own ioctl with the shape of the library's short hand-over
 * request (lufs-envelope.h), from a thread that has created a session
 * through the library: the kernel's answer to an unknown nr (EINVAL), the
 * struct untouched, nothing created or undone.
 */
static void test_short_form_shape_is_unknown(int dev)
{
	int s = lu_create(dev, "shape-warmup");
	check_rc(s, 0, "4.1", "CREATE_SESSION through the library first");
	close_if(s);
	struct liveupdate_ioctl_create_session raw = { .size = sizeof raw, .fd = -7 };
	lu_fill_name(raw.name, "shape-ghost");
	check_rc(lu_ioctl(dev, _IOC(_IOC_NONE, LIVEUPDATE_IOCTL_TYPE, 0xE0, 100), &raw), EINVAL, "2.1",
		 "the program's _IOC(NONE, 0xBA, 0xE0, 100) -> EINVAL, as an unknown nr on the kernel");
	check(raw.fd == -7, "2.1", "its struct is untouched (fd %d)", raw.fd);
	check_rc(lu_ioctl(dev, _IOC(_IOC_NONE, LIVEUPDATE_IOCTL_TYPE, 0xE2, 28), NULL), EINVAL, "2.1",
		 "the program's _IOC(NONE, 0xBA, 0xE2, 28) -> EINVAL");
	s = lu_create(dev, "shape-ghost");
	check_rc(s, 0, "4.1", "no session was left waiting under the name");
	close_if(s);
}

/* ------------------------------------------------------------------ */

static int main_cases(void)
{
	char status_path[PATH_MAX];
	int first_pid = 0;

	int scope = yama_scope();
	if (scope < 0)
		tap_note("Yama is absent: no ptracer is needed, so PR_SET_PTRACER after fork is not exercised here");
	else
		tap_note("Yama ptrace_scope %d", scope);

	/* before any LUO request of this program */
	int rc = lufs_node_path("status.json", status_path, sizeof status_path);
	int fan = rc < 0 ? rc : watch_opens(status_path);
	check_rc(fan, 0, "design", "fanotify watches %s for opens (needs root)", status_path);

	test_signal_handler();

	int dev = lu_open_device_or_die();
	int s = lu_create(dev, "preload-main");
	check_rc(s, 0, "4.1", "CREATE_SESSION \"preload-main\"");
	if (s < 0)
		tap_fatal("4.1", "nothing else can run", "a session");
	check_probe(dev, "the device");
	check_probe(s, "a session fd");

	test_fallocate_arguments(s);
	test_fork(dev, s);
	test_short_form_shape_is_unknown(dev);
	close(s);

	if (fan >= 0) {
		int opens = count_opens(fan, &first_pid);
		check(opens == 0, "design",
		      "no process of this program opened status.json (%d opens, the first by pid %d)", opens, first_pid);
		close(fan);
	}
	if (rc == 0)
		test_round_trips(dev, status_path);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* two-mounts: the frozen size is asked where the last answer came from */

static int two_mounts(const char *device_b)
{
	int a = lu_open_device_or_die();
	int b = neg_errno(open(device_b, O_RDWR | O_CLOEXEC));
	check_rc(b, 0, "3", "open the second mount's device %s", device_b);
	if (b < 0)
		return tap_done();

	int sa = lu_create(a, "two-a");
	int ma = lu_memfd("two-a", MFD_CLOEXEC, page);
	check_rc(sa < 0 ? sa : ma < 0 ? ma : lu_preserve(sa, ma, 1), 0, "4.3", "mount A: CREATE_SESSION and PRESERVE_FD");
	check_rc(neg_errno(ftruncate(ma, 0)), EPERM, "8.2", "mount A answered last: A's preserved memfd -> EPERM");

	int sb = lu_create(b, "two-b");
	int mb = lu_memfd("two-b", MFD_CLOEXEC, page);
	check_rc(sb < 0 ? sb : mb < 0 ? mb : lu_preserve(sb, mb, 1), 0, "4.3", "mount B: CREATE_SESSION and PRESERVE_FD");
	check_rc(neg_errno(ftruncate(mb, 0)), EPERM, "8.2",
		 "after mount B answered CREATE_SESSION, the library asks B: B's preserved memfd -> EPERM");

	int sa2 = lu_create(a, "two-a2");
	check_rc(sa2, 0, "4.1", "mount A: CREATE_SESSION again");
	check_rc(neg_errno(ftruncate(ma, 0)), EPERM, "8.2", "back on A: A's preserved memfd -> EPERM");

	int mb2 = lu_memfd("two-b2", MFD_CLOEXEC, page);
	check_rc(sb < 0 ? sb : mb2 < 0 ? mb2 : lu_preserve(sb, mb2, 2), 0, "4.3",
		 "mount B: PRESERVE_FD (a request without an envelope)");
	check_rc(neg_errno(ftruncate(mb2, 0)), EPERM, "8.2",
		 "after B answered the library's probe before PRESERVE_FD, it asks B: -> EPERM");
	int loose = lu_memfd("two-loose", MFD_CLOEXEC, page);
	check_rc(loose < 0 ? loose : neg_errno(ftruncate(loose, 0)), 0, "8.2", "a memfd preserved nowhere: ftruncate works");

	close_if(loose);
	close_if(mb2);
	close_if(sa2);
	close_if(mb);
	close_if(sb);
	close_if(ma);
	close_if(sa);
	close(b);
	close(a);
	return tap_done();
}

int main(int argc, char **argv)
{
	page = sysconf(_SC_PAGESIZE);
	if (argc == 1)
		return main_cases();
	if (argc == 3 && strcmp(argv[1], "two-mounts") == 0)
		return two_mounts(argv[2]);
	fprintf(stderr, "usage: %s [two-mounts DEVICE2]\n", argv[0]);
	return 2;
}
