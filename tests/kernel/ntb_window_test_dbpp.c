// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - dbpingpong: round trips of a doorbell, interrupt to
 * interrupt.  The pinging side rings the peer's doorbell WT_DB_PING; the
 * peer's doorbell handler (hard interrupt context, this module on the other
 * side) rings ours, WT_DB_PONG, at once; our handler takes the time and
 * rings the next ping.  Nothing but the two interrupt paths is measured: no
 * thread, no work item, no memory window.
 *
 * Every loaded instance answers WT_DB_PING whether or not it pings itself,
 * so only the pinging side needs a command.  A pong nobody waits for is
 * ignored.
 */

#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/ntb.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "ntb_window_test.h"

#define WT_DBPP_MAX_ITERS	100000
#define WT_DBPP_TIMEOUT		(10 * HZ)	/* a lost doorbell ends a run */

static int wt_dbpp_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * A pong arrived (hard interrupt context): time the round trip that it ends
 * and start the next, or wake the command after the last.
 */
static void wt_dbpp_pong(struct wt_ctx *wt)
{
	u64 now = ktime_get_ns();
	bool again = false;

	spin_lock(&wt->dbpp_lock);
	if (wt->dbpp_rtt && wt->dbpp_done < wt->dbpp_iters) {
		wt->dbpp_rtt[wt->dbpp_done++] = now - wt->dbpp_t0;
		if (wt->dbpp_done < wt->dbpp_iters) {
			wt->dbpp_t0 = ktime_get_ns();
			again = true;
		} else {
			complete(&wt->dbpp_end);
		}
	}
	spin_unlock(&wt->dbpp_lock);

	if (again)
		ntb_peer_db_set(wt->ntb, BIT_ULL(WT_DB_PING));
}

/* ntb_ctx_ops.db_event: hard interrupt context. */
void wt_db_event(void *ctx, int vector)
{
	struct wt_ctx *wt = ctx;
	u64 bits;

	bits = ntb_db_read(wt->ntb) & ntb_db_vector_mask(wt->ntb, vector);
	if (!bits)
		return;
	/* Cleared before the answer: a ping rung after it is not lost. */
	ntb_db_clear(wt->ntb, bits);

	if (bits & BIT_ULL(WT_DB_PING))
		ntb_peer_db_set(wt->ntb, BIT_ULL(WT_DB_PONG));
	if (bits & BIT_ULL(WT_DB_PONG))
		wt_dbpp_pong(wt);
}

/*
 * "ITERS": ITERS doorbell round trips with the peer; returns when they are
 * done or one was not answered within WT_DBPP_TIMEOUT.
 */
static ssize_t wt_dbpp_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct wt_ctx *wt = file->private_data;
	u64 iters, *rtt;
	u32 done;
	int ret;

	ret = wt_get_u64s(ubuf, count, &iters, 1, 1);
	if (ret < 0)
		return ret;
	if (!iters || iters > WT_DBPP_MAX_ITERS)
		return -EINVAL;
	if (!(ntb_link_is_up(wt->ntb, NULL, NULL) & BIT_ULL(WT_PIDX)))
		return -ENOLINK;
	rtt = vmalloc_array(iters, sizeof(u64));
	if (!rtt)
		return -ENOMEM;

	if (mutex_lock_interruptible(&wt->dbpp_mutex)) {
		vfree(rtt);
		return -EINTR;
	}
	reinit_completion(&wt->dbpp_end);
	spin_lock_irq(&wt->dbpp_lock);
	wt->dbpp_rtt = rtt;
	wt->dbpp_iters = iters;
	wt->dbpp_done = 0;
	wt->dbpp_t0 = ktime_get_ns();
	spin_unlock_irq(&wt->dbpp_lock);
	ntb_peer_db_set(wt->ntb, BIT_ULL(WT_DB_PING));

	wait_for_completion_timeout(&wt->dbpp_end, WT_DBPP_TIMEOUT);
	/* Once rtt is unhooked no pong touches it: read without the lock. */
	spin_lock_irq(&wt->dbpp_lock);
	done = wt->dbpp_done;
	wt->dbpp_rtt = NULL;
	spin_unlock_irq(&wt->dbpp_lock);

	/* dbpp_status.lock is dbpp_mutex: a read waits for a run. */
	if (done < iters) {
		wt_status_set(&wt->dbpp_status, "timeout iters=%u", done);
	} else {
		sort(rtt, done, sizeof(u64), wt_dbpp_cmp, NULL);
		wt_status_set(&wt->dbpp_status,
			      "iters=%u rtt_ns_median=%llu rtt_ns_min=%llu rtt_ns_max=%llu",
			      done, rtt[done / 2], rtt[0], rtt[done - 1]);
	}
	vfree(rtt);
	mutex_unlock(&wt->dbpp_mutex);
	return done < iters ? -ETIMEDOUT : count;
}

const struct file_operations wt_dbpp_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_dbpp_write,
	.llseek = noop_llseek,
};
