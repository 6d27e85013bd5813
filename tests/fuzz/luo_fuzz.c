/*
 * luo_fuzz - bad and random input against a mounted LiveUpdateFs device,
 * every answer checked against what docs/behaviour.md [v7.2] (+[GN-fix])
 * allows for that request on that kind of fd.
 *
 *   luo_fuzz short [SEED]   20 000 checked ioctls (CI; a few seconds)
 *   luo_fuzz long [SEED]    1 000 000 checked ioctls
 *   luo_fuzz sanity         one small valid sequence (used after a run)
 *
 * Run with LIVEUPDATE_DEVICE set and the preload library loaded (the
 * fd-returning requests need it). A tenth of the calls go through
 * syscall(SYS_ioctl) instead, i.e. past the library, where fd-returning
 * requests end in EOPNOTSUPP after decoding (README "Differences").
 *
 * Who does what: the parent opens the device (single-open, docs/behaviour.md §3) and forks
 * NPROC worker processes of NTHREAD threads each, which inherit that open
 * file; each thread owns its sessions and memfds and tracks their state, so
 * the expected answer of every call is known exactly except where another
 * worker could interfere (then a documented set is allowed). One more
 * process forks children that run the same loop and SIGKILLs each after a
 * few random milliseconds, i.e. in the middle of a request. The parent
 * watches every worker's current call: one unanswered for HANG_SECONDS is a
 * hang. All workers count results in shared memory; the parent prints TAP
 * (tests/c/tap.h) and "# summary ..." with the calls by errno.
 *
 * The expectation is computed in expect(): first the kernel's decoding order
 * (docs/behaviour.md §2.1, §2.2: nr -> size word -> full request -> session kind -> size ->
 * tail -> copy), then the command (docs/behaviour.md §4.1-§4.6) from the tracked state, then
 * the write-back (docs/behaviour.md §2.1 step 6). Two FUSE facts (docs/fuse.md §2, docs/behaviour.md §2.4) are
 * modelled because no FUSE daemon can change them, and are named where used.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "luo.h"
#include "tap.h"

#define NPROC 4
#define NTHREAD 2
#define NWORKERS (NPROC * NTHREAD)
#define KILLER_SLOT NWORKERS
#define HANG_SECONDS 10
#define NSESS 8	  /* live sessions per thread */
#define NMEM 6	  /* preservable files per thread: 5 memfds + 1 O_TMPFILE */
#define MAX_TOK 48 /* tokens per session before it is closed */
#define NCLOSED 4 /* names of closed sessions kept for reuse */
#define MAX_VIOL 40
#define ERRNO_SLOTS 513 /* 0 = success, 1..511, 512 = any errno >= 512 */

typedef struct liveupdate_ioctl_create_session create_t;
typedef struct liveupdate_session_preserve_fd preserve_t;
typedef struct liveupdate_session_get_name get_name_t;

/* Classes of calls, each with its own TAP line. */
enum { CL_DEV, CL_SESS, CL_CLOSED, CL_KILL, CL_OTHER, NCLASS };
static const char *const class_label[NCLASS] = {
	[CL_DEV] = "2.1", [CL_SESS] = "2.2", [CL_CLOSED] = "2.4", [CL_KILL] = "design", [CL_OTHER] = "3",
};
static const char *const class_what[NCLASS] = {
	[CL_DEV] = "requests on the device fd",
	[CL_SESS] = "requests on outgoing session fds",
	[CL_CLOSED] = "requests on a closed fd number (EBADF from the VFS)",
	[CL_KILL] = "requests of children SIGKILLed mid-run",
	[CL_OTHER] = "open() of the device while it is held (EBUSY)",
};

/* Lives in a MAP_SHARED mapping made before the forks. */
struct shared {
	atomic_ulong calls[NCLASS];
	atomic_ulong bad[NCLASS];
	atomic_ulong by_errno[ERRNO_SLOTS];
	atomic_ulong eio_or_huge; /* EIO or errno >= 512: never allowed */
	atomic_uint nviol;
	char viol[MAX_VIOL][320];
	struct {
		atomic_llong started_ns; /* 0 when idle */
		char what[200];
	} busy[NWORKERS + 1];
	atomic_ulong kills, kill_unreaped;
};
static struct shared *sh;

static size_t pg;
static int dev;		   /* the device, opened once by the parent */
static const char *device_path;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Per-thread state                                                      */

struct sess {
	int fd;		/* -1: free slot */
	__u8 name[64];	/* as passed to CREATE (compared up to the NUL) */
	uint64_t tok[MAX_TOK];
	int ntok;
};

struct mem {
	int fd;
	int preserved_in; /* session slot holding this inode, or -1 */
};

/* The argument memory: 2 read-write pages, 1 read-only page, 1 PROT_NONE
 * page; `alias` maps the first 3 pages writable so the read-only one can be
 * filled. `hole` is one read-write page whose next page was unmapped. */
struct region {
	unsigned char *view, *alias, *hole;
};

/* fds of other kinds for PRESERVE_FD's fd field, per process, never closed
 * while the threads run (so their numbers cannot be reused under us). */
enum { OT_PIPE_R, OT_PIPE_W, OT_UNIX, OT_UDP, OT_DISK, OT_DIR, OT_EVENTFD, OT_EPOLL, OT_NULL, OT_SHM_LINKED,
       OT_HUGETLB, NOTHER };
static const char *const other_name[NOTHER] = {
	"pipe read end", "pipe write end", "unix socket", "udp socket", "disk file", "directory", "eventfd",
	"epoll", "/dev/null", "linked /dev/shm file", "hugetlb memfd",
};
static int other_fd[NOTHER];
static int opath_fd; /* O_PATH directory: fget fails -> EBADF */
static char disk_path[64], shm_path[64];

struct worker {
	int id; /* slot in sh->busy, -1 for a killed child */
	int cls_dev, cls_sess;
	uint64_t rng;
	struct sess s[NSESS];
	struct mem m[NMEM];
	int ro_fd;     /* O_RDONLY reopen of m[0]'s inode */
	int closed_fd; /* a number once open, now closed, far above any allocated */
	__u8 closed_names[NCLOSED][64];
	int nclosed;
	unsigned seq;
	struct region r;
};

static uint64_t rnd(struct worker *w)
{
	/* xorshift64*: small, fast, reproducible from the seed */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ULL;
}

static unsigned below(struct worker *w, unsigned n)
{
	return (unsigned)(rnd(w) % n);
}

/* true with probability pct % */
static bool chance(struct worker *w, unsigned pct)
{
	return below(w, 100) < pct;
}

static void violation(int cls, const char *fmt, ...) TAP_PRINTF(2);
static void violation(int cls, const char *fmt, ...)
{
	atomic_fetch_add(&sh->bad[cls], 1);
	unsigned i = atomic_fetch_add(&sh->nviol, 1);
	if (i >= MAX_VIOL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sh->viol[i], sizeof sh->viol[i], fmt, ap);
	va_end(ap);
}

static int new_memfd(struct worker *w, int j)
{
	/* j == NMEM-1 is an O_TMPFILE on tmpfs: an unlinked shmem file, which
	 * docs/behaviour.md §8.1 says is preservable like a memfd */
	int fd = j == NMEM - 1 ? open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
			       : memfd_create("fuzz", MFD_CLOEXEC | (j % 2 ? MFD_ALLOW_SEALING : 0));
	if (fd >= 0 && ftruncate(fd, (off_t)(j % 3) * 4096) < 0) {
		close(fd);
		fd = -1;
	}
	w->m[j] = (struct mem){ .fd = fd, .preserved_in = -1 };
	if (j == 0) {
		close_if(w->ro_fd);
		w->ro_fd = fd >= 0 ? lu_reopen(fd, O_RDONLY | O_CLOEXEC) : -1;
	}
	return fd;
}

static void worker_init(struct worker *w, int id, uint64_t seed)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->cls_dev = id < 0 ? CL_KILL : CL_DEV;
	w->cls_sess = id < 0 ? CL_KILL : CL_SESS;
	w->rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)getpid() * 7919 + (uint64_t)(id + 2);
	if (!w->rng)
		w->rng = 1;
	for (int i = 0; i < NSESS; i++)
		w->s[i].fd = -1;
	w->ro_fd = -1;
	for (int j = 0; j < NMEM; j++)
		new_memfd(w, j);
	/* a number far above the lowest free one: nobody else gets it */
	w->closed_fd = 6000 + (id < 0 ? NWORKERS : id);
	dup2(0, w->closed_fd);
	close(w->closed_fd);

	int mfd = memfd_create("fuzz-arg", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)(3 * pg)) < 0)
		abort();
	w->r.view = mmap(NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->r.view == MAP_FAILED ||
	    mmap(w->r.view, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0) == MAP_FAILED)
		abort();
	mprotect(w->r.view + 2 * pg, pg, PROT_READ);
	w->r.alias = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	close(mfd);
	w->r.hole = lu_map_with_hole(1);
	if (w->r.alias == MAP_FAILED || !w->r.hole)
		abort();
}

static void close_session(struct worker *w, int i)
{
	if (w->s[i].fd < 0)
		return;
	close(w->s[i].fd);
	w->s[i].fd = -1;
	/* docs/behaviour.md §5.2: closing the last copy unpreserves its files (synchronously on
	 * the kernel: close() returns after the release) */
	for (int j = 0; j < NMEM; j++)
		if (w->m[j].preserved_in == i)
			w->m[j].preserved_in = -1;
	memcpy(w->closed_names[w->nclosed++ % NCLOSED], w->s[i].name, 64);
}

static void worker_fini(struct worker *w)
{
	for (int i = 0; i < NSESS; i++)
		close_session(w, i);
	for (int j = 0; j < NMEM; j++)
		close_if(w->m[j].fd);
	close_if(w->ro_fd);
	munmap(w->r.view, 4 * pg);
	munmap(w->r.alias, 3 * pg);
	lu_unmap(w->r.hole, 1);
}

/* ------------------------------------------------------------------ */
/* One call                                                              */

enum target { T_DEV, T_SESS, T_CLOSED };

struct call {
	enum target target;
	int fd, sess; /* session slot for T_SESS */
	unsigned long req;
	bool raw;     /* syscall(SYS_ioctl): past the preload library */
	unsigned char *p;
	size_t readable, writable; /* bytes from p */
	const char *where;
	/* what the struct holds, for the command's rules */
	int name_kind;	  /* NAME_* below */
	int fd_kind, mem; /* PRESERVE's fd field: FK_* and, for files we track, m[] index */
	const char *fd_what;
	uint64_t token;
	uint32_t reserved;
};

enum { NAME_FRESH, NAME_LIVE, NAME_REUSED, NAME_EMPTY, NAME_UNTERMINATED, NAME_63, NAME_ODD, NAME_ODD_SHORT };
enum { FK_MEM, FK_OTHER, FK_BADF, FK_SESSION, FK_DEVICE };

/* Bytes that can be written at p for this call (through the alias for the
 * region's read-only page). */
static unsigned char *fill_base(struct worker *w, struct call *c, size_t *room)
{
	if (c->p >= w->r.view && c->p < w->r.view + 3 * pg) {
		*room = (size_t)(w->r.view + 3 * pg - c->p);
		return w->r.alias + (c->p - w->r.view);
	}
	*room = c->readable;
	return c->p;
}

/* The argument pointer and what the memory there allows. */
static void pick_memory(struct worker *w, struct call *c)
{
	unsigned char *v = w->r.view;
	unsigned k = below(w, 100);
	size_t off;
	if (k < 74) {
		/* inside the read-write pages; mostly 8-aligned, sometimes odd */
		off = below(w, (unsigned)(2 * pg - 80));
		if (!chance(w, 20))
			off &= ~(size_t)7;
		c->p = v + off, c->where = "rw";
	} else if (k < 78) {
		c->p = NULL, c->where = "NULL";
	} else if (k < 80) {
		c->p = (unsigned char *)(uintptr_t)(8 + 4096 * below(w, 16)), c->where = "low address";
	} else if (k < 82) {
		c->p = (unsigned char *)(uintptr_t)0xffff888000000000ULL, c->where = "kernel address";
	} else if (k < 85) {
		c->p = w->r.hole + pg, c->where = "unmapped page";
	} else if (k < 89) {
		/* read-write page, then the unmapped page */
		c->p = w->r.hole + pg - 1 - below(w, 100), c->where = "rw straddling an unmapped page";
	} else if (k < 92) {
		/* read-only page, then the PROT_NONE page */
		c->p = v + 3 * pg - 1 - below(w, 100), c->where = "ro straddling a PROT_NONE page";
	} else if (k < 96) {
		/* read-write, then read-only: reads work, the write-back does not */
		c->p = v + 2 * pg - 1 - below(w, 100), c->where = "rw straddling a read-only page";
	} else {
		c->p = v + 2 * pg + below(w, (unsigned)(pg - 80)), c->where = "read-only page";
	}
	uintptr_t p = (uintptr_t)c->p;
	if (p >= (uintptr_t)v && p < (uintptr_t)v + 3 * pg) {
		c->readable = (uintptr_t)v + 3 * pg - p;
		c->writable = p < (uintptr_t)v + 2 * pg ? (uintptr_t)v + 2 * pg - p : 0;
	} else if (p >= (uintptr_t)w->r.hole && p < (uintptr_t)w->r.hole + pg) {
		c->readable = c->writable = (uintptr_t)w->r.hole + pg - p;
	} else {
		c->readable = c->writable = 0;
	}
	/* the unmapped page must still be unmapped (another mmap may have taken
	 * it): mincore fails with ENOMEM exactly for unmapped memory */
	unsigned char vec;
	if (c->where[0] == 'u' && mincore(w->r.hole + pg, pg, &vec) == 0)
		c->p = NULL, c->where = "NULL", c->readable = c->writable = 0;
}

/* The struct's size word. */
static uint32_t pick_size(struct worker *w, uint32_t ksize)
{
	unsigned k = below(w, 100);
	if (k < 45)
		return ksize;
	if (k < 53)
		return 0;
	if (k < 65)
		return 1 + below(w, 256);
	if (k < 72)
		return ksize - 1 - below(w, ksize < 8 ? ksize : 8);
	if (k < 85)
		return ksize + 1 + below(w, 300);
	if (k < 95) {
		static const uint32_t huge[] = { 0xffffffffu, 0x80000000u, 0x10000u, 4096, 8192 };
		return huge[below(w, 5)];
	}
	return (uint32_t)rnd(w);
}

/* A 64-byte name field; sets c->name_kind. */
static void pick_name(struct worker *w, struct call *c, __u8 name[64])
{
	for (int i = 0; i < 64; i++)
		name[i] = (__u8)rnd(w); /* bytes after the NUL are ignored (docs/behaviour.md §4.1) */
	unsigned k = below(w, 100);
	int live = -1;
	for (int i = 0; i < NSESS && live < 0; i++)
		if (w->s[i].fd >= 0 && chance(w, 50))
			live = i;
	if (k < 10 && live >= 0) {
		memcpy(name, w->s[live].name, 64);
		c->name_kind = NAME_LIVE;
	} else if (k < 20 && w->nclosed) {
		memcpy(name, w->closed_names[below(w, w->nclosed < NCLOSED ? w->nclosed : NCLOSED)], 64);
		c->name_kind = NAME_REUSED;
		/* still live under another slot? then it is a duplicate */
		for (int i = 0; i < NSESS; i++)
			if (w->s[i].fd >= 0 && strncmp((char *)w->s[i].name, (char *)name, 64) == 0)
				c->name_kind = NAME_LIVE;
	} else if (k < 25) {
		name[0] = 0;
		c->name_kind = NAME_EMPTY;
	} else if (k < 30) {
		for (int i = 0; i < 64; i++)
			name[i] = (__u8)('A' + i % 26);
		c->name_kind = NAME_UNTERMINATED;
	} else if (k < 36) {
		int n = snprintf((char *)name, 64, "fz%d-%d-%u-", w->id, getpid(), w->seq++);
		memset(name + n, 'x', (size_t)(63 - n));
		name[63] = 0;
		c->name_kind = NAME_63;
	} else if (k < 50) {
		/* any bytes but NUL, 1..63 long */
		int n = 1 + (int)below(w, 63);
		for (int i = 0; i < n; i++)
			name[i] = (__u8)(1 + below(w, 255));
		name[n] = 0;
		c->name_kind = n < 12 ? NAME_ODD_SHORT : NAME_ODD;
		for (int i = 0; i < NSESS; i++)
			if (w->s[i].fd >= 0 && strncmp((char *)w->s[i].name, (char *)name, 64) == 0)
				c->name_kind = NAME_LIVE;
	} else {
		snprintf((char *)name, 64, "fz%d-%d-%u", w->id, getpid(), w->seq++);
		c->name_kind = NAME_FRESH;
	}
}

/* PRESERVE_FD's fd field; sets fd_kind/mem/fd_what. */
static int pick_fd(struct worker *w, struct call *c)
{
	unsigned k = below(w, 100);
	c->mem = -1;
	if (k < 45) {
		int j = (int)below(w, NMEM);
		c->fd_kind = FK_MEM, c->mem = j;
		c->fd_what = j == NMEM - 1 ? "O_TMPFILE tmpfs file" : "memfd";
		if (w->m[j].fd < 0)
			c->fd_kind = FK_BADF; /* could not be made (no /dev/shm?) */
		return w->m[j].fd;
	}
	if (k < 50 && w->ro_fd >= 0) {
		c->fd_kind = FK_MEM, c->mem = 0, c->fd_what = "O_RDONLY reopen of a memfd";
		return w->ro_fd;
	}
	if (k < 80) {
		int o = (int)below(w, NOTHER);
		c->fd_kind = other_fd[o] >= 0 ? FK_OTHER : FK_BADF, c->fd_what = other_name[o];
		return other_fd[o];
	}
	if (k < 86) {
		for (int i = 0; i < NSESS; i++)
			if (w->s[i].fd >= 0 && chance(w, 40)) {
				c->fd_kind = FK_SESSION, c->fd_what = "session fd";
				return w->s[i].fd;
			}
	}
	if (k < 90) {
		c->fd_kind = FK_DEVICE, c->fd_what = "the device fd";
		return dev;
	}
	c->fd_kind = FK_BADF;
	switch (below(w, 4)) {
	case 0: c->fd_what = "closed fd"; return w->closed_fd;
	case 1: c->fd_what = "O_PATH directory"; return opath_fd;
	case 2: c->fd_what = "fd -1"; return -1;
	default: c->fd_what = "fd INT_MIN"; return INT32_MIN;
	}
}

static uint64_t pick_token(struct worker *w, struct sess *s)
{
	unsigned k = below(w, 100);
	if (k < 25 && s && s->ntok)
		return s->tok[below(w, (unsigned)s->ntok)]; /* duplicate */
	if (k < 45)
		return below(w, 8);
	return rnd(w);
}

/* The request value and its struct; returns the struct size to write. */
static size_t pick_request(struct worker *w, struct call *c, unsigned char st[128])
{
	static const unsigned dev_nrs[] = { 0x00, 0x01 };
	static const unsigned sess_nrs[] = { 0x40, 0x41, 0x42, 0x43 };
	/* types the VFS answers itself for a regular file (do_vfs_ioctl,
	 * file_ioctl): 0x00 FIBMAP/FIGETBSZ, 0x15 FS_IOC_GETFSUUID, 'T' FIONREAD
	 * and friends, 'X' FIFREEZE/RESVSP, 'f' GETFLAGS/FIEMAP, 0x94 FICLONE.
	 * They never reach the daemon (README "Differences"), so they are not
	 * the daemon's answers to check. */
	static const unsigned char vfs_types[] = { 0x00, 0x15, 0x54, 0x58, 0x66, 0x94 };
	unsigned k = below(w, 100);
	unsigned nr, type = 0xBA;
	bool on_dev = c->target == T_DEV;

	if (k < 55)
		nr = on_dev ? dev_nrs[k < 45 ? 0 : 1] : sess_nrs[k < 25 ? 0 : k < 45 ? 3 : k < 50 ? 1 : 2];
	else if (k < 63)
		nr = below(w, 256); /* any nr of the LUO type, 0xEF (the envelope) included */
	else if (k < 70)
		nr = on_dev ? sess_nrs[below(w, 4)] : dev_nrs[below(w, 2)]; /* the other fd kind's */
	else if (k < 80)
		nr = on_dev ? dev_nrs[below(w, 2)] : sess_nrs[below(w, 4)];
	else
		nr = on_dev ? dev_nrs[below(w, 2)] : sess_nrs[below(w, 4)];

	c->req = _IO(type, nr);
	if (k >= 70 && k < 80) {
		/* a foreign type with a LUO nr (or a random nr) */
		do
			type = below(w, 256);
		while (type == 0xBA || memchr(vfs_types, (int)type, sizeof vfs_types));
		c->req = _IO(type, chance(w, 70) ? nr : below(w, 256));
	} else if (k >= 80 && k < 92) {
		/* _IOR/_IOW/_IOWR encodings of the LUO nrs */
		unsigned size = chance(w, 50) ? (unsigned[]){ 72, 16, 8, 4 }[below(w, 4)] : below(w, 1u << 14);
		unsigned dir = 1 + below(w, 3); /* _IOC_WRITE 1, _IOC_READ 2, both 3 */
		c->req = _IOC(dir, 0xBA, nr, size);
	} else if (k >= 92) {
		/* the kernel uses only the low 32 bits of the request */
		c->req |= (unsigned long)(1 + below(w, 0xffff)) << 32;
	}

	/* the struct, for the nr the daemon will decode */
	unsigned dnr = _IOC_NR(c->req);
	memset(st, 0, 128);
	for (int i = 0; i < 128; i++)
		if (chance(w, 30))
			st[i] = (unsigned char)rnd(w);
	struct sess *s = c->target == T_SESS ? &w->s[c->sess] : NULL;
	uint32_t size;
	switch (dnr) {
	case 0x00:
	case 0x01: {
		create_t cs = { .size = size = pick_size(w, 72), .fd = (int32_t)rnd(w) };
		pick_name(w, c, cs.name);
		memcpy(st, &cs, sizeof cs);
		return 72;
	}
	case 0x40:
	case 0x41: {
		preserve_t p = { .size = size = pick_size(w, 16) };
		p.fd = dnr == 0x40 ? pick_fd(w, c) : (int32_t)rnd(w);
		p.token = c->token = pick_token(w, s);
		memcpy(st, &p, sizeof p);
		return 16;
	}
	case 0x42:
	case 0x43: {
		get_name_t g = { .size = size = pick_size(w, dnr == 0x42 ? 8 : 72) };
		g.reserved = c->reserved = chance(w, 80) ? 0 : (uint32_t)rnd(w) | 1;
		memcpy(st, &g, dnr == 0x42 ? 8 : 72);
		return dnr == 0x42 ? 8 : 72;
	}
	default:
		size = pick_size(w, 72);
		memcpy(st, &size, 4);
		return 72;
	}
}

/* ------------------------------------------------------------------ */
/* The table: what the spec allows                                       */

struct allowed {
	int e[4]; /* 0 = success */
	int n;
	const char *why;
};

static void allow(struct allowed *a, int e, const char *why)
{
	a->e[a->n++] = e;
	if (why)
		a->why = why;
}

/* docs/behaviour.md §1.2: known (and minimum) struct size per nr and fd kind; 0 = unknown nr. */
static uint32_t ksize_of(enum target t, unsigned nr)
{
	if (t == T_DEV)
		return nr == 0x00 || nr == 0x01 ? 72 : 0;
	switch (nr) {
	case 0x40: case 0x41: return 16;
	case 0x42: return 8;
	case 0x43: return 72; /* [GN-fix]; the daemon runs without --getname-size16 */
	default: return 0;
	}
}

static bool name_valid(const __u8 name[64])
{
	size_t n = strnlen((const char *)name, 64);
	return n > 0 && n < 64; /* docs/behaviour.md §4.1 step 2 */
}

/*
 * Fills a with the results the spec allows for call c whose argument memory
 * holds what is at c->p now. Returns true if the call reaches the command
 * (then *size is the user's size).
 */
static bool expect(const struct call *c, struct allowed *a, uint32_t *size)
{
	unsigned req = (unsigned)c->req; /* the kernel truncates to 32 bits */
	unsigned nr = _IOC_NR(req);
	a->n = 0;
	a->why = "";
	if (c->target == T_CLOSED) {
		allow(a, EBADF, "closed fd: the VFS answers");
		return false;
	}
	/* FUSE fact (docs/fuse.md §2): for a request with _IOC_WRITE and a
	 * size, the kernel's FUSE copies that many bytes in BEFORE the daemon
	 * sees the request, so an unreadable range is EFAULT whatever the nr.
	 * (A kernel LUO device would say EINVAL for an unknown nr first.) */
	if ((_IOC_DIR(req) & _IOC_WRITE) && _IOC_SIZE(req) > c->readable) {
		allow(a, EFAULT, "FUSE copies _IOW data before the daemon");
		return false;
	}
	uint32_t ksize = ksize_of(c->target, nr);
	if (!ksize) {
		allow(a, EINVAL, "docs/behaviour.md §2.1 step 1, §2.2 step 1: nr out of range");
		return false;
	}
	if (c->readable < 4) {
		allow(a, EFAULT, "docs/behaviour.md §2.1 step 2: size word unreadable");
		return false;
	}
	if (req != _IO(0xBA, nr)) {
		allow(a, ENOTTY, "docs/behaviour.md §2.1 step 3: not the exact _IO request");
		return false;
	}
	if (c->target == T_SESS && (nr == 0x41 || nr == 0x42)) {
		allow(a, EINVAL, "docs/behaviour.md §2.2 step 4: incoming-only request on an outgoing session");
		return false;
	}
	uint32_t us;
	memcpy(&us, c->p, 4);
	if (us < ksize) {
		allow(a, EINVAL, "docs/behaviour.md §2.1 step 4, §2.2 step 5: size < minimum");
		return false;
	}
	if (us > ksize) {
		/* copy_struct_from_user: tail scan before the copy */
		size_t end = us < c->readable ? us : c->readable;
		for (size_t i = ksize; i < end; i++)
			if (c->p[i]) {
				allow(a, E2BIG, "docs/behaviour.md §2.1 step 5: non-zero tail byte");
				return false;
			}
		if (us > c->readable) {
			allow(a, EFAULT, "docs/behaviour.md §2.1 step 5: zero tail runs into unreadable memory");
			return false;
		}
	}
	if (c->readable < ksize) {
		allow(a, EFAULT, "docs/behaviour.md §2.1 step 5: struct not readable");
		return false;
	}
	*size = us;
	return true;
}

/* The command (docs/behaviour.md §4) from the tracked state; also the write-back (§2.1 step 6). */
static void expect_command(struct worker *w, const struct call *c, uint32_t us, struct allowed *a)
{
	unsigned nr = _IOC_NR((unsigned)c->req);
	uint32_t wb = us < ksize_of(c->target, nr) ? us : ksize_of(c->target, nr);
	bool wb_fails = wb > c->writable;
	const __u8 *name = c->p + 8;

	switch (nr) {
	case 0x00: /* CREATE_SESSION docs/behaviour.md §4.1 */
		if (c->raw) {
			allow(a, EOPNOTSUPP, "design: no library, fd reservation fails (after decoding)");
		} else if (!name_valid(name)) {
			allow(a, EINVAL, "docs/behaviour.md §4.1 step 2: empty or unterminated name");
		} else if (c->name_kind == NAME_LIVE) {
			allow(a, EEXIST, "docs/behaviour.md §4.1 step 5: duplicate outgoing name");
		} else {
			allow(a, wb_fails ? EFAULT : 0, wb_fails ? "docs/behaviour.md §4.1 step 7: write-back fails" : "§4.1");
			/* a short random name may be another worker's live name */
			if (c->name_kind == NAME_ODD_SHORT)
				allow(a, EEXIST, NULL);
		}
		break;
	case 0x01: /* RETRIEVE_SESSION docs/behaviour.md §4.2: a fresh mount has no incoming sessions */
		allow(a, c->raw ? EOPNOTSUPP : ENOENT, "docs/behaviour.md §4.2 step 3: no incoming session of that name");
		break;
	case 0x40: { /* PRESERVE_FD docs/behaviour.md §4.3 */
		struct sess *s = &w->s[c->sess];
		for (int i = 0; i < s->ntok; i++)
			if (s->tok[i] == c->token) {
				allow(a, EEXIST, "docs/behaviour.md §4.3 step 2: token used in this session");
				return;
			}
		switch (c->fd_kind) {
		case FK_BADF: allow(a, EBADF, "docs/behaviour.md §4.3 step 4: not an open fd"); break;
		case FK_OTHER:
		case FK_SESSION:
		case FK_DEVICE: allow(a, ENOENT, "docs/behaviour.md §4.3 step 5: not a memfd/unlinked shmem file"); break;
		case FK_MEM:
			if (w->m[c->mem].preserved_in >= 0)
				allow(a, EBUSY, "docs/behaviour.md §4.3 step 6: file already preserved");
			else
				allow(a, wb_fails ? EFAULT : 0, wb_fails ? "docs/behaviour.md §4.3 step 10: write-back fails (still preserved)" : "§4.3");
			break;
		}
		break;
	}
	case 0x43: /* GET_NAME docs/behaviour.md §4.6 */
		if (c->reserved)
			allow(a, EINVAL, "docs/behaviour.md §4.6 step 2: reserved != 0");
		else
			allow(a, wb_fails ? EFAULT : 0, wb_fails ? "docs/behaviour.md §4.6 step 4: write-back fails" : "§4.6");
		break;
	}
}

/* ------------------------------------------------------------------ */

static void describe(const struct call *c, uint32_t size, char *buf, size_t n)
{
	snprintf(buf, n, "%s fd, request 0x%lx%s, arg %p (%s), size word %u%s%s, token 0x%llx, reserved %u",
		 c->target == T_DEV ? "device" : c->target == T_SESS ? "session" : "closed", c->req,
		 c->raw ? " (raw syscall)" : "", (void *)c->p, c->where, size,
		 c->fd_what ? ", fd field: " : "", c->fd_what ? c->fd_what : "", (unsigned long long)c->token,
		 c->reserved);
}

static void record(int cls, int rc_errno)
{
	atomic_fetch_add(&sh->calls[cls], 1);
	atomic_fetch_add(&sh->by_errno[rc_errno < ERRNO_SLOTS - 1 ? rc_errno : ERRNO_SLOTS - 1], 1);
}

/* A session slot to create into, closing one if all are taken. */
static int free_slot(struct worker *w)
{
	for (int i = 0; i < NSESS; i++)
		if (w->s[i].fd < 0)
			return i;
	int i = (int)below(w, NSESS);
	close_session(w, i);
	return i;
}

static void one_call(struct worker *w)
{
	struct call c = { .fd_kind = -1 };
	unsigned char st[128];
	char what[200];
	int live = 0;
	for (int i = 0; i < NSESS; i++)
		live += w->s[i].fd >= 0;

	unsigned k = below(w, 100);
	if (k < 35 || !live) {
		c.target = T_DEV, c.fd = dev;
	} else if (k < 98) {
		c.target = T_SESS;
		do
			c.sess = (int)below(w, NSESS);
		while (w->s[c.sess].fd < 0);
		c.fd = w->s[c.sess].fd;
	} else {
		c.target = T_CLOSED, c.fd = w->closed_fd;
	}
	c.raw = chance(w, 10);
	size_t slen = pick_request(w, &c, st);
	pick_memory(w, &c);

	/* put the struct and its tail in place */
	size_t room;
	unsigned char *base = fill_base(w, &c, &room);
	if (room) {
		size_t n = slen < room ? slen : room;
		memcpy(base, st, n);
		/* tail: zero up to the end of readable memory (so large sizes
		 * get past E2BIG), sometimes with one non-zero byte */
		if (room > n) {
			size_t tail = room - n;
			if (chance(w, 60))
				memset(base + n, 0, tail);
			if (chance(w, 25)) {
				size_t at = n + below(w, (unsigned)(tail < 400 ? tail : 400));
				base[at] = (unsigned char)(1 + below(w, 255));
			}
		}
	}

	struct allowed a;
	uint32_t us = 0;
	bool reached = expect(&c, &a, &us);
	if (reached)
		expect_command(w, &c, us, &a);
	if (c.readable >= 4)
		memcpy(&us, c.p, 4);

	int cls = c.target == T_DEV ? w->cls_dev : c.target == T_SESS ? w->cls_sess : (w->id < 0 ? CL_KILL : CL_CLOSED);
	if (w->id >= 0) {
		describe(&c, us, sh->busy[w->id].what, sizeof sh->busy[w->id].what);
		atomic_store(&sh->busy[w->id].started_ns, now_ns());
	}
	long rc = c.raw ? syscall(SYS_ioctl, c.fd, c.req, c.p) : ioctl(c.fd, c.req, c.p);
	int e = rc < 0 ? errno : 0;
	if (w->id >= 0)
		atomic_store(&sh->busy[w->id].started_ns, 0);

	record(cls, e);
	bool ok = false;
	for (int i = 0; i < a.n; i++)
		ok |= a.e[i] == e;
	if (e == EIO || e >= 512) {
		atomic_fetch_add(&sh->eio_or_huge, 1);
		ok = false;
	}
	if (!ok) {
		describe(&c, us, what, sizeof what);
		violation(cls, "%s: got %s (%d), allowed %s%s%s%s%s (%s)", what, e ? tap_errname(e) : "success", e,
			  a.e[0] ? tap_errname(a.e[0]) : "success", a.n > 1 ? "/" : "",
			  a.n > 1 ? (a.e[1] ? tap_errname(a.e[1]) : "success") : "", a.n > 2 ? "/" : "",
			  a.n > 2 ? (a.e[2] ? tap_errname(a.e[2]) : "success") : "", a.why);
	}

	/* follow the state from what actually happened */
	unsigned nr = _IOC_NR((unsigned)c.req);
	if (!reached)
		return; /* stopped in decoding: no state changed */
	if (c.target == T_DEV && nr == 0x00 && !c.raw) {
		create_t back;
		if (e == 0) {
			memcpy(&back, c.p, sizeof back);
			int fd = back.fd;
			char got[64];
			bool named = fd >= 0 && lu_get_name(fd, got) == 0 &&
				     strncmp(got, (char *)c.p + 8, 64) == 0;
			bool cloexec = fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
			if (!named || !cloexec || back.size != us)
				violation(cls, "CREATE_SESSION succeeded but fd %d: GET_NAME %s, FD_CLOEXEC %s, size word %u (sent %u)",
					  fd, named ? "matches" : "does NOT match", cloexec ? "set" : "NOT set", back.size, us);
			if (fd >= 0) {
				int i = free_slot(w);
				w->s[i].fd = fd;
				memcpy(w->s[i].name, c.p + 8, 64);
				w->s[i].ntok = 0;
			}
		} else if (e == EFAULT && name_valid(c.p + 8)) {
			/* docs/behaviour.md §4.1 step 7: the write-back failed, nothing was created, the name is free */
			memcpy(w->closed_names[w->nclosed++ % NCLOSED], c.p + 8, 64);
		}
	} else if (c.target == T_SESS && nr == 0x40 && (e == 0 || e == EFAULT)) {
		/* preserved; after decoding, EFAULT can only be the write-back,
		 * which leaves the file preserved (docs/behaviour.md §4.3 step 10) */
		struct sess *s = &w->s[c.sess];
		if (s->ntok < MAX_TOK)
			s->tok[s->ntok++] = c.token;
		if (c.mem >= 0)
			w->m[c.mem].preserved_in = c.sess;
		if (s->ntok == MAX_TOK)
			close_session(w, c.sess);
	} else if (c.target == T_SESS && nr == 0x43 && e == 0) {
		if (strncmp((char *)c.p + 8, (char *)w->s[c.sess].name, 64) != 0)
			violation(cls, "GET_NAME succeeded but returned another name than the session's");
	}
}

/* Occasional changes of state between calls. */
static void churn(struct worker *w)
{
	unsigned k = below(w, 1000);
	if (k < 15) {
		close_session(w, (int)below(w, NSESS)); /* then its name may be reused */
	} else if (k < 25) {
		/* drop our fd of a file (still preserved if it was: the session holds it) */
		int j = (int)below(w, NMEM);
		close_if(w->m[j].fd);
		new_memfd(w, j);
	} else if (k < 28 && w->id >= 0) {
		/* docs/behaviour.md §3: single open; the parent holds the device all along */
		int fd = lu_open_device(O_RDWR);
		record(CL_OTHER, fd < 0 ? -fd : 0);
		if (fd != -EBUSY)
			violation(CL_OTHER, "open(device) while the parent holds it: got %s, allowed EBUSY",
				  fd >= 0 ? "success" : tap_errname(-fd));
		close_if(fd);
	}
}

/* ------------------------------------------------------------------ */
/* Processes                                                             */

static void open_others(void)
{
	int p[2] = { -1, -1 };
	if (pipe2(p, O_CLOEXEC) < 0)
		p[0] = p[1] = -1;
	other_fd[OT_PIPE_R] = p[0];
	other_fd[OT_PIPE_W] = p[1];
	other_fd[OT_UNIX] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	other_fd[OT_UDP] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(disk_path, sizeof disk_path, "/var/tmp/luo-fuzz-%d", getpid());
	other_fd[OT_DISK] = open(disk_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	unlink(disk_path); /* an unlinked disk file: still not shmem */
	other_fd[OT_DIR] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	other_fd[OT_EVENTFD] = eventfd(0, EFD_CLOEXEC);
	other_fd[OT_EPOLL] = epoll_create1(EPOLL_CLOEXEC);
	other_fd[OT_NULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
	snprintf(shm_path, sizeof shm_path, "/dev/shm/luo-fuzz-%d", getpid());
	other_fd[OT_SHM_LINKED] = open(shm_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* linked: docs/behaviour.md §8.1 no */
	other_fd[OT_HUGETLB] = memfd_create("fuzz-huge", MFD_HUGETLB | MFD_CLOEXEC); /* -1 if unavailable */
	opath_fd = open("/", O_PATH | O_CLOEXEC);
}

static void close_others(void)
{
	for (int i = 0; i < NOTHER; i++)
		close_if(other_fd[i]);
	close_if(opath_fd);
	unlink(shm_path);
}

struct thread_arg {
	int id;
	uint64_t seed;
	long calls;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	struct worker *w = malloc(sizeof *w);
	worker_init(w, t->id, t->seed);
	for (long i = 0; i < t->calls; i++) {
		one_call(w);
		churn(w);
	}
	worker_fini(w);
	free(w);
	return NULL;
}

static _Noreturn void worker_process(int proc, uint64_t seed, long calls, unsigned budget)
{
	alarm(budget); /* backstop; the parent's watchdog reports hangs first */
	open_others();
	pthread_t th[NTHREAD];
	struct thread_arg ta[NTHREAD];
	for (int i = 0; i < NTHREAD; i++) {
		ta[i] = (struct thread_arg){ .id = proc * NTHREAD + i, .seed = seed, .calls = calls };
		if (pthread_create(&th[i], NULL, thread_main, &ta[i]) != 0)
			_exit(3);
	}
	for (int i = 0; i < NTHREAD; i++)
		pthread_join(th[i], NULL);
	close_others();
	_exit(0);
}

/* A child killed at a random moment: the same loop, forever. It says on
 * `ready` when its set-up is done, so the kill lands among its requests. */
static _Noreturn void doomed_child(uint64_t seed, int ready)
{
	struct worker *w = malloc(sizeof *w);
	worker_init(w, -1, seed);
	one_call(w); /* the library's first-call set-up, not worth a kill */
	if (write(ready, "r", 1) != 1)
		_exit(5);
	close(ready);
	for (;;) {
		one_call(w);
		churn(w);
	}
}

static _Noreturn void killer_process(uint64_t seed, int rounds, unsigned budget)
{
	alarm(budget);
	open_others();
	struct worker rng = { .rng = seed ^ 0xD1B54A32D192ED03ULL };
	for (int r = 0; r < rounds; r++) {
		int ready[2];
		if (pipe2(ready, O_CLOEXEC) < 0)
			_exit(4);
		pid_t pid = fork();
		if (pid < 0)
			_exit(4);
		if (pid == 0) {
			close(ready[0]);
			doomed_child(seed + (uint64_t)r, ready[1]);
		}
		close(ready[1]);
		char b;
		if (read(ready[0], &b, 1) != 1)
			atomic_fetch_add(&sh->kill_unreaped, 1); /* died during set-up */
		close(ready[0]);
		/* a few random milliseconds: several requests, the kill in one */
		struct timespec d = { 0, (long)(1 + below(&rng, 20)) * 1000000L };
		nanosleep(&d, NULL);
		snprintf(sh->busy[KILLER_SLOT].what, sizeof sh->busy[KILLER_SLOT].what,
			 "waitpid of child %d after SIGKILL (stuck in a request?)", pid);
		atomic_store(&sh->busy[KILLER_SLOT].started_ns, now_ns());
		kill(pid, SIGKILL);
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
			atomic_fetch_add(&sh->kill_unreaped, 1); /* exited on its own */
		atomic_store(&sh->busy[KILLER_SLOT].started_ns, 0);
		atomic_fetch_add(&sh->kills, 1);
	}
	close_others();
	_exit(0);
}

/* ------------------------------------------------------------------ */

/* The small valid sequence: device, create, preserve, get_name, close. */
static int sanity(void)
{
	int d = lu_open_device_or_die();
	char name[64];
	snprintf(name, sizeof name, "fuzz-sanity-%d", getpid());
	int s = lu_create(d, name);
	check_rc(s, 0, "4.1", "CREATE_SESSION works");
	int m = lu_memfd("fuzz-sanity", MFD_CLOEXEC, 4096);
	check_rc(s < 0 || m < 0 ? -EINVAL : lu_preserve(s, m, 1), 0, "4.3", "PRESERVE_FD of a memfd works");
	check(s >= 0 && lu_name_is(s, name), "4.6", "GET_NAME returns the name");
	check_rc(lu_retrieve(d, "fuzz-no-such-session"), ENOENT, "4.2", "RETRIEVE_SESSION of an unknown name -> ENOENT");
	close_if(s);
	close_if(m);
	close(d);
	s = lu_open_device(O_RDWR);
	check_rc(s, 0, "3", "the device opens again after close");
	close_if(s);
	return tap_done();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "short";
	pg = lu_page();
	device_path = lu_device_path();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "sanity") == 0)
		return sanity();
	long total;
	int rounds;
	unsigned budget;
	if (strcmp(mode, "short") == 0)
		total = 20000, rounds = 40, budget = 120;
	else if (strcmp(mode, "long") == 0)
		total = 1000000, rounds = 1500, budget = 3600;
	else {
		fprintf(stderr, "usage: %s short|long|sanity [SEED]\n", argv[0]);
		return 2;
	}
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
	tap_note("luo_fuzz %s: %ld calls in %d processes x %d threads, %d SIGKILLed children, seed %llu", mode, total,
		 NPROC, NTHREAD, rounds, (unsigned long long)seed);
	lu_raise_nofile(8192);

	open_others(); /* only to say what this machine lacks */
	for (int i = 0; i < NOTHER; i++)
		if (other_fd[i] < 0)
			tap_note("no %s here (%s): that fd kind is tested as a bad fd", other_name[i],
				 i == OT_HUGETLB ? "no hugetlbfs" : "open failed");
	close_others();

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		tap_fatal("fuzz", strerror(errno), "shared memory");
	dev = lu_open_device_or_die();

	long long t0 = now_ns();
	pid_t pids[NPROC + 1];
	for (int i = 0; i <= NPROC; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			tap_fatal("fuzz", strerror(errno), "fork");
		if (pids[i] == 0) {
			if (i == NPROC)
				killer_process(seed, rounds, budget);
			worker_process(i, seed, total / NWORKERS, budget);
		}
	}

	/* Watchdog: every call must be answered within HANG_SECONDS. */
	int running = NPROC + 1, bad_exit = 0, hung = -1;
	char hang_what[200] = "";
	unsigned long shown = 0;
	while (running > 0) {
		/* progress for the long mode, every 10% */
		unsigned long done = atomic_load(&sh->calls[CL_DEV]) + atomic_load(&sh->calls[CL_SESS]) +
				     atomic_load(&sh->calls[CL_CLOSED]);
		if (total >= 100000 && done >= shown + (unsigned long)total / 10) {
			shown = done - done % ((unsigned long)total / 10);
			tap_note("progress: %lu calls, %.0f s", shown, (double)(now_ns() - t0) / 1e9);
		}
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				bad_exit++;
				tap_note("worker %d ended with %s %d", pid, WIFEXITED(status) ? "status" : "signal",
					 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			}
			continue;
		}
		for (int i = 0; i <= NWORKERS && hung < 0; i++) {
			long long s = atomic_load(&sh->busy[i].started_ns);
			if (s && now_ns() - s > HANG_SECONDS * 1000000000LL) {
				hung = i;
				memcpy(hang_what, sh->busy[i].what, sizeof hang_what);
				hang_what[sizeof hang_what - 1] = 0;
			}
		}
		if (hung >= 0) {
			for (int i = 0; i <= NPROC; i++)
				kill(pids[i], SIGKILL);
			sleep(1);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			break;
		}
		struct timespec d = { 0, 20000000L };
		nanosleep(&d, NULL);
	}
	double secs = (double)(now_ns() - t0) / 1e9;

	char why[400];
	snprintf(why, sizeof why, "no answer for %d s to: %s", HANG_SECONDS, hang_what);
	check_why(hung < 0, why, "fuzz", "every request got an answer within %d s", HANG_SECONDS);
	check_why(bad_exit == 0, "see the notes above", "fuzz", "every worker process finished normally");

	unsigned long calls = 0;
	for (int c = 0; c < NCLASS; c++) {
		unsigned long n = atomic_load(&sh->calls[c]), b = atomic_load(&sh->bad[c]);
		calls += c == CL_KILL || c == CL_OTHER ? 0 : n;
		snprintf(why, sizeof why, "%lu results outside the allowed set (see the notes)", b);
		check_why(b == 0, why, class_label[c], "%s: %lu calls, every result allowed by the spec", class_what[c], n);
	}
	unsigned long eio = atomic_load(&sh->eio_or_huge);
	snprintf(why, sizeof why, "%lu answers were EIO or an errno >= 512", eio);
	check_why(eio == 0, why, "fuse", "no EIO and no errno >= 512 in any answer");
	unsigned long kills = atomic_load(&sh->kills), unreaped = atomic_load(&sh->kill_unreaped);
	snprintf(why, sizeof why, "%lu of them were not killed by the signal (did their set-up fail?)", unreaped);
	check_why(kills == (unsigned long)rounds && unreaped == 0, why, "design",
		  "%lu children SIGKILLed in the middle of their requests, all reaped", kills);

	unsigned nv = atomic_load(&sh->nviol);
	for (unsigned i = 0; i < nv && i < MAX_VIOL; i++)
		tap_note("violation: %s", sh->viol[i]);
	if (nv > MAX_VIOL)
		tap_note("... and %u more violations", nv - MAX_VIOL);

	/* docs/behaviour.md §3: every copy is gone (workers and children exited): open works */
	close(dev);
	int again = lu_open_device(O_RDWR);
	check_rc(again, 0, "3", "after the run, with every copy closed, the device opens again");
	close_if(again);

	char hist[2048];
	size_t at = 0;
	for (int e = 0; e < ERRNO_SLOTS; e++) {
		unsigned long n = atomic_load(&sh->by_errno[e]);
		if (n && at < sizeof hist - 64)
			at += (size_t)snprintf(hist + at, sizeof hist - at, " %s=%lu",
					       e == 0 ? "OK" : e == ERRNO_SLOTS - 1 ? ">=512" : tap_errname(e), n);
	}
	printf("# summary: mode=%s calls=%lu killed_children=%lu child_calls=%lu seconds=%.1f rate=%.0f/s by_errno:%s\n",
	       mode, calls, kills, atomic_load(&sh->calls[CL_KILL]), secs, calls / (secs > 0 ? secs : 1), hist);
	return tap_done();
}
