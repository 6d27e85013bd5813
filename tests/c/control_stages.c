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
 *       N PREPAREs of CREATE_SESSION whose nodes are never opened, then
 *       "# prepared OK refused R" (R: answered EMFILE, the daemon's cap on a
 *       thread's hand-overs not taken) and wait until killed.
 *   control_stages unshared-holder NAME
 *       CREATE_SESSION NAME (through the preload library), then enter a new
 *       mount namespace (as a sandboxed service does after opening its
 *       files), print "# holder pid N" and wait until killed.
 *   control_stages mapped-arg FILE
 *       GET_NAME and CREATE_SESSION whose struct lies in a private mapping
 *       of FILE, a file on a FUSE mount that never answers a read (hangfs):
 *       EFAULT, at once (the daemon must not fault the page in).
 *   control_stages hung-file FILE
 *       PRESERVE_FD of FILE (hangfs's file) while a child's read of it keeps
 *       hangfs's only thread busy for good: ENOENT at once, and the session
 *       answers on (the daemon must not stat or flush that file while serving).
 *   control_stages tmpfile DIR
 *       PRESERVE_FD of an O_TMPFILE in DIR (a tmpfs the harness mounted and
 *       unmounts next): 0; prints "# mount id N" (the file's fdinfo mnt_id).
 *       Every fd is closed before the exit, so DIR can be unmounted and its
 *       mount id reused (the stale mount-id test, HungMountTests).
 *   control_stages full-progress
 *       progress text never blocks the FUSE thread. A session with
 *       a preserved 65 MiB memfd (kept by a holder: "# holder pid N"), then
 *       a durable FREEZE from a child whose channel_fd (the progress
 *       terminal) is a blocking pipe already full, which nobody reads yet.
 *       Meanwhile status.json must answer within 1 s and the FREEZE itself
 *       within 2 s. Then the pipe is drained (the progress text arrives),
 *       the sender exits (the boot thaws), and a CREATE_SESSION and a
 *       status.json read are answered. Every wait is bounded; a child that
 *       got no answer is killed (a request the daemon never read is
 *       killable), and draining the pipe releases a daemon stuck on it.
 *
 * Environment: LIVEUPDATE_DEVICE names the device node. Output: TAP and
 * "N passed, M failed"; exit status 0, 1 (a failure) or 2 (usage).
 */
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "holder.h"
#include "lufs_direct.h"
#include "luo.h"
#include "tap.h"

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
	struct liveupdate_ioctl_create_session cs;
	struct lufs_envelope env;
	check_rc(lufs_prepare_create(dev, name, &cs, &env), 0, "4.1",
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
		struct liveupdate_ioctl_create_session cs;
		struct lufs_envelope env;
		int rc;
		snprintf(name, sizeof name, "pending-%d", i);
		rc = lufs_prepare_create(dev, name, &cs, &env);
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

static int tmpfile_stage(const char *dir)
{
	int dev = lu_open_device_or_die();
	int s = lufs_create_direct(dev, "tmpfile");
	int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	char fdinfo[64], line[128];
	int mount_id = -1;
	FILE *info;

	if (s < 0 || f < 0)
		tap_fatal("design", "set-up", "session %d, O_TMPFILE in %s: %s", s, dir, strerror(errno));
	check(write(f, "x", 1) == 1, "design", "one byte written to the O_TMPFILE");
	check_rc(lu_preserve(s, f, 1), 0, "4.3", "PRESERVE_FD of an O_TMPFILE on the tmpfs %s", dir);
	snprintf(fdinfo, sizeof fdinfo, "/proc/self/fdinfo/%d", f);
	info = fopen(fdinfo, "r");
	while (info && fgets(line, sizeof line, info))
		if (sscanf(line, "mnt_id: %d", &mount_id) == 1)
			break;
	if (info)
		fclose(info);
	check(mount_id > 0, "design", "the file's mount id is known (%d)", mount_id);
	tap_note("mount id %d", mount_id);
	close(f);
	close(s);
	close(dev);
	return tap_done();
}

/* A forked child's exit status, waited for at most `limit` seconds: 0..255, or -1
 * when it is still running at the limit (then it is left running: *pid stays set). */
static int wait_bounded(pid_t *pid, double limit, double *took)
{
	struct timespec start, tick = { 0, 5 * 1000 * 1000 };
	int status;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t done = waitpid(*pid, &status, WNOHANG);
		*took = seconds_since(&start);
		if (done == *pid) {
			*pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (*took >= limit)
			return -1;
		nanosleep(&tick, NULL);
	}
}

/* Kills a child still waiting (its request not yet read by the daemon, so
 * killable) and reaps it, bounded. */
static void end_child(pid_t *pid)
{
	double took;
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	if (wait_bounded(pid, 5.0, &took) < 0)
		tap_note("child %d did not end within 5 s after SIGKILL", (int)*pid);
}

/* A child that reads status.json: exit 0 when it read something. */
static pid_t start_status_reader(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char path[PATH_MAX], buf[4096];
		int fd = lufs_node_path("status.json", path, sizeof path) < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		_exit(fd >= 0 && read(fd, buf, sizeof buf) > 0 ? 0 : 1);
	}
	return pid;
}

#define PROGRESS_MEMFD_SIZE ((off_t)65 << 20) /* above StoreImage.ShowProgressFrom (64 MiB) */

static int full_progress_stage(void)
{
	int dev = lu_open_device_or_die();
	int s = lufs_create_direct(dev, "full-progress");
	int m = lu_memfd("full-progress", 0, PROGRESS_MEMFD_SIZE);
	int progress[2], result[2], go[2];
	char page[4096], text[4096];
	size_t filled = 0, got = 0;
	pid_t holder, sender, reader;
	int freeze_rc = 1, answered = 0, eof = 0, full = 0, code;
	double took;
	struct timespec settle = { 0, 300 * 1000 * 1000 };

	if (s < 0 || m < 0)
		tap_fatal("design", "set-up", "session %d, memfd %d", s, m);
	memset(page, 0xa5, sizeof page);
	check(pwrite(m, page, sizeof page, 0) == (ssize_t)sizeof page &&
	      pwrite(m, page, sizeof page, PROGRESS_MEMFD_SIZE - (off_t)sizeof page) == (ssize_t)sizeof page,
	      "design", "data written at both ends of the 65 MiB memfd");
	check_rc(lu_preserve(s, m, 1), 0, "4.3", "PRESERVE_FD of the 65 MiB memfd");
	holder = fork();
	if (holder == 0) {
		close_all_but(&s, 1);
		for (;;)
			pause();
	}
	tap_note("holder pid %d", (int)holder);
	/* Only the holder keeps an emulator fd: the durable freeze stops such processes. */
	close(m);
	close(s);
	close(dev);

	if (pipe2(progress, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
		tap_fatal("design", "set-up", "pipe2: %s", strerror(errno));
	/* Fill the progress pipe to EAGAIN, then make it blocking again: the
	 * daemon's copy of the fd shares the file's flags, so its next write blocks. */
	fcntl(progress[1], F_SETFL, O_NONBLOCK);
	memset(page, '.', sizeof page);
	for (size_t chunk = sizeof page; chunk > 0; chunk = chunk > 1 ? 1 : 0) {
		ssize_t n;
		while ((n = write(progress[1], page, chunk)) > 0)
			filled += (size_t)n;
		full = n < 0 && errno == EAGAIN;
	}
	fcntl(progress[1], F_SETFL, 0);
	check(filled > 0 && full, "design", "the progress pipe is full (%zu bytes, then EAGAIN)", filled);

	sender = fork();
	if (sender == 0) {
		struct lufs_envelope env;
		int ctl = control_open(), rc;
		char byte;
		close(progress[0]);
		close(result[0]);
		close(go[1]);
		memset(&env, 0, sizeof env);
		env.magic = LUFS_ENVELOPE_MAGIC;
		env.version = LUFS_ENVELOPE_VERSION;
		env.phase = LUFS_PHASE_FREEZE;
		env.request = LUFS_FREEZE_DURABLE;
		env.channel_fd = progress[1];
		env.installed_fd = -1;
		rc = ctl < 0 ? ctl : lu_ioctl(ctl, LUFS_ENVELOPE_REQUEST, &env);
		close(progress[1]);
		(void)!write(result[1], &rc, sizeof rc);
		while (read(go[0], &byte, 1) > 0) /* until the parent closes go */
			;
		_exit(0);
	}
	close(progress[1]);
	close(result[1]);
	close(go[0]);
	nanosleep(&settle, NULL); /* the freeze is under way (or done) */

	reader = start_status_reader();
	code = wait_bounded(&reader, 1.0, &took);
	check(code == 0, "design", "status.json answers within 1 s while the freeze's progress pipe is full (%s after %.3f s)",
	      code < 0 ? "no answer" : "answered", took);
	end_child(&reader);

	struct pollfd answer = { .fd = result[0], .events = POLLIN };
	check(poll(&answer, 1, 2000) == 1, "7", "the durable FREEZE is answered within 2 s although nobody reads its progress pipe");

	/* Drain: the progress text arrives, and a daemon stuck on the pipe goes on. */
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	fcntl(progress[0], F_SETFL, O_NONBLOCK);
	while (!eof && seconds_since(&start) < 20.0) {
		struct pollfd fds[2] = { { .fd = progress[0], .events = POLLIN }, { .fd = result[0], .events = POLLIN } };
		ssize_t n;
		if (poll(fds, answered ? 1 : 2, 100) < 0)
			break;
		while ((n = read(progress[0], page, sizeof page)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (page[i] != '.' && got < sizeof text - 1)
					text[got++] = page[i];
		}
		eof = n == 0;
		if (!answered && (fds[1].revents & (POLLIN | POLLHUP)))
			answered = read(result[0], &freeze_rc, sizeof freeze_rc) == (ssize_t)sizeof freeze_rc;
	}
	text[got] = '\0';
	check(answered, "7", "the FREEZE is answered once the pipe drains");
	check_rc(freeze_rc, 0, "7", "durable FREEZE of 1 session with a 65 MiB memfd");
	check(eof, "design", "the daemon closed the progress pipe after the freeze");
	check(strstr(text, "freezing token 1 of session full-progress") != NULL, "design",
	      "the progress text reached the pipe (\"%.60s\")", text);

	close(go[1]); /* the sender exits: the boot thaws */
	code = wait_bounded(&sender, 5.0, &took);
	check(code == 0, "design", "the FREEZE's sender exits (after %.3f s)", took);
	end_child(&sender);

	pid_t creator = fork();
	if (creator == 0) {
		int d = lu_open_device(O_RDWR | O_CLOEXEC);
		int t = d < 0 ? d : lufs_create_direct(d, "after-thaw");
		_exit(t >= 0 ? 0 : 1);
	}
	code = wait_bounded(&creator, 5.0, &took);
	check(code == 0, "7", "after the sender's exit the boot thaws: CREATE_SESSION answered (%.3f s)", took);
	end_child(&creator);
	reader = start_status_reader();
	code = wait_bounded(&reader, 1.0, &took);
	check(code == 0, "design", "status.json answers within 1 s after the thaw (%.3f s)", took);
	end_child(&reader);

	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	close(progress[0]);
	close(result[0]);
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
	if (argc == 3 && strcmp(argv[1], "tmpfile") == 0)
		return tmpfile_stage(argv[2]);
	if (argc == 2 && strcmp(argv[1], "full-progress") == 0)
		return full_progress_stage();
	fprintf(stderr, "usage: control_stages freeze inplace|durable exit|hang|twice | phantom NAME | absent NAME"
			" | prepare-hang N | unshared-holder NAME | mapped-arg FILE | hung-file FILE"
			" | tmpfile DIR | full-progress\n");
	return 2;
}
