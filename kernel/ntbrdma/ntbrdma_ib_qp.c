// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: queue pairs - the QP object, its SQ and RQ rings and the IB
 * state machine.
 *
 * Each QP owns two rings (layout in include/rdma/ntbrdma-abi.h) in
 * vmalloc_user() memory, mapped into the provider for user QPs.  The
 * producer of a ring is the provider (user QPs) or ntbr_post_send and
 * ntbr_post_recv (kernel QPs); the kernel is its only consumer: the
 * engine (ntbrdma_ib_engine.c) executes send WQEs, receives are filled by
 * a loopback requester or published to the peer (ntbrdma_ib_peer.c); ERR
 * completes what is left with IB_WC_WR_FLUSH_ERR, RESET discards it.
 * A QP created on an SRQ receives from the SRQ (ntbrdma_ib_srq.c): its
 * RQ ring exists but is never mapped or written, so stays empty.
 * The ring memory belongs to its mmap entry once mapped (ntbrdma_ib_ctx.c).
 *
 * Everything the kernel reads back from a mapped ring (prod, the slots)
 * may have been written by a buggy or hostile process: prod is only
 * compared (prod - cons > num_wqe consumes nothing), slot contents are
 * copied into completions but never used as an index or a length.
 *
 * Locking: qp->mutex serialises modify_qp and query_qp (state, attr);
 * sq_lock/rq_lock serialise a ring's consumer (flush, reset) with the
 * kernel producer of kernel QPs.  ntbr_cq_post() takes the CQ's lock
 * inside them.
 */
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>
#include <rdma/rdma_netlink.h>
#include <rdma/restrack.h>

#include "ntbrdma_ib.h"

#define NTBR_QPN_MAX 0xffffff	/* 24-bit QP numbers; 0 and 1 reserved */
#define NTBR_PSN_MASK 0xffffff

/* What query_device reports is what a slot holds. */
static_assert(NTBR_MAX_SGE == NTBRDMA_MAX_SGE);
static_assert(NTBR_MAX_INLINE == NTBRDMA_MAX_INLINE);
static_assert(sizeof(struct ntbrdma_wq_ctrl) == NTBRDMA_WQ_WQE_OFFSET);
static_assert(sizeof(struct ntbrdma_send_wqe) == 320);
static_assert(sizeof(struct ntbrdma_recv_wqe) == 272);

int ntbr_wq_alloc(struct ntbr_wq *wq, u32 num_wqe, u32 wqe_size, u32 max_sge,
		  size_t extra)
{
	wq->num_wqe = num_wqe;
	wq->wqe_size = wqe_size;
	wq->max_sge = max_sge;
	wq->size = PAGE_ALIGN(NTBRDMA_WQ_WQE_OFFSET +
			      (size_t)num_wqe * wqe_size) + PAGE_ALIGN(extra);
	wq->buf = vmalloc_user(wq->size); /* zeroed: prod = cons = RESET = 0 */
	if (!wq->buf)
		return -ENOMEM;
	wq->ctrl = wq->buf;
	wq->wqe = wq->buf + NTBRDMA_WQ_WQE_OFFSET;
	wq->cons = 0;
	wq->prod = 0;
	wq->mmap_entry = NULL;
	return 0;
}

/* The kernel no longer uses the ring (its mapping entry frees a mapped one). */
void ntbr_wq_free(struct ntbr_wq *wq)
{
	ntbr_ring_buf_free(wq->buf, wq->mmap_entry);
	wq->mmap_entry = NULL;
	wq->buf = NULL;
}

void *ntbr_wq_slot(struct ntbr_wq *wq, u32 index)
{
	return wq->wqe + (size_t)(index & (wq->num_wqe - 1)) * wq->wqe_size;
}

/*
 * The producer's index as the consumer may use it: user rings are read
 * with acquire (slots written before prod) and checked.  Caller holds the
 * ring's lock.  Returns false for a broken producer.
 */
bool ntbr_wq_prod(struct ntbr_qp *qp, struct ntbr_wq *wq, u32 *prod)
{
	/*
	 * The RQ of a QP with an inbox: the provider may post again into
	 * the slots of receives whose completions it took from the inbox
	 * before our RECV_DONE work consumed them, up to a ring ahead of
	 * cons (ntbrdma_ib_inbox.c); we never read those slots again.
	 */
	u32 limit = wq == &qp->rq && qp->inbox ? 2 * wq->num_wqe : wq->num_wqe;

	/* Acquire: pairs with the producer's store-release after the slots. */
	*prod = qp->user ? smp_load_acquire(&wq->ctrl->prod) : wq->prod;
	if (*prod - wq->cons > limit) {
		ibdev_warn_ratelimited(qp->ibqp.device,
				       "QP %u: ring prod %u cons %u: ignored\n",
				       qp->ibqp.qp_num, *prod, wq->cons);
		return false;
	}
	return true;
}

/* Consumed up to cons: slots read before they are handed back. */
void ntbr_wq_set_cons(struct ntbr_wq *wq, u32 cons)
{
	wq->cons = cons;
	/* Release: the slots were read before the producer may reuse them. */
	smp_store_release(&wq->ctrl->cons, cons);
}

/* IB_UVERBS_WR_* (untrusted, from a slot) -> IB_UVERBS_WC_* */
u32 ntbr_wr_to_wc_opcode(u32 opcode)
{
	switch (opcode) {
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		return IB_UVERBS_WC_RDMA_WRITE;
	case IB_UVERBS_WR_RDMA_READ:
		return IB_UVERBS_WC_RDMA_READ;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
		return IB_UVERBS_WC_COMP_SWAP;
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		return IB_UVERBS_WC_FETCH_ADD;
	case IB_UVERBS_WR_LOCAL_INV:
		return IB_UVERBS_WC_LOCAL_INV;
	default:
		return IB_UVERBS_WC_SEND;
	}
}

/*
 * Complete every WQE between cons and prod with IB_WC_WR_FLUSH_ERR, in
 * order, signalled or not (IB: flushed WQEs always complete).  A full CQ
 * loses the rest (the CQ is then in error and says so).
 */
static void ntbr_wq_flush(struct ntbr_qp *qp, bool send)
{
	struct ntbr_wq *wq = send ? &qp->sq : &qp->rq;
	spinlock_t *lock = send ? &qp->sq_lock : &qp->rq_lock;
	struct ib_cq *ibcq = send ? qp->ibqp.send_cq : qp->ibqp.recv_cq;
	struct ntbrdma_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = IB_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
		.port_num = 1,
	};
	unsigned long flags;
	u32 prod, cons;

	spin_lock_irqsave(lock, flags);
	if (!ntbr_wq_prod(qp, wq, &prod))
		goto out;
	/* An inbox's completions the provider did not take go first. */
	cons = send ? wq->cons : ntbr_inbox_flush(qp, prod);
	for (; cons != prod; cons++) {
		if (send) {
			struct ntbrdma_send_wqe *wqe = ntbr_wq_slot(wq, cons);

			cqe.wr_id = READ_ONCE(wqe->wr_id);
			cqe.opcode =
				ntbr_wr_to_wc_opcode(READ_ONCE(wqe->opcode));
		} else {
			struct ntbrdma_recv_wqe *wqe = ntbr_wq_slot(wq, cons);

			cqe.wr_id = READ_ONCE(wqe->wr_id);
		}
		ntbr_cq_post(to_ntbr_cq(ibcq), &cqe, &qp->ibqp, false);
	}
	ntbr_wq_set_cons(wq, prod);
	if (send)
		/* Owner: kernel.  After the CQEs (see ntbr_eng_complete). */
		smp_store_release(&wq->ctrl->done, prod);
out:
	spin_unlock_irqrestore(lock, flags);
	if (!send)
		ntbr_peer_rq_flushed(qp);	/* the peer drops them too */
}

/* RESET: every posted WQE is dropped without a completion. */
static void ntbr_wq_reset(struct ntbr_qp *qp, bool send)
{
	struct ntbr_wq *wq = send ? &qp->sq : &qp->rq;
	spinlock_t *lock = send ? &qp->sq_lock : &qp->rq_lock;
	unsigned long flags;
	u32 prod;

	spin_lock_irqsave(lock, flags);
	if (ntbr_wq_prod(qp, wq, &prod)) {
		ntbr_wq_set_cons(wq, prod);
		if (send)
			/* Owner: kernel.  Nothing of the SQ is left. */
			smp_store_release(&wq->ctrl->done, prod);
	}
	spin_unlock_irqrestore(lock, flags);
	if (send)
		return;
	ntbr_peer_rq_flushed(qp);	/* the peer drops them too */
	/* In the new epoch, the provider takes from the inbox again. */
	spin_lock_irqsave(lock, flags);
	ntbr_inbox_reset(qp);
	spin_unlock_irqrestore(lock, flags);
}

/*
 * Publish the state to the provider (both ring pages).  The full barrier
 * orders the store before the flush's load of prod; the provider stores
 * prod, then a full barrier, then loads the state: either we flush its
 * WQE or it sees ERR and asks for another flush (modify to ERR).
 */
static void ntbr_qp_publish_state(struct ntbr_qp *qp)
{
	WRITE_ONCE(qp->sq.ctrl->qp_state, qp->state);
	WRITE_ONCE(qp->rq.ctrl->qp_state, qp->state);
	/* State store before the flush's prod load (see above). */
	smp_mb();
}

static void ntbr_qp_event(struct ntbr_qp *qp, enum ib_event_type type);

void ntbr_qp_set_err_locked(struct ntbr_qp *qp)
{
	lockdep_assert_held(&qp->mutex);
	if (qp->state == IB_QPS_RESET || qp->state == IB_QPS_INIT ||
	    qp->state == IB_QPS_ERR)
		return;
	WRITE_ONCE(qp->state, IB_QPS_ERR);
	qp->rd_sq = 0;			/* the READs in flight: flushed below */
	ntbr_qp_publish_state(qp);
	ntbr_wq_flush(qp, true);
	ntbr_wq_flush(qp, false);
	/* A QP of an SRQ takes no more of its receives: say so. */
	if (qp->ibqp.srq)
		ntbr_qp_event(qp, IB_EVENT_QP_LAST_WQE_REACHED);
}

static int ntbr_qp_init_cap(struct ntbr_qp *qp, struct ib_qp_init_attr *init)
{
	struct ib_qp_cap *cap = &init->cap;

	if (cap->max_send_wr > NTBR_MAX_QP_WR ||
	    cap->max_recv_wr > NTBR_MAX_QP_WR ||
	    cap->max_send_sge > NTBR_MAX_SGE ||
	    cap->max_recv_sge > NTBR_MAX_SGE ||
	    cap->max_inline_data > NTBR_MAX_INLINE)
		return -EINVAL;
	/*
	 * Rounded up as the IB spec allows: rings of a power of two slots,
	 * and every slot holds NTBRDMA_MAX_SGE SGEs or NTBRDMA_MAX_INLINE
	 * bytes, so that is what the QP can take.
	 */
	cap->max_send_wr = roundup_pow_of_two(max(cap->max_send_wr, 1U));
	cap->max_recv_wr = roundup_pow_of_two(max(cap->max_recv_wr, 1U));
	cap->max_send_sge = NTBRDMA_MAX_SGE;
	cap->max_recv_sge = NTBRDMA_MAX_SGE;
	/* Receives come from the SRQ; the QP's own RQ stays empty. */
	if (init->srq) {
		cap->max_recv_wr = 0;
		cap->max_recv_sge = 0;
	}
	cap->max_inline_data = NTBRDMA_MAX_INLINE;
	qp->cap = *cap;
	return 0;
}

static int ntbr_qp_map(struct ntbr_qp *qp, struct ib_udata *udata,
		       struct ntbrdma_create_qp_resp *resp)
{
	struct ntbr_ucontext *uc =
		rdma_udata_to_drv_context(udata, struct ntbr_ucontext, ibuc);
	struct rdma_user_mmap_entry *entry;

	entry = ntbr_mmap_insert(&uc->ibuc, qp->sq.buf, qp->sq.size,
				 &resp->sq_mmap_offset);
	if (IS_ERR(entry))
		return PTR_ERR(entry);
	qp->sq.mmap_entry = entry;
	resp->sq_mmap_size = qp->sq.size;
	resp->sq_num_wqe = qp->sq.num_wqe;
	resp->sq_wqe_size = qp->sq.wqe_size;
	resp->qp_num = qp->ibqp.qp_num;
	/* A QP of an SRQ: no RQ to map (its ring is never written). */
	if (qp->ibqp.srq)
		return 0;
	entry = ntbr_mmap_insert(&uc->ibuc, qp->rq.buf, qp->rq.size,
				 &resp->rq_mmap_offset);
	if (IS_ERR(entry))
		return PTR_ERR(entry);
	qp->rq.mmap_entry = entry;
	resp->rq_mmap_size = qp->rq.size;
	resp->rq_num_wqe = qp->rq.num_wqe;
	resp->rq_wqe_size = qp->rq.wqe_size;
	ntbr_pub_ring_map(qp, resp);
	return 0;
}

int ntbr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibqp->device);
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);
	struct ntbrdma_create_qp_resp resp = {};
	u32 qpn;
	int err;

	switch (init->qp_type) {
	case IB_QPT_RC:
	case IB_QPT_UC:
	case IB_QPT_UD:
		break;
	case IB_QPT_GSI:
		/* QP1 of our one port, for ib_mad only. */
		if (udata || init->port_num != 1)
			return -EINVAL;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (init->create_flags || init->rwq_ind_tbl)
		return -EOPNOTSUPP;
	/* ib_core took the SRQ's reference; GSI receives on its own. */
	if (init->srq && init->qp_type == IB_QPT_GSI)
		return -EINVAL;
	if (!init->send_cq || !init->recv_cq)
		return -EINVAL;
	if (init->sq_sig_type != IB_SIGNAL_ALL_WR &&
	    init->sq_sig_type != IB_SIGNAL_REQ_WR)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	err = ntbr_qp_init_cap(qp, init);
	if (err)
		return err;

	if (atomic_inc_return(&dev->num_qp) > NTBR_MAX_QP) {
		err = -ENOMEM;
		goto err_count;
	}
	mutex_init(&qp->mutex);
	spin_lock_init(&qp->sq_lock);
	spin_lock_init(&qp->rq_lock);
	qp->user = !!udata;
	qp->sq_sig_type = init->sq_sig_type;
	qp->state = IB_QPS_RESET;
	qp->dest = NTBR_QP_DEST_NONE;
	/* A user RC or UC QP may get an inbox: room for the pub ring. */
	err = ntbr_wq_alloc(&qp->sq, qp->cap.max_send_wr,
			    sizeof(struct ntbrdma_send_wqe), NTBRDMA_MAX_SGE,
			    udata && !init->srq &&
					    (init->qp_type == IB_QPT_RC ||
					     init->qp_type == IB_QPT_UC) ?
				    NTBR_PUB_BYTES :
				    0);
	if (err)
		goto err_count;
	err = ntbr_wq_alloc(&qp->rq, max(qp->cap.max_recv_wr, 1U),
			    sizeof(struct ntbrdma_recv_wqe), NTBRDMA_MAX_SGE, 0);
	if (err)
		goto err_sq;
	err = ntbr_eng_qp_init(qp);
	if (err)
		goto err_rq;
	err = ntbr_ud_qp_init(qp);
	if (err)
		goto err_eng;
	if (udata) {
		err = ntbr_inbox_create(qp, udata, &resp.flags);
		if (err)
			goto err_ud;
	}

	/* QP1 is the GSI QP's (never allocated to another). */
	if (init->qp_type == IB_QPT_GSI) {
		qpn = 1;
		err = xa_insert(&dev->qps, qpn, qp, GFP_KERNEL);
	} else {
		err = xa_alloc_cyclic(&dev->qps, &qpn, qp,
				      XA_LIMIT(2, NTBR_QPN_MAX),
				      &dev->next_qpn, GFP_KERNEL);
	}
	if (err < 0)
		goto err_inbox;
	ibqp->qp_num = qpn;

	if (udata) {
		err = ntbr_qp_map(qp, udata, &resp);
		if (!err)
			err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_xa;
	}
	return 0;

err_xa:
	xa_erase(&dev->qps, qpn);
err_inbox:
	ntbr_inbox_destroy(qp);
err_ud:
	ntbr_ud_qp_fini(qp);
err_eng:
	ntbr_eng_qp_fini(qp);
err_rq:
	ntbr_wq_free(&qp->rq);
err_sq:
	ntbr_wq_free(&qp->sq);
err_count:
	atomic_dec(&dev->num_qp);
	return err;
}

int ntbr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibqp->device);
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);

	/* No user mapping of the peer's memory outlives the QP. */
	ntbr_umap_revoke(dev, qp, true);
	mutex_lock(&qp->mutex);
	ntbr_srq_qp_peer(qp, false);
	mutex_unlock(&qp->mutex);
	/* Posted WQEs are dropped without completions (IB destroy). */
	xa_erase(&dev->qps, ibqp->qp_num);
	ntbr_eng_qp_fini(qp);
	ntbr_ud_qp_fini(qp);
	ntbr_inbox_destroy(qp);
	ntbr_wq_free(&qp->rq);
	ntbr_wq_free(&qp->sq);
	mutex_destroy(&qp->mutex);
	atomic_dec(&dev->num_qp);
	return 0;
}

/*
 * The address vector of an RC QP: a RoCE GID with its source GID entry
 * (ib_core filled sgid_attr and resolved the MAC).  The destination is
 * either one of this device's own GIDs (a QP of the same device:
 * loopback) or, since an NTB link joins exactly two hosts, the peer.
 */
static int ntbr_qp_check_av(struct ntbr_qp *qp, struct rdma_ah_attr *ah,
			    enum ntbr_qp_dest *dest)
{
	bool local;
	int err = ntbr_av_dest(qp->ibqp.device, ah, &local);

	if (!err)
		*dest = local ? NTBR_QP_DEST_LOCAL : NTBR_QP_DEST_PEER;
	return err;
}

#define NTBR_QP_ACCESS (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_READ | \
			IB_ACCESS_REMOTE_ATOMIC | IB_ACCESS_LOCAL_WRITE)

/* Values of the attributes in mask (which transitions allow is checked). */
static int ntbr_qp_check_attr(struct ntbr_qp *qp, struct ib_qp_attr *attr,
			      int mask, enum ntbr_qp_dest *dest)
{
	if ((mask & IB_QP_PORT) && attr->port_num != 1)
		return -EINVAL;
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index != 0)
		return -EINVAL;
	if ((mask & IB_QP_ACCESS_FLAGS) &&
	    (attr->qp_access_flags & ~NTBR_QP_ACCESS))
		return -EINVAL;
	if ((mask & IB_QP_PATH_MTU) &&
	    (attr->path_mtu < IB_MTU_256 || attr->path_mtu > IB_MTU_4096))
		return -EINVAL;
	if ((mask & IB_QP_DEST_QPN) && attr->dest_qp_num > NTBR_QPN_MAX)
		return -EINVAL;
	if ((mask & IB_QP_RQ_PSN) && attr->rq_psn > NTBR_PSN_MASK)
		return -EINVAL;
	if ((mask & IB_QP_SQ_PSN) && attr->sq_psn > NTBR_PSN_MASK)
		return -EINVAL;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > NTBR_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > NTBR_MAX_RD_ATOM)
		return -EINVAL;
	/* The IB field widths: 5, 3, 3 and 5 bits. */
	if ((mask & IB_QP_TIMEOUT) && attr->timeout > 31)
		return -EINVAL;
	if ((mask & IB_QP_RETRY_CNT) && attr->retry_cnt > 7)
		return -EINVAL;
	if ((mask & IB_QP_RNR_RETRY) && attr->rnr_retry > 7)
		return -EINVAL;
	if ((mask & IB_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > 31)
		return -EINVAL;
	/* No automatic path migration. */
	if (mask & IB_QP_ALT_PATH)
		return -EOPNOTSUPP;
	if ((mask & IB_QP_PATH_MIG_STATE) &&
	    attr->path_mig_state != IB_MIG_MIGRATED)
		return -EINVAL;
	if (mask & IB_QP_AV)
		return ntbr_qp_check_av(qp, &attr->ah_attr, dest);
	return 0;
}

/* Copy the attributes of mask into the QP (checked, transition legal). */
static void ntbr_qp_store_attr(struct ntbr_qp *qp, struct ib_qp_attr *attr,
			       int mask, enum ntbr_qp_dest dest)
{
	struct ib_qp_attr *a = &qp->attr;

	if (mask & IB_QP_ACCESS_FLAGS)
		a->qp_access_flags = attr->qp_access_flags;
	if (mask & IB_QP_PKEY_INDEX)
		a->pkey_index = attr->pkey_index;
	if (mask & IB_QP_PORT)
		a->port_num = attr->port_num;
	if (mask & IB_QP_AV) {
		/* Our copy holds no reference on the source GID entry. */
		a->ah_attr = attr->ah_attr;
		a->ah_attr.grh.sgid_attr = NULL;
		qp->dest = dest;
	}
	if (mask & IB_QP_PATH_MTU)
		a->path_mtu = attr->path_mtu;
	if (mask & IB_QP_TIMEOUT)
		a->timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		a->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		a->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_RQ_PSN)
		a->rq_psn = attr->rq_psn;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		a->max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MIN_RNR_TIMER)
		a->min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_SQ_PSN)
		a->sq_psn = attr->sq_psn;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		a->max_dest_rd_atomic = attr->max_dest_rd_atomic;
	/* Read without the mutex by the delivery of datagrams. */
	if (mask & IB_QP_QKEY)
		WRITE_ONCE(a->qkey, attr->qkey);
	if (mask & IB_QP_PATH_MIG_STATE)
		a->path_mig_state = attr->path_mig_state;
	if (mask & IB_QP_DEST_QPN)
		a->dest_qp_num = attr->dest_qp_num;
	if (mask & IB_QP_EN_SQD_ASYNC_NOTIFY)
		a->en_sqd_async_notify = attr->en_sqd_async_notify;
}

static void ntbr_qp_event(struct ntbr_qp *qp, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = type,
	};

	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

/*
 * modify_qp with driver data (include/rdma/ntbrdma-abi.h): attribute
 * mask 0 and one NTBRDMA_QP_OP_* request.
 */
static int ntbr_qp_driver_op(struct ntbr_qp *qp, int attr_mask,
			     struct ib_udata *udata)
{
	struct ntbrdma_modify_qp_req req;
	int err;

	if (attr_mask || udata->inlen < sizeof(req))
		return -EINVAL;
	if (udata->inlen > sizeof(req) &&
	    !ib_is_udata_cleared(udata, sizeof(req),
				 udata->inlen - sizeof(req)))
		return -EOPNOTSUPP;
	err = ib_copy_from_udata(&req, udata, sizeof(req));
	if (err)
		return err;
	if (req.op != NTBRDMA_QP_OP_MAP_PEER_MR &&
	    req.op != NTBRDMA_QP_OP_MAP_PEER_MR_READ &&
	    req.op != NTBRDMA_QP_OP_MAP_PEER_INBOX)
		return -EOPNOTSUPP;
	mutex_lock(&qp->mutex);
	if (req.op == NTBRDMA_QP_OP_MAP_PEER_INBOX)
		err = ntbr_umap_create_inbox(qp, udata);
	else
		err = ntbr_umap_create(qp, req.rkey,
				       req.op == NTBRDMA_QP_OP_MAP_PEER_MR_READ,
				       udata);
	mutex_unlock(&qp->mutex);
	return err;
}

int ntbr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr,
		   int attr_mask, struct ib_udata *udata)
{
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);
	enum ib_qp_state cur, next;
	enum ntbr_qp_dest dest = NTBR_QP_DEST_NONE;
	bool sq_drained = false, kick_rq = false, last_wqe = false;
	int err;

	if (attr_mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;
	if (udata && udata->inlen)
		return ntbr_qp_driver_op(qp, attr_mask, udata);
	mutex_lock(&qp->mutex);
	/*
	 * The transition is from the state the QP is in.  A current state
	 * the caller gives must be that state (ib_modify_qp_is_ok() would
	 * otherwise judge RESET -> RTS as the RTS -> RTS it claims).
	 */
	cur = qp->state;
	next = (attr_mask & IB_QP_STATE) ? attr->qp_state : cur;
	if (((attr_mask & IB_QP_CUR_STATE) && attr->cur_qp_state != cur) ||
	    next > IB_QPS_ERR ||
	    !ib_modify_qp_is_ok(cur, next, ibqp->qp_type, attr_mask)) {
		err = -EINVAL;
		goto out;
	}
	err = ntbr_qp_check_attr(qp, attr, attr_mask, &dest);
	if (err)
		goto out;

	if (next == IB_QPS_RESET) {
		/* Back to the state of a new QP; the rings are emptied. */
		memset(&qp->attr, 0, sizeof(qp->attr));
		qp->dest = NTBR_QP_DEST_NONE;
	}
	ntbr_qp_store_attr(qp, attr, attr_mask, dest);
	/* Its SRQ hands receives to the peer while one of its QPs is there. */
	ntbr_srq_qp_peer(qp, qp->dest == NTBR_QP_DEST_PEER);
	WRITE_ONCE(qp->state, next);	/* read without the mutex by posts */
	ntbr_qp_publish_state(qp);

	switch (next) {
	case IB_QPS_RESET:
		qp->rd_sq = 0;
		ntbr_wq_reset(qp, true);
		ntbr_wq_reset(qp, false);
		/*
		 * Receives the peer published stay: they belong to its QP
		 * and epoch, and a reconnection to the same peer QP uses
		 * them (others are dropped when seen, ntbrdma_ib_peer.c).
		 */
		break;
	case IB_QPS_ERR:
		/* Everything posted (READs in flight too) is flushed now. */
		qp->rd_sq = 0;
		ntbr_wq_flush(qp, true);
		ntbr_wq_flush(qp, false);
		last_wqe = cur != IB_QPS_ERR && qp->ibqp.srq;
		break;
	case IB_QPS_RTR:
		/* Receives posted before RTR go to the peer now. */
		kick_rq = cur != IB_QPS_RTR && qp->dest == NTBR_QP_DEST_PEER;
		break;
	case IB_QPS_RTS:
		ntbr_eng_kick(qp);
		break;
	case IB_QPS_SQD:
		/* The engine stops between WQEs: drained at once. */
		sq_drained = cur != IB_QPS_SQD && qp->attr.en_sqd_async_notify;
		break;
	default:
		break;
	}
	/* The peer QP checks its requests against these: tell it. */
	if ((attr_mask & (IB_QP_ACCESS_FLAGS | IB_QP_MIN_RNR_TIMER |
			  IB_QP_MAX_DEST_RD_ATOMIC)) &&
	    qp->dest == NTBR_QP_DEST_PEER && next != IB_QPS_RESET &&
	    next != IB_QPS_ERR) {
		ntbr_peer_attr_changed(qp);
		kick_rq = true;
	}
out:
	mutex_unlock(&qp->mutex);
	/* Out of RTS, or other access flags: its user mappings may go. */
	if (!err && qp->user && (next != cur || (attr_mask & IB_QP_ACCESS_FLAGS)))
		ntbr_umap_revoke(to_ntbr_ib(ibqp->device), qp, false);
	/* Not under qp->mutex: publishing takes eng_sem (engine order). */
	if (kick_rq)
		ntbr_peer_rq_kick(qp);
	if (sq_drained)
		ntbr_qp_event(qp, IB_EVENT_SQ_DRAINED);
	if (last_wqe)
		ntbr_qp_event(qp, IB_EVENT_QP_LAST_WQE_REACHED);
	return err;
}

int ntbr_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr,
		  int attr_mask, struct ib_qp_init_attr *init)
{
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);

	/* Everything, whatever the mask (ib_core and nldev rely on it). */
	mutex_lock(&qp->mutex);
	*attr = qp->attr;
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->cap = qp->cap;
	attr->sq_draining = 0;
	mutex_unlock(&qp->mutex);

	memset(init, 0, sizeof(*init));
	init->event_handler = ibqp->event_handler;
	init->qp_context = ibqp->qp_context;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->cap = qp->cap;
	init->sq_sig_type = qp->sq_sig_type;
	init->qp_type = ibqp->qp_type;
	init->port_num = 1;
	return 0;
}

/*
 * Driver details for `rdma res show qp -dd`: where the destination is and
 * the rings' indices as the kernel sees them.
 */
int ntbr_fill_res_qp_entry(struct sk_buff *msg, struct ib_qp *ibqp)
{
	static const char * const dest[] = {
		[NTBR_QP_DEST_NONE] = "none",
		[NTBR_QP_DEST_LOCAL] = "local",
		[NTBR_QP_DEST_PEER] = "peer",
	};
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);
	struct nlattr *table;
	enum ntbr_qp_dest d;

	mutex_lock(&qp->mutex);
	d = qp->dest;
	mutex_unlock(&qp->mutex);
	table = nla_nest_start_noflag(msg, RDMA_NLDEV_ATTR_DRIVER);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_put_driver_string(msg, "dest", dest[d]) ||
	    rdma_nl_put_driver_u32(msg, "sq_slots", qp->sq.num_wqe) ||
	    rdma_nl_put_driver_u32(msg, "rq_slots", qp->rq.num_wqe) ||
	    rdma_nl_put_driver_u32(msg, "sq_cons", READ_ONCE(qp->sq.cons)) ||
	    rdma_nl_put_driver_u32(msg, "rq_cons", READ_ONCE(qp->rq.cons))) {
		nla_nest_cancel(msg, table);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, table);
	return 0;
}

/* --- kernel QPs: the producer side of the rings ------------------------ */

static int ntbr_wq_free_slot(struct ntbr_wq *wq)
{
	return wq->prod - wq->cons < wq->num_wqe ? 0 : -ENOMEM;
}

/* Kernel producer: slot written, then the index (release). */
static void ntbr_wq_produce(struct ntbr_wq *wq)
{
	wq->prod++;
	/* Release: pairs with the consumer's acquire of prod. */
	smp_store_release(&wq->ctrl->prod, wq->prod);
}

static int ntbr_build_send_wqe(struct ntbr_qp *qp,
			       const struct ib_send_wr *wr,
			       struct ntbrdma_send_wqe *wqe)
{
	u32 total = 0;
	int i;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	switch (wr->opcode) {
	case IB_WR_SEND:
		break;
	case IB_WR_SEND_WITH_IMM:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		wqe->ex = (__force u32)wr->ex.imm_data;
		break;
	case IB_WR_SEND_WITH_INV:
		wqe->ex = wr->ex.invalidate_rkey;
		break;
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_READ:
		break;
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		if (wr->num_sge != 1 || wr->sg_list[0].length != 8)
			return -EINVAL;
		wqe->u.atomic.remote_addr = atomic_wr(wr)->remote_addr;
		wqe->u.atomic.compare_add = atomic_wr(wr)->compare_add;
		wqe->u.atomic.swap = atomic_wr(wr)->swap;
		wqe->u.atomic.rkey = atomic_wr(wr)->rkey;
		break;
	default:
		return -EINVAL;
	}
	/* UD: SEND and SEND_WITH_IMM to the AH, remote QP and Q_Key. */
	if (ntbr_qp_ud(qp)) {
		if (wr->opcode != IB_WR_SEND &&
		    wr->opcode != IB_WR_SEND_WITH_IMM)
			return -EINVAL;
		wqe->u.ud.ah = ntbr_ah_index(ud_wr(wr)->ah);
		wqe->u.ud.remote_qpn = ud_wr(wr)->remote_qpn;
		wqe->u.ud.remote_qkey = ud_wr(wr)->remote_qkey;
	}
	/* UC has no READ and no atomics. */
	if (ntbr_qp_uc(qp) && (wr->opcode == IB_WR_RDMA_READ ||
			       wr->opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
			       wr->opcode == IB_WR_ATOMIC_FETCH_AND_ADD))
		return -EINVAL;
	if (wr->opcode == IB_WR_RDMA_WRITE ||
	    wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM ||
	    wr->opcode == IB_WR_RDMA_READ) {
		wqe->u.rdma.remote_addr = rdma_wr(wr)->remote_addr;
		wqe->u.rdma.rkey = rdma_wr(wr)->rkey;
	}
	if (wr->num_sge < 0 || wr->num_sge > qp->cap.max_send_sge)
		return -EINVAL;
	if (wr->send_flags & IB_SEND_SIGNALED ||
	    qp->sq_sig_type == IB_SIGNAL_ALL_WR)
		wqe->flags |= NTBRDMA_WQE_F_SIGNALED;
	if (wr->send_flags & IB_SEND_SOLICITED)
		wqe->flags |= NTBRDMA_WQE_F_SOLICITED;
	if (wr->send_flags & IB_SEND_FENCE)
		wqe->flags |= NTBRDMA_WQE_F_FENCE;
	if ((wr->send_flags & IB_SEND_INLINE) &&
	    (wr->opcode == IB_WR_SEND || wr->opcode == IB_WR_SEND_WITH_IMM ||
	     wr->opcode == IB_WR_SEND_WITH_INV ||
	     wr->opcode == IB_WR_RDMA_WRITE ||
	     wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM)) {
		/* Kernel ULPs pass kernel virtual addresses. */
		for (i = 0; i < wr->num_sge; i++) {
			u32 len = wr->sg_list[i].length;

			if (len > qp->cap.max_inline_data - total)
				return -EINVAL;
			memcpy(wqe->d.inline_data + total,
			       (void *)(uintptr_t)wr->sg_list[i].addr, len);
			total += len;
		}
		wqe->flags |= NTBRDMA_WQE_F_INLINE;
		wqe->inline_len = total;
		return 0;
	}
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->d.sge[i].addr = wr->sg_list[i].addr;
		wqe->d.sge[i].length = wr->sg_list[i].length;
		wqe->d.sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

int ntbr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr)
{
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);
	struct ntbrdma_send_wqe wqe;
	enum ib_qp_state state;
	unsigned long flags;
	int err = 0;

	/* User QPs post in the mapped ring; this call is their kick. */
	if (qp->user) {
		ntbr_eng_kick_user(qp);
		return 0;
	}
	state = READ_ONCE(qp->state);
	if (state == IB_QPS_RESET || state == IB_QPS_INIT ||
	    state == IB_QPS_RTR) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->sq_lock, flags);
	for (; wr; wr = wr->next) {
		err = ntbr_wq_free_slot(&qp->sq);
		if (!err)
			err = ntbr_build_send_wqe(qp, wr, &wqe);
		if (err) {
			*bad_wr = wr;
			break;
		}
		memcpy(ntbr_wq_slot(&qp->sq, qp->sq.prod), &wqe, sizeof(wqe));
		ntbr_wq_produce(&qp->sq);
	}
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	/* Pairs with ntbr_qp_publish_state(): flush what ERR did not see. */
	smp_mb();
	if (READ_ONCE(qp->state) == IB_QPS_ERR)
		ntbr_wq_flush(qp, true);
	else
		ntbr_eng_kick(qp);
	return err;
}

int ntbr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr)
{
	struct ntbr_qp *qp = to_ntbr_qp(ibqp);
	struct ntbrdma_recv_wqe *wqe;
	unsigned long flags;
	int err = 0, i;

	/* User QPs post in the mapped ring; this call asks to publish. */
	if (qp->user) {
		ntbr_peer_rq_kick(qp);
		return 0;
	}
	if (READ_ONCE(qp->state) == IB_QPS_RESET || ibqp->srq) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->rq_lock, flags);
	for (; wr; wr = wr->next) {
		err = ntbr_wq_free_slot(&qp->rq);
		if (!err && (wr->num_sge < 0 ||
			     wr->num_sge > qp->cap.max_recv_sge))
			err = -EINVAL;
		if (err) {
			*bad_wr = wr;
			break;
		}
		wqe = ntbr_wq_slot(&qp->rq, qp->rq.prod);
		memset(wqe, 0, sizeof(*wqe));
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		for (i = 0; i < wr->num_sge; i++) {
			wqe->sge[i].addr = wr->sg_list[i].addr;
			wqe->sge[i].length = wr->sg_list[i].length;
			wqe->sge[i].lkey = wr->sg_list[i].lkey;
		}
		ntbr_wq_produce(&qp->rq);
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	/* Pairs with ntbr_qp_publish_state(): flush what ERR did not see. */
	smp_mb();
	if (READ_ONCE(qp->state) == IB_QPS_ERR)
		ntbr_wq_flush(qp, false);
	else
		ntbr_peer_rq_kick_async(qp);
	return err;
}
