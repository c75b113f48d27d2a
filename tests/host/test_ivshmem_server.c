// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Host test of tools/ivshmem-server.
 *
 * Usage: test_ivshmem_server PATH-TO-ivshmem-server
 *
 * Starts the server on a socket in a fresh temporary directory and talks
 * to it with test clients that speak the client side of QEMU's ivshmem
 * protocol (docs/specs/ivshmem-spec.rst): every message is a little-endian
 * int64, optionally with one fd as SCM_RIGHTS.  Checks the exact message
 * sequence, the shared memory and its header, that the eventfds connect
 * the peers the way QEMU doorbells use them, id allocation (lowest free),
 * refusal when full, disconnect announcements, bad options, stale and live
 * sockets, a clean exit on SIGTERM, and the --static-peers mode (eventfds
 * belong to ids; nothing is announced; a returning id gets the eventfds
 * its peers already hold).
 *
 * Every check prints "ok: ..."; the first failure prints "FAIL: ..." with
 * what was expected and what came, dumps the server logs and exits 1.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ntb-ivshmem.h"

#define MSG_TIMEOUT_MS 5000 /* a message the server owes us */
#define START_TIMEOUT_MS 30000 /* server start (slow under valgrind) */
#define QUIET_MS 200 /* "no further message" window */
#define MAX_PEERS 4 /* most peers any test server has */
#define MAX_VECTORS 32 /* most vectors any test server has */
#define MAX_PROCS 32

struct geom {
	uint64_t shm_size;
	unsigned int vectors;
	unsigned int max_peers;
};

struct server {
	pid_t pid;
	char sock[PATH_MAX];
	char pidfile[PATH_MAX];
	char log[PATH_MAX];
	struct geom g;
};

struct client {
	const char *name;
	int sock;
	int64_t id;
	const struct geom *g;
	int shm_fd;
	unsigned char *shm;
	/* fds[i][v]: eventfd for vector v of peer i, as the server sent it */
	int fds[MAX_PEERS][MAX_VECTORS];
	unsigned int nfds[MAX_PEERS];
};

static const char *server_bin;
static char tmpdir[96]; /* short: socket paths must fit sun_path */
static pid_t procs[MAX_PROCS]; /* spawned, not yet reaped */
static char proc_logs[MAX_PROCS][PATH_MAX];

/* ---- reporting ---------------------------------------------------- */

static void dump_logs(void)
{
	char line[512];
	FILE *f;
	int i;

	for (i = 0; i < MAX_PROCS; i++) {
		if (!proc_logs[i][0])
			continue;
		f = fopen(proc_logs[i], "r");
		if (!f)
			continue;
		fprintf(stderr, "---- %s ----\n", proc_logs[i]);
		while (fgets(line, sizeof(line), f))
			fputs(line, stderr);
		fclose(f);
	}
}

static void __attribute__((noreturn, format(printf, 3, 4)))
fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_logs();
	exit(1);
}

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			FAIL(__VA_ARGS__); \
	} while (0)

#define CHECK_EQ(what, expected, got)                                      \
	do {                                                               \
		long long e_ = (long long)(expected);                      \
		long long g_ = (long long)(got);                           \
		if (e_ != g_)                                              \
			FAIL("%s: expected %lld, got %lld", what, e_, g_); \
	} while (0)

static void __attribute__((format(printf, 1, 2))) ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- processes ---------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void forget_proc(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_PROCS; i++)
		if (procs[i] == pid)
			procs[i] = 0;
}

/* Run @argv with stdout and stderr going to @log. */
static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid;
	int i, fd;

	for (i = 0; i < MAX_PROCS && procs[i]; i++)
		;
	CHECK(i < MAX_PROCS, "too many processes");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (fd > 2)
			close(fd);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	procs[i] = pid;
	snprintf(proc_logs[i], PATH_MAX, "%s", log);
	return pid;
}

/* Wait up to @timeout_ms for @pid to end; true and *status if it did. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status)
{
	long long end = now_ms() + timeout_ms;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		CHECK(r >= 0, "waitpid %d: %s", (int)pid, strerror(errno));
		if (r == pid) {
			forget_proc(pid);
			return true;
		}
		if (now_ms() > end)
			return false;
		sleep_ms(10);
	}
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "wait status %#x", status);
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void tmp_path(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	CHECK(d, "opendir %s: %s", path, strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The server's fd count settles right after it handled an event. */
static void expect_fd_count(const struct server *sv, int want, const char *what)
{
	long long end = now_ms() + MSG_TIMEOUT_MS;
	int got;

	while ((got = count_fds(sv->pid)) != want && now_ms() < end)
		sleep_ms(10);
	if (got != want)
		FAIL("server open fds %s: expected %d, got %d", what, want,
		     got);
	ok("server holds %d fds %s", got, what);
}

/* ---- servers ------------------------------------------------------ */

#define MAX_ARGS 24

/*
 * Start the server on socket @sock_name with pidfile @pid_name in the
 * temporary directory; the NULL-terminated variadic arguments follow.
 * Returns once the pidfile holds the server's pid, which it writes after
 * it listens.
 */
static void start_server(struct server *sv, const char *sock_name,
			 const char *pid_name, const char *log_name,
			 const struct geom *g, ...)
{
	char *argv[MAX_ARGS];
	long long end;
	const char *a;
	va_list ap;
	int argc = 0, status;
	char buf[64], st[64];
	long pid;
	FILE *f;

	memset(sv, 0, sizeof(*sv));
	tmp_path(sv->sock, sock_name);
	tmp_path(sv->pidfile, pid_name);
	tmp_path(sv->log, log_name);
	sv->g = *g;

	argv[argc++] = (char *)server_bin;
	argv[argc++] = "--socket";
	argv[argc++] = sv->sock;
	argv[argc++] = "--pidfile";
	argv[argc++] = sv->pidfile;
	va_start(ap, g);
	while ((a = va_arg(ap, const char *)) && argc < MAX_ARGS - 1)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	sv->pid = spawn(argv, sv->log);
	end = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		/* The pidfile may still hold the pid of a killed server. */
		pid = -1;
		f = fopen(sv->pidfile, "r");
		if (f) {
			if (!fgets(buf, sizeof(buf), f) || !strchr(buf, '\n') ||
			    sscanf(buf, "%ld", &pid) != 1)
				pid = -1;
			fclose(f);
		}
		if (pid == sv->pid)
			break;
		if (wait_exit(sv->pid, 0, &status)) {
			describe_status(status, st, sizeof(st));
			FAIL("server %s did not start: %s", log_name, st);
		}
		if (now_ms() > end)
			FAIL("server %s: pidfile after %d ms: expected pid %d, "
			     "got %ld (-1: none)",
			     log_name, START_TIMEOUT_MS, (int)sv->pid, pid);
		sleep_ms(10);
	}
	CHECK(path_exists(sv->sock), "server listens but %s does not exist",
	      sv->sock);
	ok("server %s started (pid %d), pidfile holds its pid", log_name,
	   (int)sv->pid);
}

static void stop_server(struct server *sv)
{
	char st[64];
	int status;

	CHECK(kill(sv->pid, SIGTERM) == 0, "kill: %s", strerror(errno));
	if (!wait_exit(sv->pid, START_TIMEOUT_MS, &status))
		FAIL("server did not exit within %d ms of SIGTERM",
		     START_TIMEOUT_MS);
	describe_status(status, st, sizeof(st));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "server after SIGTERM: expected exit status 0, got %s", st);
	CHECK(!path_exists(sv->sock), "socket %s still exists after exit",
	      sv->sock);
	CHECK(!path_exists(sv->pidfile), "pidfile %s still exists after exit",
	      sv->pidfile);
	ok("SIGTERM: server exited with status 0, removed socket and pidfile");
}

/*
 * Run the server with @args (NULL-terminated, without the program) and
 * expect it to exit non-zero with @needle in its output.
 */
static void expect_rejected(const char *what, const char *needle,
			    const char *const *args)
{
	char *argv[MAX_ARGS];
	char log[PATH_MAX], line[512], st[64];
	int argc = 0, status;
	pid_t pid;

	argv[argc++] = (char *)server_bin;
	while (*args && argc < MAX_ARGS - 1)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;

	tmp_path(log, "rejected.log");
	pid = spawn(argv, log);
	if (!wait_exit(pid, START_TIMEOUT_MS, &status))
		FAIL("%s: server still running after %d ms, expected it to "
		     "refuse to start",
		     what, START_TIMEOUT_MS);
	describe_status(status, st, sizeof(st));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0,
	      "%s: expected a non-zero exit status, got %s", what, st);
	CHECK(file_contains(log, needle),
	      "%s: expected the message to contain '%s'", what, needle);
	first_line(log, line, sizeof(line));
	ok("%s: %s, says \"%s\"", what, st, line);
	unlink(log);
}

/* ---- protocol client ---------------------------------------------- */

/*
 * Receive one message.  Returns 1 with *val and *fd (-1: none), 0 on EOF
 * before any byte, -1 if nothing came within @timeout_ms.
 */
static int recv_msg(int sock, int timeout_ms, int64_t *val, int *fd)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *cmsg;
	struct msghdr mh;
	struct iovec iov;
	uint64_t le = 0;
	size_t got = 0;
	ssize_t n;
	int nfd, r;

	*fd = -1;
	while (got < sizeof(le)) {
		r = poll(&pfd, 1, timeout_ms);
		CHECK(r >= 0, "poll: %s", strerror(errno));
		if (!r) {
			CHECK(!got, "message cut after %zu bytes", got);
			return -1;
		}
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (char *)&le + got;
		iov.iov_len = sizeof(le) - got;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "recvmsg: %s", strerror(errno));
		if (!n) {
			CHECK(!got, "EOF after %zu bytes of a message", got);
			return 0;
		}
		CHECK(!(mh.msg_flags & MSG_CTRUNC),
		      "message came with more fds than fit (MSG_CTRUNC)");
		for (cmsg = CMSG_FIRSTHDR(&mh); cmsg;
		     cmsg = CMSG_NXTHDR(&mh, cmsg)) {
			CHECK(cmsg->cmsg_level == SOL_SOCKET &&
				      cmsg->cmsg_type == SCM_RIGHTS,
			      "unexpected control message %d/%d",
			      cmsg->cmsg_level, cmsg->cmsg_type);
			nfd = (int)((cmsg->cmsg_len - CMSG_LEN(0)) /
				    sizeof(int));
			CHECK(nfd == 1 && *fd < 0,
			      "expected one fd per message at most, got %d",
			      nfd + (*fd >= 0));
			memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
		}
		got += n;
	}
	*val = (int64_t)le64toh(le);
	return 1;
}

/* Expect message @want, with an fd iff @want_fd; returns the fd. */
static int expect_msg(struct client *c, const char *what, int64_t want,
		      bool want_fd)
{
	int64_t val;
	int fd, r;

	r = recv_msg(c->sock, MSG_TIMEOUT_MS, &val, &fd);
	if (r < 0)
		FAIL("%s: %s: expected message %lld %s fd, got nothing in "
		     "%d ms",
		     c->name, what, (long long)want,
		     want_fd ? "with" : "without", MSG_TIMEOUT_MS);
	if (!r)
		FAIL("%s: %s: expected message %lld %s fd, got EOF", c->name,
		     what, (long long)want, want_fd ? "with" : "without");
	if (val != want)
		FAIL("%s: %s: expected message %lld, got %lld (%s fd)", c->name,
		     what, (long long)want, (long long)val,
		     fd >= 0 ? "with" : "without");
	if (want_fd && fd < 0)
		FAIL("%s: %s: message %lld: expected an fd, got none", c->name,
		     what, (long long)val);
	if (!want_fd && fd >= 0)
		FAIL("%s: %s: message %lld: expected no fd, got one", c->name,
		     what, (long long)val);
	return fd;
}

static void expect_quiet(struct client *c, const char *when)
{
	int64_t val;
	int fd, r;

	r = recv_msg(c->sock, QUIET_MS, &val, &fd);
	if (r > 0)
		FAIL("%s: %s: expected no message, got %lld (%s fd)", c->name,
		     when, (long long)val, fd >= 0 ? "with" : "without");
	if (!r)
		FAIL("%s: %s: expected no message, got EOF", c->name, when);
}

static void expect_eof(struct client *c, const char *what)
{
	int64_t val;
	int fd, r;

	r = recv_msg(c->sock, MSG_TIMEOUT_MS, &val, &fd);
	if (r > 0)
		FAIL("%s: %s: expected EOF, got message %lld (%s fd)", c->name,
		     what, (long long)val, fd >= 0 ? "with" : "without");
	if (r < 0)
		FAIL("%s: %s: expected EOF, got nothing in %d ms", c->name,
		     what, MSG_TIMEOUT_MS);
}

static void client_connect(struct client *c, const char *name,
			   const struct server *sv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	unsigned int i, v;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->id = -1;
	c->g = &sv->g;
	c->shm_fd = -1;
	for (i = 0; i < MAX_PEERS; i++)
		for (v = 0; v < MAX_VECTORS; v++)
			c->fds[i][v] = -1;

	CHECK(strlen(sv->sock) < sizeof(addr.sun_path), "socket path too long");
	memcpy(addr.sun_path, sv->sock, strlen(sv->sock) + 1);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c->sock >= 0, "socket: %s", strerror(errno));
	CHECK(connect(c->sock, (struct sockaddr *)&addr, sizeof(addr)) == 0,
	      "%s: connect to %s: %s", name, sv->sock, strerror(errno));
}

static void close_peer_fds(struct client *c, unsigned int id)
{
	unsigned int v;

	for (v = 0; v < MAX_VECTORS; v++) {
		if (c->fds[id][v] >= 0)
			close(c->fds[id][v]);
		c->fds[id][v] = -1;
	}
	c->nfds[id] = 0;
}

static void client_close(struct client *c)
{
	unsigned int i;

	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	for (i = 0; i < MAX_PEERS; i++)
		close_peer_fds(c, i);
	if (c->shm)
		munmap(c->shm, c->g->shm_size);
	c->shm = NULL;
	if (c->shm_fd >= 0)
		close(c->shm_fd);
	c->shm_fd = -1;
}

/* The @vectors messages "@id + eventfd" that connect peer @id. */
static void expect_peer_fds(struct client *c, int64_t id, const char *what)
{
	unsigned int v;

	CHECK(id >= 0 && id < MAX_PEERS, "peer id %lld out of test range",
	      (long long)id);
	CHECK(!c->nfds[id], "%s: %s: already holds eventfds of peer %lld",
	      c->name, what, (long long)id);
	for (v = 0; v < c->g->vectors; v++)
		c->fds[id][v] = expect_msg(c, what, id, true);
	c->nfds[id] = c->g->vectors;
}

static void expect_connect(struct client *c, int64_t id)
{
	expect_peer_fds(c, id, "connect notification");
	expect_quiet(c, "after connect notification");
	ok("%s: told peer %lld joined: %u x (id %lld + eventfd), nothing more",
	   c->name, (long long)id, c->g->vectors, (long long)id);
}

static void expect_disconnect(struct client *c, int64_t id)
{
	CHECK(c->nfds[id] == c->g->vectors,
	      "%s: holds %u eventfds of peer %lld before its disconnect, "
	      "expected %u",
	      c->name, c->nfds[id], (long long)id, c->g->vectors);
	expect_msg(c, "disconnect notification", id, false);
	close_peer_fds(c, (unsigned int)id);
	expect_quiet(c, "after disconnect notification");
	ok("%s: told peer %lld left: id %lld without fd, nothing more", c->name,
	   (long long)id, (long long)id);
}

static void check_shm(struct client *c, int fd)
{
	const struct geom *g = c->g;
	struct ntb_ivshmem_hdr h;
	struct stat st;
	void *p;

	CHECK(fstat(fd, &st) == 0, "fstat shm fd: %s", strerror(errno));
	CHECK_EQ("shared memory size (fstat)", g->shm_size, st.st_size);
	p = mmap(NULL, g->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "%s: mmap of the shm fd: %s", c->name,
	      strerror(errno));
	c->shm_fd = fd;
	c->shm = p;

	memcpy(&h, p, sizeof(h));
	if (le64toh(h.magic) != NTB_IVSHMEM_MAGIC)
		FAIL("header magic: expected %#llx, got %#llx",
		     (unsigned long long)NTB_IVSHMEM_MAGIC,
		     (unsigned long long)le64toh(h.magic));
	CHECK_EQ("header version", NTB_IVSHMEM_VERSION, le32toh(h.version));
	CHECK_EQ("header hdr_size", sizeof(h), le32toh(h.hdr_size));
	CHECK_EQ("header shm_size", g->shm_size, le64toh(h.shm_size));
	CHECK_EQ("header vectors", g->vectors, le32toh(h.vectors));
	CHECK_EQ("header max_peers", g->max_peers, le32toh(h.max_peers));
	CHECK_EQ("header side_offset", NTB_IVSHMEM_SIDE_OFFSET,
		 le32toh(h.side_offset));
	CHECK_EQ("header side_size", NTB_IVSHMEM_SIDE_SIZE,
		 le32toh(h.side_size));
	ok("%s: shm fd maps %llu bytes; header: magic, version %u, hdr_size "
	   "%zu, shm_size, vectors %u, max_peers %u, side %u+%u",
	   c->name, (unsigned long long)g->shm_size, NTB_IVSHMEM_VERSION,
	   sizeof(h), g->vectors, g->max_peers, NTB_IVSHMEM_SIDE_OFFSET,
	   NTB_IVSHMEM_SIDE_SIZE);
}

static void check_zero_after_header(struct client *c)
{
	uint64_t i;

	for (i = sizeof(struct ntb_ivshmem_hdr); i < c->g->shm_size; i++)
		if (c->shm[i])
			FAIL("shm byte %llu: expected 0, got %#x",
			     (unsigned long long)i, c->shm[i]);
	ok("%s: shm after the header is zero-filled", c->name);
}

/*
 * Full handshake of a new client: version 0, its id, the shm fd, then the
 * eventfds of each peer in @others (in that order), then its own.
 */
static void handshake(struct client *c, int64_t want_id, const int *others,
		      unsigned int n_others)
{
	char list[64] = "";
	unsigned int i;
	int fd;

	expect_msg(c, "protocol version", 0, false);
	expect_msg(c, "own peer id", want_id, false);
	c->id = want_id;
	fd = expect_msg(c, "shared memory", -1, true);
	check_shm(c, fd);
	for (i = 0; i < n_others; i++) {
		expect_peer_fds(c, others[i], "eventfds of an existing peer");
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%d", i ? "," : "", others[i]);
	}
	expect_peer_fds(c, want_id, "own eventfds (interrupt setup)");
	expect_quiet(c, "after the handshake");
	ok("%s: handshake: version 0, id %lld, shm fd, %u eventfds of each "
	   "other peer [%s], %u own eventfds, nothing more",
	   c->name, (long long)want_id, c->g->vectors, list, c->g->vectors);
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

/*
 * QEMU doorbell: @from writes its eventfd for peer @to, vector v; @to
 * must see it on its own eventfd for vector v and on no other vector.
 */
static void check_doorbells(struct client *from, struct client *to)
{
	unsigned int v, w, n = to->g->vectors;
	uint64_t one = 1, got;
	struct pollfd pfd;
	int *ring = from->fds[to->id];
	int *mine = to->fds[to->id];

	CHECK_EQ("eventfds the sender holds for the receiver", n,
		 from->nfds[to->id]);
	CHECK_EQ("own eventfds of the receiver", n, to->nfds[to->id]);
	for (v = 0; v < n; v++) {
		CHECK(write(ring[v], &one, sizeof(one)) == sizeof(one),
		      "write eventfd: %s", strerror(errno));
		pfd = (struct pollfd){ .fd = mine[v], .events = POLLIN };
		if (poll(&pfd, 1, MSG_TIMEOUT_MS) != 1)
			FAIL("%s -> %s vector %u: not readable on the "
			     "receiver's own eventfd %u",
			     from->name, to->name, v, v);
		for (w = 0; w < n; w++)
			if (w != v && readable(mine[w]))
				FAIL("%s -> %s vector %u: also signalled "
				     "vector %u",
				     from->name, to->name, v, w);
		CHECK(read(mine[v], &got, sizeof(got)) == sizeof(got),
		      "read eventfd: %s", strerror(errno));
		CHECK_EQ("eventfd counter after one doorbell", 1, got);
	}
	ok("%s -> %s: for each of %u vectors, writing the eventfd for peer "
	   "%lld vector v is read by %s on its own vector v only",
	   from->name, to->name, n, (long long)to->id, to->name);
}

static void check_shared(struct client *a, struct client *b)
{
	unsigned char *pa = a->shm + NTB_IVSHMEM_SIDE_OFFSET;
	unsigned char *pb = b->shm + NTB_IVSHMEM_SIDE_OFFSET;

	memcpy(pa, "ping", 4);
	CHECK(!memcmp(pb, "ping", 4), "%s does not see what %s wrote to shm",
	      b->name, a->name);
	memset(pa, 0, 4);
	ok("%s and %s map the same shared memory", a->name, b->name);
}

/* A client the server refuses: the connection closes, nothing sent. */
static void expect_refused(const struct server *sv, const char *name)
{
	struct client c;

	client_connect(&c, name, sv);
	expect_eof(&c, "connection beyond max-peers");
	client_close(&c);
	ok("%s: refused (connection closed, no message) with all %u ids "
	   "taken",
	   name, sv->g.max_peers);
}

/* ---- test cases --------------------------------------------------- */

static void test_bad_options(void)
{
	char sock[PATH_MAX], file[PATH_MAX];
	/* Options after "--socket SOCK" (where the case has one). */
	static const struct {
		const char *what;
		const char *needle; /* expected in the error message */
		bool no_socket;
		const char *args[6];
	} cases[] = {
		{ "--shm-size 65535",
		  "power of two",
		  false,
		  { "--shm-size", "65535" } },
		{ "--shm-size 3000",
		  "power of two",
		  false,
		  { "--shm-size", "3000" } },
		{ "--shm-size 0", "shm-size", false, { "--shm-size", "0" } },
		{ "--shm-size -4096",
		  "invalid number",
		  false,
		  { "--shm-size", "-4096" } },
		{ "--shm-size 4096 (too small for the layout)",
		  "too small",
		  false,
		  { "--shm-size", "4096" } },
		{ "missing --shm-size", "shm-size", false, { NULL } },
		{ "missing --socket",
		  "--socket",
		  true,
		  { "--shm-size", "65536" } },
		{ "--vectors 0",
		  "out of range",
		  false,
		  { "--shm-size", "65536", "--vectors", "0" } },
		{ "--max-peers 0",
		  "out of range",
		  false,
		  { "--shm-size", "65536", "--max-peers", "0" } },
		{ "--vectors 17x",
		  "invalid number",
		  false,
		  { "--shm-size", "65536", "--vectors", "17x" } },
		{ "unknown option",
		  "Usage",
		  false,
		  { "--shm-size", "65536", "--bogus" } },
	};
	const char *argv[MAX_ARGS];
	unsigned int i, j;
	int argc, fd;

	tmp_path(sock, "bad.sock");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argc = 0;
		if (!cases[i].no_socket) {
			argv[argc++] = "--socket";
			argv[argc++] = sock;
		}
		for (j = 0; j < 6 && cases[i].args[j]; j++)
			argv[argc++] = cases[i].args[j];
		argv[argc] = NULL;
		expect_rejected(cases[i].what, cases[i].needle, argv);
	}
	CHECK(!path_exists(sock), "a rejected server left %s behind", sock);

	/* A path that is not a socket is never replaced. */
	tmp_path(file, "regular-file");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "create %s: %s", file, strerror(errno));
	close(fd);
	argv[0] = "--socket";
	argv[1] = file;
	argv[2] = "--shm-size";
	argv[3] = "65536";
	argv[4] = NULL;
	expect_rejected("--socket naming a regular file", "not a socket", argv);
	CHECK(path_exists(file), "the server removed regular file %s", file);
	unlink(file);
}

/* Main scenario: max-peers 2, 17 vectors, like the testbed. */
static void test_two_peers(void)
{
	static const struct geom g = { 65536, 17, 2 };
	static const int peer0[] = { 0 }, peer1[] = { 1 };
	struct client a, b, x;
	struct server sv;
	int base;

	start_server(&sv, "ivshmem.sock", "server.pid", "server1.log", &g,
		     "--shm-size", "65536", "--vectors", "17", "--max-peers",
		     "2", "--verbose", NULL);
	base = count_fds(sv.pid);

	/* A second server on a live socket must refuse to start. */
	{
		char pidfile[PATH_MAX];
		const char *args[] = { "--socket", sv.sock,	"--shm-size",
				       "65536",	   "--pidfile", pidfile,
				       NULL };

		tmp_path(pidfile, "second.pid");
		expect_rejected("second server on a live socket",
				"already listening", args);
		CHECK(!path_exists(pidfile),
		      "refused second server wrote its pidfile");
		CHECK(path_exists(sv.sock),
		      "refused second server removed the live socket");
	}
	expect_fd_count(&sv, base, "with no client");

	client_connect(&a, "A", &sv);
	handshake(&a, 0, NULL, 0);
	check_zero_after_header(&a);

	client_connect(&b, "B", &sv);
	handshake(&b, 1, peer0, 1);
	expect_connect(&a, 1);
	check_shared(&a, &b);
	check_doorbells(&a, &b);
	check_doorbells(&b, &a);
	expect_fd_count(&sv, base + 2 * (1 + 17),
			"with 2 clients (socket + 17 eventfds each)");

	expect_refused(&sv, "C");
	CHECK(file_contains(sv.log, "all 2 peer ids are in use"),
	      "server log does not mention the refused client");
	expect_quiet(&a, "after a refused third client");
	expect_quiet(&b, "after a refused third client");
	ok("A and B were not disturbed by the refused client");

	/* B goes away and comes back: it must get id 1 again. */
	client_close(&b);
	expect_disconnect(&a, 1);
	expect_fd_count(&sv, base + 18, "after B left (its eventfds closed)");
	client_connect(&b, "B'", &sv);
	handshake(&b, 1, peer0, 1);
	expect_connect(&a, 1);
	check_doorbells(&a, &b);
	check_doorbells(&b, &a);

	/*
	 * The testbed restarts a VM at once: its hang-up and the new
	 * connection reach the server together.  The old id must be freed
	 * first, so the new client gets it back.
	 */
	CHECK(kill(sv.pid, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	client_close(&b);
	client_connect(&b, "B'' (restarted)", &sv);
	CHECK(kill(sv.pid, SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
	handshake(&b, 1, peer0, 1);
	expect_msg(&a, "disconnect before the reconnect", 1, false);
	close_peer_fds(&a, 1);
	expect_connect(&a, 1);
	check_doorbells(&a, &b);
	ok("hang-up and reconnect seen together: the new client got id 1 "
	   "again; A told 'left' then 'joined'");

	/* A (id 0) goes away: the next client gets 0. */
	client_close(&a);
	expect_disconnect(&b, 0);
	client_connect(&a, "A'", &sv);
	handshake(&a, 0, peer1, 1);
	expect_connect(&b, 0);
	check_doorbells(&a, &b);
	check_doorbells(&b, &a);

	/* A client that is gone before the server accepts it. */
	client_close(&b);
	expect_disconnect(&a, 1);
	CHECK(kill(sv.pid, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	client_connect(&x, "X", &sv);
	client_close(&x);
	CHECK(kill(sv.pid, SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
	expect_quiet(&a, "after a client vanished before its handshake");
	ok("client gone before its handshake: dropped, A not told");

	/* A client that stops reading mid-handshake and hangs up. */
	client_connect(&x, "X", &sv);
	expect_msg(&x, "protocol version", 0, false);
	expect_msg(&x, "own peer id", 1, false);
	expect_connect(&a, 1);
	client_close(&x); /* with most of its handshake unread */
	expect_disconnect(&a, 1);
	ok("client hanging up with its handshake unread: announced and "
	   "removed");

	/* Data from a client is ignored. */
	client_connect(&b, "B'''", &sv);
	handshake(&b, 1, peer0, 1);
	expect_connect(&a, 1);
	CHECK(write(b.sock, "junk", 4) == 4, "write: %s", strerror(errno));
	expect_quiet(&a, "after B''' sent junk");
	expect_quiet(&b, "after B''' sent junk");
	check_doorbells(&a, &b);
	ok("junk sent by a client is ignored");
	client_close(&b);
	expect_disconnect(&a, 1);
	expect_fd_count(&sv, base + 18, "with only A' left");

	/* Exit on SIGTERM with a client still connected. */
	stop_server(&sv);
	expect_eof(&a, "server exited");
	ok("A': connection closed when the server exited");
	client_close(&a);
}

/* Defaults, stale socket, and a geometry with three peers. */
static void test_defaults_stale_three_peers(void)
{
	static const struct geom gdef = { 65536, NTB_IVSHMEM_VECTORS,
					  NTB_IVSHMEM_MAX_PEERS };
	static const struct geom g3 = { 1 << 20, 4, 3 };
	static const int p0[] = { 0 }, p01[] = { 0, 1 }, p02[] = { 0, 2 },
			 p1[] = { 1 };
	struct client c[4];
	struct server sv;
	char st[64];
	int status;

	/* No --vectors / --max-peers: the defaults of ntb-ivshmem.h. */
	start_server(&sv, "stale.sock", "stale.pid", "server2.log", &gdef,
		     "--shm-size", "64K", NULL);
	client_connect(&c[0], "D", &sv);
	handshake(&c[0], 0, NULL, 0);
	ok("defaults: %u vectors, %u peer ids", NTB_IVSHMEM_VECTORS,
	   NTB_IVSHMEM_MAX_PEERS);

	/* Kill it hard: the socket file stays behind. */
	CHECK(kill(sv.pid, SIGKILL) == 0, "SIGKILL: %s", strerror(errno));
	CHECK(wait_exit(sv.pid, START_TIMEOUT_MS, &status),
	      "server did not die of SIGKILL");
	describe_status(status, st, sizeof(st));
	CHECK(path_exists(sv.sock), "no stale socket after SIGKILL");
	expect_eof(&c[0], "server killed");
	client_close(&c[0]);

	/* A new server replaces the stale socket. */
	start_server(&sv, "stale.sock", "stale.pid", "server3.log", &g3,
		     "--shm-size", "1M", "--vectors", "4", "--max-peers", "3",
		     NULL);
	CHECK(file_contains(sv.log, "removing stale socket"),
	      "server log does not mention the stale socket");
	ok("stale socket (server %s) removed and replaced", st);

	client_connect(&c[0], "P", &sv);
	handshake(&c[0], 0, NULL, 0);
	check_zero_after_header(&c[0]);
	client_connect(&c[1], "Q", &sv);
	handshake(&c[1], 1, p0, 1);
	expect_connect(&c[0], 1);
	client_connect(&c[2], "R", &sv);
	handshake(&c[2], 2, p01, 2);
	expect_connect(&c[0], 2);
	expect_connect(&c[1], 2);
	expect_refused(&sv, "S");
	check_doorbells(&c[0], &c[2]);
	check_doorbells(&c[2], &c[1]);
	check_doorbells(&c[1], &c[0]);

	/* The middle one leaves and comes back: id 1 again. */
	client_close(&c[1]);
	expect_disconnect(&c[0], 1);
	expect_disconnect(&c[2], 1);
	client_connect(&c[1], "Q'", &sv);
	handshake(&c[1], 1, p02, 2);
	expect_connect(&c[0], 1);
	expect_connect(&c[2], 1);
	check_doorbells(&c[1], &c[2]);

	/* 0 and 2 leave: new clients get 0, then 2. */
	client_close(&c[0]);
	expect_disconnect(&c[1], 0);
	expect_disconnect(&c[2], 0);
	client_close(&c[2]);
	expect_disconnect(&c[1], 2);
	client_connect(&c[0], "P'", &sv);
	handshake(&c[0], 0, p1, 1);
	expect_connect(&c[1], 0);
	client_connect(&c[2], "R'", &sv);
	handshake(&c[2], 2, p01, 2);
	expect_connect(&c[0], 2);
	expect_connect(&c[1], 2);
	check_doorbells(&c[2], &c[0]);

	stop_server(&sv);
	client_close(&c[0]);
	client_close(&c[1]);
	client_close(&c[2]);
}

/*
 * --static-peers: every client gets the eventfds of all ids at connect,
 * joins and departures are not announced, and a client that takes an id
 * again gets the very eventfds its peers hold for that id.
 */
static void test_static_peers(void)
{
	static const struct geom g = { 65536, 4, 2 };
	static const int peer0[] = { 0 }, peer1[] = { 1 };
	uint64_t one = 1, got;
	struct client a, b;
	struct server sv;
	int base;

	start_server(&sv, "static.sock", "static.pid", "server4.log", &g,
		     "--shm-size", "65536", "--vectors", "4", "--max-peers",
		     "2", "--static-peers", "--verbose", NULL);
	base = count_fds(sv.pid);

	/* A gets the eventfds of id 1 although nobody holds id 1 yet. */
	client_connect(&a, "A", &sv);
	handshake(&a, 0, peer1, 1);
	client_connect(&b, "B", &sv);
	handshake(&b, 1, peer0, 1);
	expect_quiet(&a, "after B joined (static peers announce nothing)");
	check_doorbells(&a, &b);
	check_doorbells(&b, &a);
	expect_fd_count(&sv, base + 2,
			"with 2 clients (all eventfds made at start)");
	expect_refused(&sv, "C");

	client_close(&b);
	expect_quiet(&a, "after B left (static peers announce nothing)");
	expect_fd_count(&sv, base + 1, "after B left (its eventfds kept)");

	/* A rings id 1 while it is free; B' finds the doorbell pending. */
	CHECK(write(a.fds[1][2], &one, sizeof(one)) == sizeof(one),
	      "write eventfd: %s", strerror(errno));
	client_connect(&b, "B'", &sv);
	handshake(&b, 1, peer0, 1);
	expect_quiet(&a, "after B' joined");
	CHECK(readable(b.fds[1][2]), "B': the doorbell A rang while id 1 "
				     "was free is not pending on vector 2");
	CHECK(read(b.fds[1][2], &got, sizeof(got)) == sizeof(got),
	      "read eventfd: %s", strerror(errno));
	CHECK_EQ("pending doorbell count", 1, got);
	ok("B': doorbell rung while id 1 was free is pending on vector 2");
	check_doorbells(&a, &b);
	ok("A's eventfds for id 1, received before B' existed, ring B'");
	check_doorbells(&b, &a);

	client_close(&a);
	expect_quiet(&b, "after A left");
	client_connect(&a, "A'", &sv);
	handshake(&a, 0, peer1, 1);
	expect_quiet(&b, "after A' joined");
	check_doorbells(&b, &a);
	check_doorbells(&a, &b);
	expect_fd_count(&sv, base + 2, "with A' and B'");

	stop_server(&sv);
	client_close(&a);
	client_close(&b);
}

static void cleanup(void)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;
	int i;

	for (i = 0; i < MAX_PROCS; i++) {
		if (procs[i] > 0) {
			kill(procs[i], SIGKILL);
			waitpid(procs[i], NULL, 0);
			procs[i] = 0;
		}
	}
	if (!tmpdir[0])
		return;
	d = opendir(tmpdir);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
				 de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-ivshmem-server\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	if (access(server_bin, X_OK)) {
		fprintf(stderr, "FAIL: %s is not executable: %s\n", server_bin,
			strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Keep socket paths well inside sun_path's 108 bytes. */
	if (!base || !base[0] || strlen(base) > 60)
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/ivshmem-test.XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "FAIL: mkdtemp %s: %s\n", tmpdir,
			strerror(errno));
		tmpdir[0] = 0;
		return 1;
	}
	atexit(cleanup);

	test_bad_options();
	test_two_peers();
	test_defaults_stale_three_peers();
	test_static_peers();

	printf("PASS: ivshmem-server protocol\n");
	return 0;
}
