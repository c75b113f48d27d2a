// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-engine-test: the data path of RC QPs through libibverbs and the
 * libntbrdma provider, for tests/vm/ntbrdma-engine.sh.  Every check prints
 * "ok - ..." or "FAIL - ..."; the exit code is 0 only if all passed.
 *
 *   ntbrdma-engine-test loop DEV         two QPs of DEV connected to each
 *                                        other: WRITE, SEND, WRITE_WITH_IMM,
 *                                        READ, RNR and error completions
 *   ntbrdma-engine-test server DEV PORT  peer side: an MR the client writes
 *   ntbrdma-engine-test client DEV IP PORT
 *                                        RDMA WRITE into the server's MR
 *                                        through the NTB, checked there
 *   ntbrdma-engine-test sserver DEV PORT, sclient DEV IP PORT
 *                                        SEND, WRITE_WITH_IMM and READ
 *                                        through the NTB, checked at both
 *                                        ends, and their error statuses;
 *                                        READs in flight together, in
 *                                        order with a WRITE after them
 *   ntbrdma-engine-test linkloss DEV IP PORT
 *                                        WRITEs to the server until the
 *                                        link fails: error, ERR, flush
 *
 * Server and client exchange QP number, GID, rkey and address over TCP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "ntbrdma-rc.h"

/* READs the client posts at once in pipelined_reads(). */
#define NREADS 12

/*
 * len bytes at soff of src into dst at doff (WRITE) or of dst at doff
 * into src at soff (READ), in nsge pieces; checked byte for byte and
 * the bytes around untouched.
 */
static void xfer(struct env *e, struct ibv_qp *qp, bool read, size_t soff,
		 size_t doff, size_t len, int nsge, unsigned int seed)
{
	unsigned char *from = read ? e->dst + doff : e->src + soff;
	unsigned char *to = read ? e->src + soff : e->dst + doff;
	unsigned char *tobase = read ? e->src : e->dst;
	struct ibv_sge sge[4];
	struct ibv_wc wc;
	size_t piece = len / (size_t)nsge, at = 0;
	int i, ok;

	memset(tobase, 0, BUF_SIZE);
	fill(from, len, seed);
	for (i = 0; i < nsge; i++) {
		sge[i].addr = (uintptr_t)e->src + soff + at;
		sge[i].length = (uint32_t)(i == nsge - 1 ? len - at : piece);
		sge[i].lkey = e->smr->lkey;
		at += sge[i].length;
	}
	ok = !post_rdma(qp, read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE, seed,
			sge, nsge, (uintptr_t)e->dst + doff, e->dmr->rkey, 0,
			0) &&
	     !wait_wc(e->scq, &wc);
	CHECK(ok && wc.status == IBV_WC_SUCCESS && wc.wr_id == seed &&
		      wc.opcode ==
			      (read ? IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE),
	      "%s %zu bytes (%d SGEs, offsets %zu/%zu): success (%s)",
	      read ? "READ" : "WRITE", len, nsge, soff, doff,
	      ibv_wc_status_str(wc.status));
	CHECK(!memcmp(to, from, len) && (to == tobase || to[-1] == 0) &&
		      (to + len >= tobase + BUF_SIZE || to[len] == 0),
	      "%s %zu bytes: data byte for byte, neighbours untouched",
	      read ? "READ" : "WRITE", len);
}

static void check_sends(struct env *e, struct ibv_qp *qa, struct ibv_qp *qb)
{
	struct ibv_sge s = { (uintptr_t)e->src, 1000, e->smr->lkey };
	struct ibv_sge r = { (uintptr_t)e->dst + 5, 3000, e->dmr->lkey };
	struct ibv_wc wc;
	int imm;

	for (imm = 0; imm < 3; imm++) {
		/* The third one inline: at most 256 bytes. */
		uint32_t len = imm == 2 ? 200 : 1000;

		s.length = len;
		memset(e->dst, 0, 8192);
		fill(e->src, len, 40 + imm);
		CHECK(!post_recv(qb, 500 + imm, &r, 1), "post_recv");
		CHECK(!post_rdma(qa, imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
				 600 + imm, &s, 1, 0, 0, 0xabc0 + imm,
				 imm == 2 ? IBV_SEND_INLINE : 0),
		      "post SEND%s%s", imm ? "_WITH_IMM" : "",
		      imm == 2 ? " inline" : "");
		CHECK(!wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == 600u + imm &&
			      wc.opcode == IBV_WC_SEND,
		      "SEND completion at the requester (%s)",
		      ibv_wc_status_str(wc.status));
		CHECK(!wait_wc(e->rcq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == 500u + imm &&
			      wc.opcode == IBV_WC_RECV && wc.byte_len == len &&
			      wc.qp_num == qb->qp_num &&
			      (imm ? (wc.wc_flags & IBV_WC_WITH_IMM) &&
					       ntohl(wc.imm_data) ==
						       0xabc0u + imm :
				     !(wc.wc_flags & IBV_WC_WITH_IMM)),
		      "RECV completion: byte_len %u, imm %s (%s)", wc.byte_len,
		      imm ? "given" : "none", ibv_wc_status_str(wc.status));
		CHECK(!memcmp(e->dst + 5, e->src, len) && e->dst[4] == 0 &&
			      e->dst[5 + len] == 0,
		      "SEND payload byte for byte");
	}

	/* RDMA WRITE WITH IMM: data in place, a receive consumed. */
	memset(e->dst, 0, 8192);
	fill(e->src, 5000, 77);
	s.length = 5000;
	CHECK(!post_recv(qb, 700, NULL, 0), "post_recv without SGE");
	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE_WITH_IMM, 701, &s, 1,
			 (uintptr_t)e->dst + 100, e->dmr->rkey, 0x5151, 0),
	      "post WRITE_WITH_IMM");
	CHECK(!wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS &&
		      wc.wr_id == 701 && wc.opcode == IBV_WC_RDMA_WRITE,
	      "WRITE_WITH_IMM completion at the requester (%s)",
	      ibv_wc_status_str(wc.status));
	CHECK(!wait_wc(e->rcq, &wc) && wc.status == IBV_WC_SUCCESS &&
		      wc.wr_id == 700 &&
		      wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
		      wc.byte_len == 5000 && (wc.wc_flags & IBV_WC_WITH_IMM) &&
		      ntohl(wc.imm_data) == 0x5151,
	      "RECV_RDMA_WITH_IMM at the responder: byte_len %u imm %#x",
	      wc.byte_len, ntohl(wc.imm_data));
	CHECK(!memcmp(e->dst + 100, e->src, 5000), "WRITE_WITH_IMM data");
}

/*
 * A WRITE of a known value to the 8 bytes at raddr (rkey), then two
 * CMP_AND_SWPs (one that swaps, one that does not), a FETCH_AND_ADD and
 * a READ, all in flight together: they complete in order, each atomic
 * with the value from before it, the READ with the sum.
 */
static void atomics(struct env *e, struct ibv_qp *qp, uint64_t raddr,
		    uint32_t rkey, const char *who)
{
	static const enum ibv_wc_opcode wop[5] = {
		IBV_WC_RDMA_WRITE, IBV_WC_COMP_SWAP, IBV_WC_COMP_SWAP,
		IBV_WC_FETCH_ADD,  IBV_WC_RDMA_READ,
	};
	const uint64_t start = 0x1122334455667788ULL;
	uint64_t *old = (uint64_t *)(e->src + 4096);
	struct ibv_sge w = { (uintptr_t)e->src, 8, e->smr->lkey };
	struct ibv_sge o[4];
	struct ibv_wc wc;
	int i;

	memcpy(e->src, &start, 8);
	memset(old, 0xee, 4 * 8);
	for (i = 0; i < 4; i++)
		o[i] = (struct ibv_sge){ (uintptr_t)&old[i], 8, e->smr->lkey };
	CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 1000, &w, 1, raddr, rkey, 0,
			 0) &&
		      !post_atomic(qp, IBV_WR_ATOMIC_CMP_AND_SWP, 1001, &o[0],
				   raddr, rkey, start, 42) &&
		      !post_atomic(qp, IBV_WR_ATOMIC_CMP_AND_SWP, 1002, &o[1],
				   raddr, rkey, 7, 9) &&
		      !post_atomic(qp, IBV_WR_ATOMIC_FETCH_AND_ADD, 1003, &o[2],
				   raddr, rkey, 100, 0) &&
		      !post_rdma(qp, IBV_WR_RDMA_READ, 1004, &o[3], 1, raddr,
				 rkey, 0, 0),
	      "%s: post WRITE, CMP_AND_SWP x2, FETCH_AND_ADD, READ", who);
	for (i = 0; i < 5; i++) {
		CHECK(!wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == 1000u + i && wc.opcode == wop[i] &&
			      (i == 0 || wc.byte_len == 8),
		      "%s: completion %d: wr_id %llu opcode %d byte_len %u (%s)",
		      who, i, (unsigned long long)wc.wr_id, wc.opcode,
		      wc.byte_len, ibv_wc_status_str(wc.status));
	}
	CHECK(old[0] == start && old[1] == 42 && old[2] == 42 && old[3] == 142,
	      "%s: CMP_AND_SWP %#llx, CMP_AND_SWP (no swap) %llu, "
	      "FETCH_AND_ADD %llu, READ %llu",
	      who, (unsigned long long)old[0], (unsigned long long)old[1],
	      (unsigned long long)old[2], (unsigned long long)old[3]);
}

/* An atomic at a misaligned address: REM_INV_REQ_ERR, the QP in ERR. */
static void atomic_misaligned(struct env *e, struct ibv_qp *qp, uint64_t raddr,
			      uint32_t rkey, const char *who)
{
	struct ibv_sge o = { (uintptr_t)e->src + 4096, 8, e->smr->lkey };

	CHECK(!post_atomic(qp, IBV_WR_ATOMIC_FETCH_AND_ADD, 1010, &o, raddr + 4,
			   rkey, 1, 0),
	      "%s: post FETCH_AND_ADD at a misaligned address", who);
	expect_status(e->scq, 1010, IBV_WC_REM_INV_REQ_ERR,
		      "misaligned FETCH_AND_ADD");
	CHECK(query_state(qp) == IBV_QPS_ERR, "%s: QP in ERR after it", who);
}

/*
 * UC, loopback: no acknowledgements.  What the responder drops (a SEND
 * that finds no receive, a WRITE with a bad rkey) still completes as
 * sent at the requester, and both QPs go on; no READ or atomics; an RC
 * QP connected to a UC QP is never answered.
 */
static void uc_checks(struct env *e)
{
	struct ibv_qp *ua = make_qp_type(e, e->pd, IBV_QPT_UC);
	struct ibv_qp *ub = make_qp_type(e, e->pd, IBV_QPT_UC);
	struct ibv_qp *rc = make_qp(e);
	struct ibv_sge s = { (uintptr_t)e->src, 64, e->smr->lkey };
	struct ibv_sge a8 = { (uintptr_t)e->src, 8, e->smr->lkey };
	struct ibv_sge r = { (uintptr_t)e->dst, 64, e->dmr->lkey };
	const struct qp_opts once = { .timeout = 14, .retry_cnt = 1 };

	CHECK(ua && ub && rc && !connect_qp(e, ua, &e->gid, ub->qp_num, 0) &&
		      !connect_qp(e, ub, &e->gid, ua->qp_num, 0),
	      "UC: two QPs connected to each other (loopback)");
	if (!ua || !ub || !rc)
		return;

	fill(e->src, 64, 21);
	CHECK(!post_rdma(ua, IBV_WR_SEND, 900, &s, 1, 0, 0, 0, 0),
	      "UC: post a SEND without a receive");
	expect_status(e->scq, 900, IBV_WC_SUCCESS,
		      "UC: the SEND that found no receive (dropped)");
	memset(e->dst, 0, 64);
	fill(e->src, 64, 22);
	CHECK(!post_recv(ub, 901, &r, 1) &&
		      !post_rdma(ua, IBV_WR_SEND, 902, &s, 1, 0, 0, 0, 0),
	      "UC: post a receive, then a SEND");
	expect_status(e->scq, 902, IBV_WC_SUCCESS, "UC: SEND");
	expect_status(e->rcq, 901, IBV_WC_SUCCESS, "UC: its receive");
	CHECK(!memcmp(e->dst, e->src, 64),
	      "UC: the receive holds the second SEND, not the dropped one");

	memset(e->dst, 0, 64);
	fill(e->src, 64, 23);
	CHECK(!post_rdma(ua, IBV_WR_RDMA_WRITE, 903, &s, 1, (uintptr_t)e->dst,
			 e->dmr->rkey ^ 0x80, 0, 0),
	      "UC: post a WRITE with a bad rkey");
	expect_status(e->scq, 903, IBV_WC_SUCCESS,
		      "UC: the WRITE with a bad rkey (dropped)");
	CHECK(e->dst[0] == 0 && !memcmp(e->dst, e->dst + 1, 63),
	      "UC: nothing written by the WRITE with a bad rkey");
	CHECK(query_state(ua) == IBV_QPS_RTS && query_state(ub) == IBV_QPS_RTS,
	      "UC: both QPs still in RTS");
	CHECK(!post_rdma(ua, IBV_WR_RDMA_WRITE, 904, &s, 1, (uintptr_t)e->dst,
			 e->dmr->rkey, 0, 0),
	      "UC: post a WRITE with the right rkey");
	expect_status(e->scq, 904, IBV_WC_SUCCESS, "UC: WRITE");
	CHECK(!memcmp(e->dst, e->src, 64), "UC: the WRITE's data landed");

	CHECK(post_rdma(ua, IBV_WR_RDMA_READ, 905, &s, 1, (uintptr_t)e->dst,
			e->dmr->rkey, 0, 0) == EINVAL,
	      "UC: READ refused at post (EINVAL)");
	CHECK(post_atomic(ua, IBV_WR_ATOMIC_FETCH_AND_ADD, 906, &a8,
			  (uintptr_t)e->dst, e->dmr->rkey, 1, 0) == EINVAL,
	      "UC: FETCH_AND_ADD refused at post (EINVAL)");

	/* An RC QP to a UC QP: the UC QP never answers it. */
	CHECK(!connect_qp_opts(e, rc, &e->gid, ub->qp_num, &once) &&
		      !connect_qp(e, ub, &e->gid, rc->qp_num, 0),
	      "RC QP and UC QP connected to each other");
	CHECK(!post_rdma(rc, IBV_WR_RDMA_WRITE, 907, &s, 1, (uintptr_t)e->dst,
			 e->dmr->rkey, 0, 0),
	      "RC to UC: post a WRITE");
	expect_status(e->scq, 907, IBV_WC_RETRY_EXC_ERR,
		      "RC to UC: the WRITE is never answered");
	CHECK(!ibv_destroy_qp(ua) && !ibv_destroy_qp(ub) && !ibv_destroy_qp(rc),
	      "UC: destroy QPs");
}

/* No completion on cq for a moment (what UD drops leaves no trace). */
static bool cq_quiet(struct ibv_cq *cq)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 50; i++) {
		if (ibv_poll_cq(cq, 1, &wc))
			return false;
		usleep(10000);
	}
	return true;
}

/*
 * UD, loopback: a datagram lands after a 40-byte GRH (RoCE v2, IPv4:
 * 20 zero bytes, then the IPv4 header with both addresses), with src_qp,
 * GRH and the network header type in the completion; a wrong Q_Key or
 * no receive drops it (the sender still succeeds), the high bit of the
 * Q_Key means the sender's own; a short receive completes with
 * LOC_LEN_ERR and the QP goes on; no RDMA on UD.
 */
static void ud_checks(struct env *e)
{
	struct ibv_qp *ua = make_qp_type(e, e->pd, IBV_QPT_UD);
	struct ibv_qp *ub = make_qp_type(e, e->pd, IBV_QPT_UD);
	struct ibv_ah *ah = make_ah(e, &e->gid);
	struct ibv_sge s = { (uintptr_t)e->src, 64, e->smr->lkey };
	struct ibv_sge r = { (uintptr_t)e->dst, 40 + 64, e->dmr->lkey };
	struct ibv_sge small = { (uintptr_t)e->dst, 50, e->dmr->lkey };
	const uint32_t qk = 0x1234;
	struct ibv_wc wc;
	int n;

	CHECK(ua && ub && ah && !ud_ready(ua, qk) && !ud_ready(ub, qk),
	      "UD: two QPs in RTS and an AH to our own GID");
	if (!ua || !ub || !ah)
		return;
	fill(e->src, 64, 31);
	memset(e->dst, 0xee, 40 + 64);
	CHECK(!post_recv(ub, 950, &r, 1) &&
		      !post_ud(ua, IBV_WR_SEND, 951, &s, ah, ub->qp_num, qk, 0),
	      "UD: post a receive, then a SEND to it");
	expect_status(e->scq, 951, IBV_WC_SUCCESS, "UD: SEND");
	n = wait_wc(e->rcq, &wc);
	CHECK(!n && wc.wr_id == 950 && wc.status == IBV_WC_SUCCESS &&
		      wc.byte_len == 40 + 64 && wc.src_qp == ua->qp_num &&
		      (wc.wc_flags & IBV_WC_GRH) && wc.opcode == IBV_WC_RECV,
	      "UD: received: status %d, %u bytes, src_qp %u, flags %#x",
	      n ? -1 : (int)wc.status, n ? 0 : wc.byte_len, n ? 0 : wc.src_qp,
	      n ? 0 : wc.wc_flags);
	CHECK(!memcmp(e->dst + 40, e->src, 64),
	      "UD: the payload after the GRH");
	CHECK(e->dst[0] == 0 && !memcmp(e->dst, e->dst + 1, 19) &&
		      e->dst[20] == 0x45 && e->dst[29] == 17 &&
		      !memcmp(e->dst + 32, e->gid.raw + 12, 4) &&
		      !memcmp(e->dst + 36, e->gid.raw + 12, 4),
	      "UD: the GRH: 20 zero bytes, an IPv4/UDP header from and to our address");

	memset(e->dst, 0, 40 + 64);
	CHECK(!post_recv(ub, 952, &r, 1) && !post_ud(ua, IBV_WR_SEND, 953, &s,
						     ah, ub->qp_num, 0x9999, 0),
	      "UD: post a SEND with another Q_Key");
	expect_status(e->scq, 953, IBV_WC_SUCCESS,
		      "UD: SEND with another Q_Key");
	CHECK(cq_quiet(e->rcq),
	      "UD: the datagram with another Q_Key is dropped");
	CHECK(!post_ud(ua, IBV_WR_SEND_WITH_IMM, 954, &s, ah, ub->qp_num,
		       0x80000000U, htonl(0xabcd)),
	      "UD: post a SEND_WITH_IMM with the high bit of the Q_Key set");
	expect_status(e->scq, 954, IBV_WC_SUCCESS, "UD: SEND_WITH_IMM");
	n = wait_wc(e->rcq, &wc);
	CHECK(!n && wc.wr_id == 952 && wc.status == IBV_WC_SUCCESS &&
		      (wc.wc_flags & IBV_WC_WITH_IMM) &&
		      wc.imm_data == htonl(0xabcd),
	      "UD: the QP's own Q_Key: delivered into the receive left posted, with the immediate");

	CHECK(!post_ud(ua, IBV_WR_SEND, 955, &s, ah, ub->qp_num, qk, 0),
	      "UD: post a SEND without a receive");
	expect_status(e->scq, 955, IBV_WC_SUCCESS,
		      "UD: SEND without a receive");
	CHECK(cq_quiet(e->rcq),
	      "UD: the datagram without a receive is dropped");

	CHECK(!post_recv(ub, 956, &small, 1) &&
		      !post_ud(ua, IBV_WR_SEND, 957, &s, ah, ub->qp_num, qk, 0),
	      "UD: post a 50-byte receive, then a 64-byte SEND");
	expect_status(e->scq, 957, IBV_WC_SUCCESS,
		      "UD: SEND into a short receive");
	expect_status(e->rcq, 956, IBV_WC_LOC_LEN_ERR, "UD: the short receive");
	CHECK(query_state(ub) == IBV_QPS_RTS,
	      "UD: the receiving QP goes on (RTS)");

	CHECK(post_rdma(ua, IBV_WR_RDMA_WRITE, 958, &s, 1, (uintptr_t)e->dst,
			e->dmr->rkey, 0, 0) == EINVAL,
	      "UD: WRITE refused at post (EINVAL)");
	CHECK(!ibv_destroy_qp(ua) && !ibv_destroy_qp(ub) && !ibv_destroy_ah(ah),
	      "UD: destroy QPs and AH");
}

static int do_loop(const char *name)
{
	struct ibv_sge sge;
	struct env e;
	struct ibv_qp *qa, *qb;
	struct ibv_wc wc;

	if (env_open(&e, name)) {
		CHECK(0, "device, PD, CQs, MRs, GID");
		return 1;
	}
	CHECK(!loop_pair(&e, &qa, &qb),
	      "two QPs connected to each other (loopback)");
	if (!qa || !qb)
		return 1;

	xfer(&e, qa, false, 0, 0, 1, 1, 1);
	xfer(&e, qa, false, 3, 4097, 4095, 1, 2);
	xfer(&e, qa, false, 0, 0, 65536, 1, 3);
	xfer(&e, qa, false, 5, 11, 1 << 20, 3, 4);

	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE, 50, NULL, 0, 0, 0, 0, 0),
	      "post zero-length WRITE with rkey 0");
	expect_status(e.scq, 50, IBV_WC_SUCCESS, "zero-length WRITE");

	check_sends(&e, qa, qb);

	xfer(&e, qa, true, 0, 0, 1, 1, 5);
	xfer(&e, qa, true, 7, 4093, 4095, 1, 6);
	xfer(&e, qa, true, 0, 0, 65536, 2, 7);
	xfer(&e, qa, true, 1, 3, 1 << 20, 3, 8);

	atomics(&e, qa, (uintptr_t)e.dst + 8192, e.dmr->rkey, "loopback");
	CHECK(!memcmp(e.dst + 8192, &(uint64_t){ 142 }, 8),
	      "loopback: the target holds the sum");
	atomic_misaligned(&e, qa, (uintptr_t)e.dst + 8192, e.dmr->rkey,
			  "loopback");
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 7), "reconnect");
	{
		struct ibv_sge o = { (uintptr_t)e.src, 8, e.smr->lkey };

		CHECK(!post_atomic(qa, IBV_WR_ATOMIC_CMP_AND_SWP, 1011, &o,
				   (uintptr_t)e.dst, e.dmr->rkey ^ 0x80, 0, 0),
		      "loopback: post CMP_AND_SWP with a bad rkey");
		expect_status(e.scq, 1011, IBV_WC_REM_ACCESS_ERR,
			      "CMP_AND_SWP with a bad rkey");
	}
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 7), "reconnect");

	/* Bad lkey: local protection error, QP to ERR. */
	sge.addr = (uintptr_t)e.src;
	sge.length = 64;
	sge.lkey = e.smr->lkey ^ 0x80;
	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE, 60, &sge, 1, (uintptr_t)e.dst,
			 e.dmr->rkey, 0, 0),
	      "post WRITE with a bad lkey");
	expect_status(e.scq, 60, IBV_WC_LOC_PROT_ERR, "bad lkey");
	CHECK(query_state(qa) == IBV_QPS_ERR, "QP in ERR after bad lkey");

	/* Bad rkey: remote access error, the next WQE flushed, ERR. */
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 7), "reconnect");
	sge.lkey = e.smr->lkey;
	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE, 61, &sge, 1, (uintptr_t)e.dst,
			 e.dmr->rkey ^ 0x80, 0, 0) &&
		      !post_rdma(qa, IBV_WR_RDMA_WRITE, 62, &sge, 1,
				 (uintptr_t)e.dst, e.dmr->rkey, 0, 0),
	      "post WRITE with a bad rkey, then a good one");
	expect_status(e.scq, 61, IBV_WC_REM_ACCESS_ERR, "bad rkey");
	expect_status(e.scq, 62, IBV_WC_WR_FLUSH_ERR, "next WQE");
	CHECK(query_state(qa) == IBV_QPS_ERR, "QP in ERR after bad rkey");
	/* Out of range: also a remote access error. */
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 7), "reconnect");
	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE, 63, &sge, 1,
			 (uintptr_t)e.dst + BUF_SIZE - 32, e.dmr->rkey, 0, 0),
	      "post WRITE past the end of the MR");
	expect_status(e.scq, 63, IBV_WC_REM_ACCESS_ERR, "WRITE out of range");

	/* RNR: no receive posted, rnr_retry 1. */
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 1) &&
		      !connect_qp(&e, qb, &e.gid, qa->qp_num, 7),
	      "reconnect with rnr_retry 1");
	CHECK(!post_rdma(qa, IBV_WR_SEND, 64, &sge, 1, 0, 0, 0, 0),
	      "post SEND without a receive");
	expect_status(e.scq, 64, IBV_WC_RNR_RETRY_EXC_ERR, "RNR");

	/* Receive too small. */
	CHECK(!connect_qp(&e, qa, &e.gid, qb->qp_num, 7), "reconnect");
	{
		struct ibv_sge r = { (uintptr_t)e.dst, 100, e.dmr->lkey };

		sge.length = 200;
		CHECK(!post_recv(qb, 65, &r, 1) &&
			      !post_rdma(qa, IBV_WR_SEND, 66, &sge, 1, 0, 0, 0,
					 0),
		      "post 200-byte SEND to a 100-byte receive");
		expect_status(e.rcq, 65, IBV_WC_LOC_LEN_ERR,
			      "small receive at the responder");
		expect_status(e.scq, 66, IBV_WC_REM_INV_REQ_ERR,
			      "small receive at the requester");
	}
	(void)wc;

	uc_checks(&e);
	ud_checks(&e);
	CHECK(!ibv_destroy_qp(qa) && !ibv_destroy_qp(qb), "destroy QPs");
	CHECK(!ibv_dereg_mr(e.smr) && !ibv_dereg_mr(e.dmr), "dereg MRs");
	return failures ? 1 : 0;
}

/*
 * Link loss: WRITEs to the peer, one after the other, until one fails
 * (the peer dies meanwhile); then the QP must be in ERR and a new WQE
 * flushed.  No completion may be lost: each WRITE completes in 10 s.
 */
static void linkloss(struct env *e, struct ibv_qp *qp, const struct conn *t)
{
	struct ibv_sge sge = { (uintptr_t)e->src, 65536, e->smr->lkey };
	struct ibv_wc wc;
	uint64_t n;

	printf("# writing\n");
	for (n = 0; n < 10000000; n++) {
		if (post_rdma(qp, IBV_WR_RDMA_WRITE, n, &sge, 1, t->addr,
			      t->rkey, 0, 0) ||
		    wait_wc(e->scq, &wc) || wc.status != IBV_WC_SUCCESS)
			break;
	}
	CHECK(n > 0 && wc.wr_id == n && wc.status != IBV_WC_SUCCESS &&
		      wc.status != IBV_WC_GENERAL_ERR,
	      "link loss: %llu WRITEs, then an error completion (%s)",
	      (unsigned long long)n, ibv_wc_status_str(wc.status));
	CHECK(query_state(qp) == IBV_QPS_ERR, "link loss: QP in ERR");
	CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 7777, &sge, 1, t->addr, t->rkey,
			 0, 0),
	      "link loss: post after ERR accepted");
	expect_status(e->scq, 7777, IBV_WC_WR_FLUSH_ERR,
		      "link loss: post after ERR");
}

/*
 * Client: READs in flight together (max_rd_atomic 4), of the server's
 * 1 MiB at t->addr + 11 (filled with pattern 21), then a WRITE over its
 * first 64 KiB and a READ of them.  The completions come in order; every
 * READ before the WRITE sees the data from before it, the READ after it
 * the WRITE's data.
 */
static void pipelined_reads(struct env *e, struct ibv_qp *qp,
			    const struct conn *t)
{
	unsigned char *wsrc = e->src + (1u << 20);
	unsigned char *back = e->src + (3u << 19);
	struct ibv_sge sg[NREADS], ws, bs;
	struct ibv_wc wc;
	bool ok = true;
	int i;

	memset(e->src, 0, BUF_SIZE);
	for (i = 0; i < NREADS; i++) {
		sg[i].addr = (uintptr_t)e->src + (uint64_t)i * 70000;
		sg[i].length = 4096 + i * 5000;
		sg[i].lkey = e->smr->lkey;
		ok = ok && !post_rdma(qp, IBV_WR_RDMA_READ, 900 + i, &sg[i], 1,
				      t->addr + 11 + i * 1000, t->rkey, 0, 0);
	}
	fill(wsrc, 65536, 55);
	ws = (struct ibv_sge){ (uintptr_t)wsrc, 65536, e->smr->lkey };
	bs = (struct ibv_sge){ (uintptr_t)back, 65536, e->smr->lkey };
	CHECK(ok &&
		      !post_rdma(qp, IBV_WR_RDMA_WRITE, 920, &ws, 1,
				 t->addr + 11, t->rkey, 0, 0) &&
		      !post_rdma(qp, IBV_WR_RDMA_READ, 921, &bs, 1,
				 t->addr + 11, t->rkey, 0, 0),
	      "client: post %d READs, a WRITE over what they read, a READ",
	      NREADS);
	for (i = 0; i <= NREADS + 1; i++) {
		uint64_t id = i < NREADS ? 900u + i : 920u + i - NREADS;

		CHECK(!wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == id,
		      "client: completion %d is wr_id %llu (got %llu, %s)", i,
		      (unsigned long long)id, (unsigned long long)wc.wr_id,
		      ibv_wc_status_str(wc.status));
	}
	fill(e->dst, 1 << 20, 21);
	for (i = 0, ok = true; i < NREADS; i++)
		ok = ok && !memcmp(e->src + (size_t)i * 70000,
				   e->dst + i * 1000, sg[i].length);
	CHECK(ok, "client: the READs before the WRITE read what was there");
	CHECK(!memcmp(back, wsrc, 65536),
	      "client: the READ after the WRITE read the WRITE's data");
}

/* Reconnect after an error, both ends, then meet. */
static void reconnect(struct env *e, struct ibv_qp *qp, const struct conn *t,
		      int fd, int rnr_retry)
{
	CHECK(!connect_qp(e, qp, &t->gid, t->qpn, rnr_retry) && !barrier(fd),
	      "reconnected to the peer's QP (rnr_retry %d)", rnr_retry);
}

/*
 * SEND, SEND_WITH_IMM, inline SEND, WRITE_WITH_IMM and READ from the
 * client (requester) to the server (responder) through the NTB, then the
 * error completions of both ends: receive too small, RNR, bad rkey.  The
 * ends meet (barrier) between the steps; each checks its own side.
 */
static void peer_script(struct env *e, struct ibv_qp *qp, int fd,
			const struct conn *t, bool server)
{
	struct ibv_sge s = { (uintptr_t)e->src, 0, e->smr->lkey };
	struct ibv_sge r = { (uintptr_t)e->dst + 5, 3000, e->dmr->lkey };
	struct ibv_sge sg[3];
	struct ibv_wc wc;
	uint32_t len;
	int imm, i;

	for (imm = 0; imm < 3; imm++) {
		len = imm == 2 ? 200 : 1000;
		if (server) {
			memset(e->dst, 0, 8192);
			CHECK(!post_recv(qp, 500 + imm, &r, 1) && !barrier(fd),
			      "server: receive posted");
			CHECK(!wait_wc(e->rcq, &wc) &&
				      wc.status == IBV_WC_SUCCESS &&
				      wc.wr_id == 500u + imm &&
				      wc.opcode == IBV_WC_RECV &&
				      wc.byte_len == len &&
				      wc.qp_num == qp->qp_num &&
				      !!(wc.wc_flags & IBV_WC_WITH_IMM) ==
					      !!imm &&
				      (!imm ||
				       ntohl(wc.imm_data) == 0xabc0u + imm),
			      "server: RECV from the peer, byte_len %u, imm %s (%s)",
			      wc.byte_len, imm ? "given" : "none",
			      ibv_wc_status_str(wc.status));
			fill(e->src, len, 40 + imm);
			CHECK(!memcmp(e->dst + 5, e->src, len) &&
				      e->dst[4] == 0 && e->dst[5 + len] == 0,
			      "server: SEND payload byte for byte");
		} else {
			CHECK(!barrier(fd),
			      "client: the peer's receive posted");
			fill(e->src, len, 40 + imm);
			s.length = len;
			CHECK(!post_rdma(qp,
					 imm ? IBV_WR_SEND_WITH_IMM :
					       IBV_WR_SEND,
					 600 + imm, &s, 1, 0, 0, 0xabc0 + imm,
					 imm == 2 ? IBV_SEND_INLINE : 0) &&
				      !wait_wc(e->scq, &wc) &&
				      wc.status == IBV_WC_SUCCESS &&
				      wc.wr_id == 600u + imm &&
				      wc.opcode == IBV_WC_SEND,
			      "client: SEND%s%s to the peer (%s)",
			      imm ? "_WITH_IMM" : "", imm == 2 ? " inline" : "",
			      ibv_wc_status_str(wc.status));
		}
		barrier(fd);
	}

	/* WRITE_WITH_IMM: the data in the rkey's MR, a receive consumed. */
	if (server) {
		memset(e->dst, 0, 8192);
		CHECK(!post_recv(qp, 700, NULL, 0) && !barrier(fd),
		      "server: receive without SGE posted");
		CHECK(!wait_wc(e->rcq, &wc) && wc.status == IBV_WC_SUCCESS &&
			      wc.wr_id == 700 &&
			      wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
			      wc.byte_len == 5000 &&
			      (wc.wc_flags & IBV_WC_WITH_IMM) &&
			      ntohl(wc.imm_data) == 0x5151,
		      "server: RECV_RDMA_WITH_IMM, byte_len %u imm %#x (%s)",
		      wc.byte_len, ntohl(wc.imm_data),
		      ibv_wc_status_str(wc.status));
		fill(e->src, 5000, 77);
		CHECK(!memcmp(e->dst + 100, e->src, 5000) && !e->dst[99] &&
			      !e->dst[5100],
		      "server: WRITE_WITH_IMM data byte for byte");
		fill(e->dst + 11, 1 << 20, 21);
	} else {
		CHECK(!barrier(fd), "client: the peer's receive posted");
		fill(e->src, 5000, 77);
		s.length = 5000;
		CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE_WITH_IMM, 701, &s, 1,
				 t->addr + 100, t->rkey, 0x5151, 0) &&
			      !wait_wc(e->scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS && wc.wr_id == 701 &&
			      wc.opcode == IBV_WC_RDMA_WRITE,
		      "client: WRITE_WITH_IMM to the peer (%s)",
		      ibv_wc_status_str(wc.status));
	}
	barrier(fd);

	/* READ: 1 MiB over 3 SGEs at odd offsets, pushed by the server. */
	if (!server) {
		memset(e->src, 0, BUF_SIZE);
		for (i = 0; i < 3; i++) {
			sg[i].addr =
				(uintptr_t)e->src + 5 + (uint64_t)i * 300000;
			sg[i].length = i < 2 ? 300000 : (1 << 20) - 600000;
			sg[i].lkey = e->smr->lkey;
		}
		CHECK(!post_rdma(qp, IBV_WR_RDMA_READ, 800, sg, 3, t->addr + 11,
				 t->rkey, 0, 0) &&
			      !wait_wc(e->scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS && wc.wr_id == 800 &&
			      wc.opcode == IBV_WC_RDMA_READ &&
			      wc.byte_len == 1 << 20,
		      "client: READ 1 MiB (3 SGEs) from the peer (%s)",
		      ibv_wc_status_str(wc.status));
		fill(e->dst, 1 << 20, 21);
		CHECK(!memcmp(e->src + 5, e->dst, 1 << 20) && !e->src[4] &&
			      !e->src[5 + (1 << 20)],
		      "client: READ data byte for byte, neighbours untouched");
		pipelined_reads(e, qp, t);
		atomics(e, qp, t->addr + 8192, t->rkey, "client");
	}
	barrier(fd);

	/* Receive too small: LOC_LEN_ERR here, REM_INV_REQ_ERR there. */
	if (server) {
		r.length = 100;
		CHECK(!post_recv(qp, 65, &r, 1) && !barrier(fd),
		      "server: 100-byte receive posted");
		expect_status(e->rcq, 65, IBV_WC_LOC_LEN_ERR,
			      "server: small receive");
		CHECK(wait_state(qp, IBV_QPS_ERR) == IBV_QPS_ERR,
		      "server: QP in ERR after the small receive");
	} else {
		CHECK(!barrier(fd), "client: the peer's receive posted");
		s.length = 200;
		CHECK(!post_rdma(qp, IBV_WR_SEND, 66, &s, 1, 0, 0, 0, 0),
		      "client: post 200-byte SEND");
		expect_status(e->scq, 66, IBV_WC_REM_INV_REQ_ERR,
			      "client: SEND to a small receive");
		CHECK(query_state(qp) == IBV_QPS_ERR, "client: QP in ERR");
	}
	barrier(fd);
	reconnect(e, qp, t, fd, server ? 7 : 1);

	/* RNR: nothing posted at the server, rnr_retry 1 at the client. */
	if (!server) {
		s.length = 64;
		CHECK(!post_rdma(qp, IBV_WR_SEND, 67, &s, 1, 0, 0, 0, 0),
		      "client: post SEND without a receive at the peer");
		expect_status(e->scq, 67, IBV_WC_RNR_RETRY_EXC_ERR,
			      "client: RNR");
		CHECK(query_state(qp) == IBV_QPS_ERR,
		      "client: QP in ERR after RNR");
	}
	barrier(fd);
	reconnect(e, qp, t, fd, 7);

	/*
	 * READ with a bad rkey between two good ones, all three in flight:
	 * the first succeeds, the bad one REM_ACCESS_ERR, the READ after
	 * it and the SEND behind them flushed.
	 */
	if (!server) {
		s.length = 64;
		CHECK(!post_rdma(qp, IBV_WR_RDMA_READ, 70, &s, 1, t->addr,
				 t->rkey, 0, 0) &&
			      !post_rdma(qp, IBV_WR_RDMA_READ, 68, &s, 1,
					 t->addr, t->rkey ^ 0x80, 0, 0) &&
			      !post_rdma(qp, IBV_WR_RDMA_READ, 71, &s, 1,
					 t->addr, t->rkey, 0, 0) &&
			      !post_rdma(qp, IBV_WR_SEND, 69, &s, 1, 0, 0, 0,
					 0),
		      "client: post READs, one with a bad rkey, then a SEND");
		expect_status(e->scq, 70, IBV_WC_SUCCESS,
			      "client: the READ before the bad one");
		expect_status(e->scq, 68, IBV_WC_REM_ACCESS_ERR,
			      "client: READ with a bad rkey");
		expect_status(e->scq, 71, IBV_WC_WR_FLUSH_ERR,
			      "client: the READ after it");
		expect_status(e->scq, 69, IBV_WC_WR_FLUSH_ERR,
			      "client: the SEND after it");
		CHECK(query_state(qp) == IBV_QPS_ERR,
		      "client: QP in ERR after the bad rkey");
	}
	barrier(fd);
	reconnect(e, qp, t, fd, 7);

	if (!server)
		atomic_misaligned(e, qp, t->addr + 8192, t->rkey, "client");
	barrier(fd);
}

static int do_peer(const char *name, const char *ip, int port, bool loss,
		   bool script)
{
	char ok = 0, res = 0;
	struct peer p;
	struct ibv_qp *qp;
	struct conn them;
	struct env e;
	int fd;

	if (peer_open(&p, name, ip, port))
		return 1;
	e = p.e;
	qp = p.qp;
	them = p.them;
	fd = p.fd;

	if (loss) {
		linkloss(&e, qp, &them);
	} else if (script) {
		peer_script(&e, qp, fd, &them, !ip);
	} else if (!ip) {
		/* Server: wait for the client's writes, check them. */
		CHECK(read(fd, &ok, 1) == 1 && ok == 1, "client wrote");
		fill(e.src, 1 << 20, 9);
		res = !memcmp(e.dst + 11, e.src, 1 << 20) && !e.dst[10] &&
		      !e.dst[11 + (1 << 20)];
		fill(e.src, 4095, 10);
		res = res && !memcmp(e.dst + (3 << 20) / 2 + 7, e.src, 4095);
		CHECK(res,
		      "server: 1 MiB and 4095 bytes written byte for byte");
		CHECK(write(fd, &res, 1) == 1, "result sent");
		/* Our QP must live until the client's last request. */
		CHECK(read(fd, &ok, 1) == 1, "client finished");
	} else {
		struct ibv_sge sge[3];
		struct ibv_wc wc;
		int i;

		fill(e.src + 5, 1 << 20, 9);
		for (i = 0; i < 3; i++) {
			sge[i].addr =
				(uintptr_t)e.src + 5 + (uint64_t)i * 300000;
			sge[i].length = i < 2 ? 300000 : (1 << 20) - 600000;
			sge[i].lkey = e.smr->lkey;
		}
		CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 1, sge, 3,
				 them.addr + 11, them.rkey, 0, 0) &&
			      !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS,
		      "WRITE 1 MiB (3 SGEs) to the peer: %s",
		      ibv_wc_status_str(wc.status));
		fill(e.src + 4096 + 3, 4095, 10);
		sge[0].addr = (uintptr_t)e.src + 4096 + 3;
		sge[0].length = 4095;
		CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 2, sge, 1,
				 them.addr + (3 << 20) / 2 + 7, them.rkey, 0,
				 0) &&
			      !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS,
		      "WRITE 4095 bytes at odd offsets to the peer: %s",
		      ibv_wc_status_str(wc.status));
		CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 3, NULL, 0, 0, 0, 0,
				 0) &&
			      !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS,
		      "zero-length WRITE rkey 0 to the peer: %s",
		      ibv_wc_status_str(wc.status));
		ok = 1;
		CHECK(write(fd, &ok, 1) == 1 && read(fd, &res, 1) == 1 &&
			      res == 1,
		      "server found the data");
		CHECK(!post_rdma(qp, IBV_WR_RDMA_WRITE, 4, sge, 1, them.addr,
				 them.rkey ^ 0x80, 0, 0) &&
			      !wait_wc(e.scq, &wc) &&
			      wc.status == IBV_WC_REM_ACCESS_ERR,
		      "bad rkey to the peer: IBV_WC_REM_ACCESS_ERR (%s)",
		      ibv_wc_status_str(wc.status));
		CHECK(query_state(qp) == IBV_QPS_ERR, "QP in ERR");
		CHECK(write(fd, &ok, 1) == 1, "finished");
	}
	close(fd);
	CHECK(!ibv_destroy_qp(qp), "destroy QP");
	CHECK(!ibv_dereg_mr(e.smr) && !ibv_dereg_mr(e.dmr), "dereg MRs");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return do_loop(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return do_peer(argv[2], NULL, atoi(argv[3]), false, false);
	if (argc == 5 && !strcmp(argv[1], "client"))
		return do_peer(argv[2], argv[3], atoi(argv[4]), false, false);
	if (argc == 5 && !strcmp(argv[1], "linkloss"))
		return do_peer(argv[2], argv[3], atoi(argv[4]), true, false);
	if (argc == 4 && !strcmp(argv[1], "sserver"))
		return do_peer(argv[2], NULL, atoi(argv[3]), false, true);
	if (argc == 5 && !strcmp(argv[1], "sclient"))
		return do_peer(argv[2], argv[3], atoi(argv[4]), false, true);
	fprintf(stderr,
		"usage: %s loop DEV | server|sserver DEV PORT | "
		"client|sclient|linkloss DEV IP PORT\n",
		argv[0]);
	return 2;
}
