// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the engine's protocol with a QP of the peer host
 * (rdma-datapath.md, "Operations"): SEND, SEND_WITH_IMM and
 * RDMA_WRITE_WITH_IMM into the peer QP's posted receives, and RDMA READ
 * executed by the responder, which pushes the data.  RDMA WRITE needs
 * none of this (ntbrdma_ib_engine.c writes through the remote-MR table).
 *
 * Receives.  The responder B publishes every receive posted on a QP
 * connected to the peer: RECV_POST carries its SGEs as (key, va, len) of
 * B's MRs, checked by B against its own MRs (the QP's PD, LOCAL_WRITE,
 * range).  Every MR with LOCAL_WRITE or remote access is announced to the
 * peer (ntbrdma_ib_mr.c), so the requester A translates those keys with
 * its remote-MR table and holds the entries' references during the copy:
 * B's dereg_mr waits for MR_DEL_ACK, A never writes into a page B
 * unpinned.  A keeps the published receives in order (qp->rrq); a SEND
 * takes the first, copies the payload once, from A's pages into B's pages
 * through the window, and sends RECV_DONE, which B turns into the
 * completion of that receive.  If B's QP has a receive inbox (its
 * RECV_POST says where), A first writes the completion into it, and B's
 * provider has it before RECV_DONE reaches B (ntbrdma_ib_inbox.c).
 * Nothing published: RNR, retried by the engine after the responder's
 * min_rnr_timer (carried in RECV_POST), or at once when a RECV_POST
 * comes (a message of B through the inbox may overtake it).
 *
 * The provider kicks publishing with an empty post_recv while the RQ
 * ring's `engine` word is clear; the word stays set while nothing needs
 * publishing (a QP not connected to the peer, ERR, RESET).
 *
 * Epochs.  When B's receive ring is flushed (ERR) or emptied (RESET), or
 * the QP is destroyed, B bumps its epoch and, if it published in the old
 * one, sends RRQ_FLUSH; A drops what it holds and treats B's QP as not
 * answering (no ACK in IB terms: retried on the transport timer, then
 * IB_WC_RETRY_EXC_ERR) until a RECV_POST of the new epoch arrives.
 * Control messages arrive in order, so a RECV_POST of an older epoch can
 * only be one sent while the flush happened: A drops it.  An RRQ_FLUSH
 * may be overtaken by the new epoch's first RECV_POST: A ignores a flush
 * of the epoch it has.  RECV_DONEs of an older epoch are ignored by B.
 *
 * READ (ntbrdma_ib_read.c).  A sends READ_REQ {remote va, rkey, len, A's
 * destination SGEs}; B checks its MR (REMOTE_READ, its QP's PD) and
 * copies from its pages into A's pages through the window (A's MRs are
 * in B's remote-MR table), then answers READ_DONE {status}.  Several
 * READs of a QP may be in flight.
 *
 * The handlers of the peer's messages, which check every message and
 * say what they lock, are in ntbrdma_ib_peer_rx.c; the wire format and
 * the bounds in ntbrdma_ib_peer.h.
 */
#include <linux/slab.h>

#include "ntbrdma_ib_peer.h"

bool ntbr_peer_state_rcv(enum ib_qp_state s)
{
	return s == IB_QPS_RTR || s == IB_QPS_RTS || s == IB_QPS_SQD ||
	       s == IB_QPS_SQE;
}

void ntbr_rrq_free_list(struct list_head *list)
{
	struct ntbr_rrq_ent *e, *tmp;

	list_for_each_entry_safe(e, tmp, list, entry) {
		list_del(&e->entry);
		kfree(e);
	}
}

size_t ntbr_rrq_ent_size(const struct ntbr_rrq_ent *e)
{
	return struct_size(e, sge, e->nsge);
}

void ntbr_rrq_take_all(struct ntbr_qp *qp, struct list_head *old)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);

	list_splice_tail_init(&qp->rrq, old);
	ntbr_pub_ring_reset(qp);
	atomic_long_sub(qp->rrq_bytes, &dev->rrq_bytes);
	qp->rrq_bytes = 0;
	qp->rrq_count = 0;
}

bool ntbr_rrq_new_epoch(struct ntbr_qp *qp, u32 epoch,
			struct list_head *old)
{
	if ((s32)(epoch - qp->rrq_epoch) <= 0)
		return false;
	ntbr_rrq_take_all(qp, old);
	qp->rrq_epoch = epoch;
	return true;
}

/* IB_ACCESS_REMOTE_* <-> NTBR_POST_A_* (what qp accepts as a responder) */
static u8 ntbr_post_access(struct ntbr_qp *qp)
{
	int access = qp->attr.qp_access_flags;

	if (!qp->attr.max_dest_rd_atomic)
		access &= ~(IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC);
	return (access & IB_ACCESS_REMOTE_WRITE ? NTBR_POST_A_WRITE : 0) |
	       (access & IB_ACCESS_REMOTE_READ ? NTBR_POST_A_READ : 0) |
	       (access & IB_ACCESS_REMOTE_ATOMIC ? NTBR_POST_A_ATOMIC : 0);
}

u32 ntbr_post_ib_access(u8 a)
{
	return (a & NTBR_POST_A_WRITE ? IB_ACCESS_REMOTE_WRITE : 0) |
	       (a & NTBR_POST_A_READ ? IB_ACCESS_REMOTE_READ : 0) |
	       (a & NTBR_POST_A_ATOMIC ? IB_ACCESS_REMOTE_ATOMIC : 0);
}

u32 ntbr_pub_max(u32 rq_slots)
{
	return min(rq_slots, NTBR_PUB_AHEAD);
}

/* --- B: publishing our receives ---------------------------------------- */

/* Append one receive (a private copy of its slot) to the message. */
void ntbr_pub_add(struct ntbr_ib_dev *dev, struct ib_pd *pd,
		  const struct ntbrdma_recv_wqe *w, u32 index, u8 *buf,
		  size_t *len, __le16 *count)
{
	struct ntbr_qp_msg_rcv *r = (void *)(buf + *len);
	u32 n = min_t(u32, w->num_sge, NTBRDMA_MAX_SGE), i, k = 0;
	u64 total = 0;
	u8 flags = 0;

	for (i = 0; i < n; i++) {
		if (!w->sge[i].length)
			continue;
		if (!ntbr_eng_mr(dev, pd, w->sge[i].lkey, w->sge[i].addr,
				 w->sge[i].length, IB_ACCESS_LOCAL_WRITE))
			flags |= NTBR_RCV_F_BAD;
		total += w->sge[i].length;
		r->sge[k].va = cpu_to_le64(w->sge[i].addr);
		r->sge[k].key = cpu_to_le32(w->sge[i].lkey);
		r->sge[k].len = cpu_to_le32(w->sge[i].length);
		k++;
	}
	if (total > NTBR_MAX_MSG_SZ)
		flags |= NTBR_RCV_F_BAD;
	r->rq_index = cpu_to_le32(index);
	r->nsge = k;
	r->flags = flags;
	r->rsvd = 0;
	*len += struct_size(r, sge, k);
	le16_add_cpu(count, 1);
}

enum ntbr_pub {
	NTBR_PUB_IDLE,		/* the QP does not publish (not connected) */
	NTBR_PUB_DONE,		/* everything posted is published */
	NTBR_PUB_HELD,		/* more posted: NTBR_PUB_AHEAD or *budget */
	NTBR_PUB_WAIT,		/* the control queue is long: called back */
};

/*
 * Publish the receives posted since the last time, at most *budget of
 * them, never more than NTBR_PUB_AHEAD beyond the last completed one,
 * and no new message while the control queue is long (NTBR_PUB_WAIT).
 * Caller holds eng_sem (read) and qp->pub_mutex.
 */
static enum ntbr_pub ntbr_pub_run(struct ntbr_ib_dev *dev,
				  struct ntbr_qp *qp, u32 *budget)
{
	const size_t most = struct_size((struct ntbr_qp_msg_rcv *)NULL, sge,
					NTBRDMA_MAX_SGE);
	struct ntbr_qp_msg_post *h = qp->pub_buf;
	struct ntbrdma_recv_wqe *w = qp->pub_wqe;
	bool ok, have, held = false, send = false;
	u32 prod, index = 0, epoch = 0;
	unsigned long flags;
	size_t len = 0;		/* 0: no message started */

	for (;;) {
		/* Before a message: hold back while the control queue is long. */
		if (!len && ntbr_eng_ctrl_wait(qp, NTBR_QP_WAIT_RQ))
			return NTBR_PUB_WAIT;
		spin_lock_irqsave(&qp->rq_lock, flags);
		ok = READ_ONCE(qp->dest) == NTBR_QP_DEST_PEER &&
		     ntbr_peer_state_rcv(READ_ONCE(qp->state)) &&
		     ntbr_wq_prod(qp, &qp->rq, &prod) &&
		     (!len || epoch == qp->rq_epoch);
		have = false;
		if (ok && !len) {
			epoch = qp->rq_epoch;
			memset(h, 0, sizeof(*h));
			h->dst_qpn = cpu_to_le32(qp->attr.dest_qp_num);
			h->src_qpn = cpu_to_le32(qp->ibqp.qp_num);
			h->epoch = cpu_to_le32(epoch);
			h->pd_id = cpu_to_le32(qp->ibqp.pd->res.id);
			h->rnr_timer = qp->attr.min_rnr_timer;
			h->access = ntbr_post_access(qp) |
				    (ntbr_qp_uc(qp) ? NTBR_POST_A_UC : 0);
			h->rq_order = ilog2(qp->rq.num_wqe);
			ntbr_inbox_post_info(qp, h);
			if (qp->ibqp.srq)
				h->srq_id =
					cpu_to_le32(to_ntbr_srq(qp->ibqp.srq)->id);
			len = sizeof(*h);
			/*
			 * The first message of an epoch goes even if empty:
			 * it tells the peer QP that we are connected back.
			 */
			send = !qp->pub_any || qp->pub_hdr;
			qp->pub_any = true;
			qp->pub_hdr = false;
			qp->pub_qpn = qp->attr.dest_qp_num;
		}
		if (ok) {
			/* Eager messages send no RECV_DONE: what was taken. */
			ntbr_inbox_catch_up(qp);
			/* Published receives lie in [cons, prod]. */
			if (qp->rq_pub - qp->rq.cons > prod - qp->rq.cons) {
				qp->rq_pub = qp->rq.cons;
				WRITE_ONCE(qp->rq.ctrl->rx_pub, qp->rq_pub);
			}
			held = qp->rq_pub != prod;
			if (held && *budget &&
			    qp->rq_pub - qp->rq.cons <
				    ntbr_pub_max(qp->rq.num_wqe)) {
				index = qp->rq_pub++;
				/* Owner: kernel (the provider's kick rule). */
				WRITE_ONCE(qp->rq.ctrl->rx_pub, qp->rq_pub);
				memcpy(w, ntbr_wq_slot(&qp->rq, index),
				       sizeof(*w));
				have = true;
				held = false;
				(*budget)--;
			}
		}
		spin_unlock_irqrestore(&qp->rq_lock, flags);
		if (have) {
			ntbr_pub_add(dev, qp->ibqp.pd, w, index, qp->pub_buf,
				     &len, &h->count);
			send = true;
			if (len + most <= NTBR_CTRL_MAX_PAYLOAD)
				continue;
		}
		/* Lost only when the link goes (its QPs go to ERR then). */
		if (send)
			ntbr_mr_send(dev, NTBR_CTRL_QP_RECV_POST, h, len);
		send = false;
		len = 0;
		if (!ok)
			return NTBR_PUB_IDLE;
		if (!have)
			return held ? NTBR_PUB_HELD : NTBR_PUB_DONE;
	}
}

/*
 * Kick (provider's empty post_recv, kernel post_recv, modify to RTR):
 * publish until the RQ is seen with nothing new after the engine word
 * was cleared.  Process context, no QP lock held.  Bounded: after
 * NTBR_PUB_BUDGET receives the rest goes on in rq_work, and a QP with
 * NTBR_PUB_AHEAD receives published goes on when RECV_DONE frees one
 * (ntbr_peer_h_done), one that waited for the control queue when
 * ntbr_eng_ctrl_room() queues rq_work; the engine word stays set
 * meanwhile.
 */
void ntbr_peer_rq_kick(struct ntbr_qp *qp)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	u32 prod, budget = NTBR_PUB_BUDGET;
	enum ntbr_pub pub;
	unsigned long flags;
	bool more;

	down_read(&dev->eng_sem);
	mutex_lock(&qp->pub_mutex);
	for (;;) {
		/* Owner: kernel.  Set while we will see new receives. */
		WRITE_ONCE(qp->rq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
		pub = ntbr_pub_run(dev, qp, &budget);
		if (pub == NTBR_PUB_IDLE || pub == NTBR_PUB_WAIT)
			break;		/* nothing to publish, or called back */
		if (pub == NTBR_PUB_HELD) {
			if (!budget)
				queue_work(ntbr_mr_wq, &qp->rq_work);
			break;		/* stays set: we go on by ourselves */
		}
		WRITE_ONCE(qp->rq.ctrl->engine, 0);
		/* Flag clear before the prod load: pairs with the provider. */
		smp_mb();
		spin_lock_irqsave(&qp->rq_lock, flags);
		more = ntbr_wq_prod(qp, &qp->rq, &prod) && prod != qp->rq_pub;
		spin_unlock_irqrestore(&qp->rq_lock, flags);
		if (!more)
			break;
	}
	mutex_unlock(&qp->pub_mutex);
	up_read(&dev->eng_sem);
}

/* Send the RRQ_FLUSH that ntbr_peer_rq_flushed() left (process context). */
static void ntbr_peer_send_flush(struct ntbr_qp *qp)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_qp_msg_flush m = {};
	unsigned long flags;
	bool send;

	spin_lock_irqsave(&qp->rq_lock, flags);
	send = qp->flush_pending;
	qp->flush_pending = false;
	m.dst_qpn = cpu_to_le32(qp->flush_qpn);
	m.src_qpn = cpu_to_le32(qp->ibqp.qp_num);
	m.epoch = cpu_to_le32(qp->rq_epoch);
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	/*
	 * The peer ignores a flush of an epoch it already has: a RECV_POST
	 * of the new epoch may overtake this one (it drops the old then).
	 */
	if (send)
		ntbr_mr_send(dev, NTBR_CTRL_QP_RRQ_FLUSH, &m, sizeof(m));
}

static void ntbr_peer_rq_work(struct work_struct *work)
{
	struct ntbr_qp *qp = container_of(work, struct ntbr_qp, rq_work);

	/* Held back while the control queue is long (it stays pending). */
	if (!ntbr_eng_ctrl_wait(qp, NTBR_QP_WAIT_RQ))
		ntbr_peer_send_flush(qp);
	ntbr_peer_rq_kick(qp);
}

/* Kernel QPs post receives in any context: publish from a work item. */
void ntbr_peer_rq_kick_async(struct ntbr_qp *qp)
{
	if (READ_ONCE(qp->dest) == NTBR_QP_DEST_PEER)
		queue_work(ntbr_mr_wq, &qp->rq_work);
}

/*
 * The access flags or the RNR timer changed (modify_qp, under qp->mutex):
 * the peer QP learns them with the next RECV_POST, sent even if empty
 * (the caller kicks once it dropped the mutex).
 */
void ntbr_peer_attr_changed(struct ntbr_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->rq_lock, flags);
	qp->pub_hdr = true;
	spin_unlock_irqrestore(&qp->rq_lock, flags);
}

/* A new epoch of our receives; true when the peer must drop the old. */
static bool ntbr_peer_new_epoch(struct ntbr_qp *qp)
{
	unsigned long flags;
	bool flush;

	spin_lock_irqsave(&qp->rq_lock, flags);
	qp->rq_epoch++;
	ntbr_inbox_new_epoch(qp);
	qp->rq_pub = qp->rq.cons;
	/* Owner: kernel.  Nothing of the new epoch is published. */
	WRITE_ONCE(qp->rq.ctrl->rx_pub, qp->rq_pub);
	if (qp->pub_any) {
		qp->flush_pending = true;
		qp->flush_qpn = qp->pub_qpn;
	}
	qp->pub_any = false;
	flush = qp->flush_pending;
	/* Owner: kernel.  No kick needed until the QP receives again. */
	WRITE_ONCE(qp->rq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	return flush;
}

/*
 * Our receive ring was flushed or emptied (any context but hard irq):
 * a new epoch; the peer is told to drop what it holds (from a work item,
 * which holds back while the control queue is long).
 */
void ntbr_peer_rq_flushed(struct ntbr_qp *qp)
{
	if (ntbr_peer_new_epoch(qp))
		queue_work(ntbr_mr_wq, &qp->rq_work);
}

/* --- A: the peer's receives, SEND ------------------------------------ */

/*
 * Drop every receive the peer published to qp, and what we knew of its
 * QP (destroyed, link down): requests wait for a new RECV_POST.
 */
void ntbr_peer_rrq_clear(struct ntbr_qp *qp)
{
	unsigned long flags;
	LIST_HEAD(list);

	spin_lock_irqsave(&qp->rrq_lock, flags);
	ntbr_rrq_take_all(qp, &list);
	qp->peer_qpn = 0;
	qp->peer_srq = 0;
	qp->peer_inbox = (struct ntbr_pinbox){};
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	ntbr_rrq_free_list(&list);
	ntbr_umap_recheck(to_ntbr_ib(qp->ibqp.device));
}

bool ntbr_peer_conn(struct ntbr_qp *qp, u32 *pd_id, u32 *access)
{
	struct ntbr_pinbox pi;
	u32 epoch;

	return ntbr_peer_inbox(qp, &pi, &epoch, pd_id, access);
}

bool ntbr_peer_inbox(struct ntbr_qp *qp, struct ntbr_pinbox *pi, u32 *epoch,
		     u32 *pd_id, u32 *access)
{
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	ok = qp->peer_qpn && qp->peer_qpn == qp->attr.dest_qp_num &&
	     READ_ONCE(qp->peer_dead_qpn) != qp->peer_qpn;
	*pi = qp->peer_inbox;
	*epoch = qp->rrq_epoch;
	*pd_id = qp->peer_pd_id;
	*access = qp->peer_access;
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	return ok;
}

void ntbr_rrq_drop_eager(struct ntbr_qp *qp, struct list_head *old)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_rrq_ent *e;

	lockdep_assert_held(&qp->rrq_lock);
	while ((e = list_first_entry_or_null(&qp->rrq, struct ntbr_rrq_ent,
					     entry)) &&
	       e->src_qpn == qp->attr.dest_qp_num &&
	       ntbr_pub_eager_took(qp, e)) {
		list_move_tail(&e->entry, old);
		qp->rrq_count--;
		qp->rrq_bytes -= ntbr_rrq_ent_size(e);
		atomic_long_sub(ntbr_rrq_ent_size(e), &dev->rrq_bytes);
	}
}

/*
 * The first published receive of the connected peer QP (or of the SRQ
 * it receives from), taken off; *epoch: the peer QP's epoch then.
 */
static struct ntbr_rrq_ent *ntbr_rrq_pop(struct ntbr_qp *qp, u8 *rnr_timer,
					 u32 *epoch, struct ntbr_pinbox *pi)
{
	struct ntbr_qp_msg_pubreq req = {};
	struct ntbr_rrq_ent *e = NULL;
	bool pubreq = false;
	unsigned long flags;
	LIST_HEAD(stale);
	u32 srq;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	*rnr_timer = qp->peer_rnr_timer;
	*epoch = qp->rrq_epoch;
	*pi = qp->peer_inbox;
	srq = qp->peer_srq;
	while (!srq && (e = list_first_entry_or_null(&qp->rrq,
						     struct ntbr_rrq_ent,
						     entry))) {
		list_del(&e->entry);
		qp->rrq_count--;
		qp->rrq_bytes -= ntbr_rrq_ent_size(e);
		atomic_long_sub(ntbr_rrq_ent_size(e),
				&to_ntbr_ib(qp->ibqp.device)->rrq_bytes);
		/* Taken by an eager message of the provider: done with. */
		if (e->src_qpn == qp->attr.dest_qp_num &&
		    !ntbr_pub_eager_took(qp, e)) {
			ntbr_pub_took(qp, e);
			break;
		}
		list_add_tail(&e->entry, &stale);	/* an old connection */
	}
	if (!srq && !e) {
		qp->rrq_want = true;	/* ntbr_peer_h_post runs us */
		/*
		 * It may have receives posted and not published: ask, at
		 * each try (one per RNR wait or RECV_POST): receives it
		 * posts after an answer that had none are lazy again.
		 */
		pubreq = qp->peer_inbox.eager_order &&
			 qp->peer_qpn == qp->attr.dest_qp_num;
		if (pubreq) {
			req.dst_qpn = cpu_to_le32(qp->peer_qpn);
			req.src_qpn = cpu_to_le32(qp->ibqp.qp_num);
			req.epoch = cpu_to_le32(qp->rrq_epoch);
		}
	}
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	ntbr_rrq_free_list(&stale);
	/* Lost only with the link (its QPs go to ERR then). */
	if (pubreq)
		ntbr_mr_send(to_ntbr_ib(qp->ibqp.device), NTBR_CTRL_QP_PUB_REQ,
			     &req, sizeof(req));
	if (srq)
		return ntbr_srq_pop(to_ntbr_ib(qp->ibqp.device), srq);
	return e;
}

/*
 * Copy len bytes, from the local segments src or the inline bytes inl,
 * into the n pieces of the peer's memory that sge gives: keys of its
 * LOCAL_WRITE MRs, translated through the remote-MR table and referenced
 * for the copy (a receive's buffers, a READ's destination).  exact: the
 * pieces must hold exactly len bytes.  IB_WC_SUCCESS, IB_WC_LOC_PROT_ERR
 * (a key, range or the copy failed), IB_WC_LOC_LEN_ERR, or -ENOTCONN.
 */
int ntbr_peer_copy_to(struct ntbr_ib_dev *dev,
		      const struct ntbr_wire_sge *sge, u32 n,
		      struct ntbr_rseg *rdst, struct ntbr_seg *src,
		      u32 nsrc, const void *inl, u64 len, bool exact)
{
	struct ntbr_dst d = { .dev = dev, .rseg = rdst };
	int status = IB_WC_SUCCESS, err;
	u64 total = 0;
	u32 i;

	for (i = 0; i < n; i++) {
		struct ntbr_rseg *r = &rdst[d.nseg];

		r->va = le64_to_cpu(sge[i].va);
		r->len = le32_to_cpu(sge[i].len);
		total += r->len;
		if (ntbr_rmr_lookup(dev, le32_to_cpu(sge[i].key), r->va,
				    r->len, IB_ACCESS_LOCAL_WRITE, &r->rmr)) {
			status = IB_WC_LOC_PROT_ERR;
			break;
		}
		d.nseg++;
	}
	if (status == IB_WC_SUCCESS && exact && total != len)
		status = IB_WC_LOC_LEN_ERR;
	if (status == IB_WC_SUCCESS) {
		err = ntbr_eng_copy(src, nsrc, inl, len, &d);
		if (err == -ENOTCONN)
			status = -ENOTCONN;
		else if (err)
			status = IB_WC_LOC_PROT_ERR;
	}
	for (i = 0; i < d.nseg; i++)
		ntbr_rmr_put(rdst[i].rmr);
	return status;
}

int ntbr_peer_send(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		   struct ntbr_eng_ctx *c, u32 nsrc, bool write_imm,
		   u8 *rnr_timer)
{
	struct ntbrdma_send_wqe *wqe = &c->wqe;
	struct ntbr_qp_msg_done m = {};
	int status = IB_WC_SUCCESS, rstatus = IB_WC_SUCCESS;
	struct ntbrdma_cqe cqe = {};
	struct ntbr_rrq_ent *e;
	struct ntbr_pinbox pi;
	unsigned long flags;
	bool stale, srq;
	u32 epoch;

	e = ntbr_rrq_pop(qp, rnr_timer, &epoch, &pi);
	if (!e)
		return -EAGAIN;
	srq = !e->src_qpn;	/* a receive of the peer QP's SRQ */
	if (write_imm) {
		/* The data went to the rkey's MR; the receive only completes. */
	} else if (e->flags & NTBR_RCV_F_BAD) {
		rstatus = IB_WC_LOC_PROT_ERR;
	} else if (c->len > e->total) {
		rstatus = IB_WC_LOC_LEN_ERR;
	} else if (c->len) {
		rstatus = ntbr_peer_copy_to(dev, e->sge, e->nsge, c->rdst,
					    c->src, nsrc,
					    wqe->flags & NTBRDMA_WQE_F_INLINE ?
						    wqe->d.inline_data : NULL,
					    c->len, false);
		if (rstatus == -ENOTCONN) {
			kfree(e);
			return IB_WC_RETRY_EXC_ERR;
		}
	}
	if (rstatus == IB_WC_LOC_LEN_ERR)
		status = IB_WC_REM_INV_REQ_ERR;
	else if (rstatus != IB_WC_SUCCESS)
		status = IB_WC_REM_OP_ERR;

	m.dst_qpn = cpu_to_le32(srq ? qp->attr.dest_qp_num : e->src_qpn);
	m.src_qpn = cpu_to_le32(qp->ibqp.qp_num);
	m.epoch = cpu_to_le32(e->epoch);
	m.rq_index = cpu_to_le32(e->rq_index);
	m.byte_len = cpu_to_le32(c->len);
	m.opcode = write_imm ? NTBR_RECV_OP_WRITE_IMM : NTBR_RECV_OP_SEND;
	if (wqe->opcode != IB_UVERBS_WR_SEND) {
		m.flags |= NTBR_DONE_F_IMM;
		m.imm = wqe->ex;
	}
	if (wqe->flags & NTBRDMA_WQE_F_SOLICITED)
		m.flags |= NTBR_DONE_F_SOLICITED;
	m.status = rstatus;
	if (srq)
		m.flags |= NTBR_DONE_F_SRQ;
	/*
	 * Its QP has an inbox: the completion goes there first, after the
	 * data (ntbr_peer_inbox_put orders them), so the responder's
	 * provider has it before RECV_DONE reaches the responder's kernel.
	 */
	if (!srq && rstatus == IB_WC_SUCCESS) {
		ntbr_done_cqe(&m, &cqe);
		if (!ntbr_peer_inbox_put(dev, &pi, e->rq_index, e->epoch, &cqe,
					 m.flags & NTBR_DONE_F_SOLICITED))
			m.flags |= NTBR_DONE_F_INBOX;
	}
	/* Flushed while we copied: the responder is in error, no answer. */
	spin_lock_irqsave(&qp->rrq_lock, flags);
	stale = (srq ? epoch : e->epoch) != qp->rrq_epoch;
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	kfree(e);
	/*
	 * An SRQ's receive is answered even then: its SRQ gets it back or
	 * completes it in error for its QP (ntbr_srq_h_done).
	 */
	if (stale && !srq)
		return IB_WC_RETRY_EXC_ERR;
	if (ntbr_mr_send(dev, NTBR_CTRL_QP_RECV_DONE, &m, sizeof(m)) || stale)
		return IB_WC_RETRY_EXC_ERR;
	return status;
}

/* --- QP life ---------------------------------------------------------- */

static void ntbr_peer_qp_free(struct ntbr_qp *qp)
{
	kfree(qp->pub_buf);
	kfree(qp->pub_wqe);
	kfree(qp->pub_rd);
	qp->pub_buf = NULL;
	qp->pub_wqe = NULL;
	qp->pub_rd = NULL;
}

int ntbr_peer_qp_init(struct ntbr_qp *qp)
{
	qp->pub_buf = kzalloc(NTBR_CTRL_MAX_PAYLOAD, GFP_KERNEL);
	qp->pub_wqe = kzalloc(sizeof(*qp->pub_wqe), GFP_KERNEL);
	qp->pub_rd = kzalloc(NTBR_CTRL_MAX_PAYLOAD, GFP_KERNEL);
	if (!qp->pub_buf || !qp->pub_wqe || !qp->pub_rd) {
		ntbr_peer_qp_free(qp);
		return -ENOMEM;
	}
	mutex_init(&qp->pub_mutex);
	spin_lock_init(&qp->rrq_lock);
	INIT_LIST_HEAD(&qp->rrq);
	INIT_WORK(&qp->rq_work, ntbr_peer_rq_work);
	if (ntbr_read_qp_init(qp)) {
		mutex_destroy(&qp->pub_mutex);
		ntbr_peer_qp_free(qp);
		return -ENOMEM;
	}
	return 0;
}

/* The QP left dev->qps and eng_sem was synced: no handler finds it. */
void ntbr_peer_qp_fini(struct ntbr_qp *qp)
{
	cancel_work_sync(&qp->rq_work);
	ntbr_read_qp_fini(qp);		/* the peer's READs queued here */
	ntbr_peer_new_epoch(qp);	/* the peer drops our receives */
	ntbr_peer_send_flush(qp);
	ntbr_peer_rrq_clear(qp);
	mutex_destroy(&qp->pub_mutex);
	ntbr_peer_qp_free(qp);
}

int ntbr_peer_init(void)
{
	u16 t;
	int err;

	for (t = NTBR_CTRL_QP_RECV_POST; t <= NTBR_CTRL_QP_LAST; t++) {
		err = ntbr_ctrl_register(t, ntbr_peer_ctrl);
		if (err) {
			while (t-- > NTBR_CTRL_QP_RECV_POST)
				ntbr_ctrl_unregister(t);
			return err;
		}
	}
	return 0;
}

void ntbr_peer_exit(void)
{
	u16 t;

	for (t = NTBR_CTRL_QP_RECV_POST; t <= NTBR_CTRL_QP_LAST; t++)
		ntbr_ctrl_unregister(t);
}
