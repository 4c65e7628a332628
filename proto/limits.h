/* Every size that comes from the network or a file is checked against one
 * of these named limits before anything is allocated for it. */
#ifndef UPSTAGE_PROTO_LIMITS_H
#define UPSTAGE_PROTO_LIMITS_H

/* Largest JSON envelope (one websocket text message), bytes. */
#define UPS_LIMIT_TEXT_MSG_MAX (64 * 1024)
/* Largest chunk payload, bytes. */
#define UPS_LIMIT_CHUNK_PAYLOAD_MAX (1024 * 1024)
/* Largest binary websocket message: chunk header plus payload. */
#define UPS_LIMIT_BINARY_MSG_MAX (32 + UPS_LIMIT_CHUNK_PAYLOAD_MAX)
/* Largest request-id and origin: JSON-safe integers (2^53 - 1). */
#define UPS_LIMIT_REQUEST_ID_MAX 9007199254740991ULL
#define UPS_LIMIT_ORIGIN_MAX 4294967295ULL
/* Facade ("type") and method ("request") names. */
#define UPS_LIMIT_NAME_LEN 64
/* Facade version. */
#define UPS_LIMIT_FACADE_VERSION_MAX 1000
/* Error message text on the wire. */
#define UPS_LIMIT_ERROR_TEXT_LEN 1024
/* Login token and role. */
#define UPS_LIMIT_TOKEN_LEN 256
#define UPS_LIMIT_ROLE_LEN 16
/* Version strings and their parts. */
#define UPS_LIMIT_VERSION_LEN 64
#define UPS_LIMIT_VERSION_TAG_LEN 16
#define UPS_LIMIT_RELEASE_LEN 32
#define UPS_LIMIT_ARCH_LEN 16
#define UPS_LIMIT_BINARY_VERSION_LEN                                           \
	(UPS_LIMIT_VERSION_LEN + 1 + UPS_LIMIT_RELEASE_LEN + 1 +               \
	 UPS_LIMIT_ARCH_LEN)
/* Any other string field in params. */
#define UPS_LIMIT_STRING_LEN 1024
/* Binaries in one page of AgentBinaries.List (the most a client may ask
 * for, and the default): with each record at most
 * UPS_LIMIT_BINARY_RECORD_JSON bytes a page stays under the text limit. */
#define UPS_LIMIT_LIST_PAGE 100
#define UPS_LIMIT_BINARY_RECORD_JSON 512
/* Bytes queued for sending to one peer before it is treated as stuck. */
#define UPS_LIMIT_OUTQ_BYTES (8 * 1024 * 1024)
/* Bytes (as proto/net/outq.h counts them) queued for a peer that has not
 * logged in: enough for the answers a login takes, and no more. */
#define UPS_LIMIT_PRELOGIN_OUTQ_BYTES (16 * 1024)
/* Failed logins before a connection is closed. */
#define UPS_LIMIT_LOGIN_FAILURES 3
/* Lines and line length of an auth file. */
#define UPS_LIMIT_AUTH_LINES 1024
#define UPS_LIMIT_AUTH_LINE_LEN 512
/* Config file size. */
#define UPS_LIMIT_CONFIG_FILE_BYTES (64 * 1024)

/* Agent binary uploads (AgentBinaries, PROTOCOL.md). The defaults of the
 * upstaged keys (max-upload-size, upload-window...) live in the config
 * table, agent/config.c, and nowhere else; these are the fixed parts. */
/* Bytes written between two fdatasyncs of a partial upload (the durable
 * offset a resume starts from advances by this much). */
#define UPS_LIMIT_UPLOAD_SYNC_BYTES (32 * 1024 * 1024)
/* A stream name on the wire; proto/binary.c checks at compile time that
 * every name of UPS_STREAMS fits. */
#define UPS_LIMIT_STREAM_LEN 15
/* An upload token (AgentBinaries version 2): the client's name for a
 * partial upload whose digest it does not declare up front, 16..64 bytes
 * of [A-Za-z0-9_-]. */
#define UPS_LIMIT_UPLOAD_TOKEN_MIN 16
#define UPS_LIMIT_UPLOAD_TOKEN_LEN 64

/* Machines (PROTOCOL.md "Machine"): a machine id and an order id. */
#define UPS_LIMIT_MACHINE_ID_LEN 64
#define UPS_LIMIT_ORDER_ID_LEN 64
/* Machines in one page of Machines.List at most (a page of records with
 * long reasons ends earlier, under the text limit). */
#define UPS_LIMIT_MACHINE_PAGE 100
/* Machine ids in one Machines.Order or Machines.Revert. */
#define UPS_LIMIT_ORDER_MACHINES 64

/* HTTP on upstaged's port (proto/http.h, agent/net/http.c). */
/* The longest request path (URI without its query) served; a longer one
 * is answered 414. Juju's longest, /model/<uuid>/tools/<binary version>,
 * has 164 bytes. */
#define UPS_LIMIT_HTTP_PATH_LEN 1024
/* The room lws gets for a request's line and headers: enough for a URI
 * well past UPS_LIMIT_HTTP_PATH_LEN, so upstaged sees it and says 414
 * rather than lws dropping the connection. */
#define UPS_LIMIT_HTTP_HEADER_BYTES 8192

#endif
