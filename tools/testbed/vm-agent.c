// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * vm-agent: PID 1 of a testbed VM once guest-init has set the VM up.
 *
 * Listens on a TCP address (reached from the host through QEMU's restricted
 * user-mode network and a host-forwarded loopback port), runs one command per
 * connection (see vm-proto.h) and reaps every orphan, as init must.
 * Each connection is served by a forked handler that relays the command's
 * stdout and stderr and finally its exit status; if the host goes away the
 * handler kills the command's whole process group.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm-io.h"
#include "vm-proto.h"

static int send_frame(int sock, uint8_t type, const void *data, uint32_t len)
{
	struct vm_frame f = { .type = type, .len = len };

	if (write_all(sock, &f, sizeof(f)))
		return -1;
	return write_all(sock, data, len);
}

static char *read_string(int sock, uint32_t len)
{
	char *s;

	if (len > VM_MAX_ARG_LEN)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	if (read_all(sock, s, len)) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

/* Read a request; returns a NULL-terminated argv and sets *cwd, or NULL. */
static char **read_request(int sock, char **cwd)
{
	struct vm_req req;
	char **argv;
	uint32_t i, len;

	if (read_all(sock, &req, sizeof(req)) || req.magic != VM_MAGIC ||
	    req.argc == 0 || req.argc > VM_MAX_ARGS)
		return NULL;
	*cwd = read_string(sock, req.cwd_len);
	if (!*cwd)
		return NULL;
	argv = calloc(req.argc + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	for (i = 0; i < req.argc; i++) {
		if (read_all(sock, &len, sizeof(len)))
			return NULL;
		argv[i] = read_string(sock, len);
		if (!argv[i])
			return NULL;
	}
	return argv;
}

static void exec_child(char **argv, const char *cwd, int out, int err)
{
	int null = open("/dev/null", O_RDONLY);

	setsid();
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	if (chdir(cwd) && chdir("/"))
		_exit(127);
	execvp(argv[0], argv);
	dprintf(2, "vm-agent: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Relay the command's output until it exits; returns its wait status. */
static int relay(int sock, pid_t child, int out, int err)
{
	struct pollfd p[3] = {
		{ .fd = out, .events = POLLIN },
		{ .fd = err, .events = POLLIN },
		{ .fd = sock, .events = POLLIN },
	};
	int open_pipes = 2, status = 0, exited = 0;
	char buf[65536];

	while (open_pipes) {
		/*
		 * Once the command has exited, stop waiting for output from
		 * background processes that inherited its pipes.
		 */
		int r = poll(p, 3, exited ? 200 : 1000);

		if (r < 0 && errno != EINTR)
			break;
		if (!exited && waitpid(child, &status, WNOHANG) == child)
			exited = 1;
		if (r == 0 && exited)
			break;
		if (p[2].revents) {
			/* The host hung up (or sent junk): stop the command. */
			kill(-child, SIGKILL);
			if (!exited)
				waitpid(child, &status, 0);
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				p[i].fd = -1;
				open_pipes--;
				continue;
			}
			if (send_frame(sock, i ? VM_ERR : VM_OUT, buf,
				       (uint32_t)n)) {
				kill(-child, SIGKILL);
				p[2].revents = POLLHUP;
			}
		}
	}
	if (!exited)
		waitpid(child, &status, 0);
	return status;
}

static void serve(int sock)
{
	int out[2], err[2], status;
	uint32_t code;
	char **argv, *cwd = NULL;
	pid_t child;

	if (send_frame(sock, VM_HELLO, NULL, 0))
		_exit(1);
	argv = read_request(sock, &cwd);
	if (!argv)
		_exit(1);
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		_exit(1);
	child = fork();
	if (child < 0)
		_exit(1);
	if (child == 0)
		exec_child(argv, cwd, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	status = relay(sock, child, out[0], err[0]);
	if (status < 0)
		_exit(1);
	code = WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) :
				   128u + (uint32_t)WTERMSIG(status);
	send_frame(sock, VM_EXIT, &code, sizeof(code));
	_exit(0);
}

static void reap(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sigaction sact = { .sa_handler = reap,
				  .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	int one = 1, lsock;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: vm-agent IPV4-ADDRESS PORT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGCHLD, &sact, NULL);

	lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0 ||
	    setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lsock, 64)) {
		perror("vm-agent: listen");
		/* As PID 1 we must not exit: keep reaping. */
		for (;;)
			pause();
	}
	fprintf(stderr, "vm-agent: listening on %s:%s\n", argv[1], argv[2]);
	for (;;) {
		int sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (sock < 0)
			continue;
		setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pid = fork();
		if (pid == 0) {
			close(lsock);
			signal(SIGCHLD, SIG_DFL);
			serve(sock);
		}
		close(sock);
	}
}
