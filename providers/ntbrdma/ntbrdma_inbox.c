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
 * NTBRDMA_INBOX=0 in the environment creates QPs without inboxes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma.h"
#include "ntbrdma_qp.h"

_Static_assert(sizeof(struct ntbrdma_inbox_ent) == 32, "inbox slot");
_Static_assert(offsetof(struct ntbrdma_wq_ctrl, rx_taken) == 128, "rx_taken");

#define NTB_INBOX_MIN_BYTES 4096

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

int ntb_inbox_alloc(struct ntb_qp *qp, struct ibv_pd *pd, uint32_t max_recv_wr,
		    struct ntbrdma_create_qp *req)
{
	struct ntb_inbox *in = &qp->inbox;
	uint32_t order = 1, rq = 1; /* order 0 would mean "no inbox" */
	size_t size;
	int err;

	/* The kernel rounds the RQ up to a power of two, as we do here. */
	while (rq < max_recv_wr && rq < (1U << (NTB_INBOX_MAX_ORDER - 1)))
		rq <<= 1;
	while (order < NTB_INBOX_MAX_ORDER && (1U << order) < 2 * rq)
		order++;
	size = sizeof(struct ntbrdma_inbox_ent) << order;
	if (size < NTB_INBOX_MIN_BYTES)
		size = NTB_INBOX_MIN_BYTES;
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
	return 0;
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
	in->ent = NULL;
	in->wr_id = NULL;
	in->len = NULL;
	in->mr = NULL;
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
			  struct ntbrdma_cqe *cqe)
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
	/* A SEND is never longer than its receive (a lying writer). */
	if (cqe->status == IBV_WC_SUCCESS &&
	    !(flags & NTBRDMA_INBOX_F_WRITE_IMM) &&
	    cqe->byte_len > qp->inbox.len[k])
		cqe->status = IBV_WC_LOC_LEN_ERR;
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
		ntb_inbox_cqe(qp, n, s, &cqe);
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
		ntb_cq_priv_push_mark(cq, &cqe, mark);
	}
}

void ntb_inbox_poll(struct ntb_cq *cq)
{
	struct ntb_qp *qp;

	for (qp = cq->inbox_qps; qp; qp = qp->inbox.cq_next)
		ntb_inbox_take(cq, qp);
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
