// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: link bring-up and teardown.
 *
 * One ordered workqueue per device runs the link state machine and the
 * control channel handlers, so state changes and handlers never overlap.
 *
 * Bring-up (every time the NTB link comes up):
 *  1. pick a new random session S; zero our area; publish the words
 *     {S, area (window, offset), version and area size, ack = 0}
 *     (NTBR_INFO_*) in
 *     the peer's scratchpads 0..3, or, without enough scratchpads, send them
 *     through message registers 0..3 (area, version/size, then session);
 *  2. when the peer's words are valid (session P), publish ack = P;
 *  3. when the peer acknowledges S (its ack == S), the peer has seen this
 *     bring-up of ours and stopped writing anything of an older one: zero our
 *     area again (except the hello), write a hello {S, P, our inbound
 *     windows} into the peer's area and ring doorbell NTBR_DB_CTRL;
 *  4. when our area holds the peer's hello {P, S, its windows} (and ours is
 *     sent), we take its windows as our outbound layout (ntbrdma_window.c)
 *     and the link is READY: rings start, carrier on, ntbr_ib_link_up().
 * A stale word of the peer's previous life can never carry ack == S, so we
 * never write into an area the peer published in an earlier life.
 *
 * Teardown (NTB link down, the peer's session changed, the peer sent bye, or
 * a peer-written value failed validation): ->ready is cleared and SRCU
 * synchronized before anything else, so no write into the peer's window runs
 * any more; then carrier off and ntbr_ib_link_down().  Resources stay; the
 * next link-up (or at once, when the NTB link is still up) starts over.
 */

#include <linux/delay.h>
#include <linux/io.h>
#include <linux/random.h>

#include "ntbrdma_transport.h"

#define NTBR_HANDSHAKE_POLL	msecs_to_jiffies(50)
#define NTBR_READY_POLL		msecs_to_jiffies(200)
#define NTBR_BYE_TIMEOUT_MS	2000

static const u8 ntbr_msg_order[NTBR_INFO_WORDS] = {
	NTBR_INFO_AREA, NTBR_INFO_VERSIZE, NTBR_INFO_SESSION, NTBR_INFO_ACK,
};

static void ntbr_link_queue(struct ntbr_dev *nd, unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->lock, flags);
	if (!nd->removing)
		mod_delayed_work(nd->wq, &nd->link_work, delay);
	spin_unlock_irqrestore(&nd->lock, flags);
}

void ntbr_link_kick(struct ntbr_dev *nd)
{
	ntbr_link_queue(nd, 0);
}

void ntbr_link_event(void *ctx)
{
	struct ntbr_dev *nd = ctx;

	/* Link gone: stop writing into the window now, teardown follows. */
	if (!ntb_link_is_up(nd->ntb, NULL, NULL))
		WRITE_ONCE(nd->ready, false);
	ntbr_link_kick(nd);
}

void ntbr_msg_event(void *ctx)
{
	ntbr_link_kick(ctx);
}

/*
 * Something the peer wrote is invalid, or the peer is leaving: stop writing
 * to it now (any context), the link work tears down and starts over.
 */
void ntbr_link_reset(struct ntbr_dev *nd, const char *why)
{
	unsigned long flags;

	WRITE_ONCE(nd->ready, false);
	spin_lock_irqsave(&nd->lock, flags);
	if (!nd->reset_why)
		nd->reset_why = why;
	spin_unlock_irqrestore(&nd->lock, flags);
	ntbr_link_kick(nd);
}

/* --- publishing our words and reading the peer's -------------------------- */

/* Message registers: send the pending words, in order; retried later. */
static void ntbr_msg_flush(struct ntbr_dev *nd)
{
	int i, w, ret;

	for (i = 0; i < NTBR_INFO_WORDS; i++) {
		w = ntbr_msg_order[i];
		if (!(nd->out_pending & BIT(w)))
			continue;
		ret = ntb_peer_msg_write(nd->ntb, NTBR_PIDX, w, nd->info_out[w]);
		if (ret)
			return;	/* full (-EBUSY): the link work retries */
		nd->out_pending &= ~BIT(w);
	}
}

/* Message registers: take in whatever the peer sent. */
static void ntbr_msg_drain(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;
	u64 sts = ntb_msg_read_sts(ntb);
	u64 in = sts & ntb_msg_inbits(ntb);
	int w, pidx;

	for (w = 0; w < NTBR_INFO_WORDS; w++) {
		if (!(in & BIT_ULL(w)))
			continue;
		nd->info_in[w] = ntb_msg_read(ntb, &pidx, w);
		ntb_msg_clear_sts(ntb, BIT_ULL(w));
	}
	/* A failed write of ours: ntbr_msg_flush() retries it. */
	if (sts & ntb_msg_outbits(ntb))
		ntb_msg_clear_sts(ntb, sts & ntb_msg_outbits(ntb));
}

/* Publish every word (@all) or just the ack. */
static void ntbr_publish(struct ntbr_dev *nd, bool all)
{
	struct ntb_dev *ntb = nd->ntb;
	int w;

	if (nd->use_msg) {
		nd->out_pending |= all ? GENMASK(NTBR_INFO_WORDS - 1, 0) :
					 BIT(NTBR_INFO_ACK);
		ntbr_msg_flush(nd);
		return;
	}
	if (!all) {
		ntb_peer_spad_write(ntb, NTBR_PIDX, NTBR_INFO_ACK,
				    nd->info_out[NTBR_INFO_ACK]);
		return;
	}
	/* The session word guards the others: withdrawn first ... */
	ntb_peer_spad_write(ntb, NTBR_PIDX, NTBR_INFO_SESSION, 0);
	wmb(); /* ... the peer sees no session before the words change ... */
	for (w = NTBR_INFO_SESSION + 1; w < NTBR_INFO_WORDS; w++)
		ntb_peer_spad_write(ntb, NTBR_PIDX, w, nd->info_out[w]);
	wmb(); /* ... and every word before the session that covers them. */
	ntb_peer_spad_write(ntb, NTBR_PIDX, NTBR_INFO_SESSION,
			    nd->info_out[NTBR_INFO_SESSION]);
}

/* The peer's words (untrusted); false while they are not consistent. */
static bool ntbr_peer_info(struct ntbr_dev *nd, u32 *info)
{
	struct ntb_dev *ntb = nd->ntb;
	int w;

	if (nd->use_msg) {
		memcpy(info, nd->info_in, sizeof(nd->info_in));
		return info[NTBR_INFO_SESSION] != 0;
	}
	/* Our scratchpads: the peer writes them, we only read. */
	info[NTBR_INFO_SESSION] = ntb_spad_read(ntb, NTBR_INFO_SESSION);
	rmb(); /* the session before the words it covers ... */
	for (w = NTBR_INFO_SESSION + 1; w < NTBR_INFO_WORDS; w++)
		info[w] = ntb_spad_read(ntb, w);
	rmb(); /* ... and again after them: unchanged means consistent */
	return info[NTBR_INFO_SESSION] &&
	       ntb_spad_read(ntb, NTBR_INFO_SESSION) == info[NTBR_INFO_SESSION];
}

/* --- state changes ---------------------------------------------------------- */

/* debugfs ctrl_stats: link downs by cause (string literals). */
static void ntbr_count_down(struct ntbr_dev *nd, const char *why)
{
	unsigned long flags;
	int i;

	spin_lock_irqsave(&nd->lock, flags);
	for (i = 0; i < NTBR_DOWN_CAUSES; i++) {
		if (!nd->down_causes[i].why)
			nd->down_causes[i].why = why;
		if (nd->down_causes[i].why == why) {
			nd->down_causes[i].count++;
			break;
		}
	}
	spin_unlock_irqrestore(&nd->lock, flags);
}

static void ntbr_teardown(struct ntbr_dev *nd, const char *why)
{
	bool was_ready = nd->state == NTBR_READY;

	/* First of all: no write into the peer's window from here on. */
	WRITE_ONCE(nd->ready, false);
	synchronize_srcu(&nd->srcu);

	nd->state = NTBR_DOWN;
	nd->hello_sent = false;
	/* Messages still waiting were for that session. */
	ntbr_ctrl_discard(nd);
	if (!was_ready)
		return;
	ntbr_count_down(nd, why);
	dev_info(&nd->ntb->dev, "link down: %s\n", why);
	ntbr_net_down(nd);
	ntbr_ib_link_down(nd);
}

static void ntbr_handshake_start(struct ntbr_dev *nd)
{
	size_t size = PAGE_ALIGN(sizeof(struct ntbr_area));
	u32 s;

	do {
		s = get_random_u32();
	} while (!s || s == nd->session);
	nd->session = s;
	nd->peer_session = 0;
	nd->zeroed = false;
	nd->hello_sent = false;
	memset(nd->area, 0, sizeof(*nd->area));

	nd->info_out[NTBR_INFO_SESSION] = s;
	nd->info_out[NTBR_INFO_AREA] = nd->area_word;
	nd->info_out[NTBR_INFO_VERSIZE] = NTBR_VERSIZE(NTBR_PROTO_VERSION,
						       size >> PAGE_SHIFT);
	nd->info_out[NTBR_INFO_ACK] = 0;
	ntbr_publish(nd, true);
	nd->state = NTBR_HANDSHAKE;
}

static void ntbr_go_ready(struct ntbr_dev *nd)
{
	ntbr_ctrl_ready(nd);
	nd->state = NTBR_READY;
	/* peer_area and the ring state above are set before writers run. */
	smp_wmb();
	WRITE_ONCE(nd->ready, true);
	dev_info(&nd->ntb->dev, "link ready: session %#010x, peer %#010x, peer area %#llx\n",
		 nd->session, nd->peer_session, nd->peer_area);
	ntbr_net_up(nd);
	ntbr_ib_link_up(nd);
	queue_work(nd->wq, &nd->ctrl_work);
}

/* One step of the handshake with the peer's current words. */
static void ntbr_handshake_step(struct ntbr_dev *nd, const u32 *info)
{
	struct ntbr_hello *h = &nd->area->hello;
	size_t size = PAGE_ALIGN(sizeof(struct ntbr_area));
	u32 p = info[NTBR_INFO_SESSION];
	u32 area;

	if (p != nd->peer_session) {
		/* A new peer bring-up: it may have missed our words. */
		nd->peer_session = p;
		nd->hello_sent = false;
		nd->info_out[NTBR_INFO_ACK] = p;
		ntbr_publish(nd, nd->use_msg);
	}
	if (info[NTBR_INFO_ACK] != nd->session)
		return;	/* the peer has not seen this bring-up of ours yet */

	area = info[NTBR_INFO_AREA];
	if (info[NTBR_INFO_VERSIZE] !=
	    NTBR_VERSIZE(NTBR_PROTO_VERSION, size >> PAGE_SHIFT) ||
	    !ntbr_hello_target_ok(nd, area)) {
		dev_err_ratelimited(&nd->ntb->dev, "peer published version/size %#x, area %#x (window %u, offset %#llx): expected version %u, %zu bytes, inside one of our %d windows into it\n",
				    info[NTBR_INFO_VERSIZE], area,
				    NTBR_AREA_WORD_WIN(area),
				    NTBR_AREA_WORD_OFF(area),
				    NTBR_PROTO_VERSION, size,
				    nd->peer_mw_count);
		return;
	}

	if (!nd->zeroed) {
		/* Nothing of an older session writes here any more. */
		memset((u8 *)nd->area + sizeof(*h), 0,
		       sizeof(*nd->area) - sizeof(*h));
		nd->zeroed = true;
	}
	if (!nd->hello_sent) {
		nd->peer_area_word = area;
		ntbr_hello_send(nd, area, nd->session, p);
		ntbr_peer_db(nd, NTBR_DB_CTRL);
		nd->hello_sent = true;
	}

	/* Our hello: the peer writes it, once it has seen our ack. */
	if (le32_to_cpu(READ_ONCE(h->magic)) != NTBR_HELLO_MAGIC)
		return;
	rmb(); /* the magic before the sessions and windows it validates */
	if (le32_to_cpu(READ_ONCE(h->from)) == p &&
	    le32_to_cpu(READ_ONCE(h->to)) == nd->session &&
	    !ntbr_peer_layout_take(nd, nd->peer_area_word))
		ntbr_go_ready(nd);
}

static void ntbr_link_work(struct work_struct *work)
{
	struct ntbr_dev *nd = container_of(to_delayed_work(work),
					   struct ntbr_dev, link_work);
	u32 info[NTBR_INFO_WORDS];
	const char *why;
	unsigned long flags;
	bool valid;

	spin_lock_irqsave(&nd->lock, flags);
	why = nd->reset_why;
	nd->reset_why = NULL;
	spin_unlock_irqrestore(&nd->lock, flags);
	/* Writes were stopped (a link event saw the link down): start over. */
	if (!why && nd->state == NTBR_READY && !READ_ONCE(nd->ready))
		why = "NTB link lost";

	if (nd->use_msg) {
		ntbr_msg_drain(nd);
		ntbr_msg_flush(nd);
	}

	if (!ntb_link_is_up(nd->ntb, NULL, NULL)) {
		if (nd->state != NTBR_DOWN)
			ntbr_teardown(nd, "NTB link down");
		return;	/* the next link event brings us back */
	}
	if (why && nd->state != NTBR_DOWN) {
		if (nd->state == NTBR_READY)
			dev_warn_ratelimited(&nd->ntb->dev, "resetting the link: %s\n",
					     why);
		ntbr_teardown(nd, why);
	}
	if (nd->state == NTBR_DOWN) {
		/* Fails only on hardware we cannot use: say so, stay down. */
		if (ntbr_inbound_setup(nd))
			return;
		ntbr_handshake_start(nd);
	}

	valid = ntbr_peer_info(nd, info);
	if (nd->state == NTBR_READY) {
		if (!valid || info[NTBR_INFO_SESSION] != nd->peer_session) {
			ntbr_teardown(nd, "the peer started a new session");
			ntbr_handshake_start(nd);
		} else {
			ntbr_net_backstop(nd);
			ntbr_ctrl_backstop(nd);
			ntbr_link_queue(nd, NTBR_READY_POLL);
			return;
		}
	}
	if (valid)
		ntbr_handshake_step(nd, info);
	ntbr_link_queue(nd, nd->state == NTBR_READY ? NTBR_READY_POLL :
			NTBR_HANDSHAKE_POLL);
}

/* The peer is leaving (control message, on our workqueue). */
void ntbr_link_bye(struct ntbr_dev *nd)
{
	u32 peer = nd->peer_session;

	if (nd->state != NTBR_READY)
		return;
	ntbr_teardown(nd, "the peer is leaving");
	/* The one write after teardown: "we stopped writing to you". */
	ntbr_win_write32(nd, ntbr_peer_field(nd, hello.bye_ack), peer);
	wmb(); /* the ack goes out before anything we do next */
	ntbr_link_kick(nd);
}

int ntbr_link_init(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;

	spin_lock_init(&nd->lock);
	INIT_DELAYED_WORK(&nd->link_work, ntbr_link_work);
	nd->state = NTBR_DOWN;

	if (ntb_spad_count(ntb) >= NTBR_INFO_WORDS) {
		nd->use_msg = false;
	} else if (ntb_msg_count(ntb) >= NTBR_INFO_WORDS) {
		nd->use_msg = true;
	} else {
		dev_err(&ntb->dev, "%d scratchpads and %d message registers: %d of either are needed\n",
			ntb_spad_count(ntb), ntb_msg_count(ntb),
			NTBR_INFO_WORDS);
		return -ENODEV;
	}

	return 0;
}

void ntbr_link_start(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;

	if (nd->use_msg)
		ntb_msg_clear_mask(ntb, ntb_msg_inbits(ntb) |
				   ntb_msg_outbits(ntb));
	ntb_db_clear_mask(ntb, ntb_db_valid_mask(ntb));
	ntb_link_enable(ntb, NTB_SPEED_AUTO, NTB_WIDTH_AUTO);
	ntbr_link_kick(nd);
}

static void ntbr_link_stop_work(struct work_struct *work)
{
	struct ntbr_dev *nd = container_of(work, struct ntbr_dev, stop_work);
	struct ntb_dev *ntb = nd->ntb;
	int w;

	if (nd->state != NTBR_DOWN)
		ntbr_teardown(nd, "unloading");
	/* Withdraw what we published, then take the link down. */
	if (nd->use_msg) {
		ntb_peer_msg_write(ntb, NTBR_PIDX, NTBR_INFO_SESSION, 0);
	} else {
		for (w = 0; w < NTBR_INFO_WORDS; w++)
			ntb_peer_spad_write(ntb, NTBR_PIDX, w, 0);
	}
	ntb_link_disable(ntb);
}

/*
 * Module unload or device removal: tell a ready peer we are going and wait
 * (bounded) until it stopped writing to us, then stop for good.
 */
void ntbr_link_stop(struct ntbr_dev *nd)
{
	unsigned long flags;
	int i;

	spin_lock_irqsave(&nd->lock, flags);
	nd->removing = true;
	spin_unlock_irqrestore(&nd->lock, flags);
	cancel_delayed_work_sync(&nd->link_work);

	if (READ_ONCE(nd->ready) && !ntbr_ctrl_xmit(nd, NTBR_CTRL_BYE, NULL, 0)) {
		for (i = 0; i < NTBR_BYE_TIMEOUT_MS / 20; i++) {
			/*
			 * The peer writes bye_ack.  READY ends if the peer
			 * left too; with the NTB link down (e.g. the NTB
			 * driver going first) the peer tears down by itself.
			 */
			if (le32_to_cpu(READ_ONCE(nd->area->hello.bye_ack)) ==
			    nd->session || !READ_ONCE(nd->ready) ||
			    !ntb_link_is_up(nd->ntb, NULL, NULL))
				break;
			msleep(20);
		}
		if (i == NTBR_BYE_TIMEOUT_MS / 20)
			dev_warn(&nd->ntb->dev, "the peer did not acknowledge our bye\n");
	}

	INIT_WORK(&nd->stop_work, ntbr_link_stop_work);
	queue_work(nd->wq, &nd->stop_work);
	flush_work(&nd->stop_work);
}
