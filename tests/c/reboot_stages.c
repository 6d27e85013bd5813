/*
 * reboot_stages - live update across reboots, one stage per run (docs/behaviour.md §3,
 * docs/behaviour.md §4.2, §4.4, §4.5, §5.2, §6, §7, §8).
 *
 *     reboot_stages STAGE
 *
 * Unlike the *_test programs this one cannot run against a single mount: an
 * outside harness runs the stages in order and performs a live update
 * (`liveupdatefs reboot`) between them. The reboot freezes and persists
 * every outgoing session whose fd is still open, SIGKILLs every process
 * holding an fd of the emulator and restarts the daemon, which then offers
 * those sessions as incoming ones.
 *
 * Stage sequences (-> = a reboot run by the harness):
 *
 *   stage1 -> stage2 -> stage3
 *       stage1 fills eight sessions (memfds of every shape, names that are
 *       only names, a session closed before the reboot); stage2 retrieves,
 *       checks, finishes or implicitly finishes them, leaves "unretrieved"
 *       alone and creates "gen2"; stage3 checks that only "gen2" survived the
 *       second reboot.
 *   corrupt1 -> (harness flips a byte of the stored content of session
 *       "corrupt", token 1) -> corrupt2
 *       corrupt2 expects EIO, sticky, for token 1 and an intact token 2.
 *   crash-old -> crash-new -> (a reboot the harness interrupts) -> crash-check
 *       crash-check accepts exactly one of three states: OLD (old-a, old-b
 *       complete, new-* absent), NEW (new-a, new-b, new-c complete, old-*
 *       absent) or NONE (every session absent: what a crash during an
 *       in-place reboot leaves, like a crash during a kexec, and a crash of
 *       a boot that already opened the device, which consumed the handover;
 *       the harness decides where NONE is acceptable). crash-check retrieves,
 *       checks and FINISHes what it finds, so it also consumes a handover.
 *
 * Contract with the harness:
 *   - Environment: LD_PRELOAD of libliveupdate-preload.so, LIVEUPDATE_DEVICE
 *     naming the device node (default /dev/liveupdate).
 *   - Output: TAP lines "ok N - [§x.y] ..." / "not ok N - ...", then "1..N"
 *     and "N passed, M failed"; exit status 0 (all passed), 1 (a failure,
 *     including "the device cannot be opened"), 2 (usage: missing or unknown
 *     stage, message on stderr).
 *   - Stages whose sessions must survive the next reboot (stage1, stage2,
 *     corrupt1, crash-old, crash-new) close the device fd and every memfd,
 *     then fork a HOLDER child that keeps only the session fds open: it
 *     calls setsid(), points stdin/stdout/stderr at /dev/null (so the
 *     harness sees EOF on its pipes once the parent exits), closes every
 *     other inherited fd and sleeps in pause() until the reboot kills it.
 *     The parent prints the line
 *         # holder pid N
 *     before the summary, closes its copies of the session fds and exits.
 *   - crash-check prints "# state old", "# state new" or "# state none"
 *     before the summary.
 *
 * File contents are deterministic: pattern_byte(token, offset) for data
 * written before PRESERVE_FD, after_byte(token, offset) for data written
 * after it. Contents are checked with pread in 64 KiB chunks.
 */
#include <limits.h>
#include <signal.h>
#include <sys/types.h>

#include "holder.h"
#include "luo.h"
#include "tap.h"

#define KiB ((off_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/* ------------------------------------------------------------------ */
/* Contents                                                            */

enum kind { DATA, AFTER, ZERO };

static uint8_t pattern_byte(unsigned token, uint64_t off)
{
	return (uint8_t)(off * 131 + token * 7 + (off >> 12));
}

/* Data written after PRESERVE_FD (differs from pattern_byte almost everywhere). */
static uint8_t after_byte(unsigned token, uint64_t off)
{
	return (uint8_t)(off * 37 + token * 11 + 0xA5 + (off >> 10));
}

static uint8_t expected_byte(enum kind k, unsigned token, uint64_t off)
{
	return k == DATA ? pattern_byte(token, off) : k == AFTER ? after_byte(token, off) : 0;
}

static const char *kind_text(enum kind k)
{
	return k == DATA ? "have the pattern"
	       : k == AFTER ? "have the data written after PRESERVE_FD"
			    : "read as zeros (hole)";
}

static unsigned char iobuf[64 * 1024];

static off_t chunk(off_t len)
{
	return len < (off_t)sizeof iobuf ? len : (off_t)sizeof iobuf;
}

/* Writes [off, off+len) with the bytes of kind k; 0 or -errno. */
static int fill_range(int fd, unsigned token, off_t off, off_t len, enum kind k)
{
	while (len > 0) {
		off_t n = chunk(len);
		for (off_t i = 0; i < n; i++)
			iobuf[i] = expected_byte(k, token, (uint64_t)(off + i));
		ssize_t w = pwrite(fd, iobuf, (size_t)n, off);
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += w;
		len -= w;
	}
	return 0;
}

/* 1 if [off, off+len) holds the bytes of kind k; else 0 with the reason in why. */
static int range_ok(int fd, unsigned token, off_t off, off_t len, enum kind k, char *why, size_t whylen)
{
	while (len > 0) {
		ssize_t r = pread(fd, iobuf, (size_t)chunk(len), off);
		if (r < 0) {
			snprintf(why, whylen, "pread at %lld: errno %d (%s)", (long long)off, errno,
				 tap_errname(errno));
			return 0;
		}
		if (r == 0) {
			snprintf(why, whylen, "end of file at %lld", (long long)off);
			return 0;
		}
		for (ssize_t i = 0; i < r; i++) {
			uint8_t want = expected_byte(k, token, (uint64_t)(off + i));
			if (iobuf[i] != want) {
				snprintf(why, whylen, "byte at offset %lld is 0x%02x, expected 0x%02x",
					 (long long)(off + i), iobuf[i], want);
				return 0;
			}
		}
		off += r;
		len -= r;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* What a preserved file looks like                                    */

#define MAX_RANGES 8
#define NO_SEALS_CHECK (-1)

struct range {
	off_t off, len;
	enum kind kind;
};

/*
 * One preserved memfd. Creation writes the DATA and AFTER ranges with the
 * pattern (AFTER ranges are overwritten after PRESERVE_FD by the stage);
 * ZERO ranges are holes that are only checked. A range with len 0 ends
 * the list.
 */
struct expect {
	unsigned token;
	off_t size;
	unsigned mfd_flags;
	int seals;              /* F_GET_SEALS after retrieve, or NO_SEALS_CHECK */
	const char *seals_text; /* how the seals read in a case description */
	off_t pos;              /* file position after retrieve */
	const char *pos_note;   /* appended to the position case, or NULL */
	struct range r[MAX_RANGES];
};

#define SEALING MFD_ALLOW_SEALING

/* Session "vm-ram" of stage1/stage2: every shape of memfd. */
static const struct expect vm_ram[] = {
	{ .token = 1, .size = 0, .mfd_flags = SEALING, .seals = 0, .seals_text = "none" },
	{ .token = 2, .size = 4 * KiB, .mfd_flags = SEALING, .seals = 0, .seals_text = "none",
	  .r = { { 0, 4 * KiB, DATA } } },
	{ .token = 3, .size = 32 * MiB, .mfd_flags = SEALING, .seals = 0, .seals_text = "none",
	  .r = { { 0, 32 * MiB, DATA } } },
	{ .token = 4, .size = 1 * GiB, .mfd_flags = SEALING, .seals = 0, .seals_text = "none",
	  .r = { { 0, 4 * KiB, DATA },
		 { 512 * MiB, 8 * KiB, DATA },
		 { GiB - 4 * KiB, 4 * KiB, DATA },
		 { 4 * KiB, 4 * KiB, ZERO },
		 { 256 * MiB, 4 * KiB, ZERO },
		 { 512 * MiB - 4 * KiB, 4 * KiB, ZERO },
		 { 512 * MiB + 8 * KiB, 4 * KiB, ZERO },
		 { GiB - 8 * KiB, 4 * KiB, ZERO } } },
	{ .token = 5, .size = 64 * KiB, .mfd_flags = SEALING, .seals = F_SEAL_SHRINK | F_SEAL_GROW,
	  .seals_text = "exactly SHRINK|GROW (the F_SEAL_WRITE added after PRESERVE_FD is not carried)",
	  .r = { { 0, 64 * KiB, DATA } } },
	{ .token = 6, .size = 8 * KiB, .mfd_flags = 0, .seals = F_SEAL_SEAL,
	  .seals_text = "F_SEAL_SEAL (made without MFD_ALLOW_SEALING)", .r = { { 0, 8 * KiB, DATA } } },
	{ .token = 7, .size = 16 * KiB, .mfd_flags = SEALING, .seals = 0, .seals_text = "none", .pos = 777,
	  .pos_note = " (12345 at PRESERVE_FD, 777 at the reboot)", .r = { { 0, 16 * KiB, DATA } } },
	{ .token = 8, .size = 8 * KiB, .mfd_flags = SEALING, .seals = 0, .seals_text = "none",
	  .r = { { 0, 4 * KiB, DATA }, { 4 * KiB, 4 * KiB, AFTER } } },
};
#define N_VM_RAM ((int)(sizeof vm_ram / sizeof vm_ram[0]))

/* A memfd of `size` bytes, all pattern, no seals checked. */
static struct expect plain(unsigned token, off_t size)
{
	struct expect e = { .token = token, .size = size, .seals = NO_SEALS_CHECK };
	e.r[0] = (struct range){ 0, size, DATA };
	return e;
}

/* ------------------------------------------------------------------ */
/* Device and session helpers                                          */

/* CREATE_SESSION as a case; a failure ends the stage (its contract breaks). */
static int create_or_die(int dev, const char *name)
{
	int s = lu_create(dev, name);
	check_rc(s, 0, "4.1", "CREATE_SESSION \"%s\"", name);
	if (s < 0)
		tap_fatal("4.1", "the stage cannot go on", "session \"%s\" is needed", name);
	return s;
}

/* A memfd shaped like e (contents written, not yet preserved); dies on failure. */
static int new_memfd(const struct expect *e)
{
	char name[32];
	snprintf(name, sizeof name, "reboot-token-%u", e->token);
	int fd = lu_memfd(name, e->mfd_flags | MFD_CLOEXEC, e->size);
	int rc = fd;
	for (int i = 0; rc >= 0 && i < MAX_RANGES && e->r[i].len; i++)
		if (e->r[i].kind != ZERO)
			rc = fill_range(fd, e->token, e->r[i].off, e->r[i].len, DATA);
	if (rc < 0) {
		char why[100];
		snprintf(why, sizeof why, "errno %d (%s)", -rc, tap_errname(-rc));
		tap_fatal("8.1", why, "make the memfd for token %u", e->token);
	}
	return fd;
}

static int preserve_checked(int session, const char *sess, int fd, const struct expect *e)
{
	int rc = lu_preserve(session, fd, e->token);
	check_rc(rc, 0, "4.3", "PRESERVE_FD %s token %u (%lld bytes)", sess, e->token, (long long)e->size);
	return rc;
}

/* Makes, preserves and closes a memfd shaped like e. */
static void add_file(int session, const char *sess, const struct expect *e)
{
	int fd = new_memfd(e);
	preserve_checked(session, sess, fd, e);
	close(fd);
}

static void add_plain(int session, const char *sess, unsigned token, off_t size)
{
	struct expect e = plain(token, size);
	add_file(session, sess, &e);
}

/*
 * Size and contents of a retrieved (or still-open) file: one case for the
 * size, one per range.
 */
static void check_data(int fd, const char *sess, const struct expect *e)
{
	struct stat st;
	int got = fstat(fd, &st);
	check(got == 0 && st.st_size == e->size, "8.3", "%s token %u: size is %lld", sess, e->token,
	      (long long)e->size);
	for (int i = 0; i < MAX_RANGES && e->r[i].len; i++) {
		const struct range *r = &e->r[i];
		char why[160] = "";
		int ok = range_ok(fd, e->token, r->off, r->len, r->kind, why, sizeof why);
		check_why(ok, why, r->kind == AFTER ? "8.2" : "8.3", "%s token %u: bytes [%lld, %lld) %s", sess,
			  e->token, (long long)r->off, (long long)(r->off + r->len), kind_text(r->kind));
	}
}

/* O_LARGEFILE as the kernel reports it in F_GETFL (glibc defines it as 0 on 64-bit). */
static int kernel_o_largefile(void)
{
	int fd = memfd_create("reboot-flags", MFD_CLOEXEC);
	int fl = fd < 0 ? 0 : fcntl(fd, F_GETFL);
	close_if(fd);
	return fl < 0 ? 0 : fl & ~O_ACCMODE;
}

/* What the fd of a retrieved memfd looks like (docs/behaviour.md §8.3, §8.4). */
static void check_props(int fd, const char *sess, const struct expect *e, int largefile)
{
	char path[64], link[PATH_MAX] = "";
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n >= 0)
		link[n] = '\0';
	char why[PATH_MAX + 32];
	snprintf(why, sizeof why, "link is \"%s\"", link);
	/* the emulator hands out a real memfd; a kernel's has an empty name: "/ (deleted)" */
	check_why(n > 0 && (strncmp(link, "/memfd:", 7) == 0 || strcmp(link, "/ (deleted)") == 0), why, "8.4",
		  "%s token %u: /proc/self/fd link names a memfd (\"/memfd:...\")", sess, e->token);

	int fl = fcntl(fd, F_GETFL);
	snprintf(why, sizeof why, "F_GETFL 0x%x, O_LARGEFILE is 0x%x", fl, largefile);
	check_why(fl >= 0 && (fl & (O_ACCMODE | largefile)) == (O_RDWR | largefile), why, "8.4",
		  "%s token %u: status flags O_RDWR|O_LARGEFILE", sess, e->token);

	check(fcntl(fd, F_GETFD) == FD_CLOEXEC, "4.4", "%s token %u: the fd has FD_CLOEXEC", sess, e->token);

	if (e->seals != NO_SEALS_CHECK) {
		int seals = fcntl(fd, F_GET_SEALS);
		snprintf(why, sizeof why, "F_GET_SEALS 0x%x, expected 0x%x", seals, e->seals);
		check_why(seals == e->seals, why, "8.3", "%s token %u: seals %s", sess, e->token, e->seals_text);
	}

	off_t pos = lseek(fd, 0, SEEK_CUR);
	snprintf(why, sizeof why, "position %lld", (long long)pos);
	check_why(pos == e->pos, why, "8.3", "%s token %u: file position %lld%s", sess, e->token,
		  (long long)e->pos, e->pos_note ? e->pos_note : "");
}

/* RETRIEVE_FD as a case plus the size and contents; returns the fd or -errno. */
static int retrieve_and_check(int session, const char *sess, const struct expect *e)
{
	int fd = lu_retrieve_fd(session, e->token);
	check_rc(fd, 0, "4.4", "RETRIEVE_FD %s token %u", sess, e->token);
	if (fd >= 0)
		check_data(fd, sess, e);
	return fd;
}

/*
 * Forks the holder that keeps the sessions across the reboot (see the
 * header comment). Closes the device fd first; the memfds must be closed
 * already. The holder also closes whatever else it inherited (a pipe of
 * the harness, the preload library's control fd) so that only the session
 * fds stay open. Closes the parent's copies of the session fds.
 */
static void fork_holder(int *dev, const int *sessions, int n)
{
	close(*dev);
	*dev = -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = start_holder(sessions, n);
	check(pid > 0, "5.2", "holder %d keeps the %d session fds open until the reboot", (int)pid, n);
	tap_note("holder pid %d", (int)pid);
	for (int i = 0; i < n; i++)
		close(sessions[i]);
}

/* ------------------------------------------------------------------ */
/* stage1: first boot                                                  */

#define NAME63 "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
_Static_assert(sizeof NAME63 == 64, "NAME63 has 63 characters");

static int stage1_vm_ram(int dev)
{
	int s = create_or_die(dev, "vm-ram");
	int fds[N_VM_RAM];

	for (int i = 0; i < N_VM_RAM; i++) {
		const struct expect *e = &vm_ram[i];
		int fd = fds[i] = new_memfd(e);

		/* before PRESERVE_FD */
		if (e->token == 5)
			check_rc(neg_errno(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)), 0, "8.2",
				 "vm-ram token 5: F_ADD_SEALS SHRINK|GROW before PRESERVE_FD");
		if (e->token == 6)
			check(fcntl(fd, F_GET_SEALS) == F_SEAL_SEAL, "8.4",
			      "vm-ram token 6: a memfd made without MFD_ALLOW_SEALING reads F_SEAL_SEAL");
		if (e->token == 7)
			check(lseek(fd, 12345, SEEK_SET) == 12345, "8.2", "vm-ram token 7: lseek to 12345 before PRESERVE_FD");

		preserve_checked(s, "vm-ram", fd, e);

		/* after PRESERVE_FD: carried or not, as docs/behaviour.md §8.2 says */
		if (e->token == 5) {
			check_rc(neg_errno(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)), 0, "8.2",
				 "vm-ram token 5: F_ADD_SEALS F_SEAL_WRITE after PRESERVE_FD works (not carried)");
			check(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), "8.2",
			      "vm-ram token 5: seals read SHRINK|GROW|WRITE before the reboot");
		}
		if (e->token == 7)
			check(lseek(fd, 777, SEEK_SET) == 777, "8.2", "vm-ram token 7: lseek to 777 after PRESERVE_FD");
		if (e->token == 8)
			check_rc(fill_range(fd, 8, 4 * KiB, 4 * KiB, AFTER), 0, "8.2",
				 "vm-ram token 8: pwrite [4096, 8192) after PRESERVE_FD");
	}

	check_rc(neg_errno(ftruncate(fds[1], 8 * KiB)), EPERM, "8.2", "vm-ram token 2: ftruncate of a preserved memfd -> EPERM");

	/* LUO holds its own reference: the session fd alone keeps everything */
	for (int i = 0; i < N_VM_RAM; i++)
		close(fds[i]);
	return s;
}

static int stage1(void)
{
	int dev = lu_open_device_or_die();
	int keep[8], n = 0;

	keep[n++] = stage1_vm_ram(dev);

	int s = keep[n++] = create_or_die(dev, "state");
	add_plain(s, "state", 10, 4 * KiB);
	add_plain(s, "state", 11, 4 * KiB);
	add_plain(s, "state", 12, 4 * KiB);

	s = keep[n++] = create_or_die(dev, "implicit-finish");
	add_plain(s, "implicit-finish", 20, 4 * KiB);

	s = keep[n++] = create_or_die(dev, "unretrieved");
	add_plain(s, "unretrieved", 30, 4 * KiB);

	keep[n++] = create_or_die(dev, "empty-session");

	s = keep[n++] = create_or_die(dev, NAME63);
	check(lu_name_is(s, NAME63), "6", "GET_NAME of the 63-character session returns all 63 characters");
	add_plain(s, "63-char session", 40, 4 * KiB);

	s = keep[n++] = create_or_die(dev, "../etc/passwd");
	add_plain(s, "../etc/passwd", 50, 4 * KiB);

	/* preserved, then discarded by closing the session fd (docs/behaviour.md §5.2) */
	s = create_or_die(dev, "closed-before");
	add_plain(s, "closed-before", 60, 4 * KiB);
	close(s);
	s = lu_create(dev, "closed-before");
	check_rc(s, 0, "5.2", "after closing \"closed-before\" its name is free at once (CREATE again -> OK)");
	close_if(s);

	fork_holder(&dev, keep, n);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* stage2: after the first reboot                                      */

static void stage2_vm_ram(int dev)
{
	check_rc(lu_retrieve(dev, "closed-before"), ENOENT, "5.2",
		 "RETRIEVE_SESSION \"closed-before\" (fd closed before the reboot) -> ENOENT");
	check_rc(lu_retrieve(dev, "no-such-session"), ENOENT, "4.2", "RETRIEVE_SESSION \"no-such-session\" -> ENOENT");

	int s = lu_retrieve(dev, "vm-ram");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"vm-ram\"");
	if (s < 0)
		return;
	check(fcntl(s, F_GETFD) == FD_CLOEXEC, "4.2", "the incoming session fd has FD_CLOEXEC");
	int again = lu_retrieve(dev, "vm-ram");
	check_rc(again, EINVAL, "4.2", "RETRIEVE_SESSION \"vm-ram\" a second time -> EINVAL");
	close_if(again);
	check(lu_name_is(s, "vm-ram"), "4.6", "GET_NAME on the incoming session returns \"vm-ram\"");

	int largefile = kernel_o_largefile();
	int fds[N_VM_RAM];
	for (int i = 0; i < N_VM_RAM; i++) {
		const struct expect *e = &vm_ram[i];
		int fd = fds[i] = lu_retrieve_fd(s, e->token);
		check_rc(fd, 0, "4.4", "RETRIEVE_FD vm-ram token %u", e->token);
		if (fd < 0)
			continue;
		check_props(fd, "vm-ram", e, largefile);
		check_data(fd, "vm-ram", e);
	}

	struct stat st;
	int t4 = fds[3];
	if (t4 >= 0) {
		int got = fstat(t4, &st);
		char why[80];
		snprintf(why, sizeof why, "%lld bytes allocated", got == 0 ? (long long)st.st_blocks * 512 : -1LL);
		check_why(got == 0 && (long long)st.st_blocks * 512 < 64 * MiB, why, "design",
			  "vm-ram token 4: the 1 GiB sparse file stays sparse (< 64 MiB allocated; a kernel would allocate it, 8.2)");
	}

	int t2 = fds[1], t3 = fds[2];
	if (t2 >= 0) {
		int t2b = lu_retrieve_fd(s, 2);
		check_rc(t2b, 0, "4.4", "RETRIEVE_FD vm-ram token 2 a second time");
		check(t2b >= 0 && lseek(t2, 100, SEEK_SET) == 100 && lseek(t2b, 0, SEEK_CUR) == 100, "4.4",
		      "the second fd shares the open file description (lseek on the first to 100, the second reports 100)");
		close_if(t2b);
		check_rc(neg_errno(ftruncate(t2, 8 * KiB)), 0, "8.4", "vm-ram token 2: a retrieved memfd is not frozen (ftruncate to 8192 works)");
	}
	check_rc(lu_retrieve_fd(s, 99), ENOENT, "4.4", "RETRIEVE_FD of unknown token 99 -> ENOENT");

	int m = lu_memfd("reboot-probe", MFD_CLOEXEC, 4 * KiB);
	check_rc(m < 0 ? m : lu_preserve(s, m, 1000), EINVAL, "4.3", "PRESERVE_FD on the incoming session \"vm-ram\" -> EINVAL");
	close_if(m);

	int probe = create_or_die(dev, "gen2-probe");
	check_rc(t3 < 0 ? t3 : lu_preserve(probe, t3, 3), EBUSY, "6",
		 "PRESERVE_FD of the retrieved token 3 before its incoming session is finished -> EBUSY");
	close(probe);

	int out = lu_create(dev, "vm-ram");
	check_rc(out, 0, "6", "CREATE_SESSION of an outgoing \"vm-ram\" beside the incoming one -> OK");
	int probe2 = create_or_die(dev, "gen2-probe2");
	check_rc(lu_retrieve(dev, "gen2-probe2"), ENOENT, "4.2", "RETRIEVE_SESSION of an outgoing name of this boot -> ENOENT");
	close_if(out);
	close(probe2);

	check_rc(lu_finish(s), 0, "4.5", "FINISH \"vm-ram\"");
	check_rc(lu_finish(s), 0, "4.5", "FINISH \"vm-ram\" again -> 0 (no-op)");
	check_rc(lu_retrieve_fd(s, 2), ENOENT, "4.5", "RETRIEVE_FD token 2 after FINISH -> ENOENT");
	if (t2 >= 0) {
		char why[160] = "";
		int ok = range_ok(t2, 2, 0, 4 * KiB, DATA, why, sizeof why);
		check_why(ok, why, "4.5", "vm-ram token 2: the retrieved fd is still readable after FINISH (first 4096 bytes)");
	}
	int after = create_or_die(dev, "gen2-after-finish");
	check_rc(t3 < 0 ? t3 : lu_preserve(after, t3, 3), 0, "4.5",
		 "after FINISH the retrieved token 3 can be preserved in a new outgoing session");
	close(after);

	check_rc(lu_retrieve(dev, "vm-ram"), EINVAL, "4.5", "RETRIEVE_SESSION \"vm-ram\" after FINISH while its fd is open -> EINVAL");
	close(s);
	check_rc(lu_retrieve(dev, "vm-ram"), ENOENT, "4.5", "RETRIEVE_SESSION \"vm-ram\" after FINISH and close -> ENOENT");

	for (int i = 0; i < N_VM_RAM; i++)
		close_if(fds[i]);
}

static void stage2_state(int dev)
{
	int s = lu_retrieve(dev, "state");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"state\"");
	if (s < 0)
		return;
	struct expect e10 = plain(10, 4 * KiB);
	int fd = retrieve_and_check(s, "state", &e10);
	check_rc(lu_finish(s), 0, "4.5", "FINISH \"state\" with tokens 11 and 12 never retrieved -> 0");
	check_rc(lu_retrieve_fd(s, 11), ENOENT, "4.5", "RETRIEVE_FD token 11 after FINISH -> ENOENT (its data is discarded)");
	check_rc(lu_retrieve_fd(s, 12), ENOENT, "4.5", "RETRIEVE_FD token 12 after FINISH -> ENOENT");
	close(s);
	close_if(fd);
}

static void stage2_implicit_finish(int dev)
{
	int s = lu_retrieve(dev, "implicit-finish");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"implicit-finish\"");
	if (s < 0)
		return;
	struct expect e = plain(20, 4 * KiB);
	int fd = retrieve_and_check(s, "implicit-finish", &e);
	close(s);
	check_rc(lu_retrieve(dev, "implicit-finish"), ENOENT, "5.2",
		 "closing a retrieved session without FINISH finishes it: RETRIEVE_SESSION -> ENOENT");
	if (fd >= 0) {
		char why[160] = "";
		int ok = range_ok(fd, 20, 0, 4 * KiB, DATA, why, sizeof why);
		check_why(ok, why, "5.2", "implicit-finish token 20: the retrieved fd stays readable after the close");
	}
	close_if(fd);
}

static void stage2_empty(int dev)
{
	int s = lu_retrieve(dev, "empty-session");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"empty-session\" (no files)");
	if (s < 0)
		return;
	check_rc(lu_retrieve_fd(s, 1), ENOENT, "4.4", "RETRIEVE_FD token 1 of the empty session -> ENOENT");
	check_rc(lu_finish(s), 0, "4.5", "FINISH \"empty-session\"");
	close(s);
}

/* A session whose name is the point: retrieve, name, one file, finish. */
static void stage2_named(int dev, const char *name, const char *label, unsigned token)
{
	int s = lu_retrieve(dev, name);
	check_rc(s, 0, "6", "RETRIEVE_SESSION %s", label);
	if (s < 0)
		return;
	check(lu_name_is(s, name), "4.6", "GET_NAME of %s returns the full name", label);
	struct expect e = plain(token, 4 * KiB);
	int fd = retrieve_and_check(s, label, &e);
	check_rc(lu_finish(s), 0, "4.5", "FINISH %s", label);
	close(s);
	close_if(fd);
}

static int stage2(void)
{
	int dev = lu_open_device_or_die();

	stage2_vm_ram(dev);
	stage2_state(dev);
	stage2_implicit_finish(dev);
	stage2_empty(dev);
	stage2_named(dev, NAME63, "the 63-character session", 40);
	stage2_named(dev, "../etc/passwd", "\"../etc/passwd\" (a name, not a path)", 50);
	/* "unretrieved" is left alone: it must not survive the next reboot */

	int gen2 = create_or_die(dev, "gen2");
	add_plain(gen2, "gen2", 70, 4 * KiB);
	add_plain(gen2, "gen2", 71, 3 * MiB);
	fork_holder(&dev, &gen2, 1);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* stage3: after the second reboot                                     */

static int stage3(void)
{
	int dev = lu_open_device_or_die();

	check_rc(lu_retrieve(dev, "unretrieved"), ENOENT, "7",
		 "\"unretrieved\" (incoming, never retrieved) is not carried into the next reboot -> ENOENT");
	check_rc(lu_retrieve(dev, "vm-ram"), ENOENT, "6", "\"vm-ram\" (finished and closed last boot) -> ENOENT");
	check_rc(lu_retrieve(dev, "state"), ENOENT, "6", "\"state\" (finished and closed last boot) -> ENOENT");

	int s = lu_retrieve(dev, "gen2");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"gen2\" (created after the first reboot)");
	if (s >= 0) {
		struct expect e70 = plain(70, 4 * KiB), e71 = plain(71, 3 * MiB);
		int a = retrieve_and_check(s, "gen2", &e70);
		int b = retrieve_and_check(s, "gen2", &e71);
		check_rc(lu_finish(s), 0, "4.5", "FINISH \"gen2\"");
		close(s);
		check_rc(lu_retrieve(dev, "gen2"), ENOENT, "4.5", "RETRIEVE_SESSION \"gen2\" after FINISH and close -> ENOENT");
		close_if(a);
		close_if(b);
	}
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* corrupt1 / corrupt2: a stored page that cannot be restored          */

static int corrupt1(void)
{
	int dev = lu_open_device_or_die();
	int s = create_or_die(dev, "corrupt");
	add_plain(s, "corrupt", 1, 4 * KiB); /* first: the harness corrupts this one */
	add_plain(s, "corrupt", 2, 4 * KiB);
	fork_holder(&dev, &s, 1);
	return tap_done();
}

static int corrupt2(void)
{
	int dev = lu_open_device_or_die();
	int s = lu_retrieve(dev, "corrupt");
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"corrupt\"");
	if (s >= 0) {
		check_rc(lu_retrieve_fd(s, 1), EIO, "8.4", "RETRIEVE_FD of the corrupted token 1 -> EIO");
		check_rc(lu_retrieve_fd(s, 1), EIO, "4.4", "RETRIEVE_FD token 1 again -> the same EIO (failures are permanent)");
		struct expect e2 = plain(2, 4 * KiB);
		int fd = retrieve_and_check(s, "corrupt", &e2);
		check_rc(lu_finish(s), 0, "4.5", "FINISH \"corrupt\"");
		close(s);
		close_if(fd);
	}
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* crash-old / crash-new / crash-check: a reboot interrupted halfway   */

struct crash_session {
	const char *name;
	int nfiles;
	struct expect files[3];
};

static const struct crash_session crash_old[] = {
	{ "old-a", 2, { { .token = 1, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } },
			{ .token = 2, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } } } },
	{ "old-b", 1, { { .token = 3, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } } } },
};

static const struct crash_session crash_new[] = {
	{ "new-a", 3, { { .token = 11, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } },
			{ .token = 12, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } },
			{ .token = 13, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } } } },
	{ "new-b", 2, { { .token = 14, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } },
			{ .token = 15, .size = 64 * KiB, .r = { { 0, 64 * KiB, DATA } } } } },
	{ "new-c", 1, { { .token = 16, .size = 1 * MiB,
			  .r = { { 512 * KiB, 4 * KiB, DATA },
				 { 0, 4 * KiB, ZERO },
				 { 512 * KiB - 4 * KiB, 4 * KiB, ZERO },
				 { 512 * KiB + 4 * KiB, 4 * KiB, ZERO },
				 { MiB - 4 * KiB, 4 * KiB, ZERO } } } } },
};

#define N_OLD ((int)(sizeof crash_old / sizeof crash_old[0]))
#define N_NEW ((int)(sizeof crash_new / sizeof crash_new[0]))

/* How the crash and readonly stages open the device: readonly-* use O_RDONLY. */
static int device_flags = O_RDWR;

static int crash_create(const struct crash_session *set, int n)
{
	int dev = lu_open_device_flags_or_die(device_flags);
	int keep[N_NEW > N_OLD ? N_NEW : N_OLD];
	for (int i = 0; i < n; i++) {
		keep[i] = create_or_die(dev, set[i].name);
		if (device_flags == O_RDONLY)
			check((fcntl(keep[i], F_GETFL) & O_ACCMODE) == O_RDONLY, "design",
			      "session \"%s\" of a read-only device fd is read-only (the library opens its node so)",
			      set[i].name);
		for (int f = 0; f < set[i].nfiles; f++)
			add_file(keep[i], set[i].name, &set[i].files[f]);
	}
	fork_holder(&dev, keep, n);
	return tap_done();
}

static int crash_old_stage(void)
{
	return crash_create(crash_old, N_OLD);
}

static int crash_new_stage(void)
{
	return crash_create(crash_new, N_NEW);
}

/* Checks one session of the expected state; s is its fd (or -errno) from RETRIEVE_SESSION. */
static void crash_check_session(int s, const struct crash_session *cs, const char *state)
{
	check_rc(s, 0, "7", "state %s: RETRIEVE_SESSION \"%s\"", state, cs->name);
	if (s < 0)
		return;
	int fds[3];
	for (int f = 0; f < cs->nfiles; f++)
		fds[f] = retrieve_and_check(s, cs->name, &cs->files[f]);
	check_rc(lu_finish(s), 0, "4.5", "FINISH \"%s\"", cs->name);
	close(s);
	for (int f = 0; f < cs->nfiles; f++)
		close_if(fds[f]);
}

static int crash_check(void)
{
	int dev = lu_open_device_flags_or_die(device_flags);

	/* the probes decide which state is expected; they are also the first cases */
	int probe_old = lu_retrieve(dev, "old-a");
	int probe_new = probe_old >= 0 ? -ENOENT : lu_retrieve(dev, "new-a");
	if (probe_old < 0 && probe_new < 0) {
		for (int i = 0; i < N_OLD; i++) {
			int rc = i == 0 ? probe_old : lu_retrieve(dev, crash_old[i].name);
			check_rc(rc, ENOENT, "7", "state none: \"%s\" -> ENOENT", crash_old[i].name);
			close_if(rc);
		}
		for (int i = 0; i < N_NEW; i++) {
			int rc = i == 0 ? probe_new : lu_retrieve(dev, crash_new[i].name);
			check_rc(rc, ENOENT, "7", "state none: \"%s\" -> ENOENT", crash_new[i].name);
			close_if(rc);
		}
		close(dev);
		tap_note("state none");
		return tap_done();
	}
	int old = probe_old >= 0;
	const char *state = old ? "old" : "new";
	const struct crash_session *present = old ? crash_old : crash_new;
	const struct crash_session *absent = old ? crash_new : crash_old;
	int n_present = old ? N_OLD : N_NEW, n_absent = old ? N_NEW : N_OLD;

	for (int i = 0; i < n_present; i++)
		crash_check_session(i == 0 ? (old ? probe_old : probe_new) : lu_retrieve(dev, present[i].name), &present[i], state);
	for (int i = 0; i < n_absent; i++) {
		int rc = i == 0 && !old ? probe_old : lu_retrieve(dev, absent[i].name);
		check_rc(rc, ENOENT, "7", "state %s: \"%s\" of the other state -> ENOENT", state, absent[i].name);
		close_if(rc);
	}
	close(dev);
	tap_note("state %s", state);
	return tap_done();
}

/*
 * readonly-old / readonly-check: crash-old and crash-check through a device fd
 * opened O_RDONLY, as a group with --device-mode 0640 can.
 */
static int readonly_old_stage(void)
{
	device_flags = O_RDONLY;
	return crash_create(crash_old, N_OLD);
}

static int readonly_check(void)
{
	device_flags = O_RDONLY;
	return crash_check();
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(void);
} stages[] = {
	{ "stage1", stage1 },
	{ "stage2", stage2 },
	{ "stage3", stage3 },
	{ "corrupt1", corrupt1 },
	{ "corrupt2", corrupt2 },
	{ "crash-old", crash_old_stage },
	{ "crash-new", crash_new_stage },
	{ "crash-check", crash_check },
	{ "readonly-old", readonly_old_stage },
	{ "readonly-check", readonly_check },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc == 2 && i < sizeof stages / sizeof stages[0]; i++)
		if (strcmp(argv[1], stages[i].name) == 0)
			return stages[i].run();

	fprintf(stderr, "usage: %s STAGE\nstages:", argc > 0 ? argv[0] : "reboot_stages");
	for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
		fprintf(stderr, " %s", stages[i].name);
	fprintf(stderr, "\n");
	return 2;
}
