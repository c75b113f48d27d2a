// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the table of the peer's memory regions (rdma-datapath.md,
 * "Memory registration"), the side that receives MR_ADD / MR_READY /
 * MR_DEL, and the lookup the data path uses before it writes into the
 * peer's memory.
 *
 * Everything in a message and in the page list the peer wrote is
 * untrusted: sizes, counts, keys and addresses are checked here, the list
 * is copied out of the peer-writable buffer before it is checked and used,
 * so a READY entry never changes.  Entries live in dev->rmr_xa (lock
 * taken with interrupts off: lookups may come from any context); the
 * table holds one reference, every user one more; the last put frees the
 * entry from a work item (coherent memory and vmalloc'd lists cannot be
 * freed from every context), which first answers the peer's MR_DEL when
 * one unlinked the entry.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "ntbrdma_ib.h"

/*
 * Acknowledge an MR_DEL once the last user of the entry left (from
 * ntbr_rmr_free_work), to the link session that asked: a later session
 * has forgotten the MR (a new link-up proves we write no more into it).
 */
static void ntbr_rmr_ack_del(struct ntbr_rmr *rmr)
{
	struct ntbr_ib_dev *dev = rmr->dev;
	bool same;

	mutex_lock(&dev->mrd.mr_mutex);
	same = dev->mrd.up && dev->mrd.ups == rmr->del_ups;
	mutex_unlock(&dev->mrd.mr_mutex);
	if (same)
		ntbr_mr_send(dev, NTBR_CTRL_MR_DEL_ACK, &rmr->del_msg,
			     sizeof(rmr->del_msg));
}

static void ntbr_rmr_free_work(struct work_struct *work)
{
	struct ntbr_rmr *rmr = container_of(work, struct ntbr_rmr, free_work);

	/* The last reference went (refcount_dec_and_test orders del_ack). */
	if (rmr->del_ack)
		ntbr_rmr_ack_del(rmr);

	if (rmr->list_buf)
		dma_free_coherent(ntbr_dma_device(rmr->dev->nd),
				  (size_t)rmr->npages * sizeof(u64),
				  rmr->list_buf, rmr->list_dma);
	kvfree(rmr->list);
	kfree(rmr);
}

void ntbr_rmr_put(struct ntbr_rmr *rmr)
{
	/* ntbr_mr_exit() drains ntbr_mr_wq before the module goes. */
	if (refcount_dec_and_test(&rmr->ref))
		queue_work(ntbr_mr_wq, &rmr->free_work);
}

/* Unlink rmr from the table (xa lock held); the caller puts its ref. */
static void ntbr_rmr_unlink_locked(struct ntbr_ib_dev *dev,
				   struct ntbr_rmr *rmr)
{
	__xa_erase(&dev->mrd.rmr_xa, rmr->rkey);
	dev->mrd.rmr_pages -= rmr->npages;
	dev->mrd.rmr_count--;
}

int ntbr_rmr_lookup(struct ntbr_ib_dev *dev, u32 rkey, u64 va, u64 len,
		    int access, struct ntbr_rmr **rmrp)
{
	struct ntbr_rmr *rmr;
	unsigned long flags;
	int ret = 0;

	*rmrp = NULL;
	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	rmr = xa_load(&dev->mrd.rmr_xa, rkey);
	if (!rmr || rmr->state != NTBR_RMR_READY)
		ret = -ENOENT;
	else if (va < rmr->iova || len > rmr->length ||
		 va - rmr->iova > rmr->length - len)
		ret = -ERANGE;
	else if ((rmr->access & access) != access)
		ret = -EACCES;
	else
		/* In the table: the table's reference keeps it above 0. */
		refcount_inc(&rmr->ref);
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	if (!ret)
		*rmrp = rmr;
	return ret;
}

struct ntbr_rmr *ntbr_rmr_get(struct ntbr_ib_dev *dev, u32 rkey, u64 va,
			      u64 len, int access)
{
	struct ntbr_rmr *rmr;

	ntbr_rmr_lookup(dev, rkey, va, len, access, &rmr);
	return rmr;
}

struct ntbr_rmr *ntbr_rmr_get_key(struct ntbr_ib_dev *dev, u32 rkey)
{
	struct ntbr_rmr *rmr;
	unsigned long flags;

	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	rmr = xa_load(&dev->mrd.rmr_xa, rkey);
	if (rmr && rmr->state == NTBR_RMR_READY)
		refcount_inc(&rmr->ref);	/* the table's keeps it > 0 */
	else
		rmr = NULL;
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	return rmr;
}

int ntbr_rmr_dma_addr(struct ntbr_rmr *rmr, u64 va, u64 *dma, size_t *contig)
{
	u64 psize = 1ULL << rmr->page_shift;
	u64 off, in_page, avail, left;
	u32 idx, n;

	if (va < rmr->iova || va - rmr->iova >= rmr->length)
		return -ERANGE;
	off = va - rmr->iova + rmr->first_off;
	idx = off >> rmr->page_shift;
	in_page = off & (psize - 1);
	/* Checked against npages when the entry was added. */
	*dma = rmr->list[idx] + in_page;
	avail = psize - in_page;
	for (n = 1; idx + n < rmr->npages && n < 1024; n++) {
		if (rmr->list[idx + n] != rmr->list[idx + n - 1] + psize)
			break;
		avail += psize;
	}
	left = rmr->length - (va - rmr->iova);
	*contig = min(avail, left);
	return 0;
}

u64 ntbr_rmr_runs(struct ntbr_rmr *rmr, u64 va, u64 len)
{
	return ntbr_page_runs(rmr->list, rmr->page_shift,
			      va - rmr->iova + rmr->first_off, len);
}

static void ntbr_rmr_reply_list(struct ntbr_ib_dev *dev, u32 rkey, u32 seq,
				u64 dma, int status)
{
	struct ntbr_mr_msg_list m = {
		.rkey = cpu_to_le32(rkey),
		.seq = cpu_to_le32(seq),
		.list_dma = cpu_to_le64(dma),
		.status = cpu_to_le32(status),
	};

	ntbr_mr_send(dev, NTBR_CTRL_MR_LIST, &m, sizeof(m));
}

static void ntbr_rmr_reply_ack(struct ntbr_ib_dev *dev, u32 rkey, u32 seq,
			       int status)
{
	struct ntbr_mr_msg_ack m = {
		.rkey = cpu_to_le32(rkey),
		.seq = cpu_to_le32(seq),
		.status = cpu_to_le32(status),
	};

	ntbr_mr_send(dev, NTBR_CTRL_MR_READY_ACK, &m, sizeof(m));
}

/* The ADD message is consistent (sizes, key, counts, no overflow). */
static bool ntbr_rmr_add_ok(const struct ntbr_rmr *r)
{
	u64 span;

	if (!(r->rkey >> 8))			/* index 0 is never a key */
		return false;
	if (r->page_shift < 12 || r->page_shift > 30)
		return false;
	if (r->first_off >= (1U << r->page_shift))
		return false;
	if (!r->length || r->iova + r->length < r->iova)
		return false;
	if (r->access & ~(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
			  IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC))
		return false;
	if (!(r->access & (IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
			   IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC)))
		return false;
	if (!r->npages || r->npages > NTBR_RMR_MAX_PAGES)
		return false;
	/* The list covers first_off + length exactly. */
	span = ((u64)r->npages << r->page_shift);
	if (r->length > span - r->first_off ||
	    r->length + r->first_off <= span - (1ULL << r->page_shift))
		return false;
	return true;
}

void ntbr_rmr_handle_add(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_mr_msg_add *m = p;
	struct ntbr_rmr *rmr, *old;
	unsigned long flags;
	size_t bytes;
	int err;

	if (len != sizeof(*m)) {
		ibdev_warn_ratelimited(&dev->ibdev, "bad MR_ADD size %zu\n",
				       len);
		return;
	}
	rmr = kzalloc(sizeof(*rmr), GFP_KERNEL);
	if (!rmr) {
		ntbr_rmr_reply_list(dev, le32_to_cpu(m->rkey),
				    le32_to_cpu(m->seq), 0, -ENOMEM);
		return;
	}
	refcount_set(&rmr->ref, 1);
	rmr->dev = dev;
	INIT_WORK(&rmr->free_work, ntbr_rmr_free_work);
	rmr->rkey = le32_to_cpu(m->rkey);
	rmr->seq = le32_to_cpu(m->seq);
	rmr->iova = le64_to_cpu(m->iova);
	rmr->length = le64_to_cpu(m->length);
	rmr->access = le32_to_cpu(m->access);
	rmr->pd_id = le32_to_cpu(m->pd_id);
	rmr->npages = le32_to_cpu(m->npages);
	rmr->page_shift = le32_to_cpu(m->page_shift);
	rmr->first_off = le32_to_cpu(m->first_off);
	rmr->state = NTBR_RMR_ADDING;
	if (!ntbr_rmr_add_ok(rmr)) {
		ibdev_warn_ratelimited(&dev->ibdev,
				       "bad MR_ADD rkey %#x npages %u\n",
				       rmr->rkey, rmr->npages);
		err = -EINVAL;
		goto err_free;
	}

	/* A new announcement of a known key replaces the old entry. */
	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	old = xa_load(&dev->mrd.rmr_xa, rmr->rkey);
	if (old)
		ntbr_rmr_unlink_locked(dev, old);
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	if (old)
		ntbr_rmr_put(old);

	bytes = (size_t)rmr->npages * sizeof(u64);
	rmr->list_buf = dma_alloc_coherent(ntbr_dma_device(dev->nd), bytes,
					   &rmr->list_dma, GFP_KERNEL);
	if (!rmr->list_buf) {
		err = -ENOMEM;
		goto err_free;
	}
	/* The peer writes the list: only into what the window reaches. */
	if (!ntbr_dma_reachable(dev->nd, rmr->list_dma, bytes)) {
		ibdev_warn_ratelimited(&dev->ibdev,
				       "page list of the peer's MR %#x at DMA %pad is outside the inbound windows' coverage (%#llx bytes): refused; enable the IOMMU in translation mode for the NTB device, or use NTB windows covering all RAM\n",
				       rmr->rkey, &rmr->list_dma,
				       ntbr_inbound_coverage(dev->nd));
		err = -ERANGE;
		goto err_free;
	}

	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	/* Bounded memory whatever the peer announces. */
	if (dev->mrd.rmr_pages + rmr->npages > NTBR_RMR_MAX_TOTAL ||
	    dev->mrd.rmr_count >= NTBR_MAX_MR ||
	    xa_load(&dev->mrd.rmr_xa, rmr->rkey)) {
		err = -ENOSPC;
	} else {
		err = xa_err(__xa_store(&dev->mrd.rmr_xa, rmr->rkey, rmr,
					GFP_ATOMIC));
		if (!err) {
			dev->mrd.rmr_pages += rmr->npages;
			dev->mrd.rmr_count++;
		}
	}
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	if (err)
		goto err_free;
	ntbr_rmr_reply_list(dev, rmr->rkey, rmr->seq, rmr->list_dma, 0);
	return;

err_free:
	ntbr_rmr_reply_list(dev, rmr->rkey, rmr->seq, 0, err);
	ntbr_rmr_free_work(&rmr->free_work);
}

void ntbr_rmr_handle_ready(struct ntbr_ib_dev *dev, const void *p,
			   size_t len)
{
	const struct ntbr_mr_msg_key *m = p;
	struct ntbr_rmr *rmr;
	unsigned long flags;
	u32 rkey, seq, i;
	u64 *list;
	int err = 0;

	if (len != sizeof(*m)) {
		ibdev_warn_ratelimited(&dev->ibdev, "bad MR_READY size %zu\n",
				       len);
		return;
	}
	rkey = le32_to_cpu(m->rkey);
	seq = le32_to_cpu(m->seq);

	/* Our reference keeps rmr and its list_buf while we copy. */
	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	rmr = xa_load(&dev->mrd.rmr_xa, rkey);
	if (rmr && (rmr->state != NTBR_RMR_ADDING || rmr->seq != seq))
		rmr = NULL;
	if (rmr)
		refcount_inc(&rmr->ref);
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	if (!rmr) {
		ntbr_rmr_reply_ack(dev, rkey, seq, -ENOENT);
		return;
	}

	list = kvmalloc_array(rmr->npages, sizeof(u64), GFP_KERNEL);
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	/* Copy first: the peer can still write list_buf. */
	for (i = 0; i < rmr->npages; i++) {
		list[i] = le64_to_cpu(READ_ONCE(rmr->list_buf[i]));
		if (list[i] & ((1ULL << rmr->page_shift) - 1)) {
			err = -EINVAL;
			break;
		}
	}
	if (err) {
		kvfree(list);
		ibdev_warn_ratelimited(&dev->ibdev,
				       "MR rkey %#x: bad page list\n", rkey);
		goto out;
	}

	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	if (xa_load(&dev->mrd.rmr_xa, rkey) == rmr) {
		rmr->list = list;
		list = NULL;
		/* Lookups read state and list under the same lock. */
		rmr->state = NTBR_RMR_READY;
	} else {
		err = -ENOENT;
	}
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	kvfree(list);

out:
	if (err) {
		xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
		if (xa_load(&dev->mrd.rmr_xa, rkey) == rmr) {
			ntbr_rmr_unlink_locked(dev, rmr);
			refcount_dec(&rmr->ref); /* the table's; ours stays */
		}
		xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	}
	ntbr_rmr_reply_ack(dev, rkey, seq, err);
	ntbr_rmr_put(rmr);
}

void ntbr_rmr_handle_del(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_mr_msg_key *m = p;
	struct ntbr_rmr *rmr;
	unsigned long flags;
	u32 ups;

	if (len != sizeof(*m)) {
		ibdev_warn_ratelimited(&dev->ibdev, "bad MR_DEL size %zu\n",
				       len);
		return;
	}
	mutex_lock(&dev->mrd.mr_mutex);
	ups = dev->mrd.ups;
	mutex_unlock(&dev->mrd.mr_mutex);

	/* Any announcement of the key: the MR is gone. */
	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	rmr = xa_load(&dev->mrd.rmr_xa, le32_to_cpu(m->rkey));
	if (rmr) {
		ntbr_rmr_unlink_locked(dev, rmr);
		/*
		 * No new user.  The answer goes when the last copy in flight
		 * (each holds a reference) dropped its reference: only then
		 * may the peer unpin the pages.  Never waited for here: the
		 * control work does not wait for anything but its handlers.
		 */
		rmr->del_msg = *m;
		rmr->del_ups = ups;
		rmr->del_ack = true;
	}
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	if (rmr) {
		ntbr_rmr_put(rmr);	/* the table's reference */
		/* User mappings of it go; their references with them. */
		ntbr_umap_recheck(dev);
	} else {
		ntbr_mr_send(dev, NTBR_CTRL_MR_DEL_ACK, m, sizeof(*m));
	}
}

/* Link down or device gone: the peer announces again at link up. */
void ntbr_rmr_drop_all(struct ntbr_ib_dev *dev)
{
	struct ntbr_rmr *rmr;
	unsigned long flags, idx;

	for (;;) {
		idx = 0;
		xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
		rmr = xa_find(&dev->mrd.rmr_xa, &idx, ULONG_MAX, XA_PRESENT);
		if (rmr)
			ntbr_rmr_unlink_locked(dev, rmr);
		xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
		if (!rmr)
			break;
		ntbr_rmr_put(rmr);
	}
}

/* --- debugfs (tests) ------------------------------------------------------ */

static int ntbr_rmr_show(struct seq_file *s, void *unused)
{
	struct ntbr_ib_dev *dev = s->private;
	struct ntbr_rmr *rmr;
	unsigned long flags, idx;

	/* seq_printf into the preallocated buffer does not sleep. */
	xa_lock_irqsave(&dev->mrd.rmr_xa, flags);
	xa_for_each(&dev->mrd.rmr_xa, idx, rmr)
		seq_printf(s, "rkey=%#010x iova=%#llx len=%llu access=%#x state=%s npages=%u first_dma=%#llx pd=%u\n",
			   rmr->rkey, rmr->iova, rmr->length, rmr->access,
			   rmr->state == NTBR_RMR_READY ? "READY" : "ADDING",
			   rmr->npages,
			   rmr->state == NTBR_RMR_READY ? rmr->list[0] : 0ULL,
			   rmr->pd_id);
	xa_unlock_irqrestore(&dev->mrd.rmr_xa, flags);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_rmr);

/* "RKEY VA LEN ACCESS" -> "ok dma=0x.. contig=.." or the errno's name. */
static ssize_t ntbr_xlate_write(struct file *file, const char __user *ubuf,
				size_t count, loff_t *ppos)
{
	struct ntbr_ib_dev *dev = file->private_data;
	struct ntbr_rmr *rmr;
	unsigned int rkey, access;
	unsigned long long va, len;
	size_t contig;
	char buf[96];
	u64 dma;
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%i %lli %lli %i", &rkey, &va, &len, &access) != 4)
		return -EINVAL;

	mutex_lock(&dev->mrd.xlate_mutex);
	ret = ntbr_rmr_lookup(dev, rkey, va, len, access, &rmr);
	if (!ret) {
		ret = ntbr_rmr_dma_addr(rmr, va, &dma, &contig);
		ntbr_rmr_put(rmr);
	}
	if (!ret)
		snprintf(dev->mrd.xlate_res, sizeof(dev->mrd.xlate_res),
			 "ok dma=%#llx contig=%zu\n", dma, contig);
	else
		snprintf(dev->mrd.xlate_res, sizeof(dev->mrd.xlate_res),
			 "%s\n", ret == -ENOENT ? "ENOENT" :
			 ret == -ERANGE ? "ERANGE" : "EACCES");
	mutex_unlock(&dev->mrd.xlate_mutex);
	return count;
}

static ssize_t ntbr_xlate_read(struct file *file, char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct ntbr_ib_dev *dev = file->private_data;
	char buf[64];

	mutex_lock(&dev->mrd.xlate_mutex);
	strscpy(buf, dev->mrd.xlate_res, sizeof(buf));
	mutex_unlock(&dev->mrd.xlate_mutex);
	return simple_read_from_buffer(ubuf, count, ppos, buf, strlen(buf));
}

static const struct file_operations ntbr_xlate_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = ntbr_xlate_read,
	.write = ntbr_xlate_write,
	.llseek = default_llseek,
};

void ntbr_rmr_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir)
{
	debugfs_create_file("rmr", 0400, dir, dev, &ntbr_rmr_fops);
	debugfs_create_file("rmr_xlate", 0600, dir, dev, &ntbr_xlate_fops);
}
