// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * vm-run: the host side of `testbed run`.  Sends one command to a VM's
 * vm-agent (see vm-proto.h), copies its stdout and stderr to ours and exits
 * with its exit status.
 *
 *   vm-run [--wait SECONDS] [--timeout SECONDS] [--host IPV4] PORT --
 *          COMMAND [ARG...]
 *   vm-run --free-port          print a free TCP port on 127.0.0.1
 *
 * --wait retries the connection (the VM may still be booting); --timeout
 * gives up on a command that runs too long (exit 124, like timeout(1));
 * --host reaches an agent at that address instead of 127.0.0.1 (from one
 * VM to an agent the other VM runs on vlink: tools/testbed/vm-rsh).
 * Exit 125 means the agent could not be reached or the connection broke.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vm-io.h"
#include "vm-proto.h"

#define EXIT_AGENT 125
#define EXIT_TIMEOUT 124

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s, (struct sockaddr *)&sa, &len)) {
		perror("vm-run: free port");
		return 1;
	}
	printf("%u\n", ntohs(sa.sin_port));
	close(s);
	return 0;
}

/*
 * Connect to the agent.  QEMU's user network accepts the connection even
 * before the VM listens, so the agent is only there once its hello frame
 * arrives (within HELLO_MS, times TESTBED_TIME_SCALE: a sanitizer kernel
 * busy in a long copy answers late).  Returns the socket or -1.
 */
#define HELLO_MS 3000
static struct in_addr agent_addr = { .s_addr = 0 };

/* A non-blocking connect that returned ERR: true once it completed. */
static bool connected(int s, int err, int ms)
{
	struct pollfd p = { .fd = s, .events = POLLOUT };
	socklen_t len = sizeof(err);

	if (err != EINPROGRESS || poll(&p, 1, ms) != 1 ||
	    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len))
		return false;
	return err == 0;
}

static int connect_agent(int port)
{
	const char *scale = getenv("TESTBED_TIME_SCALE");
	int hello_ms = HELLO_MS * (scale && atoi(scale) > 1 ? atoi(scale) : 1);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct pollfd p = { .events = POLLIN };
	struct vm_frame f;
	int s, one = 1;

	sa.sin_addr = agent_addr;
	/*
	 * Non-blocking connect, bounded by hello_ms too: when the QEMU behind
	 * the port does not run (stopped, or starved by the host), its accept
	 * queue fills, the kernel drops our SYNs, and a blocking connect
	 * would wait minutes for its retries.
	 */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !connected(s, errno, hello_ms))
		goto fail;
	if (fcntl(s, F_SETFL, 0))
		goto fail;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p.fd = s;
	if (poll(&p, 1, hello_ms) != 1 || read_all(s, &f, sizeof(f)) ||
	    f.type != VM_HELLO || f.len != 0)
		goto fail;
	return s;
fail:
	close(s);
	return -1;
}

static int send_request(int s, int argc, char **argv)
{
	char cwd[4096];
	struct vm_req req = { .magic = VM_MAGIC, .argc = (uint32_t)argc };

	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	req.cwd_len = (uint32_t)strlen(cwd);
	if (write_all(s, &req, sizeof(req)) || write_all(s, cwd, req.cwd_len))
		return -1;
	for (int i = 0; i < argc; i++) {
		uint32_t len = (uint32_t)strlen(argv[i]);

		if (write_all(s, &len, sizeof(len)) ||
		    write_all(s, argv[i], len))
			return -1;
	}
	return 0;
}

/*
 * Copy frames to stdout/stderr until the exit frame.  Returns the exit code,
 * or EXIT_AGENT / EXIT_TIMEOUT.
 */
static int receive(int s, double deadline)
{
	static char buf[65536];
	struct vm_frame f;

	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		int timeout = -1;

		if (deadline > 0) {
			double left = deadline - now();

			if (left <= 0) {
				fprintf(stderr, "vm-run: command timed out\n");
				return EXIT_TIMEOUT;
			}
			timeout = (int)(left * 1000) + 1;
		}
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			return EXIT_AGENT;
		if (!p.revents)
			continue;
		if (read_all(s, &f, sizeof(f)))
			return EXIT_AGENT;
		if (f.len > sizeof(buf) || read_all(s, buf, f.len))
			return EXIT_AGENT;
		switch (f.type) {
		case VM_OUT:
		case VM_ERR:
			if (write_all(f.type == VM_OUT ? 1 : 2, buf, f.len) &&
			    errno != EPIPE)
				return EXIT_AGENT;
			break;
		case VM_EXIT: {
			uint32_t code;

			if (f.len != sizeof(code))
				return EXIT_AGENT;
			memcpy(&code, buf, sizeof(code));
			return code > 255 ? 255 : (int)code;
		}
		default:
			return EXIT_AGENT;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vm-run [--wait SEC] [--timeout SEC] [--host IPV4] PORT -- CMD [ARG...]\n"
		"       vm-run --free-port\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double wait_s = 0, timeout_s = 0, start, deadline;
	int i = 1, port;

	signal(SIGPIPE, SIG_IGN);
	agent_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc == 2 && !strcmp(argv[1], "--free-port"))
		return free_port();
	for (; i < argc && !strncmp(argv[i], "--", 2) && argv[i][2]; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--wait"))
			wait_s = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout"))
			timeout_s = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--host") ||
			 inet_pton(AF_INET, argv[i + 1], &agent_addr) != 1)
			usage();
	}
	if (i + 2 >= argc || strcmp(argv[i + 1], "--"))
		usage();
	port = atoi(argv[i]);
	argv += i + 2;
	argc -= i + 2;

	start = now();
	deadline = timeout_s > 0 ? start + timeout_s : 0;
	for (;;) {
		int s = connect_agent(port), code = EXIT_AGENT;

		if (s >= 0) {
			if (send_request(s, argc, argv) == 0)
				code = receive(s, deadline);
			close(s);
			return code;
		}
		if (now() - start >= wait_s) {
			fprintf(stderr, "vm-run: no agent on port %d\n", port);
			return EXIT_AGENT;
		}
		usleep(200 * 1000);
	}
}
