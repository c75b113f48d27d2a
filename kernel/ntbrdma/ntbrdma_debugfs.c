// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: debugfs, /sys/kernel/debug/ntbrdma/<ntb device>/
 *
 *   state      link state, sessions, ring indices, self-test counters
 *   ctrl_stats control channel flow control: messages sent, queued (and
 *              how long they waited), queue depth and peak, full ring,
 *              requests for room, doorbells rung and saved (the peer
 *              was draining); link downs by cause
 *   ctrl_ping  write N: send N numbered control messages of varying length;
 *              the peer checks order and contents and answers each with a
 *              pong, which we check in turn (counters in state)
 *   inject     write "ctrl" or "net": write a producer index no valid
 *              peer writes into the peer's area, as a broken peer would; the
 *              peer must reset the link (and recover), never crash.  Write
 *              "ctrl-stall": stop consuming control messages until the next
 *              session, as a stuck or hostile peer would (the peer's queue
 *              of answers must reach its bound and reset the link)
 *   coverage   what the peer's writes reach (Documentation/memory-windows.md):
 *              the inbound coverage in DMA addresses, whether an IOMMU
 *              translates for the NTB device, whether swiotlb bounces every
 *              mapping, the highest physical address registrable without
 *              an IOMMU, the end of RAM; then one line per inbound window
 *              (its DMA range) and, while the link is ready, one per peer
 *              window (the peer's DMA range it reaches, from its hello)
 *   ctrl_send  write "TYPE HEX": send one control message of TYPE with the
 *              payload HEX (two digits a byte, at most NTBR_CTRL_MAX_PAYLOAD
 *              bytes) as a hostile or corrupt peer would: whatever the
 *              RDMA half's handlers on the peer accept from a real peer,
 *              forged (tests of the peer's validation)
 */

#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ntbrdma_transport.h"

#define NTBR_PING_HDR sizeof(__le32)

static struct dentry *ntbr_dbg_root;
static DEFINE_MUTEX(ntbr_ping_lock);	/* one ctrl_ping writer at a time */

static const char *const ntbr_state_names[] = {
	[NTBR_DOWN] = "down",
	[NTBR_HANDSHAKE] = "handshake",
	[NTBR_READY] = "ready",
};

static int ntbr_state_show(struct seq_file *s, void *unused)
{
	struct ntbr_dev *nd = s->private;

	seq_printf(s, "state %s\nready %d\nbring-up %s\n",
		   ntbr_state_names[READ_ONCE(nd->state)],
		   READ_ONCE(nd->ready),
		   nd->use_msg ? "message registers" : "scratchpads");
	seq_printf(s, "session %#010x\npeer_session %#010x\npeer_area %#llx\n",
		   READ_ONCE(nd->session), READ_ONCE(nd->peer_session),
		   READ_ONCE(nd->peer_area));
	seq_printf(s, "ctrl_out_prod %u\nctrl_out_cons %u\nctrl_in_cons %u\n",
		   READ_ONCE(nd->ctrl_out_prod), READ_ONCE(nd->ctrl_out_cons),
		   READ_ONCE(nd->ctrl_in_cons));
	seq_printf(s, "ping_ok %u\nping_bad %u\npong_ok %u\npong_bad %u\n",
		   READ_ONCE(nd->ping_ok), READ_ONCE(nd->ping_bad),
		   READ_ONCE(nd->pong_ok), READ_ONCE(nd->pong_bad));

	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_state);

/* The window layouts: fixed once covered; the peer's only while ready. */
static void ntbr_windows_show(struct seq_file *s, struct ntbr_dev *nd,
			      u64 coverage)
{
	const struct ntbr_out_win *o;
	int i, idx;

	for (i = 0; coverage && i < nd->in_count; i++)
		seq_printf(s, "window %d 0x%llx-0x%llx\n", nd->in_win[i].widx,
			   nd->in_win[i].base,
			   nd->in_win[i].base + nd->in_win[i].size - 1);
	idx = srcu_read_lock(&nd->srcu);
	for (i = 0; READ_ONCE(nd->ready) && i < nd->out_count; i++) {
		o = &nd->out_win[i];
		seq_printf(s, "peer_window %d 0x%llx-0x%llx\n", o->widx,
			   o->base, o->base + o->size - 1);
	}
	srcu_read_unlock(&nd->srcu, idx);
}

static int ntbr_coverage_show(struct seq_file *s, void *unused)
{
	struct ntbr_dev *nd = s->private;
	struct ntbr_reach r;

	ntbr_reach_info(nd, &r);
	if (r.coverage)
		seq_printf(s, "coverage 0x0-%#llx (%llu bytes)\n",
			   r.coverage - 1, r.coverage);
	else
		seq_puts(s, "coverage none (no NTB link yet)\n");
	seq_printf(s, "iommu_translates %s\nswiotlb_force_bounce %s\n",
		   r.iommu ? "yes" : "no", r.force_bounce ? "yes" : "no");
	if (r.coverage && !r.force_bounce)
		seq_printf(s, "max_phys_without_iommu %pa\n", &r.max_phys);
	else
		seq_puts(s, "max_phys_without_iommu none\n");
	seq_printf(s, "ram_end %pa\n", &r.ram_end);
	seq_printf(s, "all_ram_reachable %s\n", r.all_ram ? "yes" : "no");
	ntbr_windows_show(s, nd, r.coverage);

	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_coverage);

/* Control channel flow control (ntbrdma_ctrl.c); link downs by cause. */
static int ntbr_ctrl_stats_show(struct seq_file *s, void *unused)
{
	struct ntbr_dev *nd = s->private;
	struct ntbr_ctrl_stats st;
	unsigned long flags;
	u32 depth, count;
	const char *why;
	int i;

	spin_lock_irqsave(&nd->ctrl_lock, flags);
	st = nd->ctrl_stats;
	depth = nd->ctrl_q_len;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	seq_printf(s, "sent %llu\nqueued %llu\ndepth %u\npeak %u\nfull %llu\n",
		   st.sent, st.queued, depth, st.peak, st.full);
	seq_printf(s, "wait_us %llu\nwait_max_us %llu\n",
		   div_u64(st.wait_ns, NSEC_PER_USEC),
		   div_u64(st.wait_max_ns, NSEC_PER_USEC));
	seq_printf(s, "arms %llu\nroom_doorbells %llu\n", st.arms,
		   READ_ONCE(nd->ctrl_stats.room_doorbells));
	seq_printf(s, "discarded %llu\noverflows %llu\n", st.discarded,
		   st.overflows);
	seq_printf(s, "doorbells %llu\ndb_saved %llu\n", st.doorbells,
		   st.db_saved);
	for (i = 0; i < NTBR_DOWN_CAUSES; i++) {
		spin_lock_irqsave(&nd->lock, flags);
		why = nd->down_causes[i].why;
		count = nd->down_causes[i].count;
		spin_unlock_irqrestore(&nd->lock, flags);
		if (!why)
			break;
		seq_printf(s, "link_down %u %s\n", count, why);
	}

	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ntbr_ctrl_stats);

static void ntbr_ping_fill(u8 *buf, u32 seq, size_t len)
{
	size_t i;

	for (i = NTBR_PING_HDR; i < len; i++)
		buf[i] = (u8)(seq + i);
}

static size_t ntbr_ping_len(u32 seq)
{
	return NTBR_PING_HDR + seq % (NTBR_CTRL_MAX_PAYLOAD - NTBR_PING_HDR + 1);
}

static ssize_t ntbr_ping_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct ntbr_dev *nd = file->private_data;
	u8 buf[NTBR_CTRL_MAX_PAYLOAD];
	unsigned int n, i;
	__le32 seq;
	size_t len;
	int ret;

	ret = kstrtouint_from_user(ubuf, count, 0, &n);
	if (ret)
		return ret;
	mutex_lock(&ntbr_ping_lock);
	for (i = 0; i < n; i++) {
		seq = cpu_to_le32(nd->ping_seq);
		len = ntbr_ping_len(nd->ping_seq);
		memcpy(buf, &seq, sizeof(seq));
		ntbr_ping_fill(buf, nd->ping_seq, len);
		/* Our own initiative: hold back while the queue is long. */
		ret = ntbr_ctrl_wait_room(nd);
		if (!ret)
			ret = ntbr_ctrl_xmit(nd, NTBR_CTRL_PING, buf, len);
		if (ret)
			break;
		nd->ping_seq++;
	}
	mutex_unlock(&ntbr_ping_lock);

	return ret ? ret : count;
}

static const struct file_operations ntbr_ping_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = ntbr_ping_write,
	.llseek = no_llseek,
};

static ssize_t ntbr_inject_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct ntbr_dev *nd = file->private_data;
	char cmd[16] = {};
	int idx;

	if (copy_from_user(cmd, ubuf, min(count, sizeof(cmd) - 1)))
		return -EFAULT;
	if (sysfs_streq(cmd, "net")) {
		ntbr_net_inject(nd);
	} else if (sysfs_streq(cmd, "ctrl-stall")) {
		/* Until the next session, as a peer that stopped consuming. */
		WRITE_ONCE(nd->ctrl_stalled, true);
	} else if (sysfs_streq(cmd, "ctrl")) {
		idx = srcu_read_lock(&nd->srcu);
		if (READ_ONCE(nd->ready)) {
			ntbr_win_write32(nd,
					 ntbr_peer_field(nd, ctrl_in_prod.val),
					 READ_ONCE(nd->ctrl_out_prod) + 1000);
			ntbr_peer_db(nd, NTBR_DB_CTRL);
		}
		srcu_read_unlock(&nd->srcu, idx);
	} else {
		return -EINVAL;
	}

	return count;
}

static ssize_t ntbr_ctrl_send_write(struct file *file,
				    const char __user *ubuf, size_t count,
				    loff_t *ppos)
{
	struct ntbr_dev *nd = file->private_data;
	char *buf, *hex;
	unsigned int type;
	size_t len;
	u8 *msg;
	int ret;

	if (count > 16 + 2 * NTBR_CTRL_MAX_PAYLOAD)
		return -EINVAL;
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	msg = kzalloc(NTBR_CTRL_MAX_PAYLOAD, GFP_KERNEL);
	ret = msg ? 0 : -ENOMEM;
	hex = strchr(buf, ' ');
	if (!ret && !hex)
		ret = -EINVAL;
	if (!ret) {
		*hex++ = '\0';
		hex = strim(hex);
		len = strlen(hex) / 2;
		ret = kstrtouint(buf, 0, &type);
	}
	if (!ret && (type < NTBR_CTRL_TYPE_IB || type >= NTBR_CTRL_TYPE_MAX ||
		     len > NTBR_CTRL_MAX_PAYLOAD || strlen(hex) % 2))
		ret = -EINVAL;
	if (!ret && hex2bin(msg, hex, len))
		ret = -EINVAL;
	if (!ret)
		ret = ntbr_ctrl_xmit(nd, type, msg, len);
	kfree(msg);
	kfree(buf);
	return ret ? ret : count;
}

static const struct file_operations ntbr_ctrl_send_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = ntbr_ctrl_send_write,
	.llseek = no_llseek,
};

static const struct file_operations ntbr_inject_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = ntbr_inject_write,
	.llseek = no_llseek,
};

/* Transport-internal control messages (ordered workqueue). */
void ntbr_dbg_ctrl(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len)
{
	u8 want[NTBR_CTRL_MAX_PAYLOAD];
	__le32 raw;
	u32 seq;

	if (len < NTBR_PING_HDR)
		return;
	memcpy(&raw, payload, sizeof(raw));
	seq = le32_to_cpu(raw);

	if (type == NTBR_CTRL_PING) {
		ntbr_ping_fill(want, seq, len);
		if (seq == nd->ping_next && len == ntbr_ping_len(seq) &&
		    !memcmp(want + NTBR_PING_HDR,
			    (const u8 *)payload + NTBR_PING_HDR,
			    len - NTBR_PING_HDR))
			nd->ping_ok++;
		else
			nd->ping_bad++;
		nd->ping_next = seq + 1;
		/* An answer: queued if need be, never waited for. */
		ntbr_ctrl_xmit(nd, NTBR_CTRL_PONG, &raw, sizeof(raw));
	} else if (type == NTBR_CTRL_PONG) {
		if (seq == nd->pong_next)
			nd->pong_ok++;
		else
			nd->pong_bad++;
		nd->pong_next = seq + 1;
	}
}

void ntbr_debugfs_add(struct ntbr_dev *nd)
{
	nd->dbg = debugfs_create_dir(dev_name(&nd->ntb->dev), ntbr_dbg_root);
	debugfs_create_file("state", 0400, nd->dbg, nd, &ntbr_state_fops);
	debugfs_create_file("ctrl_stats", 0400, nd->dbg, nd,
			    &ntbr_ctrl_stats_fops);
	debugfs_create_file("coverage", 0400, nd->dbg, nd, &ntbr_coverage_fops);
	debugfs_create_file("ctrl_ping", 0200, nd->dbg, nd, &ntbr_ping_fops);
	debugfs_create_file("inject", 0200, nd->dbg, nd, &ntbr_inject_fops);
	debugfs_create_file("ctrl_send", 0200, nd->dbg, nd,
			    &ntbr_ctrl_send_fops);
	ntbr_dma_debugfs(nd, nd->dbg);
}

void ntbr_debugfs_remove(struct ntbr_dev *nd)
{
	debugfs_remove_recursive(nd->dbg);
	nd->dbg = NULL;
}

void ntbr_debugfs_init(void)
{
	ntbr_dbg_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void ntbr_debugfs_exit(void)
{
	debugfs_remove_recursive(ntbr_dbg_root);
}
