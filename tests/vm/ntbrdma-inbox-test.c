// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-inbox-test: receive completions through inboxes
 * (Documentation/rdma-datapath.md, "Stage A"), for
 * tests/vm/ntbrdma-inbox.sh.  Standard verbs (phase 4 aside): whether the provider
 * took a completion from the inbox or from the CQ ring is invisible
 * here (the script reads the kernel's counters); what is checked is what
 * an application must see either way.
 *
 *   ntbrdma-inbox-test loop DEV              requester and responder QPs
 *                                            in one process (loopback)
 *   ntbrdma-inbox-test server DEV PORT       the responder, on one host
 *   ntbrdma-inbox-test client DEV IP PORT    the requester, on the other
 *
 * Phase 1: eight messages - SENDs of 0, 1, 100, 4096 and 65536 bytes,
 * SEND_WITH_IMM, RDMA_WRITE_WITH_IMM, an inline SEND - complete their
 * receives in order, each with its wr_id, status, opcode, length,
 * immediate and bytes.  Phase 3 (IB: a receive's slot is free once it
 * completed, polled or not): 64 receives (the RQ's size) all filled but
 * not polled, then 64 more posted at once, filled, and all 128 polled in
 * order with their bytes.  Phase 2: four receives (64 KiB, 16 bytes, 64 KiB,
 * 64 KiB) that the responder does not poll; three SENDs of 100 bytes:
 * the first lands, the second is too long for its receive (the sender's
 * IBV_WC_REM_INV_REQ_ERR), the third is flushed; the responder's QP goes
 * to ERR, and its poll then returns, in order, the first receive with
 * its bytes, the second with IBV_WC_LOC_LEN_ERR and the last two with
 * IBV_WC_WR_FLUSH_ERR.
 *
 * Phase 4 (loopback only; white-box: it reaches the provider's inbox
 * through the provider's own header, as a hostile process or a peer host
 * could write it): receive 40 (64 bytes) completed by a 16-byte SEND and
 * not polled, 41 and 42 posted; the process rewrites 40's slot to say
 * 1 MiB and forges 41's (its tag, 1 MiB, success), then moves the QP to
 * ERR: the kernel's flush must complete 40 and 41 with
 * IBV_WC_LOC_LEN_ERR - never success with a length beyond the receive -
 * and 42 with IBV_WC_WR_FLUSH_ERR.  Phase 5 (the same, without the
 * flush: the provider takes what the slots say): receive 60's slot
 * forged to say 1 MiB and 61's to carry a status no CQE has; polled,
 * 60 completes with IBV_WC_LOC_LEN_ERR and 61 with IBV_WC_GENERAL_ERR,
 * 62 (untouched) not at all.
 *
 * Every check prints "ok - ..." or "FAIL - ..."; the exit code is 0 only
 * if all passed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ntbrdma-rc.h"
#include "ntbrdma_qp.h" /* the provider's: phase 4 writes the inbox */

#define SLOT (64u << 10) /* receive i at dst + i * SLOT */
#define WIMM_AT (1u << 20) /* the WRITE_WITH_IMM's bytes */
#define NMSG 8

static const struct {
	enum ibv_wr_opcode op;
	uint32_t len;
	uint32_t imm;
	unsigned int flags;
} msgs[NMSG] = {
	{ IBV_WR_SEND, 0, 0, 0 },
	{ IBV_WR_SEND, 1, 0, 0 },
	{ IBV_WR_SEND, 100, 0, 0 },
	{ IBV_WR_SEND, 4096, 0, 0 },
	{ IBV_WR_SEND, 65536, 0, 0 },
	{ IBV_WR_SEND_WITH_IMM, 300, 0xa5a50001u, 0 },
	{ IBV_WR_RDMA_WRITE_WITH_IMM, 5000, 0x77u, 0 },
	{ IBV_WR_SEND, 8, 0, IBV_SEND_INLINE },
};

static void post_recvs1(struct env *e, struct ibv_qp *qp)
{
	struct ibv_sge sge;
	int i, bad = 0;

	memset(e->dst, 0, BUF_SIZE);
	for (i = 0; i < NMSG; i++) {
		sge.addr = (uintptr_t)e->dst + (size_t)i * SLOT;
		sge.length = SLOT;
		sge.lkey = e->dmr->lkey;
		bad |= post_recv(qp, (uint64_t)i, &sge, 1);
	}
	CHECK(!bad, "phase 1: %d receives posted", NMSG);
}

static void send1(struct env *e, struct ibv_qp *qp, uint64_t raddr,
		  uint32_t rkey)
{
	struct ibv_sge sge;
	struct ibv_wc wc;
	int i, bad = 0, done = 0;

	for (i = 0; i < NMSG; i++) {
		fill(e->src + (size_t)i * SLOT, msgs[i].len, 10 + i);
		sge.addr = (uintptr_t)e->src + (size_t)i * SLOT;
		sge.length = msgs[i].len;
		sge.lkey = e->smr->lkey;
		bad |= post_rdma(qp, msgs[i].op, 100 + i, &sge,
				 msgs[i].len ? 1 : 0, raddr + WIMM_AT, rkey,
				 msgs[i].imm, msgs[i].flags);
	}
	CHECK(!bad, "phase 1: %d messages posted", NMSG);
	for (i = 0; i < NMSG; i++) {
		if (wait_wc(e->scq, &wc) || wc.wr_id != 100u + i ||
		    wc.status != IBV_WC_SUCCESS)
			break;
		done++;
	}
	CHECK(done == NMSG, "phase 1: %d of %d sends completed in order", done,
	      NMSG);
}

static void check1(struct env *e, uint32_t qpn)
{
	unsigned char *want = malloc(SLOT);
	const unsigned char *got;
	struct ibv_wc wc;
	int i, ok = 0;
	bool imm;

	for (i = 0; want && i < NMSG; i++) {
		if (wait_wc(e->rcq, &wc)) {
			CHECK(0, "phase 1: receive %d completed", i);
			break;
		}
		imm = msgs[i].op != IBV_WR_SEND;
		got = msgs[i].op == IBV_WR_RDMA_WRITE_WITH_IMM ?
			      e->dst + WIMM_AT :
			      e->dst + (size_t)i * SLOT;
		fill(want, msgs[i].len, 10 + i);
		if (wc.wr_id != (uint64_t)i || wc.status != IBV_WC_SUCCESS ||
		    wc.qp_num != qpn ||
		    wc.opcode != (msgs[i].op == IBV_WR_RDMA_WRITE_WITH_IMM ?
					  IBV_WC_RECV_RDMA_WITH_IMM :
					  IBV_WC_RECV) ||
		    wc.byte_len != msgs[i].len ||
		    !(wc.wc_flags & IBV_WC_WITH_IMM) != !imm ||
		    (imm && ntohl(wc.imm_data) != msgs[i].imm) ||
		    memcmp(got, want, msgs[i].len)) {
			CHECK(0,
			      "phase 1: receive %d: wr_id %llu %s opcode %d "
			      "len %u flags 0x%x imm 0x%x, bytes %s",
			      i, (unsigned long long)wc.wr_id,
			      ibv_wc_status_str(wc.status), wc.opcode,
			      wc.byte_len, wc.wc_flags, ntohl(wc.imm_data),
			      memcmp(got, want, msgs[i].len) ? "differ" :
							       "match");
			continue;
		}
		ok++;
	}
	CHECK(ok == NMSG,
	      "phase 1: %d of %d receives completed in order, bytes, lengths, "
	      "opcodes and immediates right",
	      ok, NMSG);
	free(want);
}

#define RQ3 64 /* make_qp's RQ */
#define LEN3 100

/* Phase 3: a whole RQ of receives (batch 0 or 1) of 1 KiB each. */
static void post_recvs3(struct env *e, struct ibv_qp *qp, int batch)
{
	struct ibv_sge sge;
	int i, bad = 0;

	for (i = 0; i < RQ3; i++) {
		sge.addr = (uintptr_t)e->dst + (size_t)(batch * RQ3 + i) * 1024;
		sge.length = 1024;
		sge.lkey = e->dmr->lkey;
		bad |= post_recv(qp, 200 + batch * 100 + i, &sge, 1);
	}
	CHECK(!bad, "phase 3: %d receives posted (batch %d%s)", RQ3, batch,
	      batch ? ", the first all completed, none polled" : "");
}

static void send3(struct env *e, struct ibv_qp *qp, int batch)
{
	struct ibv_sge sge = { .length = LEN3, .lkey = e->smr->lkey };
	struct ibv_wc wc;
	int i, bad = 0, done = 0;

	for (i = 0; i < RQ3; i++) {
		fill(e->src + (size_t)i * 1024, LEN3, 60 + batch * RQ3 + i);
		sge.addr = (uintptr_t)e->src + (size_t)i * 1024;
		bad |= post_rdma(qp, IBV_WR_SEND, 500 + i, &sge, 1, 0, 0, 0, 0);
	}
	for (i = 0; i < RQ3; i++)
		if (!wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS)
			done++;
	CHECK(!bad && done == RQ3, "phase 3: batch %d: %d of %d SENDs done",
	      batch, done, RQ3);
}

static void check3(struct env *e)
{
	unsigned char want[LEN3];
	struct ibv_wc wc;
	int b, i, ok = 0;

	for (b = 0; b < 2; b++) {
		for (i = 0; i < RQ3; i++) {
			fill(want, LEN3, 60 + b * RQ3 + i);
			if (!wait_wc(e->rcq, &wc) &&
			    wc.status == IBV_WC_SUCCESS &&
			    wc.wr_id == (uint64_t)(200 + b * 100 + i) &&
			    wc.byte_len == LEN3 &&
			    !memcmp(e->dst + (size_t)(b * RQ3 + i) * 1024, want,
				    LEN3))
				ok++;
		}
	}
	CHECK(ok == 2 * RQ3,
	      "phase 3: %d of %d receives completed in order with their bytes",
	      ok, 2 * RQ3);
}

static void post_recvs2(struct env *e, struct ibv_qp *qp)
{
	static const uint32_t len[4] = { SLOT, 16, SLOT, SLOT };
	struct ibv_sge sge;
	int i, bad = 0;

	memset(e->dst, 0, 4 * SLOT);
	for (i = 0; i < 4; i++) {
		sge.addr = (uintptr_t)e->dst + (size_t)i * SLOT;
		sge.length = len[i];
		sge.lkey = e->dmr->lkey;
		bad |= post_recv(qp, 20 + i, &sge, 1);
	}
	CHECK(!bad, "phase 2: 4 receives posted");
}

static void send2(struct env *e, struct ibv_qp *qp)
{
	struct ibv_sge sge = { .length = 100, .lkey = e->smr->lkey };
	int i, bad = 0;

	for (i = 0; i < 3; i++) {
		fill(e->src + (size_t)i * SLOT, 100, 40 + i);
		sge.addr = (uintptr_t)e->src + (size_t)i * SLOT;
		bad |= post_rdma(qp, IBV_WR_SEND, 30 + i, &sge, 1, 0, 0, 0, 0);
	}
	CHECK(!bad, "phase 2: 3 SENDs posted");
	expect_status(e->scq, 30, IBV_WC_SUCCESS, "phase 2: SEND 1");
	expect_status(e->scq, 31, IBV_WC_REM_INV_REQ_ERR,
		      "phase 2: SEND 2, too long for its receive");
	expect_status(e->scq, 32, IBV_WC_WR_FLUSH_ERR,
		      "phase 2: SEND 3, after the error");
}

/* After the sender's part: the QP went to ERR; then poll, in order. */
static void check2(struct env *e, struct ibv_qp *qp)
{
	unsigned char want[100];
	struct ibv_wc wc;
	int r;

	CHECK(wait_state(qp, IBV_QPS_ERR) == IBV_QPS_ERR,
	      "phase 2: the responder's QP went to ERR");
	r = wait_wc(e->rcq, &wc);
	fill(want, sizeof(want), 40);
	CHECK(!r && wc.wr_id == 20 && wc.status == IBV_WC_SUCCESS &&
		      wc.byte_len == 100 && !memcmp(e->dst, want, 100),
	      "phase 2: receive 1 first, with its 100 bytes (%s, %llu)",
	      ibv_wc_status_str(wc.status), (unsigned long long)wc.wr_id);
	expect_status(e->rcq, 21, IBV_WC_LOC_LEN_ERR,
		      "phase 2: receive 2 (16 bytes)");
	expect_status(e->rcq, 22, IBV_WC_WR_FLUSH_ERR, "phase 2: receive 3");
	expect_status(e->rcq, 23, IBV_WC_WR_FLUSH_ERR, "phase 2: receive 4");
	CHECK(ibv_poll_cq(e->rcq, 1, &wc) == 0, "phase 2: nothing more");
}

/* Receive n's inbox slot of qp, as the provider lays it out. */
static struct ntbrdma_inbox_ent *slot(struct ibv_qp *qp, uint32_t n)
{
	struct ntb_qp *q = to_qp(qp);

	return &q->inbox.ent[n & ((1U << q->inbox.order) - 1)];
}

/* Write slot s as a (lying) peer does: the body, then its tag (release). */
static void forge(struct ntbrdma_inbox_ent *s, uint64_t tag, uint32_t len,
		  uint32_t status)
{
	s->byte_len = len;
	s->status = status;
	s->flags = 0;
	s->imm = 0;
	__atomic_store_n(&s->tag, tag, __ATOMIC_RELEASE);
}

/*
 * Phases 4 and 5: a new loopback pair, the responder's next receive
 * index (*n: the next the provider takes, nothing posted yet) and its
 * epoch, and three 64-byte receives wr_id first.. posted; 0 or -1.
 */
static int forge_setup(struct env *e, int phase, int first, struct ibv_qp **a,
		       struct ibv_qp **b, uint32_t *n, uint64_t *epoch)
{
	struct ntbrdma_wq_ctrl *ctrl;
	int i, bad = 0;

	if (loop_pair(e, a, b)) {
		CHECK(0, "phase %d: loopback QPs connected", phase);
		return -1;
	}
	if (!to_qp(*b)->inbox.on) {
		CHECK(0, "phase %d: the responder QP has an inbox", phase);
		return -1;
	}
	ctrl = to_qp(*b)->rq.ctrl;
	*n = (uint32_t)__atomic_load_n(&ctrl->rx_taken, __ATOMIC_ACQUIRE);
	*epoch = __atomic_load_n(&ctrl->rx_epoch, __ATOMIC_ACQUIRE);
	for (i = 0; i < 3; i++) {
		struct ibv_sge r = { (uintptr_t)e->dst + (size_t)i * SLOT, 64,
				     e->dmr->lkey };

		bad |= post_recv(*b, first + i, &r, 1);
	}
	CHECK(!bad, "phase %d: 3 receives posted", phase);
	return 0;
}

static void phase4(struct env *e)
{
	struct ibv_sge sge = { .length = 16, .lkey = e->smr->lkey };
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp *a, *b;
	uint64_t epoch, tag;
	struct ibv_wc wc;
	uint32_t n;
	int i;

	if (forge_setup(e, 4, 40, &a, &b, &n, &epoch))
		return;
	sge.addr = (uintptr_t)e->src;
	CHECK(!post_rdma(a, IBV_WR_SEND, 50, &sge, 1, 0, 0, 0, 0),
	      "phase 4: a SEND posted");
	expect_status(e->scq, 50, IBV_WC_SUCCESS, "phase 4: the SEND");
	tag = epoch << 32 | n;
	CHECK(__atomic_load_n(&slot(b, n)->tag, __ATOMIC_ACQUIRE) == tag &&
		      slot(b, n)->byte_len == 16,
	      "phase 4: receive 40's slot says 16 bytes (not taken yet)");
	/* The lies: 40's length, and 41 completed with 1 MiB. */
	forge(slot(b, n), tag, 1u << 20, IBV_WC_SUCCESS);
	forge(slot(b, n + 1), epoch << 32 | (n + 1), 1u << 20, IBV_WC_SUCCESS);
	CHECK(!ibv_modify_qp(b, &attr, IBV_QP_STATE),
	      "phase 4: the responder QP moved to ERR");
	for (i = 0; i < 3; i++) {
		enum ibv_wc_status want = i < 2 ? IBV_WC_LOC_LEN_ERR :
						  IBV_WC_WR_FLUSH_ERR;
		int r = wait_wc(e->rcq, &wc);

		CHECK(!r && wc.wr_id == (uint64_t)(40 + i) && wc.status == want,
		      "phase 4: receive %d: %s (got %s, wr_id %llu, %u bytes)",
		      40 + i, ibv_wc_status_str(want),
		      r ? "nothing" : ibv_wc_status_str(wc.status),
		      r ? 0ULL : (unsigned long long)wc.wr_id,
		      r ? 0 : wc.byte_len);
	}
	CHECK(ibv_poll_cq(e->rcq, 1, &wc) == 0, "phase 4: nothing more");
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
}

static void phase5(struct env *e)
{
	struct ibv_qp *a, *b;
	uint64_t epoch;
	struct ibv_wc wc;
	uint32_t n;
	int i;

	if (forge_setup(e, 5, 60, &a, &b, &n, &epoch))
		return;
	forge(slot(b, n), epoch << 32 | n, 1u << 20, IBV_WC_SUCCESS);
	forge(slot(b, n + 1), epoch << 32 | (n + 1), 16, 0x7fffffffu);
	for (i = 0; i < 2; i++) {
		enum ibv_wc_status want = i ? IBV_WC_GENERAL_ERR :
					      IBV_WC_LOC_LEN_ERR;
		int r = wait_wc(e->rcq, &wc);

		CHECK(!r && wc.wr_id == (uint64_t)(60 + i) && wc.status == want,
		      "phase 5: receive %d: %s (got %s, wr_id %llu)", 60 + i,
		      ibv_wc_status_str(want),
		      r ? "nothing" : ibv_wc_status_str(wc.status),
		      r ? 0ULL : (unsigned long long)wc.wr_id);
	}
	CHECK(ibv_poll_cq(e->rcq, 1, &wc) == 0,
	      "phase 5: nothing for receive 62");
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	/* What destroying b flushed (62): not this phase's to check. */
	while (ibv_poll_cq(e->rcq, 1, &wc) > 0)
		;
}

static int run_loop(const char *dev)
{
	struct ibv_qp *a, *b;
	struct env e;

	if (env_open(&e, dev))
		return 1;
	if (loop_pair(&e, &a, &b)) {
		CHECK(0, "loopback QPs connected");
		return 1;
	}
	post_recvs1(&e, b);
	send1(&e, a, (uintptr_t)e.dst, e.dmr->rkey);
	check1(&e, b->qp_num);
	post_recvs3(&e, b, 0);
	send3(&e, a, 0);
	post_recvs3(&e, b, 1);
	send3(&e, a, 1);
	check3(&e);
	post_recvs2(&e, b);
	send2(&e, a);
	check2(&e, b);
	phase4(&e);
	phase5(&e);
	return failures ? 1 : 0;
}

static int run_server(const char *dev, int port)
{
	struct peer p;

	if (peer_open(&p, dev, NULL, port))
		return 1;
	post_recvs1(&p.e, p.qp);
	barrier(p.fd);
	check1(&p.e, p.qp->qp_num);
	post_recvs3(&p.e, p.qp, 0);
	barrier(p.fd);
	barrier(p.fd); /* the client's first batch is done */
	post_recvs3(&p.e, p.qp, 1);
	barrier(p.fd);
	barrier(p.fd); /* the second */
	check3(&p.e);
	barrier(p.fd);
	post_recvs2(&p.e, p.qp);
	barrier(p.fd);
	barrier(p.fd); /* the client has its completions */
	/* RECV_DONEs handled by our kernel before we poll (not required). */
	sleep(1);
	check2(&p.e, p.qp);
	barrier(p.fd);
	return failures ? 1 : 0;
}

static int run_client(const char *dev, const char *ip, int port)
{
	struct peer p;

	if (peer_open(&p, dev, ip, port))
		return 1;
	barrier(p.fd);
	send1(&p.e, p.qp, p.them.addr, p.them.rkey);
	barrier(p.fd);
	send3(&p.e, p.qp, 0);
	barrier(p.fd);
	barrier(p.fd);
	send3(&p.e, p.qp, 1);
	barrier(p.fd);
	barrier(p.fd);
	barrier(p.fd);
	send2(&p.e, p.qp);
	barrier(p.fd);
	barrier(p.fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return run_loop(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return run_server(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return run_client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr,
		"usage: %s loop DEV | server DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
