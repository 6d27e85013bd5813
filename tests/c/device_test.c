/*
 * device_test - /dev/liveupdate itself (docs/behaviour.md §3, §2.4, §2.5).
 *
 * The device is single-open: a second open() while any copy of the first
 * open file description is alive gets EBUSY; the flag drops when the LAST
 * copy goes away (close, or exit of the process holding it). Closing the
 * device does not touch sessions.
 */
#include <sys/wait.h>

#include "luo.h"
#include "tap.h"

#define NAME_MAIN "device-test-main"
#define NAME_DUP "device-test-via-dup"
#define NAME_CHILD "device-test-child"
#define NAME_RDONLY "device-test-rdonly"

static void test_busy_and_copies(int *devp, int session)
{
	int dev = *devp;

	check_rc(lu_open_device(O_RDWR), EBUSY, "3", "second open (O_RDWR) while the first is open -> EBUSY");
	check_rc(lu_open_device(O_RDONLY), EBUSY, "3", "second open (O_RDONLY) while the first is open -> EBUSY");

	/* dup(): the copy keeps working and keeps the device busy */
	int copy = dup(dev);
	close(dev);
	check_rc(lu_open_device(O_RDWR), EBUSY, "3", "open while only a dup() of the first fd is left -> EBUSY");
	int s = lu_create(copy, NAME_DUP);
	check_rc(s, 0, "3", "CREATE_SESSION through the dup() copy works");
	close_if(s);
	close(copy);
	dev = lu_open_device(O_RDWR);
	check_rc(dev, 0, "3", "open succeeds once the last copy (the dup) is closed");
	if (dev < 0)
		tap_fatal("3", "cannot continue without the device", "reopen the device");

	/* The session created before survived the device close. */
	check(lu_name_is(session, NAME_MAIN), "3", "closing the device leaves sessions alone: GET_NAME still works");
	check_rc(lu_create(dev, NAME_MAIN), EEXIST, "3", "the session still exists after the device close (same name -> EEXIST)");

	/* fork(): a child's inherited copy keeps the device busy until it exits */
	int report[2], go[2];
	if (pipe(report) < 0 || pipe(go) < 0)
		tap_fatal("3", strerror(errno), "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		close(report[0]);
		close(go[1]);
		int cs = lu_create(dev, NAME_CHILD);
		if (write(report[1], &cs, sizeof cs) != sizeof cs)
			_exit(2);
		char c;
		(void)!read(go[0], &c, 1);
		_exit(0); /* exits holding the device and its session; no close() */
	}
	close(report[1]);
	close(go[0]);
	int child_session = -EPROTO;
	if (read(report[0], &child_session, sizeof child_session) != sizeof child_session)
		child_session = -EPROTO;
	check_rc(child_session, 0, "3", "a forked child can CREATE_SESSION through the inherited device fd");
	close(dev);
	check_rc(lu_open_device(O_RDWR), EBUSY, "3", "open while a child still holds an inherited copy -> EBUSY");
	(void)!write(go[1], "x", 1);
	int status = 0;
	waitpid(pid, &status, 0);
	close(go[1]);
	close(report[0]);
	dev = lu_open_device(O_RDWR);
	check_rc(dev, 0, "3", "open succeeds after the child holding the last copy exited");
	if (dev < 0)
		tap_fatal("3", "cannot continue without the device", "reopen the device");
	int again = lu_create(dev, NAME_CHILD);
	check_rc(again, 0, "5.2", "the exited child's session was discarded (its name is free again)");
	close_if(again);
	*devp = dev;
}

static void test_fd_operations(int dev)
{
	char buf[16] = { 0 };
	check_rc(neg_errno(read(dev, buf, sizeof buf)), EINVAL, "2.5", "read() on the device -> EINVAL");
	check_rc(neg_errno(write(dev, buf, sizeof buf)), EINVAL, "2.5", "write() on the device -> EINVAL");

	int before = fcntl(dev, F_GETFD);
	int rc = lu_ioctl(dev, FIOCLEX, NULL);
	check(rc == 0 && before == 0 && fcntl(dev, F_GETFD) == FD_CLOEXEC, "2.4",
	      "FIOCLEX on the device sets FD_CLOEXEC");
	rc = lu_ioctl(dev, FIONCLEX, NULL);
	check(rc == 0 && fcntl(dev, F_GETFD) == 0, "2.4", "FIONCLEX on the device clears FD_CLOEXEC");

	int on = 1, off = 0;
	rc = lu_ioctl(dev, FIONBIO, &on);
	int fl = fcntl(dev, F_GETFL);
	int set = rc == 0 && (fl & O_NONBLOCK);
	rc = lu_ioctl(dev, FIONBIO, &off);
	fl = fcntl(dev, F_GETFL);
	check(set && rc == 0 && !(fl & O_NONBLOCK), "2.4", "FIONBIO on the device sets and clears O_NONBLOCK");
}

static void test_reopen_loop(void)
{
	int failures = 0, first_err = 0, first_iter = -1;
	for (int i = 0; i < 200; i++) {
		int fd = lu_open_device(O_RDWR);
		if (fd < 0) {
			if (!failures++) {
				first_err = -fd;
				first_iter = i;
			}
			continue;
		}
		close(fd);
	}
	char why[120];
	snprintf(why, sizeof why, "%d of 200 opens failed, first at %d with errno %d (%s)", failures,
		 first_iter, first_err, tap_errname(first_err));
	check_why(failures == 0, why, "3", "200 times open, close, open again: every open right after a close succeeds");
}

static void test_rdonly(void)
{
	int ro = lu_open_device(O_RDONLY);
	check_rc(ro, 0, "3", "open O_RDONLY works (open flags are not checked)");
	if (ro < 0)
		return;
	char buf[8] = { 0 };
	check_rc(neg_errno(write(ro, buf, sizeof buf)), EBADF, "2.5", "write() on an O_RDONLY device fd -> EBADF");
	check_rc(neg_errno(read(ro, buf, sizeof buf)), EINVAL, "2.5", "read() on an O_RDONLY device fd -> EINVAL");
	int s = lu_create(ro, NAME_RDONLY);
	check_rc(s, 0, "3", "CREATE_SESSION works on an O_RDONLY device fd");
	close_if(s);
	check_rc(lu_open_device(O_RDWR), EBUSY, "3", "an O_RDONLY open also makes the device busy");
	close(ro);
}

static void test_other_open_flags(void)
{
	int fd = lu_open_device(O_RDWR | O_TRUNC | O_APPEND | O_NOCTTY);
	check_rc(fd, 0, "3", "open with O_TRUNC | O_APPEND | O_NOCTTY works (open flags are not checked)");
	close_if(fd);
}

/*
 * A process that execs keeps its thread id but gets a new address space:
 * the daemon must read and write the new one (it once kept answering from
 * the maps of the old image: EFAULT for every request after an exec, which
 * also broke `liveupdatefs run`, an exec of the program in place). The child
 * makes a request, then execs this program, which asks GET_NAME on the
 * inherited session fd.
 */
static void test_requests_after_exec(int session)
{
	pid_t child = fork();

	if (child == 0) {
		char fd_text[16];

		if (!lu_name_is(session, NAME_MAIN) || fcntl(session, F_SETFD, 0) < 0)
			_exit(2);
		snprintf(fd_text, sizeof(fd_text), "%d", session);
		execl("/proc/self/exe", "device_test", "after-exec", fd_text, (char *)NULL);
		_exit(3);
	}
	int status = -1;

	waitpid(child, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "2.1",
	      "GET_NAME after the caller's execve (same pid, new memory) works");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return lu_name_is(atoi(argv[2]), NAME_MAIN) ? 0 : 1;

	int dev = lu_open_device(O_RDWR);
	check_rc(dev, 0, "3", "open the device O_RDWR");
	if (dev < 0)
		return tap_done();

	int session = lu_create(dev, NAME_MAIN);
	check_rc(session, 0, "4.1", "CREATE_SESSION on a fresh device");
	if (session < 0) {
		close(dev);
		return tap_done();
	}

	test_requests_after_exec(session);
	test_fd_operations(dev);
	test_busy_and_copies(&dev, session);
	close(dev);

	test_reopen_loop();
	test_rdonly();
	test_other_open_flags();

	/* the sessions are independent of the device: it is closed here */
	check(lu_name_is(session, NAME_MAIN), "3", "session still answers GET_NAME with the device closed");
	close(session);
	return tap_done();
}
