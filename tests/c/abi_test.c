/*
 * abi_test - the uAPI header and the envelope layout (docs/behaviour.md §1.1, §1.2).
 *
 * Everything is checked at compile time with _Static_assert; the same facts
 * are checked again at run time so the program reports one line per group.
 * It does not touch the device.
 */
#include <stdalign.h>
#include <stddef.h>

#include <linux/liveupdate.h>

#include "lufs-envelope.h"
#include "tap.h"

#define SA(expr) _Static_assert(expr, #expr)
/* offsetof, sizeof of one member */
#define FIELD(type, member, off, sz)                                   \
	SA(offsetof(struct type, member) == (off));                    \
	SA(sizeof(((struct type *)0)->member) == (sz))

/* ---- docs/behaviour.md §1.1 request values: _IO(0xBA, nr), no direction, no size ---- */
SA(LIVEUPDATE_IOCTL_CREATE_SESSION == 0xBA00);
SA(LIVEUPDATE_IOCTL_RETRIEVE_SESSION == 0xBA01);
SA(LIVEUPDATE_SESSION_PRESERVE_FD == 0xBA40);
SA(LIVEUPDATE_SESSION_RETRIEVE_FD == 0xBA41);
SA(LIVEUPDATE_SESSION_FINISH == 0xBA42);
SA(LIVEUPDATE_SESSION_GET_NAME == 0xBA43);
SA(_IOC_DIR(LIVEUPDATE_IOCTL_CREATE_SESSION) == _IOC_NONE);
SA(_IOC_SIZE(LIVEUPDATE_IOCTL_CREATE_SESSION) == 0);
SA(_IOC_DIR(LIVEUPDATE_SESSION_GET_NAME) == _IOC_NONE);
SA(_IOC_SIZE(LIVEUPDATE_SESSION_GET_NAME) == 0);

/* ---- docs/behaviour.md §1.1 constants ---- */
SA(LIVEUPDATE_IOCTL_TYPE == 0xBA);
SA(LIVEUPDATE_SESSION_NAME_LENGTH == 64);
SA(LIVEUPDATE_CMD_BASE == 0x00);
SA(LIVEUPDATE_CMD_CREATE_SESSION == 0x00);
SA(LIVEUPDATE_CMD_RETRIEVE_SESSION == 0x01);
SA(LIVEUPDATE_CMD_SESSION_BASE == 0x40);
SA(LIVEUPDATE_CMD_SESSION_PRESERVE_FD == 0x40);
SA(LIVEUPDATE_CMD_SESSION_RETRIEVE_FD == 0x41);
SA(LIVEUPDATE_CMD_SESSION_FINISH == 0x42);
SA(LIVEUPDATE_CMD_SESSION_GET_NAME == 0x43);

/* ---- docs/behaviour.md §1.2 struct layouts ---- */
SA(sizeof(struct liveupdate_ioctl_create_session) == 72);
SA(alignof(struct liveupdate_ioctl_create_session) == 4);
FIELD(liveupdate_ioctl_create_session, size, 0, 4);
FIELD(liveupdate_ioctl_create_session, fd, 4, 4);
FIELD(liveupdate_ioctl_create_session, name, 8, 64);

SA(sizeof(struct liveupdate_ioctl_retrieve_session) == 72);
SA(alignof(struct liveupdate_ioctl_retrieve_session) == 4);
FIELD(liveupdate_ioctl_retrieve_session, size, 0, 4);
FIELD(liveupdate_ioctl_retrieve_session, fd, 4, 4);
FIELD(liveupdate_ioctl_retrieve_session, name, 8, 64);

SA(sizeof(struct liveupdate_session_preserve_fd) == 16);
SA(alignof(struct liveupdate_session_preserve_fd) == 8);
FIELD(liveupdate_session_preserve_fd, size, 0, 4);
FIELD(liveupdate_session_preserve_fd, fd, 4, 4);
FIELD(liveupdate_session_preserve_fd, token, 8, 8);

SA(sizeof(struct liveupdate_session_retrieve_fd) == 16);
SA(alignof(struct liveupdate_session_retrieve_fd) == 8);
FIELD(liveupdate_session_retrieve_fd, size, 0, 4);
FIELD(liveupdate_session_retrieve_fd, fd, 4, 4);
FIELD(liveupdate_session_retrieve_fd, token, 8, 8);

SA(sizeof(struct liveupdate_session_finish) == 8);
SA(alignof(struct liveupdate_session_finish) == 4);
FIELD(liveupdate_session_finish, size, 0, 4);
FIELD(liveupdate_session_finish, reserved, 4, 4);

SA(sizeof(struct liveupdate_session_get_name) == 72);
SA(alignof(struct liveupdate_session_get_name) == 4);
FIELD(liveupdate_session_get_name, size, 0, 4);
FIELD(liveupdate_session_get_name, reserved, 4, 4);
FIELD(liveupdate_session_get_name, name, 8, 64);

/* ---- private envelope (lufs-envelope.h) ---- */
SA(LUFS_ENVELOPE_REQUEST == 0xBAEF);
SA(LUFS_ENVELOPE_MAGIC == 0x4c55464553454e56ULL);
SA(LUFS_ENVELOPE_VERSION == 1);
SA(LUFS_PHASE_PREPARE == 1 && LUFS_PHASE_COMMIT == 2 && LUFS_PHASE_QUERY_FROZEN == 3);
SA(sizeof(struct lufs_envelope) == 128);
SA(alignof(struct lufs_envelope) == 8);
FIELD(lufs_envelope, magic, 0, 8);
FIELD(lufs_envelope, answered, 8, 8);
FIELD(lufs_envelope, version, 16, 4);
FIELD(lufs_envelope, phase, 20, 4);
FIELD(lufs_envelope, request, 24, 8);
FIELD(lufs_envelope, arg, 32, 8);
FIELD(lufs_envelope, reserve_errno, 40, 4);
FIELD(lufs_envelope, channel_fd, 44, 4);
FIELD(lufs_envelope, ticket, 48, 8);
FIELD(lufs_envelope, installed_fd, 56, 4);
FIELD(lufs_envelope, install_errno, 60, 4);
FIELD(lufs_envelope, node_name, 64, 64);

/* Run-time counterparts: one line per group. */
#define OFF(type, member) offsetof(struct type, member)

int main(void)
{
	unsigned long req[] = {
		LIVEUPDATE_IOCTL_CREATE_SESSION, LIVEUPDATE_IOCTL_RETRIEVE_SESSION,
		LIVEUPDATE_SESSION_PRESERVE_FD,	 LIVEUPDATE_SESSION_RETRIEVE_FD,
		LIVEUPDATE_SESSION_FINISH,	 LIVEUPDATE_SESSION_GET_NAME,
	};
	unsigned long want[] = { 0xBA00, 0xBA01, 0xBA40, 0xBA41, 0xBA42, 0xBA43 };
	int same = 1;
	for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
		same &= req[i] == want[i] && _IOC_DIR(req[i]) == _IOC_NONE &&
			_IOC_SIZE(req[i]) == 0;
	check(same, "1.1", "request values are _IO(0xBA, nr): 0xBA00 0xBA01 0xBA40 0xBA41 0xBA42 0xBA43");

	check(LIVEUPDATE_IOCTL_TYPE == 0xBA && LIVEUPDATE_SESSION_NAME_LENGTH == 64 &&
		      LIVEUPDATE_CMD_SESSION_BASE == 0x40 && LIVEUPDATE_CMD_SESSION_GET_NAME == 0x43,
	      "1.1", "constants: type 0xBA, name length 64, command numbers");

	check(sizeof(struct liveupdate_ioctl_create_session) == 72 &&
		      OFF(liveupdate_ioctl_create_session, fd) == 4 &&
		      OFF(liveupdate_ioctl_create_session, name) == 8,
	      "1.2", "struct liveupdate_ioctl_create_session: size 72, fd @4, name @8");
	check(sizeof(struct liveupdate_ioctl_retrieve_session) == 72 &&
		      OFF(liveupdate_ioctl_retrieve_session, fd) == 4 &&
		      OFF(liveupdate_ioctl_retrieve_session, name) == 8,
	      "1.2", "struct liveupdate_ioctl_retrieve_session: size 72, fd @4, name @8");
	check(sizeof(struct liveupdate_session_preserve_fd) == 16 &&
		      alignof(struct liveupdate_session_preserve_fd) == 8 &&
		      OFF(liveupdate_session_preserve_fd, fd) == 4 &&
		      OFF(liveupdate_session_preserve_fd, token) == 8,
	      "1.2", "struct liveupdate_session_preserve_fd: size 16, align 8, fd @4, token @8");
	check(sizeof(struct liveupdate_session_retrieve_fd) == 16 &&
		      alignof(struct liveupdate_session_retrieve_fd) == 8 &&
		      OFF(liveupdate_session_retrieve_fd, fd) == 4 &&
		      OFF(liveupdate_session_retrieve_fd, token) == 8,
	      "1.2", "struct liveupdate_session_retrieve_fd: size 16, align 8, fd @4, token @8");
	check(sizeof(struct liveupdate_session_finish) == 8 &&
		      OFF(liveupdate_session_finish, reserved) == 4,
	      "1.2", "struct liveupdate_session_finish: size 8, reserved @4");
	check(sizeof(struct liveupdate_session_get_name) == 72 &&
		      OFF(liveupdate_session_get_name, reserved) == 4 &&
		      OFF(liveupdate_session_get_name, name) == 8,
	      "1.2", "struct liveupdate_session_get_name: size 72, reserved @4, name @8");
	check(sizeof(struct lufs_envelope) == 128 && LUFS_ENVELOPE_REQUEST == 0xBAEF &&
		      OFF(lufs_envelope, request) == 24 && OFF(lufs_envelope, ticket) == 48 &&
		      OFF(lufs_envelope, node_name) == 64,
	      "envelope", "struct lufs_envelope: size 128, request @24, ticket @48, node_name @64");
	return tap_done();
}
