// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: copies into the peer's memory by a dmaengine channel
 * instead of the CPU (Documentation/dma-engine.md, part 2).
 *
 * Selection, at probe: module parameter dma=auto|off|<channel name> (off
 * by default).  A
 * channel qualifies when it can DMA_MEMCPY and reaches what both ends of
 * our copies are given as: DMA addresses of the NTB's DMA device (the
 * pages of an MR are mapped for it, ntbrdma_ib_mr.c).  That is the NTB's
 * own engine (same struct device), or, when neither device sits behind
 * an IOMMU, any engine (both then use the same bus addresses).  The
 * peer's windows are dma_map_resource()d for the channel once, here.
 *
 * A batch (ntbr_dma_begin, ntbr_dma_to_peer..., ntbr_dma_end) runs in
 * one SRCU read section of nd->srcu that saw nd->ready, like every CPU
 * write into the window: teardown's synchronize_srcu() waits for the
 * engine to finish before the windows' layout changes or goes.  It holds
 * one copy (a SEND, a READ pushed back) or the copies of several WRITEs
 * (ntbrdma_ib_engine.c, "Pipelined WRITEs"), each with a mark that
 * records a descriptor the engine failed.  ntbr_dma_end() sleeps until
 * every descriptor completed; a batch the engine does not finish within
 * NTBR_DMA_TIMEOUT is terminated and the channel not used again (debugfs
 * "dma" says so).  A failed descriptor fails its copy (-EIO): the caller
 * reports an IB error, as for a CPU copy error; the channel stays in use.
 *
 * Every peer address is checked against the windows (as ntbr_peer_write)
 * before a descriptor is prepared: what the peer told us can only steer
 * the engine inside its windows, never elsewhere in our bus space.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/dmaengine.h>
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "ntbrdma_transport.h"

/*
 * Off by default: the provider cannot tell yet whether a WRITE's pages are
 * contiguous, and one from scattered pages is slower through the kernel
 * than through the provider's own copy (Documentation/dma-engine.md).
 */
static char *dma = "off";
module_param(dma, charp, 0444);
MODULE_PARM_DESC(dma,
		 "DMA engine for bulk copies into the peer: auto (a channel that reaches the NTB), off, or a channel name such as dma0chan0 (default: off)");

static unsigned int dma_threshold = 16384;
module_param(dma_threshold, uint, 0644);
MODULE_PARM_DESC(dma_threshold,
		 "Copies of at least this many bytes go to the DMA engine, smaller ones to the CPU (default: 16384; read by new user contexts)");

static unsigned int dma_min_piece = 8192;
module_param(dma_min_piece, uint, 0644);
MODULE_PARM_DESC(dma_min_piece,
		 "A copy goes to the DMA engine only if its physically contiguous pieces (one descriptor each) average at least this many bytes; 0: whatever their size (default: 8192)");

/* How long one batch may wait for the engine before it is given up. */
#define NTBR_DMA_TIMEOUT	(5 * HZ)

/* The channel reaches the DMA addresses of the NTB's DMA device. */
static bool ntbr_dma_filter(struct dma_chan *chan, void *arg)
{
	struct ntbr_dev *nd = arg;
	struct device *cdev = chan->device->dev;

	if (strcmp(dma, "auto") && strcmp(dma, dma_chan_name(chan)))
		return false;
	if (cdev == nd->dma_dev)
		return true;
	return !device_iommu_mapped(cdev) && !device_iommu_mapped(nd->dma_dev);
}

int ntbr_dma_init(struct ntbr_dev *nd)
{
	struct device *dev = &nd->ntb->dev;
	struct device *cdev;
	dma_cap_mask_t mask;
	int i;

	if (!strcmp(dma, "off"))
		return 0;
	dma_cap_zero(mask);
	dma_cap_set(DMA_MEMCPY, mask);
	nd->dma_chan = dma_request_channel(mask, ntbr_dma_filter, nd);
	if (!nd->dma_chan) {
		dev_info(dev, "no DMA engine (dma=%s): the CPU copies\n", dma);
		return 0;
	}
	cdev = nd->dma_chan->device->dev;
	for (i = 0; i < nd->peer_mw_count; i++) {
		nd->peer_mw_dma[i] = dma_map_resource(cdev, nd->peer_mw_phys[i],
						      nd->peer_mw_size[i],
						      DMA_FROM_DEVICE, 0);
		if (dma_mapping_error(cdev, nd->peer_mw_dma[i])) {
			dev_warn(dev, "DMA engine %s cannot reach the peer's window %d: the CPU copies\n",
				 dma_chan_name(nd->dma_chan), i);
			nd->peer_mw_dma_count = i;
			ntbr_dma_exit(nd);
			return 0;
		}
	}
	nd->peer_mw_dma_count = nd->peer_mw_count;
	dev_info(dev, "DMA engine %s for copies of %u bytes or more\n",
		 dma_chan_name(nd->dma_chan), READ_ONCE(dma_threshold));
	return 0;
}

void ntbr_dma_exit(struct ntbr_dev *nd)
{
	struct device *cdev;
	int i;

	if (!nd->dma_chan)
		return;
	cdev = nd->dma_chan->device->dev;
	for (i = 0; i < nd->peer_mw_dma_count; i++)
		dma_unmap_resource(cdev, nd->peer_mw_dma[i],
				   nd->peer_mw_size[i], DMA_FROM_DEVICE, 0);
	nd->peer_mw_dma_count = 0;
	dma_release_channel(nd->dma_chan);
	nd->dma_chan = NULL;
}

u32 ntbr_dma_min_len(struct ntbr_dev *nd)
{
	if (!nd->dma_chan || READ_ONCE(nd->dma_broken))
		return 0;
	return max(READ_ONCE(dma_threshold), 1U);
}

u32 ntbr_dma_min_piece(struct ntbr_dev *nd)
{
	return READ_ONCE(dma_min_piece);
}

bool ntbr_dma_wanted(struct ntbr_dev *nd, u64 len)
{
	u32 min = ntbr_dma_min_len(nd);

	return min && len >= min;
}

int ntbr_dma_begin(struct ntbr_dev *nd, struct ntbr_dma_batch *b)
{
	b->nd = nd;
	b->failed = false;
	b->own.b = b;
	b->own.failed = false;
	b->mark = &b->own;
	b->ndesc = 0;
	b->bytes = 0;
	/* One for the batch itself: dropped by ntbr_dma_end(). */
	atomic_set(&b->pending, 1);
	init_completion(&b->done);
	b->srcu_idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready)) {
		srcu_read_unlock(&nd->srcu, b->srcu_idx);
		return -ENOTCONN;
	}
	/* Held until ntbr_dma_end(): a hand-over sparse cannot follow. */
	__release(&nd->srcu);
	return 0;
}

/* Engine callback (tasklet or interrupt context): one descriptor done. */
static void ntbr_dma_cb(void *arg, const struct dmaengine_result *res)
{
	struct ntbr_dma_mark *m = arg;
	struct ntbr_dma_batch *b = m->b;

	if (!res || res->result != DMA_TRANS_NOERROR) {
		WRITE_ONCE(m->failed, true);
		WRITE_ONCE(b->failed, true);
	}
	if (atomic_dec_and_test(&b->pending))
		complete(&b->done);
}

/* One descriptor: len bytes from src to the window's DMA address dst. */
static int ntbr_dma_submit(struct ntbr_dma_batch *b, dma_addr_t dst,
			   dma_addr_t src, size_t len)
{
	struct ntbr_dev *nd = b->nd;
	struct dma_async_tx_descriptor *tx;

	tx = dmaengine_prep_dma_memcpy(nd->dma_chan, dst, src, len,
				       DMA_PREP_INTERRUPT);
	if (!tx) {
		/* Room, memory: let what we gave it run, then once more. */
		dma_async_issue_pending(nd->dma_chan);
		tx = dmaengine_prep_dma_memcpy(nd->dma_chan, dst, src, len,
					       DMA_PREP_INTERRUPT);
		if (!tx)
			return -EIO;
	}
	tx->callback_result = ntbr_dma_cb;
	tx->callback_param = b->mark;
	atomic_inc(&b->pending);
	if (dma_submit_error(dmaengine_submit(tx))) {
		atomic_dec(&b->pending);
		return -EIO;
	}
	b->ndesc++;
	b->bytes += len;
	return 0;
}

int ntbr_dma_to_peer(struct ntbr_dma_batch *b, dma_addr_t src, u64 peer_addr,
		     size_t len)
{
	struct ntbr_dev *nd = b->nd;
	const struct ntbr_out_win *w;
	size_t n;
	int err;

	/*
	 * A batch of pipelined WRITEs may stay open while the link goes
	 * down: no new copy then (teardown waits in synchronize_srcu()).
	 */
	if (!READ_ONCE(nd->ready))
		return -ENOTCONN;
	if (!ntbr_win_range_ok(nd, peer_addr, len))
		return -EINVAL;
	while (len) {
		w = ntbr_win_find(nd, peer_addr);
		if (WARN_ON_ONCE(!w || w->widx >= nd->peer_mw_dma_count))
			return -EINVAL;
		n = min_t(u64, len, w->base + w->size - peer_addr);
		err = ntbr_dma_submit(b, nd->peer_mw_dma[w->widx] +
					      (peer_addr - w->base),
				      src, n);
		if (err)
			return err;
		peer_addr += n;
		src += n;
		len -= n;
	}
	return 0;
}

void ntbr_dma_issue(struct ntbr_dma_batch *b)
{
	if (b->ndesc)
		dma_async_issue_pending(b->nd->dma_chan);
}

int ntbr_dma_end(struct ntbr_dma_batch *b)
{
	struct ntbr_dev *nd = b->nd;
	int ret = 0;

	ntbr_dma_issue(b);
	if (!atomic_dec_and_test(&b->pending) &&
	    !wait_for_completion_timeout(&b->done, NTBR_DMA_TIMEOUT)) {
		/*
		 * The engine does not answer: take back what it holds (no
		 * callback of ours runs after this) and use the CPU from now.
		 */
		dev_err(&nd->ntb->dev, "DMA engine %s: no completion in %d s, not used any more\n",
			dma_chan_name(nd->dma_chan), NTBR_DMA_TIMEOUT / HZ);
		WRITE_ONCE(nd->dma_broken, true);
		dmaengine_terminate_sync(nd->dma_chan);
		atomic64_inc(&nd->dma_stats.timeouts);
		ret = -ETIMEDOUT;
	} else if (READ_ONCE(b->failed)) {
		atomic64_inc(&nd->dma_stats.errors);
		ret = -EIO;
	}
	__acquire(&nd->srcu);	/* ntbr_dma_begin's */
	srcu_read_unlock(&nd->srcu, b->srcu_idx);
	atomic64_inc(&nd->dma_stats.batches);
	atomic64_add(b->ndesc, &nd->dma_stats.descs);
	if (!ret)
		atomic64_add(b->bytes, &nd->dma_stats.bytes);
	return ret;
}

static int ntbr_dma_show(struct seq_file *s, void *unused)
{
	struct ntbr_dev *nd = s->private;
	struct ntbr_dma_stats *st = &nd->dma_stats;

	seq_printf(s, "param: %s\nchannel: %s\nstate: %s\nthreshold: %u\nmin_piece: %u\n",
		   dma, nd->dma_chan ? dma_chan_name(nd->dma_chan) : "none",
		   !nd->dma_chan ? "off" :
		   READ_ONCE(nd->dma_broken) ? "broken" : "on",
		   READ_ONCE(dma_threshold), READ_ONCE(dma_min_piece));
	seq_printf(s, "batches: %lld\ndescriptors: %lld\nbytes: %lld\nerrors: %lld\ntimeouts: %lld\n",
		   atomic64_read(&st->batches), atomic64_read(&st->descs),
		   atomic64_read(&st->bytes), atomic64_read(&st->errors),
		   atomic64_read(&st->timeouts));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_dma);

void ntbr_dma_debugfs(struct ntbr_dev *nd, struct dentry *dir)
{
	debugfs_create_file("dma", 0400, dir, nd, &ntbr_dma_fops);
}
