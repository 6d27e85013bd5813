/*
 * chaos_stages - the small steps that the chaos long mode composes
 * into randomized rounds of reboots, client kills and daemon kills. The NUnit
 * driver (tests/LiveUpdateFs.Tests/Integration/ChaosDriver.cs) keeps the
 * model of what the next boot must offer; this program only creates sessions
 * with contents that name their origin, and checks what comes back.
 *
 *     chaos_stages create BATCH N [SALT]
 *         Opens the device, creates N sessions "c<BATCH>-<i>" (i = 0..N-1),
 *         each preserving one or two small memfds, then forks a HOLDER that
 *         keeps only the session fds (as reboot_stages does). The layout and
 *         contents of a session are a function of its name and SALT
 *         (default 0): 1 or 2 files, tokens 1.., 1 to 4 pages, some sizes not
 *         page-aligned, bytes from mix64(BATCH, i, SALT, token). The driver
 *         reuses a name only with a new SALT, so that what comes back under
 *         a name tells which of its sessions it is.
 *     chaos_stages writer BATCH
 *         One session "w<BATCH>" with one memfd of 1 to 4 MiB (token 1).
 *         Every page is stamped with a pass counter: pass 0 before
 *         PRESERVE_FD; then the HOLDER keeps the memfd as well and writes
 *         pass 1, 2, ... over the pages in order (one pwrite per page) until
 *         it is killed. Any instant of the memfd is therefore pages [0,k) of
 *         pass n+1 and [k,end) of pass n, each page whole.
 *     chaos_stages check SPEC
 *         SPEC is a file, one session per line: "NAME present|absent|either
 *         [SALT]" (the SALT it was created with; default 0).
 *         Each session is retrieved: ENOENT is "absent"; a present one must
 *         have exactly its files (RETRIEVE_FD of one token more -> ENOENT),
 *         each with its size and contents (a writer's: one instant, above),
 *         and is FINISHed and closed. "either" is for moments whose outcome
 *         is legitimately one of two states: the driver decides from the
 *         "# present NAME" lines whether the set found is one of them.
 *
 * Output: TAP as in tap.h (one case per session, plus the holder), and "#"
 * lines the driver reads:
 *     # session NAME files F bytes B     (create, writer)
 *     # holder pid N                     (create, writer)
 *     # present NAME / # absent NAME     (check)
 *     # writer NAME: pass n+1 up to page k of P, then pass n   (check)
 * Exit status 0 all passed, 1 a failure (also: the device cannot be opened),
 * 2 usage. Environment: LD_PRELOAD of the preload library, LIVEUPDATE_DEVICE.
 */
#include <signal.h>
#include <time.h>

#include "holder.h"
#include "luo.h"
#include "tap.h"

#define PAGE 4096
#define WORDS_PER_PAGE (PAGE / 8)
#define MAX_FILES 2
#define MAX_SESSIONS 64
#define MAX_SPEC_LINE 128
/* A writer that outlives its driver (a crashed test) stops writing after this. */
#define WRITER_MAX_SECONDS 600

/* ------------------------------------------------------------------ */
/* Names, layouts and contents                                         */

/* splitmix64, as in load_stages: the same on every machine. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

enum shape { PLAIN, WRITER };

struct file_layout {
	unsigned token;
	off_t size;
	uint64_t seed; /* PLAIN: contents; WRITER: the salt of every page */
};

/* What a session holds, derived from its name alone. */
struct layout {
	enum shape shape;
	int nfiles;
	struct file_layout files[MAX_FILES];
};

/* "c<BATCH>-<i>" (created with salt) or "w<BATCH>"; 0 if the name is neither. */
static int layout_of(const char *name, unsigned salt, struct layout *out)
{
	unsigned batch, index;
	char tail;
	memset(out, 0, sizeof *out);
	if (sscanf(name, "c%u-%u%c", &batch, &index, &tail) == 2) {
		uint64_t h = mix64((uint64_t)salt << 40 ^ (uint64_t)batch << 20 ^ index);
		out->shape = PLAIN;
		out->nfiles = 1 + (int)(h % MAX_FILES);
		for (int f = 0; f < out->nfiles; f++) {
			uint64_t hf = mix64(h + (uint64_t)f + 1);
			struct file_layout *fl = &out->files[f];
			fl->token = (unsigned)f + 1;
			/* 1 to 4 pages; one in three ends inside its last page */
			fl->size = (off_t)(1 + hf % 4) * PAGE - (hf >> 8) % 3 * 700;
			fl->seed = mix64(hf ^ fl->token);
		}
		return 1;
	}
	if (sscanf(name, "w%u%c", &batch, &tail) == 1) {
		out->shape = WRITER;
		out->nfiles = 1;
		out->files[0].token = 1;
		out->files[0].size = (off_t)(1 + batch % 4) << 20;
		out->files[0].seed = mix64(0x57524954ull << 32 ^ batch);
		return 1;
	}
	return 0;
}

static unsigned char buf[64 * 1024];

static void plain_bytes(unsigned char *dst, uint64_t seed, off_t off, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = (uint64_t)off + i;
		dst[i] = (unsigned char)(mix64(seed ^ (pos >> 3)) >> (8 * (pos & 7)));
	}
}

/* Word k of page p of a writer's memfd in pass `pass`: the pass, the place and the salt. */
static uint64_t writer_word(uint64_t salt, uint64_t page, unsigned k, uint64_t pass)
{
	return (pass << 32 | (uint32_t)(page * WORDS_PER_PAGE + k)) ^ salt;
}

static void writer_page(uint64_t *words, uint64_t salt, uint64_t page, uint64_t pass)
{
	for (unsigned k = 0; k < WORDS_PER_PAGE; k++)
		words[k] = writer_word(salt, page, k, pass);
}

/* A memfd holding fl's pass-0 or plain contents; fd, or the program ends. */
static int filled_memfd(const char *name, enum shape shape, const struct file_layout *fl)
{
	int fd = lu_memfd(name, MFD_CLOEXEC, fl->size);
	if (fd < 0)
		tap_fatal("8.1", strerror(-fd), "memfd of %lld bytes for %s", (long long)fl->size, name);
	for (off_t off = 0; off < fl->size;) {
		size_t n = (size_t)(fl->size - off < (off_t)sizeof buf ? fl->size - off : (off_t)sizeof buf);
		if (shape == PLAIN)
			plain_bytes(buf, fl->seed, off, n);
		else
			for (size_t p = 0; p < n / PAGE; p++)
				writer_page((uint64_t *)(void *)(buf + p * PAGE), fl->seed, (uint64_t)off / PAGE + p, 0);
		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			tap_fatal("8.1", strerror(errno), "fill the memfd of %s", name);
		off += (off_t)n;
	}
	return fd;
}

/* ------------------------------------------------------------------ */
/* The holder                                                          */

/* The writer holder's work: passes over the pages in order until killed. */
static _Noreturn void write_passes(int memfd, const struct file_layout *fl)
{
	static uint64_t page[WORDS_PER_PAGE];
	uint64_t pages = (uint64_t)fl->size / PAGE;
	time_t stop = time(NULL) + WRITER_MAX_SECONDS;
	/* a short rest between passes leaves the shared CPUs to the others */
	struct timespec rest = { .tv_sec = 0, .tv_nsec = 2 * 1000 * 1000 };
	for (uint64_t pass = 1; time(NULL) < stop; pass++) {
		for (uint64_t p = 0; p < pages; p++) {
			writer_page(page, fl->seed, p, pass);
			if (pwrite(memfd, page, PAGE, (off_t)(p * PAGE)) != PAGE)
				_exit(1);
		}
		nanosleep(&rest, NULL);
	}
	for (;;)
		pause();
}

/*
 * Forks the HOLDER: setsid, stdio on /dev/null, every fd but the session
 * fds (and a writer's memfd) closed, then pause() (or the writer's passes)
 * until a reboot or the driver kills it. The parent closes the device fd
 * first and its own copies of the session fds afterwards, and prints
 * "# holder pid N".
 */
static void fork_holder(int *dev, const int *sessions, int n, int memfd, const struct file_layout *written)
{
	int ready[2], keep[MAX_SESSIONS + 2];

	close(*dev);
	*dev = -1;
	fflush(stdout);
	fflush(stderr);
	if (pipe(ready) < 0)
		tap_fatal("5.2", strerror(errno), "pipe for the holder");
	pid_t pid = fork();
	if (pid < 0)
		tap_fatal("5.2", strerror(errno), "fork the holder");
	if (pid == 0) {
		close(ready[0]);
		setsid();
		quiet_stdio();
		memcpy(keep, sessions, (size_t)n * sizeof *keep);
		keep[n] = ready[1];
		keep[n + 1] = memfd;
		close_all_but(keep, n + 2);
		char c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		close(ready[1]);
		if (memfd >= 0)
			write_passes(memfd, written);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c = 0;
	ssize_t got = read(ready[0], &c, 1);
	close(ready[0]);
	check(got == 1, "5.2", "holder %d keeps the %d session fds open until the reboot", (int)pid, n);
	tap_note("holder pid %d", (int)pid);
	for (int i = 0; i < n; i++)
		close(sessions[i]);
	if (memfd >= 0)
		close(memfd);
}

/* ------------------------------------------------------------------ */
/* create / writer                                                     */

/* CREATE_SESSION NAME and PRESERVE_FD of each of its files; the session fd, or the program ends. */
static int create_session(int dev, const char *name, const struct layout *l, int *writer_memfd)
{
	int s = lu_create(dev, name);
	check_rc(s, 0, "4.1", "CREATE_SESSION \"%s\"", name);
	if (s < 0)
		tap_fatal("4.1", "the stage cannot go on", "session \"%s\" is needed", name);
	long long bytes = 0;
	for (int f = 0; f < l->nfiles; f++) {
		const struct file_layout *fl = &l->files[f];
		int fd = filled_memfd(name, l->shape, fl);
		int rc = lu_preserve(s, fd, fl->token);
		if (rc < 0) {
			char why[80];
			snprintf(why, sizeof why, "errno %d (%s)", -rc, tap_errname(-rc));
			tap_fatal("4.3", why, "PRESERVE_FD %s token %u", name, fl->token);
		}
		bytes += fl->size;
		if (writer_memfd)
			*writer_memfd = fd;
		else
			close(fd);
	}
	tap_note("session %s files %d bytes %lld", name, l->nfiles, bytes);
	return s;
}

static int parse_count(const char *text, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (!*text || *end || v > max)
		return 0;
	*out = (unsigned)v;
	return 1;
}

static int create_stage(unsigned batch, unsigned n, unsigned salt)
{
	int dev = lu_open_device_or_die();
	int sessions[MAX_SESSIONS];
	for (unsigned i = 0; i < n; i++) {
		char name[LIVEUPDATE_SESSION_NAME_LENGTH];
		struct layout l;
		snprintf(name, sizeof name, "c%u-%u", batch, i);
		layout_of(name, salt, &l);
		sessions[i] = create_session(dev, name, &l, NULL);
	}
	fork_holder(&dev, sessions, (int)n, -1, NULL);
	return tap_done();
}

static int writer_stage(unsigned batch)
{
	int dev = lu_open_device_or_die();
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	struct layout l;
	snprintf(name, sizeof name, "w%u", batch);
	layout_of(name, 0, &l);
	int memfd = -1;
	int s = create_session(dev, name, &l, &memfd);
	fork_holder(&dev, &s, 1, memfd, &l.files[0]);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* check                                                               */

/* 1 if fd holds exactly fl's plain contents; else 0 and why. */
static int plain_ok(int fd, const struct file_layout *fl, char *why, size_t n)
{
	static unsigned char want[sizeof buf];
	for (off_t off = 0; off < fl->size;) {
		size_t len = (size_t)(fl->size - off < (off_t)sizeof buf ? fl->size - off : (off_t)sizeof buf);
		ssize_t r = pread(fd, buf, len, off);
		if (r != (ssize_t)len) {
			snprintf(why, n, "pread of %zu bytes at %lld returned %zd (errno %d)", len, (long long)off, r, errno);
			return 0;
		}
		plain_bytes(want, fl->seed, off, len);
		for (size_t i = 0; i < len; i++)
			if (buf[i] != want[i]) {
				snprintf(why, n, "byte at %lld is 0x%02x, expected 0x%02x (a byte of another session or instant)",
					 (long long)off + (long long)i, buf[i], want[i]);
				return 0;
			}
		off += (off_t)len;
	}
	return 1;
}

/*
 * 1 if fd is one instant of a writer's memfd: every page whole (one pass,
 * its own place and salt), passes non-increasing from the first page to the
 * last and at most one apart. Else 0 and why. Notes where the pass changes.
 */
static int writer_ok(int fd, const char *name, const struct file_layout *fl, char *why, size_t n)
{
	uint64_t pages = (uint64_t)fl->size / PAGE, first = 0, last = 0, step_at = pages;
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t *words = (uint64_t *)(void *)buf;
		if (pread(fd, buf, PAGE, (off_t)(p * PAGE)) != PAGE) {
			snprintf(why, n, "pread of page %llu failed (errno %d)", (unsigned long long)p, errno);
			return 0;
		}
		uint64_t pass = (words[0] ^ fl->seed) >> 32;
		for (unsigned k = 0; k < WORDS_PER_PAGE; k++)
			if (words[k] != writer_word(fl->seed, p, k, pass)) {
				snprintf(why, n, "page %llu is torn or misplaced: word %u is 0x%016llx, its word 0 says pass %llu (expected 0x%016llx)",
					 (unsigned long long)p, k, (unsigned long long)words[k], (unsigned long long)pass,
					 (unsigned long long)writer_word(fl->seed, p, k, pass));
				return 0;
			}
		if (p == 0)
			first = last = pass;
		else if (pass != last) {
			if (pass + 1 != last || last != first) {
				snprintf(why, n, "not one instant: page %llu has pass %llu after pass %llu (page 0 has pass %llu)",
					 (unsigned long long)p, (unsigned long long)pass, (unsigned long long)last,
					 (unsigned long long)first);
				return 0;
			}
			step_at = p;
			last = pass;
		}
	}
	if (first == last)
		tap_note("writer %s: all %llu pages of pass %llu", name, (unsigned long long)pages, (unsigned long long)first);
	else
		tap_note("writer %s: pass %llu up to page %llu of %llu, then pass %llu", name, (unsigned long long)first,
			 (unsigned long long)step_at, (unsigned long long)pages, (unsigned long long)last);
	return 1;
}

/* Everything about one present session; "" when all is right, else the first problem in why. */
static void check_present(int s, const char *name, const struct layout *l, char *why, size_t n)
{
	int fds[MAX_FILES + 1], nfds = 0;
	why[0] = '\0';
	char got[LIVEUPDATE_SESSION_NAME_LENGTH];
	int rc = lu_get_name(s, got);
	if (rc < 0)
		snprintf(why, n, "GET_NAME: errno %d (%s)", -rc, tap_errname(-rc));
	else if (strncmp(got, name, sizeof got) != 0)
		snprintf(why, n, "GET_NAME returns \"%.63s\"", got);
	for (int f = 0; f < l->nfiles && !why[0]; f++) {
		const struct file_layout *fl = &l->files[f];
		int fd = lu_retrieve_fd(s, fl->token);
		if (fd < 0) {
			snprintf(why, n, "RETRIEVE_FD token %u: errno %d (%s)", fl->token, -fd, tap_errname(-fd));
			break;
		}
		fds[nfds++] = fd;
		struct stat st;
		char problem[240] = "";
		if (fstat(fd, &st) < 0 || st.st_size != fl->size)
			snprintf(problem, sizeof problem, "size %lld, expected %lld", (long long)st.st_size, (long long)fl->size);
		else if (l->shape == PLAIN)
			plain_ok(fd, fl, problem, sizeof problem);
		else
			writer_ok(fd, name, fl, problem, sizeof problem);
		if (problem[0])
			snprintf(why, n, "token %u: %s", fl->token, problem);
	}
	if (!why[0]) {
		int unknown = lu_retrieve_fd(s, (unsigned)l->nfiles + 1);
		if (unknown != -ENOENT)
			snprintf(why, n, "RETRIEVE_FD of token %d (not preserved) returned %s, expected ENOENT",
				 l->nfiles + 1, unknown < 0 ? tap_errname(-unknown) : "an fd");
		close_if(unknown);
	}
	rc = lu_finish(s);
	if (!why[0] && rc < 0)
		snprintf(why, n, "FINISH: errno %d (%s)", -rc, tap_errname(-rc));
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

static int check_stage(const char *spec_path)
{
	FILE *spec = fopen(spec_path, "r");
	if (!spec) {
		fprintf(stderr, "chaos_stages check: cannot read %s: %s\n", spec_path, strerror(errno));
		return 2;
	}
	int dev = lu_open_device_or_die();
	char line[MAX_SPEC_LINE];
	int present = 0, absent = 0;
	while (fgets(line, sizeof line, spec)) {
		char name[LIVEUPDATE_SESSION_NAME_LENGTH], expect[16];
		unsigned salt = 0;
		struct layout l;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %15s %u", name, expect, &salt) < 2 || !layout_of(name, salt, &l) ||
		    (strcmp(expect, "present") && strcmp(expect, "absent") && strcmp(expect, "either"))) {
			fprintf(stderr, "chaos_stages check: bad spec line: %s", line);
			return 2;
		}
		int s = lu_retrieve(dev, name);
		if (s == -ENOENT) {
			absent++;
			tap_note("absent %s", name);
			check_why(strcmp(expect, "present") != 0, "the model says it must come back", "7",
				  "%s: absent (ENOENT), model: %s", name, expect);
			continue;
		}
		if (s < 0) {
			check_rc(s, 0, "4.2", "%s: RETRIEVE_SESSION, model: %s", name, expect);
			continue;
		}
		present++;
		tap_note("present %s", name);
		char why[300];
		check_present(s, name, &l, why, sizeof why);
		close(s);
		if (strcmp(expect, "absent") == 0)
			check_why(0, why[0] ? why : "the model says it must not come back", "7",
				  "%s: present, model: absent", name);
		else
			check_why(!why[0], why, "8.3", "%s: present with exactly its %d file(s), one instant, FINISHed",
				  name, l.nfiles);
	}
	fclose(spec);
	close(dev);
	tap_note("checked %d present, %d absent", present, absent);
	return tap_done();
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	unsigned batch, n, salt = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 4 || (argc == 5 && parse_count(argv[4], 1u << 30, &salt))) && strcmp(argv[1], "create") == 0 &&
	    parse_count(argv[2], 1u << 30, &batch) && parse_count(argv[3], MAX_SESSIONS, &n) && n > 0)
		return create_stage(batch, n, salt);
	if (argc == 3 && strcmp(argv[1], "writer") == 0 && parse_count(argv[2], 1u << 30, &batch))
		return writer_stage(batch);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return check_stage(argv[2]);
	fprintf(stderr, "usage: chaos_stages create BATCH N (1..%d) [SALT] | writer BATCH | check SPEC\n", MAX_SESSIONS);
	return 2;
}
