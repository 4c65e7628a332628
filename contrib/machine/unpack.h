/* Agent binary tarballs (juju-<binary version>.tgz) through libarchive,
 * and Juju's tools layout on a machine:
 *
 *   DIR/tools/<binary version>/        the unpacked files, and
 *   DIR/tools/<binary version>/downloaded-tools.txt   what they are (JSON)
 *   DIR/tools/machine-<id> -> <binary version>        the one in use
 *
 * A tarball may hold flat regular files only: one symbolic link, hard
 * link, device, fifo or directory, an absolute name, a name that is "."
 * or "..", or a '/' anywhere in a name refuses the whole tarball, with
 * that reason, before anything is written. Unpacking goes to a temporary
 * directory (DIR/tools/.unpack-<binary version>) that is renamed into
 * place once every file, the record and the directory are fsynced; the
 * symlink is switched by renaming a new link over it, then the tools
 * directory is fsynced.
 *
 * Every function blocks on disk: call from a libuv worker (or a program
 * with nothing else to do). Errors: 0 or a negative code with err. */
#ifndef UPSTAGE_CONTRIB_MACHINE_UNPACK_H
#define UPSTAGE_CONTRIB_MACHINE_UNPACK_H

#include <stdbool.h>
#include <stddef.h>

/* Most entries and most bytes a tarball may unpack to. */
#define UNPACK_MAX_ENTRIES 1024
#define UNPACK_MAX_BYTES   (8ULL * 1024 * 1024 * 1024)

/* Checks every entry of the tarball held in buf (len bytes, borrowed)
 * without writing anything. UPS_ERR_BAD_REQUEST naming the entry and
 * the reason (e.g. "\"evil\": symbolic link"). For fuzzing and tests. */
int unpack_check_memory(const void *buf, size_t len, char *err, size_t errlen);

/* Unpacks tarball into tools_dir/bv (bv: a checked binary version) with
 * record (a JSON text, borrowed) as downloaded-tools.txt. Already there
 * (with its record): 0 at once. UPS_ERR_BAD_REQUEST for a refused
 * tarball, UPS_ERR_IO for the disk. */
int unpack_install(const char *tarball, const char *tools_dir, const char *bv,
                   const char *record, char *err, size_t errlen);

/* Whether tools_dir/bv holds an unpacked version (its record exists). */
bool unpack_has(const char *tools_dir, const char *bv);

/* Points tools_dir/machine-<id> at bv, atomically. */
int layout_switch(const char *tools_dir, const char *machine_id, const char *bv,
                  char *err, size_t errlen);

/* The binary version tools_dir/machine-<id> points at, into bv (len
 * bytes). UPS_ERR_NOT_FOUND when there is no link. */
int layout_current(const char *tools_dir, const char *machine_id, char *bv,
                   size_t len);

#endif
