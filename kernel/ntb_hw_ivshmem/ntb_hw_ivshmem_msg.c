// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: message registers, with the semantics of IDT switches.
 *
 * NTB_IVSHMEM_MSG_COUNT registers in each direction.  The protocol is in
 * include/ntb-ivshmem.h: the sender owns a sequence number and a value per
 * register in its side area, the receiver owns an acknowledged sequence
 * number in its own; "inbound status bit set" means "sequence != ack".
 * A message stays in its register until the receiver clears the status bit;
 * writing to a full register does not overwrite it but fails: -EBUSY, and,
 * as on IDT, the outbound status bit of the register is set and a message
 * event raised.  Status bits: inbound register i is bit i, outbound
 * register i (its last write failed; local state) bit 16 + i.
 */

#include <linux/bitops.h>
#include <linux/io.h>

#include "ntb_hw_ivshmem.h"

/*
 * The peer's session and the sequence numbers of its outbound registers,
 * read consistently; 0 (and nothing in @seq) when there is no live session.
 */
static u32 ntb_ivshmem_peer_seqs(struct ntb_ivshmem_dev *nd, u32 *seq)
{
	u32 session = ntb_ivshmem_peer_session(nd);
	int m;

	if (!session)
		return 0;

	/* Read the session before the counters it covers ... */
	rmb();
	for (m = 0; m < NTB_IVSHMEM_MSG_COUNT; m++)
		seq[m] = ioread32(&nd->peer->msg_out[m].seq);
	/* ... and again after them: a peer restart in between changes it. */
	rmb();
	if (ioread32(&nd->peer->session) != session)
		return 0;

	return session;
}

/* Write our acknowledgment of register @m; the caller holds nd->lock. */
static void ntb_ivshmem_msg_ack(struct ntb_ivshmem_dev *nd, int m, u32 seq)
{
	nd->msg_ack[m] = seq;
	/* Our msg_ack[m] word: we are its only writer. */
	iowrite32(seq, &nd->own->msg_ack[m]);
}

/*
 * Follow a new session of the peer: its counters restart at 0, so ours do
 * too.  The caller holds nd->lock.
 */
static void ntb_ivshmem_msg_sync(struct ntb_ivshmem_dev *nd, u32 session)
{
	int m;

	if (session == nd->msg_ack_session)
		return;

	for (m = 0; m < NTB_IVSHMEM_MSG_COUNT; m++) {
		ntb_ivshmem_msg_ack(nd, m, 0);
		nd->msg_seen[m] = 0;
	}
	/* The peer must see the reset acks before the session they refer to. */
	wmb();
	nd->msg_ack_session = session;
	iowrite32(session, &nd->own->msg_ack_session);
}

/*
 * Inbound status bits, with the peer's counters in @seq; the caller holds
 * nd->lock.
 */
static u64 ntb_ivshmem_msg_in_sts(struct ntb_ivshmem_dev *nd, u32 *seq)
{
	u32 session = ntb_ivshmem_peer_seqs(nd, seq);
	u64 sts = 0;
	int m;

	if (!session)
		return 0;

	ntb_ivshmem_msg_sync(nd, session);
	for (m = 0; m < nd->msg_count; m++)
		if (seq[m] != nd->msg_ack[m])
			sts |= BIT_ULL(m);

	return sts;
}

/*
 * Is our outbound register @m still full, i.e. not yet consumed by the peer?
 * The caller holds nd->lock.
 */
static bool ntb_ivshmem_msg_full(struct ntb_ivshmem_dev *nd, int m)
{
	struct ntb_ivshmem_side __iomem *peer = nd->peer;
	u32 ack_session, ack;

	ack_session = ioread32(&peer->msg_ack_session);
	if (ack_session != nd->session)
		return nd->msg_seq[m] != 0;

	/* Read the ack session before the acknowledgment it covers ... */
	rmb();
	ack = ioread32(&peer->msg_ack[m]);
	/* ... and again after it: a peer restart in between changes it. */
	rmb();
	if (ioread32(&peer->msg_ack_session) != ack_session)
		return true;

	return nd->msg_seq[m] != ack;
}

/*
 * At load, before our session is published: our outbound counters start at
 * 0 (the side area was zeroed), and whatever the peer sent before we were
 * loaded is discarded, as a hardware reset would.  Nothing runs concurrently.
 */
void ntb_ivshmem_msg_init(struct ntb_ivshmem_dev *nd)
{
	u32 seq[NTB_IVSHMEM_MSG_COUNT];
	u32 session;
	int m;

	session = ntb_ivshmem_peer_seqs(nd, seq);
	for (m = 0; m < NTB_IVSHMEM_MSG_COUNT; m++) {
		nd->msg_seq[m] = 0;
		ntb_ivshmem_msg_ack(nd, m, session ? seq[m] : 0);
		nd->msg_seen[m] = nd->msg_ack[m];
	}
	/* The peer must see the acks before the session they refer to. */
	wmb();
	nd->msg_ack_session = session;
	iowrite32(session, &nd->own->msg_ack_session);
}

/* From the poll work: raise a message event for news that is not masked. */
void ntb_ivshmem_msg_poll(struct ntb_ivshmem_dev *nd)
{
	u32 seq[NTB_IVSHMEM_MSG_COUNT];
	unsigned long flags;
	u64 sts, fresh = 0;
	bool event;
	int m;

	spin_lock_irqsave(&nd->lock, flags);
	sts = ntb_ivshmem_msg_in_sts(nd, seq);
	for (m = 0; m < nd->msg_count; m++) {
		if (!(sts & BIT_ULL(m)) ||
		    seq[m] == nd->msg_seen[m])
			continue;
		nd->msg_seen[m] = seq[m];
		fresh |= BIT_ULL(m);
	}
	sts |= nd->msg_out_fail;
	event = (fresh & ~nd->msg_mask) ||
		(nd->msg_force_event && (sts & ~nd->msg_mask));
	event = event && !nd->stopped;
	nd->msg_force_event = false;
	spin_unlock_irqrestore(&nd->lock, flags);

	if (event)
		ntb_msg_event(&nd->ntb);
}

int ntb_ivshmem_msg_count(struct ntb_dev *ntb)
{
	return ntb_ivshmem_of(ntb)->msg_count;
}

u64 ntb_ivshmem_msg_inbits(struct ntb_dev *ntb)
{
	return NTB_IVSHMEM_MSG_INBITS;
}

u64 ntb_ivshmem_msg_outbits(struct ntb_dev *ntb)
{
	return NTB_IVSHMEM_MSG_OUTBITS;
}

u64 ntb_ivshmem_msg_read_sts(struct ntb_dev *ntb)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	u32 seq[NTB_IVSHMEM_MSG_COUNT];
	unsigned long flags;
	u64 sts;

	spin_lock_irqsave(&nd->lock, flags);
	sts = ntb_ivshmem_msg_in_sts(nd, seq) | nd->msg_out_fail;
	spin_unlock_irqrestore(&nd->lock, flags);

	return sts;
}

/* Invalid bits are ignored, as on IDT (clients clear with -1). */
int ntb_ivshmem_msg_clear_sts(struct ntb_dev *ntb, u64 sts_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	u32 seq[NTB_IVSHMEM_MSG_COUNT];
	unsigned long flags;
	u64 sts;
	int m;

	spin_lock_irqsave(&nd->lock, flags);
	nd->msg_out_fail &= ~sts_bits;
	if (sts_bits & NTB_IVSHMEM_MSG_INBITS) {
		sts = ntb_ivshmem_msg_in_sts(nd, seq) & sts_bits;
		for (m = 0; m < nd->msg_count; m++)
			if (sts & BIT_ULL(m))
				ntb_ivshmem_msg_ack(nd, m, seq[m]);
	}
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

int ntb_ivshmem_msg_set_mask(struct ntb_dev *ntb, u64 mask_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (mask_bits & ~(NTB_IVSHMEM_MSG_INBITS | NTB_IVSHMEM_MSG_OUTBITS))
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->msg_mask |= mask_bits;
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

/* Unmasking a status bit that is already set produces a message event. */
int ntb_ivshmem_msg_clear_mask(struct ntb_dev *ntb, u64 mask_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	u32 seq[NTB_IVSHMEM_MSG_COUNT];
	unsigned long flags;
	u64 unmasked;
	bool pending;

	spin_lock_irqsave(&nd->lock, flags);
	unmasked = nd->msg_mask & mask_bits;
	nd->msg_mask &= ~mask_bits;
	pending = unmasked &
		  (ntb_ivshmem_msg_in_sts(nd, seq) | nd->msg_out_fail);
	if (pending)
		nd->msg_force_event = true;
	spin_unlock_irqrestore(&nd->lock, flags);

	if (pending)
		ntb_ivshmem_poll_soon(nd);

	return 0;
}

u32 ntb_ivshmem_msg_read(struct ntb_dev *ntb, int *pidx, int midx)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (midx < 0 || midx >= nd->msg_count)
		return ~(u32)0;

	/* A single peer: every message comes from peer index 0. */
	if (pidx)
		*pidx = 0;

	/* The caller read the status (the sequence number) before the value. */
	rmb();
	return ioread32(&nd->peer->msg_out[midx].val);
}

int ntb_ivshmem_peer_msg_write(struct ntb_dev *ntb, int pidx, int midx,
			       u32 msg)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	struct ntb_ivshmem_side __iomem *own = nd->own;
	unsigned long flags;
	int ret = 0;

	if (pidx != 0 || midx < 0 || midx >= nd->msg_count)
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	if (nd->stopped) {
		ret = -ENOLINK;
	} else if (ntb_ivshmem_msg_full(nd, midx)) {
		nd->msg_out_fail |= BIT_ULL(NTB_IVSHMEM_MSG_OUTSHIFT + midx);
		nd->msg_force_event = true;
		ret = -EBUSY;
	} else {
		/* Our msg_out[] words: we are their only writer. */
		iowrite32(msg, &own->msg_out[midx].val);
		/* The value must be visible before the sequence announcing it. */
		wmb();
		iowrite32(++nd->msg_seq[midx], &own->msg_out[midx].seq);
	}
	spin_unlock_irqrestore(&nd->lock, flags);

	if (!ret)
		ntb_ivshmem_kick_peer(nd);
	else if (ret == -EBUSY)
		ntb_ivshmem_poll_soon(nd);

	return ret;
}
