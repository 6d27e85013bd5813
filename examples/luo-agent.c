/*
 * luo-agent - a minimal live-update agent: the one process that opens
 * /dev/liveupdate and hands LUO sessions to the VMMs of a host.
 *
 *     luo-agent serve SOCKET
 *
 * The Live Update Orchestrator (LUO) lets a program keep memory across a
 * kexec into a new kernel. The program puts files (memfds) into a named
 * *session*; when the machine live-updates, the kernel hands every session
 * that is still open to the next kernel, which offers it back under the
 * same name.
 *
 * Why an agent? /dev/liveupdate is single-open: a second open() fails with
 * EBUSY. So on a real host one daemon (this agent) opens it and every VMM
 * asks the agent for its session over a unix socket. The agent:
 *
 *   1. opens the device (path from $LIVEUPDATE_DEVICE, default
 *      /dev/liveupdate) and keeps it open;
 *   2. listens on SOCKET (SOCK_SEQPACKET: one message is one request);
 *   3. for each VMM that connects and sends its VM name NAME:
 *        - RETRIEVE_SESSION "vm-NAME": succeeds after a live update if the
 *          previous boot handed such a session over;
 *        - on ENOENT (a cold boot, or a VM that is new) CREATE_SESSION
 *          "vm-NAME" instead;
 *      and sends the VMM a copy of the session fd (SCM_RIGHTS) with one
 *      byte telling which of the two it is: 'N' new, 'R' retrieved
 *      ('E' plus a text if the agent could not do it);
 *   4. keeps its own copy of every session fd, and runs until killed.
 *
 * Why keep the session fds? An outgoing session lives exactly as long as
 * its file is open: when the last fd of it is closed the kernel discards the
 * session and everything preserved in it (docs/behaviour.md §5.2). If only
 * the VMM held the fd, a VMM crash or restart just before the update would
 * throw the guest's memory away. Because the agent holds a copy, the session
 * survives until the reboot, which is exactly when it is needed. (After a
 * live update the same copy keeps the retrieved session from being finished
 * implicitly, which closing the last fd of an incoming session does.)
 *
 * The live update itself (`liveupdatefs reboot` in the emulator, kexec on a
 * real machine) ends this agent like every other process; the agent of the
 * next boot starts over at step 1 and finds the sessions again by name.
 *
 * Output: one line per event on stdout ("luo-agent: ..."); errors on stderr.
 * Exit status: 1 if the device or the socket cannot be set up, 2 on bad
 * usage; otherwise it never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/liveupdate.h>

/* The protocol between agent and VMM (vmm.c has the same three bytes). */
#define REPLY_NEW 'N'       /* + the fd of a session created now */
#define REPLY_RETRIEVED 'R' /* + the fd of a session from the previous boot */
#define REPLY_ERROR 'E'     /* + a text, no fd */

/* Session names are "vm-" + the VM name, at most 63 characters in all. */
#define SESSION_PREFIX "vm-"
#define MAX_VM_NAME (LIVEUPDATE_SESSION_NAME_LENGTH - 1 - (int)(sizeof SESSION_PREFIX - 1))

/* The sessions this agent holds, so a VMM that reconnects gets the same one. */
#define MAX_SESSIONS 256
static struct held {
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	int fd;
	char kind; /* REPLY_NEW or REPLY_RETRIEVED */
} held[MAX_SESSIONS];
static int n_held;

static int device = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("luo-agent: ");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "luo-agent: error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/*
 * RETRIEVE_SESSION (an incoming session, handed over by the previous boot)
 * or CREATE_SESSION (a new outgoing one). Returns the session fd and sets
 * *kind, or returns -1 with errno set.
 */
static int retrieve_or_create(const char *name, char *kind)
{
	/* size must be set: LUO structs are extensible and start with their size. */
	struct liveupdate_ioctl_retrieve_session r = { .size = sizeof r };
	snprintf((char *)r.name, sizeof r.name, "%s", name);
	if (ioctl(device, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r) == 0) {
		*kind = REPLY_RETRIEVED;
		return r.fd;
	}
	if (errno != ENOENT) /* e.g. EINVAL: someone else already retrieved it */
		return -1;

	struct liveupdate_ioctl_create_session c = { .size = sizeof c };
	snprintf((char *)c.name, sizeof c.name, "%s", name);
	if (ioctl(device, LIVEUPDATE_IOCTL_CREATE_SESSION, &c) < 0)
		return -1;
	*kind = REPLY_NEW;
	return c.fd;
}

/*
 * Sends kind, text and (if fd >= 0) a copy of fd in one message. (The
 * SCM_RIGHTS code is written out here, not shared with tests/c/fdpass.h:
 * each example stands alone, to be read and copied as one file.)
 */
static int reply(int conn, char kind, int fd, const char *text)
{
	char buf[256];
	int len = snprintf(buf, sizeof buf, "%c%s", kind, text);
	struct iovec iov = { .iov_base = buf, .iov_len = (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1 };
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&control, 0, sizeof control);
	if (fd >= 0) {
		/* SCM_RIGHTS gives the VMM its own fd of the same open session file. */
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof control.space;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	/* MSG_NOSIGNAL: a VMM that already went away must not kill the agent. */
	return sendmsg(conn, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* One VMM connection: read the VM name, find or make its session, hand it over. */
static void serve_one(int conn)
{
	char vm[LIVEUPDATE_SESSION_NAME_LENGTH + 1];
	ssize_t n = recv(conn, vm, sizeof vm - 1, 0);
	if (n <= 0) {
		say("a VMM connected but sent no VM name (%s)", n < 0 ? strerror(errno) : "end of file");
		return;
	}
	vm[n] = '\0';
	if ((ssize_t)strlen(vm) != n || n > MAX_VM_NAME) {
		char why[80];
		snprintf(why, sizeof why, "the VM name must be 1 to %d characters, without NUL", MAX_VM_NAME);
		say("refused a VMM: %s", why);
		reply(conn, REPLY_ERROR, -1, why);
		return;
	}

	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	snprintf(name, sizeof name, "%s%.*s", SESSION_PREFIX, MAX_VM_NAME, vm);

	/* A VMM that restarts within a boot gets the session the agent holds. */
	for (int i = 0; i < n_held; i++) {
		if (strcmp(held[i].name, name) == 0) {
			int ok = reply(conn, held[i].kind, held[i].fd, "") == 0;
			say("%s: handed the session it already holds to the VMM again%s", name,
			    ok ? "" : " (failed: the VMM went away)");
			return;
		}
	}
	if (n_held == MAX_SESSIONS) {
		say("%s: refused, the agent already holds %d sessions", name, MAX_SESSIONS);
		reply(conn, REPLY_ERROR, -1, "the agent holds too many sessions");
		return;
	}

	char kind;
	int session = retrieve_or_create(name, &kind);
	if (session < 0) {
		char why[160];
		snprintf(why, sizeof why, "cannot retrieve or create session %s: %s", name, strerror(errno));
		say("%s", why);
		reply(conn, REPLY_ERROR, -1, why);
		return;
	}
	/* Keep the agent's copy before anything else can fail (see the header comment). */
	struct held *h = &held[n_held++];
	h->fd = session;
	h->kind = kind;
	snprintf(h->name, sizeof h->name, "%s", name);

	int ok = reply(conn, kind, session, "") == 0;
	say("%s: %s, fd handed to the VMM%s", name,
	    kind == REPLY_NEW ? "created a new session" : "retrieved the session of the previous boot",
	    ok ? "" : " (failed: the VMM went away; the agent keeps the session)");
}

static int serve(const char *path)
{
	const char *dev_path = getenv("LIVEUPDATE_DEVICE");
	if (!dev_path || !dev_path[0])
		dev_path = "/dev/liveupdate";

	/* The agent is the single opener: it keeps this fd for its whole life. */
	device = open(dev_path, O_RDWR | O_CLOEXEC);
	if (device < 0)
		die("cannot open %s: %s%s", dev_path, strerror(errno),
		    errno == EBUSY ? " (the device is single-open: another agent holds it)" : "");

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path)
		die("socket path too long: %s", path);
	strcpy(addr.sun_path, path);

	int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (listener < 0)
		die("socket: %s", strerror(errno));
	unlink(path); /* the socket file of an agent that was killed (by the last live update) */
	if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 16) < 0)
		die("cannot listen on %s: %s", path, strerror(errno));

	say("pid %d: opened %s, listening on %s", (int)getpid(), dev_path, path);

	for (;;) {
		int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		/* One VMM at a time; one that never sends its name cannot stall the agent. */
		struct timeval limit = { .tv_sec = 5 };
		setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
		serve_one(conn);
		close(conn);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	fprintf(stderr, "usage: %s serve SOCKET\n", argc > 0 ? argv[0] : "luo-agent");
	return 2;
}
