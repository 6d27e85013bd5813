/*
 * session_test - CREATE_SESSION, RETRIEVE_SESSION, GET_NAME and the life of
 * a session fd (docs/behaviour.md §4.1, §4.2, §4.6, §5.1, §5.2, §6).
 *
 * In one boot there are no incoming sessions, so every RETRIEVE_SESSION is
 * ENOENT. Closing the last copy of a session fd discards the session; the
 * name must be free again at once (the FUSE release arrives asynchronously,
 * which the emulator has to hide: see the 500-round loop).
 */
#include <pthread.h>
#include <sys/mman.h>
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

/* ---- per-session nodes: who may open one; the open is the commit (lufs-envelope.h) ---- */

static int open_node(const char *path)
{
	return neg_errno(open(path, O_RDWR | O_CLOEXEC));
}

struct node_opener {
	const char *path;
	int rc;
};

/* Another thread of this process opens the node (and closes what it got). */
static void *open_node_in_thread(void *arg)
{
	struct node_opener *o = arg;
	o->rc = open_node(o->path);
	if (o->rc >= 0)
		close(o->rc);
	return NULL;
}

static int open_node_from_other_thread(const char *path)
{
	struct node_opener o = { .path = path, .rc = -EPROTO };
	pthread_t t;
	if (pthread_create(&t, NULL, open_node_in_thread, &o) != 0)
		return -EAGAIN;
	pthread_join(t, NULL);
	return o.rc;
}

/* PREPARE of CREATE_SESSION NAME by hand, reserving *slot; -errno or 0 with the node's path. */
static int prepare_node(int dev, const char *name, struct liveupdate_ioctl_create_session *cs, int *slot,
			struct lufs_envelope *env, char path[PATH_MAX])
{
	*slot = neg_errno(open("/", O_PATH | O_CLOEXEC));
	if (*slot < 0)
		return *slot;
	lu_fill_name(cs->name, name);
	int rc = lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, cs, *slot, env);
	env->node_name[sizeof env->node_name - 1] = '\0';
	if (rc == 0)
		rc = lufs_node_path(env->node_name, path, PATH_MAX);
	if (rc < 0) {
		close(*slot);
		*slot = -1;
	}
	return rc;
}

static void test_node_owner(int dev)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -12345 };
	struct lufs_envelope env;
	char path[PATH_MAX];
	int slot;
	int rc = prepare_node(dev, "envelope-node", &cs, &slot, &env, path);
	check_rc(rc, 0, "envelope", "PREPARE of CREATE_SESSION through the envelope succeeds");
	if (rc < 0)
		return;
	check(env.answered == LUFS_ENVELOPE_MAGIC, "envelope", "PREPARE sets answered to the magic");
	check(strncmp(env.node_name, LUFS_SESSION_NODE_PREFIX, strlen(LUFS_SESSION_NODE_PREFIX)) == 0, "envelope",
	      "PREPARE names a node %s<n> (got \"%s\")", LUFS_SESSION_NODE_PREFIX, env.node_name);
	check(cs.fd == slot, "envelope",
	      "PREPARE writes the reserved fd number %d back, before the fd exists, as the kernel (got %d)", slot, cs.fd);

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
	check_rc(open_node_from_other_thread(path), EACCES, "envelope",
		 "another thread of the process that sent PREPARE opening the session node -> EACCES");

	int nfd = open_node(path);
	check_rc(nfd, 0, "envelope", "the thread that sent PREPARE opens the session node (the commit)");
	int s = nfd < 0 ? nfd : neg_errno(dup3(nfd, slot, O_CLOEXEC));
	close_if(nfd);
	check_rc(s, 0, "envelope", "the node fd moves onto the reserved number (dup3)");
	check_rc(open_node(path), ENOENT, "envelope",
		 "a second open of the node once the session is taken -> ENOENT (no hand-over waits there)");
	check(lu_name_is(slot, "envelope-node"), "envelope", "the fd is the session: GET_NAME works");
	check_rc(lu_create(dev, "envelope-node"), EEXIST, "envelope", "the session exists (same name -> EEXIST)");
	close(slot);
	s = lu_create(dev, "envelope-node");
	check_rc(s, 0, "envelope", "closing the node fd discards the session");
	close_if(s);
}

/* A PREPARE from a thread that ends before it opens the node. */
struct preparer {
	int dev;
	int rc;
	int slot;
	struct liveupdate_ioctl_create_session cs;
	struct lufs_envelope env;
	char path[PATH_MAX];
};

static void *prepare_in_thread(void *arg)
{
	struct preparer *p = arg;
	p->rc = prepare_node(p->dev, "thread-gone", &p->cs, &p->slot, &p->env, p->path);
	return NULL;
}

static void test_thread_ends_before_open(int dev)
{
	struct preparer p = { .dev = dev, .rc = -EPROTO, .slot = -1, .cs = { .size = sizeof p.cs, .fd = -1 } };
	pthread_t t;
	if (pthread_create(&t, NULL, prepare_in_thread, &p) != 0)
		tap_fatal("envelope", strerror(errno), "start a thread");
	pthread_join(t, NULL);
	check_rc(p.rc, 0, "envelope", "a thread PREPAREs CREATE_SESSION \"thread-gone\", then ends without opening the node");
	if (p.rc < 0)
		return;
	check_rc2(open_node(p.path), EACCES, ENOENT, "envelope",
		  "the node of the ended thread: another thread (this one) may not take it -> EACCES (ENOENT once undone)");
	int s = -EEXIST;
	for (int i = 0; i < 500 && s == -EEXIST; i++) {
		s = lu_create(dev, "thread-gone");
		if (s == -EEXIST)
			usleep(10000);
	}
	check_rc(s, 0, "envelope",
		 "the ended thread's hand-over is undone: the name is free again (within 5 s, no process exited)");
	close_if(s);
	close_if(p.slot);
}

static void test_node_without_prepare(int dev)
{
	char path[PATH_MAX], link[64];
	int s = lu_create(dev, "node-taken");
	check_rc(s, 0, "envelope", "CREATE_SESSION \"node-taken\"");
	snprintf(link, sizeof link, "/proc/self/fd/%d", s);
	ssize_t n = s < 0 ? -1 : readlink(link, path, sizeof path - 1);
	path[n < 0 ? 0 : n] = '\0';
	check(n > 0 && strstr(path, LUFS_SESSION_NODE_PREFIX), "envelope",
	      "the session fd is open on its node (%s)", path);
	if (n > 0)
		check_rc(open_node(path), ENOENT, "envelope",
			 "opening the node of a session whose fd is taken -> ENOENT: only a PREPARE's hand-over waits on a node");
	close_if(s);
	check_rc(lufs_node_path(LUFS_SESSION_NODE_PREFIX "ffffffff", path, sizeof path), 0, "envelope", "node path");
	check_rc(open_node(path), ENOENT, "envelope", "a node number no session has -> ENOENT (no such node)");
}

/*
 * The write-back of the struct with the reserved fd number comes before the
 * fd exists, as the kernel's (docs/behaviour.md §4.1 steps 7-8): at PREPARE.
 * A struct that cannot take it fails there with EFAULT, and nothing stays; a
 * struct that turns read-only after it does not stop the open.
 */
static void test_writeback_efault(int dev)
{
	size_t pg = lu_page();
	struct liveupdate_ioctl_create_session *cs =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cs == MAP_FAILED)
		tap_fatal("4.1", strerror(errno), "mmap");
	cs->size = sizeof *cs;
	cs->fd = -1;
	lu_fill_name(cs->name, "writeback-efault");
	struct lufs_envelope env;
	char path[PATH_MAX];
	int slot = neg_errno(open("/", O_PATH | O_CLOEXEC));
	mprotect(cs, pg, PROT_READ);
	check_rc(lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, cs, slot, &env), EFAULT, "4.1",
		 "PREPARE of CREATE_SESSION with a read-only struct -> EFAULT (the write-back of the reserved fd number)");
	close_if(slot);
	int s = lu_create(dev, "writeback-efault");
	check_rc(s, 0, "4.1", "nothing stays: the name is free");
	close_if(s);

	mprotect(cs, pg, PROT_READ | PROT_WRITE);
	int rc = prepare_node(dev, "writeback-efault", cs, &slot, &env, path);
	check_rc(rc, 0, "4.1", "PREPARE with a writable struct");
	if (rc == 0) {
		check(cs->fd == slot, "4.1", "PREPARE wrote the reserved fd number %d into the struct (got %d)", slot, cs->fd);
		mprotect(cs, pg, PROT_READ);
		int nfd = open_node(path);
		check_rc(nfd, 0, "4.1", "the struct turned read-only after PREPARE: the open takes the session all the same");
		s = nfd < 0 ? nfd : neg_errno(dup3(nfd, slot, O_CLOEXEC));
		close_if(nfd);
		check(s >= 0 && lu_name_is(slot, "writeback-efault"), "4.1", "the reserved fd is the session");
		close(slot);
	}
	munmap(cs, pg);
}

struct short_prepare {
	int dev;
	int rc;
};

/* A short PREPARE from a new thread, which has sent no envelope. */
static void *short_prepare_in_thread(void *arg)
{
	struct short_prepare *sp = arg;
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	int slot = neg_errno(open("/", O_PATH | O_CLOEXEC));
	lu_fill_name(cs.name, "short-new-thread");
	sp->rc = lufs_prepare_short(sp->dev, 0, &cs, slot);
	close_if(slot);
	return NULL;
}

/*
 * The short form of the hand-over (lufs-envelope.h LUFS_PREPARE_SESSION,
 * LUFS_ABORT_SESSION), which the library uses on a mount met before: the
 * same rules, answered through the ioctl's return value.
 */
static void test_short_form(int dev)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	char name[64], path[PATH_MAX];
	int slot = neg_errno(open("/", O_PATH | O_CLOEXEC));
	lu_fill_name(cs.name, "short-form");
	int node = lufs_prepare_short(dev, 0, &cs, slot);
	check_rc(node, 0, "envelope", "short PREPARE of CREATE_SESSION returns the session's node number (%d)", node);
	if (node < 0) {
		close_if(slot);
		return;
	}
	check(cs.fd == slot, "envelope", "short PREPARE writes the reserved fd number %d back (got %d)", slot, cs.fd);
	lufs_node_name(node, name);
	check_rc(lufs_node_path(name, path, sizeof path), 0, "envelope", "node path");
	check_rc(open_node_from_other_thread(path), EACCES, "envelope", "another thread opening the short form's node -> EACCES");
	check_rc(lufs_ioctl_as_library(dev, LUFS_ABORT_SESSION(ENFILE), (void *)(uintptr_t)node), ENFILE, "envelope",
		 "short abort of the node -> the errno it carries (ENFILE)");
	check_rc(open_node(path), ENOENT, "envelope", "after the abort no hand-over waits on the node -> ENOENT");
	int s = lu_create(dev, "short-form");
	check_rc(s, 0, "envelope", "the aborted session is undone: its name is free");
	check_rc(lufs_prepare_short(dev, 0, &cs, slot), EEXIST, "4.1",
		 "short PREPARE of a name that exists -> EEXIST, through the ioctl's return");
	close_if(s);

	node = lufs_prepare_short(dev, 0, &cs, slot);
	check_rc(node, 0, "envelope", "short PREPARE again");
	lufs_node_name(node < 0 ? 0 : node, name);
	lufs_node_path(name, path, sizeof path);
	int nfd = node < 0 ? node : open_node(path);
	s = nfd < 0 ? nfd : neg_errno(dup3(nfd, slot, O_CLOEXEC));
	close_if(nfd);
	check(s >= 0 && lu_name_is(slot, "short-form"), "envelope", "its node opened onto the reserved number is the session");
	close_if(slot);

	size_t pg = lu_page();
	struct liveupdate_ioctl_create_session *ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		tap_fatal("4.1", strerror(errno), "mmap");
	ro->size = sizeof *ro;
	lu_fill_name(ro->name, "short-form-ro");
	mprotect(ro, pg, PROT_READ);
	slot = neg_errno(open("/", O_PATH | O_CLOEXEC));
	check_rc(lufs_prepare_short(dev, 0, ro, slot), EFAULT, "4.1", "short PREPARE with a read-only struct -> EFAULT");
	close_if(slot);
	munmap(ro, pg);
	s = lu_create(dev, "short-form-ro");
	check_rc(s, 0, "4.1", "nothing stays after it: the name is free");
	close_if(s);

	struct short_prepare sp = { .dev = dev, .rc = -EPROTO };
	pthread_t t;
	if (pthread_create(&t, NULL, short_prepare_in_thread, &sp) == 0)
		pthread_join(t, NULL);
	check_rc(sp.rc, EINVAL, "2.1",
		 "short PREPARE from a thread that never sent an envelope -> EINVAL, the kernel's answer to that nr");
	check_rc(lu_ioctl(dev, _IO(LIVEUPDATE_IOCTL_TYPE, 0xE0), &cs), EINVAL, "2.1",
		 "_IO(0xBA, 0xE0), no size bits -> EINVAL even from a thread that speaks the hand-over");

	int ctl = lufs_node_path(LUFS_CONTROL_NODE, path, sizeof path) < 0 ? -1 : open(path, O_RDWR | O_CLOEXEC);
	check_rc(ctl < 0 ? -errno : lufs_prepare_short(ctl, 0, &cs, 0), ENOTTY, "envelope",
		 "short PREPARE on the control node -> ENOTTY (a regular file's answer)");
	close_if(ctl);
}

/* Two threads of one process create and close sessions at once. */
struct creator {
	int dev;
	int id;
	int rounds;
	int good;
	int first_bad;
};

static void *create_loop(void *arg)
{
	struct creator *c = arg;
	for (int i = 0; i < c->rounds; i++) {
		char name[LIVEUPDATE_SESSION_NAME_LENGTH];
		struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
		snprintf(name, sizeof name, "thread-%d-%d", c->id, i);
		lu_fill_name(cs.name, name);
		int rc = lu_ioctl(c->dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs);
		if (rc == 0 && cs.fd >= 0 && lu_name_is(cs.fd, name) && fcntl(cs.fd, F_GETFD) == FD_CLOEXEC)
			c->good++;
		else if (c->first_bad == 0)
			c->first_bad = rc < 0 ? rc : -EPROTO;
		if (rc == 0)
			close(cs.fd);
	}
	return NULL;
}

static void test_two_threads(int dev)
{
	struct creator c[2] = { { .dev = dev, .id = 0, .rounds = 300 }, { .dev = dev, .id = 1, .rounds = 300 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, create_loop, &c[i]) != 0)
			tap_fatal("4.1", strerror(errno), "start a thread");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		check(c[i].good == c[i].rounds, "4.1",
		      "thread %d: %d CREATE_SESSIONs at once with another thread, each fd its own session (GET_NAME) with O_CLOEXEC (%d good, first failure %d)",
		      i, c[i].rounds, c[i].good, c[i].first_bad);
}

/* The session fd takes the lowest free number, as the kernel's reserved one (docs/behaviour.md §4.1 step 1). */
static void test_lowest_fd(int dev)
{
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int b = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int c = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(a); /* a is the lowest free number now; b and c stay above it */
	int s = lu_create(dev, "lowest-fd");
	check(s == a, "4.1", "CREATE_SESSION returns the lowest free fd %d (got %d)", a, s);
	int s2 = lu_create(dev, "lowest-fd-2");
	check(s2 > c, "4.1", "the next one the next free number above %d (got %d)", c, s2);
	close_if(s2);
	close_if(s);
	close(b);
	close(c);
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
	test_thread_ends_before_open(dev);
	test_node_without_prepare(dev);
	test_writeback_efault(dev);
	test_short_form(dev);
	test_two_threads(dev);
	test_lowest_fd(dev);
	test_emfile(dev, basic);
	test_many(dev);
	test_outlive_device(&dev);

	close(basic);
	close(dev);
	return tap_done();
}
