// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: user mappings of peer MRs, for RDMA WRITEs and READs from user
 * space (kernel bypass; Documentation/rdma-datapath.md, "Kernel bypass"),
 * and of the peer QP's inbox MR for eager SENDs ("Stage B": made while
 * the QP is in RTR or RTS and the peer QP's current epoch names that MR
 * with an eager area; its revocation bumps the SQ's inbox_gen instead
 * of map_gen).
 *
 * A QP's provider asks (modify_qp with NTBRDMA_QP_OP_MAP_PEER_MR, or
 * _MAP_PEER_MR_READ for a read-only mapping) for the whole pages of one
 * peer MR; after the checks a responder makes for that operation, a
 * umap holds a reference on the remote-MR entry (so the peer's MR_DEL is
 * acknowledged only once the umap is gone) and an mmap entry through
 * which the provider maps those pages of our window, write-combining.
 *
 * Revocation (ntbr_umap_revoke): under dev->umap_lock the umap is marked
 * revoked and unlinked, and its QP's map_gen is bumped and published;
 * then every VMA of it is zapped under its mm's mmap_lock, and only then
 * the remote-MR reference is dropped and the mmap entry removed.  A store
 * after the zap faults into the context's sink page, never a window.
 *
 * Locks, outermost first: dev->umap_lock or a process's mmap_lock (never
 * both), then umap->lock.  VMAs join a umap's list in ntbr_umap_mmap and
 * open, and leave it in close, all under their mmap_lock held for
 * writing; the zapper holds it for reading, so a VMA on the list is alive.
 */
#include <linux/debugfs.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "ntbrdma_ib.h"
#include "ntbrdma_ib_mr.h"
#include "ntbrdma_ib_engine.h"
#include "ntbrdma_transport.h"

/* Peer-MR mappings one QP may hold at once. */
#define NTBR_UMAP_PER_QP 64

/*
 * A CPU mapping cannot be write-only: through it the process can read
 * what its rkey only lets it write.  Documentation/security-model.md.
 */
static bool map_write_only = true;
module_param(map_write_only, bool, 0644);
MODULE_PARM_DESC(map_write_only,
		 "Map peer MRs with REMOTE_WRITE but not REMOTE_READ into user space for RDMA WRITE, so the process can read them through the mapping; N: such MRs are written by the kernel (default: Y)");

/* One VMA mapping a umap. */
struct ntbr_umap_vma {
	struct list_head entry;		/* umap->vmas */
	struct vm_area_struct *vma;
	bool zapped;			/* its PTEs are gone (revoked) */
};

static bool ntbr_umap_rmr_linked(struct ntbr_ib_dev *dev, struct ntbr_rmr *rmr)
{
	unsigned long flags;
	bool linked;

	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	linked = xa_load(&dev->mrd.rmr_xa, rmr->rkey) == rmr;
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	return linked;
}

/*
 * The peer MR's own rights for a mapping: REMOTE_READ for a READ one; for
 * a WRITE one REMOTE_WRITE, and REMOTE_READ too unless map_write_only
 * (a CPU mapping cannot be write-only).
 */
static bool ntbr_umap_mr_allows(const struct ntbr_rmr *rmr, bool read)
{
	if (read)
		return rmr->access & IB_ACCESS_REMOTE_READ;
	return (rmr->access & IB_ACCESS_REMOTE_WRITE) &&
	       ((rmr->access & IB_ACCESS_REMOTE_READ) ||
		READ_ONCE(map_write_only));
}

/*
 * The conditions under which a mapping may exist (and be made): the QP
 * in RTS with the peer as destination, connected back by a peer QP that
 * allows REMOTE_WRITE (read: REMOTE_READ, which that QP announces only
 * with max_dest_rd_atomic > 0), the MR still in the table, of that QP's
 * PD.
 */
static bool ntbr_umap_allowed(struct ntbr_qp *qp, struct ntbr_rmr *rmr,
			      bool read)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	u32 want = read ? IB_ACCESS_REMOTE_READ : IB_ACCESS_REMOTE_WRITE;
	u32 pd_id, access;

	return READ_ONCE(qp->state) == IB_QPS_RTS &&
	       qp->dest == NTBR_QP_DEST_PEER &&
	       ntbr_link_ready(dev->nd) &&
	       ntbr_peer_conn(qp, &pd_id, &access) &&
	       (access & want) && pd_id == rmr->pd_id &&
	       ntbr_umap_rmr_linked(dev, rmr);
}

/*
 * The same for a mapping of the peer QP's inbox MR (eager messages): the
 * QP in RTR or RTS with the peer as destination, connected back by a
 * peer QP whose RECV_POST of epoch `epoch` (still its current one) named
 * this MR as its inbox with an eager area, the MR of that QP's PD.
 */
static bool ntbr_umap_inbox_allowed(struct ntbr_qp *qp, struct ntbr_rmr *rmr,
				    u32 epoch)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	enum ib_qp_state state = READ_ONCE(qp->state);
	struct ntbr_pinbox pi;
	u32 pd_id, now, access;

	return (state == IB_QPS_RTR || state == IB_QPS_RTS) &&
	       qp->dest == NTBR_QP_DEST_PEER && ntbr_link_ready(dev->nd) &&
	       ntbr_peer_inbox(qp, &pi, &now, &pd_id, &access) &&
	       now == epoch &&
	       pi.eager_order && pi.key == rmr->rkey && pd_id == rmr->pd_id &&
	       ntbr_umap_rmr_linked(dev, rmr);
}

static bool ntbr_umap_still(struct ntbr_umap *um)
{
	if (um->inbox)
		return ntbr_umap_inbox_allowed(um->qp, um->rmr, um->epoch);
	return ntbr_umap_allowed(um->qp, um->rmr, um->read);
}

/*
 * Zap every VMA of um (revoked: no VMA joins any more).  One mm at a
 * time: take it under um->lock, then its mmap_lock, then um->lock again.
 */
static void ntbr_umap_zap(struct ntbr_umap *um)
{
	struct ntbr_umap_vma *v;
	struct mm_struct *mm;

	for (;;) {
		mm = NULL;
		mutex_lock(&um->lock);
		list_for_each_entry(v, &um->vmas, entry) {
			if (v->zapped)
				continue;
			if (mmget_not_zero(v->vma->vm_mm)) {
				mm = v->vma->vm_mm;
				break;
			}
			/* Its process is exiting: nothing runs on it. */
			v->zapped = true;
		}
		mutex_unlock(&um->lock);
		if (!mm)
			return;
		mmap_read_lock(mm);
		mutex_lock(&um->lock);
		list_for_each_entry(v, &um->vmas, entry) {
			if (v->zapped || v->vma->vm_mm != mm)
				continue;
			/* Includes the TLB shootdown: later stores fault. */
			zap_vma_ptes(v->vma, v->vma->vm_start,
				     v->vma->vm_end - v->vma->vm_start);
			v->zapped = true;
		}
		mutex_unlock(&um->lock);
		mmap_read_unlock(mm);
		mmput(mm);
	}
}

/*
 * Revoke the umaps of qp (NULL: of every QP) that may no longer exist
 * (all: every one of them).  Sleeps (mmap_lock); the caller holds no
 * QP mutex and no engine lock.
 */
void ntbr_umap_revoke(struct ntbr_ib_dev *dev, struct ntbr_qp *qp, bool all)
{
	struct ntbr_umap *um, *next;
	LIST_HEAD(victims);

	mutex_lock(&dev->umap_lock);
	list_for_each_entry_safe(um, next, &dev->umaps, dev_entry) {
		if (qp && um->qp != qp)
			continue;
		if (!all && ntbr_umap_still(um))
			continue;
		mutex_lock(&um->lock);
		um->revoked = true;	/* no new VMA, faults get the sink */
		mutex_unlock(&um->lock);
		um->qp->umap_count--;
		if (um->inbox) {
			um->qp->inbox_gen++;
			/* Owner: kernel.  Before the zap (provider reloads). */
			smp_store_release(&um->qp->sq.ctrl->inbox_gen,
					  um->qp->inbox_gen);
		} else {
			um->qp->map_gen++;
			/* Owner: kernel.  Before the zap (provider reloads). */
			smp_store_release(&um->qp->sq.ctrl->map_gen,
					  um->qp->map_gen);
		}
		list_move(&um->dev_entry, &victims);
		atomic_inc(&dev->umap_revoked);
	}
	mutex_unlock(&dev->umap_lock);
	/* map_gen stores before any PTE goes (pairs with the provider). */
	smp_mb();
	list_for_each_entry_safe(um, next, &victims, dev_entry) {
		list_del(&um->dev_entry);
		ntbr_umap_zap(um);
		/* No store can reach the MR now: the peer may have it back. */
		ntbr_rmr_put(um->rmr);
		um->rmr = NULL;
		um->qp = NULL;
		atomic_dec(&dev->umap_live);
		/* Frees um with its last VMA (ntbr_mmap_free). */
		rdma_user_mmap_entry_remove(&um->me.rdma_entry);
	}
}

static void ntbr_umap_work(struct work_struct *work)
{
	struct ntbr_ib_dev *dev = container_of(work, struct ntbr_ib_dev,
					       umap_work);

	ntbr_umap_revoke(dev, NULL, false);
}

/*
 * Something a mapping depends on changed (the peer QP, the MR table): the
 * work rechecks every mapping.  Always queued: a mapping being made now
 * checks again under umap_lock, the work runs after it.
 */
void ntbr_umap_recheck(struct ntbr_ib_dev *dev)
{
	queue_work(system_unbound_wq, &dev->umap_work);
}

void ntbr_umap_dev_init(struct ntbr_ib_dev *dev)
{
	mutex_init(&dev->umap_lock);
	INIT_LIST_HEAD(&dev->umaps);
	INIT_WORK(&dev->umap_work, ntbr_umap_work);
}

/* Every QP is gone by now: nothing is mapped any more. */
void ntbr_umap_dev_fini(struct ntbr_ib_dev *dev)
{
	cancel_work_sync(&dev->umap_work);
	WARN_ON(!list_empty(&dev->umaps));
	mutex_destroy(&dev->umap_lock);
}

/*
 * The peer address of the MR page at va, page aligned and reachable
 * through a window: its physical address in *phys, and how many bytes
 * from there are contiguous both at the peer and in our window (a whole
 * number of pages, at most left).  Inside an SRCU section that saw ready.
 */
static int ntbr_umap_run(struct ntbr_ib_dev *dev, struct ntbr_rmr *rmr,
			 u64 va, u64 left, phys_addr_t *phys, u64 *run)
{
	u64 dma, n;
	phys_addr_t p;
	size_t contig;
	int err;

	err = ntbr_rmr_dma_addr(rmr, va, &dma, &contig);
	if (err)
		return err;
	if (!PAGE_ALIGNED(dma) || contig < PAGE_SIZE)
		return -EFAULT;
	err = ntbr_win_page_phys(dev->nd, dma, phys);
	if (err)
		return err;
	contig = min_t(u64, ALIGN_DOWN(contig, PAGE_SIZE), left);
	/* Contiguous at the peer; also in one window of ours? */
	for (n = PAGE_SIZE; n < contig; n += PAGE_SIZE) {
		if (ntbr_win_page_phys(dev->nd, dma + n, &p) ||
		    p != *phys + n)
			break;
	}
	*run = n;
	return 0;
}

/* Every page of [va, va + len) reachable (SRCU section that saw ready). */
static int ntbr_umap_check_pages(struct ntbr_ib_dev *dev,
				 struct ntbr_rmr *rmr, u64 va, u64 len)
{
	phys_addr_t phys;
	u64 run;
	int err;

	while (len) {
		err = ntbr_umap_run(dev, rmr, va, len, &phys, &run);
		if (err)
			return err;
		va += run;
		len -= run;
		cond_resched();
	}
	return 0;
}

/*
 * A umap of [start, end) of rmr (whose reference it takes over) for qp,
 * after the checks of its kind; its mmap entry goes into the answer.
 */
static int ntbr_umap_make(struct ntbr_qp *qp, struct ntbr_rmr *rmr,
			  struct ntbr_umap *proto, u64 start, u64 end,
			  struct ntbrdma_modify_qp_resp *resp,
			  struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbr_ucontext *uc = rdma_udata_to_drv_context(udata,
						struct ntbr_ucontext, ibuc);
	struct ntbr_umap *um;
	int err, idx;

	idx = srcu_read_lock(&dev->nd->srcu);
	err = READ_ONCE(dev->nd->ready) ?
		      ntbr_umap_check_pages(dev, rmr, start, end - start) :
		      -ENOTCONN;
	srcu_read_unlock(&dev->nd->srcu, idx);
	if (err)
		goto err_rmr;

	um = kzalloc(sizeof(*um), GFP_KERNEL);
	err = -ENOMEM;
	if (!um)
		goto err_rmr;
	mutex_init(&um->lock);
	INIT_LIST_HEAD(&um->vmas);
	um->me.umap = um;
	um->rmr = rmr;
	um->qp = qp;
	um->uc = uc;
	um->iova = start;
	um->len = end - start;
	um->read = proto->read;
	um->inbox = proto->inbox;
	um->epoch = proto->epoch;

	mutex_lock(&dev->umap_lock);
	err = -ENOSPC;
	if (qp->umap_count >= NTBR_UMAP_PER_QP)
		goto err_unlock;
	/* Again under umap_lock: a revocation of now does not miss it. */
	err = -EACCES;
	if (!ntbr_umap_still(um))
		goto err_unlock;
	err = rdma_user_mmap_entry_insert(&uc->ibuc, &um->me.rdma_entry,
					  um->len);
	if (err)
		goto err_unlock;
	qp->umap_count++;
	list_add_tail(&um->dev_entry, &dev->umaps);
	resp->mmap_offset = rdma_user_mmap_get_offset(&um->me.rdma_entry);
	resp->mmap_size = um->len;
	resp->iova = start;
	resp->map_gen = um->inbox ? qp->inbox_gen : qp->map_gen;
	atomic_inc(&dev->umap_live);
	atomic_inc(&dev->umap_made);
	if (um->read)
		atomic_inc(&dev->umap_made_read);
	if (um->inbox)
		atomic_inc(&dev->umap_made_inbox);
	mutex_unlock(&dev->umap_lock);

	err = ib_copy_to_udata(udata, resp, sizeof(*resp));
	if (err)	/* the QP's next revocation cleans it up */
		return err;
	return 0;

err_unlock:
	mutex_unlock(&dev->umap_lock);
	kfree(um);
err_rmr:
	ntbr_rmr_put(rmr);
	return err;
}

/* What every mapping needs of qp and of the command. */
static int ntbr_umap_may(struct ntbr_qp *qp, struct ib_udata *udata)
{
	lockdep_assert_held(&qp->mutex);
	if (!qp->user || !rdma_udata_to_drv_context(udata,
						    struct ntbr_ucontext, ibuc) ||
	    (qp->ibqp.qp_type != IB_QPT_RC && !ntbr_qp_uc(qp)))
		return -EOPNOTSUPP;
	if (udata->outlen < sizeof(struct ntbrdma_modify_qp_resp))
		return -EINVAL;
	return 0;
}

/*
 * NTBRDMA_QP_OP_MAP_PEER_MR (read: _MAP_PEER_MR_READ) for qp (its mutex
 * held): the checks, then a umap whose mmap entry the answer names.
 */
int ntbr_umap_create(struct ntbr_qp *qp, u32 rkey, bool read,
		     struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbrdma_modify_qp_resp resp = {};
	struct ntbr_umap proto = { .read = read };
	struct ntbr_rmr *rmr;
	u64 start, end;
	int err;

	err = ntbr_umap_may(qp, udata);
	if (err)
		return err;
	rmr = ntbr_rmr_get_key(dev, rkey);
	if (!rmr)
		return -ENOENT;
	err = -EACCES;
	if (!ntbr_umap_mr_allows(rmr, read) || !ntbr_umap_allowed(qp, rmr, read))
		goto err_rmr;
	/* Whole pages only: the rest of a partial page is not the MR's. */
	start = ALIGN(rmr->iova, PAGE_SIZE);
	end = ALIGN_DOWN(rmr->iova + rmr->length, PAGE_SIZE);
	err = -ERANGE;
	if (start < rmr->iova || end <= start)
		goto err_rmr;
	return ntbr_umap_make(qp, rmr, &proto, start, end, &resp, udata);
err_rmr:
	ntbr_rmr_put(rmr);
	return err;
}

/*
 * NTBRDMA_QP_OP_MAP_PEER_INBOX for qp (its mutex held): the peer QP's
 * whole inbox MR as its RECV_POST described it (slots, status page,
 * payload slots: NTBRDMA_INBOX_BYTES), page aligned and inside the MR.
 */
int ntbr_umap_create_inbox(struct ntbr_qp *qp, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(qp->ibqp.device);
	struct ntbrdma_modify_qp_resp resp = {};
	struct ntbr_umap proto = { .inbox = true };
	struct ntbr_rmr *rmr;
	struct ntbr_pinbox pi;
	u32 pd_id, access;
	u64 end;
	int err;

	err = ntbr_umap_may(qp, udata);
	if (err)
		return err;
	if (!ntbr_peer_inbox(qp, &pi, &proto.epoch, &pd_id, &access) ||
	    !pi.order || !pi.eager_order)
		return -ENOENT;
	rmr = ntbr_rmr_get_key(dev, pi.key);
	if (!rmr)
		return -ENOENT;
	end = pi.va + NTBRDMA_INBOX_BYTES(pi.order, pi.eager_order);
	err = -ERANGE;
	if (!PAGE_ALIGNED(pi.va) || !PAGE_ALIGNED(end) || pi.va < rmr->iova ||
	    end > rmr->iova + rmr->length || end <= pi.va)
		goto err_rmr;
	err = -EACCES;
	if (!(rmr->access & IB_ACCESS_LOCAL_WRITE) ||
	    !ntbr_umap_inbox_allowed(qp, rmr, proto.epoch))
		goto err_rmr;
	resp.reserved = pi.order | (u32)pi.eager_order << 8;
	return ntbr_umap_make(qp, rmr, &proto, pi.va, end, &resp, udata);
err_rmr:
	ntbr_rmr_put(rmr);
	return err;
}

/* --- the VMAs -------------------------------------------------------------- */

static void ntbr_umap_vm_open(struct vm_area_struct *vma)
{
	struct ntbr_umap *um = vma->vm_private_data;
	struct ntbr_umap_vma *v = kzalloc(sizeof(*v), GFP_KERNEL);

	/* A copy of a VMA (mremap): tracked like the original. */
	kref_get(&um->me.rdma_entry.ref);
	mutex_lock(&um->lock);
	if (v) {
		v->vma = vma;
		list_add(&v->entry, &um->vmas);
	} else {
		/* Untracked cannot be revoked: leave it mapping nothing. */
		zap_vma_ptes(vma, vma->vm_start, vma->vm_end - vma->vm_start);
	}
	mutex_unlock(&um->lock);
}

static void ntbr_umap_vm_close(struct vm_area_struct *vma)
{
	struct ntbr_umap *um = vma->vm_private_data;
	struct ntbr_umap_vma *v, *found = NULL;

	mutex_lock(&um->lock);
	list_for_each_entry(v, &um->vmas, entry) {
		if (v->vma == vma) {
			found = v;
			list_del(&v->entry);
			break;
		}
	}
	mutex_unlock(&um->lock);
	kfree(found);
	rdma_user_mmap_entry_put(&um->me.rdma_entry);
}

/* A split would need a second tracked VMA: unmap or remap it whole. */
static int ntbr_umap_vm_may_split(struct vm_area_struct *vma,
				  unsigned long addr)
{
	return -EINVAL;
}

/* Only after revocation: the process's stores go to its sink page. */
static vm_fault_t ntbr_umap_vm_fault(struct vm_fault *vmf)
{
	struct ntbr_umap *um = vmf->vma->vm_private_data;
	struct page *sink;
	bool revoked;

	mutex_lock(&um->lock);
	revoked = um->revoked;
	mutex_unlock(&um->lock);
	if (!revoked)
		return VM_FAULT_SIGBUS;
	sink = ntbr_uc_sink(um->uc);
	if (!sink)
		return VM_FAULT_OOM;
	return vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(sink));
}

static const struct vm_operations_struct ntbr_umap_vm_ops = {
	.open = ntbr_umap_vm_open,
	.close = ntbr_umap_vm_close,
	.may_split = ntbr_umap_vm_may_split,
	.fault = ntbr_umap_vm_fault,
};

/*
 * mmap of a umap's entry (ntbr_mmap, which took a reference on it: the
 * VMA keeps it until close).  The caller holds mmap_lock for writing.
 */
int ntbr_umap_mmap(struct ntbr_umap *um, struct vm_area_struct *vma)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(um->uc->ibuc.device);
	struct ntbr_umap_vma *v;
	phys_addr_t phys;
	u64 off, run;
	int err, idx;

	if (!(vma->vm_flags & VM_SHARED) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;
	/* For READs: the MR's rights allow nothing else, not even later. */
	if (um->read && (vma->vm_flags & VM_WRITE))
		return -EACCES;
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTCOPY | VM_DONTEXPAND |
			 VM_DONTDUMP;
	vma->vm_flags &= ~VM_MAYEXEC;
	if (um->read)
		vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);

	mutex_lock(&um->lock);
	if (um->revoked) {
		mutex_unlock(&um->lock);
		kfree(v);
		return -EACCES;
	}
	v->vma = vma;
	list_add(&v->entry, &um->vmas);
	vma->vm_private_data = um;
	vma->vm_ops = &ntbr_umap_vm_ops;
	mutex_unlock(&um->lock);

	/*
	 * Not revoked when it joined: um->rmr stays until a revocation has
	 * zapped this VMA, which needs our mmap_lock first.
	 */
	idx = srcu_read_lock(&dev->nd->srcu);
	err = READ_ONCE(dev->nd->ready) ? 0 : -ENOTCONN;
	for (off = 0; !err && off < um->len; off += run) {
		err = ntbr_umap_run(dev, um->rmr, um->iova + off,
				    um->len - off, &phys, &run);
		if (!err)
			err = io_remap_pfn_range(vma, vma->vm_start + off,
						 PHYS_PFN(phys), run,
						 vma->vm_page_prot);
	}
	srcu_read_unlock(&dev->nd->srcu, idx);
	if (err) {
		/* The VMA goes without close: untrack it here. */
		mutex_lock(&um->lock);
		list_del(&v->entry);
		mutex_unlock(&um->lock);
		kfree(v);
		vma->vm_ops = NULL;
		vma->vm_private_data = NULL;
		return err;
	}
	return 0;
}

/* --- debugfs (tests, benchmarks) ------------------------------------------ */

static int ntbr_umap_show(struct seq_file *s, void *unused)
{
	struct ntbr_ib_dev *dev = s->private;

	seq_printf(s, "live %d made %d revoked %d made_read %d read_done %d made_inbox %d notify %d\n",
		   atomic_read(&dev->umap_live), atomic_read(&dev->umap_made),
		   atomic_read(&dev->umap_revoked),
		   atomic_read(&dev->umap_made_read),
		   atomic_read(&dev->umap_read_done),
		   atomic_read(&dev->umap_made_inbox),
		   atomic_read(&dev->eager_notify));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_umap);

void ntbr_umap_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir)
{
	debugfs_create_file("umap", 0400, dir, dev, &ntbr_umap_fops);
}
