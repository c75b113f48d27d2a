// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the handlers of the peer's QP messages (ntbrdma_ib_peer.c
 * says what the protocol does; ntbrdma_ib_peer.h the wire format).
 *
 * Everything in a message is untrusted.  A message is accepted only for
 * our QP connected to the sender's QP (RECV_POST also for one with no
 * destination yet), in the current epoch and sequence; anything else is
 * dropped and logged (ratelimited), as races with a destroy or a
 * reconnection legitimately produce.  What no correct peer sends - more
 * receives than its QP may have published, a RECV_DONE longer than the
 * receive - resets the link (Documentation/security-model.md).
 *
 * Handlers run on the transport's ordered control workqueue.  They never
 * take qp->mutex (the engine may hold it while it waits for room in the
 * control ring): they use rq_lock (our receives) and rrq_lock (the
 * peer's receives we hold), and hold eng_sem (read) while they use a QP
 * (destroy_qp waits for it).  READ_REQ, ATOMIC_REQ and READ_DONE are
 * handled in ntbrdma_ib_read.c.
 */
#include <linux/slab.h>

#include "ntbrdma_ib_peer.h"

/*
 * Our QP qpn if it is connected to the peer's QP src; with pending, also
 * if it has no destination yet (RESET, INIT: the peer QP may reach RTR
 * and publish before ours is connected).  Never a loopback QP, never one
 * connected to another peer QP.  Caller holds eng_sem (read).
 */
struct ntbr_qp *ntbr_peer_qp(struct ntbr_ib_dev *dev, u32 qpn, u32 src,
			     bool pending)
{
	struct ntbr_qp *qp = xa_load(&dev->qps, qpn);
	enum ntbr_qp_dest dest;

	if (!qp || !src)
		return NULL;
	dest = READ_ONCE(qp->dest);
	if (dest == NTBR_QP_DEST_PEER)
		return READ_ONCE(qp->attr.dest_qp_num) == src ? qp : NULL;
	return pending && dest == NTBR_QP_DEST_NONE ? qp : NULL;
}

void ntbr_peer_bad(struct ntbr_ib_dev *dev, const char *what, u32 qpn)
{
	ibdev_warn_ratelimited(&dev->ibdev, "peer %s for QP %u dropped\n",
			       what, qpn);
}

int ntbr_rrq_parse(const void *p, size_t len, size_t off, u32 n,
		   struct list_head *list, size_t *bytes)
{
	const struct ntbr_qp_msg_rcv *r;
	struct ntbr_rrq_ent *e;
	u32 i, k;

	*bytes = 0;
	for (i = 0; i < n; i++) {
		r = p + off;
		if (len - off < sizeof(*r) || r->nsge > NTBRDMA_MAX_SGE ||
		    len - off < struct_size(r, sge, r->nsge))
			return -EINVAL;
		e = kmalloc(struct_size(e, sge, r->nsge), GFP_KERNEL);
		if (!e)
			return -ENOMEM;
		e->src_qpn = 0;
		e->epoch = 0;
		e->rq_index = le32_to_cpu(r->rq_index);
		e->nsge = r->nsge;
		e->flags = r->flags;
		e->total = 0;
		for (k = 0; k < r->nsge; k++) {
			e->sge[k] = r->sge[k];
			e->total += le32_to_cpu(r->sge[k].len);
		}
		list_add_tail(&e->entry, list);
		*bytes += ntbr_rrq_ent_size(e);
		off += struct_size(r, sge, r->nsge);
	}
	return 0;
}

/* A: receives published by the peer. */
static void ntbr_peer_h_post(struct ntbr_ib_dev *dev, const void *p,
			     size_t len)
{
	const struct ntbr_qp_msg_post *h = p;
	u32 qpn, src, epoch, n, most, srq;
	u32 conn_was, pd_was, access_was, epoch_was;
	const char *excess = NULL;
	size_t bytes = 0;
	bool recheck, want = false;
	struct ntbr_rrq_ent *e;
	unsigned long flags;
	LIST_HEAD(list);
	LIST_HEAD(old);
	struct ntbr_qp *qp;

	if (len < sizeof(*h))
		return ntbr_peer_bad(dev, "short RECV_POST", 0);
	qpn = le32_to_cpu(h->dst_qpn);
	src = le32_to_cpu(h->src_qpn);
	epoch = le32_to_cpu(h->epoch);
	n = le16_to_cpu(h->count);
	srq = le32_to_cpu(h->srq_id);
	/* A QP of an SRQ publishes no receives of its own. */
	if ((srq && n) || ntbr_rrq_parse(p, len, sizeof(*h), n, &list, &bytes))
		goto bad;
	list_for_each_entry(e, &list, entry) {
		e->src_qpn = src;
		e->epoch = epoch;
	}
	most = ntbr_pub_max(1U << min_t(u32, h->rq_order,
					ilog2(NTBR_MAX_QP_WR)));

	down_read(&dev->eng_sem);
	qp = ntbr_peer_qp(dev, qpn, src, true);
	/*
	 * An RC QP connected to a UC QP or the other way round never gets
	 * connected back: as on an HCA, its requests go unanswered.
	 */
	if (!qp || !(h->access & NTBR_POST_A_UC) != !ntbr_qp_uc(qp)) {
		up_read(&dev->eng_sem);
		ntbr_rrq_free_list(&list);
		return ntbr_peer_bad(dev, "RECV_POST", qpn);
	}
	spin_lock_irqsave(&qp->rrq_lock, flags);
	/* What user mappings of peer MRs depend on (ntbrdma_ib_umap.c). */
	conn_was = qp->peer_qpn;
	pd_was = qp->peer_pd_id;
	access_was = qp->peer_access;
	epoch_was = qp->rrq_epoch;
	if (src != qp->peer_qpn) {
		/*
		 * Another peer QP than the one we heard from: only while
		 * ours is not connected yet.  We hold one peer QP's receives
		 * at a time: the newest to publish to us.
		 */
		ntbr_rrq_take_all(qp, &old);
		qp->peer_qpn = src;
		qp->rrq_epoch = epoch;
	} else {
		/* A new epoch of the responder: what we hold is gone. */
		ntbr_rrq_new_epoch(qp, epoch, &old);
	}
	if (epoch == qp->rrq_epoch) {
		ntbr_rrq_drop_eager(qp, &old);
		if (qp->rrq_count + n > most) {
			excess = "peer published more receives than its QP may";
		} else if (atomic_long_add_return(bytes, &dev->rrq_bytes) >
			   NTBR_RRQ_DEV_BYTES) {
			atomic_long_sub(bytes, &dev->rrq_bytes);
			excess = "peer published more receives than all our QPs may hold";
		}
	}
	if (epoch == qp->rrq_epoch && !excess) {
		want = qp->rrq_want && n;
		if (want)
			qp->rrq_want = false;
		ntbr_pub_ring_add(qp, &list, epoch);
		list_splice_tail_init(&list, &qp->rrq);
		qp->rrq_count += n;
		qp->rrq_bytes += bytes;
		/* Its QP receives in this epoch: alive (see RRQ_FLUSH). */
		if (qp->peer_dead_qpn == src)
			WRITE_ONCE(qp->peer_dead_qpn, 0);
		qp->peer_rnr_timer = h->rnr_timer & 31;
		qp->peer_srq = srq;
		/* Where its receives complete; checked at every write. */
		qp->peer_inbox.key = le32_to_cpu(h->inbox_key);
		qp->peer_inbox.va = le64_to_cpu(h->inbox_va);
		qp->peer_inbox.order =
			h->inbox_order <= ilog2(NTBR_MAX_QP_WR) + 1 ?
				h->inbox_order : 0;
		qp->peer_inbox.eager_order =
			qp->peer_inbox.order &&
					h->eager_order <= NTBR_EAGER_MAX_ORDER ?
				h->eager_order : 0;
		qp->peer_pd_id = le32_to_cpu(h->pd_id);
		qp->peer_access = ntbr_post_ib_access(h->access);
	}
	recheck = conn_was != qp->peer_qpn || pd_was != qp->peer_pd_id ||
		  access_was != qp->peer_access || epoch_was != qp->rrq_epoch;
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	if (recheck)
		ntbr_umap_recheck(dev);
	/*
	 * Accepted: receives for an RNR wait, or a QP that answers again
	 * for a retry wait; try now rather than after the timer.
	 */
	if (want)
		ntbr_eng_run_now(qp);
	else if (list_empty(&list))
		ntbr_eng_rnr_now(qp);
	up_read(&dev->eng_sem);
	ntbr_rrq_free_list(&old);
	if (excess) {
		ibdev_err_ratelimited(&dev->ibdev, "QP %u: %s: link reset\n",
				      qpn, excess);
		ntbr_link_reset(dev->nd, excess);
	} else if (!list_empty(&list)) {
		ntbr_peer_bad(dev, "stale RECV_POST", qpn);
	}
	ntbr_rrq_free_list(&list);
	return;
bad:
	ntbr_rrq_free_list(&list);
	ntbr_peer_bad(dev, "malformed RECV_POST", le32_to_cpu(h->dst_qpn));
}

void ntbr_done_cqe(const struct ntbr_qp_msg_done *m, struct ntbrdma_cqe *cqe)
{
	cqe->port_num = 1;
	cqe->qp_num = le32_to_cpu(m->dst_qpn);
	cqe->byte_len = le32_to_cpu(m->byte_len);
	cqe->status = m->status;
	cqe->opcode = m->opcode == NTBR_RECV_OP_WRITE_IMM ?
			      IB_WC_RECV_RDMA_WITH_IMM : IB_WC_RECV;
	if (m->flags & NTBR_DONE_F_IMM) {
		cqe->ex = m->imm;
		cqe->wc_flags = NTBRDMA_CQE_F_WITH_IMM;
	}
}

/*
 * B, under rq_lock, the epoch current: a RECV_DONE whose completion is in
 * our inbox for a receive other than cons - after eager messages of the
 * peer's provider (which send none) cons lags, or caught up beyond it
 * with what our provider took - or one that asks only for the event
 * (NTBR_DONE_F_EAGER).  The slot is the provider's to complete (or the
 * flush's), its RQ slot stays posted until then: only the event is
 * ours.  True if m was that (and is done with).
 */
static bool ntbr_done_event_only(struct ntbr_qp *qp,
				 const struct ntbr_qp_msg_done *m)
{
	u32 idx = le32_to_cpu(m->rq_index), cons;
	bool ahead, behind;

	if (!qp->inbox || !qp->pub_any ||
	    le32_to_cpu(m->src_qpn) != qp->pub_qpn)
		return false;
	ntbr_inbox_catch_up(qp);
	cons = qp->rq.cons;
	if ((idx == cons && !(m->flags & NTBR_DONE_F_EAGER)) ||
	    m->status > IB_WC_GENERAL_ERR)
		return false;		/* the usual one: cons moves on */
	/* Published and not reached; or reached already (taken). */
	ahead = idx - cons < qp->rq_pub - cons;
	behind = cons - idx <= qp->rq.num_wqe && idx != cons;
	/*
	 * A failed receive behind eager ones not taken yet: its completion
	 * goes into its slot now (its RQ slot is intact: the provider posts
	 * again only below cons and rx_taken); the QP goes to ERR.
	 */
	if (ahead && m->status != IB_WC_SUCCESS &&
	    !(m->flags & NTBR_DONE_F_EAGER)) {
		struct ntbrdma_cqe cqe = {};

		ntbr_done_cqe(m, &cqe);
		cqe.wr_id = READ_ONCE(((struct ntbrdma_recv_wqe *)
					       ntbr_wq_slot(&qp->rq, idx))
					      ->wr_id);
		ntbr_rq_complete(qp, idx, &cqe, true);
		WRITE_ONCE(qp->err_pending, true);
		return true;
	}
	if ((!ahead && !behind) || !(m->flags & NTBR_DONE_F_INBOX) ||
	    m->status != IB_WC_SUCCESS)
		return false;		/* not ours to accept: logged */
	atomic_inc(&to_ntbr_ib(qp->ibqp.device)->inbox_done);
	ntbr_cq_notify(to_ntbr_cq(qp->ibqp.recv_cq),
		       m->flags & NTBR_DONE_F_SOLICITED);
	return true;
}

/* B: the peer filled (or failed) our receive. */
static void ntbr_peer_h_done(struct ntbr_ib_dev *dev, const void *p,
			     size_t len)
{
	const struct ntbr_qp_msg_done *m = p;
	struct ntbrdma_cqe cqe = {};
	bool ok = false, stale = false, more = false, toolong = false;
	struct ntbrdma_recv_wqe *rw;
	bool solicited;
	unsigned long flags;
	struct ntbr_qp *qp;
	u32 prod;

	if (len != sizeof(*m))
		return ntbr_peer_bad(dev, "malformed RECV_DONE", 0);
	if (m->flags & NTBR_DONE_F_SRQ)
		return ntbr_srq_h_done(dev, m);
	ntbr_done_cqe(m, &cqe);
	down_read(&dev->eng_sem);
	/* Only the peer QP we published to completes our receives. */
	qp = ntbr_peer_qp(dev, cqe.qp_num, le32_to_cpu(m->src_qpn), false);
	if (qp) {
		spin_lock_irqsave(&qp->rq_lock, flags);
		/* An older epoch: flushed here already, quietly dropped. */
		stale = le32_to_cpu(m->epoch) != qp->rq_epoch;
		if (!stale && ntbr_done_event_only(qp, m)) {
			spin_unlock_irqrestore(&qp->rq_lock, flags);
			/* A failed receive: the QP goes to ERR (its work). */
			if (READ_ONCE(qp->err_pending))
				ntbr_eng_queue(qp);
			up_read(&dev->eng_sem);
			return;
		}
		ok = !stale && qp->pub_any &&
		     le32_to_cpu(m->src_qpn) == qp->pub_qpn &&
		     ntbr_wq_prod(qp, &qp->rq, &prod) &&
		     prod != qp->rq.cons &&
		     le32_to_cpu(m->rq_index) == qp->rq.cons &&
		     qp->rq_pub != qp->rq.cons &&
		     m->status <= IB_WC_GENERAL_ERR;
		if (ok) {
			rw = ntbr_wq_slot(&qp->rq, qp->rq.cons);
			/*
			 * No peer fills a receive beyond its length.  Not
			 * checked here for a completion in our inbox: the
			 * provider checks it (the slot may hold a newer
			 * receive already, posted after it took this one).
			 */
			toolong = cqe.status == IB_WC_SUCCESS &&
				  m->opcode == NTBR_RECV_OP_SEND &&
				  !((m->flags & NTBR_DONE_F_INBOX) &&
				    qp->inbox) &&
				  cqe.byte_len > ntbr_rwqe_len(rw);
			ok = !toolong;
		}
		if (ok) {
			cqe.wr_id = READ_ONCE(rw->wr_id);
			solicited = m->flags & NTBR_DONE_F_SOLICITED;
			/*
			 * The peer put the completion into our inbox: the
			 * provider may have it already; only the event is
			 * ours.  Else we make it (the inbox or the ring).
			 */
			if ((m->flags & NTBR_DONE_F_INBOX) && qp->inbox) {
				atomic_inc(&dev->inbox_done);
				ntbr_inbox_peer_done(qp, qp->rq.cons,
						     cqe.wr_id);
				ntbr_cq_notify(to_ntbr_cq(qp->ibqp.recv_cq),
					       solicited ||
					       cqe.status != IB_WC_SUCCESS);
			} else {
				ntbr_rq_complete(qp, qp->rq.cons, &cqe,
						 solicited);
			}
			ntbr_wq_set_cons(&qp->rq, qp->rq.cons + 1);
			/* Receives held back by NTBR_PUB_AHEAD go now. */
			more = prod != qp->rq_pub;
		}
		spin_unlock_irqrestore(&qp->rq_lock, flags);
		if (ok && cqe.status != IB_WC_SUCCESS) {
			/* The receive failed: the QP goes to ERR (its work). */
			WRITE_ONCE(qp->err_pending, true);
			ntbr_eng_queue(qp);
		}
		if (more)
			queue_work(ntbr_mr_wq, &qp->rq_work);
	}
	up_read(&dev->eng_sem);
	if (toolong) {
		ibdev_err_ratelimited(&dev->ibdev,
				      "QP %u: peer filled a receive beyond its length: link reset\n",
				      cqe.qp_num);
		ntbr_link_reset(dev->nd, "receive completion longer than the receive");
	} else if (!ok && !stale) {
		ntbr_peer_bad(dev, "RECV_DONE", cqe.qp_num);
	}
}

/* A: the responder dropped its receives (flush or reset). */
static void ntbr_peer_h_flush(struct ntbr_ib_dev *dev, const void *p,
			      size_t len)
{
	const struct ntbr_qp_msg_flush *m = p;
	unsigned long flags;
	struct ntbr_qp *qp;
	LIST_HEAD(old);

	if (len != sizeof(*m))
		return ntbr_peer_bad(dev, "malformed RRQ_FLUSH", 0);
	down_read(&dev->eng_sem);
	qp = ntbr_peer_qp(dev, le32_to_cpu(m->dst_qpn),
			  le32_to_cpu(m->src_qpn), true);
	if (qp) {
		spin_lock_irqsave(&qp->rrq_lock, flags);
		/* Only a newer epoch of the QP we hold: ntbr_peer_send_flush */
		if (le32_to_cpu(m->src_qpn) == qp->peer_qpn &&
		    ntbr_rrq_new_epoch(qp, le32_to_cpu(m->epoch), &old)) {
			/*
			 * Its QP went to ERR or RESET, or is gone: requests
			 * get no answer (the engine retries on the transport
			 * timer) until a RECV_POST of this epoch says it
			 * receives again.
			 */
			WRITE_ONCE(qp->peer_dead_qpn, le32_to_cpu(m->src_qpn));
		}
		spin_unlock_irqrestore(&qp->rrq_lock, flags);
	}
	up_read(&dev->eng_sem);
	ntbr_rrq_free_list(&old);
	/* Not connected back any more: user mappings through it go. */
	if (qp)
		ntbr_umap_recheck(dev);
}

/* B: the requester found nothing published: publish what is posted. */
static void ntbr_peer_h_pubreq(struct ntbr_ib_dev *dev, const void *p,
			       size_t len)
{
	const struct ntbr_qp_msg_pubreq *m = p;
	unsigned long flags;
	struct ntbr_qp *qp;
	bool cur;

	if (len != sizeof(*m))
		return ntbr_peer_bad(dev, "malformed PUB_REQ", 0);
	down_read(&dev->eng_sem);
	qp = ntbr_peer_qp(dev, le32_to_cpu(m->dst_qpn),
			  le32_to_cpu(m->src_qpn), false);
	if (qp) {
		spin_lock_irqsave(&qp->rq_lock, flags);
		cur = le32_to_cpu(m->epoch) == qp->rq_epoch;
		spin_unlock_irqrestore(&qp->rq_lock, flags);
		/* An older epoch's: its RECV_POST is on its way anyway. */
		if (cur)
			queue_work(ntbr_mr_wq, &qp->rq_work);
	}
	up_read(&dev->eng_sem);
}

void ntbr_peer_ctrl(struct ntbr_dev *nd, u16 type, const void *p, size_t len)
{
	struct ntbr_ib_dev *dev = ntbr_ib_dev_get(nd);

	if (!dev) {
		/* Every other QP message can be dropped: nobody waits. */
		if (type == NTBR_CTRL_QP_READ_REQ ||
		    type == NTBR_CTRL_QP_ATOMIC_REQ)
			ntbr_read_h_req_nodev(nd, p, len);
		return;
	}
	switch (type) {
	case NTBR_CTRL_QP_RECV_POST:
		ntbr_peer_h_post(dev, p, len);
		break;
	case NTBR_CTRL_QP_RECV_DONE:
		ntbr_peer_h_done(dev, p, len);
		break;
	case NTBR_CTRL_QP_RRQ_FLUSH:
		ntbr_peer_h_flush(dev, p, len);
		break;
	case NTBR_CTRL_QP_READ_REQ:
	case NTBR_CTRL_QP_ATOMIC_REQ:
		ntbr_read_h_req(dev, type, p, len);
		break;
	case NTBR_CTRL_QP_READ_DONE:
		ntbr_read_h_done(dev, p, len);
		break;
	case NTBR_CTRL_QP_UD_SEND:
		ntbr_ud_h_send(dev, p, len);
		break;
	case NTBR_CTRL_QP_UD_MORE:
		ntbr_ud_h_more(dev, p, len);
		break;
	case NTBR_CTRL_QP_SRQ_POST:
		ntbr_srq_h_post(dev, p, len);
		break;
	case NTBR_CTRL_QP_SRQ_FLUSH:
		ntbr_srq_h_flush(dev, p, len);
		break;
	case NTBR_CTRL_QP_PUB_REQ:
		ntbr_peer_h_pubreq(dev, p, len);
		break;
	}
	ib_device_put(&dev->ibdev);
}
