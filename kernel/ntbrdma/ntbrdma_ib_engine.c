// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the engine - executes the send WQEs of RC and UC QPs.
 *
 * One delayed work item per QP (qp->sq_work) on ntbr_eng_wq drains the
 * QP's SQ in order.  It runs when kicked (provider syscall through
 * post_send, kernel post_send, modify to RTS) and as the RNR retry timer.
 * The `engine` word of the SQ ring tells the provider whether a kick is
 * needed (include/rdma/ntbrdma-abi.h).
 *
 * What is implemented (Documentation/rdma-datapath.md, "Operations"):
 *  - RDMA WRITE, loopback (memcpy into the local MR's pages) and peer
 *    (ntbr_peer_write into the pages of the peer's MR, from the remote-MR
 *    table, holding the entry's reference across the copy);
 *  - SEND, SEND_WITH_IMM, RDMA_WRITE_WITH_IMM, RDMA READ and the atomics
 *    CMP_AND_SWP and FETCH_AND_ADD: loopback here (both QPs are in this
 *    kernel: the requester's engine takes the responder's receive WQE
 *    and copies directly, or executes the atomic), to the peer through
 *    ntbrdma_ib_peer.c (SEND) and ntbrdma_ib_read.c (READ and atomics,
 *    several in flight); RNR and transport retries on a timer.
 *
 * Local memory (keys, page copies, atomics) is ntbrdma_ib_copy.c's.
 *
 * Isolation (Documentation/security-model.md): a request reaches only
 * the QP it is addressed to if that QP is connected back to the
 * requester (ntbr_eng_resp, ntbr_peer_conn), within that QP's access
 * flags and PD, as an HCA's responder checks.  One run executes at most
 * NTBR_ENG_BUDGET WQEs, then the QP's work item goes on: a process that
 * refills its SQ as fast as it drains holds neither eng_sem nor a CPU.
 * No copy runs with interrupts off or under a spinlock.  A WQE that
 * sends a control message waits, before it starts, while the control
 * queue is long (ntbr_eng_ctrl_wait; Documentation/control-channel.md).
 *
 * Lifetimes: the work holds dev->eng_sem for reading while it uses local
 * MRs and other QPs found in the device's xarrays; ntbr_mr_free() and
 * ntbr_destroy_qp() erase their object from the xarray and then take
 * eng_sem for writing once (ntbr_eng_sync), so nothing the engine found
 * is freed under it; ntbr_dereg_mr() marks the MR dead and syncs the
 * same way, so a deregistered key is never used again even while its
 * pages stay pinned for the peer's MR_DEL_ACK.  Peer MRs are held by
 * their reference.
 *
 * Locking order: eng_sem (read) -> qp->mutex (the requester's: state can
 * not change while one WQE executes) -> the responder's rq_lock ->
 * CQ lock.
 */
#include "ntbrdma_ib_peer.h"

static struct workqueue_struct *ntbr_eng_wq;

/* IB RNR timer encoding (IBA table 45) in microseconds, as rxe. */
static const u32 ntbr_rnr_usec[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61410, 81920, 122880, 163840, 245760, 327680, 491520,
};

void ntbr_eng_sync(struct ntbr_ib_dev *dev)
{
	down_write(&dev->eng_sem);
	up_write(&dev->eng_sem);
}

/*
 * UC: how often and how long a message that finds no receive (or a peer
 * QP not connected back yet) waits for the responder's RECV_POST before
 * it is dropped: 8 x 20 ms, far more than a RECV_POST takes.
 */
#define NTBR_UC_WAITS		8
#define NTBR_UC_WAIT		msecs_to_jiffies(20)

void ntbr_eng_kick(struct ntbr_qp *qp)
{
	/* Owner: kernel.  Set before the work is queued (see ntbr_eng_work). */
	WRITE_ONCE(qp->sq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	queue_delayed_work(ntbr_eng_wq, &qp->sq_work, 0);
}

int ntbr_eng_resp_read_ok(struct ntbr_qp *r)
{
	if (!(READ_ONCE(r->attr.qp_access_flags) & IB_ACCESS_REMOTE_READ))
		return IB_WC_REM_ACCESS_ERR;
	/* No READ may be outstanding at a responder without resources. */
	if (!READ_ONCE(r->attr.max_dest_rd_atomic))
		return IB_WC_REM_INV_REQ_ERR;
	return IB_WC_SUCCESS;
}

/*
 * The loopback responder QP, able to receive; NULL if none.  As on an
 * HCA, a request reaches only the QP it is addressed to, and only if
 * that QP is connected back to the requester: a QP of this device
 * (never one connected to the peer) whose destination is qp.
 */
static struct ntbr_qp *ntbr_eng_resp(struct ntbr_ib_dev *dev,
				     struct ntbr_qp *qp)
{
	struct ntbr_qp *r = xa_load(&dev->qps, qp->attr.dest_qp_num);
	enum ib_qp_state s;

	if (!r || READ_ONCE(r->dest) != NTBR_QP_DEST_LOCAL ||
	    READ_ONCE(r->attr.dest_qp_num) != qp->ibqp.qp_num ||
	    r->ibqp.qp_type != qp->ibqp.qp_type)
		return NULL;
	s = READ_ONCE(r->state);
	return s == IB_QPS_RTR || s == IB_QPS_RTS || s == IB_QPS_SQD ||
	       s == IB_QPS_SQE ? r : NULL;
}

/* r allows RDMA WRITE (qp_access_flags), as an HCA's responder checks. */
static bool ntbr_eng_resp_write_ok(struct ntbr_qp *r)
{
	return READ_ONCE(r->attr.qp_access_flags) & IB_ACCESS_REMOTE_WRITE;
}

/* The responder's QP must go to ERR: its own work does it. */
static void ntbr_eng_resp_err(struct ntbr_qp *r)
{
	WRITE_ONCE(r->err_pending, true);
	queue_delayed_work(ntbr_eng_wq, &r->sq_work, 0);
}

/*
 * Loopback receive side of SEND[_IMM] / WRITE_WITH_IMM: take r's next
 * receive WQE, copy the payload into it (SEND), complete it on r's
 * receive CQ.  Returns the requester's status, or -EAGAIN (RNR).
 *
 * The receive is copied out of the ring and filled without r's rq_lock
 * (a copy may be large: never with interrupts off); we are its only
 * consumer (only the QP r is connected to sends to it, and that QP's
 * engine runs under its mutex), so it stays at the head of the ring
 * unless a flush or reset of r completes or drops it meanwhile: then r
 * is in error or reset and does not answer.
 */
static int ntbr_eng_recv(struct ntbr_ib_dev *dev, struct ntbr_qp *r,
			 struct ntbr_eng_ctx *c, u32 nsrc, u64 len,
			 bool write_imm)
{
	struct ntbrdma_send_wqe *wqe = &c->wqe;
	bool inl = wqe->flags & NTBRDMA_WQE_F_INLINE;
	struct ntbrdma_cqe cqe = {
		.qp_num = r->ibqp.qp_num,
		.port_num = 1,
		.byte_len = len,
	};
	struct ntbr_dst d = { .dev = dev };
	struct ntbrdma_recv_wqe *rw = &c->rwqe;
	struct ntbr_srq *srq = r->ibqp.srq ? to_ntbr_srq(r->ibqp.srq) : NULL;
	int status = IB_WC_SUCCESS;
	u32 prod, nseg, index = 0, epoch = 0;
	unsigned long flags;
	u64 room;
	int err;

	if (srq) {
		/* Ours once taken: completed below, whatever happens. */
		if (!ntbr_srq_take(srq, rw))
			return -EAGAIN;
	} else {
		spin_lock_irqsave(&r->rq_lock, flags);
		if (!ntbr_wq_prod(r, &r->rq, &prod) || prod == r->rq.cons) {
			spin_unlock_irqrestore(&r->rq_lock, flags);
			return -EAGAIN;
		}
		index = r->rq.cons;
		epoch = r->rq_epoch;
		memcpy(rw, ntbr_wq_slot(&r->rq, index), sizeof(*rw));
		spin_unlock_irqrestore(&r->rq_lock, flags);
	}

	cqe.wr_id = rw->wr_id;
	if (wqe->opcode != IB_UVERBS_WR_SEND) {
		cqe.ex = wqe->ex;
		cqe.wc_flags = NTBRDMA_CQE_F_WITH_IMM;
	}
	cqe.opcode = write_imm ? IB_WC_RECV_RDMA_WITH_IMM :
				 IB_WC_RECV;
	if (!write_imm) {
		err = ntbr_eng_sges(dev, r->ibqp.pd, rw->sge,
				    min_t(u32, rw->num_sge, NTBRDMA_MAX_SGE),
				    IB_ACCESS_LOCAL_WRITE, c->rcv, &nseg,
				    &room);
		if (err) {
			cqe.status = IB_WC_LOC_PROT_ERR;
			status = IB_WC_REM_OP_ERR;
		} else if (room < len) {
			cqe.status = IB_WC_LOC_LEN_ERR;
			status = IB_WC_REM_INV_REQ_ERR;
		} else {
			d.seg = c->rcv;
			d.nseg = nseg;
			if (ntbr_eng_copy(c->src, nsrc,
					  inl ? wqe->d.inline_data : NULL,
					  len, &d)) {
				cqe.status = IB_WC_LOC_PROT_ERR;
				status = IB_WC_REM_OP_ERR;
			}
		}
	}
	spin_lock_irqsave(&r->rq_lock, flags);
	if (srq && !ntbr_peer_state_rcv(READ_ONCE(r->state))) {
		/* It consumed the SRQ's receive, then went to error. */
		cqe.status = IB_WC_WR_FLUSH_ERR;
		status = IB_WC_RETRY_EXC_ERR;
	} else if (srq) {
		/* Taken from the SRQ: nothing of r's own ring. */
	} else if (r->rq.cons == index && r->rq_epoch == epoch) {
		/* Completed below, then consumed. */
	} else {
		/* Flushed or reset while we copied: nobody answers. */
		spin_unlock_irqrestore(&r->rq_lock, flags);
		return IB_WC_RETRY_EXC_ERR;
	}
	if (srq) {
		ntbr_cq_post(to_ntbr_cq(r->ibqp.recv_cq), &cqe, &r->ibqp,
			     wqe->flags & NTBRDMA_WQE_F_SOLICITED);
	} else {
		/* Its inbox, if it has one (before cons moves on). */
		ntbr_rq_complete(r, index, &cqe,
				 wqe->flags & NTBRDMA_WQE_F_SOLICITED);
		ntbr_wq_set_cons(&r->rq, index + 1);
	}
	spin_unlock_irqrestore(&r->rq_lock, flags);
	if (cqe.status != IB_WC_SUCCESS && cqe.status != IB_WC_WR_FLUSH_ERR)
		ntbr_eng_resp_err(r);
	return status;
}

/*
 * RDMA WRITE[_WITH_IMM] to the peer: the remote-MR table says where.  As
 * an HCA's responder would check: the peer QP (connected back to qp,
 * ntbr_peer_conn) allows REMOTE_WRITE and the MR is of that QP's PD.
 */
static int ntbr_eng_write_peer(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			       struct ntbr_eng_ctx *c, u32 nsrc, u64 len,
			       u32 peer_pd, u32 peer_access)
{
	struct ntbrdma_send_wqe *wqe = &c->wqe;
	struct ntbr_rseg r = { .va = wqe->u.rdma.remote_addr, .len = len };
	struct ntbr_dst d = { .dev = dev, .rseg = &r, .nseg = 1 };
	struct ntbr_eng_dma_wqe *w = &c->dma.wqe[c->dma.n];
	int err;

	if (!(peer_access & IB_ACCESS_REMOTE_WRITE))
		return IB_WC_REM_ACCESS_ERR;
	/*
	 * The peer's MR table goes with the link: a peer that went away is
	 * unreachable (as unanswered requests on an HCA), not an access error.
	 */
	if (ntbr_rmr_lookup(dev, wqe->u.rdma.rkey, r.va, len,
			    IB_ACCESS_REMOTE_WRITE, &r.rmr))
		return ntbr_link_ready(dev->nd) ? IB_WC_REM_ACCESS_ERR :
						  IB_WC_RETRY_EXC_ERR;
	if (r.rmr->pd_id != peer_pd) {
		ntbr_rmr_put(r.rmr);
		return IB_WC_REM_ACCESS_ERR;
	}
	/* Pipelined (ntbr_eng_run): its mark says how the copy went. */
	if (c->dma_pipe && wqe->opcode == IB_UVERBS_WR_RDMA_WRITE) {
		w->mark.b = &c->dma.batch;
		w->mark.failed = false;
		c->dma.mark = &w->mark;
		d.dma = &c->dma;
	}
	/* The reference keeps the peer's pages from MR_DEL_ACK until done. */
	err = ntbr_eng_copy(c->src, nsrc,
			    wqe->flags & NTBRDMA_WQE_F_INLINE ?
				    wqe->d.inline_data : NULL,
			    len, &d);
	if (err == -EINPROGRESS) {
		w->rmr = r.rmr;		/* until the batch ended */
		return NTBR_ENG_DMA_QUEUED;
	}
	/* Failed midway: what it submitted still uses the peer's pages. */
	if (d.dma)
		ntbr_eng_dma_end(d.dma);
	ntbr_rmr_put(r.rmr);
	if (err == -ENOTCONN)
		return IB_WC_RETRY_EXC_ERR;
	/* The engine failed a descriptor: our side's error. */
	if (err == -EIO || err == -ETIMEDOUT)
		return IB_WC_LOC_QP_OP_ERR;
	return err ? IB_WC_REM_ACCESS_ERR : IB_WC_SUCCESS;
}

/*
 * UC: what the responder refused (key, range, access, a bad receive) or
 * did not answer is dropped there, unacknowledged: the requester's WQE
 * succeeds (IB: a UC responder silently drops an invalid request).  A
 * local error stays an error.
 */
static int ntbr_eng_uc_status(int status)
{
	switch (status) {
	case IB_WC_REM_ACCESS_ERR:
	case IB_WC_REM_OP_ERR:
	case IB_WC_REM_INV_REQ_ERR:
	case IB_WC_RETRY_EXC_ERR:
	case IB_WC_RNR_RETRY_EXC_ERR:
		return IB_WC_SUCCESS;
	default:
		return status;
	}
}

unsigned long ntbr_eng_rnr_delay(u8 min_rnr_timer)
{
	return usecs_to_jiffies(ntbr_rnr_usec[min_rnr_timer & 31]);
}

/*
 * The responder had no receive: -EAGAIN and the delay before the next
 * try while retries are left (rnr_retry 7: forever), else the error.
 */
static int ntbr_eng_rnr(struct ntbr_qp *qp, u8 min_rnr_timer,
			unsigned long *delay)
{
	/*
	 * UC has no RNR: a message that finds no receive is dropped.  But
	 * the responder's RECV_POST for a receive it posted in time may
	 * still be on its way to us: a few short waits for it first.
	 */
	if (ntbr_qp_uc(qp)) {
		if (qp->rnr_left < 0)
			qp->rnr_left = NTBR_UC_WAITS;
		if (!qp->rnr_left--)
			return IB_WC_SUCCESS;
		*delay = NTBR_UC_WAIT;
		return -EAGAIN;
	}
	if (qp->rnr_left < 0)
		qp->rnr_left = qp->attr.rnr_retry;
	if (qp->attr.rnr_retry != 7) {
		if (!qp->rnr_left)
			return IB_WC_RNR_RETRY_EXC_ERR;
		qp->rnr_left--;
	}
	*delay = ntbr_eng_rnr_delay(min_rnr_timer);
	return -EAGAIN;
}

/*
 * The peer QP does not answer: as an unacknowledged request, retried
 * after the local ACK timeout (4.096 us << timeout; 0: forever) up to
 * retry_cnt times, then IB_WC_RETRY_EXC_ERR.  The first try waits too
 * (the peer may just not have told us yet that it is connected back:
 * its RECV_POST ends the wait at once).
 */
static int ntbr_eng_no_ack(struct ntbr_qp *qp, unsigned long *delay)
{
	u8 t = qp->attr.timeout;

	/*
	 * UC: the peer QP may not have told us yet that it is connected
	 * back (as above); after a few short waits the message is dropped,
	 * as UC drops what its responder does not take.
	 */
	if (ntbr_qp_uc(qp))
		return ntbr_eng_rnr(qp, 0, delay);

	if (qp->retry_left < 0) {
		qp->retry_left = qp->attr.retry_cnt;
	} else if (t) {
		if (!qp->retry_left)
			return IB_WC_RETRY_EXC_ERR;
		qp->retry_left--;
	}
	*delay = t ? max(1UL, usecs_to_jiffies(min(4ULL << t, 4000000ULL))) :
		     HZ;
	return -EAGAIN;
}

/* SEND, WRITE_WITH_IMM or READ to a QP of the peer. */
static int ntbr_eng_exec_peer(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			      struct ntbr_eng_ctx *c, u32 nsrc,
			      unsigned long *delay)
{
	u32 op = c->wqe.opcode, pd, access;
	u8 timer = 0;
	int ret;

	if (!ntbr_peer_conn(qp, &pd, &access))
		return ntbr_eng_no_ack(qp, delay);
	switch (op) {
	case IB_UVERBS_WR_RDMA_WRITE:
		return ntbr_eng_write_peer(dev, qp, c, nsrc, c->len, pd,
					   access);
	case IB_UVERBS_WR_RDMA_READ:
		if (!c->len)
			return IB_WC_SUCCESS;
		return ntbr_peer_read(dev, qp, c, nsrc);
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		return ntbr_peer_atomic(dev, qp, c);
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		/* Written again after an RNR wait: harmless. */
		if (c->len) {
			ret = ntbr_eng_write_peer(dev, qp, c, nsrc, c->len, pd,
						  access);
			if (ret != IB_WC_SUCCESS)
				return ret;
		}
		ret = ntbr_peer_send(dev, qp, c, nsrc, true, &timer);
		break;
	default:
		ret = ntbr_peer_send(dev, qp, c, nsrc, false, &timer);
		break;
	}
	return ret == -EAGAIN ? ntbr_eng_rnr(qp, timer, delay) : ret;
}

/*
 * Execute one WQE.  Returns an ib_wc_status, or -EAGAIN for RNR (the
 * caller retries after *delay jiffies).
 */
static int ntbr_eng_exec(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			 struct ntbr_eng_ctx *c, unsigned long *delay)
{
	struct ntbrdma_send_wqe *wqe = &c->wqe;
	bool inl = wqe->flags & NTBRDMA_WQE_F_INLINE;
	bool peer = qp->dest == NTBR_QP_DEST_PEER;
	u32 op = wqe->opcode, nsrc = 0;
	struct ntbr_dst d = { .dev = dev };
	struct ntbr_qp *r = NULL;
	struct ntbr_mr *mr;
	u64 len;
	int ret;

	switch (op) {
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
	case IB_UVERBS_WR_RDMA_READ:
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		break;
	default:
		return IB_WC_REM_OP_ERR;	/* SEND_WITH_INV: not yet */
	}
	/* UC has no READ and no atomics (the provider refuses them too). */
	if (ntbr_qp_uc(qp) &&
	    (op == IB_UVERBS_WR_RDMA_READ || ntbr_eng_is_atomic(op)))
		return IB_WC_LOC_QP_OP_ERR;
	if (inl) {
		if (op == IB_UVERBS_WR_RDMA_READ || ntbr_eng_is_atomic(op) ||
		    wqe->inline_len > NTBRDMA_MAX_INLINE)
			return IB_WC_LOC_QP_OP_ERR;
		len = wqe->inline_len;
		c->len = len;
	} else {
		if (wqe->num_sge > NTBRDMA_MAX_SGE)
			return IB_WC_LOC_QP_OP_ERR;
		ret = ntbr_eng_sges(dev, qp->ibqp.pd, wqe->d.sge, wqe->num_sge,
				    op == IB_UVERBS_WR_RDMA_READ ||
						    ntbr_eng_is_atomic(op) ?
					    IB_ACCESS_LOCAL_WRITE : 0,
				    c->src, &nsrc, &len);
		if (ret == -EMSGSIZE)
			return IB_WC_LOC_LEN_ERR;
		if (ret)
			return IB_WC_LOC_PROT_ERR;
		c->len = len;
	}
	/* An atomic returns the old 8 bytes into one 8-byte SGE. */
	if (ntbr_eng_is_atomic(op) && (nsrc != 1 || len != 8))
		return IB_WC_LOC_LEN_ERR;
	/* UD: a datagram to the WQE's AH (ntbrdma_ib_ud.c). */
	if (ntbr_qp_ud(qp))
		return ntbr_ud_send(dev, qp, c, nsrc);
	/* A zero-length WRITE touches no remote memory: any rkey. */
	if (op == IB_UVERBS_WR_RDMA_WRITE && !len)
		return IB_WC_SUCCESS;
	if (peer)
		return ntbr_eng_exec_peer(dev, qp, c, nsrc, delay);
	if (qp->dest != NTBR_QP_DEST_LOCAL)
		return IB_WC_LOC_QP_OP_ERR;
	r = ntbr_eng_resp(dev, qp);
	if (!r)
		return IB_WC_RETRY_EXC_ERR;	/* nobody answers */

	if (op == IB_UVERBS_WR_SEND || op == IB_UVERBS_WR_SEND_WITH_IMM) {
		ret = ntbr_eng_recv(dev, r, c, nsrc, len, false);
		goto rnr;
	}
	if (ntbr_eng_is_atomic(op)) {
		u64 old;

		ret = ntbr_eng_atomic(dev, r, wqe->u.atomic.rkey,
				      wqe->u.atomic.remote_addr, op,
				      wqe->u.atomic.compare_add,
				      wqe->u.atomic.swap, &old);
		if (ret != IB_WC_SUCCESS)
			return ret;
		d.seg = c->src;
		d.nseg = nsrc;
		return ntbr_eng_copy(NULL, 0, &old, sizeof(old), &d) ?
			       IB_WC_LOC_PROT_ERR : IB_WC_SUCCESS;
	}
	if (op == IB_UVERBS_WR_RDMA_READ) {
		if (!len)
			return IB_WC_SUCCESS;
		ret = ntbr_eng_resp_read_ok(r);
		if (ret != IB_WC_SUCCESS)
			return ret;
		mr = ntbr_eng_mr(dev, r->ibqp.pd, wqe->u.rdma.rkey,
				 wqe->u.rdma.remote_addr, len,
				 IB_ACCESS_REMOTE_READ);
		if (!mr)
			return IB_WC_REM_ACCESS_ERR;
		ntbr_seg_init(&c->rcv[0], mr, wqe->u.rdma.remote_addr, len);
		d.seg = c->src;
		d.nseg = nsrc;
		return ntbr_eng_copy(c->rcv, 1, NULL, 0, &d) ?
			       IB_WC_LOC_PROT_ERR : IB_WC_SUCCESS;
	}
	/* RDMA WRITE[_WITH_IMM] into a local MR of the responder's PD. */
	if (!ntbr_eng_resp_write_ok(r))
		return IB_WC_REM_ACCESS_ERR;
	if (len) {
		mr = ntbr_eng_mr(dev, r->ibqp.pd, wqe->u.rdma.rkey,
				 wqe->u.rdma.remote_addr, len,
				 IB_ACCESS_REMOTE_WRITE);
		if (!mr)
			return IB_WC_REM_ACCESS_ERR;
		ntbr_seg_init(&c->rcv[0], mr, wqe->u.rdma.remote_addr, len);
		d.seg = c->rcv;
		d.nseg = 1;
		if (ntbr_eng_copy(c->src, nsrc, inl ? wqe->d.inline_data : NULL,
				  len, &d))
			return IB_WC_REM_ACCESS_ERR;
	}
	if (op == IB_UVERBS_WR_RDMA_WRITE)
		return IB_WC_SUCCESS;
	/* The data is in place even if RNR follows: writing it again is ok. */
	ret = ntbr_eng_recv(dev, r, c, 0, len, true);
rnr:
	if (ret != -EAGAIN)
		return ret;
	return ntbr_eng_rnr(qp, r->attr.min_rnr_timer, delay);
}

/*
 * Before a message of the QP's own initiative to the peer: true when the
 * control queue is long (ntbr_ctrl_congested) and @what of the QP must
 * hold back; ntbr_eng_ctrl_room() runs it again.  The bit is set before
 * the question: the callback may come as soon as it is answered.
 */
bool ntbr_eng_ctrl_wait(struct ntbr_qp *qp, int what)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);

	set_bit(what, &qp->ctrl_wait);
	if (ntbr_ctrl_congested(dev->nd))
		return true;
	clear_bit(what, &qp->ctrl_wait);
	return false;
}

/* The control queue has room: the QPs that held back go on. */
void ntbr_eng_ctrl_room(struct ntbr_ib_dev *dev)
{
	struct ntbr_qp *qp;
	unsigned long idx;

	down_read(&dev->eng_sem);
	xa_for_each(&dev->qps, idx, qp) {
		if (test_and_clear_bit(NTBR_QP_WAIT_SQ, &qp->ctrl_wait))
			ntbr_eng_queue(qp);
		if (test_and_clear_bit(NTBR_QP_WAIT_RQ, &qp->ctrl_wait))
			queue_work(ntbr_mr_wq, &qp->rq_work);
		if (test_and_clear_bit(NTBR_QP_WAIT_RD, &qp->ctrl_wait))
			ntbr_eng_queue_work(&qp->rd_work);
	}
	ntbr_srq_ctrl_room(dev);
	up_read(&dev->eng_sem);
}

/* The WQE sends a control message to the peer (all but a plain WRITE). */
/*
 * What the provider may have done itself (NTBRDMA_WQE_F_DONE): WRITE and
 * READ through peer-MR mappings, and on an RC or UC QP with the peer as
 * destination, SEND and SEND_WITH_IMM eagerly into the peer's inbox.
 */
static bool ntbr_eng_done_op(struct ntbr_qp *qp, u32 opcode)
{
	if (opcode == IB_UVERBS_WR_RDMA_WRITE ||
	    opcode == IB_UVERBS_WR_RDMA_READ)
		return true;
	return (opcode == IB_UVERBS_WR_SEND ||
		opcode == IB_UVERBS_WR_SEND_WITH_IMM) &&
	       qp->pub_ring && qp->dest == NTBR_QP_DEST_PEER;
}

static bool ntbr_eng_needs_ctrl(struct ntbr_qp *qp, struct ntbr_eng_ctx *c)
{
	return qp->dest == NTBR_QP_DEST_PEER &&
	       c->wqe.opcode != IB_UVERBS_WR_RDMA_WRITE;
}

/* Next WQE into c->wqe; false when the SQ is empty (or broken). */
static bool ntbr_eng_next(struct ntbr_qp *qp, struct ntbr_eng_ctx *c)
{
	unsigned long flags;
	u32 prod, ahead;
	bool ok;

	/*
	 * After the READs in flight, which stay at the head (rd_sq), or the
	 * pipelined WRITEs (never both: a READ waits for those, a WRITE for
	 * READs).
	 */
	spin_lock_irqsave(&qp->sq_lock, flags);
	ahead = qp->rd_sq + c->dma.n;
	ok = ntbr_wq_prod(qp, &qp->sq, &prod) && prod - qp->sq.cons > ahead;
	if (ok)
		memcpy(&c->wqe, ntbr_wq_slot(&qp->sq, qp->sq.cons + ahead),
		       sizeof(c->wqe));
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	return ok;
}

static void ntbr_eng_consume(struct ntbr_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->sq_lock, flags);
	ntbr_wq_set_cons(&qp->sq, qp->sq.cons + 1);
	spin_unlock_irqrestore(&qp->sq_lock, flags);
}

void ntbr_eng_complete_head(struct ntbr_qp *qp, u64 wr_id, u32 opcode,
			    u32 flags, u64 len, int status)
{
	struct ntbrdma_cqe cqe = {
		.wr_id = wr_id,
		.status = status,
		.opcode = ntbr_wr_to_wc_opcode(opcode),
		.qp_num = qp->ibqp.qp_num,
		.port_num = 1,
	};

	lockdep_assert_held(&qp->mutex);
	qp->rnr_left = -1;
	qp->retry_left = -1;
	if ((opcode == IB_UVERBS_WR_RDMA_READ || ntbr_eng_is_atomic(opcode)) &&
	    !status)
		cqe.byte_len = len;
	ntbr_eng_consume(qp);
	if (status || (flags & NTBRDMA_WQE_F_SIGNALED))
		ntbr_cq_post(to_ntbr_cq(qp->ibqp.send_cq), &cqe, &qp->ibqp,
			     false);
	/*
	 * Owner: kernel.  Release: the CQE is in the ring before the
	 * provider sees done reach its prod (it then completes WRITEs of
	 * its own after it, in order).
	 */
	smp_store_release(&qp->sq.ctrl->done, qp->sq.cons);
	if (status)
		ntbr_qp_set_err_locked(qp);
}

/* The WQE in c (at the head of the SQ) is done. */
static void ntbr_eng_complete(struct ntbr_qp *qp, struct ntbr_eng_ctx *c,
			      int status)
{
	ntbr_eng_complete_head(qp, c->wqe.wr_id, c->wqe.opcode, c->wqe.flags,
			       c->len, status);
}

/*
 * While READs or atomics are in flight (qp->rd_sq) only another of them
 * may be sent (a WRITE or SEND after a READ must not land before the
 * responder read), and one only while the QP's and the device's limits
 * allow (ntbr_read_may_issue; always for the first one of an idle QP).
 * True: c->wqe waits at its place; the next answer runs the SQ again.
 */
static bool ntbr_eng_read_fence(struct ntbr_qp *qp, struct ntbr_eng_ctx *c)
{
	if (c->wqe.opcode == IB_UVERBS_WR_RDMA_READ ||
	    ntbr_eng_is_atomic(c->wqe.opcode))
		return qp->dest == NTBR_QP_DEST_PEER &&
		       !ntbr_read_may_issue(qp);
	return qp->rd_sq;
}

/*
 * Pipelined WRITEs.  A plain RDMA WRITE of an RC QP to the peer, large
 * enough for the DMA engine, is executed by submitting its copy into one
 * batch the engine works through while ntbr_eng_run goes on with the
 * next WQEs; its completion waits (c->dma.wqe[], in SQ order from the
 * head, each holding its peer-MR reference).  Before any other WQE
 * executes - a SEND or READ must not overtake the WRITE data, a CPU
 * WRITE not complete before the earlier ones - and whenever the run
 * ends, ntbr_eng_dma_flush() waits for the batch and completes them in
 * order: a WQE whose copy the engine failed with IB_WC_LOC_QP_OP_ERR,
 * which takes the QP to ERR and flushes the rest.  The wait never holds
 * a CPU: the engine copies, we sleep.  In the poster's context
 * (ntbr_eng_kick_user) such a WRITE is left to the work item, so that the
 * process goes on posting while the engine copies.
 */
static bool ntbr_eng_dma_candidate(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
				   struct ntbr_eng_ctx *c)
{
	const struct ntbrdma_send_wqe *wqe = &c->wqe;

	return wqe->opcode == IB_UVERBS_WR_RDMA_WRITE &&
	       qp->dest == NTBR_QP_DEST_PEER &&
	       qp->ibqp.qp_type == IB_QPT_RC &&
	       !(wqe->flags & (NTBRDMA_WQE_F_INLINE | NTBRDMA_WQE_F_DONE)) &&
	       ntbr_dma_wanted(dev->nd, ntbr_sges_len(wqe->d.sge,
						      wqe->num_sge));
}

static void ntbr_eng_dma_flush(struct ntbr_qp *qp, struct ntbr_eng_ctx *c)
{
	struct ntbr_eng_dma *e = &c->dma;
	struct ntbr_eng_dma_wqe *w;
	u32 i, n = e->n;
	int status;

	ntbr_eng_dma_end(e);
	e->n = 0;
	for (i = 0; i < n; i++) {
		w = &e->wqe[i];
		if (w->rmr)
			ntbr_rmr_put(w->rmr);
		w->rmr = NULL;
	}
	for (i = 0; i < n; i++) {
		w = &e->wqe[i];
		status = w->status;
		if (status == IB_WC_SUCCESS &&
		    (READ_ONCE(w->mark.failed) || e->timed_out))
			status = IB_WC_LOC_QP_OP_ERR;
		ntbr_eng_complete_head(qp, w->wr_id, w->opcode, w->flags, 0,
				       status);
		/* ERR flushed the WQEs after it. */
		if (status != IB_WC_SUCCESS)
			break;
	}
	e->timed_out = false;
}

/* Keep the WQE in c, executed with status, for ntbr_eng_dma_flush(). */
static void ntbr_eng_dma_defer(struct ntbr_eng_ctx *c, int status)
{
	struct ntbr_eng_dma_wqe *w = &c->dma.wqe[c->dma.n++];

	w->wr_id = c->wqe.wr_id;
	w->opcode = c->wqe.opcode;
	w->flags = c->wqe.flags;
	w->status = status;
	if (status != NTBR_ENG_DMA_QUEUED) {
		w->rmr = NULL;
		w->mark.failed = false;
	} else {
		w->status = IB_WC_SUCCESS;
	}
}

/*
 * Run the SQ until it is empty, an RNR wait (the delayed work retries)
 * or a READ in flight (its answer queues the work).  From the work item,
 * or in the poster's own context (ntbr_eng_kick_user: poster).
 */
static void ntbr_eng_run(struct ntbr_qp *qp, bool poster)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_eng_ctx *c = qp->eng_ctx;
	u32 budget = NTBR_ENG_BUDGET;
	unsigned long delay = 0;
	int status;

	down_read(&dev->eng_sem);
	mutex_lock(&qp->mutex);
	if (READ_ONCE(qp->err_pending)) {
		WRITE_ONCE(qp->err_pending, false);
		ntbr_qp_set_err_locked(qp);
	}
	for (;;) {
		/* The answered READs at the head of the SQ complete. */
		ntbr_read_reap(qp);
		if (qp->state != IB_QPS_RTS || !ntbr_eng_next(qp, c)) {
			/* The pipelined WRITEs complete first. */
			if (c->dma.n) {
				ntbr_eng_dma_flush(qp, c);
				continue;
			}
			/*
			 * The engine flag stays set while READs are in
			 * flight: their answers run the SQ again.
			 */
			if (qp->state == IB_QPS_RTS && qp->rd_sq)
				break;
			/*
			 * Idle.  Clear the flag, then (full barrier, pairs
			 * with the producer's barrier between its prod store
			 * and its load of the flag) look at prod once more:
			 * either we see the new WQE or the producer kicks.
			 */
			WRITE_ONCE(qp->sq.ctrl->engine, 0);
			/* Flag clear before the prod load (see above). */
			smp_mb();
			qp->rnr_left = -1;
			qp->retry_left = -1;
			if (qp->state != IB_QPS_RTS || !ntbr_eng_next(qp, c))
				break;
			WRITE_ONCE(qp->sq.ctrl->engine,
				   NTBRDMA_WQ_ENGINE_RUNNING);
		}
		c->dma_pipe = ntbr_eng_dma_candidate(dev, qp, c);
		if (c->dma.n && (!c->dma_pipe || c->dma.n == NTBR_ENG_BUDGET)) {
			ntbr_eng_dma_flush(qp, c);
			continue;
		}
		if (c->dma_pipe && poster) {
			/* The work pipelines it; the process posts on. */
			ntbr_eng_queue(qp);
			break;
		}
		if (!budget--) {
			/*
			 * Enough for one run: the work item goes on (the
			 * flag stays set), so eng_sem and the CPU are let
			 * go however fast the SQ is refilled.
			 */
			ntbr_eng_queue(qp);
			break;
		}
		/*
		 * The control queue is long: the WQE waits for room (the
		 * flag stays set; ntbr_eng_ctrl_room() queues the work).
		 */
		if (ntbr_eng_read_fence(qp, c))
			break;
		if (ntbr_eng_needs_ctrl(qp, c) &&
		    ntbr_eng_ctrl_wait(qp, NTBR_QP_WAIT_SQ))
			break;
		/*
		 * A WRITE or READ the provider did itself through a peer-MR
		 * mapping (kernel bypass): only its completion is ours to
		 * make (a READ's length: its SGEs', the process's word).
		 */
		if (qp->user && (c->wqe.flags & NTBRDMA_WQE_F_DONE) &&
		    ntbr_eng_done_op(qp, c->wqe.opcode)) {
			if (c->wqe.opcode == IB_UVERBS_WR_RDMA_READ) {
				c->len = ntbr_sges_len(c->wqe.d.sge,
						       c->wqe.num_sge);
				atomic_inc(&dev->umap_read_done);
			}
			/* An eager SEND whose responder waits for an event. */
			if ((c->wqe.flags & NTBRDMA_WQE_F_NOTIFY) &&
			    c->wqe.opcode != IB_UVERBS_WR_RDMA_WRITE &&
			    c->wqe.opcode != IB_UVERBS_WR_RDMA_READ)
				ntbr_peer_eager_notify(dev, qp, &c->wqe);
			ntbr_eng_complete(qp, c, IB_WC_SUCCESS);
			continue;
		}
		status = ntbr_eng_exec(dev, qp, c, &delay);
		/*
		 * Pipelined, or executed behind pipelined WRITEs: completed
		 * in order by the flush (at once if it failed).
		 */
		if (c->dma_pipe && (status == NTBR_ENG_DMA_QUEUED ||
				    (status >= 0 && c->dma.n))) {
			ntbr_eng_dma_defer(c, status);
			if (status != NTBR_ENG_DMA_QUEUED &&
			    status != IB_WC_SUCCESS)
				ntbr_eng_dma_flush(qp, c);
			continue;
		}
		/* Nothing else leaves a copy in the batch (-EAGAIN: none). */
		if (c->dma.n)
			ntbr_eng_dma_flush(qp, c);
		/* UD: the control queue is long; ctrl_room runs us again. */
		if (status == -EBUSY)
			break;
		if (ntbr_qp_uc(qp))
			status = ntbr_eng_uc_status(status);
		if (status == -EINPROGRESS) {
			qp->rnr_left = -1;
			continue;	/* READ sent: its answer completes it */
		}
		if (qp->rd_sq) {
			/*
			 * A READ behind READs in flight could not be sent
			 * (a local error, no answer from the peer QP): it
			 * is tried again, and completes, once it is at the
			 * head, after them.
			 */
			qp->rnr_left = -1;
			qp->retry_left = -1;
			break;
		}
		if (status == -EAGAIN) {
			/* RNR: the flag stays set, the timer runs us again. */
			queue_delayed_work(ntbr_eng_wq, &qp->sq_work, delay);
			break;
		}
		ntbr_eng_complete(qp, c, status);
		cond_resched();
	}
	/* Every way out: nothing pipelined outlives the mutex. */
	if (c->dma.n || c->dma.open)
		ntbr_eng_dma_flush(qp, c);
	mutex_unlock(&qp->mutex);
	up_read(&dev->eng_sem);
}

static void ntbr_eng_work(struct work_struct *work)
{
	ntbr_eng_run(container_of(to_delayed_work(work), struct ntbr_qp,
				  sq_work), false);
}

/*
 * The provider's kick (post_send system call): execute in the poster's
 * context, as siw does, rather than in a work item that would compete
 * for the CPU with the poster polling its CQ.  Not while the work is
 * pending: an RNR timer or a READ answer decides when the SQ goes on.
 */
void ntbr_eng_kick_user(struct ntbr_qp *qp)
{
	/* Owner: kernel.  Set before we look at the SQ (see ntbr_eng_run). */
	WRITE_ONCE(qp->sq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	if (delayed_work_pending(&qp->sq_work))
		return;
	ntbr_eng_run(qp, true);
}

void ntbr_eng_queue(struct ntbr_qp *qp)
{
	queue_delayed_work(ntbr_eng_wq, &qp->sq_work, 0);
}

void ntbr_eng_queue_work(struct work_struct *work)
{
	queue_work(ntbr_eng_wq, work);
}

/*
 * An answer to one of our READs arrived (control handler, eng_sem held):
 * post the completions now if the QP is free, the SQ goes on in the
 * work.  Only a trylock: a handler never waits for a QP's engine.
 */
/*
 * Under qp->mutex, outside ntbr_eng_run: its idle step (clear the engine
 * flag, full barrier, look at prod once more) when the SQ has nothing
 * for the engine - no WQE beyond the READs in flight, none of them in
 * flight, no timer or work pending, no error to take the QP to ERR.
 * True when idle: the next post kicks and runs in the poster's context.
 */
static bool ntbr_eng_try_idle(struct ntbr_qp *qp)
{
	struct ntbr_eng_ctx *c = qp->eng_ctx;

	if (qp->state != IB_QPS_RTS || qp->rd_sq ||
	    READ_ONCE(qp->err_pending) || delayed_work_pending(&qp->sq_work) ||
	    ntbr_eng_next(qp, c))
		return false;
	WRITE_ONCE(qp->sq.ctrl->engine, 0);
	/* Flag clear before the prod load: as in ntbr_eng_run. */
	smp_mb();
	qp->rnr_left = -1;
	qp->retry_left = -1;
	if (!ntbr_eng_next(qp, c))
		return true;
	WRITE_ONCE(qp->sq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	return false;
}

void ntbr_eng_read_answered(struct ntbr_qp *qp)
{
	bool idle = false;

	if (mutex_trylock(&qp->mutex)) {
		ntbr_read_reap(qp);
		/*
		 * Nothing more to run (one READ at a time, as ib_read_lat):
		 * no work item to wake, the next post runs in its poster.
		 */
		idle = ntbr_eng_try_idle(qp);
		mutex_unlock(&qp->mutex);
	}
	if (!idle)
		ntbr_eng_queue(qp);
}

void ntbr_eng_run_now(struct ntbr_qp *qp)
{
	mod_delayed_work(ntbr_eng_wq, &qp->sq_work, 0);
}

void ntbr_eng_rnr_now(struct ntbr_qp *qp)
{
	/* >= 0 only while a retry wait is running (racy: a hint). */
	if (READ_ONCE(qp->rnr_left) >= 0 || READ_ONCE(qp->retry_left) >= 0)
		mod_delayed_work(ntbr_eng_wq, &qp->sq_work, 0);
}

int ntbr_eng_qp_init(struct ntbr_qp *qp)
{
	int err;

	/* Zeroed: no pipelined WRITE, no open batch (ntbr_eng_dma_flush). */
	qp->eng_ctx = kzalloc(sizeof(*qp->eng_ctx), GFP_KERNEL);
	if (!qp->eng_ctx)
		return -ENOMEM;
	err = ntbr_peer_qp_init(qp);
	if (err) {
		kfree(qp->eng_ctx);
		qp->eng_ctx = NULL;
		return err;
	}
	INIT_DELAYED_WORK(&qp->sq_work, ntbr_eng_work);
	qp->rnr_left = -1;
	qp->retry_left = -1;
	qp->err_pending = false;
	qp->rd_sq = 0;
	/* Owner: kernel.  No receive needs a kick before RTR. */
	WRITE_ONCE(qp->rq.ctrl->engine, NTBRDMA_WQ_ENGINE_RUNNING);
	return 0;
}

/* After the QP left dev->qps: nobody finds it, its work is stopped. */
void ntbr_eng_qp_fini(struct ntbr_qp *qp)
{
	ntbr_eng_sync(to_ntbr_ib(qp->ibqp.device));
	cancel_delayed_work_sync(&qp->sq_work);
	ntbr_peer_qp_fini(qp);
	kfree(qp->eng_ctx);
	qp->eng_ctx = NULL;
}

/* Link down: every QP connected to the peer goes to ERR (flushed). */
void ntbr_eng_link_down(struct ntbr_ib_dev *dev)
{
	struct ntbr_qp *qp;
	unsigned long idx;

	down_read(&dev->eng_sem);
	xa_for_each(&dev->qps, idx, qp) {
		mutex_lock(&qp->mutex);
		/*
		 * No answer can come: the oldest READ failed, as a WRITE;
		 * the ERR below flushes the rest.
		 */
		ntbr_read_link_down(qp);
		if (qp->dest == NTBR_QP_DEST_PEER)
			ntbr_qp_set_err_locked(qp);
		mutex_unlock(&qp->mutex);
		ntbr_peer_rrq_clear(qp);
	}
	up_read(&dev->eng_sem);
}

int ntbr_eng_init(void)
{
	/* High priority: a poster spinning on its CQ must not starve it. */
	ntbr_eng_wq = alloc_workqueue("ntbrdma_eng", WQ_UNBOUND | WQ_HIGHPRI,
				      0);
	return ntbr_eng_wq ? 0 : -ENOMEM;
}

void ntbr_eng_exit(void)
{
	destroy_workqueue(ntbr_eng_wq);
}
