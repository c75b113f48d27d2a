/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Layout of the shared memory region of the emulated NTB.
 *
 * The emulated NTB (kernel/ntb_hw_ivshmem) uses two QEMU ivshmem devices per
 * VM: an ivshmem-plain device whose BAR2 maps the peer VM's RAM (the memory
 * windows: all of BAR2, or sub-ranges of it set by a module parameter) and
 * an ivshmem-doorbell device whose BAR2 maps one region shared by all VMs
 * of the testbed.  That region is created by tools/ivshmem-server
 * and starts with struct ntb_ivshmem_hdr; the server writes the header once,
 * before the first client connects, and nobody writes it afterwards.
 *
 * The rest of the region is divided into max_peers side areas of side_size
 * bytes each, starting at side_offset.  Side area i belongs to the VM whose
 * ivshmem peer id (IVPosition register) is i.  Its layout is defined by the
 * driver (kernel/ntb_hw_ivshmem); the server only zero-fills it.
 *
 * The server hands out the lowest free peer id, so a VM that is killed and
 * started again gets the id (and therefore the side area) it had before.
 *
 * All fields are little-endian; this header is shared by kernel and
 * userspace code and uses only the fixed-width types of <linux/types.h>.
 */
#ifndef NTB_IVSHMEM_H
#define NTB_IVSHMEM_H

#include <linux/types.h>

/* "NTBIVSHM" read as a little-endian 64-bit integer. */
#define NTB_IVSHMEM_MAGIC 0x4d4853564942544eULL
#define NTB_IVSHMEM_VERSION 1

/* Default geometry used by the server and the testbed. */
#define NTB_IVSHMEM_SHM_SIZE (64 * 1024)  /* must be a power of two */
#define NTB_IVSHMEM_SIDE_OFFSET 4096
#define NTB_IVSHMEM_SIDE_SIZE 4096
#define NTB_IVSHMEM_MAX_PEERS 2

/*
 * MSI-X vectors of the ivshmem-doorbell device: vectors 0..15 carry doorbell
 * bits 0..15 (one bit per vector), the last vector signals control events
 * (message registers, link changes).
 */
#define NTB_IVSHMEM_DB_COUNT 16
#define NTB_IVSHMEM_CTRL_VECTOR NTB_IVSHMEM_DB_COUNT
#define NTB_IVSHMEM_VECTORS (NTB_IVSHMEM_DB_COUNT + 1)

struct ntb_ivshmem_hdr {
	__le64 magic;		/* NTB_IVSHMEM_MAGIC */
	__le32 version;		/* NTB_IVSHMEM_VERSION */
	__le32 hdr_size;	/* sizeof(struct ntb_ivshmem_hdr) */
	__le64 shm_size;	/* size of the whole region in bytes */
	__le32 vectors;		/* eventfd vectors per peer */
	__le32 max_peers;	/* number of side areas */
	__le32 side_offset;	/* byte offset of side area 0 */
	__le32 side_size;	/* byte size (stride) of each side area */
	/*
	 * The emulated DMA engine (Documentation/dma-engine.md); all zero
	 * when the server has none.  A reader checks hdr_size first: a
	 * header without these fields is shorter.
	 */
	__le32 dma_offset;	/* byte offset of DMA area 0 */
	__le32 dma_size;	/* byte size (stride) of each DMA area */
	__le32 dma_id;		/* the engine's peer id: kick (id << 16) | 0 */
	__le32 dma_slots;	/* descriptors per DMA area */
};

/* Side area layout, owned by kernel/ntb_hw_ivshmem */

/*
 * Side area i is written by the VM whose peer id is i (its "owner") and read
 * by the other VM (the "peer").  The only words with two writers are the
 * scratchpads, which model the scratchpad registers of a hardware NTB: each
 * is one naturally aligned 32-bit store, never a read-modify-write, and the
 * last writer wins.  Every other word has exactly one writer, so no atomic
 * operation ever spans the two VMs.  A reader treats every word it reads in
 * the other VM's side area as untrusted input.
 *
 * Publication: the owner (re)initialises its side area with session = 0 and
 * state = 0, fills in every other word, and then writes session (a random,
 * non-zero id, new on every driver load) and state, with a write barrier
 * before each step.  On unload it writes state = 0 and session = 0.  A peer
 * considers the side area live when magic, version and a non-zero session
 * are present and state has NTB_IVSHMEM_STATE_LOADED.
 *
 * Link: the link is up when both sides are loaded, both have
 * NTB_IVSHMEM_STATE_LINK_EN, and each sees the other's heartbeat advance
 * under one session.  A new session means the other VM restarted.
 *
 * Message register i from VM A to VM B: A writes A.msg_out[i].val, then
 * (write barrier) increments A.msg_out[i].seq.  Let
 *	ack = B.msg_ack_session == A.session ? B.msg_ack[i] : 0
 * The register is full (B's inbound status bit i set) while
 * A.msg_out[i].seq != ack.  B consumes the message by writing
 * B.msg_ack[i] = A.msg_out[i].seq.  When B sees a new A.session it writes
 * B.msg_ack[] = 0 and then (write barrier) B.msg_ack_session = A.session;
 * A's counters restart at 0 in every session, so no message is lost.
 */
#define NTB_IVSHMEM_SIDE_MAGIC 0x45444953	/* "SIDE" read as __le32 */
#define NTB_IVSHMEM_SIDE_VERSION 2
#define NTB_IVSHMEM_SPAD_COUNT 16	/* scratchpads per side area */
#define NTB_IVSHMEM_MSG_COUNT 4		/* message registers per direction */
#define NTB_IVSHMEM_MW_MAX 4		/* memory windows (module parameter mw=) */

/* Bits of ntb_ivshmem_side.state */
#define NTB_IVSHMEM_STATE_LOADED 0x1	/* driver bound, heartbeat running */
/* Link enabled: set at load, cleared by ntb_link_disable() */
#define NTB_IVSHMEM_STATE_LINK_EN 0x2

/*
 * One memory window: a sub-range of the ivshmem-plain BAR2 that maps the
 * peer's RAM, so its inbound translation is fixed at DMA address = offset.
 */
struct ntb_ivshmem_mw_desc {
	__le64 offset;		/* byte offset in BAR2 = peer DMA address */
	__le64 size;		/* bytes */
};

/* One message register in the sending VM's side area. */
struct ntb_ivshmem_msg {
	/* Sender writes (+1 per message, after val); receiver reads. */
	__le32 seq;
	/* Sender writes (message data, before seq); receiver reads. */
	__le32 val;
};

struct ntb_ivshmem_side {
	/* 0x00: identity, liveness and link state of the owner. */

	/* Owner writes NTB_IVSHMEM_SIDE_MAGIC; peer reads. */
	__le32 magic;
	/* Owner writes NTB_IVSHMEM_SIDE_VERSION; peer reads. */
	__le32 version;
	/* Owner writes (random, non-zero, per load; 0 = none); peer reads. */
	__le32 session;
	/* Owner writes NTB_IVSHMEM_STATE_* bits; peer reads. */
	__le32 state;
	/* Owner writes (+1 about every 100 ms while loaded); peer reads. */
	__le32 heartbeat;
	/* Owner writes its scratchpad count; peer reads (informational). */
	__le32 spad_count;
	/* Owner writes its message register count; peer reads (info). */
	__le32 msg_count;
	/* Nobody writes (zero). */
	__le32 pad0;
	/*
	 * Owner writes the size of its ivshmem-plain BAR2, which maps the
	 * peer's RAM: this is the peer's inbound memory window size.  Peer
	 * reads.
	 */
	__le64 plain_bar_size;
	/* Nobody writes (zero). */
	__le32 pad1[6];

	/* 0x40: message registers the owner sends to the peer. */

	/* Owner writes; peer reads. */
	struct ntb_ivshmem_msg msg_out[NTB_IVSHMEM_MSG_COUNT];
	/* Nobody writes (zero). */
	__le32 pad2[8];

	/* 0x80: acknowledgments of the messages the peer sent the owner. */

	/* Owner writes (after msg_ack[]); peer reads. */
	__le32 msg_ack_session;
	/* Nobody writes (zero). */
	__le32 pad3[3];
	/* Owner writes (the peer's msg_out[i].seq it consumed); peer reads. */
	__le32 msg_ack[NTB_IVSHMEM_MSG_COUNT];
	/* Nobody writes (zero). */
	__le32 pad4[8];

	/* 0xc0: the owner's (inbound) scratchpads. */

	/*
	 * Both write: the owner through ntb_spad_write() (and zeroes them
	 * while initialising), the peer through ntb_peer_spad_write().  Both
	 * read.  One 32-bit store each, last writer wins, as on hardware.
	 */
	__le32 spad[NTB_IVSHMEM_SPAD_COUNT];

	/* 0x100: the owner's memory windows (its module parameter mw=). */

	/*
	 * Owner writes the number of windows it was given, 0 for the default
	 * (one window: all of BAR2); peer reads.  Window i of one side is the
	 * outbound end of window i of the other, so the link comes up only
	 * when both sides publish the same windows.
	 */
	__le32 mw_count;
	/* Nobody writes (zero). */
	__le32 pad5[3];
	/* Owner writes mw[0 .. mw_count - 1]; peer reads. */
	struct ntb_ivshmem_mw_desc mw[NTB_IVSHMEM_MW_MAX];

	/* 0x150: end; the rest of the side area is unused. */
};

/*
 * The emulated DMA engine (tools/ivshmem-server executes the descriptors on
 * the host; Documentation/dma-engine.md).  DMA area i belongs to the VM
 * whose peer id is i.  The VM writes descriptors and prod; the server
 * writes each executed descriptor's status, then cons and errors.  The
 * server keeps its own copy of cons and never trusts what it reads here.
 */
#define NTB_IVSHMEM_DMA_OFFSET	16384
#define NTB_IVSHMEM_DMA_SIZE	16384
#define NTB_IVSHMEM_DMA_SLOTS	256
/* The MSI-X vector that says "descriptors completed" (after the others). */
#define NTB_IVSHMEM_DMA_VECTOR	(NTB_IVSHMEM_CTRL_VECTOR + 1)
#define NTB_IVSHMEM_DMA_VECTORS	(NTB_IVSHMEM_DMA_VECTOR + 1)
/* Longest copy of one descriptor. */
#define NTB_IVSHMEM_DMA_MAX_LEN	(4u << 20)
/*
 * Addresses: bit 63 clear, the issuing VM's guest-physical address (its
 * RAM file offset); set, an offset into the peer VM's RAM (what the NTB
 * window reaches: its translation is fixed at its offset).
 */
#define NTB_IVSHMEM_DMA_PEER	0x8000000000000000ULL
/* Descriptor flags. */
#define NTB_IVSHMEM_DMA_F_IRQ	0x1	/* raise NTB_IVSHMEM_DMA_VECTOR */
/* After the data landed, ring the peer's doorbell bit in bits 8..11. */
#define NTB_IVSHMEM_DMA_F_REMOTE_DB	0x2
#define NTB_IVSHMEM_DMA_DB_SHIFT	8
#define NTB_IVSHMEM_DMA_F_KNOWN	(NTB_IVSHMEM_DMA_F_IRQ | \
				 NTB_IVSHMEM_DMA_F_REMOTE_DB | \
				 (0xfu << NTB_IVSHMEM_DMA_DB_SHIFT))
/* Descriptor status, written by the server. */
#define NTB_IVSHMEM_DMA_OK		0
#define NTB_IVSHMEM_DMA_BAD_RANGE	1	/* outside the RAM it names */
#define NTB_IVSHMEM_DMA_BAD_DESC	2	/* length or flags malformed */

struct ntb_ivshmem_dma_desc {
	/* VM writes (before prod); server reads once. */
	__le64 src;
	__le64 dst;
	__le32 len;
	__le32 flags;
	/* VM writes (its own cookie; the server ignores it). */
	__le64 cookie;
	/* Server writes (before cons); VM reads once cons passed it. */
	__le32 status;
	/* Nobody writes (zero). */
	__le32 pad;
};

struct ntb_ivshmem_dma_area {
	/* VM writes (descriptors posted, free-running); server reads. */
	__le32 prod;
	/* Nobody writes (zero): prod and cons on their own cache lines. */
	__le32 pad0[15];
	/* Server writes (descriptors executed, free-running); VM reads. */
	__le32 cons;
	/* Server writes (descriptors failed, and corrupt prods seen). */
	__le32 errors;
	/* Nobody writes (zero). */
	__le32 pad1[14];
	struct ntb_ivshmem_dma_desc desc[NTB_IVSHMEM_DMA_SLOTS];
};

#endif /* NTB_IVSHMEM_H */
