// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-qp-test: queue pair checks of an ntbrdma device through
 * libibverbs and the libntbrdma provider, for tests/vm/ntbrdma-qp.sh.
 * Every check prints "ok - ..." or "FAIL - ..."; the exit code is 0 only
 * if all passed.
 *
 *   ntbrdma-qp-test qp DEV PEER_IPV4   caps, state machine, query, posting
 *                                      errors, flush on ERR, RESET
 *   ntbrdma-qp-test hold DEV FILE PEER_IPV4
 *                                      hold 4 RC QPs until FILE exists:
 *                                      RESET, INIT, RTR to the INIT one
 *                                      (loopback), RTR to the peer
 *
 * The engine executes WQEs of an RTS QP (ntbrdma-engine-test checks the
 * data path); here the first one fails (unregistered buffer) and the QP's
 * other WQEs are flushed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "vmtest.h"

struct env {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_device_attr dattr;
	union ibv_gid gid; /* our RoCE v2 GID (an IPv4 address of ntb0) */
	int gid_index;
};

/* A RoCE v2 GID of port 1 that is an IPv4-mapped address. */
static int find_gid(struct env *e)
{
	struct ibv_gid_entry ent;
	int i;

	for (i = 0; i < 32; i++) {
		if (ibv_query_gid_ex(e->ctx, 1, i, &ent, 0))
			continue;
		if (ent.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		if (!IN6_IS_ADDR_V4MAPPED((struct in6_addr *)ent.gid.raw))
			continue;
		e->gid = ent.gid;
		e->gid_index = i;
		return 0;
	}
	return -1;
}

static struct ibv_qp *make_qp(struct env *e, struct ibv_cq *scq,
			      struct ibv_cq *rcq, struct ibv_qp_cap *cap,
			      int sq_sig_all)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = scq;
	ia.recv_cq = rcq;
	ia.qp_type = IBV_QPT_RC;
	ia.sq_sig_all = sq_sig_all;
	ia.cap = *cap;
	errno = 0;
	return ibv_create_qp(e->pd, &ia);
}

static struct ibv_qp_cap small_cap(uint32_t swr, uint32_t rwr)
{
	struct ibv_qp_cap c = { .max_send_wr = swr,
				.max_recv_wr = rwr,
				.max_send_sge = 1,
				.max_recv_sge = 1 };
	return c;
}

static int to_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.pkey_index = 0;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				     IBV_QP_ACCESS_FLAGS);
}

static void rtr_attr(struct env *e, const union ibv_gid *dgid, uint32_t dqpn,
		     struct ibv_qp_attr *a, int *mask)
{
	memset(a, 0, sizeof(*a));
	a->qp_state = IBV_QPS_RTR;
	a->path_mtu = IBV_MTU_1024;
	a->dest_qp_num = dqpn;
	a->rq_psn = 0x123456;
	a->max_dest_rd_atomic = 4;
	a->min_rnr_timer = 12;
	a->ah_attr.is_global = 1;
	a->ah_attr.grh.dgid = *dgid;
	a->ah_attr.grh.sgid_index = (uint8_t)e->gid_index;
	a->ah_attr.grh.hop_limit = 64;
	a->ah_attr.grh.traffic_class = 0;
	a->ah_attr.port_num = 1;
	*mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
		IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
		IBV_QP_MIN_RNR_TIMER;
}

static int to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0x654321;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 6;
	a.max_rd_atomic = 3;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
				     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_MAX_QP_RD_ATOMIC);
}

static int set_state(struct ibv_qp *qp, enum ibv_qp_state s)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = s;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

static enum ibv_qp_state query_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		return IBV_QPS_UNKNOWN;
	return a.qp_state;
}

static int post_recvs(struct ibv_qp *qp, uint64_t first, int n,
		      struct ibv_recv_wr **bad)
{
	static char buf[64];
	struct ibv_recv_wr wr[64];
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = 64 };
	int i;

	for (i = 0; i < n; i++) {
		memset(&wr[i], 0, sizeof(wr[i]));
		wr[i].wr_id = first + i;
		wr[i].sg_list = &sge;
		wr[i].num_sge = 1;
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
	}
	*bad = NULL;
	return ibv_post_recv(qp, wr, bad);
}

/* Poll exactly n flush completions with wr_ids first.. in order. */
static void expect_flush(struct ibv_cq *cq, struct ibv_qp *qp, uint64_t first,
			 int n, int is_recv, const char *what)
{
	struct ibv_wc wc[64];
	int got = 0, r, i, bad = 0;

	for (i = 0; i < 100 && got < n + 1; i++) {
		r = ibv_poll_cq(cq, 64 - got, wc + got);
		if (r < 0) {
			CHECK(0, "%s: poll_cq failed (%d)", what, r);
			return;
		}
		got += r;
		if (!r)
			break;
	}
	CHECK(got == n, "%s: %d completions (got %d)", what, n, got);
	for (i = 0; i < got && i < n; i++) {
		if (wc[i].wr_id != first + (uint64_t)i ||
		    wc[i].status != IBV_WC_WR_FLUSH_ERR ||
		    wc[i].qp_num != qp->qp_num ||
		    (is_recv && wc[i].opcode != IBV_WC_RECV)) {
			bad++;
			printf("# %s: wc %d wr_id %llu status %s qp %u op %d\n",
			       what, i, (unsigned long long)wc[i].wr_id,
			       ibv_wc_status_str(wc[i].status), wc[i].qp_num,
			       wc[i].opcode);
		}
	}
	CHECK(!bad && got == n,
	      "%s: IBV_WC_WR_FLUSH_ERR, wr_ids %llu.. in order, qp_num %u",
	      what, (unsigned long long)first, qp->qp_num);
}

static void check_caps(struct env *e, struct ibv_cq *cq)
{
	struct ibv_qp_cap want = { .max_send_wr = 10,
				   .max_recv_wr = 20,
				   .max_send_sge = 3,
				   .max_recv_sge = 2,
				   .max_inline_data = 64 };
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;
	struct ibv_qp_cap c;
	struct ibv_qp *qp;
	int ret;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap = want;
	qp = ibv_create_qp(e->pd, &ia);
	CHECK(qp, "create RC QP (%s)", qp ? "ok" : strerror(errno));
	if (!qp)
		return;
	c = ia.cap;
	CHECK(c.max_send_wr == 16 && c.max_recv_wr == 32,
	      "cap wr rounded up to 16/32 (%u/%u)", c.max_send_wr,
	      c.max_recv_wr);
	CHECK(c.max_send_sge >= 3 && c.max_recv_sge >= 2 &&
		      c.max_inline_data >= 64,
	      "cap sge %u/%u inline %u >= requested", c.max_send_sge,
	      c.max_recv_sge, c.max_inline_data);
	CHECK(qp->qp_num >= 2 && qp->qp_num <= 0xffffff, "qp_num %u >= 2",
	      qp->qp_num);
	ret = ibv_query_qp(qp, &a, IBV_QP_STATE | IBV_QP_CAP, &ia);
	CHECK(!ret && a.qp_state == IBV_QPS_RESET, "new QP in RESET (%d %d)",
	      ret, a.qp_state);
	CHECK(!ret && a.cap.max_send_wr == c.max_send_wr &&
		      a.cap.max_recv_wr == c.max_recv_wr &&
		      a.cap.max_send_sge == c.max_send_sge &&
		      a.cap.max_recv_sge == c.max_recv_sge &&
		      a.cap.max_inline_data == c.max_inline_data &&
		      ia.cap.max_send_wr == c.max_send_wr &&
		      ia.qp_type == IBV_QPT_RC && ia.sq_sig_all == 0,
	      "query_qp returns the cap and init attributes (%u %u %u %u %u)",
	      a.cap.max_send_wr, a.cap.max_recv_wr, a.cap.max_send_sge,
	      a.cap.max_recv_sge, a.cap.max_inline_data);
	CHECK(!ibv_destroy_qp(qp), "destroy QP");
}

static void expect_create_fail(struct env *e, struct ibv_cq *cq,
			       struct ibv_qp_cap cap, enum ibv_qp_type type,
			       int err, const char *what)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = type;
	ia.cap = cap;
	errno = 0;
	qp = ibv_create_qp(e->pd, &ia);
	CHECK(!qp && errno == err, "create_qp %s fails with %s (got %s)", what,
	      strerror(err), qp ? "success" : strerror(errno));
	if (qp)
		ibv_destroy_qp(qp);
}

static void check_limits(struct env *e, struct ibv_cq *cq)
{
	struct ibv_qp_cap c;
	uint32_t mwr = (uint32_t)e->dattr.max_qp_wr;
	uint32_t msge = (uint32_t)e->dattr.max_sge;

	c = small_cap(mwr + 1, 1);
	expect_create_fail(e, cq, c, IBV_QPT_RC, EINVAL, "max_send_wr+1");
	c = small_cap(1, mwr + 1);
	expect_create_fail(e, cq, c, IBV_QPT_RC, EINVAL, "max_recv_wr+1");
	c = small_cap(1, 1);
	c.max_send_sge = msge + 1;
	expect_create_fail(e, cq, c, IBV_QPT_RC, EINVAL, "max_send_sge+1");
	c = small_cap(1, 1);
	c.max_recv_sge = msge + 1;
	expect_create_fail(e, cq, c, IBV_QPT_RC, EINVAL, "max_recv_sge+1");
	c = small_cap(1, 1);
	c.max_inline_data = 257;
	expect_create_fail(e, cq, c, IBV_QPT_RC, EINVAL, "max_inline 257");
	c = small_cap(1, 1);
	expect_create_fail(e, cq, c, IBV_QPT_RAW_PACKET, EOPNOTSUPP,
			   "raw packet");
	/* The largest legal caps work. */
	c = small_cap(mwr, mwr);
	c.max_send_sge = msge;
	c.max_recv_sge = msge;
	c.max_inline_data = 256;
	{
		struct ibv_qp *qp;
		struct ibv_cq *big = ibv_create_cq(e->ctx, 16, NULL, NULL, 0);

		qp = big ? make_qp(e, big, big, &c, 0) : NULL;
		CHECK(qp, "create QP with max_qp_wr %u, max_sge %u, inline 256",
		      mwr, msge);
		if (qp)
			ibv_destroy_qp(qp);
		if (big)
			ibv_destroy_cq(big);
	}
}

/* The RC state machine with every attribute checked by query_qp. */
static void check_states(struct env *e, struct ibv_qp *qa, struct ibv_qp *qb,
			 const char *peer_ip)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a, q;
	union ibv_gid g;
	int mask, ret;

	/* RESET -> RTS, RESET -> RTR: not transitions. */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	ret = ibv_modify_qp(qa, &a, IBV_QP_STATE);
	CHECK(ret == EINVAL, "RESET -> RTS fails with EINVAL (%d)", ret);
	rtr_attr(e, &e->gid, qb->qp_num, &a, &mask);
	ret = ibv_modify_qp(qa, &a, mask);
	CHECK(ret == EINVAL, "RESET -> RTR fails with EINVAL (%d)", ret);
	/* RESET -> INIT without the required port. */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	ret = ibv_modify_qp(
		qa, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_ACCESS_FLAGS);
	CHECK(ret == EINVAL, "RESET -> INIT without PORT: EINVAL (%d)", ret);
	/* ... and with an attribute INIT does not take. */
	a.port_num = 1;
	a.sq_psn = 1;
	ret = ibv_modify_qp(qa, &a,
			    IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				    IBV_QP_ACCESS_FLAGS | IBV_QP_SQ_PSN);
	CHECK(ret == EINVAL, "RESET -> INIT with SQ_PSN: EINVAL (%d)", ret);
	a.port_num = 2;
	ret = ibv_modify_qp(qa, &a,
			    IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				    IBV_QP_ACCESS_FLAGS);
	CHECK(ret == EINVAL, "RESET -> INIT with port 2: EINVAL (%d)", ret);
	CHECK(query_state(qa) == IBV_QPS_RESET, "still RESET after failures");

	ret = to_init(qa);
	CHECK(!ret, "RESET -> INIT (%d)", ret);
	ret = ibv_query_qp(qa, &q,
			   IBV_QP_STATE | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS |
				   IBV_QP_PKEY_INDEX,
			   &ia);
	CHECK(!ret && q.qp_state == IBV_QPS_INIT && q.port_num == 1 &&
		      q.pkey_index == 0 &&
		      q.qp_access_flags == (IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ),
	      "query INIT: state %d port %d access 0x%x", q.qp_state,
	      q.port_num, q.qp_access_flags);
	CHECK(!to_init(qb), "qb RESET -> INIT");

	/* INIT -> RTR: required attributes missing, a wrong one added. */
	rtr_attr(e, &e->gid, qb->qp_num, &a, &mask);
	ret = ibv_modify_qp(qa, &a, mask & ~IBV_QP_DEST_QPN);
	CHECK(ret == EINVAL, "INIT -> RTR without DEST_QPN: EINVAL (%d)", ret);
	ret = ibv_modify_qp(qa, &a, mask & ~IBV_QP_AV);
	CHECK(ret == EINVAL, "INIT -> RTR without AV: EINVAL (%d)", ret);
	ret = ibv_modify_qp(qa, &a, mask | IBV_QP_SQ_PSN);
	CHECK(ret == EINVAL, "INIT -> RTR with SQ_PSN: EINVAL (%d)", ret);
	a.max_dest_rd_atomic = 17;
	ret = ibv_modify_qp(qa, &a, mask);
	CHECK(ret == EINVAL, "INIT -> RTR max_dest_rd_atomic 17: EINVAL (%d)",
	      ret);
	a.max_dest_rd_atomic = 4;
	a.ah_attr.is_global = 0;
	ret = ibv_modify_qp(qa, &a, mask);
	CHECK(ret == EINVAL, "INIT -> RTR without GRH: EINVAL (%d)", ret);
	CHECK(query_state(qa) == IBV_QPS_INIT, "still INIT after failures");

	/* Loopback: the destination is one of our own GIDs. */
	rtr_attr(e, &e->gid, qb->qp_num, &a, &mask);
	ret = ibv_modify_qp(qa, &a, mask);
	CHECK(!ret, "INIT -> RTR, dgid our own GID, dest qp %u (%d)",
	      qb->qp_num, ret);
	memset(&q, 0, sizeof(q));
	ret = ibv_query_qp(qa, &q, mask, &ia);
	CHECK(!ret && q.qp_state == IBV_QPS_RTR, "query RTR: state %d",
	      q.qp_state);
	CHECK(q.dest_qp_num == qb->qp_num && q.path_mtu == IBV_MTU_1024 &&
		      q.rq_psn == 0x123456 && q.max_dest_rd_atomic == 4 &&
		      q.min_rnr_timer == 12,
	      "query RTR: dest_qp %u mtu %d rq_psn 0x%x max_dest_rd_atomic "
	      "%u min_rnr_timer %u",
	      q.dest_qp_num, q.path_mtu, q.rq_psn, q.max_dest_rd_atomic,
	      q.min_rnr_timer);
	CHECK(q.ah_attr.is_global &&
		      !memcmp(&q.ah_attr.grh.dgid, &e->gid, sizeof(e->gid)) &&
		      q.ah_attr.grh.sgid_index == e->gid_index &&
		      q.ah_attr.grh.hop_limit == 64 && q.ah_attr.port_num == 1,
	      "query RTR: ah_attr dgid, sgid_index %u, hop_limit %u, port %u",
	      q.ah_attr.grh.sgid_index, q.ah_attr.grh.hop_limit,
	      q.ah_attr.port_num);

	/* RTR -> RTS without the required attributes, then with them. */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	ret = ibv_modify_qp(qa, &a, IBV_QP_STATE);
	CHECK(ret == EINVAL, "RTR -> RTS without SQ_PSN etc.: EINVAL (%d)",
	      ret);
	a.retry_cnt = 8;
	ret = ibv_modify_qp(qa, &a,
			    IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
				    IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				    IBV_QP_MAX_QP_RD_ATOMIC);
	CHECK(ret == EINVAL, "RTR -> RTS with retry_cnt 8: EINVAL (%d)", ret);
	ret = to_rts(qa);
	CHECK(!ret, "RTR -> RTS (%d)", ret);
	memset(&q, 0, sizeof(q));
	ret = ibv_query_qp(qa, &q, IBV_QP_STATE | IBV_QP_SQ_PSN, &ia);
	CHECK(!ret && q.qp_state == IBV_QPS_RTS && q.sq_psn == 0x654321 &&
		      q.timeout == 14 && q.retry_cnt == 7 && q.rnr_retry == 6 &&
		      q.max_rd_atomic == 3,
	      "query RTS: state %d sq_psn 0x%x timeout %u retry %u rnr %u "
	      "max_rd_atomic %u",
	      q.qp_state, q.sq_psn, q.timeout, q.retry_cnt, q.rnr_retry,
	      q.max_rd_atomic);
	CHECK(q.dest_qp_num == qb->qp_num && q.rq_psn == 0x123456,
	      "query RTS: RTR attributes kept");

	/* Backwards is not a transition. */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	ret = ibv_modify_qp(qa, &a, IBV_QP_STATE);
	CHECK(ret == EINVAL, "RTS -> RTR fails with EINVAL (%d)", ret);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	ret = ibv_modify_qp(qa, &a, IBV_QP_STATE);
	CHECK(ret == EINVAL, "RTS -> INIT fails with EINVAL (%d)", ret);
	/* RTS -> RTS with an optional attribute. */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.min_rnr_timer = 20;
	ret = ibv_modify_qp(qa, &a, IBV_QP_STATE | IBV_QP_MIN_RNR_TIMER);
	CHECK(!ret, "RTS -> RTS with MIN_RNR_TIMER (%d)", ret);
	memset(&q, 0, sizeof(q));
	ibv_query_qp(qa, &q, IBV_QP_MIN_RNR_TIMER, &ia);
	CHECK(q.min_rnr_timer == 20, "min_rnr_timer now 20 (%u)",
	      q.min_rnr_timer);
	/* RTS -> SQD -> RTS. */
	CHECK(!set_state(qa, IBV_QPS_SQD) && query_state(qa) == IBV_QPS_SQD,
	      "RTS -> SQD");
	CHECK(!set_state(qa, IBV_QPS_RTS) && query_state(qa) == IBV_QPS_RTS,
	      "SQD -> RTS");

	/* The peer: the only other host of the link (MAC resolved by ARP). */
	memset(&g, 0, sizeof(g));
	g.raw[10] = 0xff;
	g.raw[11] = 0xff;
	if (inet_pton(AF_INET, peer_ip, &g.raw[12]) == 1) {
		rtr_attr(e, &g, 77, &a, &mask);
		ret = ibv_modify_qp(qb, &a, mask);
		CHECK(!ret, "qb INIT -> RTR with the peer's GID %s (%d)",
		      peer_ip, ret);
		memset(&q, 0, sizeof(q));
		ibv_query_qp(qb, &q, IBV_QP_AV | IBV_QP_DEST_QPN, &ia);
		CHECK(!memcmp(&q.ah_attr.grh.dgid, &g, sizeof(g)) &&
			      q.dest_qp_num == 77,
		      "query: the peer's GID and dest qp 77");
	} else {
		CHECK(0, "bad peer address %s", peer_ip);
	}
}

static void fill_send(struct ibv_send_wr *wr, struct ibv_sge *sge, int n,
		      uint64_t first)
{
	static const enum ibv_wr_opcode ops[] = { IBV_WR_SEND,
						  IBV_WR_RDMA_WRITE,
						  IBV_WR_SEND_WITH_IMM,
						  IBV_WR_RDMA_READ };
	int i;

	for (i = 0; i < n; i++) {
		memset(&wr[i], 0, sizeof(wr[i]));
		wr[i].wr_id = first + i;
		wr[i].opcode = ops[i % 4];
		wr[i].sg_list = sge;
		wr[i].num_sge = 1;
		/* Every other one unsignalled: flushed ones complete anyway. */
		wr[i].send_flags = (i & 1) ? 0 : IBV_SEND_SIGNALED;
		wr[i].wr.rdma.remote_addr = 0x1000;
		wr[i].wr.rdma.rkey = 0x1234;
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
	}
}

/* Posting: errors, ring full, flush on ERR, RESET. */
static void check_posting(struct env *e)
{
	static char buf[512];
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = 16 };
	struct ibv_sge sges[17];
	struct ibv_cq *scq, *rcq;
	struct ibv_send_wr swr[16], *sbad;
	struct ibv_recv_wr rwr, *rbad;
	struct ibv_qp_cap cap = small_cap(8, 4);
	struct ibv_qp *qp, *qx;
	struct ibv_qp_attr a;
	int mask, ret, i;

	scq = ibv_create_cq(e->ctx, 64, NULL, NULL, 0);
	rcq = ibv_create_cq(e->ctx, 64, NULL, NULL, 0);
	qp = scq && rcq ? make_qp(e, scq, rcq, &cap, 0) : NULL;
	qx = scq && rcq ? make_qp(e, scq, rcq, &cap, 0) : NULL;
	CHECK(qp && qx, "posting: QPs with 8 send / 4 recv slots");
	if (!qp || !qx)
		return;

	/* RESET: no receives. */
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 1;
	rwr.sg_list = &sge;
	rwr.num_sge = 1;
	rbad = NULL;
	ret = ibv_post_recv(qp, &rwr, &rbad);
	CHECK(ret == EINVAL && rbad == &rwr,
	      "post_recv in RESET: EINVAL, bad_wr == wr (%d)", ret);

	CHECK(!to_init(qp), "INIT");
	/* INIT: no sends. */
	fill_send(swr, &sge, 1, 1);
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(ret == EINVAL && sbad == &swr[0],
	      "post_send in INIT: EINVAL, bad_wr == wr (%d)", ret);

	/* The RQ: 4 slots; a chain of 6 posts 4, bad_wr is the 5th. */
	{
		struct ibv_recv_wr r[6];

		for (i = 0; i < 6; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].wr_id = 100 + i;
			r[i].sg_list = &sge;
			r[i].num_sge = 1;
			r[i].next = i < 5 ? &r[i + 1] : NULL;
		}
		r[0].num_sge = 17;
		rbad = NULL;
		ret = ibv_post_recv(qp, r, &rbad);
		CHECK(ret == EINVAL && rbad == &r[0],
		      "post_recv num_sge 17: EINVAL, bad_wr == wr (%d)", ret);
		r[0].num_sge = 1;
		rbad = NULL;
		ret = ibv_post_recv(qp, r, &rbad);
		CHECK(ret == ENOMEM && rbad == &r[4],
		      "post_recv 6 into 4 slots: ENOMEM, bad_wr == 5th (%d %ld)",
		      ret, rbad ? (long)(rbad - r) : -1L);
	}

	/* Connect to qx (loopback) and go to RTS. */
	CHECK(!to_init(qx), "qx INIT");
	rtr_attr(e, &e->gid, qx->qp_num, &a, &mask);
	CHECK(!ibv_modify_qp(qp, &a, mask), "RTR");
	CHECK(!to_rts(qp), "RTS");

	/* Invalid send requests. */
	fill_send(swr, &sge, 1, 1);
	for (i = 0; i < 17; i++)
		sges[i] = sge;
	swr[0].sg_list = sges;
	swr[0].num_sge = 17;
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(ret == EINVAL && sbad == &swr[0],
	      "post_send num_sge 17: EINVAL, bad_wr == wr (%d)", ret);
	fill_send(swr, &sge, 1, 1);
	sge.length = 257;
	swr[0].send_flags |= IBV_SEND_INLINE;
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(ret == EINVAL && sbad == &swr[0],
	      "post_send inline 257 bytes: EINVAL (%d)", ret);
	sge.length = 16;
	fill_send(swr, &sge, 1, 1);
	swr[0].opcode = IBV_WR_ATOMIC_FETCH_AND_ADD; /* needs 8 bytes */
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(ret == EINVAL && sbad == &swr[0],
	      "post_send atomic with 16 bytes: EINVAL (%d)", ret);

	/* 10 sends into 8 slots: 8 posted, bad_wr the 9th. */
	fill_send(swr, &sge, 10, 1000);
	swr[2].send_flags |= IBV_SEND_INLINE; /* 16 bytes inline */
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(ret == ENOMEM && sbad == &swr[8],
	      "post_send 10 into 8 slots: ENOMEM, bad_wr == 9th (%d %ld)", ret,
	      sbad ? (long)(sbad - swr) : -1L);
	{
		struct ibv_wc wc;
		int n = 0;

		/*
		 * The engine executes the first WQE: its SGE has lkey 0 (the
		 * buffer is not registered), so it completes with
		 * IBV_WC_LOC_PROT_ERR and the QP goes to ERR, which flushes
		 * the 7 others and the 4 receives.
		 */
		for (i = 0; i < 2000 && !n; i++) {
			n = ibv_poll_cq(scq, 1, &wc);
			if (!n)
				usleep(1000);
		}
		CHECK(n == 1 && wc.wr_id == 1000 &&
			      wc.status == IBV_WC_LOC_PROT_ERR &&
			      wc.qp_num == qp->qp_num,
		      "first WQE: IBV_WC_LOC_PROT_ERR (n %d wr_id %llu %s)", n,
		      n == 1 ? (unsigned long long)wc.wr_id : 0ULL,
		      n == 1 ? ibv_wc_status_str(wc.status) : "-");
	}
	CHECK(query_state(qp) == IBV_QPS_ERR, "QP in ERR after the error");
	expect_flush(scq, qp, 1001, 7, 0,
		     "SQ flush of the rest (3 signalled + 4 unsignalled)");
	expect_flush(rcq, qp, 100, 4, 1, "RQ flush");
	/* ERR -> ERR is legal and completes nothing more. */
	CHECK(!set_state(qp, IBV_QPS_ERR) && query_state(qp) == IBV_QPS_ERR,
	      "ERR -> ERR");
	expect_flush(scq, qp, 0, 0, 0, "nothing more on the send CQ");

	/* A post in ERR completes with a flush error at once. */
	fill_send(swr, &sge, 2, 2000);
	swr[0].send_flags = 0;
	sbad = NULL;
	ret = ibv_post_send(qp, swr, &sbad);
	CHECK(!ret, "post_send in ERR accepted (%d)", ret);
	expect_flush(scq, qp, 2000, 2, 0, "post_send in ERR flushed");
	ret = post_recvs(qp, 3000, 3, &rbad);
	CHECK(!ret, "post_recv in ERR accepted (%d)", ret);
	expect_flush(rcq, qp, 3000, 3, 1, "post_recv in ERR flushed");

	/* RESET: attributes gone, posted WQEs dropped without completion. */
	CHECK(!set_state(qp, IBV_QPS_RESET) && query_state(qp) == IBV_QPS_RESET,
	      "ERR -> RESET");
	{
		struct ibv_qp_init_attr ia;

		memset(&a, 0, sizeof(a));
		ibv_query_qp(qp, &a, IBV_QP_DEST_QPN, &ia);
		CHECK(a.dest_qp_num == 0 && a.sq_psn == 0 &&
			      ia.cap.max_send_wr == 8,
		      "RESET cleared dest_qp %u sq_psn %u, kept cap",
		      a.dest_qp_num, a.sq_psn);
	}
	CHECK(!to_init(qp), "RESET -> INIT again");
	ret = post_recvs(qp, 4000, 4, &rbad);
	CHECK(!ret, "post 4 receives (ring usable after RESET) (%d)", ret);
	CHECK(!set_state(qp, IBV_QPS_RESET), "INIT -> RESET");
	CHECK(!to_init(qp), "RESET -> INIT");
	ret = post_recvs(qp, 5000, 4, &rbad);
	CHECK(!ret, "post 4 receives again: RESET emptied the ring (%d)", ret);
	CHECK(!set_state(qp, IBV_QPS_ERR), "INIT -> ERR");
	expect_flush(rcq, qp, 5000, 4, 1,
		     "only the receives posted after RESET flushed");
	expect_flush(scq, qp, 0, 0, 0, "nothing on the send CQ");

	CHECK(!ibv_destroy_qp(qp) && !ibv_destroy_qp(qx), "destroy QPs");
	CHECK(!ibv_destroy_cq(scq) && !ibv_destroy_cq(rcq), "destroy CQs");
}

static int do_qp(const char *name, const char *peer_ip)
{
	struct ibv_qp_cap cap = small_cap(16, 16);
	struct ibv_qp *qa, *qb;
	struct ibv_cq *cq;
	struct env e;

	memset(&e, 0, sizeof(e));
	e.ctx = open_dev(name);
	if (!e.ctx)
		return 1;
	CHECK(!ibv_query_device(e.ctx, &e.dattr),
	      "query_device: max_qp_wr %d "
	      "max_sge %d",
	      e.dattr.max_qp_wr, e.dattr.max_sge);
	e.pd = ibv_alloc_pd(e.ctx);
	cq = ibv_create_cq(e.ctx, 64, NULL, NULL, 0);
	CHECK(e.pd && cq, "PD and CQ");
	CHECK(!find_gid(&e), "a RoCE v2 IPv4 GID at index %d", e.gid_index);
	if (!e.pd || !cq)
		return 1;

	check_caps(&e, cq);
	check_limits(&e, cq);

	qa = make_qp(&e, cq, cq, &cap, 0);
	qb = make_qp(&e, cq, cq, &cap, 0);
	CHECK(qa && qb && qa->qp_num != qb->qp_num, "two QPs %u and %u",
	      qa ? qa->qp_num : 0, qb ? qb->qp_num : 0);
	if (qa && qb)
		check_states(&e, qa, qb, peer_ip);
	if (qa)
		CHECK(!ibv_destroy_qp(qa), "destroy qa");
	if (qb)
		CHECK(!ibv_destroy_qp(qb), "destroy qb");

	check_posting(&e);

	CHECK(!ibv_destroy_cq(cq), "destroy CQ");
	CHECK(!ibv_dealloc_pd(e.pd), "dealloc PD");
	ibv_close_device(e.ctx);
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}

static int do_hold(const char *name, const char *file, const char *peer_ip)
{
	struct ibv_qp_cap cap = small_cap(4, 4);
	struct ibv_qp *q[4] = { NULL };
	struct ibv_qp_attr a;
	struct ibv_cq *cq;
	union ibv_gid g;
	struct env e;
	int i, mask, ok = 1;

	memset(&e, 0, sizeof(e));
	e.ctx = open_dev(name);
	if (!e.ctx)
		return 1;
	e.pd = ibv_alloc_pd(e.ctx);
	cq = ibv_create_cq(e.ctx, 16, NULL, NULL, 0);
	for (i = 0; i < 4 && e.pd && cq; i++) {
		q[i] = make_qp(&e, cq, cq, &cap, 0);
		ok = ok && q[i];
	}
	memset(&g, 0, sizeof(g));
	g.raw[10] = 0xff;
	g.raw[11] = 0xff;
	ok = ok && !find_gid(&e) &&
	     inet_pton(AF_INET, peer_ip, &g.raw[12]) == 1;
	/* q0 RESET, q1 INIT, q2 RTR to q1 (loopback), q3 RTR to the peer. */
	ok = ok && !to_init(q[1]) && !to_init(q[2]) && !to_init(q[3]);
	if (ok) {
		rtr_attr(&e, &e.gid, q[1]->qp_num, &a, &mask);
		ok = !ibv_modify_qp(q[2], &a, mask);
	}
	if (ok) {
		rtr_attr(&e, &g, 77, &a, &mask);
		ok = !ibv_modify_qp(q[3], &a, mask);
	}
	if (!ok) {
		printf("FAIL - hold: could not set up the QPs: %s\n",
		       strerror(errno));
		return 1;
	}
	printf("held %u %u %u %u\n", q[0]->qp_num, q[1]->qp_num, q[2]->qp_num,
	       q[3]->qp_num);
	fflush(stdout);
	for (i = 0; i < 1200 && access(file, F_OK); i++)
		usleep(50000);
	for (i = 3; i >= 0; i--)
		ibv_destroy_qp(q[i]);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(e.pd);
	ibv_close_device(e.ctx);
	printf("released\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "qp"))
		return do_qp(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2], argv[3], argv[4]);
	fprintf(stderr,
		"usage: %s qp DEV PEER_IPV4 | hold DEV FILE PEER_IPV4\n",
		argv[0]);
	return 2;
}
