/* Partial uploads: the files staging/<upload id>.part in the store's
 * staging directory (ups_store_ops.staging_dir), which the upload engine
 * writes chunk by chunk and then hands to the store's put().
 *
 * Names are built only from the numeric upload id, never from anything a
 * peer sent. Every function here blocks on disk I/O: call them from a
 * libuv worker (uv_queue_work), never the loop thread. Each descriptor
 * is used from one thread at a time (staging_writev switches its
 * O_DIRECT flag); different descriptors, also of the same file, may be
 * written at different offsets from different threads at once. Faults
 * can be injected (plugins/ups_fault.h) so tests can make writes fail
 * with ENOSPC or EIO. */
#ifndef UPSTAGE_AGENT_INGEST_STAGING_H
#define UPSTAGE_AGENT_INGEST_STAGING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include <openssl/evp.h>

#include "plugins/ups_fault.h"

/* "<20 digits>.part" plus NUL. */
#define STAGING_NAME_MAX 32

/* Writes of whole blocks of this size, from a buffer aligned to it, at an
 * offset aligned to it, bypass the page cache (see staging_write). */
#define STAGING_ALIGN 4096

/* Most pieces staging_writev() takes at once. */
#define STAGING_IOV_MAX 64

struct staging {
	int dir_fd;
	struct ups_fault fault;
	/* Set once the file system refused O_DIRECT; read and set by
	 * workers of different uploads at once. */
	atomic_bool direct_refused;
};

/* Opens the existing directory dir (the store creates it). fault_spec may be
 * NULL. Returns 0, UPS_ERR_IO, or UPS_ERR_BAD_REQUEST for a bad spec.
 * Release with staging_close(). dir and fault_spec are borrowed. */
int staging_init(struct staging *stg, const char *dir, const char *fault_spec,
                 char *err, size_t errlen);
void staging_close(struct staging *stg);

/* Writes "<id>.part" into buf (at least STAGING_NAME_MAX bytes); this is the
 * staging_name handed to the store's put(). */
void staging_name(uint64_t id, char *buf, size_t len);

/* Opens the partial of upload id for reading and writing (O_CLOEXEC), with
 * *size its current length. With create, a missing file is created and
 * its directory entry made durable, so an offset recorded later refers to
 * a file that survives a crash. Without create, a missing file is
 * UPS_ERR_NOT_FOUND. The caller closes *fd. */
int staging_open(struct staging *stg, uint64_t id, bool create, int *fd,
                 uint64_t *size, char *err, size_t errlen);

/* Writes all len bytes of buf at offset (retrying short writes). When buf,
 * len and offset are all multiples of STAGING_ALIGN the write goes around
 * the page cache (O_DIRECT): every upload is fsynced at commit anyway, and
 * streaming it to disk as it arrives keeps that fsync short instead of
 * flushing a whole file's dirty pages at once, and keeps a gigabyte nobody
 * reads back soon out of memory. Other writes, and file systems that
 * refuse O_DIRECT, go through the page cache. ENOSPC or
 * EDQUOT is UPS_ERR_NO_SPACE, other failures UPS_ERR_IO; bytes past the
 * last durable offset may then be on disk and are cut off by
 * staging_truncate() when the upload resumes. */
int staging_write(struct staging *stg, int fd, const void *buf, size_t len,
                  uint64_t offset, char *err, size_t errlen);

/* Like staging_write() for n (at most STAGING_IOV_MAX) pieces that follow
 * one another in the file from offset, in as few pwritev() calls as
 * their alignment allows: one per run of aligned (O_DIRECT) or unaligned
 * pieces. Large direct writes keep the disk busy where a write per piece
 * waits for each. pieces is borrowed and left as it was. On failure the
 * pieces before the failing one may be on disk, as with staging_write. */
int staging_writev(struct staging *stg, int fd, const struct iovec *pieces,
                   int n, uint64_t offset, char *err, size_t errlen);

/* fdatasync: everything written so far is durable when it returns 0. */
int staging_sync(struct staging *stg, int fd, char *err, size_t errlen);

/* Cuts the file to length (drops bytes written after the last durable
 * offset) and makes that durable. */
int staging_truncate(struct staging *stg, int fd, uint64_t length, char *err,
                     size_t errlen);

/* Feeds bytes [0, length) of the file into ctx (already initialised for
 * SHA-256 by the caller) to rebuild an upload's digest state after a
 * restart (fd may be one staging_write() used). Reads through a fixed 256 KiB
 * buffer: memory does not grow with the file. UPS_ERR_IO when the file is
 * shorter than length. */
int staging_rehash(struct staging *stg, int fd, uint64_t length,
                   EVP_MD_CTX *ctx, char *err, size_t errlen);

/* Removes the partial of upload id; a missing file is not an error. */
int staging_remove(struct staging *stg, uint64_t id, char *err, size_t errlen);

/* Calls cb(arg, id, size) for every "<id>.part" file (anything else is
 * skipped), e.g. to remove partials the catalog no longer knows. cb
 * returns 0 to go on, or an error code that stops the scan and is
 * returned. */
int staging_scan(struct staging *stg,
                 int (*cb)(void *arg, uint64_t id, uint64_t size), void *arg,
                 char *err, size_t errlen);

#endif
