// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: receive inboxes (Documentation/rdma-datapath.md, "Stage A").
 *
 * A user RC or UC QP without an SRQ may bring an inbox: slots of struct
 * ntbrdma_inbox_ent in its process's memory, registered by the provider
 * as an MR with LOCAL_WRITE in the QP's PD.  Every completion of the
 * QP's receives except flushes is then written into slot n mod S of
 * receive n, and the provider completes the receive from there when it
 * polls, before (or without) the interrupt and work that RECV_DONE costs
 * this host.  Writers of a slot:
 *
 *  - the requester's kernel, through the NTB, for a message it placed in
 *    the receive (ntbr_peer_inbox_put, with the key, address and size
 *    that our RECV_POST carried); then RECV_DONE says NTBR_DONE_F_INBOX
 *    and this kernel makes no CQE for it (ntbr_rq_complete is not
 *    called);
 *  - this kernel, for every other completion (loopback, a failure the
 *    peer reports, a message whose slot the peer could not write), through
 *    its own pin of the inbox pages taken at create_qp: the process may
 *    deregister the MR, which only stops the peer's writes.
 *
 * Only one of them writes the slot of a given receive, in receive order
 * (the kernel under rq_lock when the receive is at cons).  Either way we
 * save the receive's wr_id and length as it completes
 * (ntbr_inbox_peer_done, ntbr_rq_complete): its RQ slot is free once
 * cons passed it, the provider keeping its own copy, and a flush needs
 * them.
 *
 * The RQ's control page has two words for this (include/rdma/ntbrdma-
 * abi.h): rx_epoch (ours: the tag's epoch) and rx_taken (the provider's:
 * the next receive it takes, claimed by compare-and-swap; bit 63 FROZEN
 * is ours).  A flush freezes rx_taken and puts the completions the
 * provider had not taken into the CQ ring, read from the slots, before
 * the flushed receives (ntbr_inbox_flush).  RESET stores cons in
 * rx_taken, unfrozen (ntbr_inbox_reset).
 *
 * What the slots and rx_taken say is untrusted (the process and the peer
 * may write them): read only at a flush, clamped, and copied into CQE
 * fields that any value may have; a SEND longer than its receive
 * completes it with LOC_LEN_ERR, as the provider does when it takes one.
 *
 * Stage B (eager messages, rdma-datapath.md): the inbox MR may also hold
 * a status page and payload slots, which the peer's provider writes
 * through a mapping (ntbrdma_ib_umap.c); slots it wrote say
 * NTBRDMA_INBOX_F_EAGER and send no RECV_DONE, so cons catches up with
 * rx_taken (ntbr_inbox_catch_up), and a flush marks such a slot's CQE
 * for the provider to copy its payload.  As requester, a user QP has a
 * ring of the peer's published receives mapped to its provider
 * (ntbr_pub_ring_*), with rx_next, and drops the receives below the
 * provider's eager_next; ntbr_peer_eager_notify asks the peer's kernel
 * for the event of an eager message (its CQ was armed).
 */
#include <linux/debugfs.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <rdma/ib_umem.h>

#include "ntbrdma_ib_peer.h"

static_assert(sizeof(struct ntbrdma_inbox_ent) == 32);
static_assert(offsetof(struct ntbrdma_wq_ctrl, rx_taken) == 128);

struct ntbr_inbox {
	struct ib_umem *umem;		/* our pin of the slots' pages */
	struct page **pages;
	u32 npages;
	u32 off;			/* of slot 0 in pages[0] */
	u32 order;			/* 1 << order slots */
	u32 eager_order;		/* 1 << eager_order payload slots */
	u32 lkey;			/* the MR the peer writes through */
	u64 va;
	/*
	 * The wr_id and length of each receive completed before cons, by
	 * index mod the RQ's size, saved when it completed (its RQ slot may
	 * be posted again once cons passed it): for the flush, under
	 * rq_lock.
	 */
	struct ntbr_inbox_done {
		u64 wr_id;
		u64 len;
	} *done;
};

/* Slots at most (twice the largest RQ: the provider's choice). */
#define NTBR_INBOX_MAX_ORDER	(ilog2(NTBR_MAX_QP_WR) + 1)

void ntbr_inbox_post_info(const struct ntbr_qp *qp, struct ntbr_qp_msg_post *h)
{
	if (!qp->inbox)
		return;
	h->inbox_key = cpu_to_le32(qp->inbox->lkey);
	h->inbox_order = qp->inbox->order;
	h->eager_order = qp->inbox->eager_order;
	h->inbox_va = cpu_to_le64(qp->inbox->va);
}

/* The inbox MR is one of pd's, LOCAL_WRITE, covering len bytes at va. */
static bool ntbr_inbox_mr_ok(struct ntbr_ib_dev *dev, struct ib_pd *pd,
			     u32 lkey, u64 va, u64 len)
{
	bool ok;

	down_read(&dev->eng_sem);
	ok = ntbr_eng_mr(dev, pd, lkey, va, len, IB_ACCESS_LOCAL_WRITE);
	up_read(&dev->eng_sem);
	return ok;
}

int ntbr_inbox_create(struct ntbr_qp *qp, struct ib_udata *udata, u32 *flags)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbrdma_create_qp req = {};
	struct sg_page_iter it;
	struct ntbr_inbox *in;
	u64 len;
	u32 i = 0;
	int err;

	*flags = 0;
	if (!udata->inlen)
		return 0;
	if (udata->inlen > sizeof(req) &&
	    !ib_is_udata_cleared(udata, sizeof(req),
				 udata->inlen - sizeof(req)))
		return -EOPNOTSUPP;
	err = ib_copy_from_udata(&req, udata, min(udata->inlen, sizeof(req)));
	if (err)
		return err;
	if (!req.inbox_order)
		return 0;
	/* Not for these: their receives complete as before. */
	if ((qp->ibqp.qp_type != IB_QPT_RC && qp->ibqp.qp_type != IB_QPT_UC) ||
	    qp->ibqp.srq || req.inbox_order > NTBR_INBOX_MAX_ORDER ||
	    (1U << req.inbox_order) < qp->rq.num_wqe ||
	    !IS_ALIGNED(req.inbox_va, sizeof(struct ntbrdma_inbox_ent)))
		return 0;
	len = (u64)sizeof(struct ntbrdma_inbox_ent) << req.inbox_order;
	/*
	 * An eager area (Stage B) only where every published receive fits
	 * the requester's ring of them (NTBR_PUB_AHEAD) and the whole MR is
	 * page aligned (the peer's provider maps it).
	 */
	if (req.eager_order && req.eager_order <= NTBR_EAGER_MAX_ORDER &&
	    qp->rq.num_wqe <= NTBRDMA_PUB_ENTRIES &&
	    PAGE_ALIGNED(req.inbox_va) &&
	    ntbr_inbox_mr_ok(dev, qp->ibqp.pd, req.inbox_lkey, req.inbox_va,
			     NTBRDMA_INBOX_BYTES(req.inbox_order,
						 req.eager_order)))
		len = NTBRDMA_INBOX_BYTES(req.inbox_order, req.eager_order);
	else if (ntbr_inbox_mr_ok(dev, qp->ibqp.pd, req.inbox_lkey,
				  req.inbox_va, len))
		req.eager_order = 0;
	else
		return 0;
	in = kzalloc(sizeof(*in), GFP_KERNEL);
	if (!in)
		return -ENOMEM;
	in->umem = ib_umem_get(&dev->ibdev, req.inbox_va, len,
			       IB_ACCESS_LOCAL_WRITE);
	if (IS_ERR(in->umem)) {
		err = PTR_ERR(in->umem);
		kfree(in);
		return err;
	}
	in->npages = ib_umem_num_pages(in->umem);
	in->pages = kcalloc(in->npages, sizeof(*in->pages), GFP_KERNEL);
	in->done = kvcalloc(qp->rq.num_wqe, sizeof(*in->done), GFP_KERNEL);
	if (!in->pages || !in->done) {
		ib_umem_release(in->umem);
		kfree(in->pages);
		kvfree(in->done);
		kfree(in);
		return -ENOMEM;
	}
	for_each_sgtable_page(&in->umem->sgt_append.sgt, &it, 0) {
		if (i == in->npages)
			break;
		in->pages[i++] = sg_page_iter_page(&it);
	}
	in->off = offset_in_page(req.inbox_va);
	in->order = req.inbox_order;
	in->eager_order = req.eager_order;
	in->lkey = req.inbox_lkey;
	in->va = req.inbox_va;
	qp->inbox = in;
	/* The SQ's memory ends with room for it (ntbr_create_qp), zeroed. */
	if (qp->sq.size >= NTBR_PUB_BYTES)
		qp->pub_ring = qp->sq.buf + qp->sq.size - NTBR_PUB_BYTES;
	/*
	 * Epochs of a QP with an inbox are never 0, so a slot the provider
	 * zeroed (tag 0) never matches.  Owner: kernel.
	 */
	qp->rq_epoch = 1;
	WRITE_ONCE(qp->rq.ctrl->rx_epoch, qp->rq_epoch);
	*flags = NTBRDMA_QP_F_INBOX | (in->eager_order ? NTBRDMA_QP_F_EAGER : 0);
	return 0;
}

void ntbr_pub_ring_map(struct ntbr_qp *qp,
		       struct ntbrdma_create_qp_resp *resp)
{
	if (!qp->pub_ring)
		return;
	resp->pub_offset = (void *)qp->pub_ring - qp->sq.buf;
	resp->pub_size = NTBR_PUB_BYTES;
	resp->eager_order = qp->inbox ? qp->inbox->eager_order : 0;
}

void ntbr_inbox_destroy(struct ntbr_qp *qp)
{
	struct ntbr_inbox *in = qp->inbox;

	if (!in)
		return;
	qp->inbox = NULL;
	qp->pub_ring = NULL;		/* the SQ's memory frees it */
	ib_umem_release(in->umem);
	kfree(in->pages);
	kvfree(in->done);
	kfree(in);
}

/* Slot index's bytes in our pin: the page and the offset in it. */
static struct page *ntbr_inbox_page(struct ntbr_inbox *in, u32 index,
				    size_t *pgoff)
{
	size_t pos = in->off + (size_t)(index & ((1U << in->order) - 1)) *
				       sizeof(struct ntbrdma_inbox_ent);

	*pgoff = offset_in_page(pos);
	/* Slots are 32-byte aligned: never across a page boundary. */
	return in->pages[pos >> PAGE_SHIFT];
}

/*
 * The body of the slot that says cqe (tag aside), as both writers make
 * it: this host's kernel and the peer's.  Both hosts of an NTB link are
 * little endian, as the provider.
 */
static void ntbr_inbox_body(const struct ntbrdma_cqe *cqe, bool solicited,
			    struct ntbrdma_inbox_ent *ent)
{
	memset(ent, 0, sizeof(*ent));
	ent->byte_len = cqe->byte_len;
	ent->imm = cqe->ex;
	if (cqe->wc_flags & NTBRDMA_CQE_F_WITH_IMM)
		ent->flags |= NTBRDMA_INBOX_F_IMM;
	if (cqe->opcode == IB_WC_RECV_RDMA_WITH_IMM)
		ent->flags |= NTBRDMA_INBOX_F_WRITE_IMM;
	if (solicited)
		ent->flags |= NTBRDMA_INBOX_F_SOLICITED;
	ent->status = cqe->status;
}

/* Write the completion of receive index (epoch) into its slot. */
static void ntbr_inbox_write(struct ntbr_qp *qp, u32 index, u32 epoch,
			     const struct ntbrdma_cqe *cqe, bool solicited)
{
	struct ntbrdma_inbox_ent body, *ent;
	struct page *pg;
	size_t pgoff;
	void *p;

	ntbr_inbox_body(cqe, solicited, &body);
	pg = ntbr_inbox_page(qp->inbox, index, &pgoff);
	p = kmap_local_page(pg);
	ent = p + pgoff;
	WRITE_ONCE(ent->byte_len, body.byte_len);
	WRITE_ONCE(ent->imm, body.imm);
	WRITE_ONCE(ent->flags, body.flags);
	WRITE_ONCE(ent->status, body.status);
	/* Body before tag: pairs with the provider's load-acquire of tag. */
	smp_store_release(&ent->tag, (u64)epoch << 32 | index);
	kunmap_local(p);
}

/*
 * Receive index (still in its RQ slot) completes: save what a flush needs
 * once cons passed it.  Its length is read from the slot the process
 * wrote: a lie there misleads the check below for its own receive only.
 */
static void ntbr_inbox_done(struct ntbr_qp *qp, u32 index, u64 wr_id)
{
	struct ntbr_inbox_done *d =
		&qp->inbox->done[index & (qp->rq.num_wqe - 1)];

	d->wr_id = wr_id;
	d->len = ntbr_rwqe_len(ntbr_wq_slot(&qp->rq, index));
}

void ntbr_rq_complete(struct ntbr_qp *qp, u32 index,
		      const struct ntbrdma_cqe *cqe, bool solicited)
{
	struct ntbr_cq *cq = to_ntbr_cq(qp->ibqp.recv_cq);

	lockdep_assert_held(&qp->rq_lock);
	if (!qp->inbox) {
		ntbr_cq_post(cq, cqe, &qp->ibqp, solicited);
		return;
	}
	ntbr_inbox_done(qp, index, cqe->wr_id);
	ntbr_inbox_write(qp, index, qp->rq_epoch, cqe, solicited);
	atomic_inc(&to_ntbr_ib(qp->ibqp.device)->inbox_local);
	ntbr_cq_notify(cq, solicited || cqe->status != IB_WC_SUCCESS);
}

/*
 * The slot of receive index as a CQE (wr_id aside), from untrusted bytes;
 * its tag is the return value.
 */
static u64 ntbr_inbox_read(struct ntbr_qp *qp, u32 index,
			   struct ntbrdma_cqe *cqe)
{
	struct ntbrdma_inbox_ent *ent;
	struct page *pg;
	size_t pgoff;
	u32 flags;
	void *p;
	u64 tag;

	pg = ntbr_inbox_page(qp->inbox, index, &pgoff);
	p = kmap_local_page(pg);
	ent = p + pgoff;
	/* The tag, then the body its writer stored before it. */
	tag = smp_load_acquire(&ent->tag);
	flags = READ_ONCE(ent->flags);
	cqe->byte_len = READ_ONCE(ent->byte_len);
	cqe->status = min_t(u32, READ_ONCE(ent->status), IB_WC_GENERAL_ERR);
	if (flags & NTBRDMA_INBOX_F_IMM) {
		cqe->ex = READ_ONCE(ent->imm);
		cqe->wc_flags = NTBRDMA_CQE_F_WITH_IMM;
	}
	cqe->opcode = flags & NTBRDMA_INBOX_F_WRITE_IMM ?
			      IB_WC_RECV_RDMA_WITH_IMM : IB_WC_RECV;
	/*
	 * An eager message the provider did not take: its payload is still
	 * in the payload area (the peer may not reuse that slot: rx_taken
	 * is frozen).  The provider copies it when it returns this entry.
	 */
	if ((flags & NTBRDMA_INBOX_F_EAGER) && cqe->status == IB_WC_SUCCESS &&
	    qp->inbox->eager_order) {
		cqe->vendor_err = NTBRDMA_CQE_VENDOR_EAGER;
		cqe->src_qp = index;
	}
	kunmap_local(p);
	return tag;
}

/*
 * Receive index completed from its slot into the CQ ring, if the slot
 * holds its completion (or always, when we made it); false if not.
 */
static bool ntbr_inbox_to_ring(struct ntbr_qp *qp, u32 index, bool always)
{
	struct ntbrdma_recv_wqe *w = ntbr_wq_slot(&qp->rq, index);
	struct ntbrdma_cqe cqe = {
		.qp_num = qp->ibqp.qp_num,
		.port_num = 1,
	};
	u64 len;

	if (ntbr_inbox_read(qp, index, &cqe) !=
	    ((u64)qp->rq_epoch << 32 | index) && !always)
		return false;
	/*
	 * Completed before cons (always): its wr_id and length as saved
	 * then, its RQ slot may hold a newer receive; at or after cons:
	 * still its slot.
	 */
	if (always) {
		cqe.wr_id = qp->inbox->done[index & (qp->rq.num_wqe - 1)].wr_id;
		len = qp->inbox->done[index & (qp->rq.num_wqe - 1)].len;
	} else {
		cqe.wr_id = READ_ONCE(w->wr_id);
		len = ntbr_rwqe_len(w);
	}
	/*
	 * A SEND is never longer than its receive: a slot that says so was
	 * written by a lying peer (or process), as the provider finds too.
	 */
	if (cqe.status == IB_WC_SUCCESS && cqe.opcode == IB_WC_RECV &&
	    cqe.byte_len > len)
		cqe.status = IB_WC_LOC_LEN_ERR;
	ntbr_cq_post(to_ntbr_cq(qp->ibqp.recv_cq), &cqe, &qp->ibqp, false);
	return true;
}

void ntbr_inbox_peer_done(struct ntbr_qp *qp, u32 index, u64 wr_id)
{
	/*
	 * Needed only if the provider did not take it yet, and then its RQ
	 * slot still holds it (the provider posts into it only after).
	 */
	lockdep_assert_held(&qp->rq_lock);
	if (qp->inbox)
		ntbr_inbox_done(qp, index, wr_id);
}

u32 ntbr_inbox_flush(struct ntbr_qp *qp, u32 prod)
{
	u32 cons = qp->rq.cons, taken, i;
	u64 old;

	lockdep_assert_held(&qp->rq_lock);
	if (!qp->inbox)
		return cons;
	/*
	 * Freeze: the provider's next claim fails.  One fully ordered
	 * atomic OR, not a compare-and-swap loop that a thread of the
	 * process storing into the word without end could keep failing
	 * while we hold rq_lock with interrupts off.
	 */
	old = atomic64_fetch_or(NTBRDMA_RX_FROZEN,
				(atomic64_t *)&qp->rq.ctrl->rx_taken);
	/*
	 * Flushed before (a post in ERR flushes again): what the slots
	 * held went into the ring then.
	 */
	if (old & NTBRDMA_RX_FROZEN)
		return cons;
	taken = (u32)old;
	/*
	 * Receives before cons we completed into slots; the provider took
	 * those before taken (untrusted: clamped to the RQ).  Ours it did
	 * not take go into the ring, as they are.
	 */
	if ((s32)(cons - taken) > 0 && cons - taken <= qp->rq.num_wqe) {
		for (i = taken; i != cons; i++)
			ntbr_inbox_to_ring(qp, i, true);
		i = cons;
	} else if ((s32)(taken - cons) > 0 && taken - cons <= prod - cons) {
		/* It took completions whose RECV_DONE we have not seen. */
		i = taken;
	} else {
		i = cons;
	}
	/*
	 * Receives the peer completed into slots whose RECV_DONE is still
	 * on its way (the new epoch makes it stale): the provider could have
	 * taken them a moment ago, so they complete as the slot says.
	 */
	while (i != prod && ntbr_inbox_to_ring(qp, i, false))
		i++;
	return i;
}

void ntbr_inbox_catch_up(struct ntbr_qp *qp)
{
	u32 cons = qp->rq.cons, taken;
	u64 t;

	lockdep_assert_held(&qp->rq_lock);
	if (!qp->inbox)
		return;
	/* Provider-owned; frozen: the flush decides, not this. */
	t = READ_ONCE(qp->rq.ctrl->rx_taken);
	if (t & NTBRDMA_RX_FROZEN)
		return;
	taken = (u32)t;
	/*
	 * Only receives we published can have been taken (their slots
	 * were written for them): [cons, rq_pub).
	 */
	if ((s32)(taken - cons) > 0 && taken - cons <= qp->rq_pub - cons)
		ntbr_wq_set_cons(&qp->rq, taken);
}

void ntbr_inbox_reset(struct ntbr_qp *qp)
{
	lockdep_assert_held(&qp->rq_lock);
	if (!qp->inbox)
		return;
	/* Owner: provider from now on; the kernel's store at RESET. */
	WRITE_ONCE(qp->rq.ctrl->rx_taken, qp->rq.cons);
}

void ntbr_inbox_new_epoch(struct ntbr_qp *qp)
{
	lockdep_assert_held(&qp->rq_lock);
	if (!qp->inbox)
		return;
	if (!qp->rq_epoch)
		qp->rq_epoch = 1;	/* never 0: see ntbr_inbox_create */
	/* Owner: kernel.  Before any receive of the epoch is published. */
	WRITE_ONCE(qp->rq.ctrl->rx_epoch, qp->rq_epoch);
}

/* --- A: writing the peer's inbox ----------------------------------------- */

int ntbr_peer_inbox_put(struct ntbr_ib_dev *dev, const struct ntbr_pinbox *pi,
			u32 index, u32 epoch, const struct ntbrdma_cqe *cqe,
			bool solicited)
{
	struct ntbrdma_inbox_ent ent;
	u64 va, dma, tag;
	struct ntbr_rmr *rmr;
	size_t contig;
	int err;

	if (!pi->order)
		return -ENOENT;
	va = pi->va + (u64)(index & ((1U << pi->order) - 1)) * sizeof(ent);
	err = ntbr_rmr_lookup(dev, pi->key, va, sizeof(ent),
			      IB_ACCESS_LOCAL_WRITE, &rmr);
	if (err)
		return err;
	err = ntbr_rmr_dma_addr(rmr, va, &dma, &contig);
	if (!err && (contig < sizeof(ent) || !IS_ALIGNED(dma, 8)))
		err = -ERANGE;
	if (err)
		goto out;
	ntbr_inbox_body(cqe, solicited, &ent);
	/* The body (bytes 8..31); the tag goes last. */
	err = ntbr_peer_write(dev->nd, dma + 8, (u8 *)&ent + 8,
			      sizeof(ent) - 8);
	if (err)
		goto out;
	/*
	 * The payload's and the body's window stores (write-combining)
	 * before the tag that publishes them: the provider on the other
	 * side loads the tag with acquire, then reads the rest.
	 */
	wmb();
	tag = (u64)epoch << 32 | index;
	err = ntbr_peer_write_u64(dev->nd, dma, tag);
	if (!err)
		atomic_inc(&dev->inbox_put);
out:
	ntbr_rmr_put(rmr);
	return err;
}

/* --- A: the provider's eager messages (Stage B) ------------------------- */

void ntbr_pub_ring_add(struct ntbr_qp *qp, struct list_head *list, u32 epoch)
{
	struct ntbrdma_pub_ent *ent;
	struct ntbr_rrq_ent *e;
	u64 next;

	lockdep_assert_held(&qp->rrq_lock);
	if (!qp->pub_ring || list_empty(list))
		return;
	list_for_each_entry(e, list, entry) {
		ent = &qp->pub_ring[e->rq_index % NTBRDMA_PUB_ENTRIES];
		/*
		 * Owner: kernel.  Tag 0 first, then the body, then the tag
		 * (release): the provider reads tag, body, tag again, and
		 * takes the body only if both tags are the one it wants.
		 */
		WRITE_ONCE(ent->tag, 0);
		/* The cleared tag before the body: pairs with the re-read. */
		smp_wmb();
		WRITE_ONCE(ent->total, (u32)min_t(u64, e->total, U32_MAX));
		WRITE_ONCE(ent->flags, e->flags & NTBR_RCV_F_BAD ?
					       NTBRDMA_PUB_F_BAD : 0);
		/* Body before tag: pairs with the provider's acquire load. */
		smp_store_release(&ent->tag, (u64)epoch << 32 | e->rq_index);
	}
	/* The first receive of an epoch is where its messages start. */
	next = READ_ONCE(qp->sq.ctrl->rx_next);
	if ((u32)(next >> 32) != epoch) {
		e = list_first_entry(list, struct ntbr_rrq_ent, entry);
		/* Owner: kernel (the provider reads it, 64-bit atomic). */
		WRITE_ONCE(qp->sq.ctrl->rx_next, (u64)epoch << 32 | e->rq_index);
	}
}

void ntbr_pub_ring_reset(struct ntbr_qp *qp)
{
	u32 i;

	lockdep_assert_held(&qp->rrq_lock);
	if (!qp->pub_ring)
		return;
	/* Owner: kernel.  Epoch 0 is no peer's: nothing matches. */
	for (i = 0; i < NTBRDMA_PUB_ENTRIES; i++)
		WRITE_ONCE(qp->pub_ring[i].tag, 0);
	WRITE_ONCE(qp->sq.ctrl->rx_next, 0);
}

bool ntbr_pub_eager_took(struct ntbr_qp *qp, const struct ntbr_rrq_ent *e)
{
	u64 eager;

	lockdep_assert_held(&qp->rrq_lock);
	if (!qp->pub_ring)
		return false;
	/* Provider-owned, untrusted: a lie drops only its own receives. */
	eager = READ_ONCE(qp->sq.ctrl->eager_next);
	return (u32)(eager >> 32) == e->epoch &&
	       (s32)((u32)eager - e->rq_index) > 0;
}

void ntbr_pub_took(struct ntbr_qp *qp, const struct ntbr_rrq_ent *e)
{
	lockdep_assert_held(&qp->rrq_lock);
	if (qp->pub_ring)
		WRITE_ONCE(qp->sq.ctrl->rx_next,
			   (u64)e->epoch << 32 | (u32)(e->rq_index + 1));
}

void ntbr_peer_eager_notify(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			    const struct ntbrdma_send_wqe *wqe)
{
	struct ntbr_qp_msg_done m = {
		.dst_qpn = cpu_to_le32(qp->attr.dest_qp_num),
		.src_qpn = cpu_to_le32(qp->ibqp.qp_num),
		/* The process's words: the peer checks them as any RECV_DONE. */
		.rq_index = cpu_to_le32(wqe->u.raw[0]),
		.epoch = cpu_to_le32(wqe->u.raw[1]),
		.opcode = NTBR_RECV_OP_SEND,
		.flags = NTBR_DONE_F_INBOX | NTBR_DONE_F_EAGER,
	};

	if (wqe->flags & NTBRDMA_WQE_F_SOLICITED)
		m.flags |= NTBR_DONE_F_SOLICITED;
	if (!ntbr_mr_send(dev, NTBR_CTRL_QP_RECV_DONE, &m, sizeof(m)))
		atomic_inc(&dev->eager_notify);
}

static int ntbr_inbox_show(struct seq_file *s, void *unused)
{
	struct ntbr_ib_dev *dev = s->private;

	seq_printf(s, "put %d\nlocal %d\ndone %d\n",
		   atomic_read(&dev->inbox_put), atomic_read(&dev->inbox_local),
		   atomic_read(&dev->inbox_done));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_inbox);

void ntbr_inbox_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir)
{
	debugfs_create_file("inbox", 0400, dir, dev, &ntbr_inbox_fops);
}
