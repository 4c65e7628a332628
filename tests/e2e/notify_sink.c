/* notify_sink: stands in for systemd's notification socket in the tests.
 * Binds a datagram socket at PATH (as NOTIFY_SOCKET names it), prints
 * "listening" once it is bound, then every datagram received as one line
 * on stdout (newlines inside a datagram become spaces), flushed at once.
 * Runs until killed.
 *
 *   notify_sink PATH */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notify_sink PATH\n");
		return 2;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify_sink: bind");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return 1;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
	}
}
