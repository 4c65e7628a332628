/* Roles, auth files and constant-time token checks; see auth.h. */
#include "proto/net/auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"

static const char *const role_names[UPS_ROLE__COUNT] = {
	[UPS_ROLE_NONE] = "none",
	[UPS_ROLE_CLIENT] = "client",
	[UPS_ROLE_MACHINE] = "machine",
	[UPS_ROLE_PLUGIN] = "plugin",
};

const char *ups_role_name(enum ups_role role)
{
	if ((unsigned)role >= UPS_ROLE__COUNT)
		return "none";
	return role_names[role];
}

int ups_role_parse(const char *name, enum ups_role *out)
{
	for (int r = UPS_ROLE_CLIENT; r < UPS_ROLE__COUNT; r++) {
		if (strcmp(name, role_names[r]) == 0) {
			*out = (enum ups_role)r;
			return 0;
		}
	}
	return UPS_ERR_BAD_REQUEST;
}

static int auth_token_char_ok(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

/* Reads at most max bytes of path into a NUL-terminated heap buffer. */
static int auth_read_file(const char *path, size_t max, char **out,
			  char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return ups_errf(UPS_ERR_IO, err, errlen, "cannot open %s: %s",
				path, strerror(errno));
	buf = malloc(max + 2);
	if (!buf) {
		fclose(f);
		return UPS_ERR_NO_MEMORY;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return ups_errf(UPS_ERR_IO, err, errlen, "cannot read %s",
				path);
	}
	fclose(f);
	if (n > max) {
		free(buf);
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
				"%s is larger than %zu bytes", path, max);
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"%s contains a NUL byte", path);
	}
	*out = buf;
	return 0;
}

/* Makes room for one more entry, growing the array by doubling. */
static int auth_reserve(struct ups_auth *auth)
{
	struct ups_auth_entry *grown;
	size_t cap = auth->cap ? auth->cap * 2 : 4;

	if (auth->count < auth->cap)
		return 0;
	grown = calloc(cap, sizeof(*grown));
	if (!grown)
		return UPS_ERR_NO_MEMORY;
	/* Copy rather than realloc so no token is left in freed memory. */
	if (auth->count)
		memcpy(grown, auth->entries, auth->count * sizeof(*grown));
	if (auth->entries)
		OPENSSL_cleanse(auth->entries, auth->cap * sizeof(*grown));
	free(auth->entries);
	auth->entries = grown;
	auth->cap = cap;
	return 0;
}

/* Parses one non-comment line "ROLE TOKEN" into e. */
static int auth_parse_line(char *line, struct ups_auth_entry *e)
{
	char *role = strtok(line, " \t\r");
	char *token = role ? strtok(NULL, " \t\r") : NULL;
	size_t len;

	if (!role || !token || strtok(NULL, " \t\r"))
		return UPS_ERR_BAD_REQUEST;
	if (ups_role_parse(role, &e->role))
		return UPS_ERR_BAD_REQUEST;
	len = strlen(token);
	if (len == 0 || len > UPS_LIMIT_TOKEN_LEN)
		return UPS_ERR_BAD_REQUEST;
	for (size_t i = 0; i < len; i++)
		if (!auth_token_char_ok((unsigned char)token[i]))
			return UPS_ERR_BAD_REQUEST;
	memcpy(e->token, token, len + 1);
	e->token_len = len;
	return 0;
}

int ups_auth_parse(struct ups_auth *auth, const char *text, size_t len,
		   const char *name, char *err, size_t errlen)
{
	char *copy, *line, *save = NULL;
	unsigned lineno = 0;
	int rv = 0;

	memset(auth, 0, sizeof(*auth));
	if (len > (size_t)UPS_LIMIT_AUTH_LINES * UPS_LIMIT_AUTH_LINE_LEN)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
				"%s is too large", name);
	if (memchr(text, '\0', len))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"%s contains a NUL byte", name);
	copy = strndup(text, len);
	if (!copy)
		return UPS_ERR_NO_MEMORY;
	/* strtok_r on "\n" would merge empty lines and so miscount them. */
	for (line = copy; line; line = save) {
		char *nl = strchr(line, '\n');
		char *p = line;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if (strlen(line) > UPS_LIMIT_AUTH_LINE_LEN) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				      "%s:%u: line too long", name, lineno);
			goto out_free_entries;
		}
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (auth->count == UPS_LIMIT_AUTH_LINES) {
			rv = ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
				      "%s: more than %d entries", name,
				      UPS_LIMIT_AUTH_LINES);
			goto out_free_entries;
		}
		rv = auth_reserve(auth);
		if (rv)
			goto out_free_entries;
		if (auth_parse_line(p, &auth->entries[auth->count])) {
			rv =
			    ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			             "%s:%u: expected \"ROLE TOKEN\" with ROLE "
			             "client, machine or plugin and a token of "
			             "1..%d printable characters",
			             name, lineno, UPS_LIMIT_TOKEN_LEN);
			goto out_free_entries;
		}
		auth->count++;
	}
	goto out_free_copy;

out_free_entries:
	ups_auth_free(auth);
out_free_copy:
	OPENSSL_cleanse(copy, len);
	free(copy);
	return rv;
}

int ups_auth_load(struct ups_auth *auth, const char *path, char *err,
		  size_t errlen)
{
	char *text;
	size_t len;
	int rv;

	memset(auth, 0, sizeof(*auth));
	rv = auth_read_file(path, (size_t)UPS_LIMIT_AUTH_LINES *
					  UPS_LIMIT_AUTH_LINE_LEN,
			    &text, err, errlen);
	if (rv)
		return rv;
	len = strlen(text);
	rv = ups_auth_parse(auth, text, len, path, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return rv;
}

void ups_auth_free(struct ups_auth *auth)
{
	if (auth->entries)
		OPENSSL_cleanse(auth->entries,
				auth->cap * sizeof(*auth->entries));
	free(auth->entries);
	memset(auth, 0, sizeof(*auth));
}

bool ups_auth_check(const struct ups_auth *auth, enum ups_role role,
		    const char *token, size_t token_len)
{
	unsigned char padded[UPS_LIMIT_TOKEN_LEN];
	int match = 0;

	if (token_len == 0 || token_len > UPS_LIMIT_TOKEN_LEN)
		return false;
	/* Compare full fixed-size buffers against every entry, so the time
	 * taken depends on neither the matching prefix nor which entry
	 * matched. */
	memset(padded, 0, sizeof(padded));
	memcpy(padded, token, token_len);
	for (size_t i = 0; i < auth->count; i++) {
		const struct ups_auth_entry *e = &auth->entries[i];
		unsigned char want[UPS_LIMIT_TOKEN_LEN];
		int same;

		memset(want, 0, sizeof(want));
		memcpy(want, e->token, e->token_len);
		same = CRYPTO_memcmp(want, padded, sizeof(padded)) == 0 &&
		       e->token_len == token_len && e->role == role;
		match |= same;
	}
	OPENSSL_cleanse(padded, sizeof(padded));
	return match != 0;
}

int ups_token_file_read(const char *path, char *out, size_t outlen,
			char *err, size_t errlen)
{
	char *text, *start, *end;
	size_t len;
	int rv;

	rv = auth_read_file(path, UPS_LIMIT_AUTH_LINE_LEN, &text, err,
			    errlen);
	if (rv)
		return rv;
	start = text;
	while (*start == ' ' || *start == '\t' || *start == '\r' ||
	       *start == '\n')
		start++;
	end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
			       end[-1] == '\r' || end[-1] == '\n'))
		end--;
	len = (size_t)(end - start);
	rv = 0;
	if (len == 0 || len > UPS_LIMIT_TOKEN_LEN || len >= outlen) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			      "%s: token must be 1..%d characters", path,
			      UPS_LIMIT_TOKEN_LEN);
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if (!auth_token_char_ok((unsigned char)start[i])) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				      "%s: token has a space or control "
				      "character",
				      path);
			goto out;
		}
	}
	memcpy(out, start, len);
	out[len] = '\0';
out:
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rv;
}
