/* Fault injection for file-system code (STYLE rule 10), header-only so that
 * both upstaged (agent/staging.c) and plugins (store-fs) can use it without
 * sharing symbols across the dlopen boundary.
 *
 * A spec is a comma-separated list, normally read from the configuration
 * key "store-fs.fail" (the store) or handed to staging_init() (the host):
 *   OP=ERRNO[@N[/K]]  make OP fail with ERRNO. For "write", N is a byte
 *                  budget: a write that would take the total written past
 *                  N bytes fails (a disk that holds N bytes). For every
 *                  other OP, N is how many calls succeed before the
 *                  failures start, and K (not for write) how many calls
 *                  fail before calls succeed again (a passing fault; 0 or
 *                  absent: for ever). N defaults to 0 (fail at once).
 *   free=BYTES     report BYTES as the free space.
 * OP: open write fsync link unlink mkdir rename. ERRNO: ENOSPC EIO EDQUOT,
 * or ABORT: the process aborts there instead (tests of crash recovery:
 * "link=ABORT@1" dies just before the second link).
 * Example: "write=ENOSPC@1048576,fsync=EIO@3,rename=EIO@4/1,free=4096".
 *
 * Thread-safe: counters are atomic, the spec is read-only after parsing. An
 * empty or NULL spec injects nothing and costs one branch per call. */
#ifndef UPSTAGE_PLUGINS_UPS_FAULT_H
#define UPSTAGE_PLUGINS_UPS_FAULT_H

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPS_FAULT_OPS(X)                                                       \
	X(OPEN, "open")                                                        \
	X(WRITE, "write")                                                      \
	X(FSYNC, "fsync")                                                      \
	X(LINK, "link")                                                        \
	X(UNLINK, "unlink")                                                    \
	X(MKDIR, "mkdir")                                                      \
	X(RENAME, "rename")

enum ups_fault_op {
#define UPS_FAULT_ENUM(name, text) UPS_FAULT_##name,
	UPS_FAULT_OPS(UPS_FAULT_ENUM)
#undef UPS_FAULT_ENUM
	    UPS_FAULT__COUNT
};

/* Not an errno: the action "abort the process". */
#define UPS_FAULT_ABORT (-1)

/* Longest spec accepted. */
#define UPS_FAULT_SPEC_MAX 512

struct ups_fault {
	bool active;
	int err[UPS_FAULT__COUNT]; /* errno to inject, 0 = none */
	uint64_t after[UPS_FAULT__COUNT];
	uint64_t times[UPS_FAULT__COUNT]; /* failures before recovery; 0: all */
	_Atomic uint64_t used[UPS_FAULT__COUNT]; /* calls, or bytes for write */
	bool has_free;
	uint64_t free_bytes;
};

static inline int ups_fault_errno_parse(const char *s, size_t n)
{
	if (n == 6 && memcmp(s, "ENOSPC", 6) == 0)
		return ENOSPC;
	if (n == 3 && memcmp(s, "EIO", 3) == 0)
		return EIO;
	if (n == 6 && memcmp(s, "EDQUOT", 6) == 0)
		return EDQUOT;
	if (n == 5 && memcmp(s, "ABORT", 5) == 0)
		return UPS_FAULT_ABORT;
	return 0;
}

/* Parses a decimal uint64 from s[0..n); false on anything else. */
static inline bool ups_fault_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Parses spec (NULL or "" = no faults) into f. Returns 0, or -1 with err
 * naming the bad item. */
static inline int ups_fault_parse(struct ups_fault *f, const char *spec,
                                  char *err, size_t errlen)
{
	static const char *const names[] = {
#define UPS_FAULT_NAME(name, text) text,
	    UPS_FAULT_OPS(UPS_FAULT_NAME)
#undef UPS_FAULT_NAME
	};
	const char *p = spec;

	memset(f, 0, sizeof(*f));
	if (!spec || !*spec)
		return 0;
	if (strlen(spec) > UPS_FAULT_SPEC_MAX) {
		snprintf(err, errlen, "fault spec longer than %d bytes",
		         UPS_FAULT_SPEC_MAX);
		return -1;
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen, vlen;
		const char *v, *at;
		int op = -1;

		if (!eq)
			goto bad;
		klen = (size_t)(eq - p);
		v = eq + 1;
		vlen = len - klen - 1;
		if (klen == 4 && memcmp(p, "free", 4) == 0) {
			if (!ups_fault_u64(v, vlen, &f->free_bytes))
				goto bad;
			f->has_free = true;
		} else {
			for (int i = 0; i < UPS_FAULT__COUNT; i++)
				if (strlen(names[i]) == klen &&
				    memcmp(names[i], p, klen) == 0)
					op = i;
			if (op < 0)
				goto bad;
			at = memchr(v, '@', vlen);
			if (at) {
				size_t nlen = vlen - (size_t)(at - v) - 1;
				const char *slash = memchr(at + 1, '/', nlen);

				if (slash) {
					if (op == UPS_FAULT_WRITE ||
					    !ups_fault_u64(
					        slash + 1,
					        nlen - (size_t)(slash - at),
					        &f->times[op]))
						goto bad;
					nlen = (size_t)(slash - at - 1);
				}
				if (!ups_fault_u64(at + 1, nlen, &f->after[op]))
					goto bad;
				vlen = (size_t)(at - v);
			}
			f->err[op] = ups_fault_errno_parse(v, vlen);
			if (!f->err[op])
				goto bad;
		}
		f->active = true;
		p += len;
		if (*p == ',')
			p++;
		continue;
	bad:
		snprintf(err, errlen, "bad fault spec item \"%.*s\"",
		         (int)(len > 64 ? 64 : len), p);
		return -1;
	}
	return 0;
}

/* The injected result: an errno, or abort() for UPS_FAULT_ABORT. */
static inline int ups_fault_fire(int e)
{
	if (e == UPS_FAULT_ABORT)
		abort();
	return e;
}

/* Whether the next op (of nbytes, for writes) should fail: returns the
 * errno to inject, or 0 to go ahead (or aborts, for ABORT). Counts the
 * call (or bytes). */
static inline int ups_fault_hit(struct ups_fault *f, enum ups_fault_op op,
                                uint64_t nbytes)
{
	uint64_t before;

	if (!f || !f->active || !f->err[op])
		return 0;
	if (op == UPS_FAULT_WRITE) {
		before = atomic_fetch_add(&f->used[op], nbytes);
		if (before + nbytes > f->after[op]) {
			atomic_fetch_sub(&f->used[op], nbytes);
			return ups_fault_fire(f->err[op]);
		}
		return 0;
	}
	before = atomic_fetch_add(&f->used[op], 1);
	if (before < f->after[op] ||
	    (f->times[op] && before - f->after[op] >= f->times[op]))
		return 0;
	return ups_fault_fire(f->err[op]);
}

#endif
