// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: shared receive queues (Documentation/rdma-datapath.md, "UD,
 * GSI and SRQ").
 *
 * An SRQ is a ring of receive WQEs (the RQ layout of ntbrdma-abi.h),
 * written by the provider or ntbr_post_srq_recv; this host's kernel is
 * its only consumer, under srq->lock.  Its receives go two ways:
 *
 * - Local consumers (a loopback requester, a UD delivery) take the next
 *   one with ntbr_srq_take() and complete it on their own QP.
 * - While a QP of the SRQ is connected to the peer (npeer), the
 *   publisher moves receives from the ring into records and hands them
 *   to the peer in SRQ_POST messages, at most NTBR_PUB_AHEAD at a time.
 *   The peer's engine takes them, in order, for whichever of its QPs
 *   sends to one of ours (their RECV_POST says which SRQ we receive
 *   from), copies the payload zero-copy into the receive's buffers and
 *   answers RECV_DONE naming our QP and the record's handle (index and
 *   generation).  ntbr_srq_h_done() completes the receive on that QP -
 *   in error if the QP stopped receiving meanwhile, the IB fate of a
 *   WQE a QP in error consumed - and frees the record; if that QP is
 *   gone (or connected elsewhere now) the receive goes back to the SRQ.
 *
 * So a receive completes once, for the QP that received into it, and
 * the SRQ's ring never has a second consumer.  Records of a link that
 * went down are kept (the peer forgot them) and published again after
 * the next link-up; a generation bump refuses any late answer to them.
 * A loopback QP finds only what is not published: while the peer holds
 * every posted receive, it waits as on RNR for more to be posted.
 *
 * The peer's SRQs that published to us (requester side) are struct
 * ntbr_rsrq, by the peer's id, in dev->rsrqs; SRQ_FLUSH (its SRQ is
 * destroyed) and a link-down drop them.
 *
 * srq_limit: armed by modify_srq, IB_EVENT_SRQ_LIMIT_REACHED once when
 * the receives posted and not consumed (in the ring, kept, or held by
 * the peer and not answered) fall below it.
 *
 * What each attacker reaches: a local process its own ring (prod is
 * checked, slots are copied once and used as the receive they are); the
 * peer only records it was handed (index, generation and state are
 * checked, a RECV_DONE longer than the receive resets the link), its
 * SRQ_POSTs are bounded like RECV_POSTs (NTBR_PUB_AHEAD per SRQ,
 * NTBR_MAX_SRQ SRQs, the device's byte budget) or reset the link.
 */
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "ntbrdma_ib_peer.h"

enum {
	NTBR_SRQ_REC_FREE,
	NTBR_SRQ_REC_AVAIL,		/* taken from the ring, not published */
	NTBR_SRQ_REC_PUB,		/* the peer holds it */
};

/* Receives one SRQ_POST carries at most (entries of no SGE: 8 bytes). */
#define NTBR_SRQ_MSG_MAX						\
	((NTBR_CTRL_MAX_PAYLOAD - sizeof(struct ntbr_srq_msg_post)) /	\
	 sizeof(struct ntbr_qp_msg_rcv))

/* The peer's SRQ that published receives to us. */
struct ntbr_rsrq {
	struct list_head rrq;		/* struct ntbr_rrq_ent, in order */
	u32 count;
	size_t bytes;
};

static u32 ntbr_srq_handle(struct ntbr_srq *srq, u32 idx)
{
	return idx | (u32)srq->rec[idx].gen << 16;
}

/* The ring's producer index, checked (prod - cons > slots: nothing). */
static bool ntbr_srq_prod(struct ntbr_srq *srq, u32 *prod)
{
	/* Acquire: pairs with the producer's store-release after the slots. */
	*prod = srq->user ? smp_load_acquire(&srq->rq.ctrl->prod) :
			    srq->rq.prod;
	if (*prod - srq->rq.cons > srq->rq.num_wqe) {
		ibdev_warn_ratelimited(srq->ibsrq.device,
				       "SRQ %u: ring prod %u cons %u: ignored\n",
				       srq->id, *prod, srq->rq.cons);
		return false;
	}
	return true;
}

/* Under lock: receives in the ring not consumed yet. */
static u32 ntbr_srq_ring_count(struct ntbr_srq *srq)
{
	u32 prod;

	return ntbr_srq_prod(srq, &prod) ? prod - srq->rq.cons : 0;
}

/*
 * Under lock: true once when the receives posted and not consumed fell
 * below the armed limit (disarmed then, as IB says); the caller raises
 * the event after the lock.
 */
static bool ntbr_srq_low(struct ntbr_srq *srq)
{
	if (!srq->limit ||
	    ntbr_srq_ring_count(srq) + srq->navail + srq->npub >= srq->limit)
		return false;
	srq->limit = 0;
	return true;
}

static void ntbr_srq_event(struct ntbr_srq *srq)
{
	struct ib_event ev = {
		.device = srq->ibsrq.device,
		.element.srq = &srq->ibsrq,
		.event = IB_EVENT_SRQ_LIMIT_REACHED,
	};

	if (srq->ibsrq.event_handler)
		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
}

bool ntbr_srq_take(struct ntbr_srq *srq, struct ntbrdma_recv_wqe *w)
{
	unsigned long flags;
	bool ok = true, low;
	u32 prod, idx;

	spin_lock_irqsave(&srq->lock, flags);
	if (srq->navail) {
		idx = srq->avail[srq->avail_head];
		srq->avail_head = (srq->avail_head + 1) & (srq->rq.num_wqe - 1);
		srq->navail--;
		*w = srq->rec[idx].wqe;
		srq->rec[idx].state = NTBR_SRQ_REC_FREE;
		srq->free[srq->nfree++] = idx;
	} else if (ntbr_srq_prod(srq, &prod) && prod != srq->rq.cons) {
		memcpy(w, ntbr_wq_slot(&srq->rq, srq->rq.cons), sizeof(*w));
		ntbr_wq_set_cons(&srq->rq, srq->rq.cons + 1);
	} else {
		ok = false;
	}
	low = ok && ntbr_srq_low(srq);
	spin_unlock_irqrestore(&srq->lock, flags);
	if (low)
		ntbr_srq_event(srq);
	return ok;
}

/* --- B: handing receives to the peer ---------------------------------- */

enum ntbr_srq_pub {
	NTBR_SRQ_PUB_IDLE,	/* no QP connected to the peer, or waits */
	NTBR_SRQ_PUB_DONE,	/* nothing left to publish */
	NTBR_SRQ_PUB_HELD,	/* NTBR_PUB_AHEAD or the budget reached */
};

/*
 * Under lock: the next receive to publish as a record (kept ones first,
 * then the ring's head); false if none or NTBR_PUB_AHEAD are out.
 */
static bool ntbr_srq_next_pub(struct ntbr_srq *srq, u32 *idx, bool *held)
{
	u32 prod;

	*held = false;
	if (srq->navail) {
		*held = srq->npub >= NTBR_PUB_AHEAD;
		if (*held)
			return false;
		*idx = srq->avail[srq->avail_head];
		srq->avail_head = (srq->avail_head + 1) & (srq->rq.num_wqe - 1);
		srq->navail--;
	} else {
		if (!ntbr_srq_prod(srq, &prod) || prod == srq->rq.cons)
			return false;
		*held = srq->npub >= NTBR_PUB_AHEAD || !srq->nfree;
		if (*held)
			return false;
		*idx = srq->free[--srq->nfree];
		memcpy(&srq->rec[*idx].wqe, ntbr_wq_slot(&srq->rq, srq->rq.cons),
		       sizeof(srq->rec[*idx].wqe));
		ntbr_wq_set_cons(&srq->rq, srq->rq.cons + 1);
	}
	srq->rec[*idx].state = NTBR_SRQ_REC_PUB;
	srq->npub++;
	return true;
}

/* Under lock: a record goes back to the kept ones (a newer generation). */
static void ntbr_srq_keep(struct ntbr_srq *srq, u32 idx)
{
	u32 tail = (srq->avail_head + srq->navail) & (srq->rq.num_wqe - 1);

	srq->rec[idx].state = NTBR_SRQ_REC_AVAIL;
	srq->rec[idx].gen++;
	srq->avail[tail] = idx;
	srq->navail++;
	srq->npub--;
}

/* Under lock: a record taken for a message it did not fit, back first. */
static void ntbr_srq_unget(struct ntbr_srq *srq, u32 idx)
{
	srq->avail_head = (srq->avail_head - 1) & (srq->rq.num_wqe - 1);
	srq->avail[srq->avail_head] = idx;
	srq->navail++;
	srq->rec[idx].state = NTBR_SRQ_REC_AVAIL;
	srq->npub--;
}

/* Bytes a receive takes in SRQ_POST (ntbr_pub_add skips empty SGEs). */
static size_t ntbr_srq_ent_size(const struct ntbrdma_recv_wqe *w)
{
	u32 n = min_t(u32, w->num_sge, NTBRDMA_MAX_SGE), i, k = 0;

	for (i = 0; i < n; i++)
		k += !!w->sge[i].length;
	return struct_size((struct ntbr_qp_msg_rcv *)NULL, sge, k);
}

/* Control queue long: hold back, ntbr_srq_ctrl_room() queues pub_work. */
static bool ntbr_srq_ctrl_wait(struct ntbr_ib_dev *dev, struct ntbr_srq *srq)
{
	set_bit(0, &srq->ctrl_wait);
	if (ntbr_ctrl_congested(dev->nd))
		return true;
	clear_bit(0, &srq->ctrl_wait);
	return false;
}

/*
 * Publish up to *budget receives in SRQ_POSTs.  Caller holds eng_sem
 * (read: the MR checks of ntbr_pub_add) and pub_mutex (one publisher;
 * a link-down waits for the message in flight).
 */
static enum ntbr_srq_pub ntbr_srq_pub_run(struct ntbr_ib_dev *dev,
					  struct ntbr_srq *srq, u32 *budget)
{
	struct ntbr_srq_msg_post *h = srq->pub_buf;
	unsigned long flags;
	bool held = false;
	u32 n, i, j, idx;
	size_t len;

	for (;;) {
		if (!atomic_read(&srq->npeer) || !ntbr_link_ready(dev->nd))
			return NTBR_SRQ_PUB_IDLE;
		if (ntbr_srq_ctrl_wait(dev, srq))
			return NTBR_SRQ_PUB_IDLE;
		n = 0;
		spin_lock_irqsave(&srq->lock, flags);
		while (n < NTBR_SRQ_MSG_MAX && n < *budget &&
		       ntbr_srq_next_pub(srq, &idx, &held))
			srq->pub_idx[n++] = idx;
		if (n)
			srq->pub_any = true;
		spin_unlock_irqrestore(&srq->lock, flags);
		*budget -= n;
		if (!n)
			return held ? NTBR_SRQ_PUB_HELD : NTBR_SRQ_PUB_DONE;

		/* Records in PUB stay as they are until we return. */
		memset(h, 0, sizeof(*h));
		h->srq_id = cpu_to_le32(srq->id);
		len = sizeof(*h);
		for (i = 0; i < n; i++) {
			idx = srq->pub_idx[i];
			if (len + ntbr_srq_ent_size(&srq->rec[idx].wqe) >
			    NTBR_CTRL_MAX_PAYLOAD)
				break;
			ntbr_pub_add(dev, srq->ibsrq.pd, &srq->rec[idx].wqe,
				     ntbr_srq_handle(srq, idx), srq->pub_buf,
				     &len, &h->count);
		}
		if (i < n) {
			/* The rest did not fit: first for the next message. */
			spin_lock_irqsave(&srq->lock, flags);
			for (j = n; j-- > i;)
				ntbr_srq_unget(srq, srq->pub_idx[j]);
			spin_unlock_irqrestore(&srq->lock, flags);
			*budget += n - i;
			n = i;
		}
		if (ntbr_mr_send(dev, NTBR_CTRL_QP_SRQ_POST, h, len)) {
			/* Not sent (link down): kept, for the next link. */
			spin_lock_irqsave(&srq->lock, flags);
			for (i = 0; i < n; i++) {
				idx = srq->pub_idx[i];
				if (srq->rec[idx].state == NTBR_SRQ_REC_PUB)
					ntbr_srq_keep(srq, idx);
			}
			spin_unlock_irqrestore(&srq->lock, flags);
			return NTBR_SRQ_PUB_IDLE;
		}
		if (!*budget)
			return NTBR_SRQ_PUB_HELD;
	}
}

/*
 * Publish what was posted (post_srq_recv's kick, pub_work).  The ring's
 * engine word is set while the kernel will see new receives by itself:
 * always when no QP of the SRQ is connected to the peer (local
 * consumers take from the ring when they need to), and while receives
 * are held back; clear once everything posted was published.
 */
static void ntbr_srq_kick(struct ntbr_ib_dev *dev, struct ntbr_srq *srq)
{
	u32 budget = NTBR_PUB_BUDGET, prod;
	enum ntbr_srq_pub pub;
	unsigned long flags;
	bool more;

	down_read(&dev->eng_sem);
	mutex_lock(&srq->pub_mutex);
	for (;;) {
		/* Owner: kernel.  Set while we will see new receives. */
		WRITE_ONCE(srq->rq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
		pub = ntbr_srq_pub_run(dev, srq, &budget);
		if (pub == NTBR_SRQ_PUB_IDLE)
			break;
		if (pub == NTBR_SRQ_PUB_HELD) {
			if (!budget)
				queue_work(ntbr_mr_wq, &srq->pub_work);
			break;
		}
		WRITE_ONCE(srq->rq.ctrl->engine, 0);
		/* Flag clear before the prod load: pairs with the provider. */
		smp_mb();
		spin_lock_irqsave(&srq->lock, flags);
		more = ntbr_srq_prod(srq, &prod) && prod != srq->rq.cons;
		spin_unlock_irqrestore(&srq->lock, flags);
		if (!more)
			break;
	}
	mutex_unlock(&srq->pub_mutex);
	up_read(&dev->eng_sem);
}

static void ntbr_srq_pub_work(struct work_struct *work)
{
	struct ntbr_srq *srq = container_of(work, struct ntbr_srq, pub_work);

	ntbr_srq_kick(to_ntbr_ib(srq->ibsrq.device), srq);
}

void ntbr_srq_qp_peer(struct ntbr_qp *qp, bool peer)
{
	struct ntbr_srq *srq;

	lockdep_assert_held(&qp->mutex);
	if (!qp->ibqp.srq || qp->srq_peer == peer)
		return;
	srq = to_ntbr_srq(qp->ibqp.srq);
	qp->srq_peer = peer;
	if (!peer) {
		atomic_dec(&srq->npeer);
		return;
	}
	atomic_inc(&srq->npeer);
	queue_work(ntbr_mr_wq, &srq->pub_work);
}

/* B: the peer filled (or failed) one of our SRQ's receives. */
void ntbr_srq_h_done(struct ntbr_ib_dev *dev, const struct ntbr_qp_msg_done *m)
{
	u32 handle = le32_to_cpu(m->rq_index), idx = handle & 0xffff;
	struct ntbrdma_cqe cqe = {};
	bool ok = false, toolong = false, low = false, more = false;
	struct ntbr_srq *srq;
	struct ntbr_qp *qp = NULL;
	unsigned long flags;

	ntbr_done_cqe(m, &cqe);
	down_read(&dev->eng_sem);
	srq = xa_load(&dev->srqs, le32_to_cpu(m->epoch));
	if (!srq || m->status > IB_WC_GENERAL_ERR)
		goto out;
	qp = ntbr_peer_qp(dev, cqe.qp_num, le32_to_cpu(m->src_qpn), false);
	if (qp && qp->ibqp.srq != &srq->ibsrq)
		qp = NULL;
	spin_lock_irqsave(&srq->lock, flags);
	ok = idx < srq->rq.num_wqe &&
	     srq->rec[idx].state == NTBR_SRQ_REC_PUB &&
	     handle == ntbr_srq_handle(srq, idx);
	if (ok) {
		/* No peer fills a receive beyond its length. */
		toolong = cqe.status == IB_WC_SUCCESS &&
			  m->opcode == NTBR_RECV_OP_SEND &&
			  cqe.byte_len > ntbr_rwqe_len(&srq->rec[idx].wqe);
		ok = !toolong;
	}
	if (ok && !qp) {
		/*
		 * Our QP is gone or connected elsewhere now: nobody
		 * consumed the receive, it goes back to the SRQ (its bytes
		 * are undefined, as any posted receive's).
		 */
		ntbr_srq_keep(srq, idx);
	} else if (ok) {
		cqe.wr_id = srq->rec[idx].wqe.wr_id;
		srq->rec[idx].state = NTBR_SRQ_REC_FREE;
		srq->rec[idx].gen++;
		srq->free[srq->nfree++] = idx;
		srq->npub--;
		low = ntbr_srq_low(srq);
	}
	/* Receives held back by NTBR_PUB_AHEAD (or given back) go now. */
	more = ok && (srq->navail || ntbr_srq_ring_count(srq));
	spin_unlock_irqrestore(&srq->lock, flags);
	/*
	 * The QP the receive was for consumed it; one that stopped
	 * receiving meanwhile completes it flushed.
	 */
	if (ok && qp) {
		if (!ntbr_peer_state_rcv(READ_ONCE(qp->state)))
			cqe.status = IB_WC_WR_FLUSH_ERR;
		ntbr_cq_post(to_ntbr_cq(qp->ibqp.recv_cq), &cqe, &qp->ibqp,
			     m->flags & NTBR_DONE_F_SOLICITED);
		if (cqe.status != IB_WC_SUCCESS &&
		    cqe.status != IB_WC_WR_FLUSH_ERR) {
			/* The receive failed: the QP goes to ERR (its work). */
			WRITE_ONCE(qp->err_pending, true);
			ntbr_eng_queue(qp);
		}
	}
	if (more)
		queue_work(ntbr_mr_wq, &srq->pub_work);
	if (low)
		ntbr_srq_event(srq);
out:
	up_read(&dev->eng_sem);
	if (toolong) {
		ibdev_err_ratelimited(&dev->ibdev,
				      "SRQ %u: peer filled a receive beyond its length: link reset\n",
				      le32_to_cpu(m->epoch));
		ntbr_link_reset(dev->nd, "receive completion longer than the receive");
	} else if (!ok) {
		ntbr_peer_bad(dev, "SRQ RECV_DONE", cqe.qp_num);
	}
}

/* --- A: the peer's SRQs ------------------------------------------------ */

static void ntbr_rsrq_free(struct ntbr_ib_dev *dev, struct ntbr_rsrq *rs)
{
	atomic_long_sub(rs->bytes, &dev->rrq_bytes);
	ntbr_rrq_free_list(&rs->rrq);
	kfree(rs);
}

void ntbr_srq_h_post(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_srq_msg_post *h = p;
	struct ntbr_rsrq *rs, *fresh = NULL;
	const char *excess = NULL;
	struct ntbr_rrq_ent *e;
	bool was_empty = false, gone;
	unsigned long idx;
	struct ntbr_qp *qp;
	size_t bytes;
	LIST_HEAD(list);
	u32 id, n;

	if (len < sizeof(*h))
		return ntbr_peer_bad(dev, "short SRQ_POST", 0);
	id = le32_to_cpu(h->srq_id);
	n = le16_to_cpu(h->count);
	if (!id || ntbr_rrq_parse(p, len, sizeof(*h), n, &list, &bytes)) {
		ntbr_rrq_free_list(&list);
		return ntbr_peer_bad(dev, "malformed SRQ_POST", 0);
	}
	list_for_each_entry(e, &list, entry)
		e->epoch = id;		/* src_qpn 0: an SRQ's receive */
	/* A peer SRQ not seen yet: its entry, allocated before the lock. */
	if (!xa_load(&dev->rsrqs, id)) {
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
		if (!fresh) {
			ntbr_rrq_free_list(&list);
			return ntbr_peer_bad(dev, "SRQ_POST (no memory)", 0);
		}
		INIT_LIST_HEAD(&fresh->rrq);
	}

	spin_lock(&dev->rsrq_lock);
	rs = xa_load(&dev->rsrqs, id);
	/* Dropped since we looked (a link-down): so is this message. */
	gone = !rs && !fresh;
	if (!rs && !gone) {
		if (dev->nrsrq >= NTBR_MAX_SRQ)
			excess = "peer published receives of more SRQs than it may have";
		else if (xa_insert(&dev->rsrqs, id, fresh, GFP_ATOMIC))
			excess = "no memory for the peer's SRQ";
		else
			swap(rs, fresh);
		if (rs)
			dev->nrsrq++;
	}
	if (!excess && !gone && rs->count + n > NTBR_PUB_AHEAD)
		excess = "peer published more receives than its SRQ may";
	if (!excess && !gone &&
	    atomic_long_add_return(bytes, &dev->rrq_bytes) >
		    NTBR_RRQ_DEV_BYTES) {
		atomic_long_sub(bytes, &dev->rrq_bytes);
		excess = "peer published more receives than all our QPs may hold";
	}
	if (!excess && !gone) {
		was_empty = !rs->count;
		list_splice_tail_init(&list, &rs->rrq);
		rs->count += n;
		rs->bytes += bytes;
	}
	spin_unlock(&dev->rsrq_lock);
	kfree(fresh);
	ntbr_rrq_free_list(&list);
	if (excess) {
		ibdev_err_ratelimited(&dev->ibdev, "SRQ %u: %s: link reset\n",
				      id, excess);
		ntbr_link_reset(dev->nd, excess);
		return;
	}
	if (gone)
		return ntbr_peer_bad(dev, "SRQ_POST of a link gone", 0);
	/* Receives again: the QPs sending to it may wait on RNR. */
	if (was_empty && n) {
		down_read(&dev->eng_sem);
		xa_for_each(&dev->qps, idx, qp)
			if (READ_ONCE(qp->peer_srq) == id)
				ntbr_eng_rnr_now(qp);
		up_read(&dev->eng_sem);
	}
}

void ntbr_srq_h_flush(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_srq_msg_flush *m = p;
	struct ntbr_rsrq *rs;

	if (len != sizeof(*m))
		return ntbr_peer_bad(dev, "malformed SRQ_FLUSH", 0);
	spin_lock(&dev->rsrq_lock);
	rs = xa_erase(&dev->rsrqs, le32_to_cpu(m->srq_id));
	if (rs)
		dev->nrsrq--;
	spin_unlock(&dev->rsrq_lock);
	if (rs)
		ntbr_rsrq_free(dev, rs);
}

struct ntbr_rrq_ent *ntbr_srq_pop(struct ntbr_ib_dev *dev, u32 id)
{
	struct ntbr_rrq_ent *e = NULL;
	struct ntbr_rsrq *rs;

	spin_lock(&dev->rsrq_lock);
	rs = xa_load(&dev->rsrqs, id);
	if (rs)
		e = list_first_entry_or_null(&rs->rrq, struct ntbr_rrq_ent,
					     entry);
	if (e) {
		list_del(&e->entry);
		rs->count--;
		rs->bytes -= ntbr_rrq_ent_size(e);
		atomic_long_sub(ntbr_rrq_ent_size(e), &dev->rrq_bytes);
	}
	spin_unlock(&dev->rsrq_lock);
	return e;
}

static void ntbr_rsrq_drop_all(struct ntbr_ib_dev *dev)
{
	struct ntbr_rsrq *rs;
	unsigned long id;

	for (;;) {
		spin_lock(&dev->rsrq_lock);
		id = 0;
		rs = xa_find(&dev->rsrqs, &id, ULONG_MAX, XA_PRESENT);
		if (rs) {
			xa_erase(&dev->rsrqs, id);
			dev->nrsrq--;
		}
		spin_unlock(&dev->rsrq_lock);
		if (!rs)
			break;
		ntbr_rsrq_free(dev, rs);
	}
}

/* --- link events -------------------------------------------------------- */

void ntbr_srq_link_down(struct ntbr_ib_dev *dev)
{
	struct ntbr_srq *srq;
	unsigned long flags, id;
	u32 idx;

	ntbr_rsrq_drop_all(dev);
	/* What the peer held is forgotten with the link: kept for the next. */
	down_read(&dev->eng_sem);
	xa_for_each(&dev->srqs, id, srq) {
		mutex_lock(&srq->pub_mutex);
		spin_lock_irqsave(&srq->lock, flags);
		for (idx = 0; idx < srq->rq.num_wqe; idx++)
			if (srq->rec[idx].state == NTBR_SRQ_REC_PUB)
				ntbr_srq_keep(srq, idx);
		srq->pub_any = false;
		spin_unlock_irqrestore(&srq->lock, flags);
		mutex_unlock(&srq->pub_mutex);
	}
	up_read(&dev->eng_sem);
}

void ntbr_srq_link_up(struct ntbr_ib_dev *dev)
{
	struct ntbr_srq *srq;
	unsigned long id;

	down_read(&dev->eng_sem);
	xa_for_each(&dev->srqs, id, srq)
		queue_work(ntbr_mr_wq, &srq->pub_work);
	up_read(&dev->eng_sem);
}

void ntbr_srq_ctrl_room(struct ntbr_ib_dev *dev)
{
	struct ntbr_srq *srq;
	unsigned long id;

	lockdep_assert_held(&dev->eng_sem);
	xa_for_each(&dev->srqs, id, srq)
		if (test_and_clear_bit(0, &srq->ctrl_wait))
			queue_work(ntbr_mr_wq, &srq->pub_work);
}

/* --- verbs ------------------------------------------------------------- */

static void ntbr_srq_free_mem(struct ntbr_srq *srq)
{
	kvfree(srq->rec);
	kvfree(srq->free);
	kvfree(srq->avail);
	kfree(srq->pub_buf);
	kfree(srq->pub_idx);
}

static int ntbr_srq_alloc_mem(struct ntbr_srq *srq)
{
	u32 n = srq->rq.num_wqe, i;

	srq->rec = kvcalloc(n, sizeof(*srq->rec), GFP_KERNEL);
	srq->free = kvmalloc_array(n, sizeof(u32), GFP_KERNEL);
	srq->avail = kvmalloc_array(n, sizeof(u32), GFP_KERNEL);
	srq->pub_buf = kzalloc(NTBR_CTRL_MAX_PAYLOAD, GFP_KERNEL);
	srq->pub_idx = kcalloc(NTBR_SRQ_MSG_MAX, sizeof(u32), GFP_KERNEL);
	if (!srq->rec || !srq->free || !srq->avail || !srq->pub_buf ||
	    !srq->pub_idx) {
		ntbr_srq_free_mem(srq);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		srq->free[i] = n - 1 - i;
	srq->nfree = n;
	return 0;
}

int ntbr_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibsrq->device);
	struct ntbr_srq *srq = to_ntbr_srq(ibsrq);
	struct ntbrdma_create_srq_resp resp = {};
	struct rdma_user_mmap_entry *entry;
	struct ib_srq_attr *a = &init->attr;
	int err;

	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (!a->max_wr || a->max_wr > NTBR_MAX_SRQ_WR ||
	    a->max_sge > NTBR_MAX_SGE || a->srq_limit > a->max_wr)
		return -EINVAL;
	if (udata) {
		if (udata->outlen < sizeof(resp))
			return -EINVAL;
		if (udata->inlen &&
		    !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EINVAL;
	}
	if (atomic_inc_return(&dev->num_srq) > NTBR_MAX_SRQ) {
		err = -ENOMEM;
		goto err_count;
	}
	spin_lock_init(&srq->lock);
	mutex_init(&srq->pub_mutex);
	INIT_WORK(&srq->pub_work, ntbr_srq_pub_work);
	atomic_set(&srq->npeer, 0);
	srq->user = !!udata;
	srq->limit = a->srq_limit;
	/* A power of two slots, each holding NTBRDMA_MAX_SGE SGEs. */
	err = ntbr_wq_alloc(&srq->rq, roundup_pow_of_two(a->max_wr),
			    sizeof(struct ntbrdma_recv_wqe), NTBRDMA_MAX_SGE, 0);
	if (err)
		goto err_count;
	/* Nothing to hand on until a QP of the SRQ is connected to the peer. */
	WRITE_ONCE(srq->rq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	a->max_wr = srq->rq.num_wqe;
	a->max_sge = NTBRDMA_MAX_SGE;
	err = ntbr_srq_alloc_mem(srq);
	if (err)
		goto err_wq;
	err = xa_alloc_cyclic(&dev->srqs, &srq->id, srq, xa_limit_31b,
			      &dev->next_srq, GFP_KERNEL);
	if (err < 0)
		goto err_mem;
	if (udata) {
		struct ntbr_ucontext *uc;

		uc = rdma_udata_to_drv_context(udata, struct ntbr_ucontext,
					       ibuc);
		entry = ntbr_mmap_insert(&uc->ibuc, srq->rq.buf, srq->rq.size,
					 &resp.mmap_offset);
		if (IS_ERR(entry)) {
			err = PTR_ERR(entry);
			goto err_xa;
		}
		srq->rq.mmap_entry = entry;
		resp.mmap_size = srq->rq.size;
		resp.num_wqe = srq->rq.num_wqe;
		resp.wqe_size = srq->rq.wqe_size;
		resp.srq_id = srq->id;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_xa;
	}
	return 0;

err_xa:
	xa_erase(&dev->srqs, srq->id);
err_mem:
	ntbr_srq_free_mem(srq);
err_wq:
	ntbr_wq_free(&srq->rq);
err_count:
	atomic_dec(&dev->num_srq);
	return err;
}

int ntbr_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibsrq->device);
	struct ntbr_srq *srq = to_ntbr_srq(ibsrq);
	struct ntbr_srq_msg_flush m = { .srq_id = cpu_to_le32(srq->id) };

	/* ib_core destroyed its QPs first: nobody consumes any more. */
	xa_erase(&dev->srqs, srq->id);
	ntbr_eng_sync(dev);		/* handlers and iterators are out */
	cancel_work_sync(&srq->pub_work);
	/*
	 * The peer drops what it holds.  A copy it is making into one of
	 * them holds its references on our MRs: their pages stay pinned.
	 */
	if (srq->pub_any)
		ntbr_mr_send(dev, NTBR_CTRL_QP_SRQ_FLUSH, &m, sizeof(m));
	ntbr_srq_free_mem(srq);
	ntbr_wq_free(&srq->rq);
	mutex_destroy(&srq->pub_mutex);
	atomic_dec(&dev->num_srq);
	return 0;
}

int ntbr_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct ntbr_srq *srq = to_ntbr_srq(ibsrq);
	unsigned long flags;

	if (mask & ~(IB_SRQ_MAX_WR | IB_SRQ_LIMIT))
		return -EINVAL;
	/* No resize (query_device does not say IB_DEVICE_SRQ_RESIZE). */
	if (mask & IB_SRQ_MAX_WR)
		return -EINVAL;
	if (mask & IB_SRQ_LIMIT) {
		if (attr->srq_limit > srq->rq.num_wqe)
			return -EINVAL;
		spin_lock_irqsave(&srq->lock, flags);
		srq->limit = attr->srq_limit;
		spin_unlock_irqrestore(&srq->lock, flags);
	}
	return 0;
}

int ntbr_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct ntbr_srq *srq = to_ntbr_srq(ibsrq);
	unsigned long flags;

	attr->max_wr = srq->rq.num_wqe;
	attr->max_sge = NTBRDMA_MAX_SGE;
	spin_lock_irqsave(&srq->lock, flags);
	attr->srq_limit = srq->limit;
	spin_unlock_irqrestore(&srq->lock, flags);
	return 0;
}

int ntbr_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibsrq->device);
	struct ntbr_srq *srq = to_ntbr_srq(ibsrq);
	struct ntbrdma_recv_wqe *wqe;
	unsigned long flags;
	int err = 0, i;

	/* User SRQs post in the mapped ring; this call asks to publish. */
	if (srq->user) {
		ntbr_srq_kick(dev, srq);
		return 0;
	}
	spin_lock_irqsave(&srq->lock, flags);
	for (; wr; wr = wr->next) {
		if (srq->rq.prod - srq->rq.cons >= srq->rq.num_wqe)
			err = -ENOMEM;
		else if (wr->num_sge < 0 || wr->num_sge > NTBRDMA_MAX_SGE)
			err = -EINVAL;
		if (err) {
			*bad_wr = wr;
			break;
		}
		wqe = ntbr_wq_slot(&srq->rq, srq->rq.prod);
		memset(wqe, 0, sizeof(*wqe));
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		for (i = 0; i < wr->num_sge; i++) {
			wqe->sge[i].addr = wr->sg_list[i].addr;
			wqe->sge[i].length = wr->sg_list[i].length;
			wqe->sge[i].lkey = wr->sg_list[i].lkey;
		}
		srq->rq.prod++;
		/* Release: pairs with the consumer's acquire of prod. */
		smp_store_release(&srq->rq.ctrl->prod, srq->rq.prod);
	}
	spin_unlock_irqrestore(&srq->lock, flags);
	/* Kernel ULPs post in any context: publish from a work item. */
	if (atomic_read(&srq->npeer))
		queue_work(ntbr_mr_wq, &srq->pub_work);
	return err;
}

void ntbr_srq_dev_init(struct ntbr_ib_dev *dev)
{
	xa_init_flags(&dev->srqs, XA_FLAGS_ALLOC1);
	xa_init(&dev->rsrqs);
	spin_lock_init(&dev->rsrq_lock);
	atomic_set(&dev->num_srq, 0);
}

void ntbr_srq_dev_fini(struct ntbr_ib_dev *dev)
{
	ntbr_rsrq_drop_all(dev);
	xa_destroy(&dev->rsrqs);
	xa_destroy(&dev->srqs);
}
