/*
 * hangfs: a FUSE file system whose one file never answers a read, the
 * stand-in for a mount whose server hangs. Serves DIR/data
 * (4096 bytes, read-only) until killed; every read of it blocks forever.
 *
 *   hangfs [--noflush|--inode0] DIR   (foreground, single-threaded; prints "# serving" once mounted)
 *
 * --noflush: opens answer FOPEN_NOFLUSH, so closing an fd of the file (a
 * copy another process took with pidfd_getfd) sends no FLUSH; only a
 * stat/statfs of the file then reaches the stuck server (the stale
 * mount-id test, HungMountTests).
 * --inode0: the file's inode number is 0 (use_ino), as anonymous memory's
 * is: a mapping of it must still count as a FUSE file's.
 *
 * Test helper only: kill it with SIGKILL (the kernel then aborts the
 * connection and every waiting request gets ENOTCONN), then umount -l DIR.
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse3/fuse.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int hang_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/data") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	}
	return -ENOENT;
}

static int no_flush;
static int inode0;

static int hang_open(const char *path, struct fuse_file_info *fi)
{
	fi->noflush = no_flush;
	return strcmp(path, "/data") == 0 ? 0 : -ENOENT;
}

static noreturn void hang_forever(void)
{
	for (;;)
		pause();
}

static int hang_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)path; (void)buf; (void)size; (void)offset; (void)fi;
	hang_forever();
}

static void *hang_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->kernel_cache = 1;
	cfg->use_ino = inode0; /* getattr leaves st_ino 0 */
	printf("# serving\n");
	fflush(stdout);
	return NULL;
}

static const struct fuse_operations ops = {
	.init = hang_init,
	.getattr = hang_getattr,
	.open = hang_open,
	.read = hang_read,
};

int main(int argc, char **argv)
{
	no_flush = argc == 3 && strcmp(argv[1], "--noflush") == 0;
	inode0 = argc == 3 && strcmp(argv[1], "--inode0") == 0;
	char *args[] = { argv[0], "-f", "-s", "-o", "allow_other", argv[argc - 1], NULL };

	if (argc != 2 && !no_flush && !inode0) {
		fprintf(stderr, "usage: hangfs [--noflush|--inode0] DIR\n");
		return 2;
	}
	return fuse_main(6, args, &ops, NULL);
}
