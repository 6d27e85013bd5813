/*
 * hostile_stages - callers that try to stall, deadlock or impersonate their
 * way past the daemon, driven by NUnit's HostileCallerTests and
 * by the hostile long mode (scripts/hostile); never run by the *_test loop.
 *
 * Every request that could hang runs in a forked child: the parent waits a
 * bounded time for its answer, so a daemon that stops answering turns into
 * a "not ok" line within seconds instead of a hung test. A child that got
 * no answer is left waiting (it sits in the kernel until the daemon answers
 * or dies: the harness kills the daemon); children never hold the parent's
 * stdout. After the first request without an answer the rest of a stage is
 * reported as not tried ("the daemon stopped answering").
 *
 *   hostile_stages seed PREFIX N
 *       sessions PREFIX-0 .. PREFIX-(N-1), each with one memfd (token 1,
 *       contents from the name), kept by a holder ("# holder pid N") for
 *       the next reboot; prints "# seeded N sessions, N files".
 *   hostile_stages unshared PREFIX
 *       (after a reboot of a seed) in a new mount namespace, with the mount
 *       copied by unshare: every LUO request (RETRIEVE_SESSION, GET_NAME,
 *       RETRIEVE_FD, FINISH, CREATE_SESSION, PRESERVE_FD of a memfd, the
 *       error cases, the frozen-size query) and PRESERVE_FD of the device
 *       fd, of a session fd and of status.json (ENOENT: not a memfd); each
 *       must be answered within 1 s.
 *   hostile_stages backdoor PREFIX
 *       (after a reboot of a seed) this process is the agent: it holds the
 *       device and a session; other processes send envelopes (PREPARE of
 *       RETRIEVE_SESSION / CREATE_SESSION) and LUO ioctls on status.json and
 *       on the control node: all refused; the agent's sessions untouched.
 *   hostile_stages stall PREFIX STATUS2 PID2
 *       (after a reboot of a seed) a well-behaved GET_NAME loop runs while
 *       hostile children: PREPARE of RETRIEVE_FD with a full channel
 *       socket; PRESERVE_FD of a file (STATUS2, the status.json of a second
 *       daemon, pid PID2) of a mount whose daemon is stopped (SIGSTOP here);
 *       GET_NAME with a ~4 GiB struct (zero tail, then a non-zero last
 *       byte). Prints "# well-behaved GET_NAME: ... p50 ... p99 ... max".
 *   hostile_stages abandon TOTAL BATCH DAEMONPID
 *       TOTAL children, BATCH at a time, each PREPAREs a CREATE_SESSION on
 *       the inherited device fd and is SIGKILLed before it opens the
 *       session node; then the daemon's fd count must come back to its
 *       baseline.
 *   hostile_stages prepare-cap N DAEMONPID
 *       one live process PREPAREs N CREATE_SESSIONs and never opens their
 *       nodes: the daemon must refuse some (a cap per thread) and its fds
 *       stay bounded.
 *   hostile_stages crowd N FDS
 *       N idle processes holding FDS fds each (dups of /dev/null), in this
 *       process's group; "# crowd ready", then waits until killed.
 *   hostile_stages first-request
 *       times a new process's first LUO request (CREATE_SESSION through the
 *       preload library); it must take less than 1 s.
 *   hostile_stages probe
 *       the daemon serves: open the device, CREATE_SESSION, GET_NAME, close
 *       (each bounded).
 *   hostile_stages swarm PREFIX SLOTS SECONDS SEED [STATUS2 PID2]
 *       the hostile long mode's clients: SLOTS processes run random hostile
 *       attacks (another mount namespace, the status.json backdoor, a full
 *       socket, abandoned PREPAREs, a stopped FUSE mount, 4 GiB tails) in a
 *       loop beside a well-behaved GET_NAME loop, until SIGTERM or SECONDS;
 *       "# swarm ready" once set up (the device is free again by then).
 *       Then checks: every attack answered within 5 s as expected, no
 *       well-behaved request waited 1 s, the retrieved PREFIX sessions'
 *       files intact. LIVEUPDATEFS_HOSTILE_KINDS (unshared, backdoor,
 *       full-socket, abandon, stopped-mount, tail, new-client; comma-separated)
 *       narrows the kinds down.
 *   hostile_stages first-get-name FD NAME
 *       (the swarm's new clients, exec'd) the first LUO request of this
 *       program, GET_NAME on FD: exit 0 within 1 s, 3 slower, 1 wrong.
 *
 * Environment: LIVEUPDATE_DEVICE (the device node), LD_PRELOAD of the
 * preload library (fd-returning requests), LIVEUPDATEFS_MOUNTPOINT.
 * Output: TAP and "N passed, M failed"; exit status 0, 1 (a failure) or 2
 * (usage). Needs root (unshare, another process's /proc/PID/fd, SIGSTOP).
 */
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "fdpass.h"
#include "holder.h"
#include "lufs_direct.h"
#include "luo.h"
#include "tap.h"

#define ANSWER_LIMIT 1.0        /* every request of a well-behaved caller, and the bounded ones here */
#define HOSTILE_LIMIT 5.0       /* a hostile request must be answered within this (it may be slower) */
#define STALL_WAIT 3.0          /* how long a stalled request is given before the stage unblocks it */
#define LATE_WAIT 10.0          /* how long the late answer is awaited once unblocked */
#define TAIL_SIZE 0xffffffffu   /* the ~4 GiB struct of the zero-tail attacks */
#define TAIL_MAP (1ull << 32)   /* mapped: [0, 4 GiB) covers every byte of it */
#define SEED_TOKEN 1
#define MAX_SEEDS 32
#define MAX_SLOTS 32
#define LATENCY_CAPACITY (4u << 20)
#define LATENCY_PAUSE_NS (500 * 1000)
#define SWARM_PAUSE_MS 10       /* between two attacks of a slot: the load beside gets the CPUs too */
#define SWARM_MAX_MEMFDS 300

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* splitmix64, as in load_stages. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t name_hash(const char *name)
{
	uint64_t h = 1469598103934665603ull;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h;
}

/* The nodes beside the device, resolved once at the start: resolving a
 * path on the mount later could wait for a daemon that stopped answering. */
static char status_path[PATH_MAX], control_path[PATH_MAX];

static void resolve_node_paths(void)
{
	if (lufs_node_path("status.json", status_path, sizeof status_path) < 0)
		status_path[0] = '\0';
	if (lufs_node_path(LUFS_CONTROL_NODE, control_path, sizeof control_path) < 0)
		control_path[0] = '\0';
}

/* A session node's path (the library's step), in a child. */
static int node_path(const char *node, char *out, size_t n)
{
	return lufs_node_path(node, out, n);
}

/* The contents of a seeded file: a function of the session's name. */
static size_t seed_size(const char *name)
{
	return 3 * 4096 + 123 + name_hash(name) % 4096;
}

static void seed_fill(unsigned char *buf, const char *name, size_t size)
{
	uint64_t h = name_hash(name);
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(mix64(h + i / 8) >> (8 * (i % 8)));
}

/* 1 if fd holds exactly the seeded contents of name. */
static int seed_ok(int fd, const char *name)
{
	size_t size = seed_size(name);
	unsigned char *want = malloc(size), *got = malloc(size + 1);
	struct stat st;
	int ok = want && got && fstat(fd, &st) == 0 && (size_t)st.st_size == size &&
		 pread(fd, got, size + 1, 0) == (ssize_t)size;
	if (ok) {
		seed_fill(want, name, size);
		ok = memcmp(want, got, size) == 0;
	}
	free(want);
	free(got);
	return ok;
}

static int seed_memfd(const char *name)
{
	size_t size = seed_size(name);
	unsigned char *buf = malloc(size);
	int fd = lu_memfd("hostile-seed", MFD_CLOEXEC, 0);
	if (!buf || fd < 0) {
		free(buf);
		close_if(fd);
		return -ENOMEM;
	}
	seed_fill(buf, name, size);
	int rc = pwrite(fd, buf, size, 0) == (ssize_t)size ? fd : -EIO;
	free(buf);
	if (rc < 0)
		close(fd);
	return rc;
}

static void seed_name(char *out, size_t n, const char *prefix, int i)
{
	snprintf(out, n, "%s-%d", prefix, i);
}

/* Waits up to limit seconds for fd to be readable: 1 readable, 0 not (yet). */
static int wait_readable(int fd, double limit)
{
	double end = now() + limit;
	for (;;) {
		double left = end - now();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
		if (rc > 0)
			return 1;
		if (rc == 0 || (rc < 0 && errno != EINTR) || now() >= end)
			return 0;
	}
}

/* Reaps pid if it exits within limit seconds; 1 reaped, 0 still running. */
static int reap_within(pid_t pid, double limit, int *status)
{
	double end = now() + limit;
	for (;;) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (status)
				*status = st;
			return 1;
		}
		if (now() >= end)
			return 0;
		sleep_ms(5);
	}
}

/* Number of open fds of process pid, or -errno. */
static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	return lu_count_fds_in(path);
}

/* The state letter of process pid (/proc/PID/stat), or '?'. */
static char process_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* ------------------------------------------------------------------ */
/* Bounded requests: each in a child, the parent waits a bounded time   */

/* A request run in a child: returns >= 0 or -errno; may hand an fd back
 * (*fd_out) and a detail number (*detail) to the parent. */
typedef long (*request_fn)(void *ctx, int *fd_out, long *detail);

struct reply {
	long rc;
	long detail;
	double seconds;
};

struct call {
	pid_t pid;
	int sock;
	double started;
	int linger; /* the child waits after its reply: not reaped here */
};

struct outcome {
	int tried;      /* 0: not tried, the daemon had stopped answering */
	int answered;   /* 0: no answer within the limit (the child still waits) */
	long rc;
	long detail;
	int fd;         /* the fd the child handed back, or -1 */
	double seconds; /* the request's own time in the child */
	double waited;  /* how long the parent waited */
};

/* Set once a request got no answer: the rest of the stage is not tried. */
static int daemon_silent;
static char silent_why[200];

/* Forks a child that runs fn; linger: the child waits after its reply
 * (until killed) instead of exiting, keeping whatever it holds. */
static struct call call_start(request_fn fn, void *ctx, int linger)
{
	struct call c = { .pid = -1, .sock = -1, .started = now(), .linger = linger };
	int sv[2];
	fflush(stdout);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return c;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return c;
	}
	if (pid == 0) {
		close(sv[0]);
		quiet_stdio();
		int fd = -1;
		long detail = 0;
		double t0 = now();
		long rc = fn(ctx, &fd, &detail);
		struct reply r = { .rc = rc, .detail = detail, .seconds = now() - t0 };
		fdpass_send(sv[1], &r, sizeof r, fd);
		if (linger)
			for (;;)
				pause();
		_exit(0);
	}
	close(sv[1]);
	c.pid = pid;
	c.sock = sv[0];
	return c;
}

/* Waits up to limit seconds (from now) for the child's reply. A child that
 * answered is reaped (bounded); one that did not keeps waiting. */
static struct outcome call_wait(struct call *c, double limit)
{
	struct outcome o = { .tried = 1, .fd = -1, .rc = -EIO };
	if (c->pid < 0) {
		o.answered = 1;
		o.rc = -EAGAIN; /* could not fork */
		return o;
	}
	if (wait_readable(c->sock, limit)) {
		struct reply r;
		int fd = -1;
		ssize_t n = fdpass_recv(c->sock, &r, sizeof r, &fd);
		if (n == (ssize_t)sizeof r) {
			o.answered = 1;
			o.rc = r.rc;
			o.detail = r.detail;
			o.seconds = r.seconds;
			o.fd = fd;
		} else {
			close_if(fd);
			o.answered = 1; /* the child died without a reply */
			o.rc = -ECHILD;
			o.seconds = now() - c->started;
		}
		close(c->sock);
		c->sock = -1;
		if (!c->linger)
			reap_within(c->pid, 2.0, NULL);
	}
	o.waited = now() - c->started;
	return o;
}

/* Gives up on a child that got no answer: SIGKILL (it dies once the
 * daemon answers or dies) and no wait. */
static void call_abandon(struct call *c)
{
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/* One bounded request: started, waited for up to limit; not tried once the daemon is silent. */
static struct outcome bounded(request_fn fn, void *ctx, double limit, const char *what)
{
	if (daemon_silent) {
		struct outcome o = { .tried = 0, .fd = -1 };
		return o;
	}
	struct call c = call_start(fn, ctx, 0);
	struct outcome o = call_wait(&c, limit);
	if (!o.answered) {
		call_abandon(&c);
		daemon_silent = 1;
		snprintf(silent_why, sizeof silent_why, "%s got no answer within %.1f s", what, limit);
	}
	return o;
}

enum { EXPECT_SUCCESS = 0, EXPECT_ANY_ERRNO = -1 };

/* Checks an outcome: answered within limit, with the expected result
 * (0 success, an errno, EXPECT_ANY_ERRNO any failure, or either of e1/e2). */
static TAP_PRINTF(6) void check_answer(struct outcome o, int e1, int e2, double limit, const char *sec,
				       const char *fmt, ...)
{
	char why[300];
	int pass = 0;
	if (!o.tried) {
		snprintf(why, sizeof why, "not tried: the daemon stopped answering (%s)", silent_why);
	} else if (!o.answered) {
		snprintf(why, sizeof why, "no answer within %.1f s: the request still waits", o.waited);
	} else {
		int result_ok = e1 == EXPECT_ANY_ERRNO ? o.rc < 0
				: e1 == 0	       ? o.rc >= 0
						       : o.rc == -(long)e1 || (e2 != 0 && o.rc == -(long)e2);
		char got[160];
		if (e1 == EXPECT_ANY_ERRNO && o.rc >= 0)
			snprintf(got, sizeof got, "got success (%ld), expected an errno", o.rc);
		else
			tap_describe_rc(got, sizeof got, o.rc, e1 == EXPECT_ANY_ERRNO ? 0 : e1, e2);
		if (!result_ok)
			snprintf(why, sizeof why, "%s, after %.3f s", got, o.seconds);
		else if (o.seconds > limit)
			snprintf(why, sizeof why, "answered only after %.3f s (limit %.1f s)", o.seconds, limit);
		else
			why[0] = '\0';
		pass = result_ok && o.seconds <= limit;
	}
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Requests (run in children)                                          */

struct req {
	int fd;                 /* the device or session fd the request goes to */
	int arg_fd;             /* an fd argument (PRESERVE_FD, channel) */
	uint64_t token;
	unsigned long request;
	int flags;
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	char path[PATH_MAX];
};

static long r_open(void *ctx, int *fd_out, long *detail)
{
	(void)detail;
	struct req *r = ctx;
	int fd = neg_errno(open(r->path, r->flags | O_CLOEXEC));
	*fd_out = fd;
	return fd;
}

static long r_create(void *ctx, int *fd_out, long *detail)
{
	(void)detail;
	struct req *r = ctx;
	int fd = lu_create(r->fd, r->name);
	*fd_out = fd;
	return fd;
}

static long r_retrieve(void *ctx, int *fd_out, long *detail)
{
	(void)detail;
	struct req *r = ctx;
	int fd = lu_retrieve(r->fd, r->name);
	*fd_out = fd;
	return fd;
}

/* GET_NAME; -EPROTO when it names another session. */
static long r_get_name(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	char got[LIVEUPDATE_SESSION_NAME_LENGTH];
	int rc = lu_get_name(r->fd, got);
	if (rc < 0)
		return rc;
	return strncmp(got, r->name, sizeof got) == 0 ? 0 : -EPROTO;
}

static long r_preserve(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	return lu_preserve(r->fd, r->arg_fd, r->token);
}

static long r_retrieve_fd(void *ctx, int *fd_out, long *detail)
{
	(void)detail;
	struct req *r = ctx;
	int fd = lu_retrieve_fd(r->fd, r->token);
	if (fd >= 0)
		*fd_out = fd;
	return fd;
}

static long r_finish(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	return lu_finish(r->fd);
}

/* A request with a zeroed 72-byte struct of the right size (create/retrieve: r->name). */
static long r_ioctl(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	lu_fill_name(cs.name, r->name);
	return lu_ioctl(r->fd, r->request, &cs);
}

/* The same, as a raw syscall: the preload library never sees it. */
static long r_syscall_ioctl(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	lu_fill_name(cs.name, r->name);
	return neg_errno(syscall(SYS_ioctl, r->fd, r->request, &cs));
}

static long r_ftruncate(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	return neg_errno(ftruncate(r->arg_fd, (off_t)r->token));
}

/* The library's frozen-size question, by hand, on the control node: is arg_fd frozen? */
static long r_query_frozen(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	struct lufs_envelope env;
	return lufs_send(r->fd, LUFS_PHASE_QUERY_FROZEN, 0, NULL, r->arg_fd, &env);
}

/* status.json is readable and names the daemon's pid (detail). */
static long r_read_status(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	struct req *r = ctx;
	static char text[1 << 20];
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n, total = 0;
	while (total < (ssize_t)sizeof text - 1 && (n = read(fd, text + total, sizeof text - 1 - (size_t)total)) > 0)
		total += n;
	int e = errno;
	close(fd);
	if (total <= 0)
		return total < 0 ? -e : -ENODATA;
	text[total] = '\0';
	char *at = strstr(text, "\"daemonPid\": ");
	if (!at)
		return -EPROTO;
	*detail = strtol(at + strlen("\"daemonPid\": "), NULL, 10);
	return 0;
}

static int enter_private_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* keep the copies to ourselves: nothing propagates back */
	return neg_errno(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

/* open(path) in a new mount namespace: the fd names that namespace's copy of the mount. */
static long r_open_unshared(void *ctx, int *fd_out, long *detail)
{
	int rc = enter_private_mount_namespace();
	return rc < 0 ? rc : r_open(ctx, fd_out, detail);
}

/* ------------------------------------------------------------------ */
/* Stage helpers                                                       */

static struct req req_on(int fd)
{
	struct req r;
	memset(&r, 0, sizeof r);
	r.fd = fd;
	r.arg_fd = -1;
	return r;
}

/* open(path) bounded; the fd or -1 (the check line says why). */
static int open_bounded(const char *path, int flags, const char *sec, const char *what)
{
	struct req r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", path);
	r.flags = flags;
	struct outcome o = bounded(r_open, &r, ANSWER_LIMIT, what);
	check_answer(o, 0, 0, ANSWER_LIMIT, sec, "%s", what);
	if (o.answered && o.rc < 0)
		close_if(o.fd);
	return o.answered && o.rc >= 0 ? o.fd : -1;
}

/* open(path) bounded, without a check line of its own; the fd or -1. */
static int open_quiet(const char *path, int flags)
{
	struct req r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", path);
	r.flags = flags;
	struct outcome o = bounded(r_open, &r, ANSWER_LIMIT, path);
	if (o.answered && o.rc < 0)
		close_if(o.fd);
	return o.answered && o.rc >= 0 ? o.fd : -1;
}

/* Closes fd only while the daemon answers: a close sends FLUSH, which a
 * stuck daemon never answers (and that wait cannot be interrupted). */
static void close_if_answering(int fd)
{
	if (fd >= 0 && !daemon_silent)
		close(fd);
}

/* status.json is readable, bounded. */
static void check_status_readable(const char *sec, const char *what)
{
	struct req r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", status_path);
	struct outcome o = bounded(r_read_status, &r, ANSWER_LIMIT, "read status.json");
	check_answer(o, 0, 0, ANSWER_LIMIT, sec, "%s", what);
}

/* ------------------------------------------------------------------ */
/* seed                                                                */

static int seed_stage(const char *prefix, int n)
{
	int dev = lu_open_device_or_die();
	int sessions[MAX_SEEDS], made = 0;
	for (int i = 0; i < n; i++) {
		char name[64];
		seed_name(name, sizeof name, prefix, i);
		int s = lu_create(dev, name);
		check_rc(s, 0, "4.1", "CREATE_SESSION \"%s\"", name);
		if (s < 0)
			continue;
		int m = seed_memfd(name);
		check_rc(lu_preserve(s, m, SEED_TOKEN), 0, "4.3", "PRESERVE_FD of \"%s\"'s memfd", name);
		close_if(m);
		sessions[made++] = s;
	}
	close(dev);
	fflush(stdout);
	pid_t pid = start_holder(sessions, made);
	check(pid > 0, "5.2", "a holder keeps the %d seeded sessions until the reboot", made);
	tap_note("holder pid %d", (int)pid);
	tap_note("seeded %d sessions, %d files", made, made);
	for (int i = 0; i < made; i++)
		close(sessions[i]);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* unshared                                                            */

static int unshared_stage(const char *prefix)
{
	char seed[64];
	seed_name(seed, sizeof seed, prefix, 0);
	check_rc(enter_private_mount_namespace(), 0, "design",
		 "a new mount namespace with private copies of every mount (as `unshare -m` makes)");

	int dev = open_bounded(lu_device_path(), O_RDWR, "3", "open the device through the namespace's copy of the mount");
	struct req r = req_on(dev);
	struct outcome o;

	/* The incoming side: every request of a retrieving agent. */
	snprintf(r.name, sizeof r.name, "%s", seed);
	o = bounded(r_retrieve, &r, ANSWER_LIMIT, "RETRIEVE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.2", "RETRIEVE_SESSION \"%s\" within 1 s", seed);
	int in = o.answered && o.rc >= 0 ? o.fd : -1;

	r = req_on(in);
	snprintf(r.name, sizeof r.name, "%s", seed);
	o = bounded(r_get_name, &r, ANSWER_LIMIT, "GET_NAME");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.6", "GET_NAME of the retrieved session within 1 s");

	r.token = SEED_TOKEN;
	o = bounded(r_retrieve_fd, &r, ANSWER_LIMIT, "RETRIEVE_FD");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.4", "RETRIEVE_FD of the seeded memfd within 1 s");
	if (o.answered && o.rc >= 0) {
		check(seed_ok(o.fd, seed), "8.3", "the retrieved memfd holds the seeded bytes");
		close(o.fd);
	}

	o = bounded(r_finish, &r, ANSWER_LIMIT, "FINISH");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.5", "FINISH of the retrieved session within 1 s");

	/* The outgoing side. */
	r = req_on(dev);
	snprintf(r.name, sizeof r.name, "unshared-out");
	o = bounded(r_create, &r, ANSWER_LIMIT, "CREATE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "CREATE_SESSION within 1 s");
	int out = o.answered && o.rc >= 0 ? o.fd : -1;

	o = bounded(r_create, &r, ANSWER_LIMIT, "CREATE_SESSION (duplicate)");
	check_answer(o, EEXIST, 0, ANSWER_LIMIT, "4.1", "CREATE_SESSION of the same name -> EEXIST within 1 s");

	snprintf(r.name, sizeof r.name, "unshared-absent");
	o = bounded(r_retrieve, &r, ANSWER_LIMIT, "RETRIEVE_SESSION (absent)");
	check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.2", "RETRIEVE_SESSION of an unknown name -> ENOENT within 1 s");

	r.request = _IO(LIVEUPDATE_IOCTL_TYPE, 0x07);
	o = bounded(r_ioctl, &r, ANSWER_LIMIT, "unknown request");
	check_answer(o, EINVAL, 0, ANSWER_LIMIT, "2.1", "an unknown request nr on the device -> EINVAL within 1 s");

	int memfd = lu_memfd("unshared", MFD_CLOEXEC, 4096);
	r = req_on(out);
	r.arg_fd = memfd;
	r.token = 1;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "PRESERVE_FD of a memfd");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.3", "PRESERVE_FD of a memfd within 1 s");
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "PRESERVE_FD (token again)");
	check_answer(o, EEXIST, 0, ANSWER_LIMIT, "4.3", "PRESERVE_FD of the same token -> EEXIST within 1 s");

	snprintf(r.name, sizeof r.name, "unshared-out");
	o = bounded(r_get_name, &r, ANSWER_LIMIT, "GET_NAME (outgoing)");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.6", "GET_NAME of the outgoing session within 1 s");
	r.token = 1;
	o = bounded(r_retrieve_fd, &r, ANSWER_LIMIT, "RETRIEVE_FD (outgoing)");
	check_answer(o, EINVAL, 0, ANSWER_LIMIT, "4.4", "RETRIEVE_FD on an outgoing session -> EINVAL within 1 s");
	o = bounded(r_finish, &r, ANSWER_LIMIT, "FINISH (outgoing)");
	check_answer(o, EINVAL, 0, ANSWER_LIMIT, "4.5", "FINISH on an outgoing session -> EINVAL within 1 s");

	r.arg_fd = memfd;
	r.token = 4096 * 2;
	o = bounded(r_ftruncate, &r, ANSWER_LIMIT, "ftruncate of the preserved memfd");
	check_answer(o, EPERM, 0, ANSWER_LIMIT, "8.2", "ftruncate of the preserved memfd -> EPERM within 1 s (the library asks the control node)");

	/* Files of this namespace's copy of the mount: never memfds. */
	r = req_on(out);
	r.arg_fd = dev;
	r.token = 2;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "PRESERVE_FD of the device fd");
	check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.3", "PRESERVE_FD of the device fd -> ENOENT within 1 s (not a memfd)");

	r.arg_fd = out;
	r.token = 3;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "PRESERVE_FD of a session fd");
	check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.3", "PRESERVE_FD of a session fd -> ENOENT within 1 s (not a memfd)");

	int status = open_quiet(status_path, O_RDONLY);
	r.arg_fd = status;
	r.token = 4;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "PRESERVE_FD of status.json");
	check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.3", "PRESERVE_FD of a status.json fd -> ENOENT within 1 s (not a memfd)");

	int control = open_quiet(control_path, O_RDWR);
	r = req_on(control);
	r.arg_fd = dev;
	o = bounded(r_query_frozen, &r, ANSWER_LIMIT, "frozen-size query about the device fd");
	check_answer(o, 0, 0, ANSWER_LIMIT, "8.2", "the control node's frozen-size query about the device fd -> 0 within 1 s");

	check_status_readable("design", "status.json is still readable within 1 s");

	close_if(memfd);
	close_if_answering(status);
	close_if_answering(control);
	close_if_answering(out);
	close_if_answering(in);
	close_if_answering(dev);
	if (daemon_silent)
		tap_note("the daemon stopped answering: %s", silent_why);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* backdoor                                                            */

/*
 * A hostile request on a status.json or control node fd: an envelope
 * PREPARE (r->request: CREATE_SESSION or RETRIEVE_SESSION of r->name) sent
 * by hand. If the daemon takes it, the theft is completed as the library
 * would (open the node, which commits it) and, for a retrieved session,
 * the seeded memfd is read: detail = bytes stolen (or -1: the session fd
 * was obtained, no file read).
 */
static long r_backdoor_envelope(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	struct req *r = ctx;
	int fd = neg_errno(open(r->path, O_RDWR | O_CLOEXEC));
	if (fd < 0)
		fd = neg_errno(open(r->path, O_RDONLY | O_CLOEXEC));
	if (fd < 0)
		return -EBADFD; /* the node cannot even be opened: not what is tested */
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	lu_fill_name(cs.name, r->name);
	struct lufs_envelope env;
	int rc = lufs_prepare(fd, r->request, &cs, fd, &env);
	if (rc < 0)
		return rc;
	/* the daemon took it: finish what the library would do */
	char node[PATH_MAX];
	env.node_name[sizeof env.node_name - 1] = '\0';
	int s = node_path(env.node_name, node, sizeof node) < 0 ? -1 : open(node, O_RDWR | O_CLOEXEC);
	if (s < 0) {
		lufs_commit(fd, &env, -1, errno);
		*detail = 0;
		return 0;
	}
	*detail = -1;
	if (r->request == LIVEUPDATE_IOCTL_RETRIEVE_SESSION) {
		int file = lu_retrieve_fd(s, SEED_TOKEN);
		if (file >= 0) {
			struct stat st;
			*detail = fstat(file, &st) == 0 ? st.st_size : -1;
		}
	}
	return 0;
}

static void backdoor_envelope(const char *node, unsigned long request, const char *name, const char *what)
{
	struct req r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", node);
	r.request = request;
	snprintf(r.name, sizeof r.name, "%s", name);
	struct outcome o = bounded(r_backdoor_envelope, &r, ANSWER_LIMIT, what);
	check_answer(o, EXPECT_ANY_ERRNO, 0, ANSWER_LIMIT, "design", "%s", what);
	if (o.answered && o.rc >= 0)
		tap_note("%s: taken by another process%s (%ld bytes of the agent's memfd read)", what,
			 request == LIVEUPDATE_IOCTL_RETRIEVE_SESSION ? ", the session retrieved" : ", a session created",
			 o.detail);
}

/* A LUO request on a status.json or control node fd, through the library's ioctl or as a raw syscall. */
static long r_node_ioctl(void *ctx, int *fd_out, long *detail)
{
	struct req *r = ctx;
	int fd = neg_errno(open(r->path, O_RDWR | O_CLOEXEC));
	if (fd < 0)
		fd = neg_errno(open(r->path, O_RDONLY | O_CLOEXEC));
	if (fd < 0)
		return -EBADFD;
	r->fd = fd;
	return r->flags ? r_syscall_ioctl(r, fd_out, detail) : r_ioctl(r, fd_out, detail);
}

static void node_ioctl(const char *node, unsigned long request, int raw, const char *what)
{
	struct req r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", node);
	r.request = request;
	r.flags = raw;
	snprintf(r.name, sizeof r.name, "backdoor-raw");
	struct outcome o = bounded(r_node_ioctl, &r, ANSWER_LIMIT, what);
	check_answer(o, ENOTTY, 0, ANSWER_LIMIT, "design", "%s", what);
}

static int backdoor_stage(const char *prefix)
{
	char seed[64];
	seed_name(seed, sizeof seed, prefix, 0);

	/* the agent: the single opener, with an outgoing session of its own */
	int dev = open_bounded(lu_device_path(), O_RDWR, "3", "the agent opens the device");
	struct req r = req_on(dev);
	snprintf(r.name, sizeof r.name, "agent-own");
	struct outcome o = bounded(r_create, &r, ANSWER_LIMIT, "the agent's CREATE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "the agent creates \"agent-own\"");
	int own = o.answered && o.rc >= 0 ? o.fd : -1;
	int memfd = lu_memfd("agent", MFD_CLOEXEC, 8192);
	r = req_on(own);
	r.arg_fd = memfd;
	r.token = 7;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "the agent's PRESERVE_FD");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.3", "the agent preserves a memfd in \"agent-own\"");

	/* other processes, through status.json and the control node */
	backdoor_envelope(status_path, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, seed,
			  "an envelope PREPARE of RETRIEVE_SESSION on a status.json fd is refused");
	backdoor_envelope(status_path, LIVEUPDATE_IOCTL_CREATE_SESSION, "intruder",
			  "an envelope PREPARE of CREATE_SESSION on a status.json fd is refused");
	backdoor_envelope(control_path, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, seed,
			  "an envelope PREPARE of RETRIEVE_SESSION on the control node is refused");
	backdoor_envelope(control_path, LIVEUPDATE_IOCTL_CREATE_SESSION, "intruder",
			  "an envelope PREPARE of CREATE_SESSION on the control node is refused");
	node_ioctl(status_path, LIVEUPDATE_IOCTL_CREATE_SESSION, 0,
		   "CREATE_SESSION on a status.json fd (through the preload library) -> ENOTTY");
	node_ioctl(status_path, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, 0,
		   "RETRIEVE_SESSION on a status.json fd (through the preload library) -> ENOTTY");
	node_ioctl(status_path, LIVEUPDATE_IOCTL_CREATE_SESSION, 1, "CREATE_SESSION on a status.json fd (raw syscall) -> ENOTTY");
	node_ioctl(status_path, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, 1, "RETRIEVE_SESSION on a status.json fd (raw syscall) -> ENOTTY");
	node_ioctl(status_path, LIVEUPDATE_SESSION_GET_NAME, 1, "GET_NAME on a status.json fd (raw syscall) -> ENOTTY");
	node_ioctl(control_path, LIVEUPDATE_IOCTL_CREATE_SESSION, 0,
		   "CREATE_SESSION on the control node (through the preload library) -> ENOTTY");
	node_ioctl(control_path, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, 1, "RETRIEVE_SESSION on the control node (raw syscall) -> ENOTTY");

	/* the agent's view is untouched */
	r = req_on(own);
	snprintf(r.name, sizeof r.name, "agent-own");
	o = bounded(r_get_name, &r, ANSWER_LIMIT, "the agent's GET_NAME");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.6", "the agent's session still answers GET_NAME");
	int memfd2 = lu_memfd("agent2", MFD_CLOEXEC, 4096);
	r.arg_fd = memfd2;
	r.token = 8;
	o = bounded(r_preserve, &r, ANSWER_LIMIT, "the agent's second PRESERVE_FD");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.3", "the agent preserves a second memfd");

	r = req_on(dev);
	snprintf(r.name, sizeof r.name, "%s", seed);
	o = bounded(r_retrieve, &r, ANSWER_LIMIT, "the agent's RETRIEVE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.2", "the agent retrieves \"%s\" (nobody else took it)", seed);
	int in = o.answered && o.rc >= 0 ? o.fd : -1;
	if (in >= 0) {
		r = req_on(in);
		r.token = SEED_TOKEN;
		o = bounded(r_retrieve_fd, &r, ANSWER_LIMIT, "the agent's RETRIEVE_FD");
		check_answer(o, 0, 0, ANSWER_LIMIT, "4.4", "the agent retrieves its memfd");
		check(o.answered && o.rc >= 0 && seed_ok(o.fd, seed), "8.3", "the agent's memfd holds the seeded bytes");
		if (o.answered && o.rc >= 0)
			close(o.fd);
		o = bounded(r_finish, &r, ANSWER_LIMIT, "the agent's FINISH");
		check_answer(o, 0, 0, ANSWER_LIMIT, "4.5", "the agent finishes \"%s\"", seed);
	}
	r = req_on(dev);
	snprintf(r.name, sizeof r.name, "intruder");
	o = bounded(r_create, &r, ANSWER_LIMIT, "the agent's CREATE_SESSION \"intruder\"");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "the agent creates \"intruder\": no other process made that session");
	int intruder = o.answered && o.rc >= 0 ? o.fd : -1;

	close_if(memfd);
	close_if(memfd2);
	close_if_answering(intruder);
	close_if_answering(in);
	close_if_answering(own);
	close_if_answering(dev);
	if (daemon_silent)
		tap_note("the daemon stopped answering: %s", silent_why);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* The well-behaved client: a GET_NAME loop that records its latency    */

#define MAX_PHASES 8

/* Shared with the loop: phase is set by the stage (what the hostile side
 * is doing now); each request counts in the phase it started in. */
struct latency {
	volatile int stop;
	volatile int phase;
	volatile int inflight_phase;
	volatile uint64_t inflight_since; /* µs (CLOCK_MONOTONIC) of the request under way, 0 between */
	volatile long n;
	volatile long errors;
	volatile long first_error;
	volatile uint32_t phase_max_us[MAX_PHASES];
	volatile long phase_n[MAX_PHASES];
	uint32_t us[LATENCY_CAPACITY];
};

struct latency_report {
	long n, errors, first_error;
	double p50_ms, p99_ms, max_ms;
	double phase_max_ms[MAX_PHASES];
	long phase_n[MAX_PHASES];
	int still_waiting, waiting_phase;
};

static struct latency *latency_map(void)
{
	void *p = mmap(NULL, sizeof(struct latency), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Forks the loop on session (whose name is name); its pid. */
static pid_t latency_start(struct latency *l, int session, const char *name)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	quiet_stdio();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct timespec pause_ts = { .tv_sec = 0, .tv_nsec = LATENCY_PAUSE_NS };
	while (!l->stop) {
		char got[LIVEUPDATE_SESSION_NAME_LENGTH];
		int phase = l->phase;
		uint64_t t0 = now_us();
		l->inflight_phase = phase;
		l->inflight_since = t0;
		int rc = lu_get_name(session, got);
		uint64_t d = now_us() - t0;
		l->inflight_since = 0;
		if (phase >= 0 && phase < MAX_PHASES) {
			if (d > l->phase_max_us[phase])
				l->phase_max_us[phase] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			l->phase_n[phase] = l->phase_n[phase] + 1;
		}
		if (l->n < (long)LATENCY_CAPACITY) {
			l->us[l->n] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			l->n = l->n + 1;
		}
		if (rc < 0 || strncmp(got, name, sizeof got) != 0) {
			if (l->errors == 0)
				l->first_error = rc < 0 ? -rc : EPROTO;
			l->errors = l->errors + 1;
		}
		nanosleep(&pause_ts, NULL);
	}
	_exit(0);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Stops the loop (bounded) and computes its figures; a request still
 * under way counts with the time it has waited so far. */
static struct latency_report latency_stop(struct latency *l, pid_t pid)
{
	struct latency_report rep = { 0 };
	l->stop = 1;
	if (!reap_within(pid, 3.0, NULL)) {
		rep.still_waiting = 1;
		kill(pid, SIGKILL);
	}
	long n = l->n;
	uint32_t *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
	if (sorted && n > 0) {
		memcpy(sorted, l->us, (size_t)n * sizeof *sorted);
		qsort(sorted, (size_t)n, sizeof *sorted, cmp_u32);
		rep.p50_ms = sorted[n / 2] / 1000.0;
		rep.p99_ms = sorted[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0;
		rep.max_ms = sorted[n - 1] / 1000.0;
	}
	free(sorted);
	for (int p = 0; p < MAX_PHASES; p++) {
		rep.phase_max_ms[p] = l->phase_max_us[p] / 1000.0;
		rep.phase_n[p] = l->phase_n[p];
	}
	uint64_t since = l->inflight_since;
	if (since != 0) {
		double waiting = (now_us() - since) / 1000.0;
		if (waiting > rep.max_ms)
			rep.max_ms = waiting;
		int p = l->inflight_phase;
		if (p >= 0 && p < MAX_PHASES && waiting > rep.phase_max_ms[p])
			rep.phase_max_ms[p] = waiting;
		rep.still_waiting = 1;
		rep.waiting_phase = p;
	}
	rep.n = n;
	rep.errors = l->errors;
	rep.first_error = l->first_error;
	return rep;
}

static void latency_print_and_check(struct latency_report rep, const char *during)
{
	tap_note("well-behaved GET_NAME: %ld requests, p50 %.3f ms, p99 %.3f ms, max %.3f ms%s", rep.n, rep.p50_ms,
		 rep.p99_ms, rep.max_ms, rep.still_waiting ? " (a request was still waiting at the end)" : "");
	char why[160];
	snprintf(why, sizeof why, "max %.3f ms%s", rep.max_ms, rep.still_waiting ? ", still waiting at the end" : "");
	check_why(rep.max_ms <= ANSWER_LIMIT * 1000 && !rep.still_waiting && rep.n > 0, why, "design",
		  "no request of the well-behaved client waited more than 1 s while %s", during);
	snprintf(why, sizeof why, "%ld failed, the first with errno %ld (%s)", rep.errors, rep.first_error,
		 tap_errname((int)rep.first_error));
	check_why(rep.errors == 0, why, "4.6", "every GET_NAME of the well-behaved client succeeded");
}

/* ------------------------------------------------------------------ */
/* stall                                                               */

/* Fills the send side of a stream socket until the kernel says EAGAIN. */
static int fill_socket(int sock)
{
	static char junk[65536];
	for (size_t size = sizeof junk; size >= 1; size /= 2) {
		for (;;) {
			ssize_t n = send(sock, junk, size, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
	}
	return 0;
}

static void drain_socket(int sock)
{
	static char junk[65536];
	while (recv(sock, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
}

/* PREPARE of RETRIEVE_FD (r->token) on session r->fd with channel_fd r->arg_fd, by hand. */
static long r_prepare_retrieve_fd(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	(void)detail;
	struct req *r = ctx;
	struct liveupdate_session_retrieve_fd rf = { .size = sizeof rf, .fd = -1, .token = r->token };
	struct lufs_envelope env;
	return lufs_send(r->fd, LUFS_PHASE_PREPARE, LIVEUPDATE_SESSION_RETRIEVE_FD, &rf, r->arg_fd, &env);
}

/* GET_NAME with a struct whose size says ~4 GiB; r->token != 0: the last tail byte is non-zero. */
static long r_huge_get_name(void *ctx, int *fd_out, long *detail)
{
	(void)fd_out;
	struct req *r = ctx;
	unsigned char *base = mmap(NULL, TAIL_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM; /* reported: the case could not be set up */
	struct liveupdate_session_get_name *g = (void *)base;
	g->size = TAIL_SIZE;
	g->reserved = 0;
	if (r->token)
		base[TAIL_SIZE - 1] = 1;
	long rc = lu_ioctl(r->fd, LIVEUPDATE_SESSION_GET_NAME, g);
	/* detail 1: the name came back */
	*detail = rc == 0 && strncmp((char *)g->name, r->name, sizeof g->name) == 0;
	munmap(base, TAIL_MAP);
	return rc;
}

/* Waits for a stalled call: the stage's own recovery (drain, SIGCONT) runs
 * after STALL_WAIT, then the late answer is awaited. */
static struct outcome stalled_call(request_fn fn, struct req *r, void (*unblock)(void *), void *unblock_ctx,
				   double *late_after_unblock)
{
	struct call c = call_start(fn, r, 0);
	struct outcome o = call_wait(&c, STALL_WAIT);
	*late_after_unblock = -1;
	if (o.answered)
		return o;
	double t = now();
	unblock(unblock_ctx);
	struct outcome late = call_wait(&c, LATE_WAIT);
	if (late.answered) {
		*late_after_unblock = now() - t;
		late.answered = 0; /* for the check: it was not answered in time */
		late.waited = STALL_WAIT;
		tap_note("the stalled request was answered %.3f s after the stage unblocked it (rc %ld)", *late_after_unblock,
			 late.rc);
		close_if(late.fd);
		return late;
	}
	call_abandon(&c);
	daemon_silent = 1;
	snprintf(silent_why, sizeof silent_why, "a stalled request stayed unanswered even after it was unblocked");
	return late;
}

static void unblock_drain(void *ctx)
{
	drain_socket(*(int *)ctx);
}

static void unblock_continue(void *ctx)
{
	kill(*(pid_t *)ctx, SIGCONT);
}

static int stall_stage(const char *prefix, const char *status2, pid_t pid2)
{
	char seed[64];
	seed_name(seed, sizeof seed, prefix, 0);
	int dev = open_bounded(lu_device_path(), O_RDWR, "3", "open the device");
	struct req r = req_on(dev);
	snprintf(r.name, sizeof r.name, "%s", seed);
	struct outcome o = bounded(r_retrieve, &r, ANSWER_LIMIT, "RETRIEVE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.2", "RETRIEVE_SESSION \"%s\"", seed);
	int in = o.answered && o.rc >= 0 ? o.fd : -1;
	snprintf(r.name, sizeof r.name, "stall-out");
	o = bounded(r_create, &r, ANSWER_LIMIT, "CREATE_SESSION stall-out");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "CREATE_SESSION \"stall-out\" (for the hostile requests)");
	int out = o.answered && o.rc >= 0 ? o.fd : -1;
	snprintf(r.name, sizeof r.name, "stall-latency");
	o = bounded(r_create, &r, ANSWER_LIMIT, "CREATE_SESSION stall-latency");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "CREATE_SESSION \"stall-latency\" (the well-behaved client's)");
	int lat = o.answered && o.rc >= 0 ? o.fd : -1;
	if (daemon_silent || in < 0 || out < 0 || lat < 0)
		tap_fatal("design", silent_why, "the stage cannot be set up");

	struct latency *l = latency_map();
	if (!l)
		tap_fatal("design", strerror(errno), "map the latency record");
	pid_t loop = latency_start(l, lat, "stall-latency");
	sleep_ms(300); /* its normal latency first (phase 0) */

	/* 1. the full socket */
	l->phase = 1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || fill_socket(sv[0]) < 0)
		tap_fatal("design", strerror(errno), "a unix socket with a full queue");
	r = req_on(in);
	r.token = SEED_TOKEN;
	r.arg_fd = sv[0];
	double late;
	o = stalled_call(r_prepare_retrieve_fd, &r, unblock_drain, &sv[1], &late);
	check_answer(o, EXPECT_ANY_ERRNO, 0, ANSWER_LIMIT, "design",
		     "PREPARE of RETRIEVE_FD whose channel socket is full -> an errno within 1 s");
	close(sv[0]);
	close(sv[1]);

	/* 2. a file of a FUSE mount whose daemon never answers: opened here, and
	 *    opened through another mount namespace's copy of that mount (a
	 *    sandboxed service's file: the daemon cannot find its mount) */
	int other = daemon_silent ? -1 : neg_errno(open(status2, O_RDONLY | O_CLOEXEC));
	check_rc(other, 0, "design", "open the second daemon's status.json");
	r = req_on(-1);
	snprintf(r.path, sizeof r.path, "%s", status2);
	o = bounded(r_open_unshared, &r, ANSWER_LIMIT, "open through another namespace");
	check_answer(o, 0, 0, ANSWER_LIMIT, "design", "open the second daemon's status.json in another mount namespace");
	int other_ns = o.answered && o.rc >= 0 ? o.fd : -1;
	int stopped = 0;
	l->phase = 2;
	if (other >= 0 && other_ns >= 0 && kill(pid2, SIGSTOP) == 0) {
		for (int i = 0; i < 200 && process_state(pid2) != 'T'; i++)
			sleep_ms(5);
		stopped = process_state(pid2) == 'T';
	}
	check(stopped, "design", "the second daemon (pid %d) is stopped", (int)pid2);
	if (stopped) {
		r = req_on(out);
		r.arg_fd = other;
		r.token = 9;
		o = stalled_call(r_preserve, &r, unblock_continue, &pid2, &late);
		check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.3",
			     "PRESERVE_FD of a file of a mount whose daemon is stopped -> ENOENT within 1 s");
		if (late >= 0)
			stopped = 0; /* the recovery continued it */
	}
	if (stopped) {
		r = req_on(out);
		r.arg_fd = other_ns;
		r.token = 10;
		o = stalled_call(r_preserve, &r, unblock_continue, &pid2, &late);
		check_answer(o, ENOENT, 0, ANSWER_LIMIT, "4.3",
			     "PRESERVE_FD of that file opened through another mount namespace -> ENOENT within 1 s");
		if (late >= 0)
			stopped = 0;
	}

	/* 3. ~4 GiB structs, two callers at once (the second daemon stays stopped meanwhile) */
	l->phase = 3;
	struct req zero = req_on(out), nonzero;
	snprintf(zero.name, sizeof zero.name, "stall-out");
	nonzero = zero;
	nonzero.token = 1;
	struct outcome oz = { .tried = 0, .fd = -1 }, on = oz;
	if (!daemon_silent) {
		struct call cz = call_start(r_huge_get_name, &zero, 0), cn = call_start(r_huge_get_name, &nonzero, 0);
		oz = call_wait(&cz, 60.0);
		on = call_wait(&cn, oz.answered ? 60.0 : 0.1);
		if (!oz.answered || !on.answered) {
			call_abandon(&cz);
			call_abandon(&cn);
			daemon_silent = 1;
			snprintf(silent_why, sizeof silent_why, "a GET_NAME with a 4 GiB struct got no answer within 60 s");
		}
	}
	check_answer(oz, 0, 0, 60.0, "2.2",
		     "GET_NAME with size 0xffffffff and an all-zero tail succeeds (the kernel's copy_struct_from_user)");
	check(oz.answered && oz.rc == 0 && oz.detail == 1, "4.6", "... and writes the name back");
	check_answer(on, E2BIG, 0, 60.0, "2.2", "GET_NAME with size 0xffffffff and a non-zero last byte -> E2BIG");
	tap_note("the 4 GiB tails took %.3f s (zero) and %.3f s (non-zero last byte), at the same time", oz.seconds, on.seconds);
	l->phase = 4;
	sleep_ms(200);

	struct latency_report rep = latency_stop(l, loop);
	static const char *const phases[] = {
		"nothing hostile", "a full channel socket", "a stopped FUSE mount", "two 4 GiB tails", "nothing hostile again",
	};
	for (int p = 0; p < 5; p++) {
		char why[160];
		snprintf(why, sizeof why, "max %.3f ms in %ld requests%s", rep.phase_max_ms[p], rep.phase_n[p],
			 rep.still_waiting && rep.waiting_phase == p ? ", one still waiting" : "");
		tap_note("well-behaved GET_NAME while %s: %ld requests, max %.3f ms", phases[p], rep.phase_n[p], rep.phase_max_ms[p]);
		check_why(rep.phase_max_ms[p] <= ANSWER_LIMIT * 1000 && !(rep.still_waiting && rep.waiting_phase == p), why,
			  "design", "no well-behaved GET_NAME waited more than 1 s while %s", phases[p]);
	}
	latency_print_and_check(rep, "a full channel socket, a stopped FUSE mount and 4 GiB tails were thrown at the daemon");
	if (stopped)
		kill(pid2, SIGCONT);
	close_if(other);
	close_if(other_ns);
	check_status_readable("design", "status.json is still readable within 1 s");
	close_if_answering(lat);
	close_if_answering(out);
	close_if_answering(in);
	close_if_answering(dev);
	if (daemon_silent)
		tap_note("the daemon stopped answering: %s", silent_why);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* abandon / prepare-cap                                               */

static int prepare_create(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session cs;
	struct lufs_envelope env;
	return lufs_prepare_create(dev, name, &cs, &env);
}

static int abandon_stage(int total, int batch, pid_t daemon)
{
	if (lu_raise_nofile((rlim_t)batch * 2 + 64) < 0)
		tap_fatal("design", strerror(errno), "raise RLIMIT_NOFILE");
	int dev = lu_open_device_or_die();
	int baseline = count_fds(daemon), peak = baseline;
	tap_note("daemon %d: %d fds before", (int)daemon, baseline);
	pid_t *kids = calloc((size_t)batch, sizeof *kids);
	int ok = 0, failed = 0, unanswered = 0, first_errno = 0;
	double t0 = now();
	for (int done = 0; done < total && !unanswered;) {
		int n = total - done < batch ? total - done : batch;
		int report[2];
		if (pipe2(report, O_CLOEXEC) < 0)
			tap_fatal("design", strerror(errno), "pipe");
		fflush(stdout);
		int forked = 0;
		for (int i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(report[0]);
				quiet_stdio();
				char name[64];
				snprintf(name, sizeof name, "abandoned-%d", done + i);
				int rc = prepare_create(dev, name);
				unsigned char b = rc == 0 ? 0 : (unsigned char)-rc;
				if (write(report[1], &b, 1) != 1)
					_exit(1);
				for (;;)
					pause(); /* killed before the open of the node */
			}
			if (pid < 0)
				break;
			kids[forked++] = pid;
		}
		close(report[1]);
		int got = 0;
		while (got < forked && wait_readable(report[0], 10.0)) {
			unsigned char b[256];
			ssize_t k = read(report[0], b, sizeof b);
			if (k <= 0)
				break;
			for (ssize_t j = 0; j < k; j++) {
				if (b[j] == 0)
					ok++;
				else if (failed++ == 0)
					first_errno = b[j];
			}
			got += (int)k;
		}
		close(report[0]);
		unanswered += forked - got;
		int during = count_fds(daemon);
		if (during > peak)
			peak = during;
		for (int i = 0; i < forked; i++)
			kill(kids[i], SIGKILL);
		for (int i = 0; i < forked; i++)
			reap_within(kids[i], 5.0, NULL);
		done += forked;
		if (forked < n)
			tap_fatal("design", strerror(errno), "fork a client (%d done)", done);
	}
	double spent = now() - t0;
	check_why(unanswered == 0, "PREPAREs without an answer within 10 s", "design",
		  "every PREPARE of the killed clients was answered (%d unanswered)", unanswered);
	char why[160];
	snprintf(why, sizeof why, "%d refused, the first with errno %d (%s)", failed, first_errno, tap_errname(first_errno));
	check_why(ok == total, why, "4.1", "%d clients each PREPAREd a CREATE_SESSION (%d ok) in %.1f s", total, ok, spent);

	int after = count_fds(daemon);
	double settle = now();
	while (after > baseline + 4 && now() - settle < 20.0) {
		sleep_ms(100);
		after = count_fds(daemon);
	}
	tap_note("daemon %d: %d fds before, at most %d while a batch waited, %d after %.1f s", (int)daemon, baseline, peak,
		 after, now() - settle);
	snprintf(why, sizeof why, "%d fds, baseline %d", after, baseline);
	check_why(after >= 0 && after <= baseline + 4, why, "design",
		  "the daemon's fds come back to the baseline once the clients are dead (within 20 s)");
	int s = lu_create(dev, "abandoned-0");
	check_rc(s, 0, "4.1", "CREATE_SESSION \"abandoned-0\": the abandoned session was dropped");
	close_if(s);
	close(dev);
	free(kids);
	return tap_done();
}

static int prepare_cap_stage(int n, pid_t daemon)
{
	int dev = lu_open_device_or_die();
	int baseline = count_fds(daemon);
	int ok = 0, first_refused = -1, first_errno = 0, last_rc = 0;
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "uncommitted-%d", i);
		last_rc = prepare_create(dev, name);
		if (last_rc == 0)
			ok++;
		else if (first_refused < 0) {
			first_refused = i;
			first_errno = -last_rc;
		}
	}
	int during = count_fds(daemon);
	tap_note("%d PREPAREs never taken: %d answered ok, the first refused was #%d (errno %d %s); daemon fds %d -> %d", n,
		 ok, first_refused, first_errno, tap_errname(first_errno), baseline, during);
	char why[160];
	snprintf(why, sizeof why, "all %d PREPAREs succeeded", n);
	check_why(ok < n, why, "design", "one thread cannot hold %d hand-overs it never takes: later PREPAREs get an errno", n);
	snprintf(why, sizeof why, "the last PREPARE succeeded");
	check_why(last_rc < 0, why, "design", "the last PREPARE is refused too (the cap holds)");
	snprintf(why, sizeof why, "%d fds, baseline %d", during, baseline);
	check_why(during >= 0 && during < baseline + 200, why, "design",
		  "the daemon's fds stay bounded (fewer than 200 more) while the process holds its tickets");
	close(dev);
	return tap_done(); /* the tickets go with this process */
}

/* ------------------------------------------------------------------ */
/* crowd / first-request / probe                                       */

static volatile sig_atomic_t crowd_stop;

static void crowd_on_term(int sig)
{
	(void)sig;
	crowd_stop = 1;
}

static int crowd_stage(int n, int fds)
{
	if (setpgid(0, 0) < 0 && getpgrp() != getpid())
		tap_fatal("design", strerror(errno), "a process group of its own");
	if (lu_raise_nofile((rlim_t)fds + 64) < 0)
		tap_fatal("design", strerror(errno), "raise RLIMIT_NOFILE");
	signal(SIGTERM, crowd_on_term);
	pid_t parent = getpid();
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		tap_fatal("design", strerror(errno), "pipe");
	fflush(stdout);
	int started = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			close(ready[0]);
			quiet_stdio();
			int null = open("/dev/null", O_RDONLY);
			for (int k = 1; k < fds && null >= 0; k++)
				if (dup(null) < 0)
					break;
			char c = 'r';
			if (write(ready[1], &c, 1) != 1)
				_exit(1);
			close(ready[1]);
			for (;;)
				pause();
		}
		started++;
	}
	close(ready[1]);
	int got = 0;
	while (got < started && wait_readable(ready[0], 60.0)) {
		char b[512];
		ssize_t k = read(ready[0], b, sizeof b);
		if (k <= 0)
			break;
		got += (int)k;
	}
	close(ready[0]);
	check(got == n, "design", "%d idle processes with %d fds each (%d ready)", n, fds, got);
	tap_note("crowd ready: %d processes x %d fds, process group %d", got, fds, (int)getpid());
	while (!crowd_stop)
		pause();
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGKILL); /* the whole group, this process too */
	return 1;
}

static int first_request_stage(void)
{
	int dev = lu_open_device_or_die();
	char name[64];
	snprintf(name, sizeof name, "first-%d", (int)getpid());
	double t0 = now();
	int s = lu_create(dev, name);
	double first = now() - t0;
	snprintf(name, sizeof name, "second-%d", (int)getpid());
	t0 = now();
	int s2 = lu_create(dev, name);
	double second = now() - t0;
	tap_note("first request: CREATE_SESSION in %.3f ms (the next one %.3f ms)", first * 1000, second * 1000);
	check_rc(s, 0, "4.1", "the first CREATE_SESSION of a new process succeeds");
	char why[120];
	snprintf(why, sizeof why, "it took %.3f s", first);
	check_why(first < ANSWER_LIMIT, why, "design", "the first LUO request of a new process takes less than 1 s");
	check_rc(s2, 0, "4.1", "the second CREATE_SESSION succeeds");
	close_if(s2);
	close_if(s);
	close(dev);
	return tap_done();
}

static int probe_stage(void)
{
	int dev = open_bounded(lu_device_path(), O_RDWR, "3", "open the device");
	struct req r = req_on(dev);
	snprintf(r.name, sizeof r.name, "probe-%d", (int)getpid());
	struct outcome o = bounded(r_create, &r, ANSWER_LIMIT, "CREATE_SESSION");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.1", "CREATE_SESSION within 1 s");
	int s = o.answered && o.rc >= 0 ? o.fd : -1;
	r = req_on(s);
	snprintf(r.name, sizeof r.name, "probe-%d", (int)getpid());
	o = bounded(r_get_name, &r, ANSWER_LIMIT, "GET_NAME");
	check_answer(o, 0, 0, ANSWER_LIMIT, "4.6", "GET_NAME within 1 s");
	check_status_readable("design", "status.json is readable within 1 s");
	close_if_answering(s);
	close_if_answering(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* swarm                                                               */

enum kind { K_UNSHARED, K_BACKDOOR, K_FULL_SOCKET, K_ABANDON, K_STOPPED_MOUNT, K_ZERO_TAIL, K_NEW_CLIENT, K_COUNT };

static const char *const kind_names[K_COUNT] = {
	"another mount namespace", "status.json backdoor", "full channel socket",
	"abandoned PREPARE", "stopped FUSE mount", "4 GiB tail", "new client's first request",
};

/* LIVEUPDATEFS_HOSTILE_KINDS (a comma-separated list of these) narrows the swarm down, to look at one kind. */
static const char *const kind_keys[K_COUNT] = {
	"unshared", "backdoor", "full-socket", "abandon", "stopped-mount", "tail", "new-client",
};

static int kind_enabled[K_COUNT];

static void choose_kinds(void)
{
	const char *list = getenv("LIVEUPDATEFS_HOSTILE_KINDS");
	for (int k = 0; k < K_COUNT; k++) {
		if (!list || !list[0]) {
			kind_enabled[k] = 1;
			continue;
		}
		size_t n = strlen(kind_keys[k]);
		for (const char *p = list; (p = strstr(p, kind_keys[k])); p += n)
			if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
				kind_enabled[k] = 1;
	}
}

struct slot_stats {
	long attacks[K_COUNT], wrong[K_COUNT], unanswered[K_COUNT];
	double max_seconds[K_COUNT];
	char first_wrong[K_COUNT][200];
};

struct swarm_shared {
	volatile int stop;
	volatile int silent;
	volatile int tails_running;
	volatile int memfds_preserved; /* by the unshared attacks, into the attack session: capped */
	struct slot_stats slots[MAX_SLOTS];
};

struct swarm {
	struct swarm_shared *shared;
	char prefix[32];
	int attack;              /* an outgoing session for PRESERVE_FD and GET_NAME attacks */
	char attack_name[64];
	int incoming[MAX_SEEDS]; /* retrieved seeds (RETRIEVE_FD attacks) */
	int n_incoming;
	int other;               /* a file of the stopped second mount, or -1 */
	int other_ns;            /* the same, opened through another mount namespace, or -1 */
	char status_path[PATH_MAX], control_path[PATH_MAX];
};

static struct swarm sw;

/* Each attack returns 0 when every answer was as expected, else a positive
 * code = step * 1000 + the errno got (999: success where an errno was due);
 * detail carries nothing. */
static long mismatch(int step, long rc)
{
	return step * 1000 + (rc >= 0 ? 999 : -rc);
}

static long a_unshared(void *ctx, int *fd_out, long *detail)
{
	(void)ctx;
	(void)fd_out;
	(void)detail;
	if (enter_private_mount_namespace() < 0)
		return mismatch(1, -errno);
	int status = open(sw.status_path, O_RDONLY | O_CLOEXEC);
	int control = open(sw.control_path, O_RDWR | O_CLOEXEC);
	if (status < 0 || control < 0)
		return mismatch(2, -errno);
	long rc = lu_preserve(sw.attack, status, 0x5000000u + (uint64_t)getpid());
	if (rc != -ENOENT)
		return mismatch(3, rc);
	struct req r = req_on(control);
	r.arg_fd = status;
	if ((rc = r_query_frozen(&r, fd_out, detail)) != 0)
		return mismatch(4, rc);
	/* a real preservation too, up to a few hundred (each costs the daemon an fd until the swarm ends) */
	if (__atomic_fetch_add(&sw.shared->memfds_preserved, 1, __ATOMIC_SEQ_CST) < SWARM_MAX_MEMFDS) {
		int m = lu_memfd("swarm", MFD_CLOEXEC, 4096);
		if ((rc = lu_preserve(sw.attack, m, 0x6000000u + (uint64_t)getpid())) != 0)
			return mismatch(5, rc);
	}
	char got[LIVEUPDATE_SESSION_NAME_LENGTH];
	if ((rc = lu_get_name(sw.attack, got)) != 0 || strcmp(got, sw.attack_name) != 0)
		return mismatch(6, rc == 0 ? -EPROTO : rc);
	return 0;
}

static long a_backdoor(void *ctx, int *fd_out, long *detail)
{
	uint64_t *rnd = ctx;
	struct req r = req_on(-1);
	int on_control = (int)(*rnd % 2);
	snprintf(r.path, sizeof r.path, "%s", on_control ? sw.control_path : sw.status_path);
	/* a load worker's session name, or a new one */
	int retrieve = (int)((*rnd >> 8) % 2);
	r.request = retrieve ? LIVEUPDATE_IOCTL_RETRIEVE_SESSION : LIVEUPDATE_IOCTL_CREATE_SESSION;
	if (retrieve)
		snprintf(r.name, sizeof r.name, "w%02d-%06d", (int)((*rnd >> 16) % 16), (int)((*rnd >> 24) % 40));
	else
		snprintf(r.name, sizeof r.name, "intruder-%d", (int)getpid());
	long rc = r_backdoor_envelope(&r, fd_out, detail);
	if (rc >= 0)
		return mismatch(1, rc);
	r.flags = (int)((*rnd >> 40) % 2);
	rc = r_node_ioctl(&r, fd_out, detail);
	return rc == -ENOTTY ? 0 : mismatch(2, rc);
}

static long a_full_socket(void *ctx, int *fd_out, long *detail)
{
	uint64_t *rnd = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || fill_socket(sv[0]) < 0)
		return mismatch(1, -errno);
	struct req r = req_on(sw.incoming[*rnd % (uint64_t)sw.n_incoming]);
	r.token = SEED_TOKEN;
	r.arg_fd = sv[0];
	long rc = r_prepare_retrieve_fd(&r, fd_out, detail);
	return rc < 0 ? 0 : mismatch(2, rc);
}

/* PREPARE of RETRIEVE_FD with a working channel: answered, then the child is killed before COMMIT (linger). */
static long a_abandon(void *ctx, int *fd_out, long *detail)
{
	uint64_t *rnd = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return mismatch(1, -errno);
	struct req r = req_on(sw.incoming[*rnd % (uint64_t)sw.n_incoming]);
	r.token = SEED_TOKEN;
	r.arg_fd = sv[1];
	long rc = r_prepare_retrieve_fd(&r, fd_out, detail);
	return rc == 0 ? 0 : mismatch(2, rc);
}

static long a_stopped_mount(void *ctx, int *fd_out, long *detail)
{
	uint64_t *rnd = ctx;
	(void)fd_out;
	(void)detail;
	int fd = *rnd % 2 && sw.other_ns >= 0 ? sw.other_ns : sw.other;
	long rc = lu_preserve(sw.attack, fd, 0x7000000u + (uint64_t)getpid());
	return rc == -ENOENT ? 0 : mismatch(1, rc);
}

/* A new program (exec: its own library state) whose first LUO request is a
 * GET_NAME on an inherited session fd: it must take less than 1 s. */
static long a_new_client(void *ctx, int *fd_out, long *detail)
{
	(void)ctx;
	(void)fd_out;
	(void)detail;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = dup(sw.attack); /* without FD_CLOEXEC */
		char fd_text[16];
		snprintf(fd_text, sizeof fd_text, "%d", fd);
		execl("/proc/self/exe", "hostile_stages", "first-get-name", fd_text, sw.attack_name, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return mismatch(1, -ECHILD);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return mismatch(WIFEXITED(status) && WEXITSTATUS(status) == 3 ? 3 : 2, -(WIFEXITED(status) ? EPROTO : EINTR));
}

static long a_zero_tail(void *ctx, int *fd_out, long *detail)
{
	uint64_t *rnd = ctx;
	struct req r = req_on(sw.attack);
	snprintf(r.name, sizeof r.name, "%s", sw.attack_name);
	r.token = *rnd % 2;
	long rc = r_huge_get_name(&r, fd_out, detail);
	if (r.token)
		return rc == -E2BIG ? 0 : mismatch(1, rc);
	return rc == 0 && *detail == 1 ? 0 : mismatch(2, rc);
}

static const request_fn attacks[K_COUNT] = {
	a_unshared, a_backdoor, a_full_socket, a_abandon, a_stopped_mount, a_zero_tail, a_new_client,
};

/* The exec'd new client: exit 0 (its first request answered right within 1 s), 3 (slower), 1 (wrong). */
static int first_get_name_stage(int fd, const char *name)
{
	char got[LIVEUPDATE_SESSION_NAME_LENGTH];
	double t0 = now();
	int rc = lu_get_name(fd, got);
	double took = now() - t0;
	if (rc < 0 || strncmp(got, name, sizeof got) != 0)
		return 1;
	return took < ANSWER_LIMIT ? 0 : 3;
}

/* Whether kind k is asked for and can run here (it needs seeds, or the second mount). */
static int kind_possible(int k)
{
	return kind_enabled[k] && !((k == K_FULL_SOCKET || k == K_ABANDON) && sw.n_incoming == 0) &&
	       !(k == K_STOPPED_MOUNT && sw.other < 0);
}

/* One slot: random attacks, one at a time, until stop. */
static _Noreturn void slot_loop(int slot, uint64_t seed)
{
	struct slot_stats *st = &sw.shared->slots[slot];
	uint64_t state = seed * 1000003u + (uint64_t)slot;
	int any = 0;
	for (int k = 0; k < K_COUNT; k++)
		any |= kind_possible(k);
	if (!any)
		_exit(0);
	while (!sw.shared->stop && !sw.shared->silent) {
		uint64_t rnd = mix64(state++);
		enum kind k = (enum kind)(rnd % K_COUNT);
		if (!kind_possible(k))
			continue;
		if (k == K_ZERO_TAIL) {
			/* at most one 4 GiB scan at a time: they cost the CPUs, not the point */
			if (__atomic_fetch_add(&sw.shared->tails_running, 1, __ATOMIC_SEQ_CST) != 0) {
				__atomic_fetch_sub(&sw.shared->tails_running, 1, __ATOMIC_SEQ_CST);
				continue;
			}
		}
		uint64_t arg = mix64(rnd);
		struct call c = call_start(attacks[k], &arg, k == K_ABANDON);
		double limit = k == K_ZERO_TAIL ? 60.0 : HOSTILE_LIMIT;
		struct outcome o = call_wait(&c, limit);
		if (k == K_ABANDON && c.pid > 0) {
			kill(c.pid, SIGKILL); /* before COMMIT */
			reap_within(c.pid, 2.0, NULL);
		}
		if (k == K_ZERO_TAIL)
			__atomic_fetch_sub(&sw.shared->tails_running, 1, __ATOMIC_SEQ_CST);
		st->attacks[k]++;
		if (!o.answered) {
			st->unanswered[k]++;
			call_abandon(&c);
			if (!st->first_wrong[k][0])
				snprintf(st->first_wrong[k], sizeof st->first_wrong[k], "no answer within %.0f s", limit);
			sw.shared->silent = 1;
			break;
		}
		close_if(o.fd);
		if (o.seconds > st->max_seconds[k])
			st->max_seconds[k] = o.seconds;
		if (o.rc != 0) {
			st->wrong[k]++;
			if (!st->first_wrong[k][0]) {
				long code = o.rc;
				snprintf(st->first_wrong[k], sizeof st->first_wrong[k], "step %ld: %s", code / 1000,
					 code % 1000 == 999 ? "success where an errno was due"
							    : tap_errname((int)(code % 1000)));
			}
		}
		sleep_ms(SWARM_PAUSE_MS);
	}
	_exit(0);
}

static volatile sig_atomic_t swarm_stop_requested;

static void swarm_on_term(int sig)
{
	(void)sig;
	swarm_stop_requested = 1;
}

static int swarm_stage(const char *prefix, int slots, int seconds, uint64_t seed, const char *status2, pid_t pid2)
{
	if (slots > MAX_SLOTS)
		slots = MAX_SLOTS;
	choose_kinds();
	signal(SIGTERM, swarm_on_term);
	signal(SIGINT, swarm_on_term);
	sw.shared = mmap(NULL, sizeof *sw.shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sw.shared == MAP_FAILED)
		tap_fatal("design", strerror(errno), "map the shared counters");
	snprintf(sw.prefix, sizeof sw.prefix, "%s", prefix);
	snprintf(sw.status_path, sizeof sw.status_path, "%s", status_path);
	snprintf(sw.control_path, sizeof sw.control_path, "%s", control_path);
	sw.other = -1;

	/* Set up with the device, then free it for the load. */
	int dev = open_bounded(lu_device_path(), O_RDWR, "3", "the swarm opens the device");
	char names[MAX_SEEDS][64];
	for (int i = 0; i < MAX_SEEDS && dev >= 0; i++) {
		seed_name(names[sw.n_incoming], sizeof names[0], prefix, i);
		int s = lu_retrieve(dev, names[sw.n_incoming]);
		if (s < 0)
			break;
		sw.incoming[sw.n_incoming++] = s;
	}
	snprintf(sw.attack_name, sizeof sw.attack_name, "swarm-attack-%d", (int)getpid());
	sw.attack = dev >= 0 ? lu_create(dev, sw.attack_name) : -EBADF;
	char lat_name[64];
	snprintf(lat_name, sizeof lat_name, "swarm-latency-%d", (int)getpid());
	int lat = dev >= 0 ? lu_create(dev, lat_name) : -EBADF;
	check(sw.attack >= 0 && lat >= 0, "4.1", "the swarm's sessions (%d retrieved seeds)", sw.n_incoming);
	close_if(dev);
	if (sw.attack < 0 || lat < 0)
		return tap_done();
	sw.other_ns = -1;
	if (status2 && pid2 > 0) {
		sw.other = open(status2, O_RDONLY | O_CLOEXEC);
		struct req r = req_on(-1);
		snprintf(r.path, sizeof r.path, "%s", status2);
		struct outcome o = bounded(r_open_unshared, &r, ANSWER_LIMIT, "open through another namespace");
		sw.other_ns = o.answered && o.rc >= 0 ? o.fd : -1;
		int stopped = sw.other >= 0 && sw.other_ns >= 0 && kill(pid2, SIGSTOP) == 0;
		for (int i = 0; stopped && i < 200 && process_state(pid2) != 'T'; i++)
			sleep_ms(5);
		check(stopped && process_state(pid2) == 'T', "design", "the second daemon (pid %d) is stopped for the run", (int)pid2);
	}

	struct latency *l = latency_map();
	if (!l)
		tap_fatal("design", strerror(errno), "map the latency record");
	pid_t loop = latency_start(l, lat, lat_name);
	pid_t slot_pids[MAX_SLOTS];
	fflush(stdout);
	for (int i = 0; i < slots; i++) {
		slot_pids[i] = fork();
		if (slot_pids[i] == 0) {
			quiet_stdio();
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			slot_loop(i, seed);
		}
	}
	tap_note("swarm ready: %d slots, seed %llu", slots, (unsigned long long)seed);
	double start = now();
	while (!swarm_stop_requested && !sw.shared->silent && now() - start < seconds)
		sleep_ms(50);
	sw.shared->stop = 1;
	double ran = now() - start;

	/* the slots end after their current attack (bounded by its limit) */
	int stuck_slots = 0;
	for (int i = 0; i < slots; i++)
		if (slot_pids[i] > 0 && !reap_within(slot_pids[i], 70.0, NULL)) {
			stuck_slots++;
			kill(slot_pids[i], SIGKILL);
		}
	struct latency_report rep = latency_stop(l, loop);
	if (sw.other >= 0) {
		kill(pid2, SIGCONT);
	}

	tap_note("swarm ran %.1f s", ran);
	for (int k = 0; k < K_COUNT; k++) {
		long attacks_k = 0, wrong = 0, unanswered = 0;
		double max = 0;
		const char *first = "";
		for (int i = 0; i < slots; i++) {
			struct slot_stats *st = &sw.shared->slots[i];
			attacks_k += st->attacks[k];
			wrong += st->wrong[k];
			unanswered += st->unanswered[k];
			if (st->max_seconds[k] > max)
				max = st->max_seconds[k];
			if (!first[0] && st->first_wrong[k][0])
				first = st->first_wrong[k];
		}
		tap_note("hostile %s: %ld attacks, slowest answer %.3f s, %ld unexpected, %ld unanswered", kind_names[k], attacks_k,
			 max, wrong, unanswered);
		char why[300];
		snprintf(why, sizeof why, "%ld unexpected, %ld unanswered; the first: %s", wrong, unanswered, first);
		check_why(wrong == 0 && unanswered == 0, why, "design",
			  "every \"%s\" attack (%ld) was answered as expected", kind_names[k], attacks_k);
	}
	char idle[300] = "";
	for (int k = 0; k < K_COUNT; k++) {
		long attacks_k = 0;
		for (int i = 0; i < slots; i++)
			attacks_k += sw.shared->slots[i].attacks[k];
		if (attacks_k == 0 && kind_possible(k))
			snprintf(idle + strlen(idle), sizeof idle - strlen(idle), "%s\"%s\"", idle[0] ? ", " : "", kind_names[k]);
	}
	check_why(idle[0] == '\0', idle, "design", "every kind of attack ran at least once");
	check_why(stuck_slots == 0, "a slot still waited for an answer", "design", "every attacking slot ended");
	latency_print_and_check(rep, "the hostile clients ran");

	/* the seeds: intact, then finished */
	if (!sw.shared->silent && !rep.still_waiting) {
		int intact = 0;
		for (int i = 0; i < sw.n_incoming; i++) {
			int fd = -1;
			struct req r = req_on(sw.incoming[i]);
			r.token = SEED_TOKEN;
			long dummy;
			long rc = r_retrieve_fd(&r, &fd, &dummy);
			intact += rc >= 0 && seed_ok(fd, names[i]);
			close_if(fd);
			r_finish(&r, &fd, &dummy);
		}
		check(intact == sw.n_incoming, "8.3", "the retrieved seeds' memfds are intact (%d of %d)", intact, sw.n_incoming);
		for (int i = 0; i < sw.n_incoming; i++)
			close(sw.incoming[i]);
		close(sw.attack);
		close(lat);
	} else {
		tap_note("the daemon stopped answering: the swarm's sessions stay open");
	}
	close_if(sw.other);
	close_if(sw.other_ns);
	return tap_done();
}

/* ------------------------------------------------------------------ */

static int usage(void)
{
	fprintf(stderr,
		"usage: hostile_stages seed PREFIX N | unshared PREFIX | backdoor PREFIX | stall PREFIX STATUS2 PID2\n"
		"       | abandon TOTAL BATCH DAEMONPID | prepare-cap N DAEMONPID | crowd N FDS | first-request | probe\n"
		"       | swarm PREFIX SLOTS SECONDS SEED [STATUS2 PID2] | first-get-name FD NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	const char *stage = argv[1];
	if (strcmp(stage, "crowd") != 0 && strcmp(stage, "first-get-name") != 0)
		resolve_node_paths();
	if (strcmp(stage, "seed") == 0 && argc == 4 && atoi(argv[3]) > 0 && atoi(argv[3]) <= MAX_SEEDS)
		return seed_stage(argv[2], atoi(argv[3]));
	if (strcmp(stage, "unshared") == 0 && argc == 3)
		return unshared_stage(argv[2]);
	if (strcmp(stage, "backdoor") == 0 && argc == 3)
		return backdoor_stage(argv[2]);
	if (strcmp(stage, "stall") == 0 && argc == 5)
		return stall_stage(argv[2], argv[3], (pid_t)atoi(argv[4]));
	if (strcmp(stage, "abandon") == 0 && argc == 5 && atoi(argv[2]) > 0 && atoi(argv[3]) > 0)
		return abandon_stage(atoi(argv[2]), atoi(argv[3]), (pid_t)atoi(argv[4]));
	if (strcmp(stage, "prepare-cap") == 0 && argc == 4 && atoi(argv[2]) > 0)
		return prepare_cap_stage(atoi(argv[2]), (pid_t)atoi(argv[3]));
	if (strcmp(stage, "crowd") == 0 && argc == 4 && atoi(argv[2]) > 0 && atoi(argv[3]) > 0)
		return crowd_stage(atoi(argv[2]), atoi(argv[3]));
	if (strcmp(stage, "first-request") == 0 && argc == 2)
		return first_request_stage();
	if (strcmp(stage, "probe") == 0 && argc == 2)
		return probe_stage();
	if (strcmp(stage, "first-get-name") == 0 && argc == 4)
		return first_get_name_stage(atoi(argv[2]), argv[3]);
	if (strcmp(stage, "swarm") == 0 && (argc == 6 || argc == 8) && atoi(argv[3]) > 0 && atoi(argv[4]) > 0)
		return swarm_stage(argv[2], atoi(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10), argc == 8 ? argv[6] : NULL,
				   argc == 8 ? (pid_t)atoi(argv[7]) : 0);
	return usage();
}
