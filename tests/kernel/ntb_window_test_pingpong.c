// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_window_test - pingpong: round trips of a u64 word through the two
 * windows, one side pinging, the other echoing; run by a kthread.
 */

#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "ntb_window_test.h"

#define WT_PP_MAX_ITERS		1000000
#define WT_PP_TIMEOUT_NS	(30ULL * NSEC_PER_SEC)
#define WT_PP_RESEND_NS		(50ULL * NSEC_PER_MSEC)
#define WT_PP_SPIN_MASK		0xff	/* clock/resched check period */

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
	u32 done = 0, resends = 0;
	int ret;

	ret = ping ? wt_pp_ping(wt, &done, &resends) : wt_pp_pong(wt, &done);
	if (!ret && ping)
		sort(wt->pp_rtt, done, sizeof(u64), wt_cmp_u64, NULL);

	mutex_lock(&wt->pp_lock);
	if (ret == -ETIMEDOUT)
		wt_status_set(&wt->pp, "timeout iters=%u role=%s", done, role);
	else if (ret)
		wt_status_set(&wt->pp, "stopped iters=%u role=%s", done, role);
	else if (ping)
		wt_status_set(&wt->pp,
			      "iters=%u rtt_ns_median=%llu oneway_ns_median=%llu rtt_ns_min=%llu rtt_ns_max=%llu resends=%u role=ping",
			      done, wt->pp_rtt[done / 2],
			      wt->pp_rtt[done / 2] / 2, wt->pp_rtt[0],
			      wt->pp_rtt[done - 1], resends);
	else
		wt_status_set(&wt->pp, "iters=%u role=pong", done);
	wt->pp_running = false;
	mutex_unlock(&wt->pp_lock);
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

	mutex_lock(&wt->pp_lock);
	if (wt->pp_running) {
		/* Stopped before the thread function ran. */
		wt_status_set(&wt->pp, "stopped iters=0");
		wt->pp_running = false;
	}
	mutex_unlock(&wt->pp_lock);
}

/* Stops a run under way and frees what ping-pong holds; for remove. */
void wt_pp_stop(struct wt_ctx *wt)
{
	mutex_lock(&wt->pp_mutex);
	wt_pp_reap(wt);
	mutex_unlock(&wt->pp_mutex);
	vfree(wt->pp_rtt);
}

/* "PEER_ADDR ROLE ITERS": starts a run and returns at once. */
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
	mutex_lock(&wt->pp_lock);
	running = wt->pp_running;
	mutex_unlock(&wt->pp_lock);
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
	mutex_lock(&wt->pp_lock);
	wt->pp_running = true;
	wt_status_set(&wt->pp, "running");
	mutex_unlock(&wt->pp_lock);

	/* kthread_run() orders the parameter stores above before the thread. */
	task = kthread_run(wt_pp_thread, wt, "ntb_wt_%s",
			   role == WT_PP_PING ? "ping" : "pong");
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		mutex_lock(&wt->pp_lock);
		wt->pp_running = false;
		wt_status_clear(&wt->pp);
		mutex_unlock(&wt->pp_lock);
		goto unlock;
	}
	get_task_struct(task);
	wt->pp_task = task;
	ret = count;
unlock:
	mutex_unlock(&wt->pp_mutex);
	return ret;
}

const struct file_operations wt_pp_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = wt_pp_write,
	.llseek = noop_llseek,
};
