/* Roles and tokens. An auth file holds one "ROLE TOKEN" pair a line;
 * blank lines and lines starting with '#' are ignored. Tokens are checked
 * in constant time against every entry so timing tells nothing about which
 * prefix matched. */
#ifndef UPSTAGE_NET_AUTH_H
#define UPSTAGE_NET_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/limits.h"

enum ups_role {
	UPS_ROLE_NONE = 0, /* not logged in */
	UPS_ROLE_CLIENT,   /* operators and sync clients */
	UPS_ROLE_MACHINE,  /* machine agents */
	UPS_ROLE_PLUGIN,   /* upstaged on the controller link */
	UPS_ROLE__COUNT
};

/* "client", "machine", "plugin"; "none" for UPS_ROLE_NONE. */
const char *ups_role_name(enum ups_role role);
/* 0 or UPS_ERR_BAD_REQUEST for an unknown name (or "none"). */
int ups_role_parse(const char *name, enum ups_role *out);

struct ups_auth_entry {
	enum ups_role role;
	size_t token_len;
	char token[UPS_LIMIT_TOKEN_LEN + 1];
};

struct ups_auth {
	struct ups_auth_entry *entries; /* owned */
	size_t count;
	size_t cap;
};

/* Loads path into *auth (zeroed first). 0, or UPS_ERR_IO (unreadable) /
 * UPS_ERR_BAD_REQUEST (bad line; err names the line number). Tokens must be
 * 1..UPS_LIMIT_TOKEN_LEN printable non-space bytes. Free with
 * ups_auth_free(). */
int ups_auth_load(struct ups_auth *auth, const char *path, char *err,
		  size_t errlen);
void ups_auth_free(struct ups_auth *auth);

/* Parses auth-file text (len bytes, need not be NUL-terminated) into
 * *auth; name is used in error messages. Same results as ups_auth_load. */
int ups_auth_parse(struct ups_auth *auth, const char *text, size_t len,
		   const char *name, char *err, size_t errlen);

/* True if (role, token) is one of the entries. Constant time in the token
 * bytes. */
bool ups_auth_check(const struct ups_auth *auth, enum ups_role role,
		    const char *token, size_t token_len);

/* Reads a file holding one token (surrounding whitespace trimmed) into out
 * (UPS_LIMIT_TOKEN_LEN + 1 bytes). 0, UPS_ERR_IO or UPS_ERR_BAD_REQUEST. */
int ups_token_file_read(const char *path, char *out, size_t outlen,
			char *err, size_t errlen);

#endif
