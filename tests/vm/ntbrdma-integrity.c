// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-integrity: data integrity of RDMA WRITE, RDMA READ and SEND/RECV
 * through the standard verbs API only (it runs unchanged on rxe).
 *
 * Two sides, A and B, each with N RC QPs (default 4) connected pairwise.
 * Either both sides live in this process (--loopback, one device) or A is
 * the client (--connect HOST) and B the server (--server), exchanging QP
 * numbers, GIDs and buffer addresses over TCP and keeping in lockstep with
 * small TCP messages.
 *
 * Every case runs on all N QPs at once, in both directions (A initiates,
 * then B initiates): an operation, a size (1, 7, 63, 4096, 4097, 64 KiB,
 * 1 MiB), and a variant: aligned with one SGE, unaligned (buffer + 1..7)
 * with one SGE, unaligned with up to 8 SGEs of uneven lengths scattered
 * with gaps.  The data is a deterministic function of (seed, iteration,
 * case, QP, operation, byte offset in the message); the receiving end
 * checks every byte, and that every byte around and between the SGEs kept
 * its poison:
 *   WRITE: the initiator writes, then sends a SEND_WITH_IMM (imm = case
 *          tag); the target verifies when that arrives;
 *   READ:  the initiator reads the target's pattern and verifies it;
 *   SEND:  the receiver verifies its (differently scattered) RECV buffers.
 *
 * First of all a probe: one 8-byte RDMA WRITE from A on QP 0.  If it does
 * not complete within --probe-timeout (5 s), or posting it says the
 * operation is not supported, the device does not execute RDMA WRITE yet:
 * "engine not available: ..." and exit 77 (both sides).  Otherwise every
 * verbs call and every work completion is checked, every wait has a
 * deadline (--timeout, 30 s), one "ok - ..."/"FAIL - ..." line per case, a
 * summary, exit 0 only if all passed.  --corrupt[=data|guard] flips one
 * received byte (or one byte of the poison after it) before a verification
 * this process does (--corrupt-at N: the N-th), to show that the check
 * catches it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define MAX_QPS 64
#define MAX_SGE 8
#define MAX_LEN (1024 * 1024)
/* One area holds the largest message, its offset, its gaps and guards. */
#define AREA (MAX_LEN + 4096)
#define GUARD 64
#define SCRATCH 64
#define PROBE_LEN 8

enum op { OP_WRITE, OP_READ, OP_SEND, NR_OPS };
static const char *const op_name[] = { "WRITE", "READ", "SEND" };
static const size_t sizes[] = { 1, 7, 63, 4096, 4097, 65536, MAX_LEN };
#define NR_SIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NR_VARIANTS 3

static struct {
	const char *dev;
	int gid_index; /* -1: auto */
	const char *port;
	const char *host; /* client */
	bool server, loopback;
	int qps, iters;
	unsigned int seed;
	int timeout_s, probe_timeout_s;
	int qp_timeout; /* local ACK timeout exponent of the RC QPs */
	int corrupt; /* 0: off, 1: a data byte, 2: a guard byte */
	int corrupt_at; /* in the corrupt_at-th verification (from 0) */
	bool probe_only;
} opt = {
	.dev = "ntbrdma0",
	.gid_index = -1,
	.port = "18600",
	.qps = 4,
	.iters = 1,
	.seed = 1,
	.timeout_s = 30,
	.probe_timeout_s = 5,
	.qp_timeout = 18,
};

static int verifications;

struct qpres {
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf; /* tx area, rx area, scratch */
	uint32_t psn;
};

struct side {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct qpres q[MAX_QPS];
	int gidx;
	union ibv_gid gid;
	struct ibv_port_attr port;
	struct ibv_device_attr attr;
	int sge_send, sge_recv, sge_rd, rd_atom;
};

/* What a side tells its peer (both ends run this program on one arch). */
struct hello {
	uint32_t magic, nqps, iters, seed, mtu, max_msg;
	int32_t sge_send, sge_recv, sge_rd, pad;
	uint8_t gid[16];
	struct {
		uint32_t qpn, psn, rkey, pad;
		uint64_t addr;
	} q[MAX_QPS];
};

struct msg {
	uint32_t type, a, b, pad;
	char text[240];
};

enum { MSG_READY = 1, MSG_RESULT, MSG_PROBE };

struct result {
	bool ok, fatal, skipped;
	char text[240];
};

struct sgl {
	int n;
	size_t pos[MAX_SGE], len[MAX_SGE];
};

/* ---- small helpers ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static void rset(struct result *r, bool fatal, const char *fmt, ...)
{
	va_list ap;

	if (!r->ok)
		return; /* keep the first reason */
	r->ok = false;
	r->fatal = fatal;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The pattern: one key per (seed, iteration, case, QP, op) ... */
static uint64_t pkey(int iter, int ci, int qp, int op)
{
	return mix64(((uint64_t)opt.seed << 32) ^
		     mix64((uint64_t)iter << 40 | (uint64_t)ci << 16 |
			   (uint64_t)qp << 4 | (uint64_t)op));
}

/* ... and a byte per offset in the message. */
static inline uint8_t pbyte(uint64_t key, size_t o)
{
	return (uint8_t)(mix64(key + (o >> 3)) >> ((o & 7) * 8));
}

static uint8_t poison(uint64_t key)
{
	return (uint8_t)(mix64(~key) | 1) ^ 0x80;
}

/*
 * Scatter len bytes over n SGEs of uneven lengths (weights 1..n, or n..1
 * if rev) starting at off, with gaps of 1..11 bytes between them.
 */
static void layout(struct sgl *l, size_t len, int n, size_t off, bool rev)
{
	size_t sumw, done = 0, pos = off;
	int i;

	if ((size_t)n > len)
		n = (int)len;
	if (n < 1)
		n = 1;
	sumw = (size_t)n * (n + 1) / 2;
	l->n = n;
	for (i = 0; i < n; i++) {
		size_t w = rev ? (size_t)(n - i) : (size_t)(i + 1);

		l->len[i] = 1 + (len - n) * w / sumw;
		done += l->len[i];
	}
	l->len[n - 1] += len - done;
	for (i = 0; i < n; i++) {
		l->pos[i] = pos;
		pos += l->len[i] + (n > 1 ? 1 + (i * 5) % 11 : 0);
	}
}

static size_t sgl_end(const struct sgl *l)
{
	return l->pos[l->n - 1] + l->len[l->n - 1];
}

static void fill(uint8_t *area, const struct sgl *l, uint64_t key)
{
	size_t o = 0;
	int i;

	for (i = 0; i < l->n; i++) {
		uint8_t *p = area + l->pos[i];
		size_t j;

		for (j = 0; j < l->len[i]; j++, o++)
			p[j] = pbyte(key, o);
	}
}

static void poison_area(uint8_t *area, const struct sgl *l, uint64_t key)
{
	memset(area, poison(key), sgl_end(l) + GUARD);
}

/*
 * Every byte of the message where l puts it, and every byte around and
 * between (from the area's start to GUARD past the end) still poison.
 */
static void verify(uint8_t *area, const struct sgl *l, uint64_t key,
		   struct result *r, const char *what)
{
	size_t o = 0, bad = 0, first_o = 0, first_p = 0, prev = 0, p;
	uint8_t first_exp = 0, first_got = 0, pz = poison(key);
	bool guard_bad = false;
	int i;

	if (opt.corrupt && verifications++ == opt.corrupt_at) {
		size_t at = opt.corrupt == 1 ?
				    l->pos[l->n - 1] + l->len[l->n - 1] / 2 :
				    sgl_end(l) + GUARD / 2;

		area[at] ^= 0x10;
		printf("# --corrupt: flipped one %s byte of %s at area offset %zu\n",
		       opt.corrupt == 1 ? "data" : "guard", what, at);
	}
	for (i = 0; i < l->n; i++) {
		for (p = prev; p < l->pos[i]; p++)
			if (area[p] != pz && !bad++) {
				first_p = p, first_exp = pz;
				first_got = area[p], guard_bad = true;
			}
		for (p = l->pos[i]; p < l->pos[i] + l->len[i]; p++, o++) {
			uint8_t e = pbyte(key, o);

			if (area[p] != e && !bad++) {
				first_o = o, first_p = p;
				first_exp = e, first_got = area[p];
			}
		}
		prev = p;
	}
	for (p = prev; p < prev + GUARD; p++)
		if (area[p] != pz && !bad++) {
			first_p = p, first_exp = pz;
			first_got = area[p], guard_bad = true;
		}
	if (bad) {
		if (guard_bad)
			rset(r, false,
			     "%s: %zu bad bytes, first outside the data at area offset %zu (poison 0x%02x, got 0x%02x)",
			     what, bad, first_p, first_exp, first_got);
		else
			rset(r, false,
			     "%s: %zu bad bytes, first at message offset %zu (area offset %zu): expected 0x%02x, got 0x%02x",
			     what, bad, first_o, first_p, first_exp, first_got);
	}
}

/* ---- TCP ---- */

static int sock = -1;

static void tcp_send(const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = send(sock, c, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("TCP send: %s", k ? strerror(errno) : "closed");
		c += k, n -= k;
	}
}

static void tcp_recv(void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t k = recv(sock, c, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			die("TCP: peer silent for more than %d s",
			    opt.timeout_s + 30);
		if (k <= 0)
			die("TCP recv: %s",
			    k ? strerror(errno) : "peer closed");
		c += k, n -= k;
	}
}

static void msg_send(uint32_t type, uint32_t a, uint32_t b, const char *text)
{
	struct msg m = { .type = type, .a = a, .b = b };

	if (text) {
		size_t n = strnlen(text, sizeof(m.text) - 1);

		memcpy(m.text, text, n); /* truncated, still terminated */
	}
	tcp_send(&m, sizeof(m));
}

static void msg_recv(struct msg *m, uint32_t type)
{
	tcp_recv(m, sizeof(*m));
	if (m->type != type)
		die("TCP: expected message %u, got %u", type, m->type);
	m->text[sizeof(m->text) - 1] = 0;
}

static void sock_opts(void)
{
	struct timeval tv = { .tv_sec = opt.timeout_s + 30 };
	int one = 1;

	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("setsockopt: %s", strerror(errno));
}

static void tcp_server(void)
{
	struct addrinfo hints = { .ai_family = AF_INET6,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE },
			*ai;
	struct timeval tv = { .tv_sec = 120 };
	int ls, one = 1, zero = 0, rc;

	rc = getaddrinfo(NULL, opt.port, &hints, &ai);
	if (rc)
		die("getaddrinfo: %s", gai_strerror(rc));
	ls = socket(ai->ai_family, ai->ai_socktype, 0);
	if (ls < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    bind(ls, ai->ai_addr, ai->ai_addrlen) || listen(ls, 1))
		die("TCP listen on port %s: %s", opt.port, strerror(errno));
	freeaddrinfo(ai);
	printf("# listening on TCP port %s\n", opt.port);
	fflush(stdout);
	sock = accept(ls, NULL, NULL);
	if (sock < 0)
		die("TCP accept (120 s): %s", strerror(errno));
	close(ls);
	sock_opts();
}

static void tcp_client(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *p;
	double end = now_s() + 60;
	int rc;

	rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
	if (rc)
		die("getaddrinfo %s: %s", opt.host, gai_strerror(rc));
	for (;;) { /* the server may not listen yet: retry for 60 s */
		for (p = ai; p; p = p->ai_next) {
			sock = socket(p->ai_family, p->ai_socktype, 0);
			if (sock < 0)
				die("socket: %s", strerror(errno));
			if (!connect(sock, p->ai_addr, p->ai_addrlen))
				goto connected;
			close(sock);
		}
		if (now_s() > end)
			die("TCP connect to %s port %s: %s", opt.host, opt.port,
			    strerror(errno));
		usleep(200000);
	}
connected:
	freeaddrinfo(ai);
	sock_opts();
}

/* ---- verbs set-up ---- */

static int find_gid(struct side *s)
{
	static const uint8_t v4pfx[12] = { 0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff };
	struct ibv_gid_entry e;
	int i;

	for (i = 0; i < s->port.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(s->ctx, 1, i, &e, 0))
			continue; /* empty entry */
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !memcmp(e.gid.raw, v4pfx, sizeof(v4pfx)))
			return i;
	}
	die("%s: no RoCE v2 IPv4-mapped GID on port 1", opt.dev);
	return -1;
}

static int imin(int a, int b)
{
	return a < b ? a : b;
}

static void side_init(struct side *s, const char *name)
{
	int i, cqe = opt.qps * 8 + 16;

	s->name = name;
	s->ctx = open_dev(opt.dev);
	if (!s->ctx)
		exit(1);
	if (ibv_query_device(s->ctx, &s->attr))
		die("ibv_query_device: %s", strerror(errno));
	if (ibv_query_port(s->ctx, 1, &s->port))
		die("ibv_query_port: %s", strerror(errno));
	if (s->port.state != IBV_PORT_ACTIVE)
		die("%s port 1 is %s, not ACTIVE", opt.dev,
		    ibv_port_state_str(s->port.state));
	s->gidx = opt.gid_index >= 0 ? opt.gid_index : find_gid(s);
	if (ibv_query_gid(s->ctx, 1, s->gidx, &s->gid))
		die("ibv_query_gid %d: %s", s->gidx, strerror(errno));
	s->sge_send = imin(MAX_SGE, s->attr.max_sge);
	s->sge_recv = imin(MAX_SGE, s->attr.max_sge);
	s->sge_rd = s->attr.max_sge_rd ? imin(s->sge_send, s->attr.max_sge_rd) :
					 s->sge_send;
	s->rd_atom = imin(4, imin(s->attr.max_qp_rd_atom,
				  s->attr.max_qp_init_rd_atom));
	if (s->rd_atom < 1)
		s->rd_atom = 1;
	if (s->sge_send < 1)
		die("%s: max_sge %d", opt.dev, s->attr.max_sge);
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		die("ibv_alloc_pd: %s", strerror(errno));
	s->scq = ibv_create_cq(s->ctx, cqe, NULL, NULL, 0);
	s->rcq = ibv_create_cq(s->ctx, cqe, NULL, NULL, 0);
	if (!s->scq || !s->rcq)
		die("ibv_create_cq(%d): %s", cqe, strerror(errno));
	for (i = 0; i < opt.qps; i++) {
		struct qpres *q = &s->q[i];
		struct ibv_qp_init_attr ia = {
			.send_cq = s->scq,
			.recv_cq = s->rcq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 8,
				 .max_recv_wr = 8,
				 .max_send_sge = s->sge_send,
				 .max_recv_sge = s->sge_recv },
		};
		struct ibv_qp_attr a = {
			.qp_state = IBV_QPS_INIT,
			.port_num = 1,
			.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
					   IBV_ACCESS_REMOTE_WRITE |
					   IBV_ACCESS_REMOTE_READ,
		};
		void *buf;

		errno = posix_memalign(&buf, 4096, 2 * AREA + SCRATCH);
		if (errno)
			die("posix_memalign: %s", strerror(errno));
		q->buf = buf;
		memset(q->buf, 0, 2 * AREA + SCRATCH);
		q->mr = ibv_reg_mr(s->pd, q->buf, 2 * AREA + SCRATCH,
				   IBV_ACCESS_LOCAL_WRITE |
					   IBV_ACCESS_REMOTE_WRITE |
					   IBV_ACCESS_REMOTE_READ);
		if (!q->mr)
			die("ibv_reg_mr(%d bytes): %s", 2 * AREA + SCRATCH,
			    strerror(errno));
		q->qp = ibv_create_qp(s->pd, &ia);
		if (!q->qp)
			die("ibv_create_qp (sge %d/%d): %s", s->sge_send,
			    s->sge_recv, strerror(errno));
		if (ibv_modify_qp(q->qp, &a,
				  IBV_QP_STATE | IBV_QP_PKEY_INDEX |
					  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
			die("modify_qp INIT: %s", strerror(errno));
		q->psn =
			(uint32_t)(mix64(opt.seed ^ (i * 7919) ^ (uintptr_t)s) &
				   0xffffff);
	}
}

static void hello_of(struct side *s, struct hello *h)
{
	int i;

	memset(h, 0, sizeof(*h));
	h->magic = 0x6e746269; /* "ntbi" */
	h->nqps = opt.qps;
	h->iters = opt.iters;
	h->seed = opt.seed;
	h->mtu = s->port.active_mtu;
	h->max_msg = s->port.max_msg_sz;
	h->sge_send = s->sge_send;
	h->sge_recv = s->sge_recv;
	h->sge_rd = s->sge_rd;
	memcpy(h->gid, s->gid.raw, 16);
	for (i = 0; i < opt.qps; i++) {
		h->q[i].qpn = s->q[i].qp->qp_num;
		h->q[i].psn = s->q[i].psn;
		h->q[i].rkey = s->q[i].mr->rkey;
		h->q[i].addr = (uintptr_t)s->q[i].buf;
	}
}

static void connect_qps(struct side *s, const struct hello *r)
{
	enum ibv_mtu mtu = s->port.active_mtu < r->mtu ? s->port.active_mtu :
							 (enum ibv_mtu)r->mtu;
	int i;

	for (i = 0; i < opt.qps; i++) {
		struct ibv_qp_attr a = {
			.qp_state = IBV_QPS_RTR,
			.path_mtu = mtu,
			.dest_qp_num = r->q[i].qpn,
			.rq_psn = r->q[i].psn,
			.max_dest_rd_atomic = s->rd_atom,
			.min_rnr_timer = 12,
			.ah_attr = { .is_global = 1,
				     .port_num = 1,
				     .grh = { .sgid_index = s->gidx,
					      .hop_limit = 64 } },
		};

		memcpy(a.ah_attr.grh.dgid.raw, r->gid, 16);
		if (ibv_modify_qp(s->q[i].qp, &a,
				  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
					  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
					  IBV_QP_MAX_DEST_RD_ATOMIC |
					  IBV_QP_MIN_RNR_TIMER))
			die("%s QP %d: modify_qp RTR: %s", s->name, i,
			    strerror(errno));
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTS;
		a.timeout = opt.qp_timeout;
		a.retry_cnt = 7;
		a.rnr_retry = 7;
		a.sq_psn = s->q[i].psn;
		a.max_rd_atomic = s->rd_atom;
		if (ibv_modify_qp(s->q[i].qp, &a,
				  IBV_QP_STATE | IBV_QP_TIMEOUT |
					  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
					  IBV_QP_SQ_PSN |
					  IBV_QP_MAX_QP_RD_ATOMIC))
			die("%s QP %d: modify_qp RTS: %s", s->name, i,
			    strerror(errno));
	}
}

/* ---- one case ---- */

struct tcase {
	int iter, ci, op, dir, var;
	size_t len;
	uint32_t tag;
};

/* Where the initiator's SGEs, the remote offset and the receiver's lie. */
static void case_layout(const struct tcase *c, int qp, int max_sge,
			int max_rsge, struct sgl *il, size_t *roff,
			struct sgl *rl)
{
	size_t lo = c->var ? 1 + (c->ci + qp) % 7 : 0;
	size_t ro = c->var ? 1 + (c->ci * 3 + qp + 2) % 7 : 0;
	int n = c->var == 2 ? max_sge : 1, rn = c->var == 2 ? max_rsge : 1;

	layout(il, c->len, n, lo, false);
	*roff = ro;
	layout(rl, c->len, rn, ro, true); /* SEND: other boundaries */
}

static uint64_t case_key(const struct tcase *c, int qp)
{
	return pkey(c->iter, c->ci, qp, c->op);
}

static void post_send(struct qpres *q, struct ibv_send_wr *wr, struct result *r)
{
	struct ibv_send_wr *bad = NULL;
	int rc = ibv_post_send(q->qp, wr, &bad);

	if (rc)
		rset(r, true, "ibv_post_send (QP 0x%x, opcode %d): %s",
		     q->qp->qp_num, wr->opcode, strerror(rc));
}

static void post_recv(struct qpres *q, struct ibv_recv_wr *wr, struct result *r)
{
	struct ibv_recv_wr *bad = NULL;
	int rc = ibv_post_recv(q->qp, wr, &bad);

	if (rc)
		rset(r, true, "ibv_post_recv (QP 0x%x): %s", q->qp->qp_num,
		     strerror(rc));
}

static void to_sge(struct ibv_sge *sg, const struct sgl *l, uint8_t *base,
		   struct ibv_mr *mr)
{
	int i;

	for (i = 0; i < l->n; i++) {
		sg[i].addr = (uintptr_t)(base + l->pos[i]);
		sg[i].length = (uint32_t)l->len[i];
		sg[i].lkey = mr->lkey;
	}
}

/* wr_id: tag << 16 | qp << 4 | kind */
enum { K_DATA = 1, K_IMM, K_RECV };

/*
 * Poll cq until want completions have come (each one checked: status,
 * opcode, wr_id, QP, imm, byte_len), or the deadline passes.  got[] counts
 * per QP.
 */
static void wait_cq(struct side *s, struct ibv_cq *cq, int want,
		    const struct tcase *c, double tmo, struct result *r,
		    bool recv)
{
	double end = now_s() + tmo;
	int n = 0;

	while (n < want) {
		struct ibv_wc wc[16];
		int k = ibv_poll_cq(cq, 16, wc), i;

		if (k < 0) {
			rset(r, true, "ibv_poll_cq: %d", k);
			return;
		}
		for (i = 0; i < k; i++) {
			unsigned int kind = wc[i].wr_id & 0xf;
			unsigned int qp = (wc[i].wr_id >> 4) & 0xfff;
			uint32_t tag = (uint32_t)(wc[i].wr_id >> 16);
			enum ibv_wc_opcode exp;

			if (wc[i].status != IBV_WC_SUCCESS) {
				rset(r, true,
				     "%s: work completion error on QP 0x%x (wr_id 0x%llx, opcode %d): %s (vendor_err 0x%x)",
				     s->name, wc[i].qp_num,
				     (unsigned long long)wc[i].wr_id,
				     wc[i].opcode,
				     ibv_wc_status_str(wc[i].status),
				     wc[i].vendor_err);
				continue;
			}
			if (tag != c->tag || (int)qp >= opt.qps ||
			    wc[i].qp_num != s->q[qp].qp->qp_num) {
				rset(r, true,
				     "%s: unexpected completion wr_id 0x%llx on QP 0x%x",
				     s->name, (unsigned long long)wc[i].wr_id,
				     wc[i].qp_num);
				continue;
			}
			exp = kind == K_RECV	? IBV_WC_RECV :
			      kind == K_IMM	? IBV_WC_SEND :
			      c->op == OP_WRITE ? IBV_WC_RDMA_WRITE :
			      c->op == OP_READ	? IBV_WC_RDMA_READ :
						  IBV_WC_SEND;
			if (wc[i].opcode != exp)
				rset(r, true,
				     "%s QP %u: opcode %d, expected %d",
				     s->name, qp, wc[i].opcode, exp);
			if (recv && c->op == OP_WRITE &&
			    (!(wc[i].wc_flags & IBV_WC_WITH_IMM) ||
			     ntohl(wc[i].imm_data) != c->tag ||
			     wc[i].byte_len != 0))
				rset(r, true,
				     "%s QP %u: SEND_WITH_IMM arrived with flags 0x%x imm 0x%x len %u, expected imm 0x%x len 0",
				     s->name, qp, wc[i].wc_flags,
				     ntohl(wc[i].imm_data), wc[i].byte_len,
				     c->tag);
			if (recv && c->op == OP_SEND &&
			    (wc[i].byte_len != c->len ||
			     (wc[i].wc_flags & IBV_WC_WITH_IMM)))
				rset(r, false,
				     "%s QP %u: RECV byte_len %u, expected %zu",
				     s->name, qp, wc[i].byte_len, c->len);
		}
		n += k;
		if (n >= want)
			break;
		if (now_s() > end) {
			rset(r, true,
			     "%s: timeout: %d of %d %s completions within %.0f s",
			     s->name, n, want, recv ? "receive" : "send", tmo);
			return;
		}
		if (!k)
			usleep(50);
	}
}

/* Target before the initiator starts: poison, fill, post receives. */
static void t_prepare(struct side *s, const struct side *peer,
		      const struct tcase *c, struct result *r)
{
	int i;

	for (i = 0; i < opt.qps; i++) {
		struct qpres *q = &s->q[i];
		uint64_t key = case_key(c, i);
		struct sgl il, rl, cl;
		struct ibv_sge sg[MAX_SGE];
		struct ibv_recv_wr wr = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_RECV,
			.sg_list = sg,
		};
		size_t ro;

		case_layout(c, i, peer->sge_send, s->sge_recv, &il, &ro, &rl);
		layout(&cl, c->len, 1, ro, false);
		switch (c->op) {
		case OP_WRITE:
			poison_area(q->buf + AREA, &cl, key);
			sg[0].addr = (uintptr_t)(q->buf + 2 * AREA);
			sg[0].length = SCRATCH;
			sg[0].lkey = q->mr->lkey;
			wr.num_sge = 1;
			post_recv(q, &wr, r);
			break;
		case OP_READ:
			poison_area(q->buf, &cl, ~key);
			fill(q->buf, &cl, key);
			break;
		case OP_SEND:
			poison_area(q->buf + AREA, &rl, key);
			to_sge(sg, &rl, q->buf + AREA, q->mr);
			wr.num_sge = rl.n;
			post_recv(q, &wr, r);
			break;
		}
	}
}

/* Initiator: fill, post on every QP, wait, and for READ verify. */
static void i_run(struct side *s, const struct side *peer,
		  const struct hello *rh, const struct tcase *c,
		  struct result *r)
{
	int i, want = 0;

	for (i = 0; i < opt.qps && r->ok; i++) {
		struct qpres *q = &s->q[i];
		uint64_t key = case_key(c, i);
		struct sgl il, rl;
		struct ibv_sge sg[MAX_SGE];
		struct ibv_send_wr imm = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_IMM,
			.opcode = IBV_WR_SEND_WITH_IMM,
			.send_flags = IBV_SEND_SIGNALED,
			.imm_data = htonl(c->tag),
		};
		struct ibv_send_wr wr = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_DATA,
			.sg_list = sg,
			.send_flags = IBV_SEND_SIGNALED,
		};
		size_t ro;

		case_layout(c, i, c->op == OP_READ ? s->sge_rd : s->sge_send,
			    peer->sge_recv, &il, &ro, &rl);
		to_sge(sg, &il, q->buf + (c->op == OP_READ ? AREA : 0), q->mr);
		wr.num_sge = il.n;
		switch (c->op) {
		case OP_WRITE:
			fill(q->buf, &il, key);
			wr.opcode = IBV_WR_RDMA_WRITE;
			wr.wr.rdma.remote_addr = rh->q[i].addr + AREA + ro;
			wr.wr.rdma.rkey = rh->q[i].rkey;
			wr.next = &imm; /* after the data: "done" */
			want += 2;
			break;
		case OP_READ:
			poison_area(q->buf + AREA, &il, key);
			wr.opcode = IBV_WR_RDMA_READ;
			wr.wr.rdma.remote_addr = rh->q[i].addr + ro;
			wr.wr.rdma.rkey = rh->q[i].rkey;
			want++;
			break;
		case OP_SEND:
			fill(q->buf, &il, key);
			wr.opcode = IBV_WR_SEND;
			want++;
			break;
		}
		post_send(q, &wr, r);
	}
	if (!r->ok)
		return;
	wait_cq(s, s->scq, want, c, opt.timeout_s, r, false);
	if (!r->ok || c->op != OP_READ)
		return;
	for (i = 0; i < opt.qps; i++) {
		struct sgl il, rl;
		size_t ro;
		char what[64];

		case_layout(c, i, s->sge_rd, peer->sge_recv, &il, &ro, &rl);
		snprintf(what, sizeof(what), "%s QP %d read data", s->name, i);
		verify(s->q[i].buf + AREA, &il, case_key(c, i), r, what);
	}
}

/* Target after: wait for the receives, verify what arrived. */
static void t_finish(struct side *s, const struct side *peer,
		     const struct tcase *c, struct result *r)
{
	int i;

	if (c->op == OP_READ)
		return;
	wait_cq(s, s->rcq, opt.qps, c, opt.timeout_s, r, true);
	if (!r->ok)
		return;
	for (i = 0; i < opt.qps; i++) {
		struct sgl il, rl, cl;
		size_t ro;
		char what[64];

		case_layout(c, i, peer->sge_send, s->sge_recv, &il, &ro, &rl);
		layout(&cl, c->len, 1, ro, false);
		snprintf(what, sizeof(what), "%s QP %d %s data", s->name, i,
			 c->op == OP_WRITE ? "written" : "received");
		verify(s->q[i].buf + AREA, c->op == OP_WRITE ? &cl : &rl,
		       case_key(c, i), r, what);
	}
}

/* ---- the run ---- */

static struct side A, B; /* loopback: both; else the local one */
static struct side shadow; /* the remote side's SGE limits */
static struct hello hA, hB;

static int passed, failed, skipped;

static void report(const struct tcase *c, const struct result *r, int nsge_i,
		   int nsge_r)
{
	const char *from = c->dir ? "B->A" : "A->B";

	if (r->skipped) {
		skipped++;
		printf("ok - %s %s %zu B # SKIP %s\n", op_name[c->op], from,
		       c->len, r->text);
	} else if (r->ok) {
		passed++;
		printf("ok - %s %s %zu B var %d (sge %d/%d) x %d QPs\n",
		       op_name[c->op], from, c->len, c->var, nsge_i, nsge_r,
		       opt.qps);
	} else {
		failed++;
		printf("FAIL - %s %s %zu B var %d (sge %d/%d) x %d QPs: %s\n",
		       op_name[c->op], from, c->len, c->var, nsge_i, nsge_r,
		       opt.qps, r->text);
	}
	fflush(stdout);
}

static bool fatal_seen;

static void run_case(struct tcase *c)
{
	/* in two-process mode A is the client, B the server */
	bool a_local = opt.loopback || !opt.server;
	bool b_local = opt.loopback || opt.server;
	struct side *ini = c->dir ? &B : &A, *tgt = c->dir ? &A : &B;
	bool ini_local = c->dir ? b_local : a_local;
	bool tgt_local = c->dir ? a_local : b_local;
	const struct side *ini_peer = opt.loopback ? tgt : &shadow;
	const struct side *tgt_peer = opt.loopback ? ini : &shadow;
	const struct hello *th = c->dir ? &hA : &hB;
	struct result r = { .ok = true }, pr = { .ok = true };
	uint32_t max_msg = hA.max_msg < hB.max_msg ? hA.max_msg : hB.max_msg;
	struct sgl il, rl;
	size_t ro;
	struct msg m;
	int isge;

	if (c->len > max_msg) {
		r.skipped = true;
		snprintf(r.text, sizeof(r.text), "port max_msg_sz %u", max_msg);
		report(c, &r, 0, 0);
		return;
	}
	if (tgt_local) {
		t_prepare(tgt, tgt_peer, c, &r);
		if (!opt.loopback)
			msg_send(MSG_READY, r.ok, 0, NULL);
	} else {
		msg_recv(&m, MSG_READY);
		if (!m.a)
			rset(&r, true, "peer could not prepare");
	}
	if (ini_local && r.ok)
		i_run(ini, ini_peer, th, c, &r);
	if (tgt_local && r.ok)
		t_finish(tgt, tgt_peer, c, &r);
	if (!opt.loopback) { /* each side tells the other its verdict */
		msg_send(MSG_RESULT, r.ok, r.fatal, r.text);
		msg_recv(&m, MSG_RESULT);
		if (!m.a)
			rset(&pr, m.b, "peer: %s", m.text);
		if (!pr.ok && r.ok)
			r = pr;
	}
	isge = c->op == OP_READ ? (ini_local ? ini : &shadow)->sge_rd :
				  (ini_local ? ini : &shadow)->sge_send;
	case_layout(c, 0, isge, (tgt_local ? tgt : &shadow)->sge_recv, &il, &ro,
		    &rl);
	report(c, &r, il.n, c->op == OP_SEND ? rl.n : 1);
	if (r.fatal)
		fatal_seen = true;
}

/*
 * The probe: one 8-byte RDMA WRITE A -> B on QP 0, with a short deadline.
 * Returns 0 (it worked), 77 (the device does not execute it) or 1.
 */
static int probe(void)
{
	bool a_local = opt.loopback || !opt.server;
	struct tcase c = { .iter = 0xfff,
			   .ci = 0xffff,
			   .op = OP_WRITE,
			   .len = PROBE_LEN,
			   .tag = 0xffff };
	struct result r = { .ok = true };
	char detail[300];
	struct msg m;
	int code = 0;

	if (a_local) {
		struct qpres *q = &A.q[0];
		struct sgl l;
		struct ibv_sge sg;
		struct ibv_send_wr wr = { .wr_id = 0xffffull << 16 | K_DATA,
					  .sg_list = &sg,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED },
				   *bad;
		int rc;

		layout(&l, PROBE_LEN, 1, 0, false);
		fill(q->buf, &l, case_key(&c, 0));
		to_sge(&sg, &l, q->buf, q->mr);
		wr.wr.rdma.remote_addr = hB.q[0].addr + AREA + 2 * PROBE_LEN;
		wr.wr.rdma.rkey = hB.q[0].rkey;
		rc = ibv_post_send(q->qp, &wr, &bad);
		if (rc == EOPNOTSUPP || rc == ENOSYS) {
			code = 77;
			snprintf(detail, sizeof(detail),
				 "ibv_post_send(RDMA WRITE) on %s: %s", opt.dev,
				 strerror(rc));
		} else if (rc) {
			code = 1;
			snprintf(detail, sizeof(detail),
				 "probe: ibv_post_send(RDMA WRITE): %s",
				 strerror(rc));
		} else {
			wait_cq(&A, A.scq, 1, &c, opt.probe_timeout_s, &r,
				false);
			if (!r.ok && strstr(r.text, "timeout")) {
				code = 77;
				snprintf(
					detail, sizeof(detail),
					"one %d-byte RDMA WRITE on %s (QP 0x%x) did not complete within %d s",
					PROBE_LEN, opt.dev, q->qp->qp_num,
					opt.probe_timeout_s);
			} else if (!r.ok) {
				code = 1;
				snprintf(detail, sizeof(detail), "probe: %s",
					 r.text);
			} else {
				snprintf(detail, sizeof(detail),
					 "probe: %d-byte RDMA WRITE completed",
					 PROBE_LEN);
			}
		}
		if (!opt.loopback)
			msg_send(MSG_PROBE, code, 0, detail);
	} else {
		msg_recv(&m, MSG_PROBE);
		code = m.a;
		snprintf(detail, sizeof(detail), "%s", m.text);
	}
	if (code == 77) {
		printf("engine not available: %s\n", detail);
	} else if (code) {
		printf("FAIL - %s\n", detail);
	} else if (opt.loopback || opt.server) {
		/* the target checks the probe's bytes too */
		uint8_t *p = B.q[0].buf + AREA + 2 * PROBE_LEN;
		uint64_t key = case_key(&c, 0);
		int i;

		r.ok = true;
		for (i = 0; i < PROBE_LEN; i++)
			if (p[i] != pbyte(key, i))
				rset(&r, false,
				     ": byte %d is 0x%02x, expected 0x%02x", i,
				     p[i], pbyte(key, i));
		CHECK(r.ok, "%s%s", detail, r.ok ? "" : r.text);
		if (!r.ok)
			code = 1;
	} else {
		printf("ok - %s\n", detail);
	}
	fflush(stdout);
	return code;
}

static void usage(int code)
{
	printf("usage: ntbrdma-integrity [options] (--loopback | --server | --connect HOST)\n"
	       "  --dev NAME          RDMA device (ntbrdma0)\n"
	       "  --gid-index N       GID index (default: first RoCE v2 IPv4-mapped GID)\n"
	       "  --port P            TCP port of the out-of-band exchange (18600)\n"
	       "  --server            wait for the client (side B)\n"
	       "  --connect HOST      client (side A); retries for 60 s\n"
	       "  --loopback          both sides in this process, one device\n"
	       "  --qps N             QPs run at once (4; the client's value wins)\n"
	       "  --iters N           passes over all cases (1)\n"
	       "  --seed N            pattern seed (1)\n"
	       "  --timeout S         deadline of each wait (30)\n"
	       "  --probe-timeout S   deadline of the first RDMA WRITE (5)\n"
	       "  --probe-only        only the probe: 0 works, 77 engine not available\n"
	       "  --qp-timeout N      RC local ACK timeout exponent (18)\n"
	       "  --corrupt[=data|guard]  debug: before a verification this process\n"
	       "                      does, flip one byte of the data (in the middle of\n"
	       "                      the last SGE) or of the poison just after it;\n"
	       "                      the case must FAIL\n"
	       "  --corrupt-at N      ... in the N-th verification (from 0; default 0)\n");
	exit(code);
}

static int num(const char *s, int lo, int hi)
{
	char *e;
	long v = strtol(s, &e, 0);

	if (*s == 0 || *e || v < lo || v > hi) {
		fprintf(stderr, "bad number '%s' (%d..%d)\n", s, lo, hi);
		usage(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "dev", 1, NULL, 'd' },
					    { "gid-index", 1, NULL, 'g' },
					    { "port", 1, NULL, 'p' },
					    { "server", 0, NULL, 's' },
					    { "connect", 1, NULL, 'c' },
					    { "loopback", 0, NULL, 'l' },
					    { "qps", 1, NULL, 'q' },
					    { "iters", 1, NULL, 'n' },
					    { "seed", 1, NULL, 'S' },
					    { "timeout", 1, NULL, 't' },
					    { "probe-timeout", 1, NULL, 'P' },
					    { "qp-timeout", 1, NULL, 'u' },
					    { "corrupt", 2, NULL, 'C' },
					    { "corrupt-at", 1, NULL, 'A' },
					    { "probe-only", 0, NULL, 'O' },
					    { "help", 0, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int o, code, it, op, dir, si, var, ci;
	double t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((o = getopt_long(argc, argv, "d:g:p:sc:lq:n:S:t:P:u:C::A:Oh", lo,
				NULL)) != -1) {
		switch (o) {
		case 'd':
			opt.dev = optarg;
			break;
		case 'g':
			opt.gid_index = num(optarg, 0, 65535);
			break;
		case 'p':
			opt.port = optarg;
			break;
		case 's':
			opt.server = true;
			break;
		case 'c':
			opt.host = optarg;
			break;
		case 'l':
			opt.loopback = true;
			break;
		case 'q':
			opt.qps = num(optarg, 1, MAX_QPS);
			break;
		case 'n':
			opt.iters = num(optarg, 1, 1000000);
			break;
		case 'S':
			opt.seed = (unsigned int)num(optarg, 0, 0x7fffffff);
			break;
		case 't':
			opt.timeout_s = num(optarg, 1, 3600);
			break;
		case 'P':
			opt.probe_timeout_s = num(optarg, 1, 3600);
			break;
		case 'u':
			opt.qp_timeout = num(optarg, 0, 31);
			break;
		case 'C':
			if (!optarg || !strcmp(optarg, "data"))
				opt.corrupt = 1;
			else if (!strcmp(optarg, "guard"))
				opt.corrupt = 2;
			else
				usage(2);
			break;
		case 'O':
			opt.probe_only = true;
			break;
		case 'A':
			opt.corrupt_at = num(optarg, 0, 1000000);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc ||
	    (opt.loopback + opt.server + (opt.host != NULL)) != 1)
		usage(2);

	if (opt.loopback) {
		side_init(&A, "A");
		side_init(&B, "B");
		hello_of(&A, &hA);
		hello_of(&B, &hB);
		connect_qps(&A, &hB);
		connect_qps(&B, &hA);
	} else {
		struct side *me = opt.server ? &B : &A;
		struct hello *mine = opt.server ? &hB : &hA;
		struct hello *theirs = opt.server ? &hA : &hB;

		if (opt.server) {
			struct {
				uint32_t qps, iters, seed;
			} cfg;

			tcp_server();
			tcp_recv(&cfg, sizeof(cfg)); /* the client's choice */
			if (cfg.qps < 1 || cfg.qps > MAX_QPS || !cfg.iters)
				die("bad configuration from the client");
			opt.qps = cfg.qps, opt.iters = cfg.iters;
			opt.seed = cfg.seed;
		} else {
			struct {
				uint32_t qps, iters, seed;
			} cfg = { opt.qps, opt.iters, opt.seed };

			tcp_client();
			tcp_send(&cfg, sizeof(cfg));
		}
		side_init(me, opt.server ? "B" : "A");
		hello_of(me, mine);
		tcp_send(mine, sizeof(*mine));
		tcp_recv(theirs, sizeof(*theirs));
		if (theirs->magic != mine->magic ||
		    theirs->nqps != mine->nqps || theirs->seed != mine->seed)
			die("peer's hello does not match ours");
		connect_qps(me, theirs);
		/* the peer's SGE limits, to derive the layouts it uses */
		shadow.sge_send = theirs->sge_send;
		shadow.sge_recv = theirs->sge_recv;
		shadow.sge_rd = theirs->sge_rd;
		/* both ends must agree: ready once both are RTS */
		msg_send(MSG_READY, 1, 0, NULL);
		{
			struct msg m;

			msg_recv(&m, MSG_READY);
		}
	}
	printf("# %s, GID index %d, %d QPs, %d iteration(s), seed %u, sge send/recv/rd %d/%d/%d\n",
	       opt.dev, (opt.loopback || !opt.server ? &A : &B)->gidx, opt.qps,
	       opt.iters, opt.seed,
	       (opt.loopback || !opt.server ? &A : &B)->sge_send,
	       (opt.loopback || !opt.server ? &A : &B)->sge_recv,
	       (opt.loopback || !opt.server ? &A : &B)->sge_rd);

	code = probe();
	if (code || opt.probe_only)
		return code;

	t0 = now_s();
	ci = 0;
	for (it = 0; it < opt.iters && !fatal_seen; it++)
		for (op = 0; op < NR_OPS && !fatal_seen; op++)
			for (dir = 0; dir < 2 && !fatal_seen; dir++)
				for (si = 0; si < (int)NR_SIZES && !fatal_seen;
				     si++)
					for (var = 0;
					     var < NR_VARIANTS && !fatal_seen;
					     var++, ci++) {
						struct tcase c = {
							.iter = it,
							.ci = ci & 0xfff,
							.op = op,
							.dir = dir,
							.var = var,
							.len = sizes[si],
							.tag = (uint32_t)ci &
							       0xffff,
						};

						run_case(&c);
					}
	if (fatal_seen)
		printf("# stopped after a fatal error (QPs may be in ERR)\n");
	printf("# %d passed, %d failed, %d skipped (%d QPs, %.1f s)\n", passed,
	       failed, skipped, opt.qps, now_s() - t0);
	return failed || fatal_seen || failures ? 1 : 0;
}
