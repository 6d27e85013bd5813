/*
 * nolib_test - the device WITHOUT libliveupdate-preload.so (docs/design.md §10.4:
 * "Without the library, fd-returning requests fail with a clear errno ...
 * never a bogus fd number"). Run this program with LD_PRELOAD unset.
 *
 * The daemon reports the missing library as EOPNOTSUPP at the step where the
 * kernel reserves the new fd. That step comes after all decoding (docs/behaviour.md §2.1), so
 * decoding errors (EFAULT, ENOTTY, EINVAL for the size, E2BIG) still win;
 * but it comes BEFORE the command's own checks:
 *   - CREATE_SESSION (docs/behaviour.md §4.1): step 1 reserves the fd, step 2 checks the name,
 *     step 5 looks for duplicates -> an empty or duplicate name also gives
 *     EOPNOTSUPP;
 *   - RETRIEVE_SESSION (docs/behaviour.md §4.2): step 1 reserves the fd, step 3 looks the name
 *     up -> ANY name gives EOPNOTSUPP, never ENOENT.
 *   - RETRIEVE_FD (docs/behaviour.md §4.4): the session-kind check (step 1 and §2.2 step 4)
 *     comes before the reservation (step 2) -> EINVAL on an outgoing session.
 * Requests that return no fd (GET_NAME, PRESERVE_FD) work without the
 * library; the session fd for them is obtained through the envelope
 * protocol, i.e. by doing the library's job by hand.
 */
#include "lufs_direct.h"
#include "luo.h"
#include "tap.h"

typedef struct liveupdate_ioctl_create_session create_t;
typedef struct liveupdate_ioctl_retrieve_session retrieve_t;

/* Raw request on the device; the struct's fd starts as a sentinel. */
static int raw(int dev, unsigned long req, const char *name, __u32 size, __s32 *fd_out)
{
	unsigned char buf[128];
	memset(buf, 0, sizeof buf);
	create_t c = { .size = size, .fd = -12345 }; /* same layout as retrieve_t */
	lu_fill_name(c.name, name);
	memcpy(buf, &c, sizeof c);
	int rc = lu_ioctl(dev, req, buf);
	memcpy(&c, buf, sizeof c);
	if (fd_out)
		*fd_out = c.fd;
	return rc;
}

static void test_create(int dev)
{
	__s32 out = 0;
	int before = lu_count_fds();
	check_rc(raw(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, "nolib-create", sizeof(create_t), &out), EOPNOTSUPP, "design",
		 "CREATE_SESSION without the library -> EOPNOTSUPP");
	check(out == -12345, "design", "the struct's fd field is left unchanged (no bogus fd number)");
	check(lu_count_fds() == before, "design", "no fd was installed");
	check_rc(raw(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, "", sizeof(create_t), NULL), EOPNOTSUPP, "4.1",
		 "CREATE_SESSION with an empty name -> EOPNOTSUPP (fd reserved before the name check)");

	check_rc(raw(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, "nolib-create", 0, NULL), EINVAL, "2.1",
		 "CREATE_SESSION size 0 -> EINVAL (decoding before the library check)");
	check_rc(raw(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, "nolib-create", 71, NULL), EINVAL, "2.1",
		 "CREATE_SESSION size 71 -> EINVAL");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, NULL), EFAULT, "2.1", "CREATE_SESSION with NULL -> EFAULT");
	check_rc(raw(dev, _IOWR(0xBA, 0x00, create_t), "nolib-create", sizeof(create_t), NULL), ENOTTY, "2.1",
		 "_IOWR(0xBA, 0, create struct) -> ENOTTY");
	check_rc(raw(dev, _IO(0xBB, 0x00), "nolib-create", sizeof(create_t), NULL), ENOTTY, "2.1", "_IO(0xBB, 0) -> ENOTTY");

	unsigned char big[128];
	memset(big, 0, sizeof big);
	create_t c = { .size = 100 };
	lu_fill_name(c.name, "nolib-create");
	memcpy(big, &c, sizeof c);
	big[90] = 1;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big), E2BIG, "2.1", "CREATE_SESSION with a non-zero tail -> E2BIG");
	big[90] = 0;
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, big), EOPNOTSUPP, "design",
		 "CREATE_SESSION size 100 with a zero tail -> EOPNOTSUPP");
}

static void test_retrieve(int dev)
{
	__s32 out = 0;
	check_rc(raw(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "nolib-unknown", sizeof(retrieve_t), &out), EOPNOTSUPP, "4.2",
		 "RETRIEVE_SESSION of an unknown name -> EOPNOTSUPP (fd reserved before the lookup)");
	check(out == -12345, "design", "the struct's fd field is left unchanged");
	check_rc(raw(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "", sizeof(retrieve_t), NULL), EOPNOTSUPP, "4.2",
		 "RETRIEVE_SESSION of an empty name -> EOPNOTSUPP");
	check_rc(raw(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "nolib-unknown", 0, NULL), EINVAL, "2.1", "RETRIEVE_SESSION size 0 -> EINVAL");
	check_rc(lu_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, NULL), EFAULT, "2.1", "RETRIEVE_SESSION with NULL -> EFAULT");
	check_rc(raw(dev, _IO(0xBB, 0x01), "nolib-unknown", sizeof(retrieve_t), NULL), ENOTTY, "2.1", "_IO(0xBB, 1) -> ENOTTY");
}

static void test_session(int dev)
{
	int s = lufs_create_direct(dev, "nolib-session");
	check_rc(s, 0, "envelope", "a session fd can be had through the envelope protocol without the library");
	if (s < 0)
		return;
	check(lu_name_is(s, "nolib-session"), "4.6", "GET_NAME works without the library");
	check_rc(raw(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, "nolib-session", sizeof(create_t), NULL), EOPNOTSUPP, "4.1",
		 "CREATE_SESSION of an existing name -> EOPNOTSUPP (fd reserved before the duplicate check)");
	int m = lu_memfd("nolib", 0, 4096);
	check_rc(m < 0 ? m : lu_preserve(s, m, 1), 0, "4.3", "PRESERVE_FD works without the library");
	close_if(m);

	struct liveupdate_session_retrieve_fd r = { .size = sizeof r, .fd = -12345, .token = 1 };
	check_rc(lu_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &r), EINVAL, "4.4",
		 "RETRIEVE_FD on an outgoing session -> EINVAL (kind check before the fd reservation)");
	check(r.fd == -12345, "4.4", "the struct's fd field is left unchanged");
	close(s);

	s = lufs_create_direct(dev, "nolib-create");
	check_rc(s, 0, "design", "the refused CREATE_SESSION calls created nothing (name free)");
	close_if(s);
}

int main(void)
{
	/* A loaded library counts as absent when switched off (LIVEUPDATEFS_PRELOAD=off). */
	const char *pre = getenv("LD_PRELOAD"), *off = getenv("LIVEUPDATEFS_PRELOAD");
	if (pre && strstr(pre, "liveupdate") && !(off && strcmp(off, "off") == 0))
		tap_fatal("design", "LD_PRELOAD names the library",
			  "nolib_test must run without the preload library, or with LIVEUPDATEFS_PRELOAD=off");
	int dev = lu_open_device_or_die();
	test_create(dev);
	test_retrieve(dev);
	test_session(dev);
	close(dev);
	return tap_done();
}
