/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma: what the engine (ntbrdma_ib_engine.c, local execution and the
 * work loop) and its peer protocol (ntbrdma_ib_peer.c, SEND/READ to a QP
 * of the other host) share.  Not for the rest of the driver.
 */
#ifndef NTBRDMA_IB_ENGINE_H
#define NTBRDMA_IB_ENGINE_H

#include "ntbrdma_ib.h"

/*
 * A resolved piece of local memory: [va, va + len) of mr, with a cursor
 * into the umem's sg list so that a copy walking forward through it
 * finds each page in O(1) (ntbr_eng_page).
 */
struct ntbr_seg {
	struct ntbr_mr *mr;
	u64 va;
	u64 len;
	struct scatterlist *sg;		/* NULL: start from the first entry */
	u64 sg_pidx;			/* index in the umem of sg's 1st page */
};

static inline void ntbr_seg_init(struct ntbr_seg *s, struct ntbr_mr *mr,
				 u64 va, u64 len)
{
	s->mr = mr;
	s->va = va;
	s->len = len;
	s->sg = NULL;
	s->sg_pidx = 0;
}

/* A piece of the peer's memory: [va, va + len) of rmr (referenced). */
struct ntbr_rseg {
	struct ntbr_rmr *rmr;
	u64 va;
	u64 len;
};

/*
 * Work one run of the engine or one publishing kick does before it lets
 * others in (the rest goes on in the QP's work item): a process that
 * keeps posting never holds eng_sem or a CPU for long.
 */
#define NTBR_ENG_BUDGET		64U

/*
 * RDMA WRITEs to the peer whose copies the DMA engine runs while the
 * engine goes on with the next WQEs (ntbrdma_ib_engine.c, "Pipelined
 * WRITEs"): one open batch for all of them, and the WQEs executed but
 * not completed, in SQ order from its head.  Only ntbr_eng_run uses it,
 * under qp->mutex, and it is empty whenever the mutex is let go.
 */
struct ntbr_eng_dma_wqe {
	u64 wr_id;
	u32 opcode;
	u32 flags;
	int status;			/* of the execution; the copy's: mark */
	struct ntbr_rmr *rmr;		/* referenced until the copy ended */
	struct ntbr_dma_mark mark;
};

struct ntbr_eng_dma {
	struct ntbr_dma_batch batch;
	bool open;			/* batch begun, not ended */
	bool timed_out;			/* the engine did not finish it */
	struct ntbr_dma_mark *mark;	/* for the copy being submitted */
	u32 n;				/* WQEs in wqe[] */
	struct ntbr_eng_dma_wqe wqe[NTBR_ENG_BUDGET];
};

/*
 * Where a copy goes: pieces of the peer's MRs, local segments, or a
 * kernel buffer of buf_len bytes (a datagram being built).  dma: a copy
 * to the peer the engine takes joins that open batch and is not waited
 * for (ntbr_eng_copy returns -EINPROGRESS).
 */
struct ntbr_dst {
	struct ntbr_ib_dev *dev;
	struct ntbr_eng_dma *dma;
	struct ntbr_rseg *rseg;		/* peer: nseg pieces */
	struct ntbr_seg *seg;		/* local: nseg pieces */
	void *buf;			/* kernel memory */
	u64 buf_len;
	u32 nseg;
	u32 i;				/* current piece */
	u64 off;			/* bytes of piece i (or of buf) done */
};

/* Scratch of one WQE's execution (too big for the stack). */
struct ntbr_eng_ctx {
	struct ntbrdma_send_wqe wqe;
	struct ntbr_seg src[NTBRDMA_MAX_SGE];
	struct ntbr_seg rcv[NTBRDMA_MAX_SGE];
	struct ntbr_rseg rdst[NTBRDMA_MAX_SGE];
	struct ntbrdma_recv_wqe rwqe;	/* loopback: the receive filled */
	u64 len;			/* of the message */
	bool dma_pipe;			/* this WQE may join c->dma */
	struct ntbr_eng_dma dma;
};

/*
 * ntbr_eng_exec's answer for a WRITE whose copy the engine runs in
 * c->dma's batch: not complete yet (not an ib_wc_status, not an errno
 * the engine otherwise returns).
 */
#define NTBR_ENG_DMA_QUEUED	(-EALREADY)

/* End c->dma's batch if open (waits for the engine; see timed_out). */
void ntbr_eng_dma_end(struct ntbr_eng_dma *e);

/*
 * A local MR of key containing [va, va + len) with every flag of access,
 * registered in pd; NULL otherwise.  Caller holds eng_sem (read).
 */
struct ntbr_mr *ntbr_eng_mr(struct ntbr_ib_dev *dev, struct ib_pd *pd,
			    u32 key, u64 va, u64 len, int access);
/*
 * Resolve n SGEs (untrusted: from a mapped ring) against local MRs of pd.
 * Zero-length SGEs are skipped.  -EINVAL for a bad key/range/access,
 * -EMSGSIZE when the total exceeds the largest message.
 */
int ntbr_eng_sges(struct ntbr_ib_dev *dev, struct ib_pd *pd,
		  const struct ntbrdma_sge *sge, u32 n, int access,
		  struct ntbr_seg *seg, u32 *nseg, u64 *total);
/*
 * Copy the local segments (or the inline bytes) to the destination.
 * -ENOTCONN when the link went down, other errors for a bad destination.
 * A copy to the peer of at least ntbr_dma_min_len() bytes from user MRs
 * goes to the DMA engine: waited for, or, with d->dma, submitted into
 * its batch (-EINPROGRESS; the copy's failure then shows in d->dma->mark
 * once the batch ended).  Process context, no spinlock held: it
 * reschedules every 1 MiB.
 */
int ntbr_eng_copy(struct ntbr_seg *seg, u32 nseg, const void *inl,
		  u32 inl_len, struct ntbr_dst *d);
/*
 * Bytes the first num_sge (at most NTBRDMA_MAX_SGE) of sge say; each read
 * once (untrusted: they may be a mapped slot).
 */
u64 ntbr_sges_len(const struct ntbrdma_sge *sge, u32 num_sge);
/* Bytes a receive WQE (untrusted: a mapped slot) can hold. */
u64 ntbr_rwqe_len(const struct ntbrdma_recv_wqe *w);
/*
 * The responder QP r allows an RDMA READ (its qp_access_flags and
 * max_dest_rd_atomic, as an HCA's responder checks): IB_WC_SUCCESS or
 * the requester's status.
 */
int ntbr_eng_resp_read_ok(struct ntbr_qp *r);
/* IB_UVERBS_WR_ATOMIC_CMP_AND_SWP or _FETCH_AND_ADD. */
bool ntbr_eng_is_atomic(u32 op);
/*
 * Execute an atomic (op) for a requester on the 8 bytes at va of an MR
 * of the responder QP r, with its checks (REMOTE_ATOMIC of the QP and
 * the MR, max_dest_rd_atomic, alignment, key, range, PD): IB_WC_SUCCESS
 * with the value before in *old, or the requester's status.  Caller
 * holds eng_sem (read).
 */
int ntbr_eng_atomic(struct ntbr_ib_dev *dev, struct ntbr_qp *r, u32 rkey,
		    u64 va, u32 op, u64 compare_add, u64 swap, u64 *old);
/* Jiffies to wait before an RNR retry, for a responder's min_rnr_timer. */
unsigned long ntbr_eng_rnr_delay(u8 min_rnr_timer);
/* The QP's work: runs its SQ (after a READ answer, an error, ...). */
void ntbr_eng_queue(struct ntbr_qp *qp);
/* Another work item of a QP, on the engine's workqueue. */
void ntbr_eng_queue_work(struct work_struct *work);
/* A READ_DONE arrived: complete what it allows, run the SQ. */
void ntbr_eng_read_answered(struct ntbr_qp *qp);
/*
 * Consume the WQE at the head of the SQ and post its completion
 * (signalled, or an error: then the QP goes to ERR).  Under qp->mutex.
 */
void ntbr_eng_complete_head(struct ntbr_qp *qp, u64 wr_id, u32 opcode,
			    u32 flags, u64 len, int status);
/* The responder has receives again: a retry wait ends now. */
void ntbr_eng_rnr_now(struct ntbr_qp *qp);
/*
 * Run the QP's engine work now, whatever timer it waits for (also if it
 * is not queued yet: its own later queue_delayed_work() then finds it
 * pending).
 */
void ntbr_eng_run_now(struct ntbr_qp *qp);

/*
 * ntbrdma_ib_peer.c.  Requester side, called by the engine under
 * qp->mutex and eng_sem (read): SEND[_IMM] or the receive part of
 * WRITE_WITH_IMM (the data was written) into the peer QP's next
 * published receive: an ib_wc_status, or -EAGAIN (none published: RNR,
 * *rnr_timer says the responder's timer).
 */
int ntbr_peer_send(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		   struct ntbr_eng_ctx *c, u32 nsrc, bool write_imm,
		   u8 *rnr_timer);

/*
 * ntbrdma_ib_read.c, requester side, under qp->mutex and eng_sem (read).
 * ntbr_peer_read: send the READ_REQ of the WQE in c (it stays in the SQ,
 * one more of qp->rd_sq) and return -EINPROGRESS, or an ib_wc_status
 * when it could not be sent.  ntbr_read_may_issue: the QP's
 * max_rd_atomic and the device's budget allow one more READ or atomic in
 * flight.  ntbr_read_reap: complete the answered READs and atomics at
 * the head of the SQ, in order (a flush or reset of the SQ takes the READs in flight with it:
 * qp->rd_sq = 0; their answers are still counted when they come).
 * ntbr_read_link_down: no answer will come; the oldest READ in flight
 * fails with IB_WC_RETRY_EXC_ERR (the QP then goes to ERR).
 */
int ntbr_peer_read(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		   struct ntbr_eng_ctx *c, u32 nsrc);
/* ATOMIC_REQ, the same way: the old value comes back into c->src[0]. */
int ntbr_peer_atomic(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		     struct ntbr_eng_ctx *c);
bool ntbr_read_may_issue(struct ntbr_qp *qp);
void ntbr_read_reap(struct ntbr_qp *qp);
void ntbr_read_link_down(struct ntbr_qp *qp);
/*
 * Drop the receives the peer published to qp: after a link loss the
 * peer's QPs are in ERR, and its MRs are announced again under the same
 * keys.
 */
void ntbr_peer_rrq_clear(struct ntbr_qp *qp);
/*
 * The peer QP that qp is connected to is known to be connected back and
 * to receive (a RECV_POST of it was accepted, no RRQ_FLUSH since): true,
 * with its PD and IB_ACCESS_REMOTE_* flags.  False: requests to it get
 * no answer.  Under qp->mutex.
 */
bool ntbr_peer_conn(struct ntbr_qp *qp, u32 *pd_id, u32 *access);
/*
 * The same, with what its RECV_POST said of its inbox (*pi) in its
 * current epoch (*epoch).
 */
bool ntbr_peer_inbox(struct ntbr_qp *qp, struct ntbr_pinbox *pi, u32 *epoch,
		     u32 *pd_id, u32 *access);

/*
 * ntbrdma_ib_ud.c: the UD WQE in c (its sources resolved: nsrc, c->len)
 * as a datagram: an ib_wc_status, or -EBUSY while the control queue is
 * long (ntbr_eng_ctrl_room() runs the QP again).
 */
int ntbr_ud_send(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		 struct ntbr_eng_ctx *c, u32 nsrc);

#endif /* NTBRDMA_IB_ENGINE_H */
