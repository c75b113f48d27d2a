// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: completion queues.
 *
 * A CQ is one ring (layout in include/rdma/ntbrdma-abi.h) in vmalloc_user()
 * memory.  The kernel is its only producer (ntbr_cq_post).  A user CQ's
 * ring is mapped into the provider, which polls and arms it without
 * system calls; a kernel CQ is polled and armed by ntbr_poll_cq and
 * ntbr_req_notify_cq.
 *
 * Everything the kernel reads back from a mapped ring (cons, armed) may
 * have been written by a buggy or hostile process: it is only compared,
 * never used as an index.  The kernel keeps its own copy of prod.
 */
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "ntbrdma_ib.h"

static int ntbr_cq_ring_alloc(struct ntbr_cq_ring *ring, u32 num_cqe)
{
	ring->num_cqe = num_cqe;
	ring->size = PAGE_ALIGN(NTBRDMA_CQ_CQE_OFFSET +
				(size_t)num_cqe * sizeof(struct ntbrdma_cqe));
	ring->buf = vmalloc_user(ring->size); /* zeroed */
	if (!ring->buf)
		return -ENOMEM;
	ring->ctrl = ring->buf;
	ring->cqe = ring->buf + NTBRDMA_CQ_CQE_OFFSET;
	ring->prod = 0;
	ring->mmap_entry = NULL;
	return 0;
}

/* The kernel no longer uses the ring (its mapping entry frees a mapped one). */
static void ntbr_cq_ring_free(struct ntbr_cq_ring *ring)
{
	ntbr_ring_buf_free(ring->buf, ring->mmap_entry);
	ring->mmap_entry = NULL;
	ring->buf = NULL;
}

/* Map ring for the provider: the entry owns its memory from now on. */
static int ntbr_cq_ring_map(struct ntbr_cq_ring *ring, struct ib_udata *udata,
			    u64 *offset)
{
	struct ntbr_ucontext *uc =
		rdma_udata_to_drv_context(udata, struct ntbr_ucontext, ibuc);
	struct rdma_user_mmap_entry *entry;

	entry = ntbr_mmap_insert(&uc->ibuc, ring->buf, ring->size, offset);
	if (IS_ERR(entry))
		return PTR_ERR(entry);
	ring->mmap_entry = entry;
	return 0;
}

static void ntbr_cq_comp_work(struct work_struct *work)
{
	struct ntbr_cq *cq = container_of(work, struct ntbr_cq, comp_work);

	if (cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
}

static int ntbr_cq_check_size(unsigned int cqe)
{
	if (cqe < 1 || cqe > NTBR_MAX_CQE)
		return -EINVAL;
	return 0;
}

int ntbr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibcq->device);
	struct ntbr_cq *cq = to_ntbr_cq(ibcq);
	struct ntbrdma_create_cq_resp resp = {};
	u32 num_cqe;
	int err;

	if (attr->flags)
		return -EOPNOTSUPP;
	err = ntbr_cq_check_size(attr->cqe);
	if (err)
		return err;
	if (udata) {
		if (udata->outlen < sizeof(resp))
			return -EINVAL;
		if (udata->inlen &&
		    !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EINVAL;
	}

	if (atomic_inc_return(&dev->num_cq) > NTBR_MAX_CQ) {
		err = -ENOMEM;
		goto err_count;
	}
	spin_lock_init(&cq->lock);
	mutex_init(&cq->resize_mutex);
	INIT_WORK(&cq->comp_work, ntbr_cq_comp_work);
	cq->id = atomic_inc_return(&dev->next_cq_id);
	cq->user = !!udata;
	num_cqe = roundup_pow_of_two(attr->cqe);
	err = ntbr_cq_ring_alloc(&cq->ring, num_cqe);
	if (err)
		goto err_count;

	if (udata) {
		err = ntbr_cq_ring_map(&cq->ring, udata, &resp.mmap_offset);
		if (err)
			goto err_free;
		resp.mmap_size = cq->ring.size;
		resp.num_cqe = num_cqe;
		resp.cq_id = cq->id;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_free;
	} else {
		cq->slot_qp = kvcalloc(num_cqe, sizeof(*cq->slot_qp),
				       GFP_KERNEL);
		if (!cq->slot_qp) {
			err = -ENOMEM;
			goto err_free;
		}
	}
	ibcq->cqe = num_cqe;
	INIT_LIST_HEAD(&cq->dev_entry);
	if (cq->user) {
		spin_lock_irq(&dev->cq_lock);
		list_add_tail(&cq->dev_entry, &dev->cqs);
		spin_unlock_irq(&dev->cq_lock);
	}
	return 0;

err_free:
	ntbr_cq_ring_free(&cq->ring);
err_count:
	atomic_dec(&dev->num_cq);
	return err;
}

int ntbr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibcq->device);
	struct ntbr_cq *cq = to_ntbr_cq(ibcq);

	spin_lock_irq(&dev->cq_lock);
	list_del(&cq->dev_entry);
	spin_unlock_irq(&dev->cq_lock);
	/* ib_core refuses while QPs or SRQs use the CQ: no producer left. */
	cancel_work_sync(&cq->comp_work);
	ntbr_cq_ring_free(&cq->ring);
	kvfree(cq->slot_qp);
	mutex_destroy(&cq->resize_mutex);
	atomic_dec(&dev->num_cq);
	return 0;
}

/* Entries in the ring as the kernel sees it; caller holds cq->lock. */
static u32 ntbr_cq_count(struct ntbr_cq *cq)
{
	return cq->ring.prod - READ_ONCE(cq->ring.ctrl->cons);
}

/*
 * One resize at a time (uverbs holds only a shared lock on the CQ): the
 * new ring is allocated and, for a user CQ, mapped and its place told to
 * the provider before anything changes, so a failure leaves the CQ as it
 * was; then, under the producer's lock, the entries move and the rings
 * swap; the old ring is let go last (its mapping entry frees it when
 * nobody maps it any more).
 */
int ntbr_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct ntbr_cq *cq = to_ntbr_cq(ibcq);
	struct ntbrdma_resize_cq_resp resp = {};
	struct ntbr_cq_ring ring, old;
	struct ib_qp **slot_qp = NULL, **old_slot_qp;
	u32 num_cqe, count, cons, i;
	int err;

	err = ntbr_cq_check_size(cqe);
	if (err)
		return err;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	num_cqe = roundup_pow_of_two(cqe);

	mutex_lock(&cq->resize_mutex);
	err = ntbr_cq_ring_alloc(&ring, num_cqe);
	if (err)
		goto out;
	if (udata) {
		/*
		 * The provider holds its CQ lock across this command, so it
		 * neither polls nor arms the old ring meanwhile; the answer
		 * says where the new ring is.
		 */
		err = ntbr_cq_ring_map(&ring, udata, &resp.mmap_offset);
		if (err)
			goto err_free;
		resp.mmap_size = ring.size;
		resp.num_cqe = num_cqe;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_free;
	} else {
		slot_qp = kvcalloc(num_cqe, sizeof(*slot_qp), GFP_KERNEL);
		if (!slot_qp) {
			err = -ENOMEM;
			goto err_free;
		}
	}

	spin_lock_irq(&cq->lock);
	count = ntbr_cq_count(cq);
	if (cq->error || count > num_cqe) {
		/* Would lose completions (or cons is garbage). */
		spin_unlock_irq(&cq->lock);
		err = -EINVAL;
		goto err_free;
	}
	cons = READ_ONCE(cq->ring.ctrl->cons);
	for (i = 0; i < count; i++) {
		u32 from = (cons + i) & (cq->ring.num_cqe - 1);

		ring.cqe[i] = cq->ring.cqe[from];
		if (slot_qp)
			slot_qp[i] = cq->slot_qp[from];
	}
	ring.prod = count;
	ring.ctrl->prod = count;
	ring.ctrl->cons = 0;
	ring.ctrl->flags = READ_ONCE(cq->ring.ctrl->flags);
	ring.ctrl->armed = READ_ONCE(cq->ring.ctrl->armed);
	old = cq->ring;
	old_slot_qp = cq->slot_qp;
	cq->ring = ring;
	cq->slot_qp = slot_qp;
	ibcq->cqe = num_cqe;
	spin_unlock_irq(&cq->lock);

	ntbr_cq_ring_free(&old);
	kvfree(old_slot_qp);
	mutex_unlock(&cq->resize_mutex);
	return 0;

err_free:
	kvfree(slot_qp);
	ntbr_cq_ring_free(&ring);
out:
	mutex_unlock(&cq->resize_mutex);
	return err;
}

static void ntbr_cq_error(struct ntbr_cq *cq)
{
	struct ib_event ev = {
		.device = cq->ibcq.device,
		.element.cq = &cq->ibcq,
		.event = IB_EVENT_CQ_ERR,
	};

	if (cq->ibcq.event_handler)
		cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
}

/*
 * Under cq->lock, after a completion was made visible (a ring entry, or
 * an inbox slot): disarm if armed for it; true when the event is due.
 * The caller's full barrier orders the completion before the arm test:
 * pairs with the consumer's arm-then-poll (both sequentially
 * consistent), so either we see the arm here or the consumer's next poll
 * sees the completion.
 */
static bool ntbr_cq_disarm(struct ntbr_cq *cq, bool notify_solicited)
{
	u32 armed = READ_ONCE(cq->ring.ctrl->armed);

	if (armed == NTBRDMA_CQ_ARM_NEXT ||
	    (armed == NTBRDMA_CQ_ARM_SOLICITED && notify_solicited))
		return cmpxchg(&cq->ring.ctrl->armed, armed,
			       NTBRDMA_CQ_DISARMED) == armed;
	return false;
}

/*
 * Call the completion handler.  Our callers may hold a QP's ring lock
 * with interrupts off.  A user CQ's handler (uverbs: queue an event) is
 * fine there; a kernel consumer's may post again on that QP: it runs
 * from a work item (ordered after this post by queue_work()).
 */
static void ntbr_cq_event(struct ntbr_cq *cq)
{
	if (!cq->user)
		queue_work(system_highpri_wq, &cq->comp_work);
	else if (cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
}

void ntbr_cq_notify(struct ntbr_cq *cq, bool notify_solicited)
{
	unsigned long flags;
	bool notify;

	/* The slot was written before the arm test (ntbr_cq_disarm). */
	smp_mb();
	spin_lock_irqsave(&cq->lock, flags);
	notify = !cq->error && ntbr_cq_disarm(cq, notify_solicited);
	spin_unlock_irqrestore(&cq->lock, flags);
	if (notify)
		ntbr_cq_event(cq);
}

int ntbr_cq_post(struct ntbr_cq *cq, const struct ntbrdma_cqe *cqe,
		 struct ib_qp *qp, bool solicited)
{
	struct ntbr_cq_ring *ring;
	unsigned long flags;
	bool notify;
	u32 slot;

	spin_lock_irqsave(&cq->lock, flags);
	ring = &cq->ring;
	if (cq->error)
		goto err_unlock;
	if (ntbr_cq_count(cq) >= ring->num_cqe) {
		cq->error = true;
		WRITE_ONCE(ring->ctrl->flags,
			   READ_ONCE(ring->ctrl->flags) |
			   NTBRDMA_CQ_F_OVERFLOW);
		spin_unlock_irqrestore(&cq->lock, flags);
		ntbr_cq_error(cq);
		return -ENOSPC;
	}
	slot = ring->prod & (ring->num_cqe - 1);
	ring->cqe[slot] = *cqe;
	if (cq->slot_qp)
		cq->slot_qp[slot] = qp;
	ring->prod++;
	/* Entry before index: pairs with the consumer's load-acquire. */
	smp_store_release(&ring->ctrl->prod, ring->prod);
	/* Index before the arm test (ntbr_cq_disarm). */
	smp_mb();
	notify = ntbr_cq_disarm(cq,
				solicited || cqe->status != IB_WC_SUCCESS);
	spin_unlock_irqrestore(&cq->lock, flags);
	if (notify)
		ntbr_cq_event(cq);
	return 0;

err_unlock:
	spin_unlock_irqrestore(&cq->lock, flags);
	return -ENOSPC;
}

/*
 * Test hook: n successful receive completions (wr_id counting from 0 per
 * CQ, 64 bytes, immediate = wr_id) to every user CQ of the device.
 */
void ntbr_cq_inject(struct ntbr_ib_dev *dev, u32 n, bool solicited)
{
	struct ntbrdma_cqe cqe = {
		.status = IB_WC_SUCCESS,
		.opcode = IB_WC_RECV,
		.byte_len = 64,
		.wc_flags = NTBRDMA_CQE_F_WITH_IMM,
		.port_num = 1,
	};
	struct ntbr_cq *cq;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&dev->cq_lock, flags);
	list_for_each_entry(cq, &dev->cqs, dev_entry) {
		for (i = 0; i < n; i++) {
			cqe.wr_id = cq->inject_seq;
			cqe.ex = (__force u32)cpu_to_be32(cq->inject_seq);
			cqe.qp_num = cq->id;
			if (solicited)
				cqe.wc_flags |= NTBRDMA_CQE_F_SOLICITED;
			if (ntbr_cq_post(cq, &cqe, NULL, solicited))
				break;
			cq->inject_seq++;
		}
	}
	spin_unlock_irqrestore(&dev->cq_lock, flags);
}

static const struct {
	u32 abi;
	int ib;
} ntbr_wc_flags[] = {
	{ NTBRDMA_CQE_F_GRH, IB_WC_GRH },
	{ NTBRDMA_CQE_F_WITH_IMM, IB_WC_WITH_IMM },
	{ NTBRDMA_CQE_F_WITH_INV, IB_WC_WITH_INVALIDATE },
	{ NTBRDMA_CQE_F_IP_CSUM_OK, IB_WC_IP_CSUM_OK },
	{ NTBRDMA_CQE_F_WITH_SMAC, IB_WC_WITH_SMAC },
	{ NTBRDMA_CQE_F_WITH_VLAN, IB_WC_WITH_VLAN },
	{ NTBRDMA_CQE_F_WITH_NET_TYPE, IB_WC_WITH_NETWORK_HDR_TYPE },
};

static void ntbr_cqe_to_wc(const struct ntbrdma_cqe *cqe, struct ib_qp *qp,
			   struct ib_wc *wc)
{
	int i;

	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->qp = qp;
	for (i = 0; i < ARRAY_SIZE(ntbr_wc_flags); i++)
		if (cqe->wc_flags & ntbr_wc_flags[i].abi)
			wc->wc_flags |= ntbr_wc_flags[i].ib;
	if (cqe->wc_flags & NTBRDMA_CQE_F_WITH_INV)
		wc->ex.invalidate_rkey = cqe->ex;
	else
		wc->ex.imm_data = (__force __be32)cqe->ex;
	wc->src_qp = cqe->src_qp;
	wc->slid = cqe->slid;
	wc->pkey_index = cqe->pkey_index;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
	wc->port_num = cqe->port_num;
	memcpy(wc->smac, cqe->smac, ETH_ALEN);
	wc->vlan_id = cqe->vlan_id;
	wc->network_hdr_type = cqe->network_hdr_type;
}

/* Kernel consumers only: user CQs are polled by the provider. */
int ntbr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	struct ntbr_cq *cq = to_ntbr_cq(ibcq);
	struct ntbr_cq_ring *ring;
	unsigned long flags;
	u32 cons, slot;
	int n = 0;

	if (cq->user)
		return -EOPNOTSUPP;
	spin_lock_irqsave(&cq->lock, flags);
	ring = &cq->ring;
	cons = ring->ctrl->cons;
	while (n < num_entries && cons != ring->prod) {
		slot = cons & (ring->num_cqe - 1);
		ntbr_cqe_to_wc(&ring->cqe[slot], cq->slot_qp[slot], &wc[n]);
		cons++;
		n++;
	}
	/* Entries read before the slots are handed back. */
	smp_store_release(&ring->ctrl->cons, cons);
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

/*
 * Kernel consumers (ib_core calls this for kernel CQs only: user CQs are
 * armed by the provider in the mapped ring, the same word and protocol).
 */
int ntbr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct ntbr_cq *cq = to_ntbr_cq(ibcq);
	struct ntbrdma_cq_ctrl *ctrl;
	unsigned long irqflags;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, irqflags);
	ctrl = cq->ring.ctrl;
	if ((flags & IB_CQ_SOLICITED_MASK) == IB_CQ_NEXT_COMP) {
		/* Arm, then a full barrier, as the provider (ntbr_cq_post). */
		smp_store_mb(ctrl->armed, NTBRDMA_CQ_ARM_NEXT);
	} else {
		(void)cmpxchg(&ctrl->armed, NTBRDMA_CQ_DISARMED,
			      NTBRDMA_CQ_ARM_SOLICITED);
	}
	/*
	 * The producer runs under cq->lock, so under it the emptiness test
	 * is exact; the arm above is ordered before any later producer.
	 */
	if (flags & IB_CQ_REPORT_MISSED_EVENTS)
		ret = cq->ring.prod != ctrl->cons;
	spin_unlock_irqrestore(&cq->lock, irqflags);
	return ret;
}
