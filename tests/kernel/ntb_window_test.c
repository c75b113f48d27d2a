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
 * Numbers are decimal or 0x-prefixed hexadecimal.  Bad input fails the
 * write with -EINVAL.  The pattern byte at buffer offset O for seed S is a
 * hash of (S, O), see wt_pattern_fill(), so misplaced writes are caught.
 */

#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ntb.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#define WT_NAME			"ntb_window_test"

#define WT_PIDX			0	/* the one peer */
#define WT_MW_IDX		0	/* the window over the peer's RAM */

#define WT_INPUT_MAX		128	/* longest debugfs command */
#define WT_MAX_TOKENS		4

#define WT_COPY_CHUNK		SZ_64K	/* peer_write bounce buffer */
#define WT_BENCH_CHUNK		SZ_64K	/* default bench_memcpy chunk */
#define WT_BENCH_MIN_NS		NSEC_PER_SEC
#define WT_BENCH_MAX_NS		(30ULL * NSEC_PER_SEC)

/*
 * Ping-pong words, each a naturally aligned u64 inside the buffers:
 * WT_PP_PING_OFF in the pong side's buffer is written only by the ping side
 * (through its window) and read only by the pong side; WT_PP_PONG_OFF in the
 * ping side's buffer is written only by the pong side and read only by the
 * ping side.  The reader zeroes its word once before the run starts.
 */
#define WT_PP_PING_OFF		0
#define WT_PP_PONG_OFF		64
#define WT_PP_MAX_ITERS		1000000
#define WT_PP_TIMEOUT_NS	(30ULL * NSEC_PER_SEC)
#define WT_PP_RESEND_NS		(50ULL * NSEC_PER_MSEC)
#define WT_PP_SPIN_MASK		0xff	/* clock/resched check period */

static unsigned long buf_size = SZ_4M;
module_param(buf_size, ulong, 0444);
MODULE_PARM_DESC(buf_size,
		 "Bytes of RAM the peer may write (page multiple, at most 4 MiB; same on both sides)");

enum wt_check {
	WT_CHK_MW_COUNT,
	WT_CHK_PEER_MW_GET_ADDR,
	WT_CHK_PEER_MW_IOREMAP_WC,
	WT_CHK_BUF_ALLOC,
	WT_CHK_MW_GET_ALIGN,
	WT_CHK_BUF_IN_WINDOW,
	WT_CHK_SET_TRANS_NONZERO,
	WT_CHK_SET_TRANS_BASE0,
	WT_CHK_NR
};

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

enum wt_state {
	WT_PENDING,
	WT_OK,
	WT_FAIL,
};

struct wt_result {
	enum wt_state state;
	char detail[96];
};

enum wt_pp_role {
	WT_PP_PING,
	WT_PP_PONG,
};

struct wt_ctx {
	struct ntb_dev *ntb;
	struct dentry *dir;

	/*
	 * Serialises the contract checks and every debugfs command except
	 * the ping-pong ones; protects res[], the alignment values, trans_set,
	 * check_result and bench_result.
	 */
	struct mutex lock;
	struct work_struct link_work;
	struct wt_result res[WT_CHK_NR];
	resource_size_t addr_align;
	resource_size_t size_align;
	resource_size_t size_max;
	bool trans_set;
	char check_result[128];
	char bench_result[160];

	/* Outbound window 0: the peer's RAM, mapped write-combining. */
	phys_addr_t mw_base;
	resource_size_t mw_size;
	void __iomem *mw;

	/*
	 * The only memory of ours the peer may write.  Its contents belong
	 * to the peer while a test runs: we read them (check, ping-pong) or
	 * overwrite them (buf_fill) only when the test says so.
	 */
	struct device *dma_dev;
	void *buf;
	dma_addr_t buf_dma;
	size_t buf_size;

	/* Ping-pong: pp_mutex serialises starting and stopping the kthread. */
	struct mutex pp_mutex;
	struct task_struct *pp_task;
	enum wt_pp_role pp_role;
	u64 pp_peer;
	u32 pp_iters;
	u64 *pp_rtt;
	/* pp_lock protects pp_running and pp_result. */
	spinlock_t pp_lock;
	bool pp_running;
	char pp_result[192];
};

static struct dentry *wt_dbgfs_root;

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

static bool wt_link_up(struct wt_ctx *wt)
{
	return ntb_link_is_up(wt->ntb, NULL, NULL) & BIT_ULL(WT_PIDX);
}

/*
 * Link-independent checks and resources, done once at probe: window count,
 * outbound window address and mapping, the buffer.  A failure is recorded
 * for the selftest file and the device stays bound, so a test can read it.
 */
static void wt_setup_window(struct wt_ctx *wt)
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
	wt->buf_size = buf_size;
	if (!buf_size || !PAGE_ALIGNED(buf_size) || buf_size > SZ_4M) {
		wt_set(wt, WT_CHK_BUF_ALLOC, WT_FAIL,
		       "bad buf_size %lu", buf_size);
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

/*
 * The inbound window contract.  ntb_mw_get_align() needs the link, so the
 * checks stay pending until it is up; they run at probe, on every link event
 * (link_work) and on "run" written to selftest.  The non-zero translation is
 * tried before the base 0 one, so the last translation set is always base 0.
 * Called with wt->lock held.
 */
static void wt_check_inbound(struct wt_ctx *wt)
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
};

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

static void wt_pattern_fill(u8 *dst, u64 seed, u64 off, size_t len)
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

/* Copies a command from user space and splits it at blanks. */
static int wt_get_tokens(const char __user *ubuf, size_t count,
			 char *kbuf, char **toks)
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
static int wt_parse_u64(const char *s, u64 *val)
{
	int ret;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		ret = kstrtou64(s, 16, val);
	else
		ret = kstrtou64(s, 10, val);
	return ret ? -EINVAL : 0;
}

static int wt_parse_u64s(char **toks, int n, u64 *vals)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = wt_parse_u64(toks[i], &vals[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Validates a peer buffer address given by the caller: the whole peer
 * buffer [peer, peer + buf_size) must lie inside our outbound window.
 */
static int wt_check_peer(struct wt_ctx *wt, u64 peer)
{
	u64 end;

	if (!wt->mw || !wt->buf)
		return -ENODEV;
	if (check_add_overflow(peer, (u64)wt->buf_size, &end) ||
	    end > wt->mw_size)
		return -EINVAL;
	return 0;
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

static const struct file_operations wt_selftest_fops = {
	.owner = THIS_MODULE,
	.open = wt_selftest_open,
	.read = seq_read,
	.write = wt_selftest_write,
	.llseek = seq_lseek,
	.release = single_release,
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

/* ---- buf_fill ---- */

static ssize_t wt_buf_fill_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	u64 guard;
	int n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n != 1)
		return -EINVAL;
	ret = wt_parse_u64(toks[0], &guard);
	if (ret || guard > U8_MAX)
		return -EINVAL;
	if (!wt->buf)
		return -ENODEV;

	if (mutex_lock_interruptible(&wt->lock))
		return -EINTR;
	memset(wt->buf, guard, wt->buf_size);
	mutex_unlock(&wt->lock);
	return count;
}

static const struct file_operations wt_buf_fill_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_buf_fill_write,
	.llseek = noop_llseek,
};

/* ---- peer_write ---- */

static ssize_t wt_peer_write_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	u64 v[4], peer, off, len, seed, done;
	u8 *bounce;
	int n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n != 4)
		return -EINVAL;
	ret = wt_parse_u64s(toks, n, v);
	if (ret)
		return ret;
	peer = v[0];
	off = v[1];
	len = v[2];
	seed = v[3];

	ret = wt_check_peer(wt, peer);
	if (ret)
		return ret;
	if (off > wt->buf_size || len > wt->buf_size - off)
		return -EINVAL;
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

static const struct file_operations wt_peer_write_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_peer_write_write,
	.llseek = noop_llseek,
};

/* ---- check ---- */

static int wt_check_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;

	mutex_lock(&wt->lock);
	seq_printf(s, "%s\n", wt->check_result[0] ? wt->check_result : "idle");
	mutex_unlock(&wt->lock);
	return 0;
}

static int wt_check_open(struct inode *inode, struct file *file)
{
	return single_open(file, wt_check_show, inode->i_private);
}

/*
 * Byte-exact check of the whole buffer: the pattern of seed in
 * [off, off + len), guard everywhere else.  The peer writes the buffer: the
 * test sequences the peer's write (which ends with a wmb() there) before
 * this check, so plain reads see the final contents.  tmp holds
 * WT_COPY_CHUNK bytes.
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
		strscpy(wt->check_result, "ok", sizeof(wt->check_result));
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
	snprintf(wt->check_result, sizeof(wt->check_result),
		 "MISMATCH at offset %llu: expected 0x%02x got 0x%02x (%llu bytes differ)",
		 first, exp, buf[first], bad);
}

static ssize_t wt_check_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file_inode(file)->i_private;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	u64 v[4];
	u8 *tmp;
	int n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n != 4)
		return -EINVAL;
	ret = wt_parse_u64s(toks, n, v);
	if (ret)
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

static const struct file_operations wt_check_fops = {
	.owner = THIS_MODULE,
	.open = wt_check_open,
	.read = seq_read,
	.write = wt_check_write,
	.llseek = seq_lseek,
	.release = single_release,
};

/* ---- bench_memcpy ---- */

static int wt_bench_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;

	mutex_lock(&wt->lock);
	seq_printf(s, "%s\n", wt->bench_result[0] ? wt->bench_result : "idle");
	mutex_unlock(&wt->lock);
	return 0;
}

static int wt_bench_open(struct inode *inode, struct file *file)
{
	return single_open(file, wt_bench_show, inode->i_private);
}

static u64 wt_mbps(u64 bytes, u64 ns)
{
	/* bytes / ns * 1000 = MB/s (10^6 bytes); bytes < 2^54 here. */
	return ns ? div64_u64(bytes * 1000, ns) : 0;
}

/*
 * Copies chunk-sized blocks into the peer buffer through the WC window,
 * wrapping inside [peer, peer + buf_size), until total bytes are copied
 * (total 0: for WT_BENCH_MIN_NS), never longer than WT_BENCH_MAX_NS; then the
 * same number of bytes with a plain memcpy into a local buffer.
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

	snprintf(wt->bench_result, sizeof(wt->bench_result),
		 "memcpy_window_MBps=%llu local_memcpy_MBps=%llu chunk=%llu bytes=%llu ns=%llu local_ns=%llu",
		 wt_mbps(bytes, ns), wt_mbps(bytes, local_ns), chunk, bytes,
		 ns, local_ns);
out:
	kvfree(dst);
	kvfree(src);
	return ret;
}

static ssize_t wt_bench_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file_inode(file)->i_private;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	u64 v[3] = { 0, 0, WT_BENCH_CHUNK };
	int n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n < 1 || n > 3)
		return -EINVAL;
	ret = wt_parse_u64s(toks, n, v);
	if (ret)
		return ret;
	ret = wt_check_peer(wt, v[0]);
	if (ret)
		return ret;
	if (!v[2] || v[2] > wt->buf_size)
		return -EINVAL;

	if (mutex_lock_interruptible(&wt->lock))
		return -EINTR;
	wt->bench_result[0] = '\0';
	ret = wt_do_bench(wt, v[0], v[1], v[2]);
	mutex_unlock(&wt->lock);
	return ret ? ret : count;
}

static const struct file_operations wt_bench_fops = {
	.owner = THIS_MODULE,
	.open = wt_bench_open,
	.read = seq_read,
	.write = wt_bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};

/* ---- pingpong ---- */

static int wt_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Polling loop housekeeping; returns -ETIMEDOUT, -EINTR or 0. */
static int wt_pp_tick(u64 now, u64 deadline)
{
	if (now > deadline)
		return -ETIMEDOUT;
	if (kthread_should_stop())
		return -EINTR;
	cond_resched();
	return 0;
}

/*
 * Ping: for n = 1..iters write (cookie << 32 | n) into the pong side's
 * ping word through the window, then poll our pong word until the pong side
 * wrote the same value back.  The cookie makes a value left in our buffer by
 * anything else (a fill, a benchmark) never match.  The first value is sent
 * again every WT_PP_RESEND_NS until answered, in case the pong side zeroed
 * its word after it arrived; later values cannot be lost.
 */
static int wt_pp_ping(struct wt_ctx *wt, u32 *done, u32 *resends)
{
	void __iomem *tx = wt->mw + wt->pp_peer + WT_PP_PING_OFF;
	u64 *rx = wt->buf + WT_PP_PONG_OFF;
	u64 cookie = (u64)(get_random_u32() | 1) << 32;
	u64 deadline = ktime_get_ns() + WT_PP_TIMEOUT_NS;
	u32 n;
	int ret;

	/* Our pong word: written by the peer only, except for this reset. */
	WRITE_ONCE(*rx, 0);

	for (n = 1; n <= wt->pp_iters; n++) {
		u64 val = cookie | n;
		u64 t0, sent, now;
		unsigned int spins = 0;

		t0 = ktime_get_ns();
		sent = t0;
		writeq(val, tx);
		/* Push the value out of the WC buffer now, not later. */
		wmb();
		/*
		 * No barrier after the poll: the only data is the word
		 * itself, read with READ_ONCE from coherent memory.
		 */
		while (READ_ONCE(*rx) != val) {
			cpu_relax();
			if (++spins & WT_PP_SPIN_MASK)
				continue;
			now = ktime_get_ns();
			ret = wt_pp_tick(now, deadline);
			if (ret)
				return ret;
			if (n == 1 && now - sent > WT_PP_RESEND_NS) {
				writeq(val, tx);
				wmb();	/* as above */
				sent = now;
				(*resends)++;
			}
		}
		wt->pp_rtt[n - 1] = ktime_get_ns() - t0;
		*done = n;
	}
	return 0;
}

/*
 * Pong: poll our ping word; each new non-zero value is written back into
 * the ping side's pong word through the window, iters times.
 */
static int wt_pp_pong(struct wt_ctx *wt, u32 *done)
{
	void __iomem *tx = wt->mw + wt->pp_peer + WT_PP_PONG_OFF;
	u64 *rx = wt->buf + WT_PP_PING_OFF;
	u64 deadline = ktime_get_ns() + WT_PP_TIMEOUT_NS;
	u64 last = 0, val;
	unsigned int spins = 0;
	int ret;

	/* Our ping word: written by the peer only, except for this reset. */
	WRITE_ONCE(*rx, 0);

	while (*done < wt->pp_iters) {
		val = READ_ONCE(*rx);
		if (val && val != last) {
			/*
			 * The store depends on the value just read, so it
			 * cannot pass that read; no barrier needed before it.
			 */
			writeq(val, tx);
			/* Push the echo out of the WC buffer now. */
			wmb();
			last = val;
			(*done)++;
			continue;
		}
		cpu_relax();
		if (++spins & WT_PP_SPIN_MASK)
			continue;
		ret = wt_pp_tick(ktime_get_ns(), deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static int wt_pp_thread(void *data)
{
	struct wt_ctx *wt = data;
	bool ping = wt->pp_role == WT_PP_PING;
	const char *role = ping ? "ping" : "pong";
	char res[sizeof(wt->pp_result)];
	u32 done = 0, resends = 0;
	int ret;

	ret = ping ? wt_pp_ping(wt, &done, &resends) : wt_pp_pong(wt, &done);

	if (ret == -ETIMEDOUT) {
		snprintf(res, sizeof(res), "timeout iters=%u role=%s",
			 done, role);
	} else if (ret) {
		snprintf(res, sizeof(res), "stopped iters=%u role=%s",
			 done, role);
	} else if (ping) {
		sort(wt->pp_rtt, done, sizeof(u64), wt_cmp_u64, NULL);
		snprintf(res, sizeof(res),
			 "iters=%u rtt_ns_median=%llu oneway_ns_median=%llu rtt_ns_min=%llu rtt_ns_max=%llu resends=%u role=ping",
			 done, wt->pp_rtt[done / 2], wt->pp_rtt[done / 2] / 2,
			 wt->pp_rtt[0], wt->pp_rtt[done - 1], resends);
	} else {
		snprintf(res, sizeof(res), "iters=%u role=pong", done);
	}

	spin_lock(&wt->pp_lock);
	strscpy(wt->pp_result, res, sizeof(wt->pp_result));
	wt->pp_running = false;
	spin_unlock(&wt->pp_lock);
	return ret;
}

/* Reaps the previous kthread; it may still run.  pp_mutex held. */
static void wt_pp_reap(struct wt_ctx *wt)
{
	if (!wt->pp_task)
		return;
	/* The task reference taken at start keeps this valid after exit. */
	kthread_stop(wt->pp_task);
	put_task_struct(wt->pp_task);
	wt->pp_task = NULL;

	spin_lock(&wt->pp_lock);
	if (wt->pp_running) {
		/* Stopped before the thread function ran. */
		strscpy(wt->pp_result, "stopped iters=0", sizeof(wt->pp_result));
		wt->pp_running = false;
	}
	spin_unlock(&wt->pp_lock);
}

static ssize_t wt_pp_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	char kbuf[WT_INPUT_MAX];
	char *toks[WT_MAX_TOKENS];
	struct task_struct *task;
	enum wt_pp_role role;
	u64 peer, iters;
	bool running;
	int n, ret;

	n = wt_get_tokens(ubuf, count, kbuf, toks);
	if (n < 0)
		return n;
	if (n != 3)
		return -EINVAL;
	if (!strcmp(toks[1], "ping"))
		role = WT_PP_PING;
	else if (!strcmp(toks[1], "pong"))
		role = WT_PP_PONG;
	else
		return -EINVAL;
	if (wt_parse_u64(toks[0], &peer) || wt_parse_u64(toks[2], &iters))
		return -EINVAL;
	if (!iters || iters > WT_PP_MAX_ITERS || !IS_ALIGNED(peer, 8))
		return -EINVAL;
	ret = wt_check_peer(wt, peer);
	if (ret)
		return ret;

	if (mutex_lock_interruptible(&wt->pp_mutex))
		return -EINTR;
	spin_lock(&wt->pp_lock);
	running = wt->pp_running;
	spin_unlock(&wt->pp_lock);
	if (running) {
		ret = -EBUSY;
		goto unlock;
	}
	wt_pp_reap(wt);

	vfree(wt->pp_rtt);
	wt->pp_rtt = vmalloc_array(iters, sizeof(u64));
	if (!wt->pp_rtt) {
		ret = -ENOMEM;
		goto unlock;
	}
	wt->pp_role = role;
	wt->pp_peer = peer;
	wt->pp_iters = iters;
	spin_lock(&wt->pp_lock);
	wt->pp_running = true;
	strscpy(wt->pp_result, "running", sizeof(wt->pp_result));
	spin_unlock(&wt->pp_lock);

	/* kthread_run() orders the parameter stores above before the thread. */
	task = kthread_run(wt_pp_thread, wt, "ntb_wt_%s",
			   role == WT_PP_PING ? "ping" : "pong");
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		spin_lock(&wt->pp_lock);
		wt->pp_running = false;
		strscpy(wt->pp_result, "idle", sizeof(wt->pp_result));
		spin_unlock(&wt->pp_lock);
		goto unlock;
	}
	get_task_struct(task);
	wt->pp_task = task;
	ret = count;
unlock:
	mutex_unlock(&wt->pp_mutex);
	return ret;
}

static const struct file_operations wt_pp_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_pp_write,
	.llseek = noop_llseek,
};

static int wt_pp_result_show(struct seq_file *s, void *unused)
{
	struct wt_ctx *wt = s->private;
	char res[sizeof(wt->pp_result)];

	spin_lock(&wt->pp_lock);
	strscpy(res, wt->pp_result, sizeof(res));
	spin_unlock(&wt->pp_lock);
	seq_printf(s, "%s\n", res);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(wt_pp_result);

/* ---- probe / remove ---- */

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
	debugfs_create_file("check", 0600, wt->dir, wt, &wt_check_fops);
	debugfs_create_file("bench_memcpy", 0600, wt->dir, wt,
			    &wt_bench_fops);
	debugfs_create_file("pingpong", 0200, wt->dir, wt, &wt_pp_fops);
	debugfs_create_file("pingpong_result", 0400, wt->dir, wt,
			    &wt_pp_result_fops);
}

static void wt_free_window(struct wt_ctx *wt)
{
	if (wt->trans_set)
		ntb_mw_clear_trans(wt->ntb, WT_PIDX, WT_MW_IDX);
	if (wt->buf)
		dma_free_coherent(wt->dma_dev, wt->buf_size, wt->buf,
				  wt->buf_dma);
	if (wt->mw)
		iounmap(wt->mw);
}

static int wt_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct wt_ctx *wt;
	int ret;

	wt = kzalloc(sizeof(*wt), GFP_KERNEL);
	if (!wt)
		return -ENOMEM;
	wt->ntb = ntb;
	mutex_init(&wt->lock);
	mutex_init(&wt->pp_mutex);
	spin_lock_init(&wt->pp_lock);
	INIT_WORK(&wt->link_work, wt_link_work);
	strscpy(wt->pp_result, "idle", sizeof(wt->pp_result));

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

	mutex_lock(&wt->pp_mutex);
	wt_pp_reap(wt);
	mutex_unlock(&wt->pp_mutex);
	vfree(wt->pp_rtt);

	ntb_link_disable(ntb);
	ntb_clear_ctx(ntb);
	cancel_work_sync(&wt->link_work);

	wt_free_window(wt);
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
