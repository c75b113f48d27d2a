// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - the memory window contract: the outbound window and the
 * buffer, set up once at probe, the inbound window checks and the selftest
 * file that shows them.
 */

#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ntb.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "ntb_window_test.h"

static const char * const wt_check_names[WT_CHK_NR] = {
	[WT_CHK_MW_COUNT]		= "mw_count",
	[WT_CHK_PEER_MW_GET_ADDR]	= "peer_mw_get_addr",
	[WT_CHK_PEER_MW_IOREMAP_WC]	= "peer_mw_ioremap_wc",
	[WT_CHK_BUF_ALLOC]		= "buf_alloc",
	[WT_CHK_MW_GET_ALIGN]		= "mw_get_align",
	[WT_CHK_BUF_IN_WINDOW]		= "buf_in_inbound_window",
	[WT_CHK_SET_TRANS_NONZERO]	= "mw_set_trans_nonzero_einval",
	[WT_CHK_SET_TRANS_BASE0]	= "mw_set_trans_base0_full",
};

static __printf(4, 5)
void wt_set(struct wt_ctx *wt, enum wt_check chk, enum wt_state state,
	    const char *fmt, ...)
{
	struct wt_result *r = &wt->res[chk];
	va_list args;

	r->state = state;
	va_start(args, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, args);
	va_end(args);
}

static void wt_ok(struct wt_ctx *wt, enum wt_check chk)
{
	wt->res[chk].state = WT_OK;
	wt->res[chk].detail[0] = '\0';
}

/*
 * Link-independent checks and resources, done once at probe: window count,
 * outbound window address and mapping, the buffer of wt->buf_size bytes.
 * A failure is recorded for the selftest file and the device stays bound,
 * so a test can read it.
 */
void wt_setup_window(struct wt_ctx *wt)
{
	struct ntb_dev *ntb = wt->ntb;
	int peers, mws, peer_mws, ret;

	peers = ntb_peer_port_count(ntb);
	mws = peers > 0 ? ntb_mw_count(ntb, WT_PIDX) : 0;
	peer_mws = ntb_peer_mw_count(ntb);
	if (peers < 1 || mws < 1 || peer_mws < 1)
		wt_set(wt, WT_CHK_MW_COUNT, WT_FAIL,
		       "peer_port_count=%d mw_count=%d peer_mw_count=%d",
		       peers, mws, peer_mws);
	else
		wt_ok(wt, WT_CHK_MW_COUNT);

	ret = peer_mws < 1 ? -ENODEV :
	      ntb_peer_mw_get_addr(ntb, WT_MW_IDX, &wt->mw_base, &wt->mw_size);
	if (ret || !wt->mw_size || !wt->mw_base) {
		wt_set(wt, WT_CHK_PEER_MW_GET_ADDR, WT_FAIL,
		       "ret=%d base=%pa size=%pa", ret, &wt->mw_base,
		       &wt->mw_size);
		wt_set(wt, WT_CHK_PEER_MW_IOREMAP_WC, WT_FAIL, "no window");
		wt->mw_size = 0;
	} else {
		wt_ok(wt, WT_CHK_PEER_MW_GET_ADDR);
		wt->mw = ioremap_wc(wt->mw_base, wt->mw_size);
		if (wt->mw)
			wt_ok(wt, WT_CHK_PEER_MW_IOREMAP_WC);
		else
			wt_set(wt, WT_CHK_PEER_MW_IOREMAP_WC, WT_FAIL,
			       "ioremap_wc(%pa, %pa) failed", &wt->mw_base,
			       &wt->mw_size);
	}

	wt->dma_dev = ntb_get_dma_dev(ntb);
	if (!wt->buf_size || !PAGE_ALIGNED(wt->buf_size) ||
	    wt->buf_size > SZ_4M) {
		wt_set(wt, WT_CHK_BUF_ALLOC, WT_FAIL,
		       "bad buf_size %zu", wt->buf_size);
		return;
	}
	/* Zeroed, physically contiguous; the DMA address is what we publish. */
	wt->buf = dma_alloc_coherent(wt->dma_dev, wt->buf_size, &wt->buf_dma,
				     GFP_KERNEL);
	if (!wt->buf)
		wt_set(wt, WT_CHK_BUF_ALLOC, WT_FAIL,
		       "dma_alloc_coherent(%zu) failed", wt->buf_size);
	else
		wt_ok(wt, WT_CHK_BUF_ALLOC);
}

/* Undoes wt_setup_window() and the inbound translation. */
void wt_free_window(struct wt_ctx *wt)
{
	if (wt->trans_set)
		ntb_mw_clear_trans(wt->ntb, WT_PIDX, WT_MW_IDX);
	if (wt->buf)
		dma_free_coherent(wt->dma_dev, wt->buf_size, wt->buf,
				  wt->buf_dma);
	if (wt->mw)
		iounmap(wt->mw);
}

/*
 * The inbound window contract.  ntb_mw_get_align() needs the link, so the
 * checks stay pending until it is up; they run at probe, on every link event
 * (link_work) and on "run" written to selftest.  The non-zero translation is
 * tried before the base 0 one, so the last translation set is always base 0.
 * Called with wt->lock held.
 */
void wt_check_inbound(struct wt_ctx *wt)
{
	struct ntb_dev *ntb = wt->ntb;
	resource_size_t addr_align = 0, size_align = 0, size_max = 0;
	resource_size_t bad_size;
	u64 buf_end;
	int ret;

	ret = ntb_mw_get_align(ntb, WT_PIDX, WT_MW_IDX, &addr_align,
			       &size_align, &size_max);
	if (ret == -ENOTCONN) {
		wt_set(wt, WT_CHK_MW_GET_ALIGN, WT_PENDING, "link down");
		wt_set(wt, WT_CHK_BUF_IN_WINDOW, WT_PENDING, "link down");
		wt_set(wt, WT_CHK_SET_TRANS_NONZERO, WT_PENDING, "link down");
		wt_set(wt, WT_CHK_SET_TRANS_BASE0, WT_PENDING, "link down");
		return;
	}
	if (ret || !size_max ||
	    (addr_align && !is_power_of_2(addr_align))) {
		wt_set(wt, WT_CHK_MW_GET_ALIGN, WT_FAIL,
		       "ret=%d addr_align=%pa size_align=%pa size_max=%pa",
		       ret, &addr_align, &size_align, &size_max);
		wt_set(wt, WT_CHK_BUF_IN_WINDOW, WT_FAIL, "no size_max");
		wt_set(wt, WT_CHK_SET_TRANS_NONZERO, WT_FAIL, "no size_max");
		wt_set(wt, WT_CHK_SET_TRANS_BASE0, WT_FAIL, "no size_max");
		return;
	}
	wt->addr_align = addr_align;
	wt->size_align = size_align;
	wt->size_max = size_max;
	wt_ok(wt, WT_CHK_MW_GET_ALIGN);

	if (!wt->buf)
		wt_set(wt, WT_CHK_BUF_IN_WINDOW, WT_FAIL, "no buffer");
	else if (check_add_overflow((u64)wt->buf_dma, (u64)wt->buf_size,
				    &buf_end) || buf_end > size_max)
		wt_set(wt, WT_CHK_BUF_IN_WINDOW, WT_FAIL,
		       "buffer %pad+%zu beyond size_max %pa", &wt->buf_dma,
		       wt->buf_size, &size_max);
	else
		wt_ok(wt, WT_CHK_BUF_IN_WINDOW);

	/* A size that would fit at PAGE_SIZE, so only the address is wrong. */
	bad_size = size_max > PAGE_SIZE ? size_max - PAGE_SIZE : size_max;
	ret = ntb_mw_set_trans(ntb, WT_PIDX, WT_MW_IDX, PAGE_SIZE, bad_size);
	if (ret == -EINVAL)
		wt_ok(wt, WT_CHK_SET_TRANS_NONZERO);
	else
		wt_set(wt, WT_CHK_SET_TRANS_NONZERO, WT_FAIL,
		       "set_trans(0x%lx, %pa) returned %d, expected %d",
		       PAGE_SIZE, &bad_size, ret, -EINVAL);

	ret = ntb_mw_set_trans(ntb, WT_PIDX, WT_MW_IDX, 0, size_max);
	if (!ret) {
		wt->trans_set = true;
		wt_ok(wt, WT_CHK_SET_TRANS_BASE0);
	} else {
		wt_set(wt, WT_CHK_SET_TRANS_BASE0, WT_FAIL,
		       "set_trans(0, %pa) returned %d", &size_max, ret);
	}
}

/* ---- selftest ---- */

static int wt_selftest_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;
	unsigned int ok = 0, failed = 0, pending = 0;
	int i;

	mutex_lock(&wt->lock);
	for (i = 0; i < WT_CHK_NR; i++) {
		const struct wt_result *r = &wt->res[i];

		switch (r->state) {
		case WT_OK:
			seq_printf(s, "ok %s\n", wt_check_names[i]);
			ok++;
			break;
		case WT_FAIL:
			seq_printf(s, "FAIL %s: %s\n", wt_check_names[i],
				   r->detail);
			failed++;
			break;
		default:
			seq_printf(s, "pending %s: %s\n", wt_check_names[i],
				   r->detail[0] ? r->detail : "not run");
			pending++;
			break;
		}
	}
	mutex_unlock(&wt->lock);

	if (pending)
		seq_printf(s, "selftest: %u ok, %u failed, %u pending\n",
			   ok, failed, pending);
	else
		seq_printf(s, "selftest: %u ok, %u failed\n", ok, failed);
	return 0;
}

static int wt_selftest_open(struct inode *inode, struct file *file)
{
	return single_open(file, wt_selftest_show, inode->i_private);
}

/* "run": the inbound checks again. */
static ssize_t wt_selftest_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file_inode(file)->i_private;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	int n;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n != 1 || strcmp(toks[0], "run"))
		return -EINVAL;

	if (mutex_lock_interruptible(&wt->lock))
		return -EINTR;
	wt_check_inbound(wt);
	mutex_unlock(&wt->lock);
	return count;
}

const struct file_operations wt_selftest_fops = {
	.owner = THIS_MODULE,
	.open = wt_selftest_open,
	.read = seq_read,
	.write = wt_selftest_write,
	.llseek = seq_lseek,
	.release = single_release,
};
