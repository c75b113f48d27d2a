// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: memory regions (rdma-datapath.md, "Memory registration"), the
 * side that registers and announces them to the peer.
 *
 * DMA mapping: the ib_device registers with dma_device NULL ("virtual
 * DMA", as rxe and siw), so ib_umem_get() only pins the pages and builds
 * the sg_table (its "mapping" writes the kernel virtual addresses).  We
 * then map that sg_table for the NTB's PCI device (ntbr_dma_device()),
 * which replaces the DMA addresses in it, and unmap it before
 * ib_umem_release() (whose virtual unmap does nothing and whose unpinning
 * only uses the pages).  CPU access to the pages goes through sg_page(),
 * never through the DMA addresses.  With an IOMMU only these pages are
 * reachable through the peer's window (DESIGN.md, memory model).
 *
 * Announcement (MRs with LOCAL_WRITE or a REMOTE_* flag, while the link
 * is ready):
 *   us: MR_ADD -> peer: allocates entry + page-list buffer, MR_LIST ->
 *   us: window-writes the list, MR_READY -> peer: copies and checks the
 *   list, entry READY, MR_READY_ACK -> us: reg_user_mr returns.
 * The last step makes an rkey usable by the peer as soon as reg_mr
 * returned (applications send rkeys out of band, e.g. TCP over ntb0).
 * All sends of MR_ADD come from one work item that keeps at most
 * NTBR_MR_ANN_WINDOW announcements in flight, so a link up with many MRs
 * does not fill the control ring.  Every announcement has a sequence
 * number; answers to an older one are ignored.
 *
 * Deregistration: MR_DEL -> peer unlinks the entry, MR_DEL_ACK once the
 * copies in flight ended -> we unpin.  At most NTBR_MR_DEL_WINDOW MR_DELs
 * are unanswered: every one costs the peer an answer it may have to
 * queue, so the window bounds that queue however fast we deregister
 * (Documentation/control-channel.md); the others wait in state DEL_WAIT
 * for the announcing work.  Until the answer the MR waits on mr_dying
 * with its key still allocated (a new MR cannot take it).  A peer that
 * held an entry may write into the pages until one of these proves it
 * cannot any more, and only then are they unpinned:
 *  - its MR_DEL_ACK;
 *  - a later link-up: a new session means the peer went through its own
 *    teardown (no window write in flight: synchronize_srcu) and dropped
 *    its table of our MRs.  Our link down alone proves nothing: it may be
 *    a heartbeat timeout while the peer is stalled in the middle of a
 *    copy (a VM paused for a second);
 *  - the transport closed our inbound window for good (device removal:
 *    ntbr_peer_can_write()).
 * An MR_DEL unanswered for 5 s is logged.  A device removed while the
 * peer still holds entries waits 5 s for its answers; what it still
 * holds then stays pinned for good (leaked, with a log line): never
 * reused under a late write.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/kmemleak.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "ntbrdma_ib.h"

#define NTBR_MR_ANN_WINDOW	8
#define NTBR_MR_DEL_WINDOW	32

/*
 * A correct peer never makes the control queue overflow: past the soft
 * bound it holds at most our answers to its windows (MR_LIST and
 * MR_READY_ACK per announcement, MR_DEL_ACKs, one READ_DONE per READ in
 * flight: at most one per QP plus NTBR_RD_EXTRA_MAX, ntbrdma_ib_read.c)
 * and one message per QP's engine or publisher, and per SRQ's
 * publisher, that passed the check (Documentation/control-channel.md).
 */
static_assert(NTBR_CTRL_Q_SOFT + 2 * NTBR_MR_ANN_WINDOW +
	      NTBR_MR_DEL_WINDOW + 3 * NTBR_MAX_QP + NTBR_RD_EXTRA_MAX +
	      NTBR_UD_MSGS_MAX + NTBR_MAX_SRQ <= NTBR_CTRL_Q_MAX);
#define NTBR_MR_TIMEOUT		(5 * HZ)

struct workqueue_struct *ntbr_mr_wq;

static inline struct ntbr_mr *to_ntbr_mr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct ntbr_mr, ibmr);
}

/*
 * MRs the peer may write into: remote access (RDMA WRITE, and READ and
 * atomics answered into the requester), and LOCAL_WRITE, because the
 * peer's engine copies SEND payloads and READ answers into our receive
 * and READ buffers (ntbrdma_ib_peer.c).  The peer enforces the flags.
 */
static bool ntbr_mr_is_remote(int access)
{
	return access & (IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
			 IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC);
}

int ntbr_mr_send(struct ntbr_ib_dev *dev, u16 type, const void *msg,
		 size_t len)
{
	int ret = ntbr_ctrl_send(dev->nd, type, msg, len);

	/* Anything but "the link went" is a bug of ours (size, type). */
	WARN_ON_ONCE(ret && ret != -ENOTCONN);
	return ret ? -ENOTCONN : 0;
}

/* Allocate a key for mr: index (1 .. 2^24 - 1, cyclic) << 8 | random. */
static int ntbr_mr_alloc_key(struct ntbr_ib_dev *dev, struct ntbr_mr *mr)
{
	u32 idx;
	int ret;

	if (atomic_inc_return(&dev->mrd.num_mr) > NTBR_MAX_MR) {
		atomic_dec(&dev->mrd.num_mr);
		return -ENOMEM;
	}
	ret = xa_alloc_cyclic(&dev->mrd.mr_xa, &idx, mr,
			      XA_LIMIT(1, (1U << 24) - 1), &dev->mrd.mr_next,
			      GFP_KERNEL);
	if (ret < 0) {
		atomic_dec(&dev->mrd.num_mr);
		return ret;
	}
	mr->ibmr.lkey = idx << 8 | (get_random_u32() & 0xff);
	mr->ibmr.rkey = mr->ibmr.lkey;
	return 0;
}

/* Unpin and free; the MR is on no list. */
static void ntbr_mr_free(struct ntbr_mr *mr)
{
	struct ntbr_ib_dev *dev = mr->dev;

	/* Unfindable first, then wait for the engine's users of it. */
	xa_erase(&dev->mrd.mr_xa, mr->ibmr.lkey >> 8);
	ntbr_eng_sync(dev);
	if (mr->mapped)
		dma_unmap_sgtable(ntbr_dma_device(dev->nd),
				  &mr->umem->sgt_append.sgt,
				  DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	if (mr->umem)
		ib_umem_release(mr->umem);
	kvfree(mr->dma);
	atomic_dec(&dev->mrd.num_mr);
	kfree(mr);
}

static int ntbr_mr_check_access(int access)
{
	/* IB spec 10.6.3.1: remote write/atomic need local write. */
	if ((access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IB_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	/* Relaxed ordering is only a hint: accepted and ignored. */
	if (access & ~(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
		       IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC |
		       IB_ACCESS_RELAXED_ORDERING))
		return -EOPNOTSUPP;
	return 0;
}

struct ib_mr *ntbr_get_dma_mr(struct ib_pd *ibpd, int access)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibpd->device);
	struct ntbr_mr *mr;
	int err;

	err = ntbr_mr_check_access(access);
	if (err)
		return ERR_PTR(err);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->dev = dev;
	mr->access = access;
	mr->length = U64_MAX;
	INIT_LIST_HEAD(&mr->entry);
	init_completion(&mr->ann_done);
	err = ntbr_mr_alloc_key(dev, mr);
	if (err) {
		kfree(mr);
		return ERR_PTR(err);
	}
	/* Kernel virtual addresses, local only: never announced. */
	return &mr->ibmr;
}

/*
 * A page the peer could not write as itself: refuse the MR, say why and
 * what to change (Documentation/memory-windows.md).  -ERANGE: the page
 * lies outside the range of memory the NTB reaches; -EAGAIN before the
 * first NTB link-up, when that range is not known yet.
 */
static int ntbr_mr_unreachable(struct ntbr_ib_dev *dev, struct page *page,
			       dma_addr_t dma)
{
	struct device *dma_dev = ntbr_dma_device(dev->nd);
	phys_addr_t phys = page_to_phys(page);
	u64 cov = ntbr_inbound_coverage(dev->nd);

	ibdev_warn_ratelimited(&dev->ibdev,
			       "reg_mr refused (%s): the page at %pa cannot be written by the peer as itself: %s. The NTB windows reach DMA addresses below %#llx; enable the IOMMU in translation mode for %s (intel_iommu=on or amd_iommu=on, not iommu=pt), or use NTB windows covering all RAM\n",
			       cov ? "ERANGE" : "EAGAIN", &phys,
			       ntbr_reach_why(dev->nd, page, dma), cov,
			       dev_name(dma_dev));
	return cov ? -ERANGE : -EAGAIN;
}

/*
 * The NTB DMA address of every page of the umem, in order; each must be
 * the page itself inside the inbound coverage, never a swiotlb bounce
 * slot: the peer would write the slot, and the application would see
 * nothing (or, with the copy back at unmap, stale data over its own
 * writes).  Checked before mapping where the answer is known (no IOMMU:
 * the page's own DMA address), so that a refused MR never takes the
 * bounce pool, and after mapping for every page.
 */
static int ntbr_mr_map(struct ntbr_ib_dev *dev, struct ntbr_mr *mr)
{
	struct sg_table *sgt = &mr->umem->sgt_append.sgt;
	struct sg_dma_page_iter iter;
	struct sg_page_iter piter;
	u32 i = 0;
	int err;

	mr->dma = kvmalloc_array(mr->npages, sizeof(u64), GFP_KERNEL);
	if (!mr->dma)
		return -ENOMEM;
	for_each_sgtable_page(sgt, &piter, 0)
		if (!ntbr_page_reachable(dev->nd, sg_page_iter_page(&piter)))
			return ntbr_mr_unreachable(dev,
						   sg_page_iter_page(&piter),
						   DMA_MAPPING_ERROR);
	/*
	 * No CPU syncs, at map as at unmap: the peer writes the pages at
	 * any time while the application reads them, so a sync would mean
	 * nothing (and no page is a bounce slot, checked below).  It also
	 * tells DMA-API debugging that overlapping mappings are intended:
	 * registering the same memory twice is legal in RDMA.
	 */
	err = dma_map_sgtable(ntbr_dma_device(dev->nd), sgt,
			      DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	if (err)
		return err;
	mr->mapped = true;
	for_each_sgtable_dma_page(sgt, &iter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			return -EIO;
		mr->dma[i++] = sg_page_iter_dma_address(&iter);
	}
	if (i != mr->npages)
		return -EIO;
	i = 0;
	for_each_sgtable_page(sgt, &piter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			return -EIO;
		if (!ntbr_page_mapped_ok(dev->nd, sg_page_iter_page(&piter),
					 mr->dma[i])) {
			err = ntbr_mr_unreachable(dev,
						  sg_page_iter_page(&piter),
						  mr->dma[i]);
			/*
			 * No copy back from bounce slots: it would write what
			 * the pages held at mapping over what the application
			 * wrote since.
			 */
			dma_unmap_sgtable(ntbr_dma_device(dev->nd), sgt,
					  DMA_BIDIRECTIONAL,
					  DMA_ATTR_SKIP_CPU_SYNC);
			mr->mapped = false;
			return err;
		}
		i++;
	}
	return 0;
}

struct ib_mr *ntbr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibpd->device);
	struct ntbr_mr *mr;
	bool wait = false;
	int err;

	err = ntbr_mr_check_access(access);
	if (err)
		return ERR_PTR(err);
	if (udata && (udata->inlen || udata->outlen))
		return ERR_PTR(-EINVAL);
	/*
	 * ib_umem_get() refuses length 0 only at a page boundary (elsewhere
	 * it pins the page); the peer refuses an MR of length 0 anyway.
	 */
	if (!length)
		return ERR_PTR(-EINVAL);

	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->dev = dev;
	mr->access = access;
	mr->iova = iova;
	mr->length = length;
	mr->pd_id = ibpd->res.id;
	INIT_LIST_HEAD(&mr->entry);
	init_completion(&mr->ann_done);
	err = ntbr_mr_alloc_key(dev, mr);
	if (err) {
		kfree(mr);
		return ERR_PTR(err);
	}

	/* Wrapping ranges: -EINVAL from ib_umem_get, as rxe. */
	mr->umem = ib_umem_get(ibpd->device, start, length, access);
	if (IS_ERR(mr->umem)) {
		err = PTR_ERR(mr->umem);
		mr->umem = NULL;
		goto err_free;
	}
	mr->npages = ib_umem_num_pages(mr->umem);
	mr->first_off = ib_umem_offset(mr->umem);
	if (ntbr_mr_is_remote(access) && mr->npages > NTBR_RMR_MAX_PAGES) {
		err = -EINVAL;	/* the peer could not hold its page list */
		goto err_free;
	}
	err = ntbr_mr_map(dev, mr);
	if (err)
		goto err_free;

	if (ntbr_mr_is_remote(access)) {
		mutex_lock(&dev->mrd.mr_mutex);
		mr->ann = NTBR_MR_IDLE;
		list_add_tail(&mr->entry, &dev->mrd.mr_remote);
		wait = dev->mrd.up && ntbr_link_ready(dev->nd);
		mutex_unlock(&dev->mrd.mr_mutex);
		queue_work(ntbr_mr_wq, &dev->mrd.ann_work);
	}
	/*
	 * The peer can write as soon as we return: wait for its entry to be
	 * READY.  A peer that does not answer does not fail the
	 * registration (the MR works locally and is announced again at the
	 * next link up).
	 */
	if (wait &&
	    !wait_for_completion_timeout(&mr->ann_done, NTBR_MR_TIMEOUT))
		ibdev_warn(&dev->ibdev, "MR %#x: peer did not answer\n",
			   mr->ibmr.rkey);
	return &mr->ibmr;

err_free:
	ntbr_mr_free(mr);
	return ERR_PTR(err);
}

/* The peer may still write into mr's pages (under mr_mutex). */
static bool ntbr_mr_peer_holds(struct ntbr_ib_dev *dev, struct ntbr_mr *mr)
{
	return mr->peer_holds && mr->ann_ups == dev->mrd.ups &&
	       ntbr_peer_can_write(dev->nd);
}

/* Wait on mr_dying for the peer (under mr_mutex). */
static void ntbr_mr_dying_add(struct ntbr_ib_dev *dev, struct ntbr_mr *mr)
{
	mr->del_deadline = jiffies + NTBR_MR_TIMEOUT;
	list_add_tail(&mr->entry, &dev->mrd.mr_dying);
	queue_delayed_work(ntbr_mr_wq, &dev->mrd.late_work,
			   NTBR_MR_TIMEOUT + HZ / 10);
}

/* Off mr_dying (under mr_mutex). */
static void ntbr_mr_dying_del(struct ntbr_ib_dev *dev, struct ntbr_mr *mr)
{
	if (mr->ann == NTBR_MR_DEL_WAIT)
		dev->mrd.del_wait--;
	list_del_init(&mr->entry);
}

/*
 * MR_DEL may go now (under mr_mutex): fewer than NTBR_MR_DEL_WINDOW
 * unanswered and a short control queue.  Every MR_DEL gets an answer, so
 * the window bounds what the peer must queue for us however fast we
 * deregister; the rest waits in state DEL_WAIT for ann_work.
 */
static bool ntbr_mr_del_may_send(struct ntbr_ib_dev *dev)
{
	return dev->mrd.del_out < NTBR_MR_DEL_WINDOW &&
	       !ntbr_ctrl_congested(dev->nd);
}

int ntbr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct ntbr_mr *mr = to_ntbr_mr(ibmr);
	struct ntbr_ib_dev *dev = mr->dev;
	struct ntbr_mr_msg_key m;
	bool held = false, del = false;

	/* No local use by the engine after dereg (pages may stay pinned). */
	WRITE_ONCE(mr->dead, true);
	ntbr_eng_sync(dev);
	if (ntbr_mr_is_remote(mr->access) && mr->umem) {
		mutex_lock(&dev->mrd.mr_mutex);
		list_del_init(&mr->entry);
		held = ntbr_mr_peer_holds(dev, mr);
		/* In this session the peer answers MR_DEL; else a new one. */
		del = held && dev->mrd.up && mr->ann != NTBR_MR_IDLE &&
		      mr->ann != NTBR_MR_REFUSED;
		if (held)
			mr->ann = NTBR_MR_DEL_SENT;
		if (del && !ntbr_mr_del_may_send(dev)) {
			/* ann_work sends it (DEL_ACK or room calls it). */
			mr->ann = NTBR_MR_DEL_WAIT;
			dev->mrd.del_wait++;
			ntbr_mr_dying_add(dev, mr);
			mutex_unlock(&dev->mrd.mr_mutex);
			return 0;
		}
		if (del)
			dev->mrd.del_out++;
		mutex_unlock(&dev->mrd.mr_mutex);
	}
	if (!held) {
		ntbr_mr_free(mr);
		return 0;
	}

	/*
	 * Not under mr_mutex: the control work needs it to drain our ring.
	 * Not sent (link down): the next link-up frees the MR.
	 */
	m.rkey = cpu_to_le32(mr->ibmr.rkey);
	m.seq = cpu_to_le32(mr->seq);
	if (del)
		ntbr_mr_send(dev, NTBR_CTRL_MR_DEL, &m, sizeof(m));
	/* Never unpin before the peer provably let go of the pages. */
	mutex_lock(&dev->mrd.mr_mutex);
	if (mr->acked || !ntbr_mr_peer_holds(dev, mr)) {
		mutex_unlock(&dev->mrd.mr_mutex);
		ntbr_mr_free(mr);
		return 0;
	}
	ntbr_mr_dying_add(dev, mr);
	mutex_unlock(&dev->mrd.mr_mutex);
	return 0;
}

/* Our MR of rkey, under mr_mutex; NULL if the key is not (or no more) ours. */
static struct ntbr_mr *ntbr_mr_find(struct ntbr_ib_dev *dev, u32 rkey)
{
	struct ntbr_mr *mr = xa_load(&dev->mrd.mr_xa, rkey >> 8);

	if (!mr || mr->ibmr.rkey != rkey || !mr->umem)
		return NULL;
	return mr;
}

/* MR_DELs that waited (DEL_WAIT), as the window allows (under mr_mutex). */
static int ntbr_mr_take_dels(struct ntbr_ib_dev *dev,
			     struct ntbr_mr_msg_key *d)
{
	struct ntbr_mr *mr;
	int n = 0;

	if (!dev->mrd.up || !ntbr_link_ready(dev->nd))
		return 0;
	list_for_each_entry(mr, &dev->mrd.mr_dying, entry) {
		if (!dev->mrd.del_wait ||
		    dev->mrd.del_out >= NTBR_MR_DEL_WINDOW)
			break;
		if (mr->ann != NTBR_MR_DEL_WAIT)
			continue;
		mr->ann = NTBR_MR_DEL_SENT;
		mr->del_deadline = jiffies + NTBR_MR_TIMEOUT;
		dev->mrd.del_wait--;
		dev->mrd.del_out++;
		d[n].rkey = cpu_to_le32(mr->ibmr.rkey);
		d[n].seq = cpu_to_le32(mr->seq);
		n++;
	}
	return n;
}

/*
 * Announce MRs in state IDLE, at most NTBR_MR_ANN_WINDOW at a time, and
 * send the MR_DELs that waited; nothing while the control queue is long
 * (ntbr_ib_ctrl_room() queues us again).
 */
static void ntbr_mr_ann_work(struct work_struct *work)
{
	struct ntbr_ib_dev *dev = container_of(work, struct ntbr_ib_dev,
					       mrd.ann_work);
	struct ntbr_mr_msg_add m[NTBR_MR_ANN_WINDOW];
	struct ntbr_mr_msg_key d[NTBR_MR_DEL_WINDOW];
	struct ntbr_mr *mr;
	int busy = 0, n = 0, ndel, i;

	if (ntbr_ctrl_congested(dev->nd))
		return;
	mutex_lock(&dev->mrd.mr_mutex);
	ndel = ntbr_mr_take_dels(dev, d);
	list_for_each_entry(mr, &dev->mrd.mr_remote, entry)
		if (mr->ann == NTBR_MR_ADD_SENT ||
		    mr->ann == NTBR_MR_READY_SENT)
			busy++;
	list_for_each_entry(mr, &dev->mrd.mr_remote, entry) {
		if (busy >= NTBR_MR_ANN_WINDOW || !dev->mrd.up ||
		    !ntbr_link_ready(dev->nd))
			break;
		if (mr->ann != NTBR_MR_IDLE)
			continue;
		mr->seq++;
		/* From here the peer may hold an entry of this session. */
		mr->peer_holds = true;
		mr->ann_ups = dev->mrd.ups;
		m[n++] = (struct ntbr_mr_msg_add) {
			.rkey = cpu_to_le32(mr->ibmr.rkey),
			.seq = cpu_to_le32(mr->seq),
			.iova = cpu_to_le64(mr->iova),
			.length = cpu_to_le64(mr->length),
			.access = cpu_to_le32(mr->access &
					      ~IB_ACCESS_RELAXED_ORDERING),
			.pd_id = cpu_to_le32(mr->pd_id),
			.npages = cpu_to_le32(mr->npages),
			.page_shift = cpu_to_le32(PAGE_SHIFT),
			.first_off = cpu_to_le32(mr->first_off),
		};
		mr->ann = NTBR_MR_ADD_SENT;
		busy++;
	}
	mutex_unlock(&dev->mrd.mr_mutex);

	/* Not sent (link down): the next link-up frees the MR. */
	for (i = 0; i < ndel; i++)
		ntbr_mr_send(dev, NTBR_CTRL_MR_DEL, &d[i], sizeof(d[i]));
	/* Not under mr_mutex: the control work needs it to drain our ring. */
	for (i = 0; i < n; i++) {
		if (!ntbr_mr_send(dev, NTBR_CTRL_MR_ADD, &m[i], sizeof(m[i])))
			continue;
		/* Not sent: IDLE again, announced at the next link up. */
		mutex_lock(&dev->mrd.mr_mutex);
		mr = ntbr_mr_find(dev, le32_to_cpu(m[i].rkey));
		if (mr && mr->ann == NTBR_MR_ADD_SENT &&
		    mr->seq == le32_to_cpu(m[i].seq))
			mr->ann = NTBR_MR_IDLE;
		mutex_unlock(&dev->mrd.mr_mutex);
	}
}

/* An announcement finished, one way or the other (under mr_mutex). */
static void ntbr_mr_ann_end(struct ntbr_ib_dev *dev, struct ntbr_mr *mr,
			    enum ntbr_mr_ann ann)
{
	mr->ann = ann;
	/* Refused: the peer dropped its entry (or never made one READY). */
	if (ann == NTBR_MR_REFUSED)
		mr->peer_holds = false;
	complete_all(&mr->ann_done);
	queue_work(ntbr_mr_wq, &dev->mrd.ann_work);
}

static void ntbr_mr_handle_list(struct ntbr_ib_dev *dev, const void *p,
				size_t len)
{
	const struct ntbr_mr_msg_list *m = p;
	struct ntbr_mr_msg_key r;
	struct ntbr_mr *mr;
	int status;

	if (len != sizeof(*m))
		return;
	status = (int)le32_to_cpu(m->status);
	mutex_lock(&dev->mrd.mr_mutex);
	mr = ntbr_mr_find(dev, le32_to_cpu(m->rkey));
	if (!mr || mr->ann != NTBR_MR_ADD_SENT ||
	    mr->seq != le32_to_cpu(m->seq))
		goto out;		/* an answer to an older announcement */
	if (status) {
		ibdev_warn(&dev->ibdev, "MR %#x refused by the peer: %d\n",
			   mr->ibmr.rkey, status);
		ntbr_mr_ann_end(dev, mr, NTBR_MR_REFUSED);
		goto out;
	}
	/* The whole list in one window write; the peer checks it. */
	if (ntbr_peer_write(dev->nd, le64_to_cpu(m->list_dma), mr->dma,
			    (size_t)mr->npages * sizeof(u64))) {
		ntbr_mr_ann_end(dev, mr, NTBR_MR_REFUSED);
		goto out;
	}
	/*
	 * The control channel's producer index is written after a wmb(), so
	 * the peer sees the list before MR_READY.
	 */
	r.rkey = m->rkey;
	r.seq = m->seq;
	mr->ann = NTBR_MR_READY_SENT;
	mutex_unlock(&dev->mrd.mr_mutex);
	if (!ntbr_mr_send(dev, NTBR_CTRL_MR_READY, &r, sizeof(r)))
		return;
	mutex_lock(&dev->mrd.mr_mutex);
	mr = ntbr_mr_find(dev, le32_to_cpu(r.rkey));
	if (mr && mr->ann == NTBR_MR_READY_SENT &&
	    mr->seq == le32_to_cpu(r.seq))
		ntbr_mr_ann_end(dev, mr, NTBR_MR_REFUSED);
out:
	mutex_unlock(&dev->mrd.mr_mutex);
}

static void ntbr_mr_handle_ready_ack(struct ntbr_ib_dev *dev, const void *p,
				     size_t len)
{
	const struct ntbr_mr_msg_ack *m = p;
	struct ntbr_mr *mr;

	if (len != sizeof(*m))
		return;
	mutex_lock(&dev->mrd.mr_mutex);
	mr = ntbr_mr_find(dev, le32_to_cpu(m->rkey));
	if (mr && mr->ann == NTBR_MR_READY_SENT &&
	    mr->seq == le32_to_cpu(m->seq))
		ntbr_mr_ann_end(dev, mr, m->status ? NTBR_MR_REFUSED :
				NTBR_MR_ANNOUNCED);
	mutex_unlock(&dev->mrd.mr_mutex);
}

static void ntbr_mr_handle_del_ack(struct ntbr_ib_dev *dev, const void *p,
				   size_t len)
{
	const struct ntbr_mr_msg_key *m = p;
	struct ntbr_mr *mr;

	if (len != sizeof(*m))
		return;
	mutex_lock(&dev->mrd.mr_mutex);
	mr = dev->mrd.closed ? NULL : ntbr_mr_find(dev, le32_to_cpu(m->rkey));
	if (mr && (mr->ann != NTBR_MR_DEL_SENT || mr->acked ||
		   mr->seq != le32_to_cpu(m->seq)))
		mr = NULL;
	if (mr) {
		/* One less unanswered: an MR_DEL that waited may go. */
		if (dev->mrd.del_out)
			dev->mrd.del_out--;
		if (dev->mrd.del_wait)
			queue_work(ntbr_mr_wq, &dev->mrd.ann_work);
	}
	if (mr && list_empty(&mr->entry)) {
		/* ntbr_dereg_mr is still sending: it frees the MR. */
		mr->acked = true;
		mr = NULL;
	} else if (mr) {
		ntbr_mr_dying_del(dev, mr);
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	if (mr) {
		ntbr_mr_free(mr);
		wake_up_all(&dev->mrd.dying_wq);
	}
}

/* Announce every MR again (link up, or the peer asked: new ib_device). */
static void ntbr_mr_reannounce(struct ntbr_ib_dev *dev)
{
	struct ntbr_mr *mr;

	mutex_lock(&dev->mrd.mr_mutex);
	list_for_each_entry(mr, &dev->mrd.mr_remote, entry) {
		mr->ann = NTBR_MR_IDLE;
		complete_all(&mr->ann_done);
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	queue_work(ntbr_mr_wq, &dev->mrd.ann_work);
}

/*
 * No (registered) ib_device here: we hold none of the peer's MRs.  Say
 * so, or the peer would wait for an answer: its announcement is refused
 * (it announces again when our device asks with MR_RESYNC) and a removal
 * is acknowledged at once.
 */
static void ntbr_mr_ctrl_nodev(struct ntbr_dev *nd, u16 type,
			       const void *payload, size_t len)
{
	const struct ntbr_mr_msg_key *k = payload;
	struct ntbr_mr_msg_list l = {};
	struct ntbr_mr_msg_ack a = {};

	/* rkey and seq lead every message that has them. */
	if (type == NTBR_CTRL_MR_ADD && len == sizeof(struct ntbr_mr_msg_add)) {
		l.rkey = k->rkey;
		l.seq = k->seq;
		l.status = cpu_to_le32(-ENODEV);
		ntbr_ctrl_send(nd, NTBR_CTRL_MR_LIST, &l, sizeof(l));
	} else if (type == NTBR_CTRL_MR_READY && len == sizeof(*k)) {
		a.rkey = k->rkey;
		a.seq = k->seq;
		a.status = cpu_to_le32(-ENODEV);
		ntbr_ctrl_send(nd, NTBR_CTRL_MR_READY_ACK, &a, sizeof(a));
	} else if (type == NTBR_CTRL_MR_DEL && len == sizeof(*k)) {
		ntbr_ctrl_send(nd, NTBR_CTRL_MR_DEL_ACK, k, sizeof(*k));
	}
}

/*
 * MR_DEL_ACK while our device is being unregistered: ntbr_mr_dev_fini()
 * waits for these before it unpins (the device no longer takes
 * references, but its structure lives until dealloc_driver returned).
 */
static void ntbr_mr_del_ack_unreg(struct ntbr_dev *nd, const void *payload,
				  size_t len)
{
	struct ntbr_ib_dev *dev = ntbr_ib_dev_get_unreg(nd);

	if (!dev)
		return;
	ntbr_mr_handle_del_ack(dev, payload, len);	/* checks closed */
	put_device(&dev->ibdev.dev);
}

static void ntbr_mr_ctrl(struct ntbr_dev *nd, u16 type, const void *payload,
			 size_t len)
{
	struct ntbr_ib_dev *dev = ntbr_ib_dev_get(nd);

	if (!dev && type == NTBR_CTRL_MR_DEL_ACK) {
		ntbr_mr_del_ack_unreg(nd, payload, len);
		return;
	}
	if (!dev) {
		ntbr_mr_ctrl_nodev(nd, type, payload, len);
		return;
	}
	switch (type) {
	case NTBR_CTRL_MR_ADD:
		ntbr_rmr_handle_add(dev, payload, len);
		break;
	case NTBR_CTRL_MR_LIST:
		ntbr_mr_handle_list(dev, payload, len);
		break;
	case NTBR_CTRL_MR_READY:
		ntbr_rmr_handle_ready(dev, payload, len);
		break;
	case NTBR_CTRL_MR_READY_ACK:
		ntbr_mr_handle_ready_ack(dev, payload, len);
		break;
	case NTBR_CTRL_MR_DEL:
		ntbr_rmr_handle_del(dev, payload, len);
		break;
	case NTBR_CTRL_MR_DEL_ACK:
		ntbr_mr_handle_del_ack(dev, payload, len);
		break;
	case NTBR_CTRL_MR_RESYNC:
		if (!len)
			ntbr_mr_reannounce(dev);
		break;
	}
	ib_device_put(&dev->ibdev);
}

/* Log MR_DELs the peer did not answer in time; the pages stay pinned. */
static void ntbr_mr_late_work(struct work_struct *work)
{
	struct ntbr_ib_dev *dev = container_of(to_delayed_work(work),
					       struct ntbr_ib_dev,
					       mrd.late_work);
	struct ntbr_mr *mr;

	mutex_lock(&dev->mrd.mr_mutex);
	list_for_each_entry(mr, &dev->mrd.mr_dying, entry) {
		if (mr->late || time_before(jiffies, mr->del_deadline))
			continue;
		mr->late = true;
		ibdev_warn(&dev->ibdev,
			   "MR %#x: peer did not acknowledge its removal, pages stay pinned until it does or the link comes back\n",
			   mr->ibmr.rkey);
	}
	mutex_unlock(&dev->mrd.mr_mutex);
}

/*
 * Unpin the MRs waiting for an MR_DEL_ACK that the peer provably no
 * longer writes into (ntbr_mr_peer_holds() false); with leak, pin the
 * others for good.
 */
static void ntbr_mr_free_dying(struct ntbr_ib_dev *dev, bool leak)
{
	struct ntbr_mr *mr, *tmp;
	LIST_HEAD(list);

	mutex_lock(&dev->mrd.mr_mutex);
	list_for_each_entry_safe(mr, tmp, &dev->mrd.mr_dying, entry) {
		if (!ntbr_mr_peer_holds(dev, mr)) {
			ntbr_mr_dying_del(dev, mr);
			list_add_tail(&mr->entry, &list);
		} else if (leak) {
			ntbr_mr_dying_del(dev, mr);
			/* Its key goes; the MR and its pinned umem stay. */
			xa_erase(&dev->mrd.mr_xa, mr->ibmr.lkey >> 8);
			/* On purpose: kmemleak must not report it. */
			kmemleak_not_leak(mr);
			ibdev_err(&dev->ibdev,
				  "MR %#x: peer never acknowledged its removal: %u pages stay pinned for good\n",
				  mr->ibmr.rkey, mr->npages);
		}
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	list_for_each_entry_safe(mr, tmp, &list, entry) {
		list_del_init(&mr->entry);
		ntbr_mr_free(mr);
	}
}

void ntbr_mr_link_up(struct ntbr_ib_dev *dev)
{
	/*
	 * A new session: the peer went through its teardown, so nothing
	 * it announced or held of ours before is written any more.
	 */
	mutex_lock(&dev->mrd.mr_mutex);
	/* Up already: the session ntbr_mr_dev_registered() counted. */
	if (!dev->mrd.up) {
		dev->mrd.ups++;
		dev->mrd.up = true;
		dev->mrd.del_out = 0;	/* answers of that session are gone */
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	ntbr_mr_free_dying(dev, false);
	ntbr_mr_reannounce(dev);
}

void ntbr_mr_link_down(struct ntbr_ib_dev *dev)
{
	struct ntbr_mr *mr;

	/* The peer announces its MRs again at link up. */
	ntbr_rmr_drop_all(dev);
	mutex_lock(&dev->mrd.mr_mutex);
	dev->mrd.up = false;
	list_for_each_entry(mr, &dev->mrd.mr_remote, entry) {
		mr->ann = NTBR_MR_IDLE;
		complete_all(&mr->ann_done);
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	/*
	 * Dying MRs stay pinned: a one-sided link down does not stop a
	 * peer that is merely slow from finishing a copy into them.
	 */
}

static bool ntbr_mr_dying_empty(struct ntbr_ib_dev *dev)
{
	bool empty;

	mutex_lock(&dev->mrd.mr_mutex);
	empty = list_empty(&dev->mrd.mr_dying);
	mutex_unlock(&dev->mrd.mr_mutex);
	return empty;
}

/* debugfs mr_dying: deregistered MRs whose pages stay pinned for the peer. */
static int ntbr_mr_dying_show(struct seq_file *s, void *unused)
{
	struct ntbr_ib_dev *dev = s->private;
	struct ntbr_mr *mr;

	mutex_lock(&dev->mrd.mr_mutex);
	list_for_each_entry(mr, &dev->mrd.mr_dying, entry)
		seq_printf(s, "rkey=%#010x npages=%u late=%d\n", mr->ibmr.rkey,
			   mr->npages, mr->late);
	mutex_unlock(&dev->mrd.mr_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_mr_dying);

void ntbr_mr_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir)
{
	debugfs_create_file("mr_dying", 0400, dir, dev, &ntbr_mr_dying_fops);
}

void ntbr_mr_dev_init(struct ntbr_ib_dev *dev)
{
	struct ntbr_mr_dev *d = &dev->mrd;

	xa_init_flags(&d->mr_xa, XA_FLAGS_ALLOC1);
	atomic_set(&d->num_mr, 0);
	mutex_init(&d->mr_mutex);
	INIT_LIST_HEAD(&d->mr_remote);
	INIT_LIST_HEAD(&d->mr_dying);
	init_waitqueue_head(&d->dying_wq);
	INIT_WORK(&d->ann_work, ntbr_mr_ann_work);
	INIT_DELAYED_WORK(&d->late_work, ntbr_mr_late_work);
	xa_init_flags(&d->rmr_xa, XA_FLAGS_LOCK_IRQ);
	mutex_init(&d->xlate_mutex);
	strscpy(d->xlate_res, "none\n", sizeof(d->xlate_res));
}

/*
 * Registered: a link that is up already is a session for our MRs (the
 * next link_up is the next one); ask the peer for the MRs it announced
 * before we existed.
 */
void ntbr_mr_dev_registered(struct ntbr_ib_dev *dev)
{
	bool ready;

	mutex_lock(&dev->mrd.mr_mutex);
	ready = ntbr_link_ready(dev->nd);
	if (ready && !dev->mrd.up) {
		dev->mrd.ups++;
		dev->mrd.up = true;
		dev->mrd.del_out = 0;
	}
	mutex_unlock(&dev->mrd.mr_mutex);
	if (ready)
		ntbr_mr_send(dev, NTBR_CTRL_MR_RESYNC, NULL, 0);
}

/*
 * Unregistered (no verbs; of the control handlers only MR_DEL_ACK still
 * comes, ntbr_mr_del_ack_unreg): free what is left, once the peer answered
 * for what it may still write into.
 */
void ntbr_mr_dev_fini(struct ntbr_ib_dev *dev)
{
	cancel_work_sync(&dev->mrd.ann_work);
	cancel_delayed_work_sync(&dev->mrd.late_work);
	ntbr_rmr_drop_all(dev);
	ntbr_mr_free_dying(dev, false);
	if (ntbr_link_ready(dev->nd))
		wait_event_timeout(dev->mrd.dying_wq, ntbr_mr_dying_empty(dev),
				   NTBR_MR_TIMEOUT);
	mutex_lock(&dev->mrd.mr_mutex);
	dev->mrd.closed = true;
	mutex_unlock(&dev->mrd.mr_mutex);
	ntbr_mr_free_dying(dev, true);
	/* Entries freed by the drop above still use dev: wait for them. */
	flush_workqueue(ntbr_mr_wq);
	WARN_ON(!xa_empty(&dev->mrd.mr_xa));
	xa_destroy(&dev->mrd.mr_xa);
	xa_destroy(&dev->mrd.rmr_xa);
}

int ntbr_mr_init(void)
{
	u16 t;
	int err;

	ntbr_mr_wq = alloc_workqueue("ntbrdma_mr", WQ_UNBOUND, 0);
	if (!ntbr_mr_wq)
		return -ENOMEM;
	for (t = NTBR_CTRL_MR_ADD; t <= NTBR_CTRL_MR_RESYNC; t++) {
		err = ntbr_ctrl_register(t, ntbr_mr_ctrl);
		if (err) {
			while (t-- > NTBR_CTRL_MR_ADD)
				ntbr_ctrl_unregister(t);
			destroy_workqueue(ntbr_mr_wq);
			return err;
		}
	}
	return 0;
}

void ntbr_mr_exit(void)
{
	u16 t;

	for (t = NTBR_CTRL_MR_ADD; t <= NTBR_CTRL_MR_RESYNC; t++)
		ntbr_ctrl_unregister(t);
	destroy_workqueue(ntbr_mr_wq);
}
