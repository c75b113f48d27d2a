// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - transfers through the window and their check: the
 * pattern, buf_fill (our buffer), peer_write (the peer's buffer, through
 * the window) and check (our buffer against pattern and guard).
 */

#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ntb_window_test.h"

/*
 * Pattern byte at buffer offset O for seed S: byte (O % 8) of a 64-bit hash
 * (splitmix64 finaliser) of S and O / 8.  Deterministic in (S, O) only.
 */
static u64 wt_hash(u64 seed, u64 word)
{
	u64 x = seed ^ (word * 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* dst[i] = pattern byte at buffer offset off + i, for i < len. */
void wt_pattern_fill(u8 *dst, u64 seed, u64 off, size_t len)
{
	u64 word = U64_MAX, h = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		u64 o = off + i;

		if (o >> 3 != word) {
			word = o >> 3;
			h = wt_hash(seed, word);
		}
		dst[i] = h >> ((o & 7) * 8);
	}
}

static u8 wt_pattern_byte(u64 seed, u64 off)
{
	return wt_hash(seed, off >> 3) >> ((off & 7) * 8);
}

/* ---- buf_fill ---- */

/* "GUARD" */
static ssize_t wt_buf_fill_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	u64 guard;
	int ret;

	ret = wt_get_u64s(ubuf, count, &guard, 1, 1);
	if (ret < 0)
		return ret;
	if (guard > U8_MAX)
		return -EINVAL;
	if (!wt->buf)
		return -ENODEV;

	if (mutex_lock_interruptible(&wt->lock))
		return -EINTR;
	memset(wt->buf, guard, wt->buf_size);
	mutex_unlock(&wt->lock);
	return count;
}

const struct file_operations wt_buf_fill_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_buf_fill_write,
	.llseek = noop_llseek,
};

/* ---- peer_write ---- */

int wt_get_xfer(struct wt_ctx *wt, const char __user *ubuf, size_t count,
		u64 *peer, u64 *off, u64 *len, u64 *seed)
{
	u64 v[4];
	int ret;

	ret = wt_get_u64s(ubuf, count, v, 4, 4);
	if (ret < 0)
		return ret;
	ret = wt_check_peer(wt, v[0]);
	if (ret)
		return ret;
	if (v[1] > wt->buf_size || v[2] > wt->buf_size - v[1])
		return -EINVAL;
	*peer = v[0];
	*off = v[1];
	*len = v[2];
	*seed = v[3];
	return 0;
}

/* "PEER_ADDR OFF LEN SEED" */
static ssize_t wt_peer_write_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	u64 peer, off, len, seed, done;
	u8 *bounce;
	int ret;

	ret = wt_get_xfer(wt, ubuf, count, &peer, &off, &len, &seed);
	if (ret)
		return ret;
	if (!len)
		return count;

	bounce = kmalloc(min_t(u64, len, WT_COPY_CHUNK), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	if (mutex_lock_interruptible(&wt->lock)) {
		kfree(bounce);
		return -EINTR;
	}
	for (done = 0; done < len; ) {
		size_t n_bytes = min_t(u64, len - done, WT_COPY_CHUNK);

		wt_pattern_fill(bounce, seed, off + done, n_bytes);
		/* In bounds: peer + off + len <= peer + buf_size <= mw_size. */
		memcpy_toio(wt->mw + peer + off + done, bounce, n_bytes);
		done += n_bytes;
		cond_resched();
	}
	/*
	 * Drain the write-combining buffers: once this write returns, the
	 * data has left this CPU, so a check the test starts on the peer
	 * afterwards sees it.
	 */
	wmb();
	mutex_unlock(&wt->lock);

	kfree(bounce);
	return count;
}

const struct file_operations wt_peer_write_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_peer_write_write,
	.llseek = noop_llseek,
};

/* ---- check ---- */

/*
 * Byte-exact check of the whole buffer: the pattern of seed in
 * [off, off + len), guard everywhere else.  The peer writes the buffer: the
 * test sequences the peer's write (which ends with a wmb() there) before
 * this check, so plain reads see the final contents.  tmp holds
 * WT_COPY_CHUNK bytes.  Called with wt->lock held.
 */
static void wt_do_check(struct wt_ctx *wt, u64 off, u64 len, u64 seed,
			u8 guard, u8 *tmp)
{
	const u8 *buf = wt->buf, *p;
	u64 end = off + len, first = U64_MAX, bad = 0, i;
	u8 exp = 0;

	/* Fast search for the first wrong byte. */
	p = memchr_inv(buf, guard, off);
	if (p)
		first = p - buf;
	for (i = off; first == U64_MAX && i < end; ) {
		size_t n = min_t(u64, end - i, WT_COPY_CHUNK);

		wt_pattern_fill(tmp, seed, i, n);
		if (memcmp(buf + i, tmp, n)) {
			size_t j = 0;

			while (buf[i + j] == tmp[j])
				j++;
			first = i + j;
		}
		i += n;
		cond_resched();
	}
	if (first == U64_MAX) {
		p = memchr_inv(buf + end, guard, wt->buf_size - end);
		if (p)
			first = p - buf;
	}
	if (first == U64_MAX) {
		wt_status_set(&wt->check, "ok");
		return;
	}

	/* Slow count of all wrong bytes from the first one on. */
	for (i = first; i < wt->buf_size; i++) {
		u8 e = (i >= off && i < end) ? wt_pattern_byte(seed, i) : guard;

		if (i == first)
			exp = e;
		if (buf[i] != e)
			bad++;
		if (!(i & (SZ_64K - 1)))
			cond_resched();
	}
	wt_status_set(&wt->check,
		      "MISMATCH at offset %llu: expected 0x%02x got 0x%02x (%llu bytes differ)",
		      first, exp, buf[first], bad);
}

/* "OFF LEN SEED GUARD"; the file's data is wt->check. */
static ssize_t wt_check_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct wt_status *st = file_inode(file)->i_private;
	struct wt_ctx *wt = container_of(st, struct wt_ctx, check);
	u64 v[4];
	u8 *tmp;
	int ret;

	ret = wt_get_u64s(ubuf, count, v, 4, 4);
	if (ret < 0)
		return ret;
	if (!wt->buf)
		return -ENODEV;
	if (v[0] > wt->buf_size || v[1] > wt->buf_size - v[0] ||
	    v[3] > U8_MAX)
		return -EINVAL;

	tmp = kmalloc(WT_COPY_CHUNK, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	if (mutex_lock_interruptible(&wt->lock)) {
		kfree(tmp);
		return -EINTR;
	}
	wt_do_check(wt, v[0], v[1], v[2], v[3], tmp);
	mutex_unlock(&wt->lock);
	kfree(tmp);
	return count;
}

const struct file_operations wt_check_fops = {
	.owner = THIS_MODULE,
	.open = wt_status_open,
	.read = seq_read,
	.write = wt_check_write,
	.llseek = seq_lseek,
	.release = single_release,
};
