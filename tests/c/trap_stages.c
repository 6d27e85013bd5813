/*
 * trap_stages - `liveupdatefs run`'s seccomp user-notification filter
 *, one stage per run, driven by NUnit's SeccompRunTests.
 *
 *     trap_stages STAGE ARGS...
 *
 * Under `run` no library is loaded: the filter traps the three fd-returning
 * requests (CREATE_SESSION 0xBA00, RETRIEVE_SESSION 0xBA01, RETRIEVE_FD
 * 0xBA41) and, unless --only-fd-requests, FIONREAD/FIOQSIZE and
 * ftruncate/fallocate; the daemon installs the new fd with
 * SECCOMP_IOCTL_NOTIF_ADDFD. The stages check what the kernel would give:
 * the fd is the lowest free number and has O_CLOEXEC, one free slot is
 * enough and none gives EMFILE before the request runs, every process of the
 * tree (forked and exec'd children) is served, and a request the filter
 * traps on a file that is not this emulator's gets the real kernel's answer.
 * The program is built dynamic and -static; the static build proves that no
 * library is involved.
 *
 * Stages (the harness decides which run under `run`):
 *   tree                    forks and execs itself (`child`) at two depths,
 *                           forks without exec and starts a thread; every one
 *                           creates a session through the inherited device fd
 *   child DEV PIPE NAME DEPTH PARENTFD
 *                           (internal) one process of `tree`; reports
 *                           "NAME MASK\n" on PIPE
 *   send SOCK NAME          creates session NAME and passes it over the unix
 *                           socket SOCK (SCM_RIGHTS), waits for the receiver
 *   receive SOCK NAME       (outside `run`) binds SOCK, prints "# listening",
 *                           takes the session fd: GET_NAME, PRESERVE_FD
 *   create-one NAME [wait]  prints "# pid N", opens the device, ("wait": prints
 *                           "# ready" and waits for SIGUSR1), "# calling",
 *                           CREATE_SESSION NAME (the harness may SIGKILL it
 *                           inside the request, or freeze the boot first)
 *   emfile-old              session "trap-emfile" with two memfds, a holder
 *   emfile-new              after the reboot: RETRIEVE_SESSION, RETRIEVE_FD and
 *                           CREATE_SESSION with zero free fd slots (EMFILE, the
 *                           object still there) and with exactly one (success)
 *   raw                     every request through syscall(SYS_ioctl, ...)
 *   nonluo                  0xBA00/0xBA01/0xBA41 and FIONREAD on fds that are
 *                           not the emulator's; prints "# errno WHAT E" lines
 *                           the harness compares with a run outside `run`
 *   fidelity kernel|vfs     FIONREAD on the device and a session fd, ftruncate
 *                           and fallocate of a preserved memfd: `kernel` expects
 *                           the kernel's answers (run), `vfs` what FUSE and
 *                           the VFS give (run --only-fd-requests)
 *   outlive                 prints "# ready", waits for SIGUSR1 (the harness stops
 *                           the daemon meanwhile), then makes the calls the
 *                           filter traps on files that are not the emulator's:
 *                           they must still be the kernel's own
 *   survivor                a holder child keeps session "trap-survivor"; the
 *                           process itself keeps no emulator fd, prints
 *                           "# ready" and waits for SIGUSR1 (the harness
 *                           reboots with --keep-processes meanwhile); then
 *                           ends the holder, retrieves the session, creates
 *                           new ones, also in a new child
 *
 * Output: TAP (tap.h); exit 0 all passed, 1 a failure, 2 usage. Children
 * never print (`child` reports through the pipe, forked ones through exit
 * codes).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "fdpass.h"
#include "holder.h"
#include "luo.h"
#include "tap.h"

/* What can be wrong with a new session fd (bits of a mask: 0 = all right). */
enum {
	BAD_CREATE = 1,   /* the request failed */
	BAD_NUMBER = 2,   /* not the lowest free fd number */
	BAD_CLOEXEC = 4,  /* no FD_CLOEXEC */
	BAD_NAME = 8,     /* GET_NAME failed or gave another name */
	BAD_INHERIT = 16, /* the parent's session fd survived exec (O_CLOEXEC ignored) */
	BAD_CHILD = 32,   /* a child of this process did not report or failed */
};

static int lowest_free_fd(void)
{
	for (int fd = 0;; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			return fd;
}

/* Leaves a hole below the next free number, so "lowest free" is not just "next". */
static int make_hole(void)
{
	int a = dup(2), b = dup(2);
	if (a < 0 || b < 0)
		return -1;
	close(a);
	return b; /* kept open above the hole */
}

/* Creates NAME on dev and checks the fd as the kernel's get_unused_fd_flags(O_CLOEXEC) gives it. */
static int create_and_check(int dev, const char *name, int *fd_out)
{
	int expected = lowest_free_fd();
	int fd = lu_create(dev, name);
	if (fd_out)
		*fd_out = fd;
	if (fd < 0)
		return BAD_CREATE;
	int mask = 0;
	if (fd != expected)
		mask |= BAD_NUMBER;
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0 || !(flags & FD_CLOEXEC))
		mask |= BAD_CLOEXEC;
	if (!lu_name_is(fd, name))
		mask |= BAD_NAME;
	return mask;
}

static void report_mask(int mask, const char *who)
{
	check_why(!(mask & BAD_CREATE), "the request failed", "4.1", "%s: CREATE_SESSION gives an fd", who);
	if (mask & BAD_CREATE)
		return;
	check_why(!(mask & BAD_NUMBER), "another number", "4.1", "%s: the fd is the lowest free number", who);
	check_why(!(mask & BAD_CLOEXEC), "FD_CLOEXEC missing", "4.1", "%s: the fd has FD_CLOEXEC", who);
	check_why(!(mask & BAD_NAME), "GET_NAME failed or differs", "4.6", "%s: GET_NAME gives its name", who);
	if (mask & (BAD_INHERIT | BAD_CHILD)) {
		check_why(!(mask & BAD_INHERIT), "still open after exec", "4.1",
			  "%s: the parent's session fd is closed by exec", who);
		check_why(!(mask & BAD_CHILD), "a child failed", "design", "%s: its own child was served", who);
	}
}

static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	int mode = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

/* ------------------------------------------------------------------ */
/* tree / child                                                        */

/* fork + exec /proc/self/exe child ...; returns the pid or -1. */
static pid_t spawn_child(int dev, int pipe_w, const char *name, int depth, int parent_session)
{
	char devs[16], pipes[16], depths[16], parents[16];
	snprintf(devs, sizeof devs, "%d", dev);
	snprintf(pipes, sizeof pipes, "%d", pipe_w);
	snprintf(depths, sizeof depths, "%d", depth);
	snprintf(parents, sizeof parents, "%d", parent_session);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "trap_stages", "child", devs, pipes, name, depths, parents, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int child_main(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	int dev = atoi(argv[2]), pipe_w = atoi(argv[3]), depth = atoi(argv[5]), parent_session = atoi(argv[6]);
	const char *name = argv[4];
	int mask = 0;
	/* The parent's session fd has O_CLOEXEC: exec must have closed it (the device fd has not). */
	if (parent_session >= 0 && fcntl(parent_session, F_GETFD) >= 0)
		mask |= BAD_INHERIT;
	int keep = make_hole();
	int s;
	mask |= create_and_check(dev, name, &s);
	if (depth > 0) {
		char sub[64];
		snprintf(sub, sizeof sub, "%s-g", name);
		pid_t pid = spawn_child(dev, pipe_w, sub, depth - 1, s);
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			mask |= BAD_CHILD;
	}
	close_if(s);
	close_if(keep);
	char line[128];
	int n = snprintf(line, sizeof line, "%s %d\n", name, mask);
	return write(pipe_w, line, (size_t)n) == n ? 0 : 1;
}

struct thread_call {
	int dev;
	int mask;
	int fd;
};

static void *thread_create(void *arg)
{
	struct thread_call *call = arg;
	call->mask = create_and_check(call->dev, "trap-tree-thread", &call->fd);
	return NULL;
}

static int stage_tree(void)
{
	check(seccomp_mode() == 2, "design", "the program runs under a seccomp filter (run)");
	int dev = lu_open_device_or_die();
	/* The device fd is inherited across exec (no O_CLOEXEC), the children's sessions come through it. */
	int flags = fcntl(dev, F_GETFD);
	fcntl(dev, F_SETFD, flags & ~FD_CLOEXEC);
	int keep = make_hole();
	int own;
	report_mask(create_and_check(dev, "trap-tree-parent", &own), "the program itself");

	int p[2];
	if (pipe(p) < 0)
		tap_fatal("design", strerror(errno), "pipe");
	enum { EXECD = 3 };
	const char *names[EXECD + 1] = { "trap-tree-0", "trap-tree-1", "trap-tree-2", "trap-tree-fork" };
	pid_t pids[EXECD + 1];
	/* Three exec'd children at once on the shared device fd, each with an exec'd grandchild. */
	for (int i = 0; i < EXECD; i++)
		pids[i] = spawn_child(dev, p[1], names[i], 1, own);
	/* And a forked child without exec: it inherits the filter as it is. */
	fflush(stdout);
	pids[EXECD] = fork();
	if (pids[EXECD] == 0) {
		close(p[0]);
		int hole = make_hole(), s;
		int mask = create_and_check(dev, names[EXECD], &s);
		char line[128];
		int n = snprintf(line, sizeof line, "%s %d\n", names[EXECD], mask);
		_exit(write(p[1], line, (size_t)n) == n && hole >= 0 ? 0 : 1);
	}
	close(p[1]);
	for (int i = 0; i <= EXECD; i++) {
		int status = 0;
		int ok = pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0;
		check_why(ok, "it failed or did not exit 0", "design", "child %s ran and reported", names[i]);
	}
	char buf[4096];
	size_t len = 0;
	ssize_t got;
	while (len < sizeof buf - 1 && (got = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)got;
	buf[len] = 0;
	close(p[0]);
	const char *expected[] = { "trap-tree-0", "trap-tree-0-g", "trap-tree-1", "trap-tree-1-g",
				   "trap-tree-2", "trap-tree-2-g", "trap-tree-fork" };
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		char who[80];
		int mask = -1;
		for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			char name[64];
			int m;
			if (sscanf(line, "%63s %d", name, &m) == 2 && strcmp(name, expected[i]) == 0)
				mask = m;
		}
		size_t len_i = strlen(expected[i]);
		int grandchild = len_i > 2 && strcmp(expected[i] + len_i - 2, "-g") == 0;
		snprintf(who, sizeof who, "%s %s", grandchild ? "exec'd grandchild" : "child", expected[i]);
		if (mask < 0) {
			check_why(0, "no report on the pipe", "design", "%s reported", who);
			continue;
		}
		report_mask(mask, who);
	}
	/* A thread other than the main one: the notification names the thread, the fd table is the process's. */
	struct thread_call call = { .dev = dev };
	pthread_t thread;
	int started = pthread_create(&thread, NULL, thread_create, &call) == 0;
	check_why(started && pthread_join(thread, NULL) == 0, "pthread_create failed", "design", "a second thread ran");
	if (started)
		report_mask(call.mask, "a second thread");
	close_if(call.fd);

	/* The children closed their sessions: the names are free again. */
	int again = lu_create(dev, "trap-tree-0-g");
	check_rc(again, 0, "4.1", "a name a grandchild created and closed can be created again");
	close_if(again);
	close_if(own);
	close_if(keep);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* send / receive: a session fd leaves the run tree                   */

static int unix_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int stage_send(const char *path, const char *name)
{
	check(seccomp_mode() == 2, "design", "the sender runs under a seccomp filter (run)");
	int dev = lu_open_device_or_die();
	int s;
	report_mask(create_and_check(dev, name, &s), "the sender");
	struct sockaddr_un sa;
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int connected = sock >= 0 && unix_address(path, &sa) == 0 && connect(sock, (struct sockaddr *)&sa, sizeof sa) == 0;
	check_why(connected, strerror(errno), "5.4", "connect to the receiver outside the run tree");
	if (connected && s >= 0) {
		int sent = fdpass_send_fd(sock, s);
		check_why(sent == 0, strerror(-sent), "5.4", "send the session fd (SCM_RIGHTS)");
		/* Our copy goes before the receiver works: the session lives on in its fd alone. */
		close(s);
		s = -1;
		char answer = 0;
		check_why(read(sock, &answer, 1) == 1 && answer == 'k', "no 'k' from the receiver", "5.4",
			  "the receiver says GET_NAME and PRESERVE_FD worked");
	}
	close_if(sock);
	close_if(s);
	close(dev);
	return tap_done();
}

static int stage_receive(const char *path, const char *name)
{
	tap_note("seccomp mode %d (outside the run tree)", seccomp_mode());
	struct sockaddr_un sa;
	unlink(path);
	int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || unix_address(path, &sa) < 0 || bind(listener, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(listener, 1) < 0)
		tap_fatal("5.4", strerror(errno), "listen on %s", path);
	tap_note("listening");
	alarm(120); /* a sender that never comes must not hang the harness */
	int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		tap_fatal("5.4", strerror(errno), "accept the sender");
	int s = fdpass_recv_fd(conn);
	check_why(s >= 0, "no fd arrived", "5.4", "a session fd arrives from inside the run tree");
	if (s >= 0) {
		check(lu_name_is(s, name), "4.6", "GET_NAME on the received fd gives %s", name);
		int m = lu_memfd("trap-received", MFD_CLOEXEC, 4096);
		check_rc(lu_preserve(s, m, 7), 0, "4.3", "PRESERVE_FD through the received fd");
		check_rc(lu_preserve(s, m, 8), EBUSY, "4.3", "the same memfd again -> EBUSY (the daemon keeps it)");
		close_if(m);
		close(s);
	}
	char k = 'k';
	check_why(write(conn, &k, 1) == 1, strerror(errno), "5.4", "answer the sender");
	close(conn);
	close(listener);
	unlink(path);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* create-one                                                          */

static int stage_create_one(const char *name, int wait)
{
	tap_note("pid %d", (int)getpid());
	tap_note("seccomp mode %d", seccomp_mode());
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	int dev = lu_open_device_or_die();
	if (wait) {
		/* The device is open: the harness can freeze the boot before the request itself. */
		tap_note("ready");
		int sig;
		sigwait(&usr1, &sig);
	}
	tap_note("calling");
	int s;
	report_mask(create_and_check(dev, name, &s), name);
	if (s < 0)
		tap_note("CREATE_SESSION: errno %d (%s)", -s, tap_errname(-s));
	tap_note("created");
	close_if(s);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* emfile-old / emfile-new                                             */

static unsigned char pattern(int token, size_t offset)
{
	return (unsigned char)(token * 31 + offset * 7 + offset / 4096);
}

static int fill_memfd(int fd, int token, size_t size)
{
	unsigned char buf[4096];
	for (size_t off = 0; off < size; off += sizeof buf) {
		size_t n = size - off < sizeof buf ? size - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(token, off + i);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return -1;
	}
	return 0;
}

static int contents_are(int fd, int token, size_t size)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != size)
		return 0;
	unsigned char buf[4096];
	for (size_t off = 0; off < size; off += sizeof buf) {
		size_t n = size - off < sizeof buf ? size - off : sizeof buf;
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pattern(token, off + i))
				return 0;
	}
	return 1;
}

/* Forks a holder that keeps only `s` (and /dev/null on 0-2) until the reboot; prints "# holder pid N". */
static void fork_holder(int s)
{
	fflush(stdout);
	pid_t pid = start_holder(&s, 1);
	check(pid > 0, "5.2", "a holder keeps the session fd until the reboot");
	tap_note("holder pid %d", (int)pid);
}

enum { EMFILE_SIZE_1 = 3 * 4096 + 100, EMFILE_SIZE_2 = 5000 };

static int stage_emfile_old(void)
{
	int dev = lu_open_device_or_die();
	int s = lu_create(dev, "trap-emfile");
	check_rc(s, 0, "4.1", "create trap-emfile");
	int m1 = lu_memfd("trap-emfile-1", MFD_CLOEXEC, 0), m2 = lu_memfd("trap-emfile-2", MFD_CLOEXEC, 0);
	check(m1 >= 0 && m2 >= 0 && fill_memfd(m1, 1, EMFILE_SIZE_1) == 0 && fill_memfd(m2, 2, EMFILE_SIZE_2) == 0,
	      "8.1", "two memfds with contents");
	check_rc(lu_preserve(s, m1, 1), 0, "4.3", "preserve token 1");
	check_rc(lu_preserve(s, m2, 2), 0, "4.3", "preserve token 2");
	close_if(m1);
	close_if(m2);
	close(dev);
	if (s >= 0) {
		fork_holder(s);
		close(s);
	}
	return tap_done();
}

enum { BIGTAIL_SIZE = 4 << 20, BIGTAIL_STRUCT = (2 << 20) + 16 };

/* A 4 MiB memfd in session trap-bigtail, kept by a holder until the reboot. */
static int stage_bigtail_old(void)
{
	int dev = lu_open_device_or_die();
	int s = lu_create(dev, "trap-bigtail");
	check_rc(s, 0, "4.1", "create trap-bigtail");
	int m = lu_memfd("trap-bigtail", MFD_CLOEXEC, 0);
	check(m >= 0 && fill_memfd(m, 3, BIGTAIL_SIZE) == 0, "8.1", "a 4 MiB memfd with contents");
	check_rc(lu_preserve(s, m, 3), 0, "4.3", "preserve token 3");
	close_if(m);
	close(dev);
	if (s >= 0) {
		fork_holder(s);
		close(s);
	}
	return tap_done();
}

/*
 * After a durable reboot: RETRIEVE_FD of that memfd (over 1 MiB in the
 * store: restored off the listener thread) with a struct that declares a
 * 2 MiB zero tail (scanned off it too): both slow steps in one call.
 */
static int stage_bigtail_new(void)
{
	int dev = lu_open_device_or_die();
	int s = lu_retrieve(dev, "trap-bigtail");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION trap-bigtail");
	struct liveupdate_session_retrieve_fd *r = calloc(1, BIGTAIL_STRUCT);
	check(r != NULL, "design", "a struct with a 2 MiB zero tail");
	if (s >= 0 && r) {
		r->size = BIGTAIL_STRUCT;
		r->token = 3;
		int rc = ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, r) == 0 ? 0 : -errno;
		check_rc(rc, 0, "4.4", "RETRIEVE_FD with a 2 MiB zero tail of a 4 MiB stored memfd");
		check(rc == 0 && contents_are(r->fd, 3, BIGTAIL_SIZE), "8.2", "its contents intact");
		if (rc == 0)
			close(r->fd);
		struct liveupdate_session_finish f = { .size = sizeof f };
		check_rc(ioctl(s, LIVEUPDATE_SESSION_FINISH, &f) == 0 ? 0 : -errno, 0, "4.5", "FINISH");
	}
	free(r);
	close_if(s);
	close(dev);
	return tap_done();
}

/*
 * Makes fds 0..n-1 all open and none above (holes filled with `filler`),
 * returns n: with RLIMIT_NOFILE n there is no free slot, with n + 1 exactly one
 * (number n). Runs before the limit drops (reading /proc needs an fd).
 */
static int pack_fds(int filler)
{
	int highest = -1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) > highest)
			highest = atoi(e->d_name);
	closedir(d);
	for (int fd = 0; fd < highest; fd++)
		if (fcntl(fd, F_GETFD) < 0 && dup2(filler, fd) < 0)
			return -1;
	return highest + 1;
}

static rlim_t saved_nofile;

static int limit_nofile(rlim_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (!saved_nofile)
		saved_nofile = rl.rlim_cur;
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void restore_nofile(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = saved_nofile;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * RETRIEVE_FD of `token` with every fd number below RLIMIT_NOFILE taken
 * (EMFILE, and the file stays retrievable), then with exactly one free:
 * it succeeds in that slot. Returns the fd (or -errno).
 */
static int retrieve_with_slots(int s, __u64 token, int filler, const char *what)
{
	int n = pack_fds(filler);
	limit_nofile((rlim_t)n);
	int fd = lu_retrieve_fd(s, token);
	restore_nofile();
	check_rc(fd, EMFILE, "4.4", "%s with no free fd slot -> EMFILE", what);
	close_if(fd);
	limit_nofile((rlim_t)n + 1);
	fd = lu_retrieve_fd(s, token);
	restore_nofile();
	check_rc(fd, 0, "4.4", "%s with exactly one free slot succeeds", what);
	check(fd == n, "4.4", "it takes that one slot (fd %d)", n);
	return fd;
}

static int stage_emfile_new(void)
{
	check(seccomp_mode() == 2, "design", "the program runs under a seccomp filter (run)");
	int dev = lu_open_device_or_die();
	int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int n = pack_fds(filler);
	if (n < 0)
		tap_fatal("4.2", strerror(errno), "pack the fd table");

	/* RETRIEVE_SESSION reserves its fd first (docs/behaviour.md §4.2 step 1): EMFILE before the lookup. */
	limit_nofile((rlim_t)n);
	int none = lu_retrieve(dev, "trap-emfile");
	int unknown = lu_retrieve(dev, "trap-emfile-unknown");
	int created = lu_create(dev, "trap-emfile-new");
	restore_nofile();
	check_rc(none, EMFILE, "4.2", "RETRIEVE_SESSION with no free fd slot -> EMFILE");
	check_rc(unknown, EMFILE, "4.2", "RETRIEVE_SESSION of an unknown name with no free slot -> EMFILE (before the lookup)");
	check_rc(created, EMFILE, "4.1", "CREATE_SESSION with no free fd slot -> EMFILE");
	close_if(none);
	close_if(unknown);
	close_if(created);

	limit_nofile((rlim_t)n + 1);
	int s = lu_retrieve(dev, "trap-emfile");
	restore_nofile();
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION with exactly one free slot succeeds (the session was not consumed by the EMFILE)");
	check(s == n, "4.2", "it takes that one slot (fd %d)", n);
	if (s < 0)
		return tap_done();
	int flags = fcntl(s, F_GETFD);
	check(flags >= 0 && (flags & FD_CLOEXEC), "4.2", "the retrieved session fd has FD_CLOEXEC");
	check(lu_name_is(s, "trap-emfile"), "4.6", "GET_NAME on it");

	/* RETRIEVE_FD checks the session kind, then reserves (docs/behaviour.md §4.4 step 2): EMFILE, the file stays. */
	int f1 = retrieve_with_slots(s, 1, filler, "RETRIEVE_FD of token 1");
	if (f1 >= 0) {
		flags = fcntl(f1, F_GETFD);
		check(flags >= 0 && (flags & FD_CLOEXEC), "4.4", "the memfd has FD_CLOEXEC");
		check(contents_are(f1, 1, EMFILE_SIZE_1), "8.2", "token 1: size and contents intact");
	}
	/* A second RETRIEVE_FD of a retrieved token is the same open file again (docs/behaviour.md §4.4 step 4), also needing one slot. */
	int again = retrieve_with_slots(s, 1, filler, "RETRIEVE_FD of token 1 again");
	check(f1 >= 0 && again >= 0 && lseek(f1, 777, SEEK_SET) == 777 && lseek(again, 0, SEEK_CUR) == 777, "4.4",
	      "it is the same open file description as the first (shared offset)");
	close_if(again);

	n = pack_fds(filler);
	limit_nofile((rlim_t)n);
	int f2 = lu_retrieve_fd(s, 2);
	int f2unknown = lu_retrieve_fd(s, 99);
	restore_nofile();
	check_rc(f2, EMFILE, "4.4", "token 2 with no free slot -> EMFILE");
	check_rc(f2unknown, EMFILE, "4.4", "an unknown token with no free slot -> EMFILE (reserved before the lookup)");
	close_if(f2);
	close_if(f2unknown);
	f2 = lu_retrieve_fd(s, 2);
	check_rc(f2, 0, "4.4", "token 2 afterwards");
	check(f2 >= 0 && contents_are(f2, 2, EMFILE_SIZE_2), "8.2", "token 2: size and contents intact");
	check_rc(lu_finish(s), 0, "4.5", "FINISH");

	n = pack_fds(filler);
	limit_nofile((rlim_t)n + 1);
	created = lu_create(dev, "trap-emfile-new");
	restore_nofile();
	check_rc(created, 0, "4.1", "CREATE_SESSION of the name refused with EMFILE, with one free slot");
	check(created == n, "4.1", "it takes that one slot (fd %d)", n);
	close_if(created);
	close_if(f1);
	close_if(f2);
	close(s);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* raw                                                                 */

static long raw_ioctl(int fd, unsigned long req, void *arg)
{
	long rc = syscall(SYS_ioctl, fd, req, arg);
	return rc < 0 ? -errno : rc;
}

static int stage_raw(void)
{
	int dev = lu_open_device_or_die();
	int expected = lowest_free_fd();
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	lu_fill_name(cs.name, "trap-raw");
	long rc = raw_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs);
	check_rc(rc, 0, "4.1", "syscall(SYS_ioctl, CREATE_SESSION)");
	check(rc == 0 && cs.fd == expected, "4.1", "the struct's fd is the lowest free number (%d)", expected);
	int s = rc == 0 ? cs.fd : -1;
	if (s >= 0) {
		int flags = fcntl(s, F_GETFD);
		check(flags >= 0 && (flags & FD_CLOEXEC), "4.1", "it has FD_CLOEXEC");
		struct liveupdate_session_get_name g = { .size = sizeof g };
		check_rc(raw_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g), 0, "4.6", "syscall(SYS_ioctl, GET_NAME)");
		check(strcmp((char *)g.name, "trap-raw") == 0, "4.6", "GET_NAME gives trap-raw");
		int m = lu_memfd("trap-raw", MFD_CLOEXEC, 4096);
		struct liveupdate_session_preserve_fd p = { .size = sizeof p, .fd = m, .token = 1 };
		check_rc(raw_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &p), 0, "4.3", "syscall(SYS_ioctl, PRESERVE_FD)");
		struct liveupdate_session_retrieve_fd r = { .size = sizeof r, .fd = -1, .token = 1 };
		check_rc(raw_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r), EINVAL, "4.4",
			 "syscall(SYS_ioctl, RETRIEVE_FD) on an outgoing session -> EINVAL");
		close_if(m);
	}
	struct liveupdate_ioctl_create_session dup = { .size = sizeof dup, .fd = -7 };
	lu_fill_name(dup.name, "trap-raw");
	check_rc(raw_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &dup), EEXIST, "4.1", "the same name again -> EEXIST");
	check(dup.fd == -7, "4.1", "a failed request leaves the struct's fd alone");
	struct liveupdate_ioctl_retrieve_session rs = { .size = sizeof rs, .fd = -1 };
	lu_fill_name(rs.name, "trap-raw");
	check_rc(raw_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &rs), ENOENT, "4.2",
		 "syscall(SYS_ioctl, RETRIEVE_SESSION) of an outgoing name -> ENOENT");
	check_rc(raw_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, NULL), EFAULT, "2.1", "CREATE_SESSION with NULL -> EFAULT");
	struct liveupdate_ioctl_create_session small = { .size = 71, .fd = -1 };
	check_rc(raw_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &small), EINVAL, "2.1", "CREATE_SESSION size 71 -> EINVAL");
	close_if(s);
	cs.fd = -1;
	check_rc(raw_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs), 0, "5.2", "after close the name is free again");
	close_if(cs.fd);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* nonluo                                                              */

/* One trapped request on a foreign fd: prints "# errno WHAT E" and checks the struct is untouched. */
static void foreign(int fd, const char *what, unsigned long req, const char *reqname)
{
	unsigned char buf[128];
	memset(buf, 0, sizeof buf);
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -4242 };
	lu_fill_name(cs.name, "trap-foreign");
	memcpy(buf, &cs, sizeof cs);
	unsigned char before[sizeof buf];
	memcpy(before, buf, sizeof buf);
	long rc = raw_ioctl(fd, req, buf);
	printf("# errno %s %s %ld\n", what, reqname, rc < 0 ? -rc : 0);
	check(memcmp(before, buf, sizeof buf) == 0, "design", "%s on %s leaves the struct untouched", reqname, what);
	check(rc < 0, "design", "%s on %s fails (the real kernel's answer, no fd)", reqname, what);
}

static void foreign_all(int fd, const char *what)
{
	int before = lu_count_fds();
	foreign(fd, what, LIVEUPDATE_IOCTL_CREATE_SESSION, "CREATE_SESSION");
	foreign(fd, what, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "RETRIEVE_SESSION");
	foreign(fd, what, LIVEUPDATE_SESSION_RETRIEVE_FD, "RETRIEVE_FD");
	check(lu_count_fds() == before, "design", "no fd was installed for %s", what);
}

static int stage_nonluo(void)
{
	tap_note("seccomp mode %d", seccomp_mode());
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	foreign_all(null, "/dev/null");
	int p[2];
	check(pipe2(p, O_CLOEXEC) == 0, "design", "a pipe");
	foreign_all(p[0], "pipe");
	char tmpl[] = "/tmp/trap-nonluo-XXXXXX";
	int reg = mkostemp(tmpl, O_CLOEXEC);
	unlink(tmpl);
	check(reg >= 0, "design", "a regular file");
	foreign_all(reg, "regular-file");
	int sv[2];
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "design", "a socket");
	foreign_all(sv[0], "socket");
	/* status.json is a file of this very mount, but not the device or a session. */
	char status[4096];
	snprintf(status, sizeof status, "%s", lu_device_path());
	char *slash = strrchr(status, '/');
	if (slash)
		snprintf(slash + 1, sizeof status - (size_t)(slash + 1 - status), "status.json");
	int st = open(status, O_RDONLY | O_CLOEXEC);
	check(st >= 0, "design", "open %s", status);
	foreign_all(st, "status.json");
	int closed = dup(null);
	close(closed);
	foreign_all(closed, "closed-fd");
	foreign_all(-1, "fd-minus-1");

	/* FIONREAD and ftruncate/fallocate are trapped too (unless --only-fd-requests): on other files, the real call. */
	int n = -1;
	check(write(p[1], "abc", 3) == 3 && ioctl(p[0], FIONREAD, &n) == 0 && n == 3, "design",
	      "FIONREAD on a pipe with 3 bytes gives 3 (got %d)", n);
	n = -1;
	check(pwrite(reg, "0123456789", 10, 0) == 10 && ioctl(reg, FIONREAD, &n) == 0 && n == 10, "design",
	      "FIONREAD on a regular file of 10 bytes gives 10 (got %d)", n);
	struct stat sb;
	check(ftruncate(reg, 3) == 0 && fstat(reg, &sb) == 0 && sb.st_size == 3, "design",
	      "ftruncate of a regular file truncates it");
	check(fallocate(reg, 0, 0, 8192) == 0 && fstat(reg, &sb) == 0 && sb.st_size == 8192, "design",
	      "fallocate of a regular file extends it");
	check_rc(neg_errno(ftruncate(p[0], 0)), EINVAL, "design", "ftruncate of a pipe -> EINVAL (the real call)");
	check_rc(neg_errno(ftruncate(closed, 0)), EBADF, "design", "ftruncate of a closed fd -> EBADF");
	close_if(st);
	close(sv[0]);
	close(sv[1]);
	close(reg);
	close(p[0]);
	close(p[1]);
	close(null);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* fidelity                                                            */

static int stage_fidelity(const char *expect)
{
	int kernel = strcmp(expect, "kernel") == 0;
	int dev = lu_open_device_or_die();
	int n = -7;
	long rc = lu_ioctl(dev, FIONREAD, &n);
	if (kernel)
		check_rc(rc, EINVAL, "2.1", "FIONREAD on the device -> EINVAL (nr 0x1b is no LUO request)");
	else
		check(rc == 0 && n == 0, "design", "FIONREAD on the device: the VFS answers 0 (--only-fd-requests)");
	int s = lu_create(dev, "trap-fidelity");
	check_rc(s, 0, "4.1", "create trap-fidelity");
	n = -7;
	rc = lu_ioctl(s, FIONREAD, &n);
	if (kernel)
		check_rc(rc, EINVAL, "2.2", "FIONREAD on a session fd -> EINVAL");
	else
		check(rc == 0 && n == 0, "design", "FIONREAD on a session fd: the VFS answers 0 (--only-fd-requests)");

	int m = lu_memfd("trap-fidelity", MFD_CLOEXEC, 8192);
	int plain = lu_memfd("trap-plain", MFD_CLOEXEC, 8192);
	check_rc(lu_preserve(s, m, 1), 0, "4.3", "preserve a memfd of 8192 bytes");
	struct stat sb;
	if (kernel) {
		check_rc(neg_errno(ftruncate(m, 4096)), EPERM, "8.2", "ftruncate of the preserved memfd -> EPERM");
		check_rc(neg_errno(fallocate(m, 0, 0, 16384)), EPERM, "8.2", "fallocate beyond its size -> EPERM");
		int again = lu_reopen(m, O_RDWR | O_CLOEXEC);
		check_rc(neg_errno(ftruncate(again, 0)), EPERM, "8.2", "ftruncate through another open file of it -> EPERM");
		close_if(again);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(ftruncate(m, 100) < 0 && errno == EPERM ? 0 : 1);
		int status = 0;
		check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "8.2", "ftruncate in a forked child -> EPERM");
		check(fstat(m, &sb) == 0 && sb.st_size == 8192, "8.2", "its size is still 8192");
	} else {
		check_rc(neg_errno(ftruncate(m, 4096)), 0, "design",
			 "ftruncate of the preserved memfd is the real call (--only-fd-requests)");
	}
	check(ftruncate(plain, 4096) == 0 && fstat(plain, &sb) == 0 && sb.st_size == 4096, "8.2",
	      "ftruncate of an ordinary memfd works");
	check(fallocate(plain, 0, 0, 16384) == 0 && fstat(plain, &sb) == 0 && sb.st_size == 16384, "8.2",
	      "fallocate of an ordinary memfd works");
	/* Closing the outgoing session unpreserves its files (docs/behaviour.md §5.2): the size is free again. */
	close_if(s);
	if (kernel)
		check(ftruncate(m, 100) == 0 && fstat(m, &sb) == 0 && sb.st_size == 100, "5.2",
		      "after the session's close the memfd can be truncated again");
	close_if(m);
	close_if(plain);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* survivor                                                            */

/* How many of this process's fds are files of the emulator's mount (the device's directory). */
static int emulator_fds(void)
{
	char mount[4096], link[4096], target[4096];
	snprintf(mount, sizeof mount, "%s", lu_device_path());
	char *slash = strrchr(mount, '/');
	if (slash)
		slash[1] = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len > 0) {
			target[len] = 0;
			n += strncmp(target, mount, strlen(mount)) == 0;
		}
	}
	closedir(d);
	return n;
}

/*
 * The start of a stage the harness steps with SIGUSR1: prints "# pid N",
 * checks the program runs under run's filter, and blocks SIGUSR1 for sigwait.
 */
static sigset_t begin_signalled_stage(void)
{
	sigset_t usr1;

	tap_note("pid %d", (int)getpid());
	check(seccomp_mode() == 2, "design", "the program runs under a seccomp filter (run)");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	return usr1;
}

static int stage_survivor(void)
{
	sigset_t usr1 = begin_signalled_stage();

	int dev = lu_open_device_or_die();
	int s = lu_create(dev, "trap-survivor");
	check_rc(s, 0, "4.1", "create trap-survivor");
	int m = lu_memfd("trap-survivor", MFD_CLOEXEC, 0);
	check(m >= 0 && fill_memfd(m, 3, 10000) == 0, "8.1", "a memfd with contents");
	check_rc(lu_preserve(s, m, 1), 0, "4.3", "preserve it");
	close_if(m);
	close(dev);
	pid_t holder = 0;
	if (s >= 0) {
		fflush(stdout);
		holder = fork();
		if (holder == 0) {
			int keep[1] = { s };
			int null = open("/dev/null", O_RDWR);
			for (int std = 0; std <= 2; std++)
				dup2(null, std);
			close_all_but(keep, 1);
			for (;;)
				pause();
		}
		close(s);
	}
	tap_note("holder pid %d", (int)holder);
	check(emulator_fds() == 0, "design", "the program itself holds no emulator fd");
	tap_note("ready");
	int sig = 0;
	sigwait(&usr1, &sig);

	/* After the reboot (--keep-processes): the holder's old fd is of no use; end it. */
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	dev = lu_open_device_or_die();
	int keep = make_hole();
	int expected = lowest_free_fd();
	s = lu_retrieve(dev, "trap-survivor");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION after the reboot, in the tree that outlived it");
	check(s == expected, "4.2", "the lowest free number");
	if (s >= 0) {
		int flags = fcntl(s, F_GETFD);
		check(flags >= 0 && (flags & FD_CLOEXEC), "4.2", "FD_CLOEXEC");
		check(lu_name_is(s, "trap-survivor"), "4.6", "GET_NAME");
		int f = lu_retrieve_fd(s, 1);
		check_rc(f, 0, "4.4", "RETRIEVE_FD");
		check(f >= 0 && contents_are(f, 3, 10000), "8.2", "its contents");
		close_if(f);
		check_rc(lu_finish(s), 0, "4.5", "FINISH");
		close(s);
	}
	int n;
	report_mask(create_and_check(dev, "trap-survivor-new", &n), "CREATE_SESSION after the reboot");
	close_if(n);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		int c;
		int mask = create_and_check(dev, "trap-survivor-child", &c);
		_exit(mask);
	}
	int status = 0;
	check(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status), "design", "a new child after the reboot");
	report_mask(WIFEXITED(status) ? WEXITSTATUS(status) : BAD_CREATE, "a child forked after the reboot");
	close_if(keep);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* outlive                                                             */

static int stage_outlive(void)
{
	sigset_t usr1 = begin_signalled_stage();
	int m = lu_memfd("trap-outlive", MFD_CLOEXEC, 4096);
	int p[2];
	check(m >= 0 && pipe2(p, O_CLOEXEC) == 0 && write(p[1], "abc", 3) == 3, "design", "a memfd and a pipe");
	tap_note("ready");
	int sig = 0;
	sigwait(&usr1, &sig);

	/* No daemon serves the tree's listener any more: these calls involve no LUO file. */
	struct stat sb;
	check_rc(neg_errno(ftruncate(m, 8192)), 0, "design", "ftruncate of an ordinary memfd works without a daemon");
	check(fstat(m, &sb) == 0 && sb.st_size == 8192, "design", "and changed its size");
	check_rc(neg_errno(fallocate(m, 0, 0, 16384)), 0, "design", "fallocate of an ordinary memfd works without a daemon");
	int n = -1;
	check_rc(neg_errno(ioctl(p[0], FIONREAD, &n)), 0, "design", "FIONREAD on a pipe works without a daemon");
	check(n == 3, "design", "and gives 3 (got %d)", n);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	check_rc(lu_ioctl(null, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs), ENOTTY, "design",
		 "0xBA00 on /dev/null -> ENOTTY (the kernel's answer) without a daemon");
	close_if(null);
	close(p[0]);
	close(p[1]);
	close_if(m);

	/* A new daemon on the same mountpoint takes the listener from the keeper. */
	tap_note("gone-checked");
	sigwait(&usr1, &sig);
	int dev = lu_open_device(O_RDWR);
	check_rc(dev, 0, "3", "the next daemon's device opens");
	int s = dev >= 0 ? lu_create(dev, "trap-outlive-next") : -1;
	check_rc(s, 0, "4.1", "CREATE_SESSION is served again by the next daemon");
	check(s >= 0 && lu_name_is(s, "trap-outlive-next"), "4.6", "and its session fd works");
	close_if(s);
	close_if(dev);
	return tap_done();
}

int main(int argc, char **argv)
{
	const char *stage = argc > 1 ? argv[1] : "";
	if (strcmp(stage, "child") == 0)
		return child_main(argc, argv);
	if (strcmp(stage, "tree") == 0)
		return stage_tree();
	if (strcmp(stage, "send") == 0 && argc == 4)
		return stage_send(argv[2], argv[3]);
	if (strcmp(stage, "receive") == 0 && argc == 4)
		return stage_receive(argv[2], argv[3]);
	if (strcmp(stage, "create-one") == 0 && argc == 3)
		return stage_create_one(argv[2], 0);
	if (strcmp(stage, "create-one") == 0 && argc == 4 && strcmp(argv[3], "wait") == 0)
		return stage_create_one(argv[2], 1);
	if (strcmp(stage, "bigtail-old") == 0)
		return stage_bigtail_old();
	if (strcmp(stage, "bigtail-new") == 0)
		return stage_bigtail_new();
	if (strcmp(stage, "emfile-old") == 0)
		return stage_emfile_old();
	if (strcmp(stage, "emfile-new") == 0)
		return stage_emfile_new();
	if (strcmp(stage, "raw") == 0)
		return stage_raw();
	if (strcmp(stage, "nonluo") == 0)
		return stage_nonluo();
	if (strcmp(stage, "fidelity") == 0 && argc == 3 && (!strcmp(argv[2], "kernel") || !strcmp(argv[2], "vfs")))
		return stage_fidelity(argv[2]);
	if (strcmp(stage, "survivor") == 0)
		return stage_survivor();
	if (strcmp(stage, "outlive") == 0)
		return stage_outlive();
	fprintf(stderr, "usage: trap_stages tree|bigtail-old|bigtail-new|send SOCK NAME|receive SOCK NAME|create-one NAME [wait]|emfile-old|emfile-new|raw|nonluo|fidelity kernel|vfs|survivor|outlive\n");
	return 2;
}
