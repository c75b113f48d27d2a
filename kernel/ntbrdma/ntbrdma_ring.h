/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma transport: the inbound area, the memory every host exposes to its
 * peer, and the single-producer/single-consumer ring conventions.
 *
 * Every host allocates one struct ntbr_area in its own RAM, DMA-mapped for
 * the NTB device, and publishes its DMA address (= offset in the peer's
 * memory window) during link bring-up.  The PEER writes the area through its
 * window; the owner only reads it (and zeroes it while no session uses it).
 * Nothing is ever read through a window: whatever a host needs to know about
 * the other one, the other one writes into its area.
 *
 * Rings: the producer is in one host, the consumer in the other.
 *  - entries and the producer index live in the CONSUMER's area (written by
 *    the producer through the window);
 *  - the consumer index lives in the PRODUCER's area (written back by the
 *    consumer through the window);
 *  - an "armed" word, written by the waiting side into the other side's
 *    area, asks for a doorbell (see ntbr_kick_needed()).
 * Indices are free-running u32 counters; slot = index & (size - 1).  The
 * producer writes entries, then a write barrier, then the index.  Every value
 * read from the area is untrusted: it is checked before it is used and a bad
 * value resets the link.
 *
 * All fields are little-endian.  Each index sits in its own cache line.
 */
#ifndef NTBRDMA_RING_H
#define NTBRDMA_RING_H

#include <linux/cache.h>
#include <linux/types.h>

#include "ntbrdma.h"

/*
 * 2: 496-byte control messages; 3: RECV_POST says the QP's access flags
 * and RQ size, and a peer publishes at most NTBR_PUB_AHEAD receives ahead
 * (ntbrdma_ib_peer.c); 4: control channel flow control (ctrl_in_wait,
 * Documentation/control-channel.md); 5: several memory windows (the area
 * word names window and offset, the hello carries the sender's inbound
 * windows, Documentation/memory-windows.md); 6: READs of a QP in flight
 * together, answered by the QP's work, and ATOMIC_REQ
 * (ntbrdma_ib_read.c); 7: RECV_POST says whether the sender QP is UC
 * (NTBR_POST_A_UC); 8: SRQs (SRQ_POST, SRQ_FLUSH, RECV_POST's srq_id,
 * ntbrdma_ib_srq.c); 9: receive inboxes (RECV_POST's inbox, RECV_DONE's
 * NTBR_DONE_F_INBOX, ntbrdma_ib_inbox.c); 10: control doorbells only
 * when the consumer armed (ctrl_out_armed, ntbrdma_ctrl.c); 11: RECV_POST
 * announces READ and ATOMIC only while the QP's max_dest_rd_atomic is not
 * 0 (the peer maps MRs for READs from user space on that word); 12:
 * eager messages (RECV_POST's eager_order, RECV_DONE's NTBR_DONE_F_EAGER,
 * Documentation/rdma-datapath.md "Stage B").
 */
#define NTBR_PROTO_VERSION	12
#define NTBR_HELLO_MAGIC	0x4e544252	/* "NTBR" */

#define NTBR_CTRL_RING		64	/* control messages per direction */
#define NTBR_NET_RING		128	/* netdev buffers per direction */

/* One 32-bit word padded to a cache line (64 bytes on every NTB host). */
struct ntbr_word {
	__le32 val;
	__le32 pad[15];
};

/* Memory windows we use at most; more than the hello can describe. */
#define NTBR_MAX_MW		16

/*
 * One inbound window of the hello's sender: the other side's window @widx
 * (ntb_peer_mw_get_addr()) reaches the sender's DMA addresses
 * [base, base + size).
 */
struct ntbr_win_desc {
	__le64 base;
	__le64 size;
	__le32 widx;
	__le32 rsvd;		/* zero */
};

/*
 * Hello: written by the peer once it knows our area and has seen us
 * acknowledge its session.  from = its session, to = our session; before
 * them (magic last) its inbound windows, which tell us where each of our
 * outbound windows lands in its DMA address space.
 */
struct ntbr_hello {
	__le32 magic;		/* peer writes NTBR_HELLO_MAGIC */
	__le32 from;		/* peer writes: its session */
	__le32 to;		/* peer writes: our session */
	/* peer writes our session when it stopped writing to us (bye) */
	__le32 bye_ack;
	__le32 win_count;	/* peer writes: entries of win[] it filled */
	__le32 pad[11];
	struct ntbr_win_desc win[NTBR_MAX_MW];	/* peer writes */
};

struct ntbr_ctrl_hdr {
	__le16 type;		/* producer writes: message type */
	__le16 len;		/* producer writes: payload length */
	__le32 rsvd;		/* zero */
};

struct ntbr_ctrl_entry {
	struct ntbr_ctrl_hdr hdr;	/* producer writes */
	u8 payload[NTBR_CTRL_MAX_PAYLOAD];	/* producer writes */
	u8 pad[8];
};

/* A receive buffer the receiver posts to the sender. */
struct ntbr_net_post {
	__le64 addr;		/* receiver writes: DMA address of the buffer */
	__le32 len;		/* receiver writes: usable bytes at addr */
	__le32 rsvd;		/* zero */
};

/* The sender's completion for the posted buffer of the same index. */
struct ntbr_net_comp {
	__le32 len;		/* sender writes: frame length in the buffer */
	__le32 flags;		/* zero */
};

struct ntbr_area {
	struct ntbr_hello hello;		/* peer writes */

	/* Control channel, peer -> us: we consume. */
	struct ntbr_word ctrl_in_prod;		/* peer (producer) writes */
	/*
	 * Peer (producer) writes a new value when it has messages waiting
	 * for room in ctrl_in[]; we answer with doorbell NTBR_DB_CTRL once
	 * we have consumed past a full ring (ntbrdma_ctrl.c).
	 */
	struct ntbr_word ctrl_in_wait;
	struct ntbr_ctrl_entry ctrl_in[NTBR_CTRL_RING]; /* peer writes */
	/* Control channel, us -> peer: the peer consumes. */
	struct ntbr_word ctrl_out_cons;		/* peer (consumer) writes */
	/*
	 * Peer (consumer) writes a new value each time it found our ring
	 * empty and waits for a doorbell; we ring NTBR_DB_CTRL for messages
	 * only when the value changed since we last rang (ntbrdma_ctrl.c).
	 */
	struct ntbr_word ctrl_out_armed;

	/*
	 * Netdev, peer -> us (we receive).  We post buffers into the peer's
	 * area (its net_post ring); the peer copies a frame into the buffer
	 * and writes the completion of the same index here.
	 */
	struct ntbr_word net_comp_prod;		/* peer (sender) writes */
	/* peer (sender) writes a new value when it waits for buffers */
	struct ntbr_word net_tx_wait;
	struct ntbr_net_comp net_comp[NTBR_NET_RING];	/* peer writes */

	/* Netdev, us -> peer (we send): the peer's posted buffers. */
	struct ntbr_word net_post_prod;		/* peer (receiver) writes */
	/* peer (receiver) writes a new value when it waits for completions */
	struct ntbr_word net_rx_armed;
	struct ntbr_net_post net_post[NTBR_NET_RING];	/* peer writes */
};

/* Entries in a ring whose producer index is @prod and consumer index @cons. */
static inline u32 ntbr_ring_used(u32 prod, u32 cons)
{
	return prod - cons;
}

/*
 * The peer moved its index from @old to @new (both free-running): valid if
 * it moved forward by at most @limit.
 */
static inline bool ntbr_index_ok(u32 old, u32 new, u32 limit)
{
	return new - old <= limit;
}

#endif /* NTBRDMA_RING_H */
