// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: the control channel (Documentation/control-channel.md).
 *
 * One ring per direction (ntbrdma_ring.h): we produce into the peer's
 * ctrl_in[] and ctrl_in_prod, the peer writes back how far it consumed into
 * our ctrl_out_cons; the peer produces into our ctrl_in[] and ctrl_in_prod,
 * we write our consumer index into its ctrl_out_cons.  The consumer is
 * ctrl_work on the device's ordered workqueue; it only runs when asked,
 * by doorbell NTBR_DB_CTRL.  Handlers run in that work, in order, in
 * process context.
 *
 * Doorbells.  A producer rings for its messages only when the consumer
 * armed since it last rang: ctrl_work, finding the ring empty, writes a
 * new value into the producer's ctrl_out_armed and looks at the ring once
 * more; the producer, after it published a message, rings if that word
 * changed.  Both make their write visible to the other before they read
 * (write barrier, a read back through the window, full barrier), so
 * either the producer sees the new arm or the consumer sees the message.
 * While the consumer drains, messages cost no interrupt.  The link work
 * runs ctrl_work every NTBR_READY_POLL as well (ntbr_ctrl_backstop).
 *
 * Flow control.  A message that finds the peer's ring full, or others
 * waiting before it, goes to the tail of ctrl_q: no sender ever waits for
 * the peer and no message is dropped while the link is up.  ctrl_q moves
 * into the ring, oldest first, whenever a message is sent and in
 * ctrl_tx_work, which runs when the peer rings our doorbell and every
 * NTBR_CTRL_BACKSTOP while messages wait.  While messages wait we write a
 * new value into the peer's ctrl_in_wait (once per stall, again after each
 * progress or backstop) and ring the peer; the peer answers with a doorbell
 * once its ring is at most half full, after it wrote its consumer index.
 * Sources that can hold back ask ntbr_ctrl_congested() and are called
 * back through ntbr_ib_ctrl_room(); a queue of NTBR_CTRL_Q_MAX resets the
 * link.  Queued messages go with the link (ntbr_ctrl_discard).
 */

#include <linux/ktime.h>
#include <linux/rwsem.h>
#include <linux/slab.h>

#include "ntbrdma_transport.h"

/* While messages wait: look again this often (a doorbell lost or late). */
#define NTBR_CTRL_BACKSTOP	msecs_to_jiffies(10)
/* Below this many waiting messages again: ntbr_ib_ctrl_room(). */
#define NTBR_CTRL_Q_LOW		(NTBR_CTRL_Q_SOFT / 2)

/* A message waiting in ctrl_q for room in the peer's ring. */
struct ntbr_ctrl_msg {
	struct list_head entry;
	u64 queued_ns;
	u16 type;
	u16 len;
	u8 payload[];
};

static DECLARE_RWSEM(ntbr_ctrl_rwsem);	/* protects ntbr_ctrl_handlers */
static ntbr_ctrl_handler_t ntbr_ctrl_handlers[NTBR_CTRL_TYPE_MAX];

static void ntbr_ctrl_tx_work(struct work_struct *work);

int ntbr_ctrl_register(u16 type, ntbr_ctrl_handler_t handler)
{
	int ret = 0;

	if (type < NTBR_CTRL_TYPE_IB || type >= NTBR_CTRL_TYPE_MAX || !handler)
		return -EINVAL;
	down_write(&ntbr_ctrl_rwsem);
	if (ntbr_ctrl_handlers[type])
		ret = -EBUSY;
	else
		ntbr_ctrl_handlers[type] = handler;
	up_write(&ntbr_ctrl_rwsem);

	return ret;
}

/* On return no handler of @type runs any more. */
void ntbr_ctrl_unregister(u16 type)
{
	if (type >= NTBR_CTRL_TYPE_MAX)
		return;
	down_write(&ntbr_ctrl_rwsem);
	ntbr_ctrl_handlers[type] = NULL;
	up_write(&ntbr_ctrl_rwsem);
}

void ntbr_ctrl_init(struct ntbr_dev *nd)
{
	spin_lock_init(&nd->ctrl_lock);
	INIT_WORK(&nd->ctrl_work, ntbr_ctrl_work);
	INIT_DELAYED_WORK(&nd->ctrl_tx_work, ntbr_ctrl_tx_work);
	INIT_LIST_HEAD(&nd->ctrl_q);
	init_waitqueue_head(&nd->ctrl_room_wq);
}

/* A new session: both rings start empty (the area was zeroed). */
void ntbr_ctrl_ready(struct ntbr_dev *nd)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->ctrl_lock, flags);
	/* ntbr_ctrl_discard() emptied it when the last session ended. */
	WARN_ON_ONCE(!list_empty(&nd->ctrl_q));
	nd->ctrl_out_prod = 0;
	nd->ctrl_out_cons = 0;
	nd->ctrl_wait_seq = 0;
	nd->ctrl_armed = false;
	/* Not the peer's first arm value (0, a zeroed area): we ring first. */
	nd->ctrl_armed_seen = U32_MAX;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	nd->ctrl_arm_gen = 0;
	nd->ctrl_in_cons = 0;
	nd->ctrl_in_wait_seen = 0;
	WRITE_ONCE(nd->ctrl_stalled, false);
	nd->ping_seq = 0;
	nd->ping_next = 0;
	nd->pong_next = 0;
}

/*
 * The session ended (teardown, after no window write can run any more):
 * what still waits was for the peer of that session.  Those waiting for
 * room are told there is some.
 */
void ntbr_ctrl_discard(struct ntbr_dev *nd)
{
	struct ntbr_ctrl_msg *m, *tmp;
	unsigned long flags;
	LIST_HEAD(old);
	bool room;

	spin_lock_irqsave(&nd->ctrl_lock, flags);
	list_splice_init(&nd->ctrl_q, &old);
	nd->ctrl_stats.discarded += nd->ctrl_q_len;
	WRITE_ONCE(nd->ctrl_q_len, 0);
	room = nd->ctrl_room_wanted;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	list_for_each_entry_safe(m, tmp, &old, entry)
		kfree(m);
	wake_up_all(&nd->ctrl_room_wq);
	/* ntbr_ctrl_tx_work() makes the call, out of the link work. */
	if (room)
		mod_delayed_work(system_highpri_wq, &nd->ctrl_tx_work, 0);
}

/* Device removal, after the last doorbell and the last session. */
void ntbr_ctrl_stop(struct ntbr_dev *nd)
{
	ntbr_ctrl_discard(nd);
	/* Also the run the discard may have asked for (it requeues none). */
	cancel_delayed_work_sync(&nd->ctrl_tx_work);
}

/* Doorbell NTBR_DB_CTRL (hard irq): a message, room, or a hello. */
void ntbr_ctrl_db(struct ntbr_dev *nd)
{
	if (!READ_ONCE(nd->ready)) {
		ntbr_link_kick(nd);
		return;
	}
	queue_work(nd->wq, &nd->ctrl_work);
	if (READ_ONCE(nd->ctrl_q_len))
		mod_delayed_work(system_highpri_wq, &nd->ctrl_tx_work, 0);
}

/* --- producer: ctrl_lock held, in an SRCU section that saw ->ready ------- */

/*
 * Free slots in the peer's ring; -EIO (and the link reset) when its
 * consumer index is impossible.
 */
static int ntbr_ctrl_room_locked(struct ntbr_dev *nd)
{
	u32 cons;

	/* ctrl_out_cons: the peer (consumer) writes it; untrusted. */
	cons = le32_to_cpu(READ_ONCE(nd->area->ctrl_out_cons.val));
	if (!ntbr_index_ok(nd->ctrl_out_cons, cons,
			   nd->ctrl_out_prod - nd->ctrl_out_cons)) {
		ntbr_link_reset(nd, "bad control consumer index");
		return -EIO;
	}
	nd->ctrl_out_cons = cons;
	return NTBR_CTRL_RING - ntbr_ring_used(nd->ctrl_out_prod, cons);
}

/* Write one message into the next free slot and publish it. */
static void ntbr_ctrl_put_locked(struct ntbr_dev *nd, u16 type,
				 const void *payload, u16 len)
{
	u32 slot = nd->ctrl_out_prod & (NTBR_CTRL_RING - 1);
	struct ntbr_ctrl_hdr hdr = {
		.type = cpu_to_le16(type),
		.len = cpu_to_le16(len),
	};

	ntbr_win_copy(nd, ntbr_peer_field(nd, ctrl_in[slot].hdr), &hdr,
		      sizeof(hdr));
	if (len)
		ntbr_win_copy(nd, ntbr_peer_field(nd, ctrl_in[slot].payload),
			      payload, len);
	wmb(); /* the entry before the producer index that publishes it */
	nd->ctrl_out_prod++;
	/* ctrl_in_prod in the peer's area: we (the producer) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_in_prod.val),
			 nd->ctrl_out_prod);
	nd->ctrl_stats.sent++;
}

/*
 * Messages went into the peer's ring: true when they need a doorbell,
 * i.e. the peer armed since we last rang (else its ctrl_work is still
 * draining and looks at our index again after it arms).
 */
static bool ntbr_ctrl_msg_db_locked(struct ntbr_dev *nd)
{
	u32 armed;

	/*
	 * Our producer index reached the peer before we read its arm word:
	 * the write barrier drains the write-combining buffer, the read back
	 * waits for the posted writes before it, the full barrier keeps our
	 * load of the arm word after all that.
	 */
	wmb(); /* our index out of the write-combining buffer */
	(void)ntbr_win_read32(nd, ntbr_peer_field(nd, ctrl_in_prod.val));
	mb(); /* the read back (and our index) before the arm word's load */
	/* ctrl_out_armed: the peer (consumer) writes it. */
	armed = le32_to_cpu(READ_ONCE(nd->area->ctrl_out_armed.val));
	if (armed == nd->ctrl_armed_seen) {
		nd->ctrl_stats.db_saved++;
		return false;
	}
	nd->ctrl_armed_seen = armed;
	nd->ctrl_stats.doorbells++;
	return true;
}

/*
 * Move waiting messages into the ring, oldest first, while it has room.
 * Returns the room left (<0: bad consumer index, link reset); *moved
 * counts.
 */
static int ntbr_ctrl_push_locked(struct ntbr_dev *nd, u32 *moved)
{
	struct ntbr_ctrl_msg *m, *tmp;
	int room = ntbr_ctrl_room_locked(nd);
	u64 waited;

	if (room < 0)
		return room;
	list_for_each_entry_safe(m, tmp, &nd->ctrl_q, entry) {
		if (!room) {
			nd->ctrl_stats.full++;
			break;
		}
		ntbr_ctrl_put_locked(nd, m->type, m->payload, m->len);
		room--;
		(*moved)++;
		waited = ktime_get_ns() - m->queued_ns;
		nd->ctrl_stats.wait_ns += waited;
		nd->ctrl_stats.wait_max_ns = max(nd->ctrl_stats.wait_max_ns,
						 waited);
		list_del(&m->entry);
		WRITE_ONCE(nd->ctrl_q_len, nd->ctrl_q_len - 1);
		kfree(m);
	}
	/* Progress: if messages still wait, the ring is full again. */
	if (*moved)
		nd->ctrl_armed = false;
	return room;
}

/*
 * Messages wait: ask the peer to ring us once it has made room, unless
 * we asked already and neither progress nor the backstop came since.
 * True when the caller must ring the peer's doorbell.
 */
static bool ntbr_ctrl_arm_locked(struct ntbr_dev *nd)
{
	if (list_empty(&nd->ctrl_q))
		return false;
	if (nd->ctrl_armed &&
	    time_before(jiffies, nd->ctrl_arm_at + NTBR_CTRL_BACKSTOP))
		return false;
	nd->ctrl_armed = true;
	nd->ctrl_arm_at = jiffies;
	nd->ctrl_wait_seq++;
	/* Our producer index before the wait value the peer compares it to. */
	wmb();
	/* ctrl_in_wait in the peer's area: we (the producer) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_in_wait.val),
			 nd->ctrl_wait_seq);
	nd->ctrl_stats.arms++;
	return true;
}

/* Who held back is due its callback: the queue is short again. */
static bool ntbr_ctrl_room_due_locked(struct ntbr_dev *nd)
{
	return nd->ctrl_room_wanted && nd->ctrl_q_len < NTBR_CTRL_Q_LOW;
}

/* --- producer: senders ---------------------------------------------------- */

/*
 * One attempt to send: 0 sent or queued, -ENOTCONN, or -EAGAIN when the
 * message must wait and *mp holds no copy of it yet.
 */
static int ntbr_ctrl_try(struct ntbr_dev *nd, u16 type, const void *payload,
			 u16 len, struct ntbr_ctrl_msg **mp)
{
	bool db = false, room_call = false, waiting = false, overflow = false;
	unsigned long flags;
	u32 moved = 0;
	int idx, room, ret = 0;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready)) {
		ret = -ENOTCONN;
		goto out;
	}
	spin_lock_irqsave(&nd->ctrl_lock, flags);
	room = ntbr_ctrl_push_locked(nd, &moved);
	if (room < 0) {
		ret = -ENOTCONN;
	} else if (room && list_empty(&nd->ctrl_q)) {
		ntbr_ctrl_put_locked(nd, type, payload, len);
		moved++;
	} else if (!*mp) {
		ret = -EAGAIN;
	} else if (nd->ctrl_q_len >= NTBR_CTRL_Q_MAX) {
		nd->ctrl_stats.overflows++;
		overflow = true;
		ret = -ENOTCONN;
	} else {
		if (!room)
			nd->ctrl_stats.full++;
		(*mp)->queued_ns = ktime_get_ns();
		list_add_tail(&(*mp)->entry, &nd->ctrl_q);
		*mp = NULL;
		WRITE_ONCE(nd->ctrl_q_len, nd->ctrl_q_len + 1);
		nd->ctrl_stats.queued++;
		nd->ctrl_stats.peak = max(nd->ctrl_stats.peak, nd->ctrl_q_len);
	}
	if (ret != -ENOTCONN && ntbr_ctrl_arm_locked(nd))
		db = true;
	if (moved && ntbr_ctrl_msg_db_locked(nd))
		db = true;
	waiting = !list_empty(&nd->ctrl_q);
	/* ntbr_ctrl_tx_work() makes the call. */
	room_call = moved && ntbr_ctrl_room_due_locked(nd);
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	/* ntb_peer_db_set() orders our window stores before the doorbell. */
	if (db)
		ntbr_peer_db(nd, NTBR_DB_CTRL);
out:
	srcu_read_unlock(&nd->srcu, idx);
	if (overflow)
		ntbr_link_reset(nd,
				"control queue overflow: the peer does not consume");
	/* The backstop while messages wait; the callback out of our caller. */
	if (room_call)
		mod_delayed_work(system_highpri_wq, &nd->ctrl_tx_work, 0);
	else if (waiting)
		queue_delayed_work(system_highpri_wq, &nd->ctrl_tx_work,
				   NTBR_CTRL_BACKSTOP);
	if (moved && wq_has_sleeper(&nd->ctrl_room_wq))
		wake_up_all(&nd->ctrl_room_wq);
	return ret;
}

/* Any type, the transport's own included. */
int ntbr_ctrl_xmit(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len)
{
	struct ntbr_ctrl_msg *m = NULL;
	int ret;

	if (len > NTBR_CTRL_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (type >= NTBR_CTRL_TYPE_MAX)
		return -EINVAL;
	might_sleep();

	/* A copy only when the message has to wait (then try again). */
	while ((ret = ntbr_ctrl_try(nd, type, payload, len, &m)) == -EAGAIN) {
		m = kmalloc(struct_size(m, payload, len), GFP_KERNEL);
		if (!m) {
			ntbr_link_reset(nd, "no memory for the control queue");
			return -ENOTCONN;
		}
		m->type = type;
		m->len = len;
		memcpy(m->payload, payload, len);
	}
	kfree(m);	/* NULL once queued */
	return ret;
}

int ntbr_ctrl_send(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len)
{
	if (type < NTBR_CTRL_TYPE_IB)
		return -EINVAL;

	return ntbr_ctrl_xmit(nd, type, payload, len);
}

bool ntbr_ctrl_congested(struct ntbr_dev *nd)
{
	unsigned long flags;
	bool busy;

	/* The common case without the lock: a message more does no harm. */
	if (READ_ONCE(nd->ctrl_q_len) < NTBR_CTRL_Q_SOFT)
		return false;
	spin_lock_irqsave(&nd->ctrl_lock, flags);
	busy = nd->ctrl_q_len >= NTBR_CTRL_Q_SOFT;
	if (busy)
		nd->ctrl_room_wanted = true;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	return busy;
}

static bool ntbr_ctrl_has_room(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->ctrl_q_len) < NTBR_CTRL_Q_SOFT ||
	       !READ_ONCE(nd->ready);
}

/*
 * For senders of their own initiative that may sleep (debugfs ctrl_ping):
 * until fewer than NTBR_CTRL_Q_SOFT messages wait or the link is not
 * ready.  0 or -ERESTARTSYS.
 */
int ntbr_ctrl_wait_room(struct ntbr_dev *nd)
{
	return wait_event_interruptible(nd->ctrl_room_wq,
					ntbr_ctrl_has_room(nd));
}

/*
 * A doorbell of the peer (room, perhaps) or the backstop: move what waits
 * into the ring, ask again for room if needed, call back who held back.
 */
static void ntbr_ctrl_tx_work(struct work_struct *work)
{
	struct ntbr_dev *nd = container_of(to_delayed_work(work),
					   struct ntbr_dev, ctrl_tx_work);
	bool db = false, bad = false, room_call, waiting;
	unsigned long flags;
	u32 moved = 0;
	int idx;

	idx = srcu_read_lock(&nd->srcu);
	spin_lock_irqsave(&nd->ctrl_lock, flags);
	if (READ_ONCE(nd->ready)) {
		bad = ntbr_ctrl_push_locked(nd, &moved) < 0;
		/* Ask again if messages still wait (progress re-arms). */
		if (!bad)
			db = ntbr_ctrl_arm_locked(nd);
		if (!bad && moved && ntbr_ctrl_msg_db_locked(nd))
			db = true;
	}
	waiting = !list_empty(&nd->ctrl_q);
	room_call = ntbr_ctrl_room_due_locked(nd);
	if (room_call)
		nd->ctrl_room_wanted = false;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	if (db)
		ntbr_peer_db(nd, NTBR_DB_CTRL);
	srcu_read_unlock(&nd->srcu, idx);

	if (!bad && waiting)
		queue_delayed_work(system_highpri_wq, &nd->ctrl_tx_work,
				   NTBR_CTRL_BACKSTOP);
	if (wq_has_sleeper(&nd->ctrl_room_wq))
		wake_up_all(&nd->ctrl_room_wq);
	if (room_call)
		ntbr_ib_ctrl_room(nd);
}

/* --- consumer: ctrl_work only ---------------------------------------------- */

/* Take the next message from our ring: 1 got one, 0 empty, <0 reset. */
static int ntbr_ctrl_next(struct ntbr_dev *nd, struct ntbr_ctrl_entry *e)
{
	u32 prod, slot, wait;
	int idx, ret = 0;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready) || READ_ONCE(nd->ctrl_stalled))
		goto out;
	/* ctrl_in_wait and ctrl_in_prod: the peer (producer) writes them. */
	wait = le32_to_cpu(READ_ONCE(nd->area->ctrl_in_wait.val));
	rmb(); /* the wait value before the index the peer wrote before it */
	prod = le32_to_cpu(READ_ONCE(nd->area->ctrl_in_prod.val));
	if (!ntbr_index_ok(nd->ctrl_in_cons, prod, NTBR_CTRL_RING)) {
		ntbr_link_reset(nd, "bad control producer index");
		ret = -EIO;
		goto out;
	}
	if (prod != nd->ctrl_in_cons) {
		rmb(); /* the producer index before the entry it publishes */
		slot = nd->ctrl_in_cons & (NTBR_CTRL_RING - 1);
		/* Copy first: the peer could change it while we look at it. */
		memcpy(e, &nd->area->ctrl_in[slot], sizeof(*e));
		nd->ctrl_in_cons++;
		/* ctrl_out_cons in the peer's area: we (the consumer) own it. */
		ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_out_cons.val),
				 nd->ctrl_in_cons);
		ret = 1;
	}
	/*
	 * The peer has messages waiting for room (a wait value we have not
	 * answered): ring it once the ring is at most half full (not one
	 * doorbell per freed slot; the ring only drains while the peer
	 * waits, so it gets there).  The doorbell follows our consumer
	 * index (ntb_peer_db_set() orders them).  A peer that rewrites the
	 * word gets one doorbell per message or doorbell of its own: no
	 * amplification.
	 */
	if (wait != nd->ctrl_in_wait_seen &&
	    ntbr_ring_used(prod, nd->ctrl_in_cons) <= NTBR_CTRL_RING / 2) {
		nd->ctrl_in_wait_seen = wait;
		ntbr_peer_db(nd, NTBR_DB_CTRL);
		/* Consumer-side counter: only ctrl_work writes it. */
		WRITE_ONCE(nd->ctrl_stats.room_doorbells,
			   nd->ctrl_stats.room_doorbells + 1);
	}
out:
	srcu_read_unlock(&nd->srcu, idx);

	return ret;
}

/*
 * Our ring is empty: arm (a new value in the peer's ctrl_out_armed, so
 * that its next message rings us), then look once more - a message it
 * published before it saw the arm rang no doorbell.  True if there is
 * one.
 */
static bool ntbr_ctrl_rx_arm(struct ntbr_dev *nd)
{
	bool more = false;
	u32 prod;
	int idx;

	idx = srcu_read_lock(&nd->srcu);
	if (READ_ONCE(nd->ready) && !READ_ONCE(nd->ctrl_stalled)) {
		nd->ctrl_arm_gen++;
		/* ctrl_out_armed in the peer's area: we (the consumer) own it. */
		ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_out_armed.val),
				 nd->ctrl_arm_gen);
		/*
		 * The arm reached the peer before we look at its index again
		 * (as in ntbr_ctrl_msg_db_locked): write barrier, read back,
		 * full barrier.
		 */
		wmb(); /* the arm out of the write-combining buffer */
		(void)ntbr_win_read32(nd,
				      ntbr_peer_field(nd, ctrl_out_armed.val));
		mb(); /* the read back (and the arm) before the index's load */
		/* ctrl_in_prod: the peer (producer) writes it. */
		prod = le32_to_cpu(READ_ONCE(nd->area->ctrl_in_prod.val));
		more = prod != nd->ctrl_in_cons;
	}
	srcu_read_unlock(&nd->srcu, idx);
	return more;
}

void ntbr_ctrl_backstop(struct ntbr_dev *nd)
{
	queue_work(nd->wq, &nd->ctrl_work);
}

void ntbr_ctrl_work(struct work_struct *work)
{
	struct ntbr_dev *nd = container_of(work, struct ntbr_dev, ctrl_work);
	struct ntbr_ctrl_entry e;
	ntbr_ctrl_handler_t h;
	u16 type, len;
	int n, got;

	for (n = 0; n < NTBR_CTRL_RING; n++) {
		got = ntbr_ctrl_next(nd, &e);
		if (got < 0)
			return;
		/* Empty: armed, unless a message came meanwhile. */
		if (!got) {
			if (!ntbr_ctrl_rx_arm(nd))
				return;
			continue;
		}
		type = le16_to_cpu(e.hdr.type);
		len = le16_to_cpu(e.hdr.len);
		if (len > NTBR_CTRL_MAX_PAYLOAD || type >= NTBR_CTRL_TYPE_MAX) {
			ntbr_link_reset(nd, "bad control message");
			return;
		}
		if (type == NTBR_CTRL_BYE) {
			ntbr_link_bye(nd);
			return;
		}
		if (type < NTBR_CTRL_TYPE_IB) {
			ntbr_dbg_ctrl(nd, type, e.payload, len);
			continue;
		}
		down_read(&ntbr_ctrl_rwsem);
		h = ntbr_ctrl_handlers[type];
		if (h)
			h(nd, type, e.payload, len);
		up_read(&ntbr_ctrl_rwsem);
	}
	/* More than a ring's worth: give other work a turn. */
	queue_work(nd->wq, &nd->ctrl_work);
}
