/* Scratch directories for tests; see tmpdir.h. */
#include "tests/lib/tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Open directory handles nftw may hold: the trees tests build are shallow,
 * and deeper ones only cost reopening. */
#define TMPDIR_NFTW_FDS 16

/* errno of the first entry that could not be removed (nftw's callback gets
 * no user pointer). Tests run their fixtures one at a time. */
static int tmpdir_first_errno;

static int tmpdir_rm_entry(const char *path, const struct stat *st, int flag,
                           struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (remove(path) != 0 && tmpdir_first_errno == 0)
		tmpdir_first_errno = errno;
	/* Go on: one stuck file should not leave the rest behind. */
	return 0;
}

int tmpdir_make(char *dir, size_t len, const char *name)
{
	int n = snprintf(dir, len, "/tmp/%s-XXXXXX", name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) ? 0 : -1;
}

int tmpdir_remove(const char *dir)
{
	tmpdir_first_errno = 0;
	if (nftw(dir, tmpdir_rm_entry, TMPDIR_NFTW_FDS, FTW_DEPTH | FTW_PHYS) !=
	    0)
		return -1;
	if (tmpdir_first_errno != 0) {
		errno = tmpdir_first_errno;
		return -1;
	}
	return 0;
}
