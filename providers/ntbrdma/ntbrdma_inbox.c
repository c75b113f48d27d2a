// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: receive inboxes (Documentation/rdma-datapath.md, "Stage
 * A").  An RC or UC QP without an SRQ gets, at creation, an inbox: slots
 * of struct ntbrdma_inbox_ent (twice its RQ's size) in our memory,
 * registered as an MR with LOCAL_WRITE in the QP's PD.  The peer's kernel
 * writes the completion of each message it placed in a receive of ours
 * there, through the NTB, before it tells our kernel; our kernel writes
 * every other completion of the RQ there except flushes.  poll_cq takes
 * them from the inboxes of the QPs that feed the CQ, without waiting for
 * our kernel's interrupt and work.
 *
 * Shared words (the RQ ring's control page, include/rdma/ntbrdma-abi.h):
 * rx_epoch (kernel-owned: the epoch a slot's tag must carry) and rx_taken
 * (ours: the next receive to take; we claim receive n with a
 * compare-and-swap n -> n + 1, which fails once the kernel froze the
 * word to flush the RQ: what we did not take, the kernel puts into the
 * CQ ring itself).
 *
 * A receive's RQ slot is free again once the kernel consumed it (cons),
 * as an HCA frees it when it makes the completion, whether or not the
 * application polled: the RQ has room for max_recv_wr posted receives
 * however many completions wait.  What a completion needs of its
 * receive (wr_id, length) is kept here at post_recv, in shadow entries
 * indexed like the slots.  Receive n may be posted only once the
 * completion of receive n - S was taken (S slots); a post that finds its
 * slot not free first takes the inbox's completions into the CQ's
 * private queue, as poll_cq would (ntb_inbox_room).
 *
 * Stage B (ntbrdma_eager.c): the inbox MR also holds a status page and
 * 64 payload slots of 1 KiB; a slot with NTBRDMA_INBOX_F_EAGER was
 * written by the peer's provider, its payload is copied here into the
 * receive's SGEs (kept at post_recv) once the slot is claimed, or, when
 * the kernel's flush took it, when the ring entry that says so is
 * returned (ntb_inbox_ring_fixup).  After taking, our rx_taken goes into
 * the peer's status page as its credit; arming the CQ sets `armed`
 * there (ntb_inbox_arm).
 *
 * NTBRDMA_INBOX=0 in the environment creates QPs without inboxes;
 * NTBRDMA_EAGER=0 creates inboxes without eager areas.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma.h"
#include "ntbrdma_qp.h"

_Static_assert(sizeof(struct ntbrdma_inbox_ent) == 32, "inbox slot");
_Static_assert(offsetof(struct ntbrdma_wq_ctrl, rx_taken) == 128, "rx_taken");

#define NTB_INBOX_MIN_BYTES 4096

/* Eager payload slots: 64 of 1 KiB (Documentation/rdma-datapath.md). */
#define NTB_EAGER_ORDER 6

bool ntb_inbox_wanted(const struct ibv_qp_init_attr_ex *attr)
{
	const char *env = getenv("NTBRDMA_INBOX");

	if (env && !strcmp(env, "0"))
		return false;
	return (attr->qp_type == IBV_QPT_RC || attr->qp_type == IBV_QPT_UC) &&
	       !attr->srq;
}

/* Slots at most (twice the largest RQ): the kernel's limit too. */
#define NTB_INBOX_MAX_ORDER 15

/* NTBRDMA_EAGER=0 in the environment: no eager area. */
static uint32_t ntb_eager_order(void)
{
	const char *env = getenv("NTBRDMA_EAGER");

	return env && !strcmp(env, "0") ? 0 : NTB_EAGER_ORDER;
}

int ntb_inbox_alloc(struct ntb_qp *qp, struct ibv_pd *pd, uint32_t max_recv_wr,
		    uint32_t max_recv_sge, struct ntbrdma_create_qp *req)
{
	struct ntb_inbox *in = &qp->inbox;
	uint32_t order = 1, rq = 1; /* order 0 would mean "no inbox" */
	uint32_t eager = ntb_eager_order();
	size_t size;
	int err;

	/* The kernel rounds the RQ up to a power of two, as we do here. */
	while (rq < max_recv_wr && rq < (1U << (NTB_INBOX_MAX_ORDER - 1)))
		rq <<= 1;
	while (order < NTB_INBOX_MAX_ORDER && (1U << order) < 2 * rq)
		order++;
	/*
	 * With an eager area: the slots, a status page, the payload slots
	 * (include/rdma/ntbrdma-abi.h); pages the peer maps whole.
	 */
	if (eager && rq <= NTBRDMA_PUB_ENTRIES) {
		size = NTBRDMA_INBOX_BYTES(order, eager);
		in->max_sge = max_recv_sge ? max_recv_sge : 1;
		in->sge =
			calloc((size_t)in->max_sge << order, sizeof(*in->sge));
		in->nsge = calloc((size_t)1 << order, sizeof(*in->nsge));
		if (!in->sge || !in->nsge) {
			ntb_inbox_free(qp);
			return ENOMEM;
		}
	} else {
		eager = 0;
		size = sizeof(struct ntbrdma_inbox_ent) << order;
		if (size < NTB_INBOX_MIN_BYTES)
			size = NTB_INBOX_MIN_BYTES;
	}
	in->wr_id = calloc((size_t)1 << order, sizeof(*in->wr_id));
	in->len = calloc((size_t)1 << order, sizeof(*in->len));
	if (!in->wr_id || !in->len ||
	    posix_memalign((void **)&in->ent, NTB_INBOX_MIN_BYTES, size)) {
		in->ent = NULL;
		ntb_inbox_free(qp);
		return ENOMEM;
	}
	/* Tag 0 never matches: the kernel's epochs start at 1. */
	memset(in->ent, 0, size);
	in->mr = ibv_reg_mr(pd, in->ent, size, IBV_ACCESS_LOCAL_WRITE);
	if (!in->mr) {
		err = errno ? errno : ENOMEM;
		ntb_inbox_free(qp);
		return err;
	}
	in->size = size;
	in->order = order;
	req->inbox_va = (uintptr_t)in->ent;
	req->inbox_lkey = in->mr->lkey;
	req->inbox_order = order;
	req->eager_order = eager;
	return 0;
}

void ntb_inbox_eager_on(struct ntb_qp *qp, uint32_t eager_order)
{
	struct ntb_inbox *in = &qp->inbox;

	if (!eager_order || eager_order > 8 || !in->sge ||
	    in->size != NTBRDMA_INBOX_BYTES(in->order, eager_order))
		return;
	in->eager_order = eager_order;
	in->status = (struct ntbrdma_inbox_status *)((char *)in->ent +
						     NTBRDMA_INBOX_STATUS_OFF(
							     in->order));
	in->payload = (char *)in->ent + NTBRDMA_INBOX_PAYLOAD_OFF(in->order);
}

void ntb_inbox_free(struct ntb_qp *qp)
{
	struct ntb_inbox *in = &qp->inbox;

	/*
	 * After destroy_qp: the peer may still write until our kernel's
	 * dereg_mr returns (it waits for the peer to let go of the MR).
	 */
	if (in->mr)
		(void)ibv_dereg_mr(in->mr);
	free(in->ent);
	free(in->wr_id);
	free(in->len);
	free(in->sge);
	free(in->nsge);
	in->ent = NULL;
	in->wr_id = NULL;
	in->len = NULL;
	in->sge = NULL;
	in->nsge = NULL;
	in->mr = NULL;
	in->status = NULL;
	in->payload = NULL;
	in->eager_order = 0;
	in->on = false;
}

void ntb_inbox_attach(struct ntb_qp *qp)
{
	struct ntb_cq *cq = to_cq(qp->ibqp.recv_cq);

	pthread_spin_lock(&cq->lock);
	qp->inbox.cq_next = cq->inbox_qps;
	cq->inbox_qps = qp;
	pthread_spin_unlock(&cq->lock);
}

void ntb_inbox_detach(struct ntb_qp *qp)
{
	struct ntb_cq *cq = to_cq(qp->ibqp.recv_cq);
	struct ntb_qp **pp;

	pthread_spin_lock(&cq->lock);
	for (pp = &cq->inbox_qps; *pp; pp = &(*pp)->inbox.cq_next) {
		if (*pp == qp) {
			*pp = qp->inbox.cq_next;
			break;
		}
	}
	pthread_spin_unlock(&cq->lock);
}

/* Receive n's completion from its slot s (untrusted) as a CQE. */
static void ntb_inbox_cqe(struct ntb_qp *qp, uint32_t n,
			  const struct ntbrdma_inbox_ent *s,
			  struct ntbrdma_cqe *cqe, bool *eager)
{
	uint32_t flags = s->flags, status = s->status;
	uint32_t k = n & ((1U << qp->inbox.order) - 1);

	memset(cqe, 0, sizeof(*cqe));
	cqe->wr_id = qp->inbox.wr_id[k];
	cqe->qp_num = qp->ibqp.qp_num;
	cqe->port_num = 1;
	cqe->byte_len = s->byte_len;
	cqe->opcode = flags & NTBRDMA_INBOX_F_WRITE_IMM ?
			      IBV_WC_RECV_RDMA_WITH_IMM :
			      IBV_WC_RECV;
	if (flags & NTBRDMA_INBOX_F_IMM) {
		cqe->ex = s->imm;
		cqe->wc_flags = NTBRDMA_CQE_F_WITH_IMM;
	}
	cqe->status = status <= IBV_WC_GENERAL_ERR ? status :
						     IBV_WC_GENERAL_ERR;
	*eager = flags & NTBRDMA_INBOX_F_EAGER;
	/* A SEND is never longer than its receive (a lying writer). */
	if (cqe->status == IBV_WC_SUCCESS &&
	    !(flags & NTBRDMA_INBOX_F_WRITE_IMM) &&
	    cqe->byte_len > qp->inbox.len[k])
		cqe->status = IBV_WC_LOC_LEN_ERR;
}

/*
 * Receive n's eager payload (payload slot n mod E; untrusted length,
 * checked against the receive by ntb_inbox_cqe and against the slot
 * here) into the SGEs its post_recv gave, each inside an MR of ours with
 * LOCAL_WRITE in the QP's PD - else LOC_PROT_ERR, as an HCA reports a
 * receive it cannot write.
 */
static bool ntb_inbox_eager_copy(struct ntb_qp *qp, uint32_t n,
				 struct ntbrdma_cqe *cqe)
{
	struct ntb_context *ctx = to_ctx(qp->ibqp.context);
	struct ntb_inbox *in = &qp->inbox;
	uint32_t k = n & ((1U << in->order) - 1);
	const char *src;
	struct ibv_send_wr wr;
	uint32_t left;
	int i;

	if (cqe->status != IBV_WC_SUCCESS)
		return true;
	if (!in->eager_order || cqe->byte_len > NTBRDMA_EAGER_MAX ||
	    cqe->opcode != IBV_WC_RECV) {
		cqe->status = IBV_WC_LOC_PROT_ERR;
		return false;
	}
	src = in->payload +
	      (size_t)(n & ((1U << in->eager_order) - 1)) * NTBRDMA_EAGER_MAX;
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &in->sge[(size_t)k * in->max_sge];
	wr.num_sge = in->nsge[k];
	pthread_rwlock_rdlock(&ctx->mr_lock);
	if (!ntb_sges_ok(ctx, qp->ibqp.pd, &wr, IBV_ACCESS_LOCAL_WRITE)) {
		pthread_rwlock_unlock(&ctx->mr_lock);
		cqe->status = IBV_WC_LOC_PROT_ERR;
		return false;
	}
	left = cqe->byte_len;
	for (i = 0; i < wr.num_sge && left; i++) {
		uint32_t c = wr.sg_list[i].length < left ?
				     wr.sg_list[i].length :
				     left;

		memcpy((void *)(uintptr_t)wr.sg_list[i].addr, src, c);
		src += c;
		left -= c;
	}
	pthread_rwlock_unlock(&ctx->mr_lock);
	return true;
}

void ntb_inbox_ring_fixup(struct ntb_cq *cq, struct ntbrdma_cqe *cqe)
{
	struct ntb_qp *qp;

	if (cqe->vendor_err != NTBRDMA_CQE_VENDOR_EAGER)
		return;
	for (qp = cq->inbox_qps; qp; qp = qp->inbox.cq_next)
		if (qp->ibqp.qp_num == cqe->qp_num)
			break;
	/* The entry is ours to consume: the kernel reuses it after cons. */
	cqe->vendor_err = 0;
	if (!qp || cqe->status != IBV_WC_SUCCESS ||
	    cqe->byte_len >
		    qp->inbox.len[cqe->src_qp & ((1U << qp->inbox.order) - 1)]) {
		if (cqe->status == IBV_WC_SUCCESS)
			cqe->status = IBV_WC_LOC_LEN_ERR;
	} else {
		(void)ntb_inbox_eager_copy(qp, cqe->src_qp, cqe);
	}
	cqe->src_qp = 0;
}

/*
 * A receive completed in error by us: the QP goes to ERR, as the kernel
 * moves it for a receive that failed there.
 */
static void ntb_inbox_fail(struct ntb_qp *qp)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct ibv_modify_qp cmd;

	memset(&cmd, 0, sizeof(cmd));
	(void)ibv_cmd_modify_qp(&qp->ibqp, &attr, IBV_QP_STATE, &cmd,
				sizeof(cmd));
}

/*
 * Under cq->lock: take what qp's inbox holds for us, in order, into the
 * CQ's private queue while it has room.
 */
static void ntb_inbox_take(struct ntb_cq *cq, struct ntb_qp *qp)
{
	struct ntbrdma_wq_ctrl *ctrl = qp->rq.ctrl;
	const struct ntbrdma_inbox_ent *s;
	struct ntbrdma_cqe cqe;
	uint64_t taken, want;
	uint32_t n, epoch, mark;
	bool eager;

	for (;;) {
		if (!ntb_cq_priv_room(cq))
			return;
		taken = __atomic_load_n(&ctrl->rx_taken, __ATOMIC_ACQUIRE);
		if (taken & NTBRDMA_RX_FROZEN)
			return; /* flushed: the kernel has the rest */
		n = (uint32_t)taken;
		epoch = __atomic_load_n(&ctrl->rx_epoch, __ATOMIC_ACQUIRE);
		s = &qp->inbox.ent[n & ((1U << qp->inbox.order) - 1)];
		want = (uint64_t)epoch << 32 | n;
		/* Tag, then the body its writer stored before it. */
		if (__atomic_load_n(&s->tag, __ATOMIC_ACQUIRE) != want)
			return;
		ntb_inbox_cqe(qp, n, s, &cqe, &eager);
		/*
		 * The ring's prod before the claim: a flush that freezes
		 * after our claim puts its entries after this mark, so the
		 * completion goes before them, as it happened.
		 */
		mark = __atomic_load_n(&cq->ctrl->prod, __ATOMIC_ACQUIRE);
		if (!__atomic_compare_exchange_n(
			    &ctrl->rx_taken, &taken, taken + 1, false,
			    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return; /* frozen meanwhile */
		/* Ours now (the flush no longer takes it): its payload. */
		if (eager && !ntb_inbox_eager_copy(qp, n, &cqe)) {
			ntb_cq_priv_push_mark(cq, &cqe, mark);
			ntb_inbox_fail(qp);
			continue;
		}
		ntb_cq_priv_push_mark(cq, &cqe, mark);
	}
}

bool ntb_inbox_kick_later(struct ntb_qp *qp)
{
	struct ntbrdma_wq_ctrl *ctrl = qp->rq.ctrl;
	uint64_t taken;
	uint32_t pub;

	if (!qp->inbox.eager_order)
		return false;
	taken = __atomic_load_n(&ctrl->rx_taken, __ATOMIC_ACQUIRE);
	if (taken & NTBRDMA_RX_FROZEN)
		return false;
	/* Kernel-owned: what it published; untrusted here only by us. */
	pub = __atomic_load_n(&ctrl->rx_pub, __ATOMIC_ACQUIRE);
	return pub - (uint32_t)taken <= qp->rq.num_wqe &&
	       pub - (uint32_t)taken >= NTB_PUB_LOW(qp->rq.num_wqe);
}

/*
 * After a poll took completions: receives posted but not published (a
 * kick left for later) are published now if the peer holds few.
 */
static void ntb_inbox_kick_due(struct ntb_qp *qp)
{
	struct ntbrdma_wq_ctrl *ctrl = qp->rq.ctrl;
	struct ibv_recv_wr kick = {};
	struct ibv_recv_wr *bad;

	if (!qp->inbox.eager_order ||
	    __atomic_load_n(&ctrl->prod, __ATOMIC_ACQUIRE) ==
		    __atomic_load_n(&ctrl->rx_pub, __ATOMIC_ACQUIRE) ||
	    ntb_inbox_kick_later(qp))
		return;
	/* Our prod store before the engine word: pairs with the kernel. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctrl->engine, __ATOMIC_ACQUIRE) &
	    NTBRDMA_WQ_ENGINE_RUNNING)
		return;
	(void)ibv_cmd_post_recv(&qp->ibqp, &kick, &bad);
}

void ntb_inbox_poll(struct ntb_cq *cq)
{
	struct ntb_qp *qp;

	for (qp = cq->inbox_qps; qp; qp = qp->inbox.cq_next) {
		ntb_inbox_take(cq, qp);
		ntb_eager_status(qp, false);
		ntb_inbox_kick_due(qp);
	}
}

void ntb_inbox_arm(struct ntb_cq *cq)
{
	struct ntb_qp *qp;

	for (qp = cq->inbox_qps; qp; qp = qp->inbox.cq_next)
		ntb_eager_status(qp, true);
}

void ntb_inbox_note(struct ntb_qp *qp, uint32_t n, uint64_t wr_id,
		    const struct ibv_sge *sge, int nsge)
{
	uint32_t k = n & ((1U << qp->inbox.order) - 1);
	uint64_t len = 0;
	int i;

	for (i = 0; i < nsge; i++)
		len += sge[i].length;
	qp->inbox.wr_id[k] = wr_id;
	/* Longer than any message (2^31 bytes): as long as any. */
	qp->inbox.len[k] = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	/* For an eager payload's copy (post_recv checked nsge). */
	if (qp->inbox.sge && (uint32_t)nsge <= qp->inbox.max_sge) {
		memcpy(&qp->inbox.sge[(size_t)k * qp->inbox.max_sge], sge,
		       (size_t)nsge * sizeof(*sge));
		qp->inbox.nsge[k] = (uint8_t)nsge;
	}
}

/*
 * Room for receive rq.prod: its RQ slot is free once the kernel consumed
 * or we took the receive a ring before it (an HCA frees it with the
 * completion), its inbox slot and shadow entry once we took the one S
 * before it.  Frozen (flushed): the kernel's cons alone.
 */
static bool ntb_inbox_free_slot(struct ntb_qp *qp, bool *ring_full)
{
	struct ntb_wq *wq = &qp->rq;
	/* Pairs with the kernel's store-release of cons after reading. */
	uint32_t cons = __atomic_load_n(&wq->ctrl->cons, __ATOMIC_ACQUIRE);
	uint64_t taken = __atomic_load_n(&wq->ctrl->rx_taken, __ATOMIC_ACQUIRE);
	uint32_t base = cons;

	if (!(taken & NTBRDMA_RX_FROZEN) &&
	    (int32_t)((uint32_t)taken - cons) > 0)
		base = (uint32_t)taken;
	*ring_full = wq->prod - base >= wq->num_wqe;
	return !*ring_full &&
	       ((taken & NTBRDMA_RX_FROZEN) ||
		wq->prod - (uint32_t)taken < (1U << qp->inbox.order));
}

bool ntb_inbox_room(struct ntb_qp *qp)
{
	struct ntb_cq *cq;
	bool ring_full;

	if (ntb_inbox_free_slot(qp, &ring_full))
		return true;
	/*
	 * Take the completions waiting, as poll_cq would: a receive whose
	 * completion is in the inbox no longer needs its RQ slot, even if
	 * our kernel did not see its RECV_DONE yet.
	 */
	cq = to_cq(qp->ibqp.recv_cq);
	pthread_spin_lock(&cq->lock);
	ntb_inbox_take(cq, qp);
	pthread_spin_unlock(&cq->lock);
	return ntb_inbox_free_slot(qp, &ring_full);
}
