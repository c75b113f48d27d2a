// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-srq-test: shared receive queues through libibverbs and the
 * libntbrdma provider, for tests/vm/ntbrdma-srq.sh.  Every check prints
 * "ok - ..." or "FAIL - ..."; the exit code is 0 only if all passed.
 *
 *   ntbrdma-srq-test loop DEV        QPs of DEV connected to each other,
 *                                    two of them on one SRQ: receives
 *                                    taken in order by whichever QP is
 *                                    sent to, data byte for byte, the
 *                                    limit event, RNR, LAST_WQE_REACHED,
 *                                    the errors of the SRQ verbs
 *   ntbrdma-srq-test server DEV PORT NQ QPs on one SRQ (the responder),
 *   ntbrdma-srq-test client DEV IP PORT
 *                                    NQ QPs sending to them through the
 *                                    NTB: every message lands once, in
 *                                    the receive its completion names, on
 *                                    the QP it was sent to; the limit
 *                                    event as the peer consumes
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "ntbrdma-rc.h"

#define SLICE 4096 /* one receive's buffer */
#define NQ 4 /* QPs on the server's SRQ */
#define NPOSTED 64 /* receives the server keeps posted */
#define NMSG 400 /* messages the client sends */

static struct ibv_srq *make_srq(struct env *e, uint32_t max_wr,
				uint32_t max_sge)
{
	struct ibv_srq_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.attr.max_wr = max_wr;
	ia.attr.max_sge = max_sge;
	return ibv_create_srq(e->pd, &ia);
}

static struct ibv_qp *make_srq_qp(struct env *e, struct ibv_srq *srq)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 64;
	ia.cap.max_send_sge = 4;
	return ibv_create_qp(e->pd, &ia);
}

/* Receive slice k of e->dst, wr_id k, on srq; ibv_post_srq_recv's result. */
static int post_slice(struct env *e, struct ibv_srq *srq, uint32_t k)
{
	struct ibv_sge sge = { (uintptr_t)e->dst + (size_t)k * SLICE, SLICE,
			       e->dmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = k, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_srq_recv(srq, &wr, &bad);
}

/* The next async event within ms; its type, or -1 if none came. */
static int next_event(struct ibv_context *ctx, int ms, void **elem)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int type;

	if (poll(&p, 1, ms) != 1 || ibv_get_async_event(ctx, &ev))
		return -1;
	type = ev.event_type;
	*elem = ev.event_type == IBV_EVENT_SRQ_LIMIT_REACHED ?
			(void *)ev.element.srq :
			(void *)ev.element.qp;
	ibv_ack_async_event(&ev);
	return type;
}

/* Message j: 64 to ~4 KiB, its number in the first 4 bytes. */
static uint32_t msg_len(uint32_t j)
{
	return 64 + (j * 37) % (SLICE - 64);
}

static void msg_fill(unsigned char *p, uint32_t j)
{
	fill(p, msg_len(j), 1000 + j);
	memcpy(p, &j, sizeof(j));
}

static bool msg_ok(const unsigned char *p, uint32_t j)
{
	unsigned char want[SLICE];

	msg_fill(want, j);
	return !memcmp(p, want, msg_len(j));
}

/*
 * SEND message j from qp, out of slice j of src (never reused: messages
 * of different QPs complete in any order).
 */
static int send_msg(struct env *e, struct ibv_qp *qp, uint32_t j)
{
	unsigned char *p = e->src + (size_t)j * SLICE;
	struct ibv_sge sge = { (uintptr_t)p, msg_len(j), e->smr->lkey };

	msg_fill(p, j);
	return post_rdma(qp, IBV_WR_SEND, j, &sge, 1, 0, 0, 0, 0);
}

static void verb_errors(struct env *e, struct ibv_srq *srq, struct ibv_qp *q)
{
	struct ibv_srq_attr a;
	struct ibv_sge sge = { (uintptr_t)e->dst, 64, e->dmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	struct ibv_sge many[17];
	struct ibv_srq *s;

	s = make_srq(e, 0, 1);
	CHECK(!s, "create_srq with max_wr 0 refused");
	s = make_srq(e, 16385, 1);
	CHECK(!s, "create_srq with max_wr 16385 refused");
	s = make_srq(e, 16, 17);
	CHECK(!s, "create_srq with 17 SGEs refused");
	s = make_srq(e, 16384, 16);
	CHECK(s && !ibv_destroy_srq(s),
	      "create_srq with 16384 WRs (UCX: 4096)");

	CHECK(!ibv_query_srq(srq, &a) && a.max_wr >= 100 && a.max_sge >= 2 &&
		      a.srq_limit == 0,
	      "query_srq: max_wr %u, max_sge %u, limit %u", a.max_wr, a.max_sge,
	      a.srq_limit);
	memset(&a, 0, sizeof(a));
	a.max_wr = 200;
	CHECK(ibv_modify_srq(srq, &a, IBV_SRQ_MAX_WR) != 0,
	      "modify_srq max_wr refused (no resize)");
	a.srq_limit = 100000;
	CHECK(ibv_modify_srq(srq, &a, IBV_SRQ_LIMIT) != 0,
	      "modify_srq limit above max_wr refused");
	CHECK(ibv_post_recv(q, &wr, &bad) == EINVAL && bad == &wr,
	      "post_recv on a QP of an SRQ: EINVAL");
	memset(many, 0, sizeof(many));
	wr.sg_list = many;
	wr.num_sge = 17;
	CHECK(ibv_post_srq_recv(srq, &wr, &bad) == EINVAL && bad == &wr,
	      "post_srq_recv with 17 SGEs: EINVAL");
	CHECK(ibv_destroy_srq(srq) == EBUSY,
	      "destroy_srq while QPs use it: EBUSY");
}

/*
 * Loopback: a1 -> b1 and a2 -> b2, b1 and b2 on one SRQ.  Receives are
 * taken in the order posted by whichever QP is sent to.
 */
static int loop(const char *dev)
{
	struct ibv_qp *a1, *a2, *b1, *b2;
	bool seen[8] = { false };
	struct ibv_srq_attr sa;
	struct ibv_srq *srq;
	struct ibv_wc wc;
	struct env e;
	uint32_t i, k;
	void *elem;
	int ev, n;

	if (env_open(&e, dev)) {
		CHECK(0, "open %s", dev);
		return 1;
	}
	srq = make_srq(&e, 100, 2);
	CHECK(srq, "create_srq (100 WRs, 2 SGEs)");
	if (!srq)
		return 1;
	a1 = make_qp(&e);
	a2 = make_qp(&e);
	b1 = make_srq_qp(&e, srq);
	b2 = make_srq_qp(&e, srq);
	CHECK(a1 && a2 && b1 && b2 &&
		      !connect_qp(&e, a1, &e.gid, b1->qp_num, 7) &&
		      !connect_qp(&e, b1, &e.gid, a1->qp_num, 7) &&
		      !connect_qp(&e, a2, &e.gid, b2->qp_num, 7) &&
		      !connect_qp(&e, b2, &e.gid, a2->qp_num, 7),
	      "two loopback pairs, the responders on the SRQ");
	if (!a1 || !a2 || !b1 || !b2)
		return 1;
	verb_errors(&e, srq, b1);

	/* Eight receives, eight SENDs alternating between the QPs. */
	memset(e.dst, 0, BUF_SIZE);
	for (k = 0; k < 8; k++)
		CHECK(!post_slice(&e, srq, k), "post_srq_recv %u", k);
	for (i = 0; i < 8; i++) {
		CHECK(!send_msg(&e, i % 2 ? a2 : a1, i), "SEND %u", i);
		CHECK(!wait_wc(e.scq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == i,
		      "SEND %u completes (%s)", i,
		      ibv_wc_status_str(wc.status));
		n = wait_wc(e.rcq, &wc);
		k = (uint32_t)wc.wr_id;
		CHECK(!n && wc.status == IBV_WC_SUCCESS && k == i && !seen[k] &&
			      wc.byte_len == msg_len(i) &&
			      wc.qp_num == (i % 2 ? b2 : b1)->qp_num &&
			      wc.opcode == IBV_WC_RECV,
		      "message %u: the SRQ's receive %u, on QP %u (%s)", i, k,
		      wc.qp_num, ibv_wc_status_str(wc.status));
		if (!n && k < 8) {
			seen[k] = true;
			CHECK(msg_ok(e.dst + (size_t)k * SLICE, i),
			      "message %u: data byte for byte", i);
		}
	}

	/* The limit: armed at 3, four posted, two consumed -> the event. */
	memset(&sa, 0, sizeof(sa));
	sa.srq_limit = 3;
	CHECK(!ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT) &&
		      !ibv_query_srq(srq, &sa) && sa.srq_limit == 3,
	      "modify_srq: limit 3");
	for (k = 0; k < 4; k++)
		CHECK(!post_slice(&e, srq, k), "post_srq_recv %u", k);
	CHECK(next_event(e.ctx, 200, &elem) == -1,
	      "no event while 4 receives are posted");
	for (i = 8; i < 10; i++) {
		CHECK(!send_msg(&e, a1, i) && !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS &&
			      !wait_wc(e.rcq, &wc) &&
			      wc.status == IBV_WC_SUCCESS &&
			      msg_ok(e.dst + wc.wr_id * SLICE, i),
		      "message %u received", i);
	}
	ev = next_event(e.ctx, 2000, &elem);
	CHECK(ev == IBV_EVENT_SRQ_LIMIT_REACHED && elem == srq,
	      "IBV_EVENT_SRQ_LIMIT_REACHED below the limit (event %d)", ev);
	CHECK(!ibv_query_srq(srq, &sa) && sa.srq_limit == 0,
	      "the limit is disarmed after the event");

	/* Empty SRQ: RNR. */
	for (i = 10; i < 12; i++)
		CHECK(!send_msg(&e, a1, i) && !wait_wc(e.scq, &wc) &&
			      !wait_wc(e.rcq, &wc) &&
			      wc.status == IBV_WC_SUCCESS,
		      "message %u takes one of the last two receives", i);
	CHECK(!connect_qp(&e, a1, &e.gid, b1->qp_num, 1),
	      "a1 again with rnr_retry 1");
	CHECK(!send_msg(&e, a1, 12), "SEND to the empty SRQ");
	expect_status(e.scq, 12, IBV_WC_RNR_RETRY_EXC_ERR, "empty SRQ: RNR");

	/* A QP of the SRQ to ERR: its event; the SRQ's receives stay. */
	memset(&sa, 0, sizeof(sa));
	CHECK(!post_slice(&e, srq, 5), "post_srq_recv 5");
	{
		struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };

		CHECK(!ibv_modify_qp(b2, &qa, IBV_QP_STATE), "b2 to ERR");
	}
	ev = next_event(e.ctx, 2000, &elem);
	CHECK(ev == IBV_EVENT_QP_LAST_WQE_REACHED && elem == b2,
	      "IBV_EVENT_QP_LAST_WQE_REACHED for b2 (event %d)", ev);
	CHECK(!connect_qp(&e, a1, &e.gid, b1->qp_num, 7) &&
		      !send_msg(&e, a1, 13) && !wait_wc(e.scq, &wc) &&
		      wc.status == IBV_WC_SUCCESS && !wait_wc(e.rcq, &wc) &&
		      wc.status == IBV_WC_SUCCESS && wc.wr_id == 5 &&
		      wc.qp_num == b1->qp_num && msg_ok(e.dst + 5 * SLICE, 13),
	      "b1 still receives into the SRQ's receive 5");

	CHECK(!ibv_destroy_qp(a1) && !ibv_destroy_qp(a2) &&
		      !ibv_destroy_qp(b1) && !ibv_destroy_qp(b2),
	      "destroy QPs");
	CHECK(!ibv_destroy_srq(srq), "destroy_srq once its QPs are gone");
	return failures ? 1 : 0;
}

struct srq_conn {
	uint32_t qpn[NQ];
	union ibv_gid gid;
};

/* The QPs of both ends connected pairwise over TCP; the fd or -1. */
static int pair_up(struct env *e, struct ibv_qp **qp, const char *ip, int port)
{
	struct srq_conn me, them;
	int fd, i, bad = 0;

	fd = tcp_conn(ip, port);
	CHECK(fd >= 0, "TCP side channel");
	if (fd < 0)
		return -1;
	memset(&me, 0, sizeof(me));
	for (i = 0; i < NQ; i++)
		me.qpn[i] = qp[i]->qp_num;
	me.gid = e->gid;
	if (xchg(fd, &me, &them, sizeof(me)))
		return -1;
	for (i = 0; i < NQ; i++)
		bad |= connect_qp(e, qp[i], &them.gid, them.qpn[i], 7);
	CHECK(!bad, "%d QPs connected to the peer's", NQ);
	return bad || barrier(fd) ? -1 : fd;
}

static int server(const char *dev, int port)
{
	static bool seen[NMSG];
	struct ibv_qp *qp[NQ];
	struct ibv_srq_attr sa;
	uint32_t got = 0, bad = 0, j, k;
	struct ibv_srq *srq;
	struct ibv_wc wc;
	struct env e;
	void *elem;
	int fd, i, ev;

	if (env_open(&e, dev)) {
		CHECK(0, "server: open %s", dev);
		return 1;
	}
	srq = make_srq(&e, 256, 1);
	CHECK(srq, "server: create_srq");
	if (!srq)
		return 1;
	for (i = 0; i < NQ; i++) {
		qp[i] = make_srq_qp(&e, srq);
		if (!qp[i])
			return 1;
	}
	for (k = 0; k < NPOSTED; k++)
		CHECK(!post_slice(&e, srq, k), "server: post_srq_recv %u", k);
	fd = pair_up(&e, qp, NULL, port);
	if (fd < 0)
		return 1;

	/* Every message once, on the QP it was sent to; reposted. */
	while (got < NMSG && !wait_wc(e.rcq, &wc)) {
		k = (uint32_t)wc.wr_id;
		memcpy(&j, e.dst + (size_t)k * SLICE, sizeof(j));
		if (wc.status != IBV_WC_SUCCESS || k >= NPOSTED || j >= NMSG ||
		    seen[j] || wc.byte_len != msg_len(j) ||
		    wc.qp_num != qp[j % NQ]->qp_num ||
		    !msg_ok(e.dst + (size_t)k * SLICE, j)) {
			if (bad++ < 40)
				CHECK(0,
				      "server: completion %u: receive %u, message %u (%u bytes, QP %u), QP %u, %u bytes (%s)",
				      got, k, j, j < NMSG ? msg_len(j) : 0,
				      j < NMSG ? qp[j % NQ]->qp_num : 0,
				      wc.qp_num, wc.byte_len,
				      ibv_wc_status_str(wc.status));
		} else {
			seen[j] = true;
		}
		got++;
		memset(e.dst + (size_t)k * SLICE, 0, SLICE);
		if (k < NPOSTED && post_slice(&e, srq, k))
			bad++;
	}
	CHECK(got == NMSG && !bad,
	      "server: %u messages from %d QPs through the NTB, each once, in its receive, on its QP, byte for byte",
	      got, NQ);

	/* The limit as the peer consumes: 64 posted, limit 60, 5 sent. */
	memset(&sa, 0, sizeof(sa));
	sa.srq_limit = NPOSTED - 4;
	CHECK(!ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), "server: limit %u",
	      sa.srq_limit);
	CHECK(!barrier(fd), "server: barrier");
	for (i = 0; i < 5; i++)
		CHECK(!wait_wc(e.rcq, &wc) && wc.status == IBV_WC_SUCCESS,
		      "server: limit message %d received", i);
	ev = next_event(e.ctx, 5000, &elem);
	CHECK(ev == IBV_EVENT_SRQ_LIMIT_REACHED && elem == srq,
	      "server: IBV_EVENT_SRQ_LIMIT_REACHED as the peer consumed (event %d)",
	      ev);
	CHECK(!barrier(fd), "server: done");
	for (i = 0; i < NQ; i++)
		CHECK(!ibv_destroy_qp(qp[i]), "server: destroy QP %d", i);
	CHECK(!ibv_destroy_srq(srq), "server: destroy_srq");
	return failures ? 1 : 0;
}

static int client(const char *dev, const char *ip, int port)
{
	struct ibv_qp *qp[NQ];
	uint32_t j, done = 0, bad = 0;
	struct ibv_wc wc;
	struct env e;
	int fd, i;

	if (env_open(&e, dev)) {
		CHECK(0, "client: open %s", dev);
		return 1;
	}
	for (i = 0; i < NQ; i++) {
		qp[i] = make_qp(&e);
		if (!qp[i])
			return 1;
	}
	fd = pair_up(&e, qp, ip, port);
	if (fd < 0)
		return 1;
	/* Up to 32 in flight. */
	for (j = 0; j < NMSG || done < NMSG;) {
		if (j < NMSG && j - done < 32) {
			if (send_msg(&e, qp[j % NQ], j))
				bad++;
			j++;
			continue;
		}
		if (wait_wc(e.scq, &wc))
			break;
		if (wc.status != IBV_WC_SUCCESS && bad++ < 5)
			CHECK(0, "client: SEND %llu: %s",
			      (unsigned long long)wc.wr_id,
			      ibv_wc_status_str(wc.status));
		done++;
	}
	CHECK(done == NMSG && !bad, "client: %u SENDs to %d QPs of an SRQ",
	      done, NQ);
	CHECK(!barrier(fd), "client: barrier");
	for (j = NMSG; j < NMSG + 5; j++)
		CHECK(!send_msg(&e, qp[j % NQ], j) && !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS,
		      "client: limit message %u", j);
	CHECK(!barrier(fd), "client: done");
	for (i = 0; i < NQ; i++)
		ibv_destroy_qp(qp[i]);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return loop(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr,
		"usage: %s loop DEV | server DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
