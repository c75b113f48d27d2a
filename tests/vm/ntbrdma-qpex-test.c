// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-qpex-test: the extended QP's posting interface (ibv_wr_*) of
 * libntbrdma, for tests/vm/ntbrdma-engine.sh.
 *
 *   ntbrdma-qpex-test loop DEV              requester and responder QPs in
 *                                           one process (loopback)
 *   ntbrdma-qpex-test server DEV PORT       the responder, on one host
 *   ntbrdma-qpex-test client DEV IP PORT    the requester, on the other
 *
 * The requester posts one batch between ibv_wr_start and ibv_wr_complete:
 * an RDMA WRITE of two whole pages (done in user space host to host), a
 * SEND of inline data whose buffer is overwritten before the batch is
 * posted, a WRITE_WITH_IMM from two SGEs, a READ of what the WRITE wrote,
 * FETCH_AND_ADD and CMP_AND_SWAP; it checks the six completions in order,
 * the READ's bytes and the atomics' old values.  The responder checks its
 * two receive completions, the bytes that landed in its buffer and the
 * atomics' result.  loop then checks the batch rules: ibv_wr_abort drops
 * the batch, and a bad request (too many SGEs, too much inline data, a
 * setter before any operation, more requests than the send queue holds)
 * fails ibv_wr_complete with its errno and posts nothing of the batch;
 * and create: unsupported send_ops_flags are EOPNOTSUPP, and a QP made
 * by ibv_create_qp has no extended interface.  Every check prints
 * "ok - ..." or "FAIL - ..."; the exit code is 0 only if all passed.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define SQ_DEPTH 64
#define WR_LEN 8192 /* the WRITE: two whole pages at dst + 0 */
#define SEND_AT (64u << 10) /* receive 1: the SEND */
#define IMM_AT (96u << 10) /* WRITE_WITH_IMM's target */
#define ATOMIC_AT (128u << 10) /* the atomics' word */
#define READ_TO (1u << 20) /* the READ, into the requester's src */
#define OLD_TO (READ_TO + (64u << 10)) /* the atomics' old values */
#define IMM 0x12345678u
#define ADD 5u
#define SWAP 77u

static const char inline_msg[] = "ibv_wr inline 16";

static struct ibv_qp *make_qpex(struct env *e, enum ibv_qp_type type,
				uint64_t ops)
{
	struct ibv_qp_init_attr_ex ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.qp_type = type;
	ia.cap.max_send_wr = SQ_DEPTH;
	ia.cap.max_recv_wr = SQ_DEPTH;
	ia.cap.max_send_sge = 4;
	ia.cap.max_recv_sge = 4;
	ia.cap.max_inline_data = 64;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ia.pd = e->pd;
	ia.send_ops_flags = ops;
	return ibv_create_qp_ex(e->ctx, &ia);
}

static struct ibv_qp *make_rc_qpex(struct env *e)
{
	struct ibv_qp *qp;

	qp = make_qpex(e, IBV_QPT_RC,
		       IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE |
			       IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			       IBV_QP_EX_WITH_RDMA_READ |
			       IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			       IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD);
	CHECK(qp && ibv_qp_to_qp_ex(qp), "create_qp_ex RC with send_ops_flags");
	return qp;
}

/* The responder's receives: one for the SEND, one for WRITE_WITH_IMM. */
static int post_receives(struct env *e, struct ibv_qp *qp)
{
	struct ibv_sge sge = { .addr = (uintptr_t)e->dst + SEND_AT,
			       .length = 256,
			       .lkey = e->dmr->lkey };

	return post_recv(qp, 101, &sge, 1) || post_recv(qp, 102, NULL, 0);
}

/* The batch, posted at the responder's buffer raddr/rkey. */
static void post_batch(struct env *e, struct ibv_qp *qp, uint64_t raddr,
		       uint32_t rkey)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(qp);
	struct ibv_sge two[2] = {
		{ .addr = (uintptr_t)e->src + 16384,
		  .length = 100,
		  .lkey = e->smr->lkey },
		{ .addr = (uintptr_t)e->src + 20480,
		  .length = 200,
		  .lkey = e->smr->lkey },
	};
	char msg[sizeof(inline_msg)];
	int ret;

	fill(e->src, WR_LEN, 1);
	fill(e->src + 16384, 100, 2);
	fill(e->src + 20480, 200, 3);
	memset(e->src + READ_TO, 0, WR_LEN);
	memset(e->src + OLD_TO, 0xee, 16);
	memcpy(msg, inline_msg, sizeof(msg));

	ibv_wr_start(x);
	x->wr_flags = IBV_SEND_SIGNALED;
	x->wr_id = 1;
	ibv_wr_rdma_write(x, rkey, raddr);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, WR_LEN);
	x->wr_id = 2;
	ibv_wr_send(x);
	ibv_wr_set_inline_data(x, msg, 16);
	memset(msg, 'X', sizeof(msg)); /* copied already: must not matter */
	x->wr_id = 3;
	ibv_wr_rdma_write_imm(x, rkey, raddr + IMM_AT, htobe32(IMM));
	ibv_wr_set_sge_list(x, 2, two);
	x->wr_id = 4;
	ibv_wr_rdma_read(x, rkey, raddr);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src + READ_TO, WR_LEN);
	x->wr_id = 5;
	ibv_wr_atomic_fetch_add(x, rkey, raddr + ATOMIC_AT, ADD);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src + OLD_TO, 8);
	x->wr_id = 6;
	ibv_wr_atomic_cmp_swp(x, rkey, raddr + ATOMIC_AT, ADD, SWAP);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src + OLD_TO + 8, 8);
	ret = ibv_wr_complete(x);
	CHECK(!ret, "ibv_wr_complete of 6 requests (%s)", strerror(ret));
}

/* The requester's completions and what came back into its buffer. */
static void check_requester(struct env *e)
{
	static const enum ibv_wc_opcode op[] = {
		IBV_WC_RDMA_WRITE, IBV_WC_SEND,	     IBV_WC_RDMA_WRITE,
		IBV_WC_RDMA_READ,  IBV_WC_FETCH_ADD, IBV_WC_COMP_SWAP,
	};
	unsigned char want[WR_LEN];
	struct ibv_wc wc;
	uint64_t old[2];
	unsigned int i;

	for (i = 0; i < 6; i++) {
		if (wait_wc(e->scq, &wc)) {
			CHECK(0, "completion %u of the batch", i + 1);
			return;
		}
		CHECK(wc.wr_id == i + 1 && wc.status == IBV_WC_SUCCESS &&
			      wc.opcode == op[i],
		      "completion %u: wr_id %llu status %s opcode %d", i + 1,
		      (unsigned long long)wc.wr_id,
		      ibv_wc_status_str(wc.status), wc.opcode);
	}
	fill(want, WR_LEN, 1);
	CHECK(!memcmp(e->src + READ_TO, want, WR_LEN),
	      "READ brought back the %u bytes the WRITE wrote", WR_LEN);
	memcpy(old, e->src + OLD_TO, sizeof(old));
	CHECK(old[0] == 0 && old[1] == ADD,
	      "atomics' old values 0 and %u (got %llu and %llu)", ADD,
	      (unsigned long long)old[0], (unsigned long long)old[1]);
}

/* The responder's receive completions and buffer. */
static void check_responder(struct env *e)
{
	unsigned char want[WR_LEN];
	struct ibv_wc wc;

	if (wait_wc(e->rcq, &wc) == 0)
		CHECK(wc.wr_id == 101 && wc.status == IBV_WC_SUCCESS &&
			      wc.opcode == IBV_WC_RECV && wc.byte_len == 16 &&
			      !memcmp(e->dst + SEND_AT, inline_msg, 16),
		      "SEND of inline data received (wr_id %llu, %u bytes, "
		      "'%.16s')",
		      (unsigned long long)wc.wr_id, wc.byte_len,
		      (char *)e->dst + SEND_AT);
	else
		CHECK(0, "SEND received");
	if (wait_wc(e->rcq, &wc) == 0)
		CHECK(wc.wr_id == 102 && wc.status == IBV_WC_SUCCESS &&
			      wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
			      (wc.wc_flags & IBV_WC_WITH_IMM) &&
			      be32toh(wc.imm_data) == IMM,
		      "WRITE_WITH_IMM received (wr_id %llu, imm 0x%x)",
		      (unsigned long long)wc.wr_id, be32toh(wc.imm_data));
	else
		CHECK(0, "WRITE_WITH_IMM received");
	fill(want, WR_LEN, 1);
	CHECK(!memcmp(e->dst, want, WR_LEN), "the WRITE's %u bytes landed",
	      WR_LEN);
	fill(want, 100, 2);
	fill(want + 100, 200, 3);
	CHECK(!memcmp(e->dst + IMM_AT, want, 300),
	      "WRITE_WITH_IMM's two SGEs landed in order");
}

/*
 * The responder's word after the atomics, once the requester has their
 * completions (they come after the SEND and WRITE_WITH_IMM in the batch:
 * nothing orders them before those receive completions).
 */
static void check_atomic_word(struct env *e)
{
	uint64_t word;

	memcpy(&word, e->dst + ATOMIC_AT, sizeof(word));
	CHECK(word == SWAP, "atomic word %u after FETCH_ADD and CMP_SWP (%llu)",
	      SWAP, (unsigned long long)word);
}

/* Nothing completes on cq within 300 ms (a batch that must not post). */
static void expect_nothing(struct ibv_cq *cq, const char *what)
{
	struct ibv_wc wc;
	int i, n = 0;

	for (i = 0; i < 30 && !n; i++) {
		usleep(10000);
		n = ibv_poll_cq(cq, 1, &wc);
	}
	CHECK(n == 0, "%s: nothing posted (%d completion(s), wr_id %llu)", what,
	      n, n > 0 ? (unsigned long long)wc.wr_id : 0ULL);
}

/* The batch rules, on the loopback QP a (connected, idle). */
static void check_rules(struct env *e, struct ibv_qp *a)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a);
	struct ibv_sge sges[17];
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	uint32_t nsge, ninl;
	char big[257] = { 0 };
	struct ibv_wc wc;
	int i, ret;

	/* One more than the kernel granted (at least what was asked). */
	if (ibv_query_qp(a, &attr, IBV_QP_CAP, &init)) {
		CHECK(0, "query_qp");
		return;
	}
	nsge = init.cap.max_send_sge + 1;
	ninl = init.cap.max_inline_data + 1;
	if (nsge > 17 || ninl > sizeof(big)) {
		CHECK(0,
		      "caps %u SGEs, %u inline bytes: more than the device's",
		      nsge - 1, ninl - 1);
		return;
	}
	for (i = 0; i < 17; i++)
		sges[i] = (struct ibv_sge){ .addr = (uintptr_t)e->src,
					    .length = 8,
					    .lkey = e->smr->lkey };
	x->wr_flags = IBV_SEND_SIGNALED;

	ibv_wr_start(x);
	x->wr_id = 201;
	ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, 8);
	ibv_wr_abort(x);
	expect_nothing(e->scq, "ibv_wr_abort");

	ibv_wr_start(x);
	x->wr_id = 202;
	ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, 8);
	x->wr_id = 203;
	ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
	ibv_wr_set_sge_list(x, nsge, sges);
	ret = ibv_wr_complete(x);
	CHECK(ret == EINVAL, "%u SGEs on a QP of %u: ibv_wr_complete %s", nsge,
	      nsge - 1, strerror(ret));
	expect_nothing(e->scq, "a batch with too many SGEs in its second WR");

	ibv_wr_start(x);
	x->wr_id = 204;
	ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
	ibv_wr_set_inline_data(x, big, ninl);
	ret = ibv_wr_complete(x);
	CHECK(ret == EINVAL, "%u inline bytes on a QP of %u: %s", ninl,
	      ninl - 1, strerror(ret));

	ibv_wr_start(x);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, 8);
	ret = ibv_wr_complete(x);
	CHECK(ret == EINVAL, "a setter before any operation: %s",
	      strerror(ret));

	ibv_wr_start(x);
	for (i = 0; i <= SQ_DEPTH * 2; i++) {
		x->wr_id = 300 + i;
		ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
		ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, 8);
	}
	ret = ibv_wr_complete(x);
	CHECK(ret == ENOMEM, "%d requests on a send queue of %d: %s",
	      SQ_DEPTH * 2 + 1, SQ_DEPTH, strerror(ret));
	expect_nothing(e->scq, "a batch larger than the send queue");

	/* After all that, a good batch still goes. */
	ibv_wr_start(x);
	x->wr_id = 205;
	ibv_wr_rdma_write(x, e->dmr->rkey, (uintptr_t)e->dst);
	ibv_wr_set_sge(x, e->smr->lkey, (uintptr_t)e->src, 8);
	ret = ibv_wr_complete(x);
	CHECK(!ret && !wait_wc(e->scq, &wc) && wc.wr_id == 205 &&
		      wc.status == IBV_WC_SUCCESS,
	      "a good batch after the refused ones completes");
}

static void check_create(struct env *e)
{
	struct ibv_qp *qp;

	errno = 0;
	qp = make_qpex(e, IBV_QPT_RC, IBV_QP_EX_WITH_BIND_MW);
	CHECK(!qp && errno == EOPNOTSUPP, "send_ops_flags BIND_MW: %s",
	      qp ? "created" : strerror(errno));
	if (qp)
		ibv_destroy_qp(qp);
	errno = 0;
	qp = make_qpex(e, IBV_QPT_UD, IBV_QP_EX_WITH_RDMA_WRITE);
	CHECK(!qp && errno == EOPNOTSUPP, "UD with RDMA_WRITE: %s",
	      qp ? "created" : strerror(errno));
	if (qp)
		ibv_destroy_qp(qp);
	qp = make_qp(e);
	CHECK(qp && !ibv_qp_to_qp_ex(qp),
	      "a QP of ibv_create_qp has no extended interface");
	if (qp)
		ibv_destroy_qp(qp);
}

static int do_loop(const char *name)
{
	struct ibv_qp *a, *b;
	struct env e;

	if (env_open(&e, name)) {
		CHECK(0, "device, PD, CQs, MRs, GID");
		return 1;
	}
	memset(e.dst, 0, BUF_SIZE);
	a = make_rc_qpex(&e);
	b = make_rc_qpex(&e);
	if (!a || !b || connect_qp(&e, a, &e.gid, b->qp_num, 7) ||
	    connect_qp(&e, b, &e.gid, a->qp_num, 7) || post_receives(&e, b)) {
		CHECK(0, "loopback QPs connected, receives posted");
		return 1;
	}
	post_batch(&e, a, (uintptr_t)e.dst, e.dmr->rkey);
	check_requester(&e);
	check_responder(&e);
	check_atomic_word(&e);
	check_rules(&e, a);
	check_create(&e);
	return failures ? 1 : 0;
}

static int do_peer(const char *name, const char *ip, int port)
{
	struct peer p;

	memset(&p, 0, sizeof(p));
	if (env_open(&p.e, name)) {
		CHECK(0, "device, PD, CQs, MRs, GID");
		return 1;
	}
	if (peer_connect_qp(&p, make_rc_qpex(&p.e), ip, port))
		return 1;
	if (!ip) {
		CHECK(!post_receives(&p.e, p.qp), "server: receives posted");
		CHECK(!barrier(p.fd), "server: ready");
		check_responder(&p.e);
		CHECK(!barrier(p.fd), "server: the client has its completions");
		check_atomic_word(&p.e);
		CHECK(!barrier(p.fd), "server: done");
	} else {
		CHECK(!barrier(p.fd), "client: server ready");
		post_batch(&p.e, p.qp, p.them.addr, p.them.rkey);
		check_requester(&p.e);
		CHECK(!barrier(p.fd), "client: completions told");
		CHECK(!barrier(p.fd), "client: server done");
	}
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return do_loop(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return do_peer(argv[2], NULL, atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return do_peer(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr,
		"usage: %s loop DEV | server DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
