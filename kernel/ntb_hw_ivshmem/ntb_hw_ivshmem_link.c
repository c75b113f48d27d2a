// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: our side area, the heartbeat and the link state.
 *
 * Our side area (layout and rules in include/ntb-ivshmem.h) says that we are
 * loaded, under which session, whether our link is enabled (it is from the
 * start; ntb_link_disable() and ntb_link_enable() change it), and carries a
 * heartbeat that a timer increments every NTB_IVSHMEM_HB_PERIOD_MS.  A
 * delayed work polls the peer's side area as often, and at once when the peer
 * raises our control vector.  The link is up while both sides are loaded and
 * enabled and the peer's heartbeat advances under one session; a heartbeat
 * that stops for hb_timeout_ms (module parameter, 600 by default), an unload
 * (state 0) or a new session (the peer restarted) takes it down.
 */

#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/jiffies.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/random.h>

#include "ntb_hw_ivshmem.h"

#define NTB_IVSHMEM_HB_PERIOD_MS	100

/*
 * Link down after this long without a peer heartbeat: by default reported
 * within 1 s.  A slower guest (a sanitizer kernel under TCG stalls a vCPU
 * for more than 600 ms at times) needs more, or it loses a live link.
 */
static unsigned int hb_timeout_ms = 600;
module_param(hb_timeout_ms, uint, 0444);
MODULE_PARM_DESC(hb_timeout_ms,
		 "Link down after this many ms without a peer heartbeat (default: 600, at least 300)");

/* What we read of the peer's side area in one poll. */
struct ntb_ivshmem_snap {
	u32 session;	/* 0: no live side area */
	u32 state;
	u32 heartbeat;
	u32 spad_count;
	u32 msg_count;
	u64 plain_bar_size;
	bool mw_match;	/* it published the same memory windows as ours */
};

static unsigned long ntb_ivshmem_period(void)
{
	return msecs_to_jiffies(NTB_IVSHMEM_HB_PERIOD_MS);
}

/* Raise the peer's control vector: "look at my side area". */
void ntb_ivshmem_kick_peer(struct ntb_ivshmem_dev *nd)
{
	/* Our side area stores must reach the peer before its interrupt. */
	wmb();
	iowrite32(nd->db->peer_id << 16 | NTB_IVSHMEM_CTRL_VECTOR,
		  nd->db->regs + IVSHMEM_REG_DOORBELL);
}

/* Poll the peer's side area now instead of at the next period. */
void ntb_ivshmem_poll_soon(struct ntb_ivshmem_dev *nd)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->lock, flags);
	if (!nd->stopped)
		mod_delayed_work(system_wq, &nd->poll_work, 0);
	spin_unlock_irqrestore(&nd->lock, flags);
}

/* Publish our state word; the caller holds nd->lock. */
static void ntb_ivshmem_write_state(struct ntb_ivshmem_dev *nd)
{
	u32 state = 0;

	if (!nd->stopped) {
		state = NTB_IVSHMEM_STATE_LOADED;
		if (nd->link_enabled)
			state |= NTB_IVSHMEM_STATE_LINK_EN;
	}
	nd->state = state;
	/* Our state word: we are its only writer. */
	iowrite32(state, &nd->own->state);
}

/*
 * (Re)initialise and publish our side area.  Called once per pairing,
 * before anything else runs, so it needs no lock.
 */
void ntb_ivshmem_side_init(struct ntb_ivshmem_dev *nd)
{
	struct ntb_ivshmem_side __iomem *own = nd->own;
	u32 old = ioread32(&own->session);
	u32 session;

	/*
	 * We are the only writer of every word of our side area except the
	 * scratchpads.  Withdraw whatever a previous load of ours left ...
	 */
	iowrite32(0, &own->session);
	iowrite32(0, &own->state);
	iowrite32(0, &own->msg_ack_session);
	/* ... and make that visible before any other word changes. */
	wmb();
	memset_io(own, 0, sizeof(*own));
	iowrite32(NTB_IVSHMEM_SIDE_MAGIC, &own->magic);
	iowrite32(NTB_IVSHMEM_SIDE_VERSION, &own->version);
	iowrite32(nd->spad_count, &own->spad_count);
	iowrite32(nd->msg_count, &own->msg_count);
	lo_hi_writeq(nd->win->size, &own->plain_bar_size);
	ntb_ivshmem_mw_publish(nd);
	ntb_ivshmem_msg_init(nd);

	do {
		session = get_random_u32();
	} while (!session || session == old);
	nd->session = session;
	/* Every word above must be visible before the session that covers it. */
	wmb();
	iowrite32(session, &own->session);
	ntb_ivshmem_write_state(nd);
}

/* The peer's session if its side area is live enough to read, else 0. */
u32 ntb_ivshmem_peer_session(struct ntb_ivshmem_dev *nd)
{
	struct ntb_ivshmem_side __iomem *peer = nd->peer;

	if (ioread32(&peer->magic) != NTB_IVSHMEM_SIDE_MAGIC ||
	    ioread32(&peer->version) != NTB_IVSHMEM_SIDE_VERSION)
		return 0;

	return ioread32(&peer->session);
}

static void ntb_ivshmem_read_peer(struct ntb_ivshmem_dev *nd,
				  struct ntb_ivshmem_snap *p)
{
	struct ntb_ivshmem_side __iomem *peer = nd->peer;

	memset(p, 0, sizeof(*p));
	p->session = ntb_ivshmem_peer_session(nd);
	if (!p->session)
		return;

	/* Read the session before the words it covers ... */
	rmb();
	p->state = ioread32(&peer->state);
	p->heartbeat = ioread32(&peer->heartbeat);
	p->spad_count = ioread32(&peer->spad_count);
	p->msg_count = ioread32(&peer->msg_count);
	p->plain_bar_size = lo_hi_readq(&peer->plain_bar_size);
	p->mw_match = ntb_ivshmem_mw_match(nd);
	/* ... and again after them: a peer restart in between changes it. */
	rmb();
	if (ioread32(&peer->session) != p->session)
		p->session = 0;
}

/* Re-evaluate the link from a fresh look at the peer's side area. */
static void ntb_ivshmem_link_update(struct ntb_ivshmem_dev *nd)
{
	struct device *dev = &nd->db->pdev->dev;
	const char *why = NULL, *gone = NULL;
	struct ntb_ivshmem_snap p;
	bool present, up, event = false, alive_now = false;
	resource_size_t inbound = 0;
	unsigned long flags;

	ntb_ivshmem_read_peer(nd, &p);
	present = p.session && (p.state & NTB_IVSHMEM_STATE_LOADED);

	spin_lock_irqsave(&nd->lock, flags);
	if (!present) {
		if (nd->peer_alive)
			gone = "peer unloaded";
		nd->peer_alive = false;
		nd->peer_session = 0;
	} else if (p.session != nd->peer_session) {
		/* New session: it counts once its heartbeat advances. */
		if (nd->peer_alive)
			gone = "peer restarted";
		nd->peer_alive = false;
		nd->peer_session = p.session;
		nd->peer_hb = p.heartbeat;
		nd->peer_hb_time = jiffies;
	} else if (p.heartbeat != nd->peer_hb) {
		alive_now = !nd->peer_alive;
		nd->peer_alive = true;
		nd->peer_hb = p.heartbeat;
		nd->peer_hb_time = jiffies;
	} else if (nd->peer_alive &&
		   time_after(jiffies, nd->peer_hb_time +
			      msecs_to_jiffies(max(hb_timeout_ms, 300U)))) {
		gone = "peer heartbeat lost";
		nd->peer_alive = false;
	}

	if (nd->stopped)
		why = "unloading";
	else if (!nd->link_enabled)
		why = "disabled on this side";
	else if (!nd->peer_alive)
		why = gone ? gone : "peer not running";
	else if (!(p.state & NTB_IVSHMEM_STATE_LINK_EN))
		why = "disabled on the peer side";
	else if (!p.mw_match)
		why = "the peer has other memory windows (mw=)";
	up = !why;

	if (up != nd->link_up) {
		nd->link_up = up;
		event = true;
		if (up) {
			nd->inbound_size =
				ntb_ivshmem_check_inbound(nd, p.plain_bar_size);
			inbound = nd->inbound_size;
		}
	}
	spin_unlock_irqrestore(&nd->lock, flags);

	if (present && !p.mw_match && p.session != nd->mw_warned) {
		nd->mw_warned = p.session;
		dev_warn(dev, "the link stays down: peer %u has other memory windows (mw=) than ours\n",
			 nd->db->peer_id);
	}
	if (alive_now)
		dev_info(dev, "peer %u running (session %#010x)\n",
			 nd->db->peer_id, p.session);
	if (gone)
		dev_info(dev, "%s (peer %u)\n", gone, nd->db->peer_id);
	if (!event)
		return;

	if (up) {
		dev_info(dev, "link up: port %u <-> port %u, inbound window %pa bytes\n",
			 nd->db->own_id, nd->db->peer_id, &inbound);
		if (p.spad_count != nd->spad_count ||
		    p.msg_count != nd->msg_count)
			dev_warn(dev, "peer has %u scratchpads and %u message registers, we have %d and %d: use the same hide_spads/hide_msgs on both sides\n",
				 p.spad_count, p.msg_count, nd->spad_count,
				 nd->msg_count);
	} else {
		dev_info(dev, "link down: %s\n", why);
	}
	ntb_link_event(&nd->ntb);
}

void ntb_ivshmem_poll_work(struct work_struct *work)
{
	struct ntb_ivshmem_dev *nd = container_of(to_delayed_work(work),
						  struct ntb_ivshmem_dev,
						  poll_work);
	unsigned long flags;

	ntb_ivshmem_link_update(nd);
	if (nd->msg_count)
		ntb_ivshmem_msg_poll(nd);

	spin_lock_irqsave(&nd->lock, flags);
	if (!nd->stopped)
		queue_delayed_work(system_wq, &nd->poll_work,
				   ntb_ivshmem_period());
	spin_unlock_irqrestore(&nd->lock, flags);
}

/* A timer, not a work: the heartbeat must stay punctual under load. */
void ntb_ivshmem_hb_timer(struct timer_list *t)
{
	struct ntb_ivshmem_dev *nd = from_timer(nd, t, hb_timer);
	unsigned long flags;

	/* Our heartbeat word: we are its only writer. */
	iowrite32(++nd->heartbeat, &nd->own->heartbeat);

	spin_lock_irqsave(&nd->lock, flags);
	if (!nd->stopped)
		mod_timer(&nd->hb_timer, jiffies + ntb_ivshmem_period());
	spin_unlock_irqrestore(&nd->lock, flags);
}

void ntb_ivshmem_link_start(struct ntb_ivshmem_dev *nd)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->lock, flags);
	mod_timer(&nd->hb_timer, jiffies + ntb_ivshmem_period());
	mod_delayed_work(system_wq, &nd->poll_work, 0);
	spin_unlock_irqrestore(&nd->lock, flags);

	ntb_ivshmem_kick_peer(nd);
}

/*
 * Leave: withdraw our side area so that the peer sees the link go down at
 * once, and stop the heartbeat and the polling for good.
 */
void ntb_ivshmem_link_stop(struct ntb_ivshmem_dev *nd)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->lock, flags);
	nd->stopped = true;
	nd->link_up = false;
	ntb_ivshmem_write_state(nd);
	spin_unlock_irqrestore(&nd->lock, flags);
	/* Our session word: we are its only writer. */
	iowrite32(0, &nd->own->session);
	ntb_ivshmem_kick_peer(nd);

	del_timer_sync(&nd->hb_timer);
	cancel_delayed_work_sync(&nd->poll_work);
}

/*
 * A client is about to bind: give it the state of a freshly reset device,
 * whatever the previous client left (ntb_tool, for one, disables the link
 * when it goes and never enables it): link enabled, nothing masked, no
 * failed message writes.  Pending doorbells and messages stay.
 */
void ntb_ivshmem_client_reset(struct ntb_ivshmem_dev *nd)
{
	unsigned long flags;
	bool enable;

	spin_lock_irqsave(&nd->lock, flags);
	enable = !nd->stopped && !nd->link_enabled;
	if (!nd->stopped) {
		nd->db_mask = 0;
		nd->msg_mask = 0;
		nd->msg_out_fail = 0;
		nd->link_enabled = true;
		ntb_ivshmem_write_state(nd);
	}
	spin_unlock_irqrestore(&nd->lock, flags);

	if (enable) {
		ntb_ivshmem_kick_peer(nd);
		ntb_ivshmem_poll_soon(nd);
	}
}

u64 ntb_ivshmem_link_is_up(struct ntb_dev *ntb, enum ntb_speed *speed,
			   enum ntb_width *width)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;
	bool up;

	spin_lock_irqsave(&nd->lock, flags);
	up = nd->link_up && nd->link_enabled && !nd->stopped;
	spin_unlock_irqrestore(&nd->lock, flags);

	/* Made up, but plausible: what a Gen3 x4 NTB would report. */
	if (speed)
		*speed = up ? NTB_SPEED_GEN3 : NTB_SPEED_NONE;
	if (width)
		*width = up ? NTB_WIDTH_4 : NTB_WIDTH_NONE;

	return up ? BIT_ULL(0) : 0;
}

static int ntb_ivshmem_link_set(struct ntb_dev *ntb, bool enable)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;
	bool stopped;

	spin_lock_irqsave(&nd->lock, flags);
	stopped = nd->stopped;
	if (!stopped) {
		nd->link_enabled = enable;
		ntb_ivshmem_write_state(nd);
	}
	spin_unlock_irqrestore(&nd->lock, flags);
	if (stopped)
		return enable ? -ENODEV : 0;

	ntb_ivshmem_kick_peer(nd);
	ntb_ivshmem_poll_soon(nd);

	return 0;
}

int ntb_ivshmem_link_enable(struct ntb_dev *ntb, enum ntb_speed max_speed,
			    enum ntb_width max_width)
{
	return ntb_ivshmem_link_set(ntb, true);
}

int ntb_ivshmem_link_disable(struct ntb_dev *ntb)
{
	return ntb_ivshmem_link_set(ntb, false);
}
