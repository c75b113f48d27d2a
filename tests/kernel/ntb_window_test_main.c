// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - NTB client that checks the memory window contract of an
 * NTB hardware driver and drives memory window 0 from debugfs.
 *
 * Memory window 0 is expected to map the peer's whole DMA address space:
 * the inbound translation is base 0 (any other base is refused with
 * -EINVAL), so the peer reaches a page of ours at window offset == that
 * page's DMA address.  This client sets aside one physically contiguous,
 * DMA-coherent buffer (buf_size bytes, 4 MiB by default) and publishes its
 * DMA address in debugfs.  The peer may write ONLY into that buffer; every
 * command that writes through our outbound window is bounded to
 * [PEER_ADDR, PEER_ADDR + buf_size) of the buffer address the caller says
 * the peer published (both sides must use the same buf_size).
 *
 * debugfs, one directory per ntb_dev:
 * /sys/kernel/debug/ntb_window_test/<pci name>/
 *   selftest        r: contract checks, "ok NAME" / "FAIL NAME: DETAIL" /
 *                      "pending NAME: link down", then
 *                      "selftest: N ok, M failed[, P pending]"
 *                   w: "run" runs the checks again
 *   buf_addr        r: "0x<dma address> <size>" of our buffer
 *   info            r: key=value lines (link, window, alignment, buffer)
 *   link            r: "up" or "down"
 *   buf_fill        w: "GUARD" fills our whole buffer with byte GUARD
 *   peer_write      w: "PEER_ADDR OFF LEN SEED" writes the pattern of SEED
 *                      to peer buffer bytes [OFF, OFF + LEN)
 *   dma_write       w: "PEER_ADDR OFF LEN SEED": as peer_write, but copied
 *                      by a DMA_MEMCPY channel's engine through the window;
 *                      EIO if the engine failed it, ENODEV without a channel
 *   dma_fault       w: "DMA_ADDR": the engine copies 8 bytes of our buffer
 *                      to DMA_ADDR; EIO if it reports a failure
 *   dma_bench       w: "PEER_ADDR TOTAL CHUNK": the engine's throughput
 *                      (TOTAL bytes in CHUNK-byte copies, all submitted at
 *                      once) and its latency (8-byte copies, submit to
 *                      callback); returns when done
 *                   r: "dma_MBps=X chunk=C bytes=N ns=T lat8_ns_median=L
 *                      lat8_ns_min=M" or "idle"
 *   check           w: "OFF LEN SEED GUARD" checks our buffer: pattern of
 *                      SEED in [OFF, OFF + LEN), GUARD everywhere else
 *                   r: "ok", "MISMATCH at offset X: expected 0xEE got 0xGG
 *                      (N bytes differ)" or "idle"
 *   bench_memcpy    w: "PEER_ADDR [LEN_TOTAL [CHUNK]]" copies CHUNK-byte
 *                      blocks (default 65536) into the peer buffer through
 *                      the window, wrapping inside it: LEN_TOTAL bytes, or
 *                      for 1 s if LEN_TOTAL is 0 or omitted, 30 s at most;
 *                      then as many bytes with a local memcpy; returns when
 *                      done
 *                   r: "memcpy_window_MBps=X local_memcpy_MBps=Y chunk=Z
 *                      bytes=N ns=T local_ns=L" (MB = 10^6 bytes) or "idle"
 *   pingpong        w: "PEER_ADDR ROLE ITERS", ROLE is ping or pong; starts
 *                      a kthread and returns at once (start pong first)
 *   pingpong_result r: "idle", "running", "iters=N rtt_ns_median=X
 *                      oneway_ns_median=Y rtt_ns_min=A rtt_ns_max=B
 *                      resends=R role=ping", "iters=N role=pong",
 *                      "timeout iters=N role=R" or "stopped iters=N role=R"
 *   dbpingpong      w: "ITERS" rings the peer's doorbell ITERS times, each
 *                      after the peer's answering doorbell came (interrupt
 *                      to interrupt); returns when done, -ETIMEDOUT when an
 *                      answer did not come within 10 s.  The module answers
 *                      the peer's pings whenever it is loaded.
 *   dbpingpong_result r: "idle", "iters=N rtt_ns_median=X rtt_ns_min=A
 *                      rtt_ns_max=B" or "timeout iters=N"
 * Numbers are decimal or 0x-prefixed hexadecimal.  Bad input fails the
 * write with -EINVAL.  The pattern byte at buffer offset O for seed S is a
 * hash of (S, O), see wt_pattern_fill(), so misplaced writes are caught.
 *
 * The module is one file per part: this one (client, context, link, the
 * debugfs directory, command parsing, result files), _selftest.c (window,
 * buffer, contract checks), _xfer.c (pattern, buf_fill, peer_write, check),
 * _dma.c (dma_write, dma_fault), _bench.c (bench_memcpy), _pingpong.c and
 * _dbpp.c (dbpingpong).
 */

#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ntb.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "ntb_window_test.h"

#define WT_NAME			"ntb_window_test"

static unsigned long buf_size = SZ_4M;
module_param(buf_size, ulong, 0444);
MODULE_PARM_DESC(buf_size,
		 "Bytes of RAM the peer may write (page multiple, at most 4 MiB; same on both sides)");

static struct dentry *wt_dbgfs_root;

/* ---- commands ---- */

/*
 * Copies a command from user space and splits it at blanks.  kbuf holds
 * WT_INPUT_MAX bytes, toks WT_MAX_TOKENS pointers into it.
 */
int wt_get_tokens(const char __user *ubuf, size_t count, char *kbuf,
		  char **toks)
{
	char *p, *tok;
	int n = 0;

	if (!count || count >= WT_INPUT_MAX)
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, count))
		return -EFAULT;
	kbuf[count] = '\0';
	if (strlen(kbuf) != count)
		return -EINVAL;

	p = strim(kbuf);
	while ((tok = strsep(&p, " \t")) != NULL) {
		if (!*tok)
			continue;
		if (n == WT_MAX_TOKENS)
			return -EINVAL;
		toks[n++] = tok;
	}
	return n;
}

/* Decimal, or hexadecimal with a 0x prefix; nothing else. */
int wt_parse_u64(const char *s, u64 *val)
{
	int ret;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		ret = kstrtou64(s, 16, val);
	else
		ret = kstrtou64(s, 10, val);
	return ret ? -EINVAL : 0;
}

/*
 * Copies a command of min to max numbers from user space into vals[];
 * returns how many there were, or a negative errno.
 */
int wt_get_u64s(const char __user *ubuf, size_t count, u64 *vals,
		int min, int max)
{
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	int i, n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n < min || n > max)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		ret = wt_parse_u64(toks[i], &vals[i]);
		if (ret)
			return ret;
	}
	return n;
}

/*
 * Validates a peer buffer address given by the caller: the whole peer
 * buffer [peer, peer + buf_size) must lie inside our outbound window.
 */
int wt_check_peer(struct wt_ctx *wt, u64 peer)
{
	u64 end;

	if (!wt->mw || !wt->buf)
		return -ENODEV;
	if (check_add_overflow(peer, (u64)wt->buf_size, &end) ||
	    end > wt->mw_size)
		return -EINVAL;
	return 0;
}

/* ---- result files: check, bench_memcpy, pingpong_result ---- */

/* Called with *st->lock held. */
void wt_status_set(struct wt_status *st, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, args);
	va_end(args);
}

static int wt_status_show(struct seq_file *s, void *unused)
{
	struct wt_status *st = s->private;

	mutex_lock(st->lock);
	seq_printf(s, "%s\n", st->text[0] ? st->text : "idle");
	mutex_unlock(st->lock);
	return 0;
}

/* The file's data is the struct wt_status. */
int wt_status_open(struct inode *inode, struct file *file)
{
	return single_open(file, wt_status_show, inode->i_private);
}

/* A result file that takes no command (pingpong_result). */
static const struct file_operations wt_status_fops = {
	.owner = THIS_MODULE,
	.open = wt_status_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* ---- link ---- */

static bool wt_link_up(struct wt_ctx *wt)
{
	return ntb_link_is_up(wt->ntb, NULL, NULL) & BIT_ULL(WT_PIDX);
}

static void wt_link_work(struct work_struct *work)
{
	struct wt_ctx *wt = container_of(work, struct wt_ctx, link_work);

	mutex_lock(&wt->lock);
	wt_check_inbound(wt);
	mutex_unlock(&wt->lock);
}

/* Called by the NTB core under a spinlock with interrupts off. */
static void wt_link_event(void *ctx)
{
	struct wt_ctx *wt = ctx;

	schedule_work(&wt->link_work);
}

static const struct ntb_ctx_ops wt_ctx_ops = {
	.link_event = wt_link_event,
	.db_event = wt_db_event,
};

/* ---- buf_addr, info, link ---- */

static int wt_buf_addr_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;

	if (!wt->buf)
		return -ENODEV;
	seq_printf(s, "0x%llx %zu\n", (u64)wt->buf_dma, wt->buf_size);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(wt_buf_addr);

static int wt_info_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;

	mutex_lock(&wt->lock);
	seq_printf(s, "link=%s\n", wt_link_up(wt) ? "up" : "down");
	seq_printf(s, "peer_mw_base=0x%llx\n", (u64)wt->mw_base);
	seq_printf(s, "peer_mw_size=%llu\n", (u64)wt->mw_size);
	seq_printf(s, "mw_addr_align=%llu\n", (u64)wt->addr_align);
	seq_printf(s, "mw_size_align=%llu\n", (u64)wt->size_align);
	seq_printf(s, "mw_size_max=%llu\n", (u64)wt->size_max);
	seq_printf(s, "mw_trans_set=%d\n", wt->trans_set);
	seq_printf(s, "buf_dma=0x%llx\n", (u64)wt->buf_dma);
	seq_printf(s, "buf_size=%zu\n", wt->buf ? wt->buf_size : 0);
	seq_printf(s, "pp_ping_off=%d\n", WT_PP_PING_OFF);
	seq_printf(s, "pp_pong_off=%d\n", WT_PP_PONG_OFF);
	mutex_unlock(&wt->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(wt_info);

static int wt_link_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;

	seq_printf(s, "%s\n", wt_link_up(wt) ? "up" : "down");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(wt_link);

/* ---- probe / remove ---- */

/* The result files' data is their struct wt_status, the others' wt. */
static void wt_setup_dbgfs(struct wt_ctx *wt)
{
	struct ntb_dev *ntb = wt->ntb;
	const char *name = ntb->pdev ? pci_name(ntb->pdev) : "ntb0";

	wt->dir = debugfs_create_dir(name, wt_dbgfs_root);
	debugfs_create_file("selftest", 0600, wt->dir, wt, &wt_selftest_fops);
	debugfs_create_file("buf_addr", 0400, wt->dir, wt, &wt_buf_addr_fops);
	debugfs_create_file("info", 0400, wt->dir, wt, &wt_info_fops);
	debugfs_create_file("link", 0400, wt->dir, wt, &wt_link_fops);
	debugfs_create_file("buf_fill", 0200, wt->dir, wt, &wt_buf_fill_fops);
	debugfs_create_file("peer_write", 0200, wt->dir, wt,
			    &wt_peer_write_fops);
	debugfs_create_file("dma_write", 0200, wt->dir, wt,
			    &wt_dma_write_fops);
	debugfs_create_file("dma_fault", 0200, wt->dir, wt,
			    &wt_dma_fault_fops);
	debugfs_create_file("dma_bench", 0600, wt->dir, &wt->dma_bench,
			    &wt_dma_bench_fops);
	debugfs_create_file("check", 0600, wt->dir, &wt->check,
			    &wt_check_fops);
	debugfs_create_file("bench_memcpy", 0600, wt->dir, &wt->bench,
			    &wt_bench_fops);
	debugfs_create_file("pingpong", 0200, wt->dir, wt, &wt_pp_fops);
	debugfs_create_file("pingpong_result", 0400, wt->dir, &wt->pp,
			    &wt_status_fops);
	debugfs_create_file("dbpingpong", 0600, wt->dir, wt, &wt_dbpp_fops);
	debugfs_create_file("dbpingpong_result", 0400, wt->dir,
			    &wt->dbpp_status, &wt_status_fops);
}

static int wt_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct wt_ctx *wt;
	int ret;

	wt = kzalloc(sizeof(*wt), GFP_KERNEL);
	if (!wt)
		return -ENOMEM;
	wt->ntb = ntb;
	wt->buf_size = buf_size;
	mutex_init(&wt->lock);
	mutex_init(&wt->pp_mutex);
	mutex_init(&wt->pp_lock);
	mutex_init(&wt->dbpp_mutex);
	spin_lock_init(&wt->dbpp_lock);
	init_completion(&wt->dbpp_end);
	INIT_WORK(&wt->link_work, wt_link_work);
	wt->check.lock = &wt->lock;
	wt->bench.lock = &wt->lock;
	wt->dma_bench.lock = &wt->lock;
	wt->pp.lock = &wt->pp_lock;
	wt->dbpp_status.lock = &wt->dbpp_mutex;

	wt_setup_window(wt);
	mutex_lock(&wt->lock);
	wt_check_inbound(wt);
	mutex_unlock(&wt->lock);

	ret = ntb_set_ctx(ntb, wt, &wt_ctx_ops);
	if (ret) {
		wt_free_window(wt);
		kfree(wt);
		return ret;
	}
	ntb_link_enable(ntb, NTB_SPEED_AUTO, NTB_WIDTH_AUTO);
	ntb_link_event(ntb);

	wt_setup_dbgfs(wt);

	dev_info(&ntb->dev, "window %pa+%pa, buffer %pad+%zu\n",
		 &wt->mw_base, &wt->mw_size, &wt->buf_dma,
		 wt->buf ? wt->buf_size : 0);
	return 0;
}

static void wt_remove(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct wt_ctx *wt = ntb->ctx;

	/* Waits for debugfs readers and writers still inside our fops. */
	debugfs_remove_recursive(wt->dir);

	wt_pp_stop(wt);

	ntb_link_disable(ntb);
	ntb_clear_ctx(ntb);
	cancel_work_sync(&wt->link_work);

	wt_free_window(wt);
	mutex_destroy(&wt->dbpp_mutex);
	mutex_destroy(&wt->pp_lock);
	mutex_destroy(&wt->pp_mutex);
	mutex_destroy(&wt->lock);
	kfree(wt);
}

static struct ntb_client wt_client = {
	.ops = {
		.probe = wt_probe,
		.remove = wt_remove,
	},
};

static int __init wt_init(void)
{
	int ret;

	wt_dbgfs_root = debugfs_create_dir(WT_NAME, NULL);

	ret = ntb_register_client(&wt_client);
	if (ret)
		debugfs_remove_recursive(wt_dbgfs_root);
	return ret;
}
module_init(wt_init);

static void __exit wt_exit(void)
{
	ntb_unregister_client(&wt_client);
	debugfs_remove_recursive(wt_dbgfs_root);
}
module_exit(wt_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("NTB memory window contract test and window benchmark client");
