/*
 * fuse_peer - the "peer" of scripts/bench: a minimal single-threaded libfuse3
 * low-level daemon serving one regular file `node` (0666, direct_io,
 * nonseekable) whose ioctl handler answers LIVEUPDATE_SESSION_GET_NAME the
 * way LiveUpdateFs must: read the caller's struct with process_vm_readv, fill
 * in a fixed name, write it back with process_vm_writev, reply 0.
 * The same kernel path as LiveUpdateFs, with a C daemon.
 *
 *   fuse_peer MOUNTPOINT      (foreground, until unmounted or signalled)
 */
#define FUSE_USE_VERSION 35
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fuse3/fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define NODE_INO 2
#define NODE_NAME "node"
#define PEER_NAME "bench-peer"

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
	}
}

static void peer_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (parent != FUSE_ROOT_ID || strcmp(name, NODE_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = NODE_INO;
	e.attr_timeout = 3600;
	e.entry_timeout = 3600;
	fill_attr(NODE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void peer_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != NODE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void peer_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != NODE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void peer_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		       struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz)
{
	(void)ino; (void)fi; (void)flags; (void)in_buf; (void)in_bufsz; (void)out_bufsz;
	if (cmd != (unsigned int)LIVEUPDATE_SESSION_GET_NAME) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	pid_t tid = fuse_req_ctx(req)->pid;
	struct liveupdate_session_get_name gn;
	struct iovec local = { &gn, sizeof(gn) };
	struct iovec remote = { arg, sizeof(gn) };
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)sizeof(gn)) {
		fuse_reply_err(req, n < 0 && errno != ESRCH ? errno : EFAULT);
		return;
	}
	if (gn.size < sizeof(gn)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memset(gn.name, 0, sizeof(gn.name));
	memcpy(gn.name, PEER_NAME, sizeof(PEER_NAME));
	n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)sizeof(gn)) {
		fuse_reply_err(req, EFAULT);
		return;
	}
	fuse_reply_ioctl(req, 0, NULL, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = peer_lookup,
	.getattr = peer_getattr,
	.open = peer_open,
	.ioctl = peer_ioctl,
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuse_peer MOUNTPOINT\n");
		return 2;
	}
	char *fargs[] = { argv[0], "-o", "fsname=fuse_peer", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargs);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		return 1;
	int rc = 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, argv[1]) == 0) {
			rc = fuse_session_loop(se) == 0 ? 0 : 1;
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc;
}
