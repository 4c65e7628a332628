/* Test fixture: a fresh scratch directory under /tmp for one test, and its
 * recursive removal afterwards. Plain C (no cmocka), so any test can use
 * it; callers assert on the results. */
#ifndef UPSTAGE_TESTS_TMPDIR_H
#define UPSTAGE_TESTS_TMPDIR_H

#include <stddef.h>

/* Room for "/tmp/" + a name + "-XXXXXX" with a name of up to 40 bytes. */
#define TMPDIR_PATH_MAX 64

/* Creates /tmp/<name>-XXXXXX (mkdtemp, mode 0700) and writes its path to
 * dir (len bytes; TMPDIR_PATH_MAX is enough for short names). name is
 * borrowed. 0, or -1 with errno (ENAMETOOLONG when dir is too small). */
int tmpdir_make(char *dir, size_t len, const char *name);

/* Removes dir and everything under it, without following symbolic links.
 * Keeps going past entries it cannot remove and returns -1 (errno of the
 * first failure) if any remain; 0 when all is gone. */
int tmpdir_remove(const char *dir);

#endif
