/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntb_window_test - private header: the per-device context and what the
 * parts of the module share.  The debugfs interface is described in
 * ntb_window_test_main.c.
 */
#ifndef NTB_WINDOW_TEST_H
#define NTB_WINDOW_TEST_H

#include <linux/completion.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

struct ntb_dev;
struct task_struct;

#define WT_PIDX			0	/* the one peer */
#define WT_MW_IDX		0	/* the window over the peer's RAM */

#define WT_INPUT_MAX		128	/* longest debugfs command */
#define WT_MAX_TOKENS		4

#define WT_COPY_CHUNK		SZ_64K	/* peer_write and check bounce buffer */

/*
 * Ping-pong words, each a naturally aligned u64 inside the buffers:
 * WT_PP_PING_OFF in the pong side's buffer is written only by the ping side
 * (through its window) and read only by the pong side; WT_PP_PONG_OFF in the
 * ping side's buffer is written only by the pong side and read only by the
 * ping side.  The reader zeroes its word once before the run starts.
 */
#define WT_PP_PING_OFF		0
#define WT_PP_PONG_OFF		64

/*
 * Doorbell ping-pong: the pinging side rings the peer's WT_DB_PING, the
 * peer answers by ringing WT_DB_PONG of the pinging side.
 */
#define WT_DB_PING		0
#define WT_DB_PONG		1

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

enum wt_state {
	WT_PENDING,
	WT_OK,
	WT_FAIL,
};

struct wt_result {
	enum wt_state state;
	char detail[96];
};

/*
 * The last result of a command (check, bench_memcpy, pingpong), one line
 * shown by a debugfs file: "idle" while text is empty.
 */
struct wt_status {
	/*
	 * Protects text.  wt->lock for check and bench: their command
	 * holds it while it runs, so a read waits for a command under way.
	 */
	struct mutex *lock;
	char text[192];
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
	 * the ping-pong ones; protects res[], the alignment values, trans_set
	 * and the text of check and bench.
	 */
	struct mutex lock;
	struct work_struct link_work;
	struct wt_result res[WT_CHK_NR];
	resource_size_t addr_align;
	resource_size_t size_align;
	resource_size_t size_max;
	bool trans_set;
	struct wt_status check;
	struct wt_status bench;
	struct wt_status dma_bench;

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
	/* pp_lock protects pp_running and the text of pp. */
	struct mutex pp_lock;
	bool pp_running;
	struct wt_status pp;

	/*
	 * Doorbell ping-pong: dbpp_mutex serialises runs (a run holds it
	 * from start to result) and is dbpp_status's lock.
	 */
	struct mutex dbpp_mutex;
	struct wt_status dbpp_status;
	/* Taken in the doorbell interrupt: protects the run's state below. */
	spinlock_t dbpp_lock;
	struct completion dbpp_end;
	u64 *dbpp_rtt;		/* NULL: no run, pongs are ignored */
	u32 dbpp_iters;
	u32 dbpp_done;
	u64 dbpp_t0;
};

/* ntb_window_test_main.c: debugfs commands and result files */
int wt_get_tokens(const char __user *ubuf, size_t count, char *kbuf,
		  char **toks);
int wt_parse_u64(const char *s, u64 *val);
int wt_get_u64s(const char __user *ubuf, size_t count, u64 *vals,
		int min, int max);
int wt_check_peer(struct wt_ctx *wt, u64 peer);
__printf(2, 3) void wt_status_set(struct wt_status *st, const char *fmt, ...);
int wt_status_open(struct inode *inode, struct file *file);

/* Shown as "idle". */
static inline void wt_status_clear(struct wt_status *st)
{
	st->text[0] = '\0';
}

/* ntb_window_test_selftest.c: window, buffer and the contract checks */
void wt_setup_window(struct wt_ctx *wt);
void wt_free_window(struct wt_ctx *wt);
void wt_check_inbound(struct wt_ctx *wt);
extern const struct file_operations wt_selftest_fops;

/* ntb_window_test_xfer.c: the pattern, buf_fill, peer_write, check */
void wt_pattern_fill(u8 *dst, u64 seed, u64 off, size_t len);
/*
 * "PEER_ADDR OFF LEN SEED" of peer_write and dma_write: parsed, the peer
 * address checked, [OFF, OFF + LEN) inside the buffer.  0 or -errno.
 */
int wt_get_xfer(struct wt_ctx *wt, const char __user *ubuf, size_t count,
		u64 *peer, u64 *off, u64 *len, u64 *seed);
extern const struct file_operations wt_buf_fill_fops;
extern const struct file_operations wt_peer_write_fops;
extern const struct file_operations wt_check_fops;

/* ntb_window_test_dma.c: dma_write, dma_fault, dma_bench */
extern const struct file_operations wt_dma_write_fops;
extern const struct file_operations wt_dma_fault_fops;
extern const struct file_operations wt_dma_bench_fops;

/* ntb_window_test_bench.c: bench_memcpy */
extern const struct file_operations wt_bench_fops;

/* ntb_window_test_pingpong.c: pingpong */
void wt_pp_stop(struct wt_ctx *wt);
extern const struct file_operations wt_pp_fops;

/* ntb_window_test_dbpp.c: dbpingpong */
void wt_db_event(void *ctx, int vector);
extern const struct file_operations wt_dbpp_fops;

#endif /* NTB_WINDOW_TEST_H */
