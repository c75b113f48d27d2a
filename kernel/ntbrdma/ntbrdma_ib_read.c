// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: RDMA READ and atomics between the hosts, pipelined
 * (rdma-datapath.md, "Kernel bypass", part 4).  The responder pushes the
 * data: nothing is read across the NTB.
 *
 * Atomics (CMP_AND_SWP, FETCH_AND_ADD) go the same way as an 8-byte
 * READ: ATOMIC_REQ {req_id, op, va, rkey, compare_add, swap, A's 8-byte
 * SGE}; B executes it with a locked instruction on its own page
 * (ntbr_eng_atomic: atomic against its CPUs and every other atomic of
 * the device, IB_ATOMIC_HCA and more), writes the value from before into
 * A's SGE, little endian, and answers READ_DONE.  They share the READs'
 * req_ids, limits and queues, and complete in order with them.
 *
 * Requester A.  The engine sends READ_REQ {req_id, remote va, rkey, len,
 * A's destination SGEs} and goes on with the next WQE if it is a READ
 * too, up to the QP's max_rd_atomic (at least 1) READs in flight.  A WQE
 * of another kind waits until every READ before it completed: a WRITE or
 * SEND after a READ must not land before the responder read.  The READs
 * in flight stay in the SQ ring between cons and cons + rd_sq, so a flush
 * completes them like any posted WQE; what their completions need is
 * kept in qp->rd_q, by req_id (consecutive per QP).  The responder
 * answers each READ_REQ exactly once with READ_DONE {req_id, status};
 * the completions are posted in SQ order whatever order the answers come
 * in.  A READ flushed (ERR, RESET) is still counted against the limits
 * until its answer comes, so the responder never holds more of our READs
 * than the limits allow; only a link loss (the peer's queue went with
 * the link) or the QP's destruction forgets them.  An answer is matched
 * by our QP number and req_id alone (the QP may have been reconnected
 * since: the answer still comes from the QP it was sent to); req_ids
 * start at a random value, so an answer to a destroyed QP does not
 * complete a READ of a new QP that got its number.
 *
 * Bounds.  Per QP: NTBR_MAX_RD_ATOM READs unanswered.  Per device: the
 * first READ of each QP plus at most NTBR_RD_EXTRA_MAX more, so the
 * READ_DONEs we may have queued for the peer, and its READs queued on
 * our QPs, stay bounded (ntbrdma_ib_mr.c, control-channel.md).
 *
 * Responder B.  The control handler checks the READ_REQ, finds the QP it
 * is for (connected to the sender's QP) and queues a copy on it
 * (qp->rd_in); more queued on all QPs than a correct peer can have in
 * flight is dropped and logged.  The QP's work item rd_work executes
 * them in order, outside the control handler (a 1 MiB READ no longer
 * holds up the other control messages), except that the handler
 * answers a READ of at most 4 KiB or an atomic itself when nothing of
 * its QP is queued or executing (qp->rd_busy): each after the QP's checks
 * (state, REMOTE_READ, max_dest_rd_atomic, the MR's key, range and PD),
 * and after waiting for room in the control queue as the engine does;
 * then it answers READ_DONE.  Destroying the QP answers what is still
 * queued with IB_WC_RETRY_EXC_ERR (no QP answers); so does a request
 * that finds no QP, or no ib_device at all (ntbr_read_h_req_nodev).
 *
 * What each attacker reaches: a local process only its own SQ (the WQE
 * is copied before it is used); the peer only the checks above, with
 * every field of its messages bounded, and an answer never completes a
 * READ we did not send or one twice.
 */
#include <linux/random.h>
#include <linux/slab.h>

#include "ntbrdma_ib_peer.h"

/* The peer's READs queued on all our QPs: a correct peer's unanswered. */
#define NTBR_RD_IN_MAX		(NTBR_MAX_QP + NTBR_RD_EXTRA_MAX)
/* READs the control handler answers itself (ntbr_rd_inline), bytes. */
#define NTBR_RD_INLINE_MAX	4096U

static_assert((NTBR_MAX_RD_ATOM & (NTBR_MAX_RD_ATOM - 1)) == 0);
/* READ_REQ and ATOMIC_REQ begin alike: ntbr_rd_answer() reads either. */
static_assert(offsetof(struct ntbr_qp_msg_atomic, req_id) ==
	      offsetof(struct ntbr_qp_msg_read, req_id));
static_assert(offsetof(struct ntbr_qp_msg_atomic, src_qpn) ==
	      offsetof(struct ntbr_qp_msg_read, src_qpn));

/*
 * A READ_REQ or ATOMIC_REQ of the peer, queued on the QP it is for: the
 * message as it came (ntbr_rd_read(); an ATOMIC_REQ begins alike).
 */
struct ntbr_rd_req {
	struct list_head entry;
	u16 type;			/* NTBR_CTRL_QP_READ_REQ, _ATOMIC_REQ */
	u64 msg[];
};

/* Both message types begin with READ_REQ's dst_qpn, src_qpn, req_id. */
static struct ntbr_qp_msg_read *ntbr_rd_read(struct ntbr_rd_req *r)
{
	return (struct ntbr_qp_msg_read *)r->msg;
}

static struct ntbr_rd_ent *ntbr_rd_ent(struct ntbr_qp *qp, u32 req_id)
{
	return &qp->rd_q[req_id & (NTBR_MAX_RD_ATOM - 1)];
}

/* --- A: our READs -------------------------------------------------------- */

/*
 * Under rrq_lock: make qp's charge on dev->rd_extra what its unanswered
 * READs need, plus one if @one_more.  False if the device has no room.
 */
static bool ntbr_rd_charge(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			   bool one_more)
{
	u32 n = qp->rd_id - qp->rd_acked + one_more;
	u32 want = n ? n - 1 : 0;

	if (want > qp->rd_extra) {
		if (atomic_add_return(want - qp->rd_extra, &dev->rd_extra) >
		    NTBR_RD_EXTRA_MAX) {
			atomic_sub(want - qp->rd_extra, &dev->rd_extra);
			return false;
		}
	} else {
		atomic_sub(qp->rd_extra - want, &dev->rd_extra);
	}
	qp->rd_extra = want;
	return true;
}

bool ntbr_read_may_issue(struct ntbr_qp *qp)
{
	u32 max = clamp_t(u32, qp->attr.max_rd_atomic, 1, NTBR_MAX_RD_ATOM);
	unsigned long flags;
	bool ok;

	if (qp->rd_sq >= max)
		return false;
	spin_lock_irqsave(&qp->rrq_lock, flags);
	ok = qp->rd_id - qp->rd_acked < max &&
	     ntbr_rd_charge(to_ntbr_ib(qp->ibqp.device), qp, true);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	return ok;
}

/*
 * Send the request m (type, len bytes, its req_id field at *req_id) for
 * the WQE in c: -EINPROGRESS, or an ib_wc_status if it could not go.
 */
static int ntbr_rd_send(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			struct ntbr_eng_ctx *c, u16 type, void *m, size_t len,
			__le32 *req_id)
{
	struct ntbr_rd_ent *e;
	unsigned long flags;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	/* The engine asked ntbr_read_may_issue() first, which charged it. */
	if (WARN_ON_ONCE(qp->rd_id - qp->rd_acked >= NTBR_MAX_RD_ATOM ||
			 !ntbr_rd_charge(dev, qp, true))) {
		spin_unlock_irqrestore(&qp->rrq_lock, flags);
		return IB_WC_GENERAL_ERR;
	}
	qp->rd_id++;
	e = ntbr_rd_ent(qp, qp->rd_id);
	e->wr_id = c->wqe.wr_id;
	e->len = c->len;
	e->flags = c->wqe.flags;
	e->opcode = c->wqe.opcode;
	e->status = -1;
	*req_id = cpu_to_le32(qp->rd_id);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	if (ntbr_mr_send(dev, type, m, len)) {
		/* The link went: nothing was sent, nothing will answer. */
		spin_lock_irqsave(&qp->rrq_lock, flags);
		qp->rd_id--;
		ntbr_rd_charge(dev, qp, false);
		spin_unlock_irqrestore(&qp->rrq_lock, flags);
		return IB_WC_RETRY_EXC_ERR;
	}
	qp->rd_sq++;
	return -EINPROGRESS;
}

int ntbr_peer_read(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		   struct ntbr_eng_ctx *c, u32 nsrc)
{
	struct ntbr_qp_msg_read *m = qp->pub_rd;
	u32 i;

	m->dst_qpn = cpu_to_le32(qp->attr.dest_qp_num);
	m->src_qpn = cpu_to_le32(qp->ibqp.qp_num);
	m->len = cpu_to_le32(c->len);
	m->va = cpu_to_le64(c->wqe.u.rdma.remote_addr);
	m->rkey = cpu_to_le32(c->wqe.u.rdma.rkey);
	m->nsge = nsrc;
	memset(m->rsvd, 0, sizeof(m->rsvd));
	for (i = 0; i < nsrc; i++) {
		m->sge[i].va = cpu_to_le64(c->src[i].va);
		m->sge[i].key = cpu_to_le32(c->src[i].mr->ibmr.lkey);
		m->sge[i].len = cpu_to_le32(c->src[i].len);
	}
	return ntbr_rd_send(dev, qp, c, NTBR_CTRL_QP_READ_REQ, m,
			    struct_size(m, sge, nsrc), &m->req_id);
}

int ntbr_peer_atomic(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		     struct ntbr_eng_ctx *c)
{
	const struct ntbrdma_send_wqe *w = &c->wqe;
	struct ntbr_qp_msg_atomic *m = qp->pub_rd;

	memset(m, 0, sizeof(*m));
	m->dst_qpn = cpu_to_le32(qp->attr.dest_qp_num);
	m->src_qpn = cpu_to_le32(qp->ibqp.qp_num);
	m->rkey = cpu_to_le32(w->u.atomic.rkey);
	m->va = cpu_to_le64(w->u.atomic.remote_addr);
	m->compare_add = cpu_to_le64(w->u.atomic.compare_add);
	m->swap = cpu_to_le64(w->u.atomic.swap);
	m->op = w->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP ?
			NTBR_ATOMIC_CMP_SWAP : NTBR_ATOMIC_FETCH_ADD;
	/* One 8-byte SGE (ntbr_eng_exec checked it). */
	m->sge.va = cpu_to_le64(c->src[0].va);
	m->sge.key = cpu_to_le32(c->src[0].mr->ibmr.lkey);
	m->sge.len = cpu_to_le32(8);
	return ntbr_rd_send(dev, qp, c, NTBR_CTRL_QP_ATOMIC_REQ, m, sizeof(*m),
			    &m->req_id);
}

void ntbr_read_reap(struct ntbr_qp *qp)
{
	struct ntbr_rd_ent e;
	unsigned long flags;

	lockdep_assert_held(&qp->mutex);
	while (qp->rd_sq) {
		spin_lock_irqsave(&qp->rrq_lock, flags);
		e = *ntbr_rd_ent(qp, qp->rd_id - qp->rd_sq + 1);
		spin_unlock_irqrestore(&qp->rrq_lock, flags);
		if (e.status < 0)
			return;
		qp->rd_sq--;	/* first: an error completion flushes the rest */
		ntbr_eng_complete_head(qp, e.wr_id, e.opcode, e.flags, e.len,
				       e.status);
	}
}

/* No answer will come to the READs not answered yet. */
static void ntbr_read_forget(struct ntbr_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	qp->rd_acked = qp->rd_id;
	ntbr_rd_charge(to_ntbr_ib(qp->ibqp.device), qp, false);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
}

static struct ntbr_rd_req *ntbr_rd_pop(struct ntbr_qp *qp);
static void ntbr_rd_free(struct ntbr_ib_dev *dev, struct ntbr_rd_req *r);

void ntbr_read_link_down(struct ntbr_qp *qp)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_rd_req *r;
	struct ntbr_rd_ent e;
	unsigned long flags;

	lockdep_assert_held(&qp->mutex);
	/*
	 * The peer's READs queued here went with the link: none may run
	 * once it is up again (its requester forgot them).
	 */
	while ((r = ntbr_rd_pop(qp)))
		ntbr_rd_free(dev, r);
	spin_lock_irqsave(&qp->rrq_lock, flags);
	e = *ntbr_rd_ent(qp, qp->rd_id - qp->rd_sq + 1);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	/* The peer's queue went with the link: no answer will come. */
	ntbr_read_forget(qp);
	if (qp->rd_sq && qp->dest == NTBR_QP_DEST_PEER) {
		qp->rd_sq--;
		ntbr_eng_complete_head(qp, e.wr_id, e.opcode, e.flags, e.len,
				       IB_WC_RETRY_EXC_ERR);
	}
}

/* A: the answer to one of our READs. */
void ntbr_read_h_done(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_qp_msg_rdone *m = p;
	struct ntbr_rd_ent *e;
	unsigned long flags;
	struct ntbr_qp *qp;
	u32 status, id;
	bool ok = false;

	if (len != sizeof(*m))
		return ntbr_peer_bad(dev, "malformed READ_DONE", 0);
	status = le32_to_cpu(m->status);
	id = le32_to_cpu(m->req_id);
	down_read(&dev->eng_sem);
	qp = xa_load(&dev->qps, le32_to_cpu(m->dst_qpn));
	if (qp && status <= IB_WC_GENERAL_ERR) {
		spin_lock_irqsave(&qp->rrq_lock, flags);
		e = ntbr_rd_ent(qp, id);
		/* One we sent (unanswered: after rd_acked), answered once. */
		ok = id - qp->rd_acked - 1 < qp->rd_id - qp->rd_acked &&
		     e->status < 0;
		if (ok) {
			e->status = status;
			while (qp->rd_acked != qp->rd_id &&
			       ntbr_rd_ent(qp, qp->rd_acked + 1)->status >= 0)
				qp->rd_acked++;
			ntbr_rd_charge(dev, qp, false);
		}
		spin_unlock_irqrestore(&qp->rrq_lock, flags);
		if (ok)
			ntbr_eng_read_answered(qp);
	}
	up_read(&dev->eng_sem);
	if (!ok)
		ntbr_peer_bad(dev, "READ_DONE", le32_to_cpu(m->dst_qpn));
}

/* --- B: the peer's READs ------------------------------------------------- */

/*
 * READ_DONE for the request whose first three words (dst_qpn, src_qpn,
 * req_id: the same in READ_REQ and ATOMIC_REQ) are at m.
 */
static void ntbr_rd_answer_nd(struct ntbr_dev *nd,
			      const struct ntbr_qp_msg_read *m, int status)
{
	struct ntbr_qp_msg_rdone a = {
		.dst_qpn = m->src_qpn,
		.src_qpn = m->dst_qpn,
		.req_id = m->req_id,
		.status = cpu_to_le32(status),
	};

	int ret = ntbr_ctrl_send(nd, NTBR_CTRL_QP_READ_DONE, &a, sizeof(a));

	/* Anything but "the link went" is a bug of ours (size, type). */
	WARN_ON_ONCE(ret && ret != -ENOTCONN);
}

static void ntbr_rd_answer(struct ntbr_ib_dev *dev,
			   const struct ntbr_qp_msg_read *m, int status)
{
	ntbr_rd_answer_nd(dev->nd, m, status);
}

/* Still the QP the request was for, connected to the sender's QP. */
static bool ntbr_rd_qp_ok(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			  const struct ntbr_qp_msg_read *m)
{
	return ntbr_peer_qp(dev, le32_to_cpu(m->dst_qpn),
			    le32_to_cpu(m->src_qpn), false) == qp &&
	       ntbr_peer_state_rcv(READ_ONCE(qp->state));
}

/* Execute one atomic of the peer; the old value goes into its page. */
static int ntbr_rd_exec_atomic(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			       const struct ntbr_qp_msg_atomic *m)
{
	__le64 wire;
	u64 old;
	int status;

	if (m->op != NTBR_ATOMIC_CMP_SWAP && m->op != NTBR_ATOMIC_FETCH_ADD)
		return IB_WC_REM_INV_REQ_ERR;
	status = ntbr_eng_atomic(dev, qp, le32_to_cpu(m->rkey),
				 le64_to_cpu(m->va),
				 m->op == NTBR_ATOMIC_CMP_SWAP ?
					 IB_UVERBS_WR_ATOMIC_CMP_AND_SWP :
					 IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD,
				 le64_to_cpu(m->compare_add),
				 le64_to_cpu(m->swap), &old);
	if (status != IB_WC_SUCCESS)
		return status;
	wire = cpu_to_le64(old);
	return ntbr_peer_copy_to(dev, &m->sge, 1, qp->rd_dst, NULL, 0, &wire,
				 sizeof(wire), true);
}

/*
 * Execute one READ of the peer (or an atomic: type), m the message as it
 * came: push our data into its pages.  One at a time per QP (rd_busy):
 * qp->rd_dst is its scratch.
 */
static int ntbr_rd_exec(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			u16 type, const void *msg)
{
	const struct ntbr_qp_msg_read *m = msg;
	u32 rlen = le32_to_cpu(m->len);
	struct ntbr_seg src;
	int status;

	if (!ntbr_rd_qp_ok(dev, qp, m))
		return IB_WC_RETRY_EXC_ERR;	/* nobody answers */
	if (type == NTBR_CTRL_QP_ATOMIC_REQ)
		return ntbr_rd_exec_atomic(dev, qp, msg);
	/* As an HCA's responder: the QP's own READ permissions first. */
	status = ntbr_eng_resp_read_ok(qp);
	if (status != IB_WC_SUCCESS)
		return status;
	ntbr_seg_init(&src, NULL, le64_to_cpu(m->va), rlen);
	src.mr = ntbr_eng_mr(dev, qp->ibqp.pd, le32_to_cpu(m->rkey), src.va,
			     rlen, IB_ACCESS_REMOTE_READ);
	if (!src.mr)
		return IB_WC_REM_ACCESS_ERR;
	return ntbr_peer_copy_to(dev, m->sge, m->nsge, qp->rd_dst, &src, 1,
				 NULL, rlen, true);
}

/*
 * The next queued request, which the caller then executes (rd_busy set
 * until ntbr_rd_idle); NULL when none, or while the control handler
 * executes one (it queues rd_work again after).
 */
static struct ntbr_rd_req *ntbr_rd_pop(struct ntbr_qp *qp)
{
	struct ntbr_rd_req *r = NULL;
	unsigned long flags;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	if (!qp->rd_busy)
		r = list_first_entry_or_null(&qp->rd_in, struct ntbr_rd_req,
					     entry);
	if (r) {
		list_del(&r->entry);
		qp->rd_busy = true;
	}
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	return r;
}

/* The request executing was answered; true if more are queued. */
static bool ntbr_rd_idle(struct ntbr_qp *qp)
{
	unsigned long flags;
	bool more;

	spin_lock_irqsave(&qp->rrq_lock, flags);
	qp->rd_busy = false;
	more = !list_empty(&qp->rd_in);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	return more;
}

static void ntbr_rd_free(struct ntbr_ib_dev *dev, struct ntbr_rd_req *r)
{
	kfree(r);
	atomic_dec(&dev->rd_in);
}

/* rd_work: the QP's queued READs, in order. */
static void ntbr_rd_work(struct work_struct *work)
{
	struct ntbr_qp *qp = container_of(work, struct ntbr_qp, rd_work);
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_rd_req *r;
	int status;

	down_read(&dev->eng_sem);
	/* The control queue is long: ntbr_eng_ctrl_room() queues us again. */
	while (!ntbr_eng_ctrl_wait(qp, NTBR_QP_WAIT_RD)) {
		r = ntbr_rd_pop(qp);
		if (!r)
			break;
		status = ntbr_rd_exec(dev, qp, r->type, r->msg);
		/* -ENOTCONN: the link went, the requester fails the READ. */
		if (status != -ENOTCONN)
			ntbr_rd_answer(dev, ntbr_rd_read(r), status);
		ntbr_rd_free(dev, r);
		ntbr_rd_idle(qp);
		cond_resched();
	}
	up_read(&dev->eng_sem);
}

/*
 * B, in the control handler: a small READ (at most NTBR_RD_INLINE_MAX
 * bytes) or an atomic executed and answered at once, without waking
 * rd_work - if nothing of the QP is queued or executing (answers stay
 * in order) and the control queue has room (else rd_work waits for it).
 * A copy this short holds up the other control messages less than the
 * work item's wake-up costs the READ.  False: queue it.
 */
static bool ntbr_rd_inline(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			   u16 type, const struct ntbr_qp_msg_read *m)
{
	unsigned long flags;
	bool inl;
	int status;

	if (type != NTBR_CTRL_QP_ATOMIC_REQ &&
	    le32_to_cpu(m->len) > NTBR_RD_INLINE_MAX)
		return false;
	spin_lock_irqsave(&qp->rrq_lock, flags);
	inl = !qp->rd_busy && list_empty(&qp->rd_in) &&
	      !ntbr_ctrl_congested(dev->nd);
	if (inl)
		qp->rd_busy = true;
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	if (!inl)
		return false;
	status = ntbr_rd_exec(dev, qp, type, m);
	if (status != -ENOTCONN)
		ntbr_rd_answer(dev, m, status);
	/* Queued meanwhile (rd_work found us busy): it goes on. */
	if (ntbr_rd_idle(qp))
		ntbr_eng_queue_work(&qp->rd_work);
	return true;
}

/* B: a READ or atomic of the peer, queued on its QP. */
void ntbr_read_h_req(struct ntbr_ib_dev *dev, u16 type, const void *p,
		     size_t len)
{
	const struct ntbr_qp_msg_read *m = p;
	struct ntbr_rd_req *r;
	unsigned long flags;
	struct ntbr_qp *qp;

	if (type == NTBR_CTRL_QP_ATOMIC_REQ) {
		if (len != sizeof(struct ntbr_qp_msg_atomic))
			return ntbr_peer_bad(dev, "malformed ATOMIC_REQ", 0);
	} else if (len < sizeof(*m) || m->nsge > NTBRDMA_MAX_SGE ||
		   len != struct_size(m, sge, m->nsge)) {
		return ntbr_peer_bad(dev, "malformed READ_REQ", 0);
	}
	down_read(&dev->eng_sem);
	qp = ntbr_peer_qp(dev, le32_to_cpu(m->dst_qpn),
			  le32_to_cpu(m->src_qpn), false);
	if (!qp || !ntbr_peer_state_rcv(READ_ONCE(qp->state))) {
		up_read(&dev->eng_sem);
		ntbr_rd_answer(dev, m, IB_WC_RETRY_EXC_ERR); /* nobody answers */
		return;
	}
	if (ntbr_rd_inline(dev, qp, type, m)) {
		up_read(&dev->eng_sem);
		return;
	}
	if (atomic_inc_return(&dev->rd_in) > NTBR_RD_IN_MAX) {
		atomic_dec(&dev->rd_in);
		up_read(&dev->eng_sem);
		return ntbr_peer_bad(dev, "READ_REQ beyond every limit",
				     le32_to_cpu(m->dst_qpn));
	}
	r = kmalloc(struct_size(r, msg, DIV_ROUND_UP(len, sizeof(u64))),
		    GFP_KERNEL);
	if (!r) {
		atomic_dec(&dev->rd_in);
		up_read(&dev->eng_sem);
		ntbr_rd_answer(dev, m, IB_WC_GENERAL_ERR);
		return;
	}
	r->type = type;
	memcpy(r->msg, m, len);
	spin_lock_irqsave(&qp->rrq_lock, flags);
	list_add_tail(&r->entry, &qp->rd_in);
	spin_unlock_irqrestore(&qp->rrq_lock, flags);
	ntbr_eng_queue_work(&qp->rd_work);
	up_read(&dev->eng_sem);
}

/*
 * B without an ib_device (`rdma link del` ran, or it is being removed
 * while the NTB link stays up): no QP will ever answer the peer's READ or
 * atomic, so we answer for it, as for a QP that is gone (the MR messages
 * get the same in ntbr_mr_ctrl_nodev).  Without this the peer's READ
 * would wait forever: nothing else tells it that our QPs are gone.  One
 * answer per request, as with a device, so the control-queue bound holds.
 */
void ntbr_read_h_req_nodev(struct ntbr_dev *nd, const void *p, size_t len)
{
	if (len < offsetofend(struct ntbr_qp_msg_read, req_id))
		return;
	ntbr_rd_answer_nd(nd, p, IB_WC_RETRY_EXC_ERR);
}

/* --- QP life --------------------------------------------------------------- */

int ntbr_read_qp_init(struct ntbr_qp *qp)
{
	qp->rd_dst = kmalloc_array(NTBRDMA_MAX_SGE, sizeof(*qp->rd_dst),
				   GFP_KERNEL);
	if (!qp->rd_dst)
		return -ENOMEM;
	INIT_LIST_HEAD(&qp->rd_in);
	INIT_WORK(&qp->rd_work, ntbr_rd_work);
	qp->rd_sq = 0;
	qp->rd_id = get_random_u32();
	qp->rd_acked = qp->rd_id;
	qp->rd_extra = 0;
	return 0;
}

/*
 * The QP left dev->qps and eng_sem was synced: no handler queues more.
 * What is queued is answered: nobody will execute it.
 */
void ntbr_read_qp_fini(struct ntbr_qp *qp)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_rd_req *r;

	cancel_work_sync(&qp->rd_work);
	while ((r = ntbr_rd_pop(qp))) {
		ntbr_rd_answer(dev, ntbr_rd_read(r), IB_WC_RETRY_EXC_ERR);
		ntbr_rd_free(dev, r);
	}
	ntbr_read_forget(qp);	/* its answers will find no QP */
	kfree(qp->rd_dst);
	qp->rd_dst = NULL;
}
