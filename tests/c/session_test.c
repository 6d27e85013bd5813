/*
 * session_test - CREATE_SESSION, RETRIEVE_SESSION, GET_NAME and the life of
 * a session fd (docs/behaviour.md §4.1, §4.2, §4.6, §5.1, §5.2, §6).
 *
 * In one boot there are no incoming sessions, so every RETRIEVE_SESSION is
 * ENOENT. Closing the last copy of a session fd discards the session; the
 * name must be free again at once (the FUSE release arrives asynchronously,
 * which the emulator has to hide: see the 500-round loop).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "fdpass.h"
#include "lufs_direct.h"
#include "luo.h"
#include "tap.h"

#define BASIC "session-basic"

/* CREATE with name bytes given verbatim (len <= 64); returns fd or -errno. */
static int create_raw(int dev, const void *name, size_t len, __s32 fd_in, __s32 *fd_out)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = fd_in };
	memcpy(cs.name, name, len);
	int rc = lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs);
	if (fd_out)
		*fd_out = cs.fd;
	return rc < 0 ? rc : cs.fd;
}

static void test_basic(int dev, int s)
{
	check_rc(s, 0, "4.1", "CREATE_SESSION succeeds");
	if (s < 0)
		tap_fatal("4.1", "nothing else can run", "first session");
	check(fcntl(s, F_GETFD) == FD_CLOEXEC, "4.1", "the session fd has FD_CLOEXEC");
	int fl = fcntl(s, F_GETFL);
	check(fl >= 0 && (fl & O_ACCMODE) == O_RDWR, "4.1", "the session fd is O_RDWR");
	check(fl >= 0 && !(fl & (O_NONBLOCK | O_APPEND)), "5.1", "the session fd has no O_NONBLOCK / O_APPEND");

	struct liveupdate_session_get_name g;
	memset(&g, 0, sizeof g);
	g.size = sizeof g;
	int rc = lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g);
	check(rc == 0 && strcmp((char *)g.name, BASIC) == 0 && g.size == sizeof g && g.reserved == 0, "4.6",
	      "GET_NAME returns the name; size and reserved are written back unchanged");

	/* only the name and its NUL are written: the rest of name[] is echoed */
	memset(&g, 0x5A, sizeof g);
	g.size = sizeof g;
	g.reserved = 0;
	rc = lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g);
	int echoed = 1;
	for (size_t i = sizeof BASIC; i < sizeof g.name; i++)
		echoed &= g.name[i] == 0x5A;
	check(rc == 0 && memcmp(g.name, BASIC, sizeof BASIC) == 0 && echoed, "4.6",
	      "GET_NAME writes only the name and its NUL; later name[] bytes keep the caller's values");

	memset(&g, 0, sizeof g);
	g.size = sizeof g;
	g.reserved = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g), EINVAL, "4.6", "GET_NAME with reserved = 1 -> EINVAL");
	g.reserved = 0x80000000u;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g), EINVAL, "4.6", "GET_NAME with reserved = 0x80000000 -> EINVAL");

	check(lu_ioctl(s, FIONCLEX, NULL) == 0 && fcntl(s, F_GETFD) == 0, "2.4", "FIONCLEX on a session fd clears FD_CLOEXEC");
	check(lu_ioctl(s, FIOCLEX, NULL) == 0 && fcntl(s, F_GETFD) == FD_CLOEXEC, "2.4", "FIOCLEX on a session fd sets FD_CLOEXEC");

	char buf[16] = { 0 };
	check_rc(neg_errno(read(s, buf, sizeof buf)), EINVAL, "2.5", "read() on a session fd -> EINVAL");
	check_rc(neg_errno(write(s, buf, sizeof buf)), EINVAL, "2.5", "write() on a session fd -> EINVAL");

	__s32 out = 0;
	check_rc(create_raw(dev, BASIC, sizeof BASIC, -12345, &out), EEXIST, "4.1", "CREATE_SESSION with a duplicate outgoing name -> EEXIST");
	check(out == -12345, "4.1", "the failed CREATE_SESSION left the struct's fd untouched");
}

static void test_names(int dev)
{
	char n64[64], n63[64];
	memset(n64, 'n', sizeof n64);
	check_rc(create_raw(dev, "", 1, -1, NULL), EINVAL, "4.1", "CREATE_SESSION with an empty name -> EINVAL");
	check_rc(create_raw(dev, "\0xyz", 5, -1, NULL), EINVAL, "4.1", "CREATE_SESSION with name \"\\0xyz\" (empty, garbage after) -> EINVAL");
	check_rc(create_raw(dev, n64, 64, -1, NULL), EINVAL, "4.1", "CREATE_SESSION with 64 non-NUL name bytes -> EINVAL");

	memset(n63, 'm', 63);
	n63[63] = '\0';
	int s63 = create_raw(dev, n63, 64, -1, NULL);
	check_rc(s63, 0, "4.1", "CREATE_SESSION with a 63-character name works");
	char got[64];
	memset(got, 0x5A, sizeof got);
	int rc = s63 >= 0 ? lu_get_name(s63, got) : s63;
	check(rc == 0 && memcmp(got, n63, 64) == 0, "4.6", "GET_NAME returns all 63 characters and the NUL");
	n63[62] = 'M'; /* differs only in the last character */
	int s63b = create_raw(dev, n63, 64, -1, NULL);
	check_rc(s63b, 0, "4.1", "a second 63-character name differing only in character 63 is a different session");
	close_if(s63);
	close_if(s63b);

	int sa = create_raw(dev, "a\0garbage", 10, -1, NULL);
	check_rc(sa, 0, "4.1", "CREATE_SESSION with \"a\\0garbage\" works (bytes after the NUL ignored)");
	check(sa >= 0 && lu_name_is(sa, "a"), "4.1", "... and the session is named \"a\"");
	check_rc(create_raw(dev, "a\0other", 8, -1, NULL), EEXIST, "4.1", "CREATE_SESSION \"a\\0other\" -> EEXIST (same name \"a\")");
	close_if(sa);

	/* any non-empty byte string is a name; the emulator must not treat it as a path */
	static const char *const odd[] = { "../../../../etc/passwd", "with/slash", ".", "..", " ",
					   "%s%n%x", "\n", "\x01\x7f\x80\xfe\xff", "UPPER", "upper" };
	enum { N_ODD = sizeof odd / sizeof odd[0] };
	int fds[N_ODD], bad = 0;
	for (int i = 0; i < N_ODD; i++) {
		fds[i] = lu_create(dev, odd[i]);
		if (fds[i] < 0 || !lu_name_is(fds[i], odd[i]))
			bad++;
	}
	check_why(bad == 0, "a name failed to create or read back", "4.1",
		  "%d unusual names (slashes, dots, control and high bytes, case) create distinct sessions with exact names", N_ODD);
	for (int i = 0; i < N_ODD; i++)
		close_if(fds[i]);
}

static void test_fd_input_ignored(int dev, int basic)
{
	static const __s32 inputs[] = { -1, 0, 0x7fffffff };
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		int s = create_raw(dev, "fd-input", 9, inputs[i], NULL);
		check(s >= 0 && lu_name_is(s, "fd-input"), "4.1", "the struct's input fd %d is ignored: a new session fd comes back",
		      inputs[i]);
		close_if(s);
	}
	/* the input names an open session fd: it must not be replaced */
	int s = create_raw(dev, "fd-input", 9, basic, NULL);
	check(s >= 0 && s != basic && lu_name_is(basic, BASIC) && lu_name_is(s, "fd-input"), "4.1",
	      "an input fd naming an existing session fd leaves that fd alone");
	close_if(s);
}

static void test_retrieve(int dev)
{
	struct liveupdate_ioctl_retrieve_session r = { .size = sizeof r, .fd = -777 };
	lu_fill_name(r.name, BASIC);
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r), ENOENT, "4.2",
		 "RETRIEVE_SESSION of an outgoing (this boot's) name -> ENOENT");
	check(r.fd == -777, "4.2", "the failed RETRIEVE_SESSION left the struct's fd untouched");
	check_rc(lu_retrieve(dev, "never-created"), ENOENT, "4.2", "RETRIEVE_SESSION of an unknown name -> ENOENT");
	check_rc(lu_retrieve(dev, ""), ENOENT, "4.2", "RETRIEVE_SESSION of an empty name -> ENOENT (no name validation)");
	memset(r.name, 'r', sizeof r.name);
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r), ENOENT, "4.2",
		 "RETRIEVE_SESSION of a 64-byte unterminated name -> ENOENT");
}

static void test_close_discards(int dev)
{
	int s = lu_create(dev, "discard");
	close_if(s);
	s = lu_create(dev, "discard");
	check_rc(s, 0, "5.2", "closing the session fd discards it: the same name can be created at once");
	close_if(s);

	int failures = 0, first_err = 0, first_iter = -1;
	for (int i = 0; i < 500; i++) {
		s = lu_create(dev, "discard-loop");
		if (s < 0) {
			if (!failures++) {
				first_err = -s;
				first_iter = i;
			}
			continue;
		}
		close(s);
	}
	char why[120];
	snprintf(why, sizeof why, "%d of 500 creates failed, first at round %d with errno %d (%s)", failures,
		 first_iter, first_err, tap_errname(first_err));
	check_why(failures == 0, why, "5.2", "500 rounds of create, close, create the same name: never EEXIST");

	/* a dup keeps the session alive */
	s = lu_create(dev, "dup-alive");
	int d = dup(s);
	close_if(s);
	check_rc(lu_create(dev, "dup-alive"), EEXIST, "5.2", "with a dup() still open the session lives (same name -> EEXIST)");
	check(lu_name_is(d, "dup-alive"), "5.2", "GET_NAME through the dup() works");
	close_if(d);
	s = lu_create(dev, "dup-alive");
	check_rc(s, 0, "5.2", "after the last copy is closed the name is free");
	close_if(s);
}

/* ---- SCM_RIGHTS ---- */

/*
 * Child (forked before the session existed, so its only copy is the one it
 * receives): get the session, wait for 'C', use it, report.
 */
static _Noreturn void scm_child(int sock)
{
	int s = fdpass_recv_fd(sock);
	char c = 0;
	if (read(sock, &c, 1) != 1 || c != 'C')
		_exit(3);
	int res[2];
	res[0] = s < 0 ? s : lu_name_is(s, "passed") ? 0 : -EPROTO;
	int m = lu_memfd("scm-child", 0, 4096);
	res[1] = s < 0 ? s : m < 0 ? m : lu_preserve(s, m, 42);
	if (write(sock, res, sizeof res) != sizeof res)
		_exit(4);
	(void)!read(sock, &c, 1); /* wait for 'X', then exit holding everything */
	_exit(0);
}

static void test_scm_rights(int dev)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		tap_fatal("5.2", strerror(errno), "socketpair");
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		scm_child(sv[1]);
	}
	close(sv[1]);
	int s = lu_create(dev, "passed");
	int rc = s < 0 ? s : fdpass_send_fd(sv[0], s);
	close_if(s); /* the sender's copy is gone before the child uses it */
	(void)!write(sv[0], "C", 1);
	int res[2] = { -EPROTO, -EPROTO };
	if (rc == 0 && read(sv[0], res, sizeof res) != sizeof res)
		res[0] = res[1] = -EPROTO;
	check_rc(res[0], 0, "5.2", "a session fd received over SCM_RIGHTS answers GET_NAME in the receiver");
	check_rc(res[1], 0, "5.2", "... and PRESERVE_FD of the receiver's own memfd works");
	check_rc(lu_create(dev, "passed"), EEXIST, "5.2", "the session survives the sender closing its copy (same name -> EEXIST)");
	(void)!write(sv[0], "X", 1);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	s = lu_create(dev, "passed");
	check_rc(s, 0, "5.2", "once the receiver exited, the session is gone (name free)");
	close_if(s);
}

static void test_many(int dev)
{
	enum { N = 2000 };
	int lim = lu_raise_nofile(N + lu_count_fds() + 64);
	check_rc(lim, 0, "5.3", "raise RLIMIT_NOFILE for %d sessions", N);
	static int fds[N];
	char name[32];
	int created = 0, named = 0, first_err = 0;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "many-%04d", i);
		fds[i] = lu_create(dev, name);
		if (fds[i] >= 0)
			created++;
		else if (!first_err)
			first_err = -fds[i];
	}
	char why[100];
	snprintf(why, sizeof why, "%d created, first error %d (%s)", created, first_err, tap_errname(first_err));
	check_why(created == N, why, "5.3", "%d sessions can be open at once", N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "many-%04d", i);
		named += fds[i] >= 0 && lu_name_is(fds[i], name);
	}
	check(named == N, "4.6", "GET_NAME is right for all %d sessions", N);
	for (int i = 0; i < N; i++)
		close_if(fds[i]);
	int again = 0;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "many-%04d", i);
		int s = lu_create(dev, name);
		again += s >= 0;
		close_if(s);
	}
	check(again == N, "5.2", "after closing all %d, every name is free again", N);
}

/* ---- per-session node ownership through the envelope protocol ---- */

static void test_node_owner(int dev)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -12345 };
	lu_fill_name(cs.name, "envelope-node");
	struct lufs_envelope env;
	int rc = lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs, &env);
	check_rc(rc, 0, "envelope", "PREPARE of CREATE_SESSION through the envelope succeeds");
	if (rc < 0)
		return;
	env.node_name[sizeof env.node_name - 1] = '\0';
	check(env.answered == LUFS_ENVELOPE_MAGIC, "envelope", "PREPARE sets answered to the magic");
	check(strncmp(env.node_name, LUFS_SESSION_NODE_PREFIX, strlen(LUFS_SESSION_NODE_PREFIX)) == 0, "envelope",
	      "PREPARE names a node %s<ticket> (got \"%s\")", LUFS_SESSION_NODE_PREFIX, env.node_name);
	check(cs.fd == -12345, "envelope", "PREPARE does not write the caller's struct (fd still -12345)");

	char path[PATH_MAX];
	if (lufs_node_path(env.node_name, path, sizeof path) < 0)
		tap_fatal("envelope", strerror(errno), "node path");

	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		_exit(fd < 0 ? (errno & 0xff) : 0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	int child_rc = WIFEXITED(status) ? -WEXITSTATUS(status) : -EPROTO;
	check_rc(child_rc, EACCES, "envelope",
		 "another process (forked child) opening the session node -> EACCES");

	int nfd = neg_errno(open(path, O_RDWR | O_CLOEXEC));
	check_rc(nfd, 0, "envelope", "the process that sent PREPARE opens the session node");
	rc = lufs_commit(dev, &env, nfd < 0 ? -1 : nfd, nfd < 0 ? -nfd : 0);
	check_rc(rc, 0, "envelope", "COMMIT with the installed fd succeeds");
	check(nfd >= 0 && cs.fd == nfd, "envelope", "after COMMIT the caller's struct holds the installed fd");
	check_rc2(neg_errno(open(path, O_RDWR | O_CLOEXEC)), ENOENT, EACCES, "envelope",
		  "a second open of the node after COMMIT fails");
	check(nfd >= 0 && lu_name_is(nfd, "envelope-node"), "envelope", "the node fd is the session: GET_NAME works");
	check_rc(lu_create(dev, "envelope-node"), EEXIST, "envelope", "the session exists (same name -> EEXIST)");
	close_if(nfd);
	int s = lu_create(dev, "envelope-node");
	check_rc(s, 0, "envelope", "closing the node fd discards the session");
	close_if(s);
}

/* ---- EMFILE: the fd slot is reserved first (docs/behaviour.md §4.1 step 1, §4.2 step 1) ---- */

static void test_emfile(int dev, int basic)
{
	struct rlimit old;
	getrlimit(RLIMIT_NOFILE, &old);
	int maxfd = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		if (atoi(e->d_name) > maxfd)
			maxfd = atoi(e->d_name);
	if (d)
		closedir(d);
	struct rlimit small = { .rlim_cur = (rlim_t)maxfd + 8, .rlim_max = old.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &small) < 0)
		tap_fatal("4.1", strerror(errno), "lower RLIMIT_NOFILE");
	int cap = maxfd + 16, n = 0;
	int *fillers = malloc(sizeof(int) * (size_t)cap);
	while (fillers && n < cap) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fillers[n++] = fd;
	}
	if (n == 0 || open("/dev/null", O_RDONLY) >= 0)
		tap_fatal("4.1", "could not fill the fd table", "exhaust the fd table");
	struct liveupdate_ioctl_create_session cs = { .size = 0 };
	lu_fill_name(cs.name, "emfile");
	check_rc(lu_create(dev, "emfile"), EMFILE, "4.1", "CREATE_SESSION with no free fd slot -> EMFILE");
	check_rc(lu_create(dev, ""), EMFILE, "4.1", "CREATE_SESSION with an empty name and no free fd -> EMFILE (slot reserved before the name check)");
	check_rc(lu_create(dev, BASIC), EMFILE, "4.1", "CREATE_SESSION of an existing name and no free fd -> EMFILE");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs), EINVAL, "4.1",
		 "CREATE_SESSION size 0 and no free fd -> EINVAL (decoding first)");
	check_rc(lu_retrieve(dev, "unknown"), EMFILE, "4.2", "RETRIEVE_SESSION of an unknown name and no free fd -> EMFILE (slot before lookup)");
	check(lu_name_is(basic, BASIC), "4.6", "GET_NAME needs no fd slot and works");

	close(fillers[--n]); /* exactly one slot free */
	int s = lu_create(dev, "emfile");
	check_rc(s, 0, "4.1", "CREATE_SESSION with exactly one free fd slot works (the EMFILE attempt created nothing)");
	close_if(s);
	while (n > 0)
		close(fillers[--n]);
	free(fillers);
	setrlimit(RLIMIT_NOFILE, &old);
}

static void test_outlive_device(int *devp)
{
	int s = lu_create(*devp, "outlive");
	close(*devp);
	check(s >= 0 && lu_name_is(s, "outlive"), "3", "a session outlives the device fd: GET_NAME works after the device close");
	int m = lu_memfd("outlive", 0, 4096);
	check_rc(s < 0 ? s : lu_preserve(s, m, 1), 0, "3", "PRESERVE_FD works with the device closed");
	close_if(m);
	*devp = lu_open_device_or_die();
	check_rc(lu_create(*devp, "outlive"), EEXIST, "3", "after reopening the device the session is still there (EEXIST)");
	close_if(s);
	s = lu_create(*devp, "outlive");
	check_rc(s, 0, "5.2", "closing it frees the name");
	close_if(s);
}

int main(void)
{
	int dev = lu_open_device_or_die();
	int basic = lu_create(dev, BASIC);

	test_basic(dev, basic);
	test_names(dev);
	test_fd_input_ignored(dev, basic);
	test_retrieve(dev);
	test_close_discards(dev);
	test_scm_rights(dev);
	test_node_owner(dev);
	test_emfile(dev, basic);
	test_many(dev);
	test_outlive_device(&dev);

	close(basic);
	close(dev);
	return tap_done();
}
