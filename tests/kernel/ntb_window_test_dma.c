// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - transfers through the window by a DMA engine (any
 * DMA_MEMCPY channel; in the testbed the emulated one of ntb_hw_ivshmem,
 * Documentation/dma-engine.md):
 *   dma_write "PEER_ADDR OFF LEN SEED": the pattern of peer_write, copied
 *     by the engine from a buffer of ours into the peer's buffer through
 *     window 0 (dma_map_resource of the window), waited for; EIO when the
 *     engine reports the copy failed, ENODEV without a channel;
 *   dma_fault "DMA_ADDR": 8 bytes of our buffer copied by the engine to
 *     DMA_ADDR (the test gives one that is no memory at all); EIO when the
 *     engine reports the failure, as it must, 0 if it claims success;
 *   dma_bench "PEER_ADDR TOTAL CHUNK": TOTAL bytes into the peer's buffer
 *     through the window as CHUNK-byte copies, all submitted at once
 *     (wrapping inside the buffer), timed from the first submit to the
 *     last callback; then WT_DMA_LAT_ITERS 8-byte copies one after the
 *     other, each timed from submit to its callback (the engine's
 *     completion latency).  Read: "dma_MBps=X chunk=C bytes=N ns=T
 *     lat8_ns_median=L lat8_ns_min=M" or "idle".
 * The channel is requested for each command and released after it.
 */

#include <linux/completion.h>
#include <linux/dma-mapping.h>
#include <linux/dmaengine.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "ntb_window_test.h"

#define WT_DMA_CHUNK	SZ_1M
#define WT_DMA_TIMEOUT	(10 * HZ)
#define WT_DMA_LAT_ITERS	200
#define WT_DMA_BENCH_MAX	SZ_1G	/* bytes in one dma_bench */

struct wt_dma_wait {
	struct completion done;
	atomic_t left;		/* chunks not called back yet */
	atomic_t failed;	/* chunks the engine failed */
};

static void wt_dma_done(void *arg, const struct dmaengine_result *res)
{
	struct wt_dma_wait *w = arg;

	if (res && res->result != DMA_TRANS_NOERROR)
		atomic_inc(&w->failed);
	if (atomic_dec_and_test(&w->left))
		complete(&w->done);
}

/*
 * total bytes as chunk-byte copies into [dst, dst + span) (wrapping to dst
 * when a chunk would cross its end), from src + the same offset, or from
 * src itself each time with src_fixed; all submitted, each with the
 * callback, then waited for (up to timeout jiffies).  Both addresses are
 * DMA addresses of the channel's device.  0, -EIO (the engine failed a
 * chunk, or one was refused at submit), -ETIMEDOUT or -ENOMEM (a chunk
 * could not be prepared; those before it still ran).
 */
static int wt_dma_run(struct dma_chan *chan, dma_addr_t dst, u64 span,
		      dma_addr_t src, bool src_fixed, u64 total, u64 chunk,
		      unsigned long timeout)
{
	struct dma_async_tx_descriptor *tx;
	struct wt_dma_wait w;
	u64 done = 0, off = 0, n;

	init_completion(&w.done);
	atomic_set(&w.failed, 0);
	/* One more than the chunks: the last reference is dropped below. */
	atomic_set(&w.left, 1);
	while (done < total) {
		n = min(chunk, total - done);
		if (off + n > span)
			off = 0;
		tx = dmaengine_prep_dma_memcpy(chan, dst + off,
					       src + (src_fixed ? 0 : off), n,
					       DMA_PREP_INTERRUPT);
		if (!tx)
			break;
		tx->callback_result = wt_dma_done;
		tx->callback_param = &w;
		atomic_inc(&w.left);
		if (dma_submit_error(dmaengine_submit(tx))) {
			atomic_dec(&w.left);
			atomic_inc(&w.failed);
			break;
		}
		off += n;
		done += n;
	}
	dma_async_issue_pending(chan);
	if (!atomic_dec_and_test(&w.left) &&
	    !wait_for_completion_timeout(&w.done, timeout)) {
		/* No callback may run on w after we return. */
		dmaengine_terminate_sync(chan);
		return -ETIMEDOUT;
	}
	if (atomic_read(&w.failed))
		return -EIO;
	return done < total ? -ENOMEM : 0;
}

/* len bytes from src to dst, in WT_DMA_CHUNK pieces. */
static int wt_dma_copy(struct dma_chan *chan, dma_addr_t dst, dma_addr_t src,
		       size_t len)
{
	return wt_dma_run(chan, dst, len, src, false, len, WT_DMA_CHUNK,
			  WT_DMA_TIMEOUT);
}

static struct dma_chan *wt_dma_chan(void)
{
	dma_cap_mask_t mask;

	dma_cap_zero(mask);
	dma_cap_set(DMA_MEMCPY, mask);
	return dma_request_chan_by_mask(&mask);
}

/* ---- dma_write ---- */

static ssize_t wt_dma_write_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	u64 peer, off, len, seed;
	dma_addr_t src, dst;
	struct dma_chan *chan;
	struct device *dev;
	u8 *bounce;
	int ret;

	ret = wt_get_xfer(wt, ubuf, count, &peer, &off, &len, &seed);
	if (ret)
		return ret;
	if (!len)
		return count;

	chan = wt_dma_chan();
	if (IS_ERR(chan))
		return -ENODEV;
	dev = dmaengine_get_dma_device(chan);
	ret = -ENOMEM;
	bounce = kmalloc(len, GFP_KERNEL);
	if (!bounce)
		goto out_chan;
	wt_pattern_fill(bounce, seed, off, len);
	src = dma_map_single(dev, bounce, len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, src))
		goto out_free;
	/* In bounds: peer + off + len <= peer + buf_size <= mw_size. */
	dst = dma_map_resource(dev, wt->mw_base + peer + off, len,
			       DMA_FROM_DEVICE, 0);
	if (dma_mapping_error(dev, dst))
		goto out_src;

	if (mutex_lock_interruptible(&wt->lock)) {
		ret = -EINTR;
	} else {
		ret = wt_dma_copy(chan, dst, src, len);
		mutex_unlock(&wt->lock);
	}

	dma_unmap_resource(dev, dst, len, DMA_FROM_DEVICE, 0);
out_src:
	dma_unmap_single(dev, src, len, DMA_TO_DEVICE);
out_free:
	kfree(bounce);
out_chan:
	dma_release_channel(chan);
	return ret ? ret : count;
}

const struct file_operations wt_dma_write_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_dma_write_write,
	.llseek = noop_llseek,
};

/* ---- dma_fault ---- */

static ssize_t wt_dma_fault_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	struct dma_chan *chan;
	struct device *dev;
	dma_addr_t src;
	u64 target;
	int ret;

	ret = wt_get_u64s(ubuf, count, &target, 1, 1);
	if (ret < 0)
		return ret;
	if (!wt->buf)
		return -ENODEV;
	chan = wt_dma_chan();
	if (IS_ERR(chan))
		return -ENODEV;
	dev = dmaengine_get_dma_device(chan);
	src = dma_map_single(dev, wt->buf, 8, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, src)) {
		ret = -ENOMEM;
	} else {
		ret = wt_dma_copy(chan, target, src, 8);
		dma_unmap_single(dev, src, 8, DMA_TO_DEVICE);
	}
	dma_release_channel(chan);
	return ret ? ret : count;
}

const struct file_operations wt_dma_fault_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_dma_fault_write,
	.llseek = noop_llseek,
};

/* ---- dma_bench ---- */

static int wt_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int wt_do_dma_bench(struct wt_ctx *wt, struct dma_chan *chan,
			   u64 peer, u64 total, u64 chunk)
{
	struct device *dev = dmaengine_get_dma_device(chan);
	u64 ns, *lat;
	dma_addr_t src, dst;
	void *buf;
	int ret = -ENOMEM, i;

	lat = kcalloc(WT_DMA_LAT_ITERS, sizeof(*lat), GFP_KERNEL);
	buf = kmalloc(chunk, GFP_KERNEL);
	if (!lat || !buf)
		goto out;
	wt_pattern_fill(buf, 0x5eed, 0, chunk);
	src = dma_map_single(dev, buf, chunk, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, src))
		goto out;
	dst = dma_map_resource(dev, wt->mw_base + peer, wt->buf_size,
			       DMA_FROM_DEVICE, 0);
	if (dma_mapping_error(dev, dst))
		goto out_src;

	ns = ktime_get_ns();
	ret = wt_dma_run(chan, dst, wt->buf_size, src, true, total, chunk,
			 30 * HZ);
	ns = ktime_get_ns() - ns;
	for (i = 0; !ret && i < WT_DMA_LAT_ITERS; i++) {
		u64 t0 = ktime_get_ns();

		ret = wt_dma_copy(chan, dst, src, 8);
		lat[i] = ktime_get_ns() - t0;
	}
	if (!ret) {
		sort(lat, WT_DMA_LAT_ITERS, sizeof(*lat), wt_cmp_u64, NULL);
		wt_status_set(&wt->dma_bench,
			      "dma_MBps=%llu chunk=%llu bytes=%llu ns=%llu lat8_ns_median=%llu lat8_ns_min=%llu",
			      ns ? div64_u64(total * 1000, ns) : 0, chunk,
			      total, ns, lat[WT_DMA_LAT_ITERS / 2], lat[0]);
	}
	dma_unmap_resource(dev, dst, wt->buf_size, DMA_FROM_DEVICE, 0);
out_src:
	dma_unmap_single(dev, src, chunk, DMA_TO_DEVICE);
out:
	kfree(buf);
	kfree(lat);
	return ret;
}

/* "PEER_ADDR TOTAL CHUNK"; the file's data is wt->dma_bench. */
static ssize_t wt_dma_bench_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct wt_status *st = file_inode(file)->i_private;
	struct wt_ctx *wt = container_of(st, struct wt_ctx, dma_bench);
	struct dma_chan *chan;
	u64 v[3];
	int ret;

	ret = wt_get_u64s(ubuf, count, v, 3, 3);
	if (ret < 0)
		return ret;
	ret = wt_check_peer(wt, v[0]);
	if (ret)
		return ret;
	if (!v[1] || v[1] > WT_DMA_BENCH_MAX || !v[2] ||
	    v[2] > wt->buf_size || v[2] > SZ_4M)
		return -EINVAL;
	chan = wt_dma_chan();
	if (IS_ERR(chan))
		return -ENODEV;
	if (mutex_lock_interruptible(&wt->lock)) {
		ret = -EINTR;
	} else {
		wt_status_clear(&wt->dma_bench);
		ret = wt_do_dma_bench(wt, chan, v[0], v[1], v[2]);
		mutex_unlock(&wt->lock);
	}
	dma_release_channel(chan);
	return ret ? ret : count;
}

const struct file_operations wt_dma_bench_fops = {
	.owner = THIS_MODULE,
	.open = wt_status_open,
	.read = seq_read,
	.write = wt_dma_bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};
