/*
 * control_stages - drives the reboot's control requests (lufs-envelope.h
 * FREEZE and RESTART) and the session hand-over by hand, the way a
 * misbehaving `liveupdatefs reboot` or a dying creator would. Driven by the
 * NUnit harness (RebootStateTests); never run by the *_test loop.
 *
 *   control_stages freeze MODE THEN   MODE: inplace | durable
 *       THEN: exit     FREEZE, then exit at once (the client vanishes)
 *             hang     FREEZE, print "# frozen", then wait until killed
 *             twice    FREEZE, FREEZE again (EBUSY), RESTART (0)
 *   control_stages phantom NAME
 *       PREPARE of CREATE_SESSION NAME, then exit without opening the
 *       session node: a creator that dies halfway.
 *   control_stages absent NAME
 *       RETRIEVE_SESSION NAME -> ENOENT.
 *   control_stages prepare-hang N
 *       N PREPAREs of CREATE_SESSION that are never completed, then
 *       "# prepared OK refused R" (R: answered EMFILE, the daemon's cap on a
 *       process's uncommitted hand-overs) and wait until killed.
 *   control_stages unshared-holder NAME
 *       CREATE_SESSION NAME (through the preload library), then enter a new
 *       mount namespace (as a sandboxed service does after opening its
 *       files), print "# holder pid N" and wait until killed.
 *   control_stages mapped-arg FILE
 *       GET_NAME and CREATE_SESSION whose struct lies in a private mapping
 *       of FILE, a file on a FUSE mount that never answers a read (hangfs):
 *       EFAULT, at once (issue 12: the daemon must not fault the page in).
 *   control_stages hung-file FILE
 *       PRESERVE_FD of FILE (hangfs's file) while a child's read of it keeps
 *       hangfs's only thread busy for good: ENOENT at once, and the session
 *       answers on (the daemon must not stat or flush that file while serving).
 *
 * Environment: LIVEUPDATE_DEVICE names the device node. Output: TAP and
 * "N passed, M failed"; exit status 0, 1 (a failure) or 2 (usage).
 */
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lufs_direct.h"

static _Noreturn void hang(void)
{
	fflush(stdout);
	for (;;)
		pause();
}

static int control_open(void)
{
	char path[PATH_MAX];
	int rc = lufs_node_path(LUFS_CONTROL_NODE, path, sizeof path);
	return rc < 0 ? rc : neg_errno(open(path, O_RDWR | O_CLOEXEC));
}

static int control(int ctl, __u32 phase, __u64 request)
{
	struct lufs_envelope env;
	return lufs_send(ctl, phase, request, NULL, -1, &env);
}

static int freeze_stage(const char *mode, const char *then)
{
	__u64 request = strcmp(mode, "durable") == 0 ? LUFS_FREEZE_DURABLE : LUFS_FREEZE_IN_PLACE;
	int ctl = control_open();
	if (ctl < 0)
		tap_fatal("design", "cannot open the control node", "open the control node");
	check_rc(control(ctl, LUFS_PHASE_FREEZE, request), 0, "7", "FREEZE (%s)", mode);
	if (strcmp(then, "hang") == 0) {
		tap_note("frozen");
		hang();
	}
	if (strcmp(then, "twice") == 0) {
		check_rc(control(ctl, LUFS_PHASE_FREEZE, request), EBUSY, "design",
			 "a second FREEZE while frozen -> EBUSY");
		check_rc(control(ctl, LUFS_PHASE_RESTART, 0), 0, "design", "RESTART after the refused FREEZE");
	}
	close(ctl);
	return tap_done();
}

static int phantom_stage(const char *name)
{
	int dev = lu_open_device_or_die();
	struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
	struct lufs_envelope env;
	lu_fill_name(cs.name, name);
	check_rc(lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs, &env), 0, "4.1",
		 "PREPARE of CREATE_SESSION \"%s\"; the node is never opened", name);
	return tap_done(); /* exits with the ticket pending and the device open */
}

static int absent_stage(const char *name)
{
	int dev = lu_open_device_or_die();
	int s = lu_retrieve(dev, name);
	check_rc(s, ENOENT, "7", "RETRIEVE_SESSION \"%s\" -> ENOENT: it was never handed over", name);
	close_if(s);
	close(dev);
	return tap_done();
}

static int prepare_hang_stage(int n)
{
	int dev = lu_open_device_or_die();
	int ok = 0, refused = 0;
	for (int i = 0; i < n; i++) {
		char name[32];
		struct liveupdate_ioctl_create_session cs = { .size = sizeof cs, .fd = -1 };
		struct lufs_envelope env;
		int rc;
		snprintf(name, sizeof name, "pending-%d", i);
		lu_fill_name(cs.name, name);
		rc = lufs_prepare(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs, &env);
		ok += rc == 0;
		refused += rc == -EMFILE;
	}
	check(ok + refused == n, "design", "%d PREPAREs answered (%d ok, %d EMFILE)", n, ok, refused);
	tap_note("prepared %d refused %d", ok, refused);
	hang();
}

static int unshared_holder_stage(const char *name)
{
	int dev = lu_open_device_or_die();
	int s = lu_create(dev, name);
	check_rc(s, 0, "4.1", "CREATE_SESSION \"%s\"", name);
	check_rc(neg_errno(unshare(CLONE_NEWNS)), 0, "design", "unshare(CLONE_NEWNS) after the open");
	tap_note("holder pid %d", (int)getpid());
	hang();
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int mapped_arg_stage(const char *file)
{
	int dev = lu_open_device_or_die();
	int s = lufs_create_direct(dev, "mapped-arg");
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	void *map = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	struct timespec start;

	if (s < 0 || map == MAP_FAILED)
		tap_fatal("design", "set-up", "session %d, mapping of %s: %s", s, file, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &start);
	check_rc(neg_errno(ioctl(s, LIVEUPDATE_SESSION_GET_NAME, map)), EFAULT, "design",
		 "GET_NAME with its struct in a mapping of a hung FUSE file");
	check_rc(neg_errno(ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, map)), EFAULT, "design",
		 "CREATE_SESSION with its struct in a mapping of a hung FUSE file");
	check(seconds_since(&start) < 1.0, "design", "both answered within 1 s (%.3f s)", seconds_since(&start));
	return tap_done();
}

static int hung_file_stage(const char *file)
{
	int dev = lu_open_device_or_die();
	int s = lufs_create_direct(dev, "hung-file");
	int f = open(file, O_RDONLY | O_CLOEXEC);
	struct liveupdate_session_preserve_fd pf = { .size = sizeof pf, .token = 1 };
	struct liveupdate_session_get_name gn = { .size = sizeof gn };
	struct timespec start, pause = { 0, 200 * 1000 * 1000 };
	char byte;
	pid_t reader;

	if (s < 0 || f < 0)
		tap_fatal("design", "set-up", "session %d, open of %s: %s", s, file, strerror(errno));
	reader = fork();
	if (reader == 0) {
		(void)!read(f, &byte, 1); /* never answered: hangfs is stuck from now on */
		_exit(0);
	}
	nanosleep(&pause, NULL);
	pf.fd = f;
	clock_gettime(CLOCK_MONOTONIC, &start);
	check_rc(neg_errno(ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &pf)), ENOENT, "4.3",
		 "PRESERVE_FD of a file of a hung FUSE mount -> ENOENT (not a memfd)");
	check_rc(neg_errno(ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &gn)), 0, "4.6", "the session answers on");
	check(seconds_since(&start) < 1.0, "design", "both answered within 1 s (%.3f s)", seconds_since(&start));
	kill(reader, SIGKILL); /* it ends when hangfs does */
	return tap_done();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "freeze") == 0 &&
	    (strcmp(argv[2], "inplace") == 0 || strcmp(argv[2], "durable") == 0) &&
	    (strcmp(argv[3], "exit") == 0 || strcmp(argv[3], "hang") == 0 || strcmp(argv[3], "twice") == 0))
		return freeze_stage(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "phantom") == 0)
		return phantom_stage(argv[2]);
	if (argc == 3 && strcmp(argv[1], "absent") == 0)
		return absent_stage(argv[2]);
	if (argc == 3 && strcmp(argv[1], "prepare-hang") == 0 && atoi(argv[2]) > 0)
		return prepare_hang_stage(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "unshared-holder") == 0)
		return unshared_holder_stage(argv[2]);
	if (argc == 3 && strcmp(argv[1], "mapped-arg") == 0)
		return mapped_arg_stage(argv[2]);
	if (argc == 3 && strcmp(argv[1], "hung-file") == 0)
		return hung_file_stage(argv[2]);
	fprintf(stderr, "usage: control_stages freeze inplace|durable exit|hang|twice | phantom NAME | absent NAME"
			" | prepare-hang N | unshared-holder NAME | mapped-arg FILE | hung-file FILE\n");
	return 2;
}
