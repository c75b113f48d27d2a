// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-integrity: the out-of-band TCP exchange, and the verbs set-up:
 * device, PD, CQs, QPs, MRs, and connecting the QPs to the peer's (see
 * ntbrdma-integrity.c).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ntbrdma-integrity.h"

/* ---- TCP ---- */

static int sock = -1;

void tcp_send(const void *p, size_t n)
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

void tcp_recv(void *p, size_t n)
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

void msg_send(uint32_t type, uint32_t a, uint32_t b, const char *text)
{
	struct msg m = { .type = type, .a = a, .b = b };

	if (text) {
		size_t n = strnlen(text, sizeof(m.text) - 1);

		memcpy(m.text, text, n); /* truncated, still terminated */
	}
	tcp_send(&m, sizeof(m));
}

void msg_recv(struct msg *m, uint32_t type)
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

void tcp_server(void)
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

void tcp_client(void)
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

void side_init(struct side *s, const char *name)
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

void hello_of(struct side *s, struct hello *h)
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

void connect_qps(struct side *s, const struct hello *r)
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
