/* The local Juju client (juju_client.h). */
#include "contrib/cli/juju_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contrib/cli/source.h"
#include "proto/errors.h"

/* The absolute path of prog on $PATH into buf, or -1. */
static int juju_client_find(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH"), *p, *colon;
	size_t dlen;

	if (!path)
		return -1;
	for (p = path; *p; p = colon + 1) {
		colon = strchr(p, ':');
		if (!colon)
			colon = p + strlen(p);
		dlen = (size_t)(colon - p);
		if (dlen > 0 &&
		    snprintf(buf, len, "%.*s/%s", (int)dlen, p, prog) <
		        (int)len &&
		    access(buf, X_OK) == 0)
			return 0;
		if (!*colon)
			break;
	}
	return -1;
}

int juju_client_version(struct ups_version *v, char *err, size_t errlen)
{
	char prog[4096], out[JUJU_CLIENT_OUTPUT_MAX + 1];
	size_t got = 0;
	int pipefd[2], status;
	ssize_t n;
	pid_t pid, w;

	if (juju_client_find("juju", prog, sizeof(prog)) != 0)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "no juju client on PATH");
	if (pipe(pipefd) != 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "pipe: %s",
		                strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return ups_errf(UPS_ERR_IO, err, errlen, "fork: %s",
		                strerror(errno));
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(prog, "juju", "version", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (got < JUJU_CLIENT_OUTPUT_MAX) {
		n = read(pipefd[0], out + got, JUJU_CLIENT_OUTPUT_MAX - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(pipefd[0]);
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "%.128s version failed", prog);
	if (source_parse_juju_version(out, v) != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "cannot parse \"%.64s\" from %.128s version",
		                out, prog);
	return 0;
}
