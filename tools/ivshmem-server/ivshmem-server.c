// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ivshmem-server: the server side of QEMU's ivshmem doorbell protocol.
 *
 * Joins the ivshmem-doorbell devices of several QEMU processes into one
 * emulated NTB: every client gets the same shared memory region (see
 * include/ntb-ivshmem.h for its layout), a peer id, and the eventfds that
 * let it interrupt every other client and be interrupted by them.
 *
 * This file holds the command line, the listening socket and the event
 * loop; peer.c keeps the peer table, proto.c formats the messages and
 * shm.c creates the shared memory (dma.c and dma_exec.c: the DMA engine,
 * on a thread of its own).  Otherwise single-threaded, poll() based, runs in
 * the foreground until SIGTERM or SIGINT.
 *
 * --dma RAM0,RAM1: the emulated DMA engine (dma.c, on a thread of its own;
 * Documentation/dma-engine.md) executes the descriptors the two VMs post,
 * between their RAM files; it takes the peer id after the clients' ones
 * (never handed to a client), whose vector 0 eventfd is its kick.
 *
 * --static-peers: QEMU (7.2 and, as far as its source shows, later) frees
 * a peer's eventfd array when told that the peer left, but keeps the
 * pointer and writes through it when a peer with the same id connects
 * again: the use-after-free corrupts its heap and it aborts.  Reusing the
 * lowest free id, as the testbed needs, triggers that whenever a VM is
 * restarted.  With --static-peers the eventfds belong to the ids for the
 * server's lifetime: every client gets the eventfds of all ids at connect,
 * joins and departures are never announced, and a restarted VM gets the
 * same eventfds its peers already hold.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ntb-ivshmem.h"

#include "dma.h"
#include "log.h"
#include "peer.h"
#include "proto.h"
#include "shm.h"

/* QEMU's IVSHMEM_MAX_PEERS: ids travel in 16 bits of the doorbell. */
#define MAX_PEER_IDS 65536u
/* The MSI-X table of a PCI function holds at most 2048 entries. */
#define MAX_VECTORS 2048u
/* A client that does not take a tiny message in this time is dropped. */
#define SEND_TIMEOUT_SEC 5
/* Pause before accepting again after accept() ran out of resources. */
#define ACCEPT_BACKOFF_MS 200
/* Longest socket path that fits sockaddr_un with its terminating NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct options {
	const char *socket_path;
	const char *pidfile;
	uint64_t shm_size;
	unsigned int vectors;
	unsigned int max_peers;
	bool static_peers; /* eventfds per id, no announcements */
	const char *dma_ram[2]; /* --dma: the VMs' RAM files (NULL: none) */
	char *dma_arg;
};

struct server {
	struct options opt;
	int shm_fd;
	int listen_fd;
	int sig_fd;
	bool socket_created; /* unlink opt.socket_path on exit */
	dev_t socket_dev; /* ... if it is still our socket */
	ino_t socket_ino;
	bool pidfile_created;
	struct peer_table peers;
	struct pollfd *pfds; /* signal, listen, one per peer */
	unsigned int *pfd_peer; /* peer id of each entry of pfds */
	bool accept_backoff;
	void *shm; /* the region, mapped for the DMA engine */
	struct dma_engine *dma;
};

static const char usage_text[] =
	"Usage: ivshmem-server --socket PATH --shm-size BYTES [options]\n"
	"\n"
	"Server for QEMU ivshmem-doorbell devices (emulated NTB).\n"
	"Runs in the foreground until SIGTERM or SIGINT.\n"
	"\n"
	"  --socket PATH     unix socket to listen on\n"
	"                    (QEMU: -chardev socket,path=PATH)\n"
	"  --shm-size BYTES  size of the shared memory, a power of two;\n"
	"                    suffixes K, M, G allowed (standard: %u)\n"
	"  --vectors N       eventfds (interrupt vectors) per peer\n"
	"                    (default %u)\n"
	"  --max-peers N     number of peer ids, 0..N-1 (default %u)\n"
	"  --pidfile PATH    write the pid to PATH once listening\n"
	"  --static-peers    eventfds belong to peer ids, not connections:\n"
	"                    every client gets those of all ids at connect,\n"
	"                    joins and departures are not announced\n"
	"                    (avoids a QEMU use-after-free on id reuse)\n"
	"  --dma RAM0,RAM1   the emulated DMA engine between the RAM files\n"
	"                    of peers 0 and 1 (needs --static-peers,\n"
	"                    --max-peers 2 and a region of 48K or more)\n"
	"  --verbose         log every message sent\n"
	"  --help            show this help\n";

static void usage(FILE *f)
{
	fprintf(f, usage_text, NTB_IVSHMEM_SHM_SIZE, NTB_IVSHMEM_VECTORS,
		NTB_IVSHMEM_MAX_PEERS);
}

/*
 * Parse a decimal (or 0x-prefixed hexadecimal) number; with @suffix, a
 * trailing K, M or G multiplies it by 2^10, 2^20 or 2^30.
 */
static int parse_num(const char *name, const char *arg, bool suffix,
		     uint64_t *out)
{
	unsigned int shift = 0;
	unsigned long long v;
	char *end;
	int base = 10;

	if (!isdigit((unsigned char)arg[0]))
		goto bad;
	if (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X'))
		base = 16;
	errno = 0;
	v = strtoull(arg, &end, base);
	if (errno || end == arg)
		goto bad;
	if (suffix) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		}
		if (shift)
			end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		goto bad;
	*out = (uint64_t)v << shift;
	return 0;
bad:
	pr_err("invalid number for --%s: '%s'", name, arg);
	return -1;
}

static int parse_range(const char *name, const char *arg, unsigned int min,
		       unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (parse_num(name, arg, false, &v))
		return -1;
	if (v < min || v > max) {
		pr_err("--%s %s is out of range (%u..%u)", name, arg, min, max);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

static int check_options(const struct options *o)
{
	uint64_t need;

	if (!o->socket_path) {
		pr_err("--socket PATH is required");
		return -1;
	}
	if (strlen(o->socket_path) > SOCKET_PATH_MAX) {
		pr_err("socket path '%s' is too long (at most %zu bytes)",
		       o->socket_path, SOCKET_PATH_MAX);
		return -1;
	}
	if (!o->socket_path[0]) {
		pr_err("socket path is empty");
		return -1;
	}
	if (!o->shm_size) {
		pr_err("--shm-size BYTES is required");
		return -1;
	}
	if (o->shm_size & (o->shm_size - 1)) {
		pr_err("--shm-size %" PRIu64 " is not a power of two "
		       "(QEMU maps the region as a PCI BAR)",
		       o->shm_size);
		return -1;
	}
	if (o->shm_size > (uint64_t)INT64_MAX) {
		pr_err("--shm-size %" PRIu64 " is too large", o->shm_size);
		return -1;
	}
	if (o->dma_ram[0] &&
	    (!o->static_peers || o->max_peers != 2 ||
	     o->shm_size < NTB_IVSHMEM_DMA_OFFSET + 2 * NTB_IVSHMEM_DMA_SIZE ||
	     o->vectors <= NTB_IVSHMEM_DMA_VECTOR)) {
		pr_err("--dma needs --static-peers, --max-peers 2, --vectors "
		       "%u or more and --shm-size %u or more",
		       NTB_IVSHMEM_DMA_VECTORS,
		       NTB_IVSHMEM_DMA_OFFSET + 2 * NTB_IVSHMEM_DMA_SIZE);
		return -1;
	}
	need = NTB_IVSHMEM_SIDE_OFFSET +
	       (uint64_t)o->max_peers * NTB_IVSHMEM_SIDE_SIZE;
	if (o->shm_size < need) {
		pr_err("--shm-size %" PRIu64 " is too small: the header and "
		       "%u side areas of %u bytes need %" PRIu64 " bytes",
		       o->shm_size, o->max_peers, NTB_IVSHMEM_SIDE_SIZE, need);
		return -1;
	}
	return 0;
}

/* Returns 0 to run, 1 to exit successfully (--help), -1 on error. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_SOCKET = 256,
		OPT_SHM_SIZE,
		OPT_VECTORS,
		OPT_MAX_PEERS,
		OPT_PIDFILE,
		OPT_STATIC_PEERS,
		OPT_DMA
	};
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "shm-size", required_argument, NULL, OPT_SHM_SIZE },
		{ "vectors", required_argument, NULL, OPT_VECTORS },
		{ "max-peers", required_argument, NULL, OPT_MAX_PEERS },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "static-peers", no_argument, NULL, OPT_STATIC_PEERS },
		{ "dma", required_argument, NULL, OPT_DMA },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->vectors = NTB_IVSHMEM_VECTORS;
	o->max_peers = NTB_IVSHMEM_MAX_PEERS;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			o->socket_path = optarg;
			break;
		case OPT_SHM_SIZE:
			if (parse_num("shm-size", optarg, true, &o->shm_size))
				return -1;
			if (!o->shm_size) {
				pr_err("--shm-size must not be 0");
				return -1;
			}
			break;
		case OPT_VECTORS:
			if (parse_range("vectors", optarg, 1, MAX_VECTORS,
					&o->vectors))
				return -1;
			break;
		case OPT_MAX_PEERS:
			if (parse_range("max-peers", optarg, 1, MAX_PEER_IDS,
					&o->max_peers))
				return -1;
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case OPT_STATIC_PEERS:
			o->static_peers = true;
			break;
		case OPT_DMA: {
			char *comma;

			free(o->dma_arg);
			o->dma_arg = strdup(optarg);
			comma = o->dma_arg ? strchr(o->dma_arg, ',') : NULL;
			if (!comma || comma == o->dma_arg || !comma[1] ||
			    strchr(comma + 1, ',')) {
				pr_err("--dma takes RAM0,RAM1 (two paths)");
				return -1;
			}
			*comma = 0;
			o->dma_ram[0] = o->dma_arg;
			o->dma_ram[1] = comma + 1;
			break;
		}
		case 'v':
			log_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return check_options(o);
}

/* Every peer holds its socket and its eventfds; make sure they fit. */
static int check_fd_limit(const struct options *o)
{
	uint64_t need =
		(uint64_t)(o->max_peers + !!o->dma_ram[0]) * (o->vectors + 1) +
		32;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		pr_err("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
			pr_err("%u peers with %u vectors need about %" PRIu64
			       " file descriptors; RLIMIT_NOFILE allows %llu",
			       o->max_peers, o->vectors, need,
			       (unsigned long long)rl.rlim_max);
			return -1;
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			pr_err("cannot raise RLIMIT_NOFILE to %" PRIu64 ": %s",
			       need, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void fill_addr(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* check_options() made sure it fits. */
	memcpy(addr->sun_path, path, strlen(path) + 1);
}

/*
 * Make sure nobody serves @path: refuse if a server answers there, remove
 * a stale socket left by a server that died.
 */
static int claim_socket_path(const char *path)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret, err;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		pr_err("cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("%s exists and is not a socket; not replacing it", path);
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		pr_err("socket: %s", strerror(errno));
		return -1;
	}
	fill_addr(&addr, path);
	ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	err = errno;
	close(fd);

	/* EAGAIN: a live server whose backlog is full. */
	if (!ret || err == EAGAIN || err == EINPROGRESS) {
		pr_err("another server is already listening on %s", path);
		return -1;
	}
	if (err == ENOENT)
		return 0;
	if (err != ECONNREFUSED) {
		pr_err("cannot check socket %s: %s", path, strerror(err));
		return -1;
	}
	pr_info("removing stale socket %s", path);
	if (unlink(path) && errno != ENOENT) {
		pr_err("cannot remove stale socket %s: %s", path,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static int open_listen_socket(struct server *s)
{
	const char *path = s->opt.socket_path;
	struct sockaddr_un addr;
	struct stat st;
	int fd;

	if (claim_socket_path(path))
		return -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		pr_err("socket: %s", strerror(errno));
		return -1;
	}
	fill_addr(&addr, path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		pr_err("cannot bind to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->socket_created = true;
	if (!stat(path, &st)) {
		s->socket_dev = st.st_dev;
		s->socket_ino = st.st_ino;
	}
	if (listen(fd, 16)) {
		pr_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->listen_fd = fd;
	return 0;
}

static int write_pidfile(struct server *s)
{
	const char *path = s->opt.pidfile;
	char buf[32];
	ssize_t n;
	int fd, len;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_err("cannot create pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	s->pidfile_created = true;
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	n = write(fd, buf, len);
	if (n != len) {
		pr_err("cannot write pidfile %s: %s", path,
		       n < 0 ? strerror(errno) : "short write");
		close(fd);
		return -1;
	}
	if (close(fd)) {
		pr_err("cannot write pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* SIGTERM and SIGINT arrive through a signalfd; SIGPIPE is ignored. */
static int setup_signals(struct server *s)
{
	sigset_t set;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		pr_err("cannot ignore SIGPIPE: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		pr_err("sigprocmask: %s", strerror(errno));
		return -1;
	}
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sig_fd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Tell every live peer that peer @id left; a failed send marks it dead. */
static void announce_departure(struct server *s, unsigned int id)
{
	struct peer_table *t = &s->peers;
	unsigned int j;
	int ret;

	for (j = 0; j < t->max_peers; j++) {
		struct peer *q = &t->slots[j];

		if (!peer_in_use(q) || !q->joined || q->dead)
			continue;
		ret = proto_send_disconnect(q->sock, id);
		if (ret) {
			pr_warn("peer %u: cannot tell it peer %u left: %s", j,
				id, strerror(-ret));
			q->dead = true;
			continue;
		}
		pr_debug("peer %u: told peer %u left", j, id);
	}
}

/*
 * Drop every peer marked dead and tell the others it is gone (unless
 * peers are static).  Telling them can reveal more dead peers, so repeat
 * until there are none.
 */
static void reap_dead(struct server *s)
{
	struct peer_table *t = &s->peers;
	unsigned int i;
	bool again, joined;

	do {
		again = false;
		for (i = 0; i < t->max_peers; i++) {
			struct peer *p = &t->slots[i];

			if (!peer_in_use(p) || !p->dead)
				continue;
			again = true;
			joined = p->joined;
			peer_remove(t, p);
			if (!joined)
				continue;
			pr_info("peer %u left (%u of %u ids in use)", i,
				t->count, t->max_clients);
			if (!s->opt.static_peers)
				announce_departure(s, i);
		}
	} while (again);
}

/* Handshake with a new client, then announce it to the others. */
static void add_client(struct server *s, int sock)
{
	struct peer_table *t = &s->peers;
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_SEC };
	struct peer *p;
	unsigned int id, j;
	int ret;

	p = peer_add(t, sock);
	if (!p) {
		if (errno == ENOSPC)
			pr_warn("refusing client: all %u peer ids are in use",
				t->max_clients);
		else
			pr_err("refusing client: cannot create eventfds: %s",
			       strerror(errno));
		close(sock);
		return;
	}
	id = peer_id(t, p);

	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		pr_warn("peer %u: cannot set send timeout: %s", id,
			strerror(errno));

	ret = proto_send_greeting(sock, id, s->shm_fd);
	if (!ret)
		pr_debug("peer %u: sent version %d, id %u, shared memory", id,
			 IVSHMEM_PROTOCOL_VERSION, id);

	for (j = 0; j < t->max_peers && !ret; j++) {
		struct peer *q = &t->slots[j];

		if (q == p)
			continue;
		/* Static peers: every id is always there. */
		if (!s->opt.static_peers &&
		    (!peer_in_use(q) || !q->joined || q->dead))
			continue;
		ret = proto_send_peer_fds(sock, j, q->efds, t->vectors);
		if (!ret)
			pr_debug("peer %u: sent the %u eventfds of peer %u", id,
				 t->vectors, j);
	}

	if (!ret) {
		ret = proto_send_peer_fds(sock, id, p->efds, t->vectors);
		if (!ret)
			pr_debug("peer %u: sent its own %u eventfds", id,
				 t->vectors);
	}

	if (ret) {
		/* Nobody was told about this peer: just drop it. */
		pr_warn("peer %u: client went away during handshake: %s", id,
			strerror(-ret));
		peer_remove(t, p);
		return;
	}

	p->joined = true;
	pr_info("peer %u joined (%u of %u ids in use)", id, t->count,
		t->max_clients);
	if (s->opt.static_peers)
		return; /* the others hold its eventfds already */

	for (j = 0; j < t->max_peers; j++) {
		struct peer *q = &t->slots[j];

		if (q == p || !peer_in_use(q) || !q->joined || q->dead)
			continue;
		ret = proto_send_peer_fds(q->sock, id, p->efds, t->vectors);
		if (ret) {
			pr_warn("peer %u: cannot announce peer %u: %s", j, id,
				strerror(-ret));
			q->dead = true;
			continue;
		}
		pr_debug("peer %u: sent the %u eventfds of new peer %u", j,
			 t->vectors, id);
	}
}

static void accept_client(struct server *s)
{
	int sock;

	sock = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0) {
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* The connection stays queued; retry a bit later. */
			s->accept_backoff = true;
			break;
		}
		pr_err("accept: %s", strerror(errno));
		return;
	}
	add_client(s, sock);
}

/* Clients never send anything; input is either EOF or ignored. */
static void client_event(struct server *s, struct peer *p, short revents)
{
	unsigned int id = peer_id(&s->peers, p);
	char buf[256];
	ssize_t n;

	if (revents & POLLIN) {
		n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			pr_debug("peer %u: ignoring %zd bytes it sent", id, n);
			return;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			pr_debug("peer %u: recv: %s", id, strerror(errno));
		p->dead = true;
		return;
	}
	if (revents & (POLLHUP | POLLERR | POLLNVAL))
		p->dead = true;
}

static int signal_received(struct server *s)
{
	struct signalfd_siginfo si;
	ssize_t n;

	n = read(s->sig_fd, &si, sizeof(si));
	if (n != (ssize_t)sizeof(si))
		return 0;
	pr_info("got %s, exiting", strsignal((int)si.ssi_signo));
	return 1;
}

static int run(struct server *s)
{
	struct peer_table *t = &s->peers;
	unsigned int i, nfds, first_peer;
	int listen_idx, ret;

	for (;;) {
		nfds = 0;
		s->pfds[nfds++] = (struct pollfd){ s->sig_fd, POLLIN, 0 };
		listen_idx = -1;
		if (!s->accept_backoff) {
			listen_idx = (int)nfds;
			s->pfds[nfds++] =
				(struct pollfd){ s->listen_fd, POLLIN, 0 };
		}
		first_peer = nfds;
		for (i = 0; i < t->max_peers; i++) {
			if (!peer_in_use(&t->slots[i]))
				continue;
			s->pfd_peer[nfds] = i;
			s->pfds[nfds++] =
				(struct pollfd){ t->slots[i].sock, POLLIN, 0 };
		}

		ret = poll(s->pfds, nfds,
			   s->accept_backoff ? ACCEPT_BACKOFF_MS : -1);
		s->accept_backoff = false;
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			pr_err("poll: %s", strerror(errno));
			return -1;
		}

		if (s->pfds[0].revents && signal_received(s))
			return 0;

		/*
		 * Departures first, arrivals second: a VM that is killed and
		 * started again must find its old id free.
		 */
		for (i = first_peer; i < nfds; i++) {
			if (s->pfds[i].revents)
				client_event(s, &t->slots[s->pfd_peer[i]],
					     s->pfds[i].revents);
		}
		reap_dead(s);

		if (listen_idx >= 0 && (s->pfds[listen_idx].revents & POLLIN)) {
			accept_client(s);
			reap_dead(s);
		}
	}
}

static void cleanup(struct server *s)
{
	struct stat st;

	dma_stop(s->dma);
	if (s->shm)
		munmap(s->shm, s->opt.shm_size);
	peer_table_destroy(&s->peers);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->socket_created && !stat(s->opt.socket_path, &st) &&
	    st.st_dev == s->socket_dev && st.st_ino == s->socket_ino)
		unlink(s->opt.socket_path);
	if (s->pidfile_created)
		unlink(s->opt.pidfile);
	if (s->shm_fd >= 0)
		close(s->shm_fd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	free(s->pfds);
	free(s->pfd_peer);
	free(s->opt.dma_arg);
}

int main(int argc, char **argv)
{
	struct server s = { .shm_fd = -1, .listen_fd = -1, .sig_fd = -1 };
	int ret, err;
	bool dma;

	ret = parse_options(argc, argv, &s.opt);
	if (ret)
		return ret > 0 ? EXIT_SUCCESS : EXIT_FAILURE;

	ret = -1;
	if (setup_signals(&s) || check_fd_limit(&s.opt))
		goto out;

	/* With --dma the engine's id follows the clients' ids. */
	dma = s.opt.dma_ram[0] != NULL;
	err = peer_table_init(&s.peers, s.opt.max_peers + dma, s.opt.vectors,
			      s.opt.static_peers);
	if (err) {
		pr_err("cannot set up the peer table: %s", strerror(-err));
		goto out;
	}
	s.peers.max_clients = s.opt.max_peers;
	s.pfds = calloc(s.opt.max_peers + 2, sizeof(*s.pfds));
	s.pfd_peer = calloc(s.opt.max_peers + 2, sizeof(*s.pfd_peer));
	if (!s.pfds || !s.pfd_peer) {
		pr_err("out of memory");
		goto out;
	}

	/* The header is in place before any client can connect. */
	s.shm_fd = shm_create(s.opt.shm_size, s.opt.vectors, s.opt.max_peers,
			      dma ? (int)s.opt.max_peers : -1);
	if (s.shm_fd < 0)
		goto out;
	if (dma) {
		s.shm = mmap(NULL, s.opt.shm_size, PROT_READ | PROT_WRITE,
			     MAP_SHARED, s.shm_fd, 0);
		if (s.shm == MAP_FAILED) {
			s.shm = NULL;
			pr_err("cannot map the region: %s", strerror(errno));
			goto out;
		}
		s.dma = dma_start(s.shm, s.opt.shm_size, s.opt.dma_ram,
				  &s.peers, s.opt.max_peers);
		if (!s.dma)
			goto out;
	}

	if (open_listen_socket(&s))
		goto out;
	if (s.opt.pidfile && write_pidfile(&s))
		goto out;

	pr_info("listening on %s: shm %" PRIu64 " bytes, %u vectors, "
		"%u peer ids%s%s",
		s.opt.socket_path, s.opt.shm_size, s.opt.vectors,
		s.opt.max_peers, s.opt.static_peers ? ", static peers" : "",
		dma ? ", DMA engine" : "");

	ret = run(&s);
out:
	cleanup(&s);
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
