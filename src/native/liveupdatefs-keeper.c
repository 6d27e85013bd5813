/*
 * liveupdatefs-keeper - keeps a `liveupdatefs run` tree's seccomp listener
 * when no daemon serves it (docs/seccomp.md §7).
 *
 *   liveupdatefs-keeper MOUNTDIR SOCKET_FD
 *
 * Started by `liveupdatefs run` before it installs its filter (so the keeper
 * itself is not filtered); receives the listener over SOCKET_FD (SCM_RIGHTS),
 * closes every other fd it inherited, and leaves the run process's tree (it
 * forks and the first process exits: a program waiting for all its children
 * does not wait for the keeper, unless the program is itself the reaper).
 *
 * The kernel fails every trapped call of the tree with ENOSYS once the last
 * copy of the listener is closed, ftruncate and FIONREAD on any file
 * included; the keeper's copy keeps it open. Two modes:
 *   watching: the daemon that took the listener serves the tree; the keeper
 *     never receives. Once a second it asks the mount which daemon serves it
 *     (the pid its .lufs-daemon node names: the same string across a
 *     reboot's exec, and meaningful in any pid namespace). Another pid, or no
 *     daemon at all (the dead mount's ENOTCONN, an empty directory), three
 *     answers in a row (a reboot's exec leaves the mount away for a moment):
 *     keeping.
 *   keeping: it answers every call CONTINUE (the kernel runs it as without a
 *     filter) and every 250 ms offers the listener to the mount's daemon
 *     (LUFS_PHASE_SERVE_LISTENER); once one took it: watching that daemon.
 * Anything that touches the mount runs in a child process with a deadline
 * (a hung or stopped FUSE server cannot stall the keeper, which goes on
 * answering in keeping mode meanwhile); a child that misses it is killed,
 * and counts as "the daemon still serves" while watching. The keeper ends when the tree
 * has (POLLHUP on the listener).
 *
 * Plain C11 and the kernel's seccomp uAPI; no LUO semantics here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lufs-envelope.h"

#define LISTENER_FD 3
#define WATCH_MS 1000
#define CONFIRM 3
#define OFFER_MS 250
#define CHILD_DEADLINE_MS 2000
#define PID_TEXT 32

static const char *mount_dir;

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The listener sent by `liveupdatefs run`, or -1. */
static int receive_listener(int sock)
{
	char payload;
	struct iovec iov = { .iov_base = &payload, .iov_len = 1 };
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.space,
		.msg_controllen = sizeof(control.space),
	};
	struct cmsghdr *cmsg;
	int fd = -1;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

static int node_path(char *path, size_t size, const char *node)
{
	int n = snprintf(path, size, "%s/%s", mount_dir, node);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The pid text of the mount's .lufs-daemon node ("4711"), or "" with no daemon. */
static void read_daemon_pid(char *text)
{
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	text[0] = '\0';
	if (node_path(path, sizeof(path), LUFS_DAEMON_NODE) < 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, PID_TEXT - 1);
		close(fd);
	}
	text[n > 0 ? n : 0] = '\0';
	text[strcspn(text, "\n")] = '\0';
}

/* Hands the listener to the mount's daemon; 0 when it took it. */
static int hand_over(int listener, const char *pid_text)
{
	char path[PATH_MAX];
	struct lufs_envelope env;
	int control, ret;

	/* Where Yama's ptrace_scope is 1 a non-root daemon can take the fd
	 * (pidfd_getfd) only from a process that names it as its ptracer. */
	prctl(PR_SET_PTRACER, strtoul(pid_text, NULL, 10), 0, 0, 0);
	if (node_path(path, sizeof(path), LUFS_CONTROL_NODE) < 0)
		return -1;
	control = open(path, O_RDONLY | O_CLOEXEC);
	if (control < 0)
		return -1;
	memset(&env, 0, sizeof(env));
	env.magic = LUFS_ENVELOPE_MAGIC;
	env.version = LUFS_ENVELOPE_VERSION;
	env.phase = LUFS_PHASE_SERVE_LISTENER;
	env.channel_fd = listener;
	env.installed_fd = -1;
	ret = ioctl(control, LUFS_ENVELOPE_REQUEST, &env);
	close(control);
	return ret == 0 && env.answered == LUFS_ENVELOPE_MAGIC ? 0 : -1;
}

/* What a question to the mount found (written by the child that asked it). */
struct answer {
	char pid[PID_TEXT];	/* the pid text of the daemon serving it now, "" for none */
	char taken;		/* with an offer: that daemon took the listener */
};

/* A question to the mount in flight: a child that asks it, and its pipe. */
struct question {
	pid_t child;
	int pipe;
	int64_t deadline;
};

/* Starts a child that asks the mount (and with offer hands the listener over); -1 on failure. */
static int ask(int listener, int offer, struct question *q)
{
	int pipe_fds[2];

	if (pipe2(pipe_fds, O_CLOEXEC) != 0)
		return -1;
	q->child = fork();
	if (q->child == 0) {
		struct answer a;

		memset(&a, 0, sizeof(a));
		read_daemon_pid(a.pid);
		a.taken = offer && a.pid[0] && hand_over(listener, a.pid) == 0;
		_exit(write(pipe_fds[1], &a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 : 1);
	}
	close(pipe_fds[1]);
	if (q->child < 0) {
		close(pipe_fds[0]);
		return -1;
	}
	q->pipe = pipe_fds[0];
	q->deadline = now_ms() + CHILD_DEADLINE_MS;
	return 0;
}

/* Ends a question: its answer (1), or 0 when the child died or was killed without one. */
static int finish(struct question *q, struct answer *a)
{
	ssize_t got = read(q->pipe, a, sizeof(*a));

	close(q->pipe);
	if (got != (ssize_t)sizeof(*a))
		kill(q->child, SIGKILL);
	waitpid(q->child, NULL, 0);
	q->child = 0;
	return got == (ssize_t)sizeof(*a);
}

/* Asks and waits for the answer (watching: no call is answered meanwhile); 1 when answered. */
static int ask_and_wait(int listener, struct answer *a)
{
	struct question q;

	if (ask(listener, 0, &q) < 0)
		return 0;
	struct pollfd fd = { .fd = q.pipe, .events = POLLIN };
	if (poll(&fd, 1, CHILD_DEADLINE_MS) <= 0) {
		kill(q.child, SIGKILL);
		close(q.pipe);
		waitpid(q.child, NULL, 0);
		return 0;
	}
	return finish(&q, a);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Answers one call CONTINUE: the kernel runs it as without a filter. */
static void continue_one(int listener)
{
	struct seccomp_notif notif;
	struct seccomp_notif_resp resp;
	struct itimerval bound = { .it_value = { .tv_usec = 200000 } }, off = { 0 };

	memset(&notif, 0, sizeof(notif));
	/* The receive blocks if the call is gone meanwhile (taken by a daemon
	 * that got the listener just now): a timer ends it (EINTR). */
	setitimer(ITIMER_REAL, &bound, NULL);
	int received = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif);
	setitimer(ITIMER_REAL, &off, NULL);
	if (received != 0)
		return; /* ENOENT: its caller was killed meanwhile; EINTR: see above */
	memset(&resp, 0, sizeof(resp));
	resp.id = notif.id;
	resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* Waits up to ms; -1 when the tree has ended, 1 when a call waits, else 0. */
static int wait_listener(int listener, int want_calls, int ms)
{
	struct pollfd fd = { .fd = listener, .events = want_calls ? POLLIN : 0 };
	int ready = poll(&fd, 1, ms < 0 ? 0 : ms);

	if (ready < 0)
		return errno == EINTR ? 0 : -1;
	if (ready > 0 && want_calls && (fd.revents & POLLIN))
		return 1;
	return ready > 0 && (fd.revents & (POLLHUP | POLLERR | POLLNVAL)) ? -1 : 0;
}

/*
 * Watches the daemon named by holder until another one (or none) serves the
 * mount; -1: the tree ended. An empty holder (not known: a question that was
 * not answered in time) is the first daemon that answers.
 */
static int watch(int listener, char *holder)
{
	struct answer a;
	int changed = 0;

	for (;;) {
		if (wait_listener(listener, 0, WATCH_MS) < 0)
			return -1;
		/* No answer in time: a stopped or busy daemon still holds the listener. */
		if (!ask_and_wait(listener, &a))
			continue;
		if (a.pid[0] && !holder[0])
			memcpy(holder, a.pid, PID_TEXT);
		/* No daemon, or another one: a reboot's exec unmounts and mounts
		 * again (same process, listeners kept), so only a change seen on
		 * CONFIRM answers in a row means the holder is gone. */
		changed = !a.pid[0] || strcmp(a.pid, holder) != 0 ? changed + 1 : 0;
		if (changed >= CONFIRM)
			return 0;
	}
}

/*
 * Answers CONTINUE until a daemon takes the listener (its pid then in
 * holder) or the tree ends (-1). The offers run in children while the calls
 * keep being answered; one at a time, every OFFER_MS, each with a deadline.
 */
static int keep(int listener, char *holder)
{
	struct question q = { 0 };
	int64_t next_offer = now_ms();

	for (;;) {
		if (!q.child && now_ms() >= next_offer && ask(listener, 1, &q) < 0)
			next_offer = now_ms() + OFFER_MS;
		/* No call is received while an offer is out: the daemon may
		 * already receive from the listener, and two receivers would
		 * race for the same call. */
		struct pollfd fds[2] = {
			{ .fd = listener, .events = q.child ? 0 : POLLIN },
			{ .fd = q.child ? q.pipe : -1, .events = POLLIN },
		};
		int64_t until = q.child ? q.deadline : next_offer;
		int ms = (int)(until - now_ms());

		if (poll(fds, 2, ms < 0 ? 0 : ms) < 0 && errno != EINTR)
			return -1;
		if (fds[0].revents & POLLIN)
			continue_one(listener);
		else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			if (q.child) {
				kill(q.child, SIGKILL);
				close(q.pipe);
				waitpid(q.child, NULL, 0);
			}
			return -1;
		}
		if (q.child && ((fds[1].revents & (POLLIN | POLLHUP)) || now_ms() >= q.deadline)) {
			struct answer a;
			int answered = finish(&q, &a);

			if (answered && a.taken) {
				memcpy(holder, a.pid, PID_TEXT);
				return 0;
			}
			if (!answered) {
				/* No answer in time: the daemon may have taken it. Never
				 * two receivers: watch whoever answers next instead. */
				holder[0] = '\0';
				return 0;
			}
			next_offer = now_ms() + OFFER_MS;
		}
	}
}

int main(int argc, char **argv)
{
	char holder[PID_TEXT];
	int sock, listener, null_fd;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: liveupdatefs-keeper MOUNTDIR SOCKET_FD (started by liveupdatefs run)\n");
		return 2;
	}
	mount_dir = argv[1];
	sock = atoi(argv[2]);
	listener = receive_listener(sock);
	if (listener < 0)
		return 1;
	/* Nothing else the caller of `run` passed on stays open here: a parent
	 * waiting for EOF on a pipe must not wait for the keeper. */
	if (dup2(listener, LISTENER_FD) != LISTENER_FD)
		return 1;
	listener = LISTENER_FD;
	syscall(SYS_close_range, LISTENER_FD + 1, ~0U, 0);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		close(null_fd);
	}
	/* Out of the run process's tree and terminal: the first process exits
	 * at once (run waits for it), the keeper lives on under the reaper. */
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	setsid();
	struct sigaction alarm_action = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &alarm_action, NULL); /* no SA_RESTART: a bounded receive */
	/* `run` hands the listener to the mount's daemon now: watch whoever answers. */
	memset(holder, 0, PID_TEXT);
	for (;;) {
		if (watch(listener, holder) < 0)
			return 0;
		if (keep(listener, holder) < 0)
			return 0;
	}
}
