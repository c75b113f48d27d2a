// SPDX-License-Identifier: GPL-2.0
/* RC QP helpers of the data-path test programs (ntbrdma-rc.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

static int find_gid(struct env *e)
{
	struct ibv_gid_entry ent;
	int i;

	for (i = 0; i < 32; i++) {
		if (ibv_query_gid_ex(e->ctx, 1, i, &ent, 0))
			continue;
		if (ent.gid_type != IBV_GID_TYPE_ROCE_V2 ||
		    !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)ent.gid.raw))
			continue;
		e->gid = ent.gid;
		e->gid_index = i;
		return 0;
	}
	return -1;
}

int env_open_bare(struct env *e, const char *name)
{
	memset(e, 0, sizeof(*e));
	e->ctx = open_dev(name);
	if (!e->ctx)
		return -1;
	e->pd = ibv_alloc_pd(e->ctx);
	e->scq = ibv_create_cq(e->ctx, 256, NULL, NULL, 0);
	e->rcq = ibv_create_cq(e->ctx, 256, NULL, NULL, 0);
	return e->pd && e->scq && e->rcq ? find_gid(e) : -1;
}

int env_open(struct env *e, const char *name)
{
	if (env_open_bare(e, name))
		return -1;
	e->src = aligned_alloc(4096, BUF_SIZE);
	e->dst = aligned_alloc(4096, BUF_SIZE);
	if (!e->src || !e->dst)
		return -1;
	e->smr = ibv_reg_mr(e->pd, e->src, BUF_SIZE, ACCESS);
	e->dmr = ibv_reg_mr(e->pd, e->dst, BUF_SIZE, ACCESS);
	return e->smr && e->dmr ? 0 : -1;
}

struct ibv_qp *make_qp_type(struct env *e, struct ibv_pd *pd,
			    enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.qp_type = type;
	ia.cap.max_send_wr = 64;
	ia.cap.max_recv_wr = 64;
	ia.cap.max_send_sge = 4;
	ia.cap.max_recv_sge = 4;
	return ibv_create_qp(pd, &ia);
}

struct ibv_qp *make_qp_pd(struct env *e, struct ibv_pd *pd)
{
	return make_qp_type(e, pd, IBV_QPT_RC);
}

struct ibv_qp *make_qp(struct env *e)
{
	return make_qp_pd(e, e->pd);
}

int connect_qp_opts(struct env *e, struct ibv_qp *qp, const union ibv_gid *dgid,
		    uint32_t dqpn, const struct qp_opts *o)
{
	bool uc = qp->qp_type == IBV_QPT_UC;
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = (unsigned int)o->access;
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = o->max_dest_rd_atomic;
	a.min_rnr_timer = 1; /* 0.01 ms */
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *dgid;
	a.ah_attr.grh.sgid_index = (uint8_t)e->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	/* UC: no READ or atomic resources, no RNR, no acknowledgements. */
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  (uc ? 0 :
					IBV_QP_MAX_DEST_RD_ATOMIC |
						   IBV_QP_MIN_RNR_TIMER)))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	if (uc)
		return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
	a.timeout = o->timeout;
	a.retry_cnt = o->retry_cnt;
	a.rnr_retry = o->rnr_retry;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
				     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_MAX_QP_RD_ATOMIC);
}

int connect_qp(struct env *e, struct ibv_qp *qp, const union ibv_gid *dgid,
	       uint32_t dqpn, int rnr_retry)
{
	const struct qp_opts o = {
		.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			  IBV_ACCESS_REMOTE_ATOMIC,
		.max_dest_rd_atomic = 4,
		.timeout = 14,
		.retry_cnt = 7,
		.rnr_retry = (uint8_t)rnr_retry,
	};

	return connect_qp_opts(e, qp, dgid, dqpn, &o);
}

int ud_ready(struct ibv_qp *qp, uint32_t qkey)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qkey = qkey;
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_QKEY))
		return -1;
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

struct ibv_ah *make_ah(struct env *e, const union ibv_gid *dgid)
{
	struct ibv_ah_attr a;

	memset(&a, 0, sizeof(a));
	a.is_global = 1;
	a.grh.dgid = *dgid;
	a.grh.sgid_index = (uint8_t)e->gid_index;
	a.grh.hop_limit = 64;
	a.port_num = 1;
	return ibv_create_ah(e->pd, &a);
}

int post_ud(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
	    struct ibv_sge *sge, struct ibv_ah *ah, uint32_t rqpn,
	    uint32_t qkey, uint32_t imm)
{
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = id;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.sg_list = sge;
	wr.num_sge = sge ? 1 : 0;
	wr.imm_data = imm;
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = rqpn;
	wr.wr.ud.remote_qkey = qkey;
	return ibv_post_send(qp, &wr, &bad);
}

int loop_pair(struct env *e, struct ibv_qp **a, struct ibv_qp **b)
{
	*a = make_qp(e);
	*b = make_qp(e);
	if (!*a || !*b || connect_qp(e, *a, &e->gid, (*b)->qp_num, 7) ||
	    connect_qp(e, *b, &e->gid, (*a)->qp_num, 7))
		return -1;
	return 0;
}

enum ibv_qp_state query_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		return IBV_QPS_UNKNOWN;
	return a.qp_state;
}

enum ibv_qp_state wait_state(struct ibv_qp *qp, enum ibv_qp_state want)
{
	enum ibv_qp_state st = query_state(qp);
	int i;

	for (i = 0; i < 200 && st != want; i++) {
		usleep(10000);
		st = query_state(qp);
	}
	return st;
}

int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	int i, n;

	for (i = 0; i < 100000; i++) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? 0 : -1;
		usleep(100);
	}
	memset(wc, 0, sizeof(*wc));
	wc->status = IBV_WC_GENERAL_ERR;
	return -1;
}

void fill(unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 12)) ^ seed);
}

int post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
	      struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey,
	      uint32_t imm, unsigned int flags)
{
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = id;
	wr.opcode = op;
	wr.sg_list = sge;
	wr.num_sge = nsge;
	wr.send_flags = IBV_SEND_SIGNALED | flags;
	wr.imm_data = htonl(imm);
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(qp, &wr, &bad);
}

/* One signalled atomic WR, the old value into sge; ibv_post_send's result. */
int post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
		struct ibv_sge *sge, uint64_t raddr, uint32_t rkey,
		uint64_t compare_add, uint64_t swap)
{
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = id;
	wr.opcode = op;
	wr.sg_list = sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.compare_add = compare_add;
	wr.wr.atomic.swap = swap;
	wr.wr.atomic.rkey = rkey;
	return ibv_post_send(qp, &wr, &bad);
}

int post_recv(struct ibv_qp *qp, uint64_t id, struct ibv_sge *sge, int nsge)
{
	struct ibv_recv_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = id;
	wr.sg_list = sge;
	wr.num_sge = nsge;
	return ibv_post_recv(qp, &wr, &bad);
}

void expect_status(struct ibv_cq *cq, uint64_t id, enum ibv_wc_status st,
		   const char *what)
{
	struct ibv_wc wc;
	int r = wait_wc(cq, &wc);

	CHECK(!r && wc.wr_id == id && wc.status == st, "%s: %s (got %s, %llu)",
	      what, ibv_wc_status_str(st), ibv_wc_status_str(wc.status),
	      (unsigned long long)wc.wr_id);
}

int tcp_conn(const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd, one = 1, i;

	if (!ip) {
		int l = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
			return -1;
		printf("# listening\n");
		fflush(stdout);
		fd = accept(l, NULL, NULL);
		close(l);
		return fd;
	}
	inet_pton(AF_INET, ip, &sa.sin_addr);
	for (i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		usleep(100000);
	}
	return -1;
}

int xchg(int fd, const void *out, void *in, size_t n)
{
	size_t got = 0;
	ssize_t r;

	if (write(fd, out, n) != (ssize_t)n)
		return -1;
	/* A stream: a large struct may arrive in several pieces. */
	while (got < n) {
		r = read(fd, (char *)in + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int barrier(int fd)
{
	char c = 0;

	return write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1 ? 0 : -1;
}

int peer_connect(struct peer *p, const char *ip, int port)
{
	return peer_connect_qp(p, make_qp(&p->e), ip, port);
}

int peer_connect_qp(struct peer *p, struct ibv_qp *qp, const char *ip, int port)
{
	struct conn me;

	p->qp = qp;
	p->fd = tcp_conn(ip, port);
	CHECK(p->qp && p->fd >= 0, "QP and TCP connection");
	if (!p->qp || p->fd < 0)
		return -1;
	memset(&me, 0, sizeof(me));
	me.qpn = p->qp->qp_num;
	me.gid = p->e.gid;
	if (p->e.dmr) {
		me.rkey = p->e.dmr->rkey;
		me.addr = (uintptr_t)p->e.dst;
		memset(p->e.dst, 0, BUF_SIZE);
	}
	CHECK(!xchg(p->fd, &me, &p->them, sizeof(me)), "exchange QPN/GID/rkey");
	CHECK(!connect_qp(&p->e, p->qp, &p->them.gid, p->them.qpn, 7),
	      "QP connected to the peer's QP %u", p->them.qpn);
	return 0;
}

int peer_open(struct peer *p, const char *name, const char *ip, int port)
{
	if (env_open(&p->e, name)) {
		CHECK(0, "device, PD, CQs, MRs, GID");
		return -1;
	}
	return peer_connect(p, ip, port);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* rkey in DEV's debugfs mr_dying: 1, 0, or -1 (no such file). */
static int mr_dying(const char *dev, uint32_t rkey)
{
	char path[128], line[256], want[32];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/ntbrdma_ib/%s/mr_dying",
		 dev);
	snprintf(want, sizeof(want), "rkey=%#010x", rkey);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		found |= !!strstr(line, want);
	fclose(f);
	return found;
}

void peer_dereg_dst(struct peer *p, const char *dev)
{
	uint32_t rkey = p->e.dmr->rkey;
	double t0;
	int d;

	CHECK(!ibv_dereg_mr(p->e.dmr), "server: MR %#x deregistered", rkey);
	p->e.dmr = NULL;
	for (t0 = now_s();; usleep(10000)) {
		d = mr_dying(dev, rkey);
		if (d <= 0 || now_s() - t0 >= 60)
			break;
	}
	CHECK(d == 0, "server: the client acknowledged the removal (%.2f s)",
	      now_s() - t0);
}
