/*
 * decode_test - request decoding and the extensible-struct rules
 * (docs/behaviour.md §2.1, §2.2, §2.3, §6).
 *
 * Kernel order on the device:  nr (EINVAL) -> read size word (EFAULT) ->
 * full request (ENOTTY) -> size < min (EINVAL) -> tail zero (E2BIG/EFAULT)
 * -> copy (EFAULT) -> command -> write-back of min(size, sizeof) (EFAULT).
 * Session fds add the session-kind check (EINVAL) right before the size
 * check. Each ordering is tested by a case that has two faults at once.
 *
 * FIONREAD is deliberately not tested: the VFS answers it for the regular
 * file that FUSE serves (a documented difference from the kernel's device).
 */
#include <termios.h>

#include "luo.h"
#include "tap.h"

#define SESSION "decode-session"
#define SCRATCH "decode-scratch" /* every failing CREATE uses this name */

typedef struct liveupdate_ioctl_create_session create_t;
typedef struct liveupdate_ioctl_retrieve_session retrieve_t;
typedef struct liveupdate_session_preserve_fd preserve_t;
typedef struct liveupdate_session_retrieve_fd retrieve_fd_t;
typedef struct liveupdate_session_finish finish_t;
typedef struct liveupdate_session_get_name get_name_t;

static size_t pg;

/* Writes a struct's leading size word at p (p is 4-aligned). */
static void put_size(unsigned char *p, __u32 size)
{
	memcpy(p, &size, sizeof size);
}

/* A create struct for SCRATCH laid out at p. */
static void put_create(unsigned char *p, __u32 size)
{
	create_t c = { .size = size, .fd = -1 };
	lu_fill_name(c.name, SCRATCH);
	memcpy(p, &c, sizeof c);
}

static void test_device_nr(int dev)
{
	create_t c = { .size = sizeof c };
	lu_fill_name(c.name, SCRATCH);
	check_rc(lu_ioctl(dev, _IO(0xBA, 0x02), &c), EINVAL, "2.1", "device: nr 0x02 -> EINVAL");
	check_rc(lu_ioctl(dev, _IO(0xBA, 0x40), &c), EINVAL, "2.1", "device: session request 0xBA40 -> EINVAL");
	check_rc(lu_ioctl(dev, _IO(0xBA, 0x43), &c), EINVAL, "2.1", "device: session request 0xBA43 -> EINVAL");
	check_rc(lu_ioctl(dev, _IO(0xBA, 0xFF), &c), EINVAL, "2.1", "device: nr 0xFF -> EINVAL");
	check_rc(lu_ioctl(dev, _IO(0xBB, 0x02), &c), EINVAL, "2.1", "device: nr 0x02 with type 0xBB -> EINVAL (type not looked at yet)");
	check_rc(lu_ioctl(dev, _IO(0xBA, 0x02), NULL), EINVAL, "2.1", "device: nr 0x02 with NULL -> EINVAL (nr checked before memory)");
	check_rc(lu_ioctl(dev, _IO(0xBA, 0x40), NULL), EINVAL, "2.1", "device: 0xBA40 with NULL -> EINVAL");
}

static void test_device_fault(int dev)
{
	unsigned char *m = lu_map_with_hole(1);
	if (!m)
		tap_fatal("2.1", strerror(errno), "mmap");
	unsigned char *hole = m + pg;

	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, NULL), EFAULT, "2.1", "CREATE_SESSION with NULL -> EFAULT");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, NULL), EFAULT, "2.1", "RETRIEVE_SESSION with NULL -> EFAULT");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, (void *)8), EFAULT, "2.1", "CREATE_SESSION with (void *)8 -> EFAULT");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, hole), EFAULT, "2.1", "CREATE_SESSION with an unmapped page -> EFAULT");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, hole), EFAULT, "2.1", "RETRIEVE_SESSION with an unmapped page -> EFAULT");

	/* size word readable, the rest of the struct is not */
	put_size(hole - 4, sizeof(create_t));
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, hole - 4), EFAULT, "2.1",
		 "CREATE_SESSION whose size word ends at an unmapped page -> EFAULT");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, hole - 4), EFAULT, "2.1",
		 "RETRIEVE_SESSION whose size word ends at an unmapped page -> EFAULT");

	/* size < min wins over the unreadable rest (size check before copy) */
	put_size(hole - 4, 8);
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, hole - 4), EINVAL, "2.1",
		 "CREATE_SESSION size 8 at an unmapped boundary -> EINVAL (size check before copy)");

	/* step 2 before step 3: a foreign request with nr 0 reads the size word first */
	check_rc(lu_ioctl(dev, _IO(0xBB, 0x00), NULL), EFAULT, "2.1", "device: _IO(0xBB, 0) with NULL -> EFAULT (memory read before the request compare)");
	check_rc(lu_ioctl(dev, TCGETS, NULL), EFAULT, "2.1", "device: TCGETS (nr 1) with NULL -> EFAULT");
	lu_unmap(m, 1);
}

static void test_device_request(int dev)
{
	create_t c = { .size = sizeof c };
	lu_fill_name(c.name, SCRATCH);
	struct termios tio;
	memset(&tio, 0, sizeof tio);
	tio.c_iflag = sizeof(create_t); /* a plausible size word */

	check_rc(lu_ioctl(dev, _IOWR(0xBA, 0x00, create_t), &c), ENOTTY, "2.1", "device: _IOWR(0xBA, 0, create struct) -> ENOTTY");
	check_rc(lu_ioctl(dev, _IOR(0xBA, 0x01, retrieve_t), &c), ENOTTY, "2.1", "device: _IOR(0xBA, 1, retrieve struct) -> ENOTTY");
	check_rc(lu_ioctl(dev, _IO(0xBB, 0x00), &c), ENOTTY, "2.1", "device: _IO(0xBB, 0) -> ENOTTY");
	check_rc(lu_ioctl(dev, _IO(0xBB, 0x01), &c), ENOTTY, "2.1", "device: _IO(0xBB, 1) -> ENOTTY");
	check_rc(lu_ioctl(dev, TCGETS, &tio), ENOTTY, "2.1", "device: TCGETS (0x5401) with a good pointer -> ENOTTY");

	create_t small = { .size = 0 };
	check_rc(lu_ioctl(dev, _IO(0xBB, 0x00), &small), ENOTTY, "2.1", "device: _IO(0xBB, 0) with size 0 -> ENOTTY (request checked before size)");
}

static void test_device_size(int dev)
{
	static const __u32 too_small[] = { 0, 1, 71 };
	for (size_t i = 0; i < sizeof too_small / sizeof too_small[0]; i++) {
		create_t c = { .size = too_small[i], .fd = -1 };
		lu_fill_name(c.name, SCRATCH);
		check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &c), EINVAL, "2.1",
			 "CREATE_SESSION with size %u -> EINVAL", too_small[i]);
	}
	retrieve_t r = { .size = 71 };
	lu_fill_name(r.name, SCRATCH);
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r), EINVAL, "2.1", "RETRIEVE_SESSION with size 71 -> EINVAL");
	r.size = 0;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &r), EINVAL, "2.1", "RETRIEVE_SESSION with size 0 -> EINVAL");

	/* larger than sizeof: tail must be zero */
	unsigned char big[4096];
	memset(big, 0, sizeof big);
	put_create(big, 100);
	big[72] = 1;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big), E2BIG, "2.1", "CREATE_SESSION size 100, byte 72 non-zero -> E2BIG");
	big[72] = 0;
	big[99] = 0x80;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big), E2BIG, "2.1", "CREATE_SESSION size 100, byte 99 non-zero -> E2BIG");
	big[99] = 0;
	big[100] = 1; /* past size: not looked at */
	int fd = lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big);
	create_t back;
	memcpy(&back, big, sizeof back);
	check_rc(fd < 0 ? fd : back.fd, 0, "2.1", "CREATE_SESSION size 100 with zero tail (byte 100 non-zero, beyond size) works");
	check(fd >= 0 && back.size == 100 && big[100] == 1, "2.1", "the size word is written back unchanged (100)");
	if (fd >= 0)
		close(back.fd);
	big[100] = 0;

	retrieve_t *rb = (retrieve_t *)big;
	memset(big, 0, sizeof big);
	rb->size = 100;
	lu_fill_name(rb->name, SCRATCH);
	big[80] = 7;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, big), E2BIG, "2.1",
		 "RETRIEVE_SESSION size 100, non-zero tail -> E2BIG (before the name lookup)");

	static const __u32 odd[] = { 73, 80, 4096 };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		memset(big, 0, sizeof big);
		put_create(big, odd[i]);
		int rc = lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big);
		memcpy(&back, big, sizeof back);
		check_rc(rc < 0 ? rc : back.fd, 0, "2.1", "size need not equal sizeof: CREATE_SESSION with size %u and zero tail works",
			 odd[i]);
		if (rc >= 0)
			close(back.fd);
	}
}

static void test_device_tail_faults(int dev)
{
	unsigned char *m = lu_map_with_hole(2);
	if (!m)
		tap_fatal("2.1", strerror(errno), "mmap");
	unsigned char *hole = m + 2 * pg;

	/* 72 bytes of struct, 28 zero bytes, then the unmapped page */
	unsigned char *p = hole - 100;
	memset(m, 0, 2 * pg);
	put_create(p, 200);
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, p), EFAULT, "2.1",
		 "CREATE_SESSION size 200, zero tail running into an unmapped page -> EFAULT");
	p[90] = 1;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, p), E2BIG, "2.1",
		 "CREATE_SESSION size 200, non-zero byte before the unmapped page -> E2BIG");

	memset(m, 0, 2 * pg);
	put_create(m, 0xFFFFFFFFu);
	m[80] = 1;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, m), E2BIG, "2.1",
		 "CREATE_SESSION size 0xFFFFFFFF with a non-zero byte at 80 -> E2BIG");
	m[80] = 0;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, m), EFAULT, "2.1",
		 "CREATE_SESSION size 0xFFFFFFFF, zeros up to an unmapped page -> EFAULT");
	lu_unmap(m, 2);
}

static void test_device_writeback(int dev)
{
	/* struct ends where a read-only page of zeros begins; size 100 */
	unsigned char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		tap_fatal("2.1", strerror(errno), "mmap");
	unsigned char *p = m + pg - sizeof(create_t);
	put_create(p, 100);
	mprotect(m + pg, pg, PROT_READ);
	int rc = lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, p);
	create_t back;
	memcpy(&back, p, sizeof back);
	check_rc(rc < 0 ? rc : back.fd, 0, "2.1",
		 "CREATE_SESSION size 100 writes back only 72 bytes (tail is on a read-only page)");
	if (rc >= 0)
		close(back.fd);

	/* whole struct read-only: command runs, write-back fails, nothing is left */
	put_create(p, sizeof(create_t));
	mprotect(m, 2 * pg, PROT_READ);
	int fds_before = lu_count_fds();
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, p), EFAULT, "4.1",
		 "CREATE_SESSION with a read-only struct -> EFAULT (write-back fails)");
	check(lu_count_fds() == fds_before, "4.1", "the failed write-back leaves no new fd in the caller");

	retrieve_t *r = (retrieve_t *)p; /* same layout; name SCRATCH is not incoming */
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, r), ENOENT, "4.2",
		 "RETRIEVE_SESSION unknown name with a read-only struct -> ENOENT (lookup before write-back)");
	munmap(m, 2 * pg);

	int s = lu_create(dev, SCRATCH);
	check_rc(s, 0, "4.1", "no failed CREATE_SESSION above left a session behind (name is free)");
	close_if(s);
}

static void test_session_nr(int s)
{
	get_name_t g = { .size = sizeof g };
	check_rc(lu_ioctl(s, _IO(0xBA, 0x00), &g), EINVAL, "2.2", "session: 0xBA00 (CREATE) -> EINVAL");
	check_rc(lu_ioctl(s, _IO(0xBA, 0x01), &g), EINVAL, "2.2", "session: 0xBA01 (RETRIEVE) -> EINVAL");
	check_rc(lu_ioctl(s, _IO(0xBA, 0x3F), &g), EINVAL, "2.2", "session: nr 0x3F -> EINVAL");
	check_rc(lu_ioctl(s, _IO(0xBA, 0x44), &g), EINVAL, "2.2", "session: nr 0x44 -> EINVAL");
	check_rc(lu_ioctl(s, _IO(0xBA, 0xFF), &g), EINVAL, "2.2", "session: nr 0xFF -> EINVAL");
	check_rc(lu_ioctl(s, _IO(0xBA, 0x00), NULL), EINVAL, "2.2", "session: 0xBA00 with NULL -> EINVAL (nr checked before memory)");
	check_rc(lu_ioctl(s, _IO(0xBA, 0x44), NULL), EINVAL, "2.2", "session: nr 0x44 with NULL -> EINVAL");
	check_rc(lu_ioctl(s, TCGETS, NULL), EINVAL, "2.2", "session: TCGETS (nr 1) with NULL -> EINVAL");
}

static void test_session_fault(int s)
{
	unsigned char *m = lu_map_with_hole(1);
	if (!m)
		tap_fatal("2.2", strerror(errno), "mmap");
	unsigned char *hole = m + pg;

	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, NULL), EFAULT, "2.2", "PRESERVE_FD with NULL -> EFAULT");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, NULL), EFAULT, "2.2", "GET_NAME with NULL -> EFAULT");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, NULL), EFAULT, "2.2", "RETRIEVE_FD with NULL -> EFAULT (size read before the kind check)");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, NULL), EFAULT, "2.2", "FINISH with NULL -> EFAULT (size read before the kind check)");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, hole), EFAULT, "2.2", "GET_NAME with an unmapped page -> EFAULT");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, hole), EFAULT, "2.2", "PRESERVE_FD with an unmapped page -> EFAULT");

	put_size(hole - 4, sizeof(get_name_t));
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, hole - 4), EFAULT, "2.2",
		 "GET_NAME whose size word ends at an unmapped page -> EFAULT");
	put_size(hole - 4, sizeof(preserve_t));
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, hole - 4), EFAULT, "2.2",
		 "PRESERVE_FD whose size word ends at an unmapped page -> EFAULT");
	put_size(hole - 4, sizeof(finish_t));
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, hole - 4), EINVAL, "2.2",
		 "FINISH on an outgoing session whose struct is cut by an unmapped page -> EINVAL (kind check before copy)");
	lu_unmap(m, 1);
}

static void test_session_request(int s)
{
	get_name_t g = { .size = sizeof g };
	preserve_t p = { .size = sizeof p, .fd = -1 };
	check_rc(lu_ioctl(s, _IO(0xBB, 0x43), &g), ENOTTY, "2.2", "session: _IO(0xBB, 0x43) -> ENOTTY");
	check_rc(lu_ioctl(s, _IOWR(0xBA, 0x43, get_name_t), &g), ENOTTY, "2.2", "session: _IOWR(0xBA, 0x43, get_name struct) -> ENOTTY");
	check_rc(lu_ioctl(s, _IOW(0xBA, 0x40, preserve_t), &p), ENOTTY, "2.2", "session: _IOW(0xBA, 0x40, preserve struct) -> ENOTTY");
	g.size = 0;
	check_rc(lu_ioctl(s, _IO(0xBB, 0x43), &g), ENOTTY, "2.2", "session: _IO(0xBB, 0x43) with size 0 -> ENOTTY (request checked before size)");
	check_rc(lu_ioctl(s, _IO(0xBB, 0x41), &g), ENOTTY, "2.2", "session: _IO(0xBB, 0x41) on an outgoing session -> ENOTTY (request checked before kind)");
}

static void test_session_kind(int s)
{
	retrieve_fd_t r = { .size = 0 };
	finish_t f = { .size = 0 };
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r), EINVAL, "2.2", "RETRIEVE_FD on an outgoing session, size 0 -> EINVAL");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, &f), EINVAL, "2.2", "FINISH on an outgoing session, size 0 -> EINVAL");
	r.size = 15;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r), EINVAL, "2.2", "RETRIEVE_FD with size 15 -> EINVAL");
	f.size = 7;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, &f), EINVAL, "2.2", "FINISH with size 7 -> EINVAL");

	unsigned char big[128];
	memset(big, 0, sizeof big);
	put_size(big, 100);
	big[90] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, big), EINVAL, "2.2",
		 "RETRIEVE_FD on an outgoing session with a non-zero tail -> EINVAL (kind check before the tail scan)");
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, big), EINVAL, "2.2",
		 "FINISH on an outgoing session with a non-zero tail -> EINVAL (kind check before the tail scan)");
	f.size = sizeof f;
	f.reserved = 0;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_FINISH, &f), EINVAL, "4.5", "FINISH with a correct struct on an outgoing session -> EINVAL");
	r.size = sizeof r;
	r.token = 0;
	r.fd = -7;
	int rc = lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r);
	check_rc(rc, EINVAL, "4.4", "RETRIEVE_FD with a correct struct on an outgoing session -> EINVAL");
	check(r.fd == -7, "4.4", "the failed RETRIEVE_FD left the struct's fd untouched");
}

static void test_session_size(int s)
{
	static const __u32 gn_small[] = { 0, 15, 71 };
	for (size_t i = 0; i < sizeof gn_small / sizeof gn_small[0]; i++) {
		get_name_t g = { .size = gn_small[i] };
		check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &g), EINVAL, "2.2", "GET_NAME with size %u -> EINVAL",
			 gn_small[i]);
	}
	int mfd = lu_memfd("decode", 0, 0);
	if (mfd < 0)
		tap_fatal("2.2", strerror(-mfd), "memfd_create");
	static const __u32 pr_small[] = { 0, 15 };
	for (size_t i = 0; i < sizeof pr_small / sizeof pr_small[0]; i++) {
		preserve_t p = { .size = pr_small[i], .fd = mfd, .token = 1 };
		check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &p), EINVAL, "2.2", "PRESERVE_FD with size %u -> EINVAL",
			 pr_small[i]);
	}

	unsigned char big[4096];
	memset(big, 0, sizeof big);
	preserve_t p = { .size = 24, .fd = mfd, .token = 1 };
	memcpy(big, &p, sizeof p);
	big[20] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, big), E2BIG, "2.2", "PRESERVE_FD size 24 with a non-zero tail -> E2BIG");
	big[20] = 0;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, big), 0, "2.2",
		 "PRESERVE_FD size 24 with a zero tail works (the E2BIG attempt preserved nothing)");
	close(mfd);

	memset(big, 0, sizeof big);
	get_name_t g = { .size = 100 };
	memcpy(big, &g, sizeof g);
	big[99] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, big), E2BIG, "2.2", "GET_NAME size 100 with a non-zero tail -> E2BIG");
	big[99] = 0;
	((get_name_t *)big)->reserved = 1;
	big[80] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, big), E2BIG, "2.3",
		 "GET_NAME reserved=1 with a non-zero tail -> E2BIG (decoding before the reserved check)");
	big[80] = 0;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, big), EINVAL, "2.3", "GET_NAME reserved=1 -> EINVAL");

	static const __u32 odd[] = { 73, 100, 4096 };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		memset(big, 0, sizeof big);
		g.size = odd[i];
		memcpy(big, &g, sizeof g);
		int rc = lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, big);
		get_name_t *out = (get_name_t *)big;
		check(rc == 0 && strcmp((char *)out->name, SESSION) == 0 && out->size == odd[i] && big[72] == 0,
		      "2.2", "GET_NAME with size %u and zero tail returns the name, size word unchanged", odd[i]);
	}
}

static void test_session_tail_faults(int s)
{
	unsigned char *m = lu_map_with_hole(2);
	if (!m)
		tap_fatal("2.2", strerror(errno), "mmap");
	unsigned char *hole = m + 2 * pg;
	memset(m, 0, 2 * pg);
	unsigned char *p = hole - 100;
	put_size(p, 200);
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, p), EFAULT, "2.2",
		 "GET_NAME size 200, zero tail running into an unmapped page -> EFAULT");
	p[95] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, p), E2BIG, "2.2",
		 "GET_NAME size 200, non-zero byte before the unmapped page -> E2BIG");

	memset(m, 0, 2 * pg);
	put_size(m, 0xFFFFFFFFu);
	m[75] = 1;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, m), E2BIG, "2.2", "GET_NAME size 0xFFFFFFFF with a non-zero byte at 75 -> E2BIG");
	m[75] = 0;
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, m), EFAULT, "2.2",
		 "GET_NAME size 0xFFFFFFFF, zeros up to an unmapped page -> EFAULT");
	lu_unmap(m, 2);
}

static void test_session_writeback(int s)
{
	unsigned char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		tap_fatal("2.2", strerror(errno), "mmap");

	/* struct in the last 72 bytes of a RW page, zero tail on a RO page */
	get_name_t *g = (get_name_t *)(m + pg - sizeof(get_name_t));
	g->size = 100;
	mprotect(m + pg, pg, PROT_READ);
	int rc = lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, g);
	check(rc == 0 && strcmp((char *)g->name, SESSION) == 0 && g->size == 100, "2.2",
	      "GET_NAME size 100 writes back only 72 bytes (tail is on a read-only page)");

	memset(g, 0, sizeof *g);
	g->size = sizeof *g;
	mprotect(m, pg, PROT_READ);
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, g), EFAULT, "2.2", "GET_NAME with a read-only struct -> EFAULT (write-back fails)");
	mprotect(m, pg, PROT_READ | PROT_WRITE);
	g->reserved = 1;
	mprotect(m, pg, PROT_READ);
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, g), EINVAL, "2.3",
		 "GET_NAME reserved=1 with a read-only struct -> EINVAL (command fails before write-back)");
	munmap(m, 2 * pg);
}

int main(void)
{
	pg = lu_page();
	int dev = lu_open_device_or_die();

	test_device_nr(dev);
	test_device_fault(dev);
	test_device_request(dev);
	test_device_size(dev);
	test_device_tail_faults(dev);
	test_device_writeback(dev);

	int s = lu_create(dev, SESSION);
	check_rc(s, 0, "4.1", "CREATE_SESSION for the session-fd cases");
	if (s >= 0) {
		test_session_nr(s);
		test_session_fault(s);
		test_session_request(s);
		test_session_kind(s);
		test_session_size(s);
		test_session_tail_faults(s);
		test_session_writeback(s);
		close(s);
	}
	close(dev);
	return tap_done();
}
