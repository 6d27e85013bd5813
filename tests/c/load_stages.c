/*
 * load_stages - many concurrent clients, and the upstream-scale shapes,
 * across a live update (docs/behaviour.md §3, §4, §5.2, §7, §8).
 *
 *     load_stages before MODEL [short|long|OPS] [SEED]
 *     load_stages after MODEL
 *     load_stages shapes-before
 *     load_stages shapes-after
 *
 * Like reboot_stages, an outside harness runs a "before" stage, performs
 * `liveupdatefs reboot`, then runs the matching "after" stage.
 *
 * The load (before/after): the device is single-open, so the parent is the
 * one OPENER, as a live-update agent is. It forks 16 WORKERS, each joined to
 * it by a unix seqpacket socket. A worker asks the opener to CREATE_SESSION
 * or RETRIEVE_SESSION a name; the opener does the ioctl and sends the session
 * fd back (SCM_RIGHTS). Everything else (PRESERVE_FD, GET_NAME, RETRIEVE_FD,
 * FINISH, close) each worker does on its own session fds, so the 16 really run
 * at the same time. Operations are drawn from a PRNG seeded by SEED and the
 * worker number, so a run can be repeated exactly.
 *
 *   before: each worker runs OPS operations (short 500, long 10000) on
 *     outgoing sessions: create (sometimes reusing the name of a session it
 *     closed), preserve a memfd with deterministic contents, GET_NAME, close
 *     a session, and probes whose errno is known (duplicate token, duplicate
 *     name, RETRIEVE_FD/FINISH on an outgoing session, RETRIEVE_SESSION of an
 *     outgoing name). Each worker logs what it expects to survive: its open
 *     sessions with their tokens, sizes and content seeds, and the names it
 *     closed. The parent merges the logs into MODEL and prints
 *         # model: S sessions, F files
 *     (what `liveupdatefs reboot` must report as frozen), then the workers
 *     stay as HOLDERS of their session fds until the reboot ends them; each
 *     prints no output and is announced as "# holder pid N".
 *   after: each worker retrieves the sessions the model gives it, checks
 *     their names and every file (size and contents), finishes them in one
 *     of several ways (FINISH, implicit finish by close, FINISH with files
 *     left unretrieved), probes names the model says were closed (ENOENT),
 *     and fills the rest of its OPS with outgoing work as before (closed at
 *     the end). Then the opener asks for every modelled name again: all must
 *     be ENOENT, so nothing came back twice and nothing is left.
 *
 * The shapes (shapes-before/shapes-after): 2000 sessions with one memfd each,
 * and one session with 500 memfds, preserved, rebooted, all retrieved,
 * checked, finished. shapes-before prints "# model: 2001 sessions, 2500 files".
 *
 * Output is TAP as in tap.h: one line per worker (with its first failures),
 * plus figures as "#" lines:
 *     # load before: 16 workers x 500 ops = 8000 ops in 1.23 s (6504 ops/s)
 * Exit status 0 all passed, 1 a failure, 2 usage.
 */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "fdpass.h"
#include "luo.h"
#include "tap.h"

#define WORKERS 16
#define SHORT_OPS 500
#define LONG_OPS 10000
#define MAX_LIVE 6      /* outgoing sessions a worker keeps open at once */
#define MAX_FILES 48    /* files per session of the load */
#define MAX_SIZE (256 * 1024)
#define NAME_LEN 16     /* "w03-000012" */
#define WHY_LEN 700

/* ------------------------------------------------------------------ */
/* PRNG and contents                                                   */

/* splitmix64: small, good enough, and the same on every machine. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t next_rand(uint64_t *s)
{
	return mix64(*s += 0x9E3779B97F4A7C15ull);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? next_rand(s) % n : 0;
}

/* The contents of a file are a function of its seed: 8 bytes per mix64. */
static void fill_content(unsigned char *buf, uint64_t seed, size_t size)
{
	for (size_t i = 0; i < size; i += 8) {
		uint64_t w = mix64(seed + (i >> 3) * 0x9E3779B97F4A7C15ull);
		size_t n = size - i < 8 ? size - i : 8;
		memcpy(buf + i, &w, n);
	}
}

static unsigned char wbuf[MAX_SIZE], rbuf[MAX_SIZE];

/* A memfd holding size bytes of seed's contents; fd or -errno. */
static int content_memfd(uint64_t seed, size_t size)
{
	int fd = memfd_create("load", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	fill_content(wbuf, seed, size);
	if (size && pwrite(fd, wbuf, size, 0) != (ssize_t)size) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	return fd;
}

/* 1 if fd holds exactly size bytes of seed's contents; else 0 and why. */
static int content_ok(int fd, uint64_t seed, size_t size, char *why, size_t n)
{
	struct stat st = { .st_size = -1 };
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != size) {
		snprintf(why, n, "size %lld, expected %zu", (long long)st.st_size, size);
		return 0;
	}
	ssize_t r = size ? pread(fd, rbuf, size, 0) : 0;
	if (r != (ssize_t)size) {
		snprintf(why, n, "pread gave %zd of %zu bytes", r, size);
		return 0;
	}
	fill_content(wbuf, seed, size);
	for (size_t i = 0; i < size; i++)
		if (rbuf[i] != wbuf[i]) {
			snprintf(why, n, "byte %zu is 0x%02x, expected 0x%02x", i, rbuf[i], wbuf[i]);
			return 0;
		}
	return 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Opener <-> worker messages (seqpacket: one message, one record)     */

enum { REQ_CREATE = 1, REQ_RETRIEVE, REQ_DONE };

/* Per-worker counters, sent with REQ_DONE. */
struct stats {
	long ops, checks, failures;
	long creates, preserves, names, closes, probes;   /* outgoing work */
	long sessions, files, finishes;                   /* incoming work (after) */
	long bytes;                                        /* checked after the reboot */
	long held;                                         /* before: sessions kept for the reboot */
};

struct msg {
	int op;
	int rc;                 /* reply: fd attached when >= 0, else -errno */
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	struct stats st;
	char why[WHY_LEN];      /* the first failures, for the TAP line */
};

/* Sends m with fd attached (fd < 0: none). 0 or -errno. */
static int send_msg(int sock, const struct msg *m, int fd)
{
	return fdpass_send(sock, m, sizeof *m, fd);
}

/* Receives one message; *fd gets an attached fd or -1. Bytes read, 0 at EOF, -errno. */
static ssize_t recv_msg(int sock, struct msg *m, int *fd)
{
	return fdpass_recv(sock, m, sizeof *m, fd);
}

/* ------------------------------------------------------------------ */
/* The model                                                           */

struct mfile {
	uint64_t token, seed;
	uint32_t size;
	int retrieved_fd;       /* after: the fd of the first RETRIEVE_FD, or -1 */
};

struct sess {
	char name[NAME_LEN];
	int fd;
	int nfiles, cap;
	struct mfile *files;
	int plan, step;         /* after: how it is finished, and how far it got */
};

struct names {
	char (*v)[NAME_LEN];
	int n, cap;
};

static void *grow(void *p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return p;
	*cap = need < 16 ? 16 : need * 2;
	p = realloc(p, (size_t)*cap * elem);
	if (!p) {
		perror("realloc");
		exit(1);
	}
	return p;
}

static void add_file(struct sess *s, uint64_t token, uint32_t size, uint64_t seed)
{
	s->files = grow(s->files, &s->cap, s->nfiles + 1, sizeof *s->files);
	s->files[s->nfiles++] = (struct mfile){ .token = token, .seed = seed, .size = size, .retrieved_fd = -1 };
}

static void add_name(struct names *l, const char *name)
{
	l->v = grow(l->v, &l->cap, l->n + 1, sizeof *l->v);
	snprintf(l->v[l->n++], NAME_LEN, "%.15s", name);
}

static void remove_name(struct names *l, int i)
{
	memcpy(l->v[i], l->v[--l->n], NAME_LEN);
}

/* ------------------------------------------------------------------ */
/* A worker                                                            */

struct worker {
	int id, sock;
	uint64_t rng;
	char prefix;            /* 'w' before the reboot, 'n' after */
	int counter;            /* names: <prefix><id>-<counter> */
	struct sess live[MAX_LIVE];
	int nlive;
	struct names closed;    /* outgoing names closed and not reused */
	struct stats st;
	char why[WHY_LEN];
};

/* Records one check; a failure's description goes into w->why (the first few fit). */
static TAP_PRINTF(3) void wcheck(struct worker *w, int pass, const char *fmt, ...)
{
	w->st.checks++;
	if (pass)
		return;
	w->st.failures++;
	size_t used = strlen(w->why);
	if (used + 8 >= sizeof w->why)
		return;
	if (used)
		used += (size_t)snprintf(w->why + used, sizeof w->why - used, "; ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->why + used, sizeof w->why - used, fmt, ap);
	va_end(ap);
}

/* rc (>= 0 or -errno) must be success (expected 0) or -expected. */
static TAP_PRINTF(4) void wcheck_rc(struct worker *w, long rc, int expected, const char *fmt, ...)
{
	int pass = expected ? rc == -(long)expected : rc >= 0;
	char what[200], why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	tap_describe_rc(why, sizeof why, rc, expected, 0);
	wcheck(w, pass, "op %ld: %s: %s", w->st.ops, what, why);
}

/* Asks the opener for CREATE_SESSION or RETRIEVE_SESSION; session fd or -errno. */
static int ask_opener(struct worker *w, int op, const char *name)
{
	struct msg m = { .op = op };
	snprintf(m.name, sizeof m.name, "%s", name);
	int fd, rc = send_msg(w->sock, &m, -1);
	if (rc < 0)
		return rc;
	ssize_t n = recv_msg(w->sock, &m, &fd);
	if (n <= 0)
		return n < 0 ? (int)n : -EPIPE;
	if (m.rc >= 0 && fd < 0)
		return -EBADMSG;
	return m.rc >= 0 ? fd : m.rc;
}

static struct sess *pick_live(struct worker *w)
{
	return w->nlive ? &w->live[below(&w->rng, (uint64_t)w->nlive)] : NULL;
}

static void op_create(struct worker *w)
{
	char name[NAME_LEN];
	int reuse = w->closed.n && below(&w->rng, 4) == 0;
	if (reuse) {
		/* docs/behaviour.md §5.2: the name of a closed session is free at once */
		int i = (int)below(&w->rng, (uint64_t)w->closed.n);
		memcpy(name, w->closed.v[i], NAME_LEN);
		remove_name(&w->closed, i);
	} else {
		snprintf(name, sizeof name, "%c%02d-%06d", w->prefix, w->id, w->counter++);
	}
	int fd = ask_opener(w, REQ_CREATE, name);
	wcheck_rc(w, fd, 0, "CREATE_SESSION %s%s", name, reuse ? " (a closed session's name)" : "");
	w->st.creates++;
	if (fd < 0)
		return;
	struct sess *s = &w->live[w->nlive++];
	*s = (struct sess){ .fd = fd };
	memcpy(s->name, name, NAME_LEN);
}

static void op_close(struct worker *w, struct sess *s)
{
	/* docs/behaviour.md §5.2: closing an outgoing session drops it and its files */
	close(s->fd);
	add_name(&w->closed, s->name);
	free(s->files);
	*s = w->live[--w->nlive];
	w->st.closes++;
}

static int has_token(const struct sess *s, uint64_t token)
{
	for (int i = 0; i < s->nfiles; i++)
		if (s->files[i].token == token)
			return 1;
	return 0;
}

/* Sizes: many small, some empty, a few up to MAX_SIZE. */
static uint32_t pick_size(uint64_t *rng)
{
	uint64_t r = below(rng, 32);
	if (r < 4)
		return 0;
	if (r < 24)
		return 1 + (uint32_t)below(rng, 4096);
	if (r < 31)
		return 4097 + (uint32_t)below(rng, 60 * 1024);
	return (uint32_t)(64 * 1024 + below(rng, MAX_SIZE - 64 * 1024 + 1));
}

static void op_preserve(struct worker *w, struct sess *s)
{
	uint64_t token;
	do
		token = next_rand(&w->rng);
	while (has_token(s, token));
	uint32_t size = pick_size(&w->rng);
	uint64_t seed = next_rand(&w->rng);
	int fd = content_memfd(seed, size);
	int rc = fd < 0 ? fd : lu_preserve(s->fd, fd, token);
	wcheck_rc(w, rc, 0, "PRESERVE_FD %s token %#llx (%u bytes)", s->name, (unsigned long long)token, size);
	close_if(fd); /* docs/behaviour.md §4.3: LUO keeps its own reference */
	w->st.preserves++;
	if (rc >= 0)
		add_file(s, token, size, seed);
}

static void op_get_name(struct worker *w, struct sess *s)
{
	char got[LIVEUPDATE_SESSION_NAME_LENGTH] = "";
	int rc = lu_get_name(s->fd, got);
	wcheck_rc(w, rc, 0, "GET_NAME %s", s->name);
	if (rc >= 0)
		wcheck(w, strcmp(got, s->name) == 0, "op %ld: GET_NAME of %s returned \"%.64s\"", w->st.ops,
		       s->name, got);
	w->st.names++;
}

/* Calls whose errno is known (docs/behaviour.md §6). */
static void op_probe(struct worker *w, struct sess *s)
{
	int fd;
	switch (below(&w->rng, 5)) {
	case 0:
		if (s->nfiles) {
			uint64_t token = s->files[below(&w->rng, (uint64_t)s->nfiles)].token;
			fd = content_memfd(token, 16);
			wcheck_rc(w, fd < 0 ? fd : lu_preserve(s->fd, fd, token), EEXIST,
				  "PRESERVE_FD %s with a used token", s->name);
			close_if(fd);
			break;
		}
		/* no token to reuse yet: probe a duplicate name instead */
		/* fall through */
	case 1:
		fd = ask_opener(w, REQ_CREATE, s->name);
		wcheck_rc(w, fd, EEXIST, "CREATE_SESSION of the open session %s", s->name);
		close_if(fd);
		break;
	case 2:
		fd = lu_retrieve_fd(s->fd, s->nfiles ? s->files[0].token : 1);
		wcheck_rc(w, fd, EINVAL, "RETRIEVE_FD on the outgoing session %s", s->name);
		close_if(fd);
		break;
	case 3:
		wcheck_rc(w, lu_finish(s->fd), EINVAL, "FINISH on the outgoing session %s", s->name);
		break;
	default:
		fd = ask_opener(w, REQ_RETRIEVE, s->name);
		wcheck_rc(w, fd, ENOENT, "RETRIEVE_SESSION of the outgoing name %s", s->name);
		close_if(fd);
		break;
	}
	w->st.probes++;
}

/* One operation on outgoing sessions, drawn from the PRNG. */
static void outgoing_op(struct worker *w)
{
	uint64_t r = below(&w->rng, 100);
	struct sess *s = pick_live(w);
	/* closes are rarer than preserves, so sessions reach a dozen files or so */
	if (!s || (r < 6 && w->nlive < MAX_LIVE))
		op_create(w);
	else if (r < 6) /* full: make room instead */
		op_close(w, s);
	else if (r < 62)
		s->nfiles < MAX_FILES ? op_preserve(w, s) : op_close(w, s);
	else if (r < 80)
		op_get_name(w, s);
	else if (r < 86)
		op_close(w, s);
	else
		op_probe(w, s);
	w->st.ops++;
}

/* Sends REQ_DONE with the counters and the first failures. */
static void report_done(struct worker *w)
{
	struct msg m = { .op = REQ_DONE, .st = w->st };
	memcpy(m.why, w->why, sizeof m.why);
	send_msg(w->sock, &m, -1);
}

/*
 * Stays alive holding only the fds in keep (and /dev/null on 0-2) until the
 * reboot ends it: every other fd (the socket, the preload library's control
 * fd) is closed, so nothing but the sessions ties it to the emulator.
 */
static _Noreturn void become_holder(const int *keep, int n)
{
	int max = (int)sysconf(_SC_OPEN_MAX);
	char *kept = calloc((size_t)max, 1);
	for (int i = 0; kept && i < n; i++)
		if (keep[i] >= 0 && keep[i] < max)
			kept[keep[i]] = 1;
	int *others = malloc(sizeof(int) * (size_t)max);
	int nothers = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && others && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d) && fd < max && !kept[fd])
			others[nothers++] = fd;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < nothers; i++)
		close(others[i]);
	for (;;)
		pause();
}

/* A forked child: no output (only the parent prints), own session. */
static void child_setup(void)
{
	setsid();
	int null = open("/dev/null", O_RDWR);
	for (int std = 0; std <= 2 && null >= 0; std++)
		dup2(null, std);
	if (null > 2)
		close(null);
}

/* ------------------------------------------------------------------ */
/* before                                                              */

static void model_part_path(char *out, size_t n, const char *model, int id)
{
	snprintf(out, n, "%s.part%02d", model, id);
}

/* Writes what this worker expects to survive: its open sessions, its closed names. */
static int write_part(struct worker *w, const char *model)
{
	char path[PATH_MAX];
	model_part_path(path, sizeof path, model, w->id);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	for (int i = 0; i < w->nlive; i++) {
		struct sess *s = &w->live[i];
		fprintf(f, "session %d %s\n", w->id, s->name);
		for (int k = 0; k < s->nfiles; k++)
			fprintf(f, "file %d %s %llu %u %llu\n", w->id, s->name, (unsigned long long)s->files[k].token,
				s->files[k].size, (unsigned long long)s->files[k].seed);
	}
	for (int i = 0; i < w->closed.n; i++)
		fprintf(f, "closed %d %s\n", w->id, w->closed.v[i]);
	return fclose(f) == 0 ? 0 : -errno;
}

static _Noreturn void worker_before(struct worker *w, long ops, const char *model)
{
	for (long i = 0; i < ops; i++)
		outgoing_op(w);
	int rc = write_part(w, model);
	wcheck_rc(w, rc, 0, "write the model part");
	w->st.held = w->nlive;
	report_done(w);
	if (!w->nlive) /* nothing to hold: the reboot would not end it */
		_exit(0);
	int keep[MAX_LIVE];
	for (int i = 0; i < w->nlive; i++)
		keep[i] = w->live[i].fd;
	become_holder(keep, w->nlive);
}

/* ------------------------------------------------------------------ */
/* after                                                               */

/* What the model gives one worker after the reboot. */
struct assignment {
	struct sess *in;        /* incoming sessions to retrieve */
	int nin, cap;
	struct names closed;    /* names closed before the reboot: ENOENT */
};

static struct assignment plan[WORKERS];
static long model_ops, model_sessions, model_files, model_closed;
static uint64_t model_seed;

/* The incoming session being worked on; NULL when none is open. */
static struct sess *active_in(struct assignment *a, int cursor)
{
	return cursor < a->nin && a->in[cursor].fd >= 0 ? &a->in[cursor] : NULL;
}

/*
 * One step of retrieving incoming session s (already retrieved: s->fd).
 * The steps: GET_NAME; RETRIEVE_SESSION again (EINVAL); RETRIEVE_FD of each
 * file in turn with its contents checked (every third one twice); an
 * unknown token (ENOENT); then the end its plan says:
 *   0, 1: FINISH, RETRIEVE_SESSION (EINVAL while the fd is open), close
 *   2:    close without FINISH (implicit finish, docs/behaviour.md §5.2)
 *   3:    FINISH with the second half of the files unretrieved, whose
 *         RETRIEVE_FD is then ENOENT (docs/behaviour.md §4.5), close
 * and RETRIEVE_SESSION after the close (ENOENT). Returns 1 when s is done.
 */
static int incoming_step(struct worker *w, struct sess *s)
{
	int nget = s->plan == 3 ? s->nfiles / 2 : s->nfiles;
	int step = s->step++;
	w->st.ops++;
	if (step == 0) {
		char got[LIVEUPDATE_SESSION_NAME_LENGTH] = "";
		int rc = lu_get_name(s->fd, got);
		wcheck(w, rc == 0 && strcmp(got, s->name) == 0, "op %ld: GET_NAME of incoming %s: rc %d, \"%.64s\"",
		       w->st.ops, s->name, rc, got);
		return 0;
	}
	if (step == 1) {
		int fd = ask_opener(w, REQ_RETRIEVE, s->name);
		wcheck_rc(w, fd, EINVAL, "RETRIEVE_SESSION %s a second time (one copy only)", s->name);
		close_if(fd);
		return 0;
	}
	int k = step - 2;
	if (k < nget) {
		struct mfile *f = &s->files[k];
		int fd = lu_retrieve_fd(s->fd, f->token);
		wcheck_rc(w, fd, 0, "RETRIEVE_FD %s token %#llx", s->name, (unsigned long long)f->token);
		if (fd >= 0) {
			char why[160];
			int ok = content_ok(fd, f->seed, f->size, why, sizeof why);
			wcheck(w, ok, "op %ld: %s token %#llx (%u bytes): %s", w->st.ops, s->name,
			       (unsigned long long)f->token, f->size, why);
			w->st.files++;
			w->st.bytes += f->size;
			if (k % 3 == 0) { /* docs/behaviour.md §4.4: again, the same open file */
				int again = lu_retrieve_fd(s->fd, f->token);
				struct stat a, b;
				wcheck(w, again >= 0 && fstat(fd, &a) == 0 && fstat(again, &b) == 0 && a.st_ino == b.st_ino,
				       "op %ld: RETRIEVE_FD %s token %#llx again: fd %d, not the same file", w->st.ops,
				       s->name, (unsigned long long)f->token, again);
				close_if(again);
			}
			close(fd);
		}
		return 0;
	}
	k -= nget;
	if (k == 0) {
		uint64_t token;
		do
			token = next_rand(&w->rng);
		while (has_token(s, token));
		int fd = lu_retrieve_fd(s->fd, token);
		wcheck_rc(w, fd, ENOENT, "RETRIEVE_FD %s of a token never preserved", s->name);
		close_if(fd);
		return 0;
	}
	if (k == 1) {
		if (s->plan != 2) {
			wcheck_rc(w, lu_finish(s->fd), 0, "FINISH %s", s->name);
			w->st.finishes++;
			if (s->plan == 3 && nget < s->nfiles) {
				int fd = lu_retrieve_fd(s->fd, s->files[nget].token);
				wcheck_rc(w, fd, ENOENT, "RETRIEVE_FD %s of an unretrieved token after FINISH", s->name);
				close_if(fd);
			} else {
				int fd = ask_opener(w, REQ_RETRIEVE, s->name);
				wcheck_rc(w, fd, EINVAL, "RETRIEVE_SESSION %s after FINISH, fd still open", s->name);
				close_if(fd);
			}
		}
		close(s->fd);
		s->fd = -1;
		int fd = ask_opener(w, REQ_RETRIEVE, s->name);
		wcheck_rc(w, fd, ENOENT, "RETRIEVE_SESSION %s after %s and close", s->name,
			  s->plan == 2 ? "no FINISH (implicit)" : "FINISH");
		close_if(fd);
		w->st.sessions++;
		return 1;
	}
	return 1;
}

/* Steps left to retrieve and check everything given to this worker (an estimate). */
static long incoming_work(const struct assignment *a, int cursor, int closed_left)
{
	long n = closed_left;
	for (int i = cursor; i < a->nin; i++)
		n += a->in[i].nfiles + 5 - (i == cursor ? a->in[i].step : 0);
	return n;
}

static _Noreturn void worker_after(struct worker *w, struct assignment *a, long ops)
{
	int cursor = 0, closed_left = a->closed.n;
	for (int i = 0; i < a->nin; i++) {
		a->in[i].fd = -1;
		a->in[i].plan = (int)below(&w->rng, 4);
	}
	for (;;) {
		long work = incoming_work(a, cursor, closed_left);
		long filler = ops > w->st.ops + work ? ops - w->st.ops - work : 0;
		if (work == 0 && filler == 0)
			break;
		/* spread the incoming work evenly among the outgoing filler */
		if (below(&w->rng, (uint64_t)(work + filler)) >= (uint64_t)work) {
			outgoing_op(w);
			continue;
		}
		if (closed_left && below(&w->rng, (uint64_t)work) < (uint64_t)closed_left) {
			const char *name = a->closed.v[--closed_left];
			int fd = ask_opener(w, REQ_RETRIEVE, name);
			wcheck_rc(w, fd, ENOENT, "RETRIEVE_SESSION %s, closed before the reboot", name);
			close_if(fd);
			w->st.ops++;
			continue;
		}
		struct sess *s = active_in(a, cursor);
		if (!s) {
			s = &a->in[cursor];
			int fd = ask_opener(w, REQ_RETRIEVE, s->name);
			wcheck_rc(w, fd, 0, "RETRIEVE_SESSION %s (%d files)", s->name, s->nfiles);
			w->st.ops++;
			if (fd < 0) {
				cursor++; /* lost: counted as a failure, go on with the next */
				continue;
			}
			s->fd = fd;
			if (s->plan == 1) { /* docs/behaviour.md §6: an outgoing session may share an incoming one's name */
				int out = ask_opener(w, REQ_CREATE, s->name);
				wcheck_rc(w, out, 0, "CREATE_SESSION %s beside the incoming one", s->name);
				close_if(out);
			}
			continue;
		}
		if (incoming_step(w, s))
			cursor++;
	}
	while (w->nlive)
		op_close(w, &w->live[0]);
	report_done(w);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The opener (parent)                                                 */

struct child {
	pid_t pid;
	int sock;               /* -1 once done or gone */
	int done;
	struct stats st;
	char why[WHY_LEN];
};

static struct child kids[WORKERS];

/* Serves CREATE/RETRIEVE requests until every worker said DONE or went away. */
static void serve(int dev)
{
	int left = WORKERS;
	while (left) {
		struct pollfd p[WORKERS];
		for (int i = 0; i < WORKERS; i++)
			p[i] = (struct pollfd){ .fd = kids[i].sock, .events = POLLIN };
		if (poll(p, WORKERS, -1) < 0) {
			if (errno == EINTR)
				continue;
			tap_fatal("load", strerror(errno), "poll the workers");
		}
		for (int i = 0; i < WORKERS; i++) {
			if (kids[i].sock < 0 || !p[i].revents)
				continue;
			struct msg m;
			int fd;
			ssize_t n = recv_msg(kids[i].sock, &m, &fd);
			close_if(fd);
			if (n > 0 && (m.op == REQ_CREATE || m.op == REQ_RETRIEVE)) {
				int s = m.op == REQ_CREATE ? lu_create(dev, m.name) : lu_retrieve(dev, m.name);
				m.rc = s;
				send_msg(kids[i].sock, &m, s);
				close_if(s); /* the worker has its own copy now */
				continue;
			}
			if (n > 0 && m.op == REQ_DONE) {
				kids[i].done = 1;
				kids[i].st = m.st;
				memcpy(kids[i].why, m.why, sizeof m.why);
				kids[i].why[WHY_LEN - 1] = '\0';
			}
			close(kids[i].sock); /* DONE, EOF (died) or garbage */
			kids[i].sock = -1;
			left--;
		}
	}
}

/* Forks the workers; each runs body(worker) and never returns. */
static void spawn(void (*body)(struct worker *, void *), void *arg, uint64_t seed, char prefix)
{
	int go[2];
	if (pipe(go) < 0)
		tap_fatal("load", strerror(errno), "pipe");
	fflush(stdout);
	for (int i = 0; i < WORKERS; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			tap_fatal("load", strerror(errno), "socketpair for worker %d", i);
		pid_t pid = fork();
		if (pid < 0)
			tap_fatal("load", strerror(errno), "fork worker %d", i);
		if (pid == 0) {
			child_setup();
			close(sv[0]);
			close(go[1]);
			for (int k = 0; k < i; k++)
				close(kids[k].sock);
			char c;
			/* start together: the pipe reads EOF when the parent closes it */
			while (read(go[0], &c, 1) > 0)
				;
			close(go[0]);
			struct worker *w = calloc(1, sizeof *w);
			w->id = i;
			w->sock = sv[1];
			w->rng = mix64(seed * 0x100000001B3ull + (uint64_t)i + 1);
			w->prefix = prefix;
			body(w, arg);
			_exit(0);
		}
		close(sv[1]);
		kids[i] = (struct child){ .pid = pid, .sock = sv[0] };
	}
	close(go[0]);
	close(go[1]);
}

/* One TAP line per worker; returns the total ops. */
static long report_workers(const char *stage)
{
	long total = 0;
	for (int i = 0; i < WORKERS; i++) {
		struct child *k = &kids[i];
		struct stats *s = &k->st;
		total += s->ops;
		char why[WHY_LEN + 80];
		if (!k->done)
			snprintf(why, sizeof why, "worker %d (pid %d) ended without reporting", i, (int)k->pid);
		else
			snprintf(why, sizeof why, "%ld of %ld checks failed: %s", s->failures, s->checks, k->why);
		check_why(k->done && s->failures == 0 && s->checks > 0, why, "load",
			  "%s worker %d: %ld ops (create %ld, preserve %ld, get-name %ld, close %ld, probe %ld; "
			  "incoming: %ld sessions, %ld files, %ld bytes checked, %ld finished), %ld checks",
			  stage, i, s->ops, s->creates, s->preserves, s->names, s->closes, s->probes, s->sessions,
			  s->files, s->bytes, s->finishes, s->checks);
	}
	return total;
}

static void figures(const char *stage, long ops, long per_worker, double secs)
{
	tap_note("load %s: %d workers x %ld ops = %ld ops in %.2f s (%.0f ops/s)", stage, WORKERS, per_worker, ops,
		 secs, secs > 0 ? ops / secs : 0.0);
}

static void before_worker(struct worker *w, void *arg)
{
	worker_before(w, model_ops, arg);
}

static int stage_before(const char *model, long ops, uint64_t seed)
{
	lu_raise_nofile(4096);
	int dev = lu_open_device_or_die();
	model_ops = ops;
	double t0 = now();
	spawn(before_worker, (void *)model, seed, 'w');
	serve(dev);
	double secs = now() - t0;
	close(dev);

	long total = report_workers("before");
	figures("before", total, ops, secs);

	/* merge the workers' logs: header, parts in worker order, trailer with the counts */
	FILE *out = fopen(model, "w");
	if (!out)
		tap_fatal("load", strerror(errno), "create the model %s", model);
	fprintf(out, "load-model 1 workers %d ops %ld seed %llu\n", WORKERS, ops, (unsigned long long)seed);
	long sessions = 0, files = 0, closed = 0;
	int parts_ok = 1;
	for (int i = 0; i < WORKERS; i++) {
		char path[PATH_MAX], line[256];
		model_part_path(path, sizeof path, model, i);
		FILE *in = fopen(path, "r");
		if (!in) {
			parts_ok = 0;
			continue;
		}
		while (fgets(line, sizeof line, in)) {
			fputs(line, out);
			sessions += strncmp(line, "session ", 8) == 0;
			files += strncmp(line, "file ", 5) == 0;
			closed += strncmp(line, "closed ", 7) == 0;
		}
		fclose(in);
		unlink(path);
	}
	fprintf(out, "total %ld sessions %ld files %ld closed\n", sessions, files, closed);
	int wrote = fclose(out) == 0;
	check(parts_ok && wrote, "load", "model %s: %ld sessions, %ld files, %ld closed names", model, sessions,
	      files, closed);
	tap_note("model: %ld sessions, %ld files", sessions, files);
	for (int i = 0; i < WORKERS; i++)
		if (kids[i].done && kids[i].st.held)
			tap_note("holder pid %d", (int)kids[i].pid);
	return tap_done();
}

/* Reads MODEL into plan[]; 0, or a message about what is wrong. */
static const char *read_model(const char *model)
{
	FILE *f = fopen(model, "r");
	if (!f)
		return "cannot open the model";
	char line[256], name[64];
	int workers = 0, id;
	unsigned long long token, fseed;
	unsigned size;
	long s = 0, fl = 0, c = 0, ts = -1, tf = -1, tc = -1;
	if (!fgets(line, sizeof line, f) ||
	    sscanf(line, "load-model 1 workers %d ops %ld seed %llu", &workers, &model_ops, &fseed) != 3 ||
	    workers != WORKERS) {
		fclose(f);
		return "bad header";
	}
	model_seed = fseed;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "session %d %15s", &id, name) == 2 && id >= 0 && id < WORKERS) {
			struct assignment *a = &plan[id];
			a->in = grow(a->in, &a->cap, a->nin + 1, sizeof *a->in);
			a->in[a->nin] = (struct sess){ .fd = -1 };
			snprintf(a->in[a->nin++].name, NAME_LEN, "%.15s", name);
			s++;
		} else if (sscanf(line, "file %d %15s %llu %u %llu", &id, name, &token, &size, &fseed) == 5 &&
			   id >= 0 && id < WORKERS && plan[id].nin &&
			   strcmp(plan[id].in[plan[id].nin - 1].name, name) == 0 && size <= MAX_SIZE) {
			add_file(&plan[id].in[plan[id].nin - 1], token, size, fseed);
			fl++;
		} else if (sscanf(line, "closed %d %15s", &id, name) == 2 && id >= 0 && id < WORKERS) {
			add_name(&plan[id].closed, name);
			c++;
		} else if (sscanf(line, "total %ld sessions %ld files %ld closed", &ts, &tf, &tc) == 3) {
			break;
		} else {
			fclose(f);
			return "a line is not understood";
		}
	}
	fclose(f);
	if (ts != s || tf != fl || tc != c)
		return "the counts do not match the trailer (truncated?)";
	model_sessions = s;
	model_files = fl;
	model_closed = c;
	return NULL;
}

static void after_worker(struct worker *w, void *arg)
{
	(void)arg;
	worker_after(w, &plan[w->id], model_ops);
}

static int stage_after(const char *model)
{
	lu_raise_nofile(4096);
	const char *bad = read_model(model);
	check_why(!bad, bad, "load", "read the model %s: %ld sessions, %ld files, %ld closed names", model,
		  model_sessions, model_files, model_closed);
	if (bad)
		return tap_done();
	int dev = lu_open_device_or_die();
	double t0 = now();
	spawn(after_worker, NULL, model_seed ^ 0xAF7E5ull, 'n');
	serve(dev);
	double secs = now() - t0;
	for (int i = 0; i < WORKERS; i++)
		waitpid(kids[i].pid, NULL, 0);

	long total = report_workers("after");
	long sessions = 0, files = 0;
	for (int i = 0; i < WORKERS; i++) {
		sessions += kids[i].st.sessions;
		files += kids[i].st.files;
	}
	check(sessions == model_sessions, "7", "every modelled session was retrieved: %ld of %ld", sessions,
	      model_sessions);
	figures("after", total, model_ops, secs);

	/* Nothing is left and nothing came twice: every name is ENOENT now. */
	long names = 0, wrong = 0;
	char why[200] = "";
	for (int i = 0; i < WORKERS; i++) {
		for (int k = 0; k < plan[i].nin + plan[i].closed.n; k++) {
			const char *name = k < plan[i].nin ? plan[i].in[k].name : plan[i].closed.v[k - plan[i].nin];
			int fd = lu_retrieve(dev, name);
			names++;
			if (fd != -ENOENT && !wrong++)
				tap_describe_rc(why, sizeof why, fd, ENOENT, 0);
			close_if(fd);
		}
	}
	check_why(!wrong, why, "4.5", "afterwards every modelled name is ENOENT (%ld names, %ld not)", names, wrong);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */
/* The shapes: 2000 sessions, 500 files in one session                 */

#define N_SESSIONS 2000
#define N_FILES 500
#define FILES_SESSION "files-500"

static uint32_t shape_size(int i)
{
	return (uint32_t)(i * 97 % 8192);
}

static uint64_t shape_seed(int i)
{
	return 0x5A5A0000ull + (uint64_t)i;
}

/* Aggregates many cases into one TAP line: counts and the first failure. */
struct tally {
	long n, bad;
	char why[200];
};

static TAP_PRINTF(3) void tally(struct tally *t, int pass, const char *fmt, ...)
{
	t->n++;
	if (pass || t->bad++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof t->why, fmt, ap);
	va_end(ap);
}

static void tally_rc(struct tally *t, long rc, int expected, const char *what, int i)
{
	char why[200];
	tap_describe_rc(why, sizeof why, rc, expected, 0);
	tally(t, expected ? rc == -(long)expected : rc >= 0, "%s %d: %s", what, i, why);
}

static int stage_shapes_before(void)
{
	if (lu_raise_nofile(N_SESSIONS + 1000) < 0)
		tap_fatal("5.3", strerror(errno), "raise RLIMIT_NOFILE");
	int dev = lu_open_device_or_die();
	static int keep[N_SESSIONS + 1];
	struct tally t = { 0 };
	double t0 = now();
	for (int i = 0; i < N_SESSIONS; i++) {
		char name[32];
		snprintf(name, sizeof name, "many-%04d", i);
		int s = keep[i] = lu_create(dev, name);
		tally_rc(&t, s, 0, "CREATE_SESSION many-", i);
		int fd = s < 0 ? s : content_memfd(shape_seed(i), shape_size(i));
		tally_rc(&t, fd < 0 ? fd : lu_preserve(s, fd, (uint64_t)i), 0, "PRESERVE_FD in many-", i);
		close_if(fd);
	}
	check_why(!t.bad, t.why, "5.3", "%d sessions with one memfd each (%ld calls, %ld failed)", N_SESSIONS, t.n,
		  t.bad);
	tap_note("shapes: %d sessions in %.2f s", N_SESSIONS, now() - t0);

	t = (struct tally){ 0 };
	t0 = now();
	int s = keep[N_SESSIONS] = lu_create(dev, FILES_SESSION);
	tally_rc(&t, s, 0, "CREATE_SESSION " FILES_SESSION, 0);
	for (int i = 0; s >= 0 && i < N_FILES; i++) {
		int fd = content_memfd(shape_seed(i) ^ 0xF11E5, shape_size(i) * 3);
		tally_rc(&t, fd < 0 ? fd : lu_preserve(s, fd, 1000 + (uint64_t)i), 0, "PRESERVE_FD token 1000 +", i);
		close_if(fd);
	}
	check_why(!t.bad, t.why, "5.3", "one session with %d memfds (%ld calls, %ld failed)", N_FILES, t.n, t.bad);
	tap_note("shapes: %d files in %.2f s", N_FILES, now() - t0);
	close(dev);

	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		tap_fatal("5.2", strerror(errno), "fork the holder");
	if (pid == 0) {
		child_setup();
		become_holder(keep, N_SESSIONS + 1);
	}
	for (int i = 0; i <= N_SESSIONS; i++)
		close_if(keep[i]);
	tap_note("model: %d sessions, %d files", N_SESSIONS + 1, N_SESSIONS + N_FILES);
	tap_note("holder pid %d", (int)pid);
	return tap_done();
}

static int stage_shapes_after(void)
{
	lu_raise_nofile(4096);
	int dev = lu_open_device_or_die();
	struct tally t = { 0 };
	char why[160];
	double t0 = now();
	for (int i = 0; i < N_SESSIONS; i++) {
		char name[32];
		snprintf(name, sizeof name, "many-%04d", i);
		int s = lu_retrieve(dev, name);
		tally_rc(&t, s, 0, "RETRIEVE_SESSION many-", i);
		if (s < 0)
			continue;
		tally(&t, lu_name_is(s, name), "GET_NAME of %s", name);
		int fd = lu_retrieve_fd(s, (uint64_t)i);
		tally_rc(&t, fd, 0, "RETRIEVE_FD of many-", i);
		if (fd >= 0)
			tally(&t, content_ok(fd, shape_seed(i), shape_size(i), why, sizeof why), "%s: %s", name, why);
		tally_rc(&t, lu_finish(s), 0, "FINISH many-", i);
		close_if(fd);
		close(s);
		tally_rc(&t, lu_retrieve(dev, name), ENOENT, "RETRIEVE_SESSION after FINISH and close, many-", i);
	}
	check_why(!t.bad, t.why, "7", "%d sessions retrieved, named, contents right, finished (%ld checks, %ld failed)",
		  N_SESSIONS, t.n, t.bad);
	check_rc(lu_retrieve(dev, "many-2000"), ENOENT, "4.2", "RETRIEVE_SESSION many-2000 (never created) -> ENOENT");
	tap_note("shapes: %d sessions retrieved in %.2f s", N_SESSIONS, now() - t0);

	t = (struct tally){ 0 };
	t0 = now();
	int s = lu_retrieve(dev, FILES_SESSION);
	check_rc(s, 0, "4.2", "RETRIEVE_SESSION " FILES_SESSION);
	for (int i = 0; s >= 0 && i < N_FILES; i++) {
		int fd = lu_retrieve_fd(s, 1000 + (uint64_t)i);
		tally_rc(&t, fd, 0, "RETRIEVE_FD token 1000 +", i);
		if (fd >= 0)
			tally(&t, content_ok(fd, shape_seed(i) ^ 0xF11E5, shape_size(i) * 3, why, sizeof why),
			      "token %d: %s", 1000 + i, why);
		close_if(fd);
	}
	if (s >= 0) {
		tally_rc(&t, lu_retrieve_fd(s, 1000 + N_FILES), ENOENT, "RETRIEVE_FD of the token after the last, 1000 +",
			 N_FILES);
		tally_rc(&t, lu_finish(s), 0, "FINISH " FILES_SESSION, 0);
		close(s);
		tally_rc(&t, lu_retrieve(dev, FILES_SESSION), ENOENT, "RETRIEVE_SESSION after FINISH and close", 0);
	}
	check_why(s >= 0 && !t.bad, t.why, "7", "%d files of one session retrieved, contents right (%ld checks, %ld failed)",
		  N_FILES, t.n, t.bad);
	tap_note("shapes: %d files retrieved in %.2f s", N_FILES, now() - t0);
	close(dev);
	return tap_done();
}

/* ------------------------------------------------------------------ */

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s before MODEL [short|long|OPS] [SEED]\n"
		"       %s after MODEL\n"
		"       %s shapes-before | shapes-after\n",
		argv0, argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	const char *me = argc > 0 ? argv[0] : "load_stages";
	/* a worker that dies must not kill the opener with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && argc <= 5 && strcmp(argv[1], "before") == 0) {
		long ops = SHORT_OPS;
		if (argc >= 4)
			ops = strcmp(argv[3], "short") == 0 ? SHORT_OPS
			      : strcmp(argv[3], "long") == 0 ? LONG_OPS
							     : strtol(argv[3], NULL, 10);
		uint64_t seed = argc == 5 ? strtoull(argv[4], NULL, 0) : 1;
		if (ops <= 0)
			return usage(me);
		return stage_before(argv[2], ops, seed);
	}
	if (argc == 3 && strcmp(argv[1], "after") == 0)
		return stage_after(argv[2]);
	if (argc == 2 && strcmp(argv[1], "shapes-before") == 0)
		return stage_shapes_before();
	if (argc == 2 && strcmp(argv[1], "shapes-after") == 0)
		return stage_shapes_after();
	return usage(me);
}
