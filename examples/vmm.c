/*
 * vmm - a pretend VMM whose guest RAM survives a live update.
 *
 *     vmm NAME SOCKET SIZE_MIB
 *
 * A real VMM (QEMU, Cloud Hypervisor, ...) keeps the guest's memory in a
 * memfd. To keep a VM running across a kernel live update, it puts that
 * memfd into a LUO session: the kernel then carries the memory over to the
 * next kernel instead of freeing it, and the VMM started after the update
 * gets the very same bytes back and resumes the guest.
 *
 * This program does the VMM's part of that, without a guest:
 *
 *   1. It connects to the agent (luo-agent serve SOCKET), sends NAME and
 *      receives the fd of the session "vm-NAME" plus one byte: 'N' for a
 *      new session, 'R' for one retrieved after a live update.
 *
 *   2. New session (a cold start): it creates the guest RAM, a memfd of
 *      SIZE_MIB MiB, fills it with a pattern that depends only on NAME, and
 *      preserves it with PRESERVE_FD under token 1. The token is the name of
 *      the file inside the session: the next boot asks for token 1 to get the
 *      RAM back. From now on the kernel holds its own reference to the memfd
 *      and will hand its pages to the next kernel; its size is frozen, but
 *      the VM keeps running and may keep writing to it (whatever it contains
 *      at the reboot is carried over). It prints
 *          vmm NAME: guest RAM preserved (N MiB)
 *      and runs until the live update ends it, like a VM.
 *
 *   3. Retrieved session (after a live update): it asks for token 1 with
 *      RETRIEVE_FD, gets a new memfd with the old contents, checks the size
 *      and every byte of the pattern, and prints
 *          vmm NAME: guest RAM restored and verified (N MiB)
 *      Then it calls FINISH on the session: that tells LUO the hand-over is
 *      complete, so LUO lets go of what it still holds for the session (files
 *      never retrieved would be freed now). The retrieved memfd stays valid
 *      and is now an ordinary memfd of this process. A real VMM would resume
 *      the guest here; this one exits 0.
 *
 * Any failure prints "vmm NAME: error: ..." on stderr and exits 1 (2 for
 * bad usage).
 *
 * Runs with the LiveUpdateFs preload library (liveupdatefs run -- vmm ...),
 * which RETRIEVE_FD needs to receive the restored memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/liveupdate.h>

/* The protocol between agent and VMM (luo-agent.c has the same three bytes). */
#define REPLY_NEW 'N'
#define REPLY_RETRIEVED 'R'
#define REPLY_ERROR 'E'

/* The token under which the guest RAM is preserved in the session. */
#define RAM_TOKEN 1

#define MiB (1024 * 1024)

static const char *vm = "?";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "vmm %s: error: ", vm);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ------------------------------------------------------------------ */
/* The guest RAM pattern: byte `off` depends only on the VM name.      */

/* FNV-1a: the VM name as a 64-bit seed. */
static uint64_t seed_of(const char *name)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3u;
	return h;
}

/* splitmix64: 8 pseudo-random bytes for every 8-byte word of the RAM. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Byte `off` of the pattern: byte off % 8 (little-endian) of word off / 8. */
static uint8_t pattern_byte(uint64_t seed, size_t off)
{
	return (uint8_t)(mix(seed + off / 8) >> (8 * (off % 8)));
}

/* size is a whole number of MiB, so of 8-byte words. */
static void fill(uint8_t *ram, size_t size, uint64_t seed)
{
	for (size_t w = 0; w < size / 8; w++) {
		uint64_t x = mix(seed + w);
		for (unsigned b = 0; b < 8; b++)
			ram[w * 8 + b] = (uint8_t)(x >> (8 * b));
	}
}

/* The offset of the first byte that differs from the pattern, or size. */
static size_t first_difference(const uint8_t *ram, size_t size, uint64_t seed)
{
	for (size_t w = 0; w < size / 8; w++) {
		uint64_t x = mix(seed + w);
		for (unsigned b = 0; b < 8; b++)
			if (ram[w * 8 + b] != (uint8_t)(x >> (8 * b)))
				return w * 8 + b;
	}
	return size;
}

/* ------------------------------------------------------------------ */
/* Talking to the agent                                                */

/* Sends the VM name, returns the session fd and sets *kind. */
static int get_session(const char *socket_path, char *kind)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path)
		die("socket path too long: %s", socket_path);
	strcpy(addr.sun_path, socket_path);

	int conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (conn < 0)
		die("socket: %s", strerror(errno));
	if (connect(conn, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("cannot connect to the agent at %s: %s", socket_path, strerror(errno));
	if (send(conn, vm, strlen(vm), MSG_NOSIGNAL) < 0)
		die("cannot send the VM name to the agent: %s", strerror(errno));

	char buf[256];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf - 1 };
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
			      .msg_controllen = sizeof control.space };
	ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	close(conn);
	if (n <= 0)
		die("no answer from the agent (%s)", n < 0 ? strerror(errno) : "it closed the connection");
	buf[n] = '\0';

	/* SCM_RIGHTS written out here, as in luo-agent.c: each example stands alone. */
	int fd = -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof fd);

	if (buf[0] == REPLY_ERROR)
		die("the agent refused: %s", buf + 1);
	if ((buf[0] != REPLY_NEW && buf[0] != REPLY_RETRIEVED) || fd < 0)
		die("unexpected answer from the agent (kind '%c', %s)", buf[0], fd < 0 ? "no fd" : "with an fd");
	*kind = buf[0];
	return fd;
}

/* ------------------------------------------------------------------ */
/* The two lives of a VMM                                               */

/* Cold start: make the guest RAM, preserve it, run until the live update. */
static void run_new(int session, size_t size)
{
	int ram_fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (ram_fd < 0)
		die("memfd_create: %s", strerror(errno));
	if (ftruncate(ram_fd, (off_t)size) < 0)
		die("cannot size the guest RAM to %zu MiB: %s", size / MiB, strerror(errno));
	uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		die("mmap of the guest RAM: %s", strerror(errno));
	fill(ram, size, seed_of(vm)); /* "the guest runs and writes its memory" */

	/*
	 * Hand the memfd to LUO. The session keeps its own reference to the file,
	 * so it would survive even if this process closed ram_fd; the size is
	 * frozen from now on (ftruncate would fail with EPERM).
	 */
	struct liveupdate_session_preserve_fd p = { .size = sizeof p, .fd = ram_fd, .token = RAM_TOKEN };
	if (ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &p) < 0)
		die("PRESERVE_FD of the guest RAM (token %d): %s", RAM_TOKEN, strerror(errno));
	printf("vmm %s: guest RAM preserved (%zu MiB)\n", vm, size / MiB);
	fflush(stdout);

	/* The VM runs (RAM mapped, session fd open) until the live update ends us. */
	for (;;)
		pause();
}

/* After a live update: get the guest RAM back, check it, finish the session. */
static int run_retrieved(int session, size_t size)
{
	struct liveupdate_session_retrieve_fd r = { .size = sizeof r, .token = RAM_TOKEN };
	if (ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &r) < 0)
		die("RETRIEVE_FD of the guest RAM (token %d): %s%s", RAM_TOKEN, strerror(errno),
		    errno == ENOENT ? " (the session holds no guest RAM)" : "");
	int ram_fd = r.fd;

	struct stat st;
	if (fstat(ram_fd, &st) < 0)
		die("fstat of the restored guest RAM: %s", strerror(errno));
	if ((size_t)st.st_size != size)
		die("the restored guest RAM is %lld bytes, expected %zu (%zu MiB)", (long long)st.st_size, size,
		    size / MiB);

	const uint8_t *ram = mmap(NULL, size, PROT_READ, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		die("mmap of the restored guest RAM: %s", strerror(errno));
	size_t bad = first_difference(ram, size, seed_of(vm));
	if (bad != size)
		die("the restored guest RAM differs at byte %zu: 0x%02x, expected 0x%02x", bad, ram[bad],
		    pattern_byte(seed_of(vm), bad));
	printf("vmm %s: guest RAM restored and verified (%zu MiB)\n", vm, size / MiB);
	fflush(stdout);

	/*
	 * FINISH: the hand-over is complete. LUO drops what it still holds for
	 * this session; ram_fd stays valid as an ordinary memfd (a real VMM would
	 * resume the guest on it now). Closing the last fd of the session would
	 * finish it implicitly, but an explicit FINISH reports errors.
	 */
	struct liveupdate_session_finish f = { .size = sizeof f };
	if (ioctl(session, LIVEUPDATE_SESSION_FINISH, &f) < 0)
		die("FINISH of the session: %s", strerror(errno));
	printf("vmm %s: session finished, the guest would resume now\n", vm);
	fflush(stdout);

	munmap((void *)ram, size);
	close(ram_fd);
	close(session);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s NAME SOCKET SIZE_MIB\n", argc > 0 ? argv[0] : "vmm");
		return 2;
	}
	vm = argv[1];
	char *end;
	errno = 0;
	unsigned long mib = strtoul(argv[3], &end, 10);
	if (vm[0] == '\0' || argv[3][0] == '\0' || *end != '\0' || errno || mib == 0 || mib > 1024 * 1024) {
		fprintf(stderr, "vmm: NAME must not be empty and SIZE_MIB must be 1 to 1048576\n");
		return 2;
	}
	size_t size = (size_t)mib * MiB;

	char kind;
	int session = get_session(argv[2], &kind);
	printf("vmm %s: got %s session from the agent\n", vm,
	       kind == REPLY_NEW ? "a new" : "the previous boot's");
	fflush(stdout);

	if (kind == REPLY_NEW)
		run_new(session, size);
	return run_retrieved(session, size);
}
