/*
 * snapshot_stages - a durable freeze is one instant (docs/behaviour.md §7, §8.2,
 * docs/behaviour.md §8.3), one stage per run.
 *
 *     snapshot_stages start REPORT [WRITER_MIB]
 *     snapshot_stages check
 *
 * The kernel hands the preserved pages themselves to the next kernel, so
 * what the next boot reads is the memory of one instant, and the reboot
 * never touches a process's file position (docs/behaviour.md §8.2: freeze only reads it).
 * The emulator's durable freeze copies the memfds into its store; this
 * program checks that the copy is a snapshot of one instant too while
 * processes keep writing, and that no file position moves.
 *
 * `start` opens the device, creates session "snap" and preserves:
 *   token 1  WRITER_MIB (default 128) MiB, every page stamped with pass 1;
 *   token 2  64 MiB, every other page data, the rest holes (many data runs:
 *            the freeze's SEEK_DATA/SEEK_HOLE scan takes a while), file
 *            position 12345;
 *   token 3  64 MiB, every page stamped with pass 1.
 * Then it forks three processes, each in its own session (setsid), stdio
 * on /dev/null, every other inherited fd closed:
 *   WRITER   holds the session fd and token 1's memfd and stamps pass 2, 3,
 *            ... into the first 8 bytes of every page in order with pwrite,
 *            forever: an emulator fd holder (a reboot ends it).
 *   MAPPER   holds no fd at all, only a MAP_SHARED mapping of token 3, and
 *            stamps passes into every page in order through the mapping,
 *            forever: not a holder (a reboot must leave it running).
 *   WATCHER  holds only token 2's memfd and spins on lseek(fd, 0, SEEK_CUR),
 *            counting every answer other than 12345. On SIGTERM it writes
 *            "spins S moves M last P" to REPORT and exits 0.
 * Once both writers have done a few passes and the watcher spins, `start`
 * prints
 *     # writer pid N
 *     # mapper pid N
 *     # watcher pid N fd F
 * before the summary and exits; the three keep running.
 *
 * `check` (after the reboot) retrieves "snap" and its three files and
 * checks that tokens 1 and 3 each hold one instant of their writer: every
 * page's pass is n+1 for pages [0, k) and n for pages [k, end) (a writer
 * going up the pages, caught between two of its stores), never a later page
 * newer than an earlier one, never a third value. It prints
 *     # token T: pages [0, k) pass n+1, [k, end) pass n
 * (or "every page pass n" when k is the end).
 * Token 2 must have position 12345 and its data. Then FINISH.
 *
 * Environment and output as reboot_stages: LD_PRELOAD of the preload
 * library, LIVEUPDATE_DEVICE; TAP lines, "N passed, M failed"; exit 0 / 1,
 * 2 for usage.
 */
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include "holder.h"
#include "luo.h"
#include "tap.h"

#define MiB ((off_t)1 << 20)
#define SESSION "snap"
#define WATCHED_POSITION 12345
#define SPARSE_SIZE (64 * MiB)
#define MAPPED_SIZE (64 * MiB)

static const size_t page_size = 4096;

/* What the children tell `start` through a shared anonymous mapping. */
struct progress {
	volatile uint64_t writer_pass;
	volatile uint64_t mapper_pass;
	volatile uint64_t watcher_spins;
};

/* The writers rest 1 ms after each pass: a pass still takes far less than
 * the copy of their memfd, and the watcher gets a CPU of the two. */
static const struct timespec pause_between_passes = { .tv_nsec = 1000 * 1000 };

static uint8_t sparse_byte(size_t page)
{
	return (uint8_t)(page * 29 + 7) | 1;
}

/* ------------------------------------------------------------------ */
/* start                                                               */

/* A memfd of `size` bytes whose every page starts with pass 1. */
static int stamped_memfd(const char *name, off_t size)
{
	int fd = lu_memfd(name, MFD_CLOEXEC, size);
	if (fd < 0)
		return fd;
	uint64_t one = 1;
	for (off_t off = 0; off < size; off += (off_t)page_size)
		if (pwrite(fd, &one, sizeof one, off) != (ssize_t)sizeof one) {
			int e = errno;
			close(fd);
			return -e;
		}
	return fd;
}

/* A memfd with data on every other page (the others are holes). */
static int sparse_memfd(void)
{
	int fd = lu_memfd("snapshot-sparse", MFD_CLOEXEC, SPARSE_SIZE);
	if (fd < 0)
		return fd;
	static unsigned char page[4096];
	for (size_t p = 0; p < (size_t)(SPARSE_SIZE / (off_t)page_size); p += 2) {
		memset(page, sparse_byte(p), sizeof page);
		if (pwrite(fd, page, sizeof page, (off_t)(p * page_size)) != (ssize_t)sizeof page) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

/* In a child: its own session, stdio on /dev/null, every fd above 2 closed but `keep`. */
static void detach(const int *keep, int n)
{
	setsid();
	quiet_stdio();
	if (close_all_but(keep, n) < 0)
		_exit(1);
}

static _Noreturn void run_writer(int session, int memfd, off_t size, struct progress *progress)
{
	int keep[] = { session, memfd };
	detach(keep, 2);
	for (uint64_t pass = 2;; pass++) {
		for (off_t off = 0; off < size; off += (off_t)page_size)
			if (pwrite(memfd, &pass, sizeof pass, off) != (ssize_t)sizeof pass)
				_exit(1);
		progress->writer_pass = pass;
		nanosleep(&pause_between_passes, NULL);
	}
}

static _Noreturn void run_mapper(int memfd, off_t size, struct progress *progress)
{
	unsigned char *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (base == MAP_FAILED)
		_exit(1);
	detach(NULL, 0); /* the memfd's fd too: only the mapping is left */
	for (uint64_t pass = 2;; pass++) {
		for (size_t off = 0; off < (size_t)size; off += page_size)
			*(volatile uint64_t *)(base + off) = pass;
		progress->mapper_pass = pass;
		nanosleep(&pause_between_passes, NULL);
	}
}

static volatile sig_atomic_t watcher_stop;

static void on_sigterm(int sig)
{
	(void)sig;
	watcher_stop = 1;
}

static _Noreturn void run_watcher(int memfd, const char *report, struct progress *progress)
{
	int keep[] = { memfd };
	detach(keep, 1);
	struct sigaction sa = { .sa_handler = on_sigterm };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	uint64_t spins = 0, moves = 0;
	off_t last = WATCHED_POSITION;
	while (!watcher_stop) {
		off_t pos = lseek(memfd, 0, SEEK_CUR);
		if (pos != WATCHED_POSITION) {
			moves++;
			last = pos;
		}
		progress->watcher_spins = ++spins;
	}
	char line[128];
	int n = snprintf(line, sizeof line, "spins %llu moves %llu last %lld\n", (unsigned long long)spins,
			 (unsigned long long)moves, (long long)last);
	int out = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	_exit(out >= 0 && write(out, line, (size_t)n) == n ? 0 : 1);
}

static pid_t spawn(void)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		tap_fatal("7", strerror(errno), "fork");
	return pid;
}

static int start(const char *report, off_t writer_size)
{
	int dev = lu_open_device_or_die();
	int s = lu_create(dev, SESSION);
	check_rc(s, 0, "4.1", "CREATE_SESSION \"" SESSION "\"");
	int written = stamped_memfd("snapshot-writer", writer_size);
	int sparse = sparse_memfd();
	int mapped = stamped_memfd("snapshot-mapper", MAPPED_SIZE);
	check(written >= 0 && sparse >= 0 && mapped >= 0, "8.1", "make the three memfds (%lld, %lld and %lld MiB)",
	      (long long)(writer_size / MiB), (long long)(SPARSE_SIZE / MiB), (long long)(MAPPED_SIZE / MiB));
	check(lseek(sparse, WATCHED_POSITION, SEEK_SET) == WATCHED_POSITION, "8.2", "token 2: lseek to %d",
	      WATCHED_POSITION);
	if (s < 0 || written < 0 || sparse < 0 || mapped < 0)
		return tap_done();
	check_rc(lu_preserve(s, written, 1), 0, "4.3", "PRESERVE_FD token 1 (the writer's)");
	check_rc(lu_preserve(s, sparse, 2), 0, "4.3", "PRESERVE_FD token 2 (the watcher's)");
	check_rc(lu_preserve(s, mapped, 3), 0, "4.3", "PRESERVE_FD token 3 (the mapper's)");
	close(dev);

	struct progress *progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		tap_fatal("7", strerror(errno), "shared progress page");
	pid_t writer = spawn();
	if (writer == 0)
		run_writer(s, written, writer_size, progress);
	pid_t mapper = spawn();
	if (mapper == 0)
		run_mapper(mapped, MAPPED_SIZE, progress);
	pid_t watcher = spawn();
	if (watcher == 0)
		run_watcher(sparse, report, progress);
	close(s);
	close(written);
	close(mapped);

	/* Up to 60 s for a few passes each: a loaded machine is slow, never stuck. */
	struct timespec nap = { .tv_nsec = 10 * 1000 * 1000 };
	for (int i = 0; i < 6000 && !(progress->writer_pass >= 3 && progress->mapper_pass >= 3 &&
				      progress->watcher_spins >= 1000); i++)
		nanosleep(&nap, NULL);
	check(progress->writer_pass >= 3, "7", "the writer (pid %d) stamps passes with pwrite (pass %llu)", (int)writer,
	      (unsigned long long)progress->writer_pass);
	check(progress->mapper_pass >= 3, "7", "the mapper (pid %d) stamps passes through its mapping (pass %llu)",
	      (int)mapper, (unsigned long long)progress->mapper_pass);
	check(progress->watcher_spins >= 1000, "8.2", "the watcher (pid %d) spins on lseek(SEEK_CUR)", (int)watcher);
	tap_note("writer pid %d", (int)writer);
	tap_note("mapper pid %d", (int)mapper);
	tap_note("watcher pid %d fd %d", (int)watcher, sparse);
	close(sparse);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* check                                                               */

/* Token `token` of `size` bytes, stamped page by page: one instant or not. */
static void check_one_instant(int fd, unsigned token, off_t size)
{
	struct stat st;
	check(fstat(fd, &st) == 0 && st.st_size == size, "8.3", "token %u: size is %lld", token, (long long)size);
	const unsigned char *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		check_why(0, strerror(errno), "8.3", "token %u: map the retrieved memfd", token);
		return;
	}
	size_t pages = (size_t)size / page_size, k = pages;
	uint64_t first = *(const uint64_t *)base, later = 0;
	char why[200] = "";
	for (size_t p = 1; p < pages && !why[0]; p++) {
		uint64_t pass = *(const uint64_t *)(base + p * page_size);
		if (k == pages && pass != first) {
			k = p;
			later = pass;
			if (pass + 1 != first)
				snprintf(why, sizeof why, "page %zu has pass %llu after pages [0, %zu) with pass %llu", p,
					 (unsigned long long)pass, p, (unsigned long long)first);
		} else if (k != pages && pass != later) {
			snprintf(why, sizeof why, "pages [0, %zu) pass %llu, [%zu, %zu) pass %llu, then page %zu pass %llu", k,
				 (unsigned long long)first, k, p, (unsigned long long)later, p,
				 (unsigned long long)pass);
		}
	}
	check_why(!why[0] && first >= 1, why, "7",
		  "token %u is one instant: pages [0, k) have pass n+1 and [k, end) pass n", token);
	if (!why[0] && k == pages)
		tap_note("token %u: every page pass %llu", token, (unsigned long long)first);
	else if (!why[0])
		tap_note("token %u: pages [0, %zu) pass %llu, [%zu, %zu) pass %llu", token, k, (unsigned long long)first,
			 k, pages, (unsigned long long)later);
	munmap((void *)base, (size_t)size);
}

static int check_stage(void)
{
	int dev = lu_open_device_or_die();
	int s = lu_retrieve(dev, SESSION);
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION \"" SESSION "\"");
	if (s < 0)
		return tap_done();

	int fds[4] = { -1, -1, -1, -1 };
	for (unsigned token = 1; token <= 3; token++) {
		fds[token] = lu_retrieve_fd(s, token);
		check_rc(fds[token], 0, "4.4", "RETRIEVE_FD token %u", token);
	}
	if (fds[1] >= 0) {
		struct stat st;
		check_one_instant(fds[1], 1, fstat(fds[1], &st) == 0 ? st.st_size : 0);
	}
	if (fds[3] >= 0)
		check_one_instant(fds[3], 3, MAPPED_SIZE);
	if (fds[2] >= 0) {
		off_t pos = lseek(fds[2], 0, SEEK_CUR);
		char why[64];
		snprintf(why, sizeof why, "position %lld", (long long)pos);
		check_why(pos == WATCHED_POSITION, why, "8.3", "token 2: the file position at the reboot, %d",
			  WATCHED_POSITION);
		int intact = 1;
		unsigned char byte;
		for (size_t p = 0; p < (size_t)(SPARSE_SIZE / (off_t)page_size) && intact; p++)
			intact = pread(fds[2], &byte, 1, (off_t)(p * page_size)) == 1 &&
				 byte == (p % 2 ? 0 : sparse_byte(p));
		check(intact, "8.3", "token 2: its data pages and holes");
	}
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, &(struct liveupdate_session_finish){ .size = sizeof(struct liveupdate_session_finish) }),
		 0, "4.5", "FINISH");
	for (int i = 1; i <= 3; i++)
		close_if(fds[i]);
	close(s);
	close(dev);
	return tap_done();
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "start") == 0) {
		long mib = argc >= 4 ? strtol(argv[3], NULL, 10) : 128;
		if (mib <= 0) {
			fprintf(stderr, "snapshot_stages: WRITER_MIB must be a positive number of MiB\n");
			return 2;
		}
		return start(argv[2], (off_t)mib * MiB);
	}
	if (argc == 2 && strcmp(argv[1], "check") == 0)
		return check_stage();
	fprintf(stderr, "usage: snapshot_stages start REPORT [WRITER_MIB] | snapshot_stages check\n");
	return 2;
}
