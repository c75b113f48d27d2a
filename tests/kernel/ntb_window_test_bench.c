// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - bench_memcpy: memcpy bandwidth through the window, next
 * to a local memcpy of the same bytes.
 */

#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ntb_window_test.h"

#define WT_BENCH_CHUNK		SZ_64K	/* default bench_memcpy chunk */
#define WT_BENCH_MIN_NS		NSEC_PER_SEC
#define WT_BENCH_MAX_NS		(30ULL * NSEC_PER_SEC)

static u64 wt_mbps(u64 bytes, u64 ns)
{
	/* bytes / ns * 1000 = MB/s (10^6 bytes); bytes < 2^54 here. */
	return ns ? div64_u64(bytes * 1000, ns) : 0;
}

/*
 * Copies chunk-sized blocks into the peer buffer through the WC window,
 * wrapping inside [peer, peer + buf_size), until total bytes are copied
 * (total 0: for WT_BENCH_MIN_NS), never longer than WT_BENCH_MAX_NS; then the
 * same number of bytes with a plain memcpy into a local buffer.  Called with
 * wt->lock held.
 */
static int wt_do_bench(struct wt_ctx *wt, u64 peer, u64 total, u64 chunk)
{
	u64 bytes = 0, off = 0, ns = 0, t0, local_ns, left;
	u8 *src, *dst;
	int ret = 0;

	src = kvmalloc(chunk, GFP_KERNEL);
	dst = kvmalloc(wt->buf_size, GFP_KERNEL);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out;
	}
	wt_pattern_fill(src, 0x5eed, 0, chunk);
	memset(dst, 0, wt->buf_size);

	t0 = ktime_get_ns();
	for (;;) {
		u64 n = chunk;

		if (total) {
			if (bytes >= total)
				break;
			n = min(chunk, total - bytes);
		}
		if (off + n > wt->buf_size)
			off = 0;
		/* In bounds: off + n <= buf_size, peer + buf_size <= mw_size. */
		memcpy_toio(wt->mw + peer + off, src, n);
		off += n;
		bytes += n;
		ns = ktime_get_ns() - t0;
		if ((!total && ns >= WT_BENCH_MIN_NS) || ns >= WT_BENCH_MAX_NS)
			break;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		cond_resched();
	}
	/* Drain the WC buffers: the copy is not done before that. */
	wmb();
	ns = ktime_get_ns() - t0;

	off = 0;
	t0 = ktime_get_ns();
	for (left = bytes; left; ) {
		u64 n = min(chunk, left);

		if (off + n > wt->buf_size)
			off = 0;
		memcpy(dst + off, src, n);
		off += n;
		left -= n;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		cond_resched();
	}
	local_ns = ktime_get_ns() - t0;

	wt_status_set(&wt->bench,
		      "memcpy_window_MBps=%llu local_memcpy_MBps=%llu chunk=%llu bytes=%llu ns=%llu local_ns=%llu",
		      wt_mbps(bytes, ns), wt_mbps(bytes, local_ns), chunk,
		      bytes, ns, local_ns);
out:
	kvfree(dst);
	kvfree(src);
	return ret;
}

/* "PEER_ADDR [LEN_TOTAL [CHUNK]]"; the file's data is wt->bench. */
static ssize_t wt_bench_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct wt_status *st = file_inode(file)->i_private;
	struct wt_ctx *wt = container_of(st, struct wt_ctx, bench);
	u64 v[3] = { 0, 0, WT_BENCH_CHUNK };
	int ret;

	ret = wt_get_u64s(ubuf, count, v, 1, 3);
	if (ret < 0)
		return ret;
	ret = wt_check_peer(wt, v[0]);
	if (ret)
		return ret;
	if (!v[2] || v[2] > wt->buf_size)
		return -EINVAL;

	if (mutex_lock_interruptible(&wt->lock))
		return -EINTR;
	wt_status_clear(&wt->bench);
	ret = wt_do_bench(wt, v[0], v[1], v[2]);
	mutex_unlock(&wt->lock);
	return ret ? ret : count;
}

const struct file_operations wt_bench_fops = {
	.owner = THIS_MODULE,
	.open = wt_status_open,
	.read = seq_read,
	.write = wt_bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};
