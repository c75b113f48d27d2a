/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause) */
/*
 * ntbrdma: the ABI between the kernel driver (ntbrdma.ko) and its libibverbs
 * provider (libntbrdma): the driver-specific udata of the uverbs commands
 * and the layout of the rings the kernel maps into the provider.
 *
 * Rules: fixed-width fields only, every structure a multiple of 8 bytes with
 * explicit padding (reserved fields are written as zero and ignored on
 * read), 64-bit fields 8-byte aligned.  Any incompatible change bumps
 * NTBRDMA_ABI_VERSION; the kernel reports it as the uverbs ABI version of
 * the device (sysfs .../infiniband_verbs/uverbsN/abi_version), in the
 * driver's own sysfs attribute /sys/class/infiniband/DEV/ntbrdma_abi_version
 * and in the alloc_ucontext response; the provider refuses any other.
 */
#ifndef NTBRDMA_ABI_H
#define NTBRDMA_ABI_H

#include <linux/types.h>

#define NTBRDMA_ABI_VERSION 5

/* --- alloc_ucontext (IB_USER_VERBS_CMD_GET_CONTEXT) -------------------- */

/* No driver request data. */
struct ntbrdma_alloc_ucontext_resp {
	__u32 abi_version;	/* NTBRDMA_ABI_VERSION */
	__u32 cqe_size;		/* sizeof(struct ntbrdma_cqe) */
	__u32 max_cqe;		/* largest CQ (entries) */
	__u32 max_inline_data;	/* largest inline send, bytes */
	__u32 cq_cqe_offset;	/* NTBRDMA_CQ_CQE_OFFSET */
	/*
	 * RDMA WRITEs of at least this many bytes go to the kernel, whose
	 * DMA engine moves them (0: no engine; the provider copies every
	 * WRITE it may itself).  Zero from kernels before the DMA engine.
	 */
	__u32 dma_min_len;
};

/* --- create_cq / resize_cq ---------------------------------------------- */

/* No driver request data for either command. */
struct ntbrdma_create_cq_resp {
	__aligned_u64 mmap_offset;	/* mmap(2) offset on the uverbs fd */
	__aligned_u64 mmap_size;	/* bytes to map: the whole ring */
	__u32 num_cqe;			/* ring entries, a power of two */
	__u32 cq_id;			/* for diagnostics */
};

/* resize_cq answers with the new ring; the old mapping stays valid until
 * the provider unmaps it but the kernel no longer writes it.
 */
struct ntbrdma_resize_cq_resp {
	__aligned_u64 mmap_offset;
	__aligned_u64 mmap_size;
	__u32 num_cqe;
	__u32 reserved;
};

/* --- CQ ring ------------------------------------------------------------
 *
 * One mapping: struct ntbrdma_cq_ctrl at offset 0, then num_cqe entries of
 * struct ntbrdma_cqe at NTBRDMA_CQ_CQE_OFFSET.  Indices are free-running
 * 32-bit counters; entry i lives in slot (i & (num_cqe - 1)).  The ring is
 * empty when prod == cons and full when prod - cons == num_cqe.
 *
 * A CQ has exactly one producer, the kernel (completions of local work and
 * of work arriving from the peer are both written by this host's kernel, so
 * this ring never has a writer across the NTB).
 *
 * Producer (kernel): write the entry, release barrier, store prod; then a
 * full barrier and an atomic exchange-if-armed on `armed` (below).
 * Consumer (provider, or the kernel for kernel CQs): load prod with acquire,
 * read entries, release barrier, store cons.
 */
#define NTBRDMA_CQ_CQE_OFFSET 256

/* Values of ntbrdma_cq_ctrl.armed. */
enum {
	NTBRDMA_CQ_DISARMED = 0,
	NTBRDMA_CQ_ARM_SOLICITED = 1,	/* next solicited or error completion */
	NTBRDMA_CQ_ARM_NEXT = 2,	/* next completion of any kind */
};

/* Bits of ntbrdma_cq_ctrl.flags. */
#define NTBRDMA_CQ_F_OVERFLOW 0x1U /* a completion was lost: CQ error */

struct ntbrdma_cq_ctrl {
	/* Owner: kernel (producer).  Provider: read only, load-acquire. */
	__u32 prod;
	/* Owner: kernel.  NTBRDMA_CQ_F_*; set once, never cleared. */
	__u32 flags;
	__u32 reserved0[14];		/* prod's cache line to itself */
	/*
	 * Owner: the consumer (provider for user CQs).  Written with
	 * store-release after the entries were read; the kernel reads it to
	 * find free slots and treats it as untrusted (a value with
	 * prod - cons > num_cqe means overflow, never an out-of-ring access).
	 */
	__u32 cons;
	__u32 reserved1[15];
	/*
	 * Two writers, one host: the consumer arms (atomic store of
	 * NTBRDMA_CQ_ARM_NEXT, or compare-and-swap DISARMED -> ARM_SOLICITED
	 * so a pending ARM_NEXT is never weakened) and the kernel disarms with
	 * compare-and-swap (ARM_x -> DISARMED) when it delivers the completion
	 * event.  Both sides use sequentially consistent atomics: the consumer
	 * arms and then polls; the kernel stores prod and then tests armed, so
	 * either the kernel sees the arm or the consumer sees the entry.
	 */
	__u32 armed;
	__u32 reserved2[15];
	__u32 reserved3[16];
};

/* Bits of ntbrdma_cqe.wc_flags (this ABI's own values: the kernel's
 * IB_WC_* and libibverbs' IBV_WC_* flag values differ).
 */
#define NTBRDMA_CQE_F_GRH		0x01U
#define NTBRDMA_CQE_F_WITH_IMM		0x02U
#define NTBRDMA_CQE_F_WITH_INV		0x04U
#define NTBRDMA_CQE_F_IP_CSUM_OK	0x08U
#define NTBRDMA_CQE_F_WITH_SMAC		0x10U
#define NTBRDMA_CQE_F_WITH_VLAN		0x20U
#define NTBRDMA_CQE_F_WITH_NET_TYPE	0x40U
#define NTBRDMA_CQE_F_SOLICITED		0x80U /* for ARM_SOLICITED only */

/*
 * ntbrdma_cqe.vendor_err of a receive completion the kernel's flush made
 * from an inbox slot whose eager payload is still in the inbox's payload
 * area (ABI 5): src_qp holds the receive's index; the provider copies
 * the payload into the receive before it returns the completion.
 */
#define NTBRDMA_CQE_VENDOR_EAGER 0x4e544245U	/* "NTBE" */

/*
 * One completion, 64 bytes.  status and opcode carry the uverbs values
 * (enum ib_uverbs_wc_opcode; status as enum ib_wc_status), which are also
 * libibverbs' IBV_WC_* values.
 */
struct ntbrdma_cqe {
	__aligned_u64 wr_id;
	__u32 status;
	__u32 opcode;
	__u32 vendor_err;
	__u32 byte_len;		/* atomics: 8 */
	__u32 ex;		/* immediate (network order) or invalidated rkey */
	__u32 qp_num;		/* local QP (for SRQ receives: the QP) */
	__u32 src_qp;		/* UD: the sender's QP */
	__u32 wc_flags;		/* NTBRDMA_CQE_F_* */
	__u16 pkey_index;
	__u16 slid;
	__u8 sl;
	__u8 dlid_path_bits;
	__u8 port_num;
	__u8 network_hdr_type;	/* RDMA_NETWORK_* (UD with GRH) */
	__u8 smac[6];
	__u16 vlan_id;
	__u32 reserved[2];
};

/* --- create_qp (QP rings) ------------------------------------------------
 *
 * Every QP has two rings in the kernel's memory, each one mapping: a
 * struct ntbrdma_wq_ctrl at offset 0, then num_wqe fixed-size slots at
 * NTBRDMA_WQ_WQE_OFFSET, wqe_size bytes each (struct ntbrdma_send_wqe for
 * the SQ, struct ntbrdma_recv_wqe for the RQ).  Indices are free-running
 * 32-bit counters; WQE i lives in slot (i & (num_wqe - 1)); the ring is
 * empty when prod == cons and full when prod - cons == num_wqe.
 *
 * Producer (the provider, or the kernel for kernel QPs): write the slot,
 * release barrier, store prod.  Consumer (the kernel): load prod with
 * acquire, read slots, release barrier, store cons.  The kernel treats
 * prod as untrusted (prod - cons > num_wqe is a broken producer: nothing
 * is consumed).
 *
 * Driver request data (since ABI 4, optional: a request of length 0 or
 * all zero asks for nothing): a receive inbox for an RC or UC QP without
 * an SRQ (Documentation/rdma-datapath.md, "Stage A").  The provider
 * registers 1 << order slots of struct ntbrdma_inbox_ent at inbox_va as
 * an MR with LOCAL_WRITE in the QP's PD (lkey).  The kernel accepts it if
 * that MR covers the slots and 1 << order is at least the RQ's size, and
 * then sets NTBRDMA_QP_F_INBOX in the answer: every completion of the
 * QP's receives except flushes is then a slot of the inbox, not an entry
 * of the CQ ring.
 */
struct ntbrdma_create_qp {
	__aligned_u64 inbox_va;
	__u32 inbox_lkey;
	__u32 inbox_order;		/* log2 of the slots; 0: no inbox */
	/*
	 * Since ABI 5: log2 of the eager payload slots (0: none).  The MR
	 * then also covers a status page and the payload slots after the
	 * inbox slots (NTBRDMA_INBOX_BYTES), for eager messages
	 * (Documentation/rdma-datapath.md, "Stage B").
	 */
	__u32 eager_order;
	__u32 reserved;
};

/* Bits of ntbrdma_create_qp_resp.flags. */
#define NTBRDMA_QP_F_INBOX 0x1U		/* the inbox was accepted */
#define NTBRDMA_QP_F_EAGER 0x2U		/* and its eager area (ABI 5) */

/*
 * The inbox MR's layout (ABI 5), from inbox_va: the slots (at least
 * 4096 bytes), one status page, then 1 << eager_order payload slots of
 * NTBRDMA_EAGER_MAX bytes; the provider allocates it page aligned.
 */
#define NTBRDMA_EAGER_MAX 1024U		/* bytes of an eager message */
#define NTBRDMA_INBOX_STATUS_BYTES 4096U
static inline __u64 ntbrdma_inbox_status_off(__u32 order)
{
	__u64 slots = 32ULL << order;

	return slots < 4096 ? 4096 : slots;
}

#define NTBRDMA_INBOX_STATUS_OFF(order) ntbrdma_inbox_status_off(order)
#define NTBRDMA_INBOX_PAYLOAD_OFF(order)				\
	(NTBRDMA_INBOX_STATUS_OFF(order) + NTBRDMA_INBOX_STATUS_BYTES)
#define NTBRDMA_INBOX_BYTES(order, eager_order)				\
	(NTBRDMA_INBOX_PAYLOAD_OFF(order) +				\
	 ((__u64)NTBRDMA_EAGER_MAX << (eager_order)))

/*
 * The status page of QP X's inbox MR.  Written by the provider of the
 * peer QP Y that X sends to, through its mapping of X's inbox MR
 * (NTBRDMA_QP_OP_MAP_PEER_INBOX), and by nobody else; read by X's
 * provider, untrusted (a lie there changes only X's own sends to Y).
 */
struct ntbrdma_inbox_status {
	/*
	 * Y's rx_epoch << 32 | Y's rx_taken: the receives of Y that X's
	 * messages consumed and Y's provider took (and copied the eager
	 * payloads out of).  X writes the payload of message n into slot
	 * n mod E of Y's payload area only while n - taken < E.
	 */
	__aligned_u64 credit;
	__u32 reserved0[14];
	/*
	 * Non-zero while Y's receive CQ is armed: X's provider then has its
	 * kernel tell Y's kernel of an eager message (which raises the
	 * event).  Y stores it, then reads it back, then polls.
	 */
	__u32 armed;
	__u32 reserved1[15];
};

/*
 * The peer's published receives (ABI 5), for the provider's eager
 * messages: a ring of NTBRDMA_PUB_ENTRIES entries in the kernel's memory
 * at create_qp's pub_offset inside the SQ's mapping (no allocation of its
 * own).  Owner: kernel (it never reads it back); it
 * writes receive r of the peer QP's epoch e into entry r mod
 * NTBRDMA_PUB_ENTRIES (body, write barrier, tag = e << 32 | r) when the
 * peer publishes it.  The provider loads the tag with acquire, then the
 * body, then the tag again (unchanged: the body is the receive's).
 */
#define NTBRDMA_PUB_ENTRIES 1024U
#define NTBRDMA_PUB_F_BAD 0x1U		/* an SGE failed the peer's checks */

struct ntbrdma_pub_ent {
	__aligned_u64 tag;
	__u32 total;			/* bytes it holds, at most 2^32 - 1 */
	__u32 flags;			/* NTBRDMA_PUB_F_* */
};

/* Bits of ntbrdma_inbox_ent.flags. */
#define NTBRDMA_INBOX_F_IMM		0x1U	/* imm is valid */
#define NTBRDMA_INBOX_F_WRITE_IMM	0x2U	/* RDMA_WRITE_WITH_IMM */
#define NTBRDMA_INBOX_F_SOLICITED	0x4U
/* ABI 5: the payload is in payload slot index mod E, not in the receive. */
#define NTBRDMA_INBOX_F_EAGER		0x8U

/*
 * One inbox slot, 32 bytes: the completion of receive `index` (an RQ
 * index) in epoch `epoch` of the QP's receives.  Writers: the peer's
 * kernel, through the NTB (a message it placed in the receive), and this
 * host's kernel (every other completion but flushes); never two at once
 * for one index.  Each writes the body (byte_len .. status), then a write
 * barrier, then `tag` = epoch << 32 | index in one 8-byte store.  Reader:
 * the provider, which takes the slot of receive n when tag says
 * (rx_epoch << 32 | n) - load tag with acquire, then the body - and
 * treats the body as untrusted (a peer may lie about its own messages).
 */
struct ntbrdma_inbox_ent {
	__aligned_u64 tag;
	__u32 byte_len;
	__u32 imm;			/* network order, as in the WQE */
	__u32 flags;			/* NTBRDMA_INBOX_F_* */
	__u32 status;			/* enum ib_wc_status */
	__u32 reserved[2];
};

/* Bit 63 of ntbrdma_wq_ctrl.rx_taken: the kernel flushed the RQ. */
#define NTBRDMA_RX_FROZEN 0x8000000000000000ULL
#define NTBRDMA_WQ_WQE_OFFSET 256
#define NTBRDMA_MAX_SGE 16		/* SGEs per WQE slot */
#define NTBRDMA_MAX_INLINE 256		/* inline bytes per send WQE */

struct ntbrdma_create_qp_resp {
	__aligned_u64 sq_mmap_offset;	/* mmap(2) offset on the uverbs fd */
	__aligned_u64 sq_mmap_size;	/* bytes: ctrl + num_wqe slots */
	__aligned_u64 rq_mmap_offset;
	__aligned_u64 rq_mmap_size;
	__u32 sq_num_wqe;		/* slots, a power of two */
	__u32 rq_num_wqe;
	__u32 sq_wqe_size;		/* sizeof(struct ntbrdma_send_wqe) */
	__u32 rq_wqe_size;		/* sizeof(struct ntbrdma_recv_wqe) */
	__u32 qp_num;
	__u32 flags;			/* NTBRDMA_QP_F_* (since ABI 4) */
	/*
	 * Since ABI 5: the published-receive ring, pub_size bytes at
	 * pub_offset in the SQ's mapping (size 0: none).
	 */
	__aligned_u64 pub_offset;
	__aligned_u64 pub_size;
	__u32 eager_order;		/* as accepted (NTBRDMA_QP_F_EAGER) */
	__u32 reserved;
};

/* Bits of ntbrdma_wq_ctrl.engine. */
#define NTBRDMA_WQ_ENGINE_RUNNING 0x1U	/* the engine will see new WQEs */

struct ntbrdma_wq_ctrl {
	/*
	 * Owner: the producer (provider for user QPs).  Store-release after
	 * the slots; the kernel loads it with acquire and never trusts it.
	 */
	__u32 prod;
	__u32 reserved0[15];		/* prod's cache line to itself */
	/* Owner: kernel (consumer).  Provider: read only, load-acquire. */
	__u32 cons;
	/*
	 * Owner: kernel.  The QP state (enum ib_qp_state values, which are
	 * libibverbs' IBV_QPS_*), the same in the SQ and the RQ page; the
	 * provider's post checks read it.  The kernel stores it, then a
	 * full barrier, then reads prod to flush (ERR) or empty (RESET)
	 * the rings; a producer stores prod, then a full barrier, then
	 * reads this word, and if it says ERR asks the kernel to flush
	 * again (modify_qp to ERR), so no WQE is left behind.
	 */
	__u32 qp_state;
	/*
	 * Owner: kernel.  NTBRDMA_WQ_ENGINE_RUNNING while the kernel will
	 * see WQEs posted now without being asked; clear: the producer must
	 * kick the kernel after posting (a full barrier between its prod
	 * store and its load of this word; the kernel clears it, then a
	 * full barrier, then re-reads prod).  SQ: the kick is post_send with
	 * one empty work request, and the engine consumes the WQEs.  RQ
	 * (since ABI 2): the kick is post_recv with one empty work request,
	 * and the kernel hands the receives to the peer host's engine; the
	 * word stays set while the QP is not connected to the peer.
	 */
	__u32 engine;
	/*
	 * SQ only (since ABI 3).  Owner: kernel; the kernel never reads
	 * them back.  done: WQEs whose completion, if any, is in the CQ
	 * ring (store-release after the CQE): done == prod means the kernel
	 * has nothing of this SQ left, so the provider may complete work of
	 * its own in order.  map_gen: bumped (store-release) before the
	 * kernel revokes any peer-MR mapping of this QP; the provider
	 * reloads it after a WRITE through a mapping (kernel bypass,
	 * Documentation/rdma-datapath.md).
	 */
	__u32 done;
	__u32 map_gen;
	/*
	 * RQ of a QP with an inbox only (since ABI 4).  Owner: kernel.  The
	 * epoch of the QP's receives (the tag's high half); the kernel
	 * changes it at a flush or reset, before it publishes a receive of
	 * the new epoch.
	 */
	__u32 rx_epoch;
	/*
	 * SQ of a QP with an inbox only (since ABI 5; Documentation/
	 * rdma-datapath.md, "Stage B").  inbox_gen: owner kernel, bumped
	 * (store-release) before it revokes this QP's mapping of the peer
	 * QP's inbox; the provider reloads it after an eager message.
	 */
	__u32 inbox_gen;
	__u32 reserved1;
	/*
	 * rx_next: owner kernel.  epoch << 32 | index of the peer QP's
	 * receive that our next message takes, as far as the kernel knows:
	 * set at the first published receive of an epoch and after every
	 * message the kernel sends.
	 */
	__aligned_u64 rx_next;
	/*
	 * eager_next: owner provider.  epoch << 32 | index after the last
	 * receive an eager message took; the kernel, before it takes a
	 * published receive, drops those of that epoch below it.  Untrusted:
	 * a lie skips only the process's own receives at the peer.
	 */
	__aligned_u64 eager_next;
	/*
	 * RQ of a QP with an eager area only (ABI 5).  Owner: kernel.  The
	 * next receive it publishes to the peer QP (those before it, from
	 * cons on, are published).  The provider kicks for new receives
	 * only while fewer than a quarter of the RQ are published and not
	 * taken, and when a poll finds that many taken (ntbrdma_inbox.c).
	 */
	__u32 rx_pub;
	__u32 reserved2[3];
	/*
	 * RQ of a QP with an inbox only.  Owner: the provider, except that
	 * the kernel sets NTBRDMA_RX_FROZEN (one atomic OR) when it
	 * flushes the RQ, and stores cons (unfrozen) at RESET.  Low 32 bits:
	 * the next receive whose completion the provider takes from the
	 * inbox; it claims one with compare-and-swap n -> n + 1, which fails
	 * once frozen.  The kernel reads it only to flush, clamped to the
	 * receives it knows: a lie changes only how the process's own
	 * receives complete.
	 */
	__aligned_u64 rx_taken;
	__u32 reserved3[30];
};

/*
 * One scatter/gather element.  length 0 in a receive means 2^31 bytes
 * as in IB (an engine concern); lkey of a registered MR.
 */
struct ntbrdma_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

/* Bits of ntbrdma_send_wqe.flags (this ABI's own values). */
#define NTBRDMA_WQE_F_SIGNALED	0x01U
#define NTBRDMA_WQE_F_SOLICITED	0x02U
#define NTBRDMA_WQE_F_INLINE	0x04U	/* payload in inline_data */
#define NTBRDMA_WQE_F_FENCE	0x08U
/*
 * Since ABI 3: an RDMA WRITE (and, with a kernel that maps peer MRs for
 * READs, an RDMA READ) the provider executed itself through a peer-MR
 * mapping; the kernel completes it (CQE, event) without executing it.
 */
#define NTBRDMA_WQE_F_DONE	0x10U
/*
 * Since ABI 5, with F_DONE on a SEND or SEND_WITH_IMM: the provider
 * placed it eagerly into the peer QP's receive u.raw[0] of epoch
 * u.raw[1] and found the peer's CQ armed; the kernel tells the peer's
 * kernel, which raises the completion event.
 */
#define NTBRDMA_WQE_F_NOTIFY	0x20U

/*
 * One send WQE slot, 320 bytes.  opcode is enum ib_uverbs_wr_opcode
 * (libibverbs' IBV_WR_* values).  ex: immediate data (network order) for
 * *_WITH_IMM, the rkey to invalidate for SEND_WITH_INV.  One of the
 * union members by opcode; UD QPs use `ud` with any opcode.
 */
struct ntbrdma_send_wqe {
	__aligned_u64 wr_id;
	__u32 opcode;
	__u32 flags;			/* NTBRDMA_WQE_F_* */
	__u32 num_sge;			/* 0 when INLINE */
	__u32 inline_len;		/* bytes in inline_data when INLINE */
	__u32 ex;
	__u32 reserved0;
	union {
		struct {		/* RDMA_WRITE[_WITH_IMM], RDMA_READ */
			__aligned_u64 remote_addr;
			__u32 rkey;
			__u32 reserved;
		} rdma;
		struct {		/* ATOMIC_CMP_AND_SWP, FETCH_AND_ADD */
			__aligned_u64 remote_addr;
			__aligned_u64 compare_add;
			__aligned_u64 swap;
			__u32 rkey;
			__u32 reserved;
		} atomic;
		struct {		/* UD: the AH's index, remote QP, Q_Key */
			__u32 ah;
			__u32 remote_qpn;
			__u32 remote_qkey;
			__u32 reserved;
		} ud;
		__u32 raw[8];
	} u;
	union {
		struct ntbrdma_sge sge[NTBRDMA_MAX_SGE];
		__u8 inline_data[NTBRDMA_MAX_INLINE];
	} d;
};

/* One receive WQE slot, 272 bytes. */
struct ntbrdma_recv_wqe {
	__aligned_u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
	struct ntbrdma_sge sge[NTBRDMA_MAX_SGE];
};

/* --- create_ah (IB_USER_VERBS_CMD_CREATE_AH) ------------------------------
 *
 * No driver request data.  The answer names the AH in UD send WQEs
 * (ntbrdma_send_wqe.u.ud.ah).  A kernel without UD refuses the command,
 * so this needs no new ABI version.
 */
struct ntbrdma_create_ah_resp {
	__u32 ah_num;
	__u32 reserved;
};

/* --- create_srq (IB_USER_VERBS_CMD_CREATE_SRQ) ----------------------------
 *
 * No driver request data.  The SRQ's ring: one mapping, laid out as a
 * QP's RQ (struct ntbrdma_wq_ctrl, then num_wqe receive WQE slots), with
 * the same producer rules.  qp_state is not used; `engine` works as the
 * RQ's, the kick being post_srq_recv with one empty work request.  A QP
 * created on an SRQ has no RQ ring (rq_mmap_size 0).  A kernel without
 * SRQs refuses the command, so this needs no new ABI version.
 */
struct ntbrdma_create_srq_resp {
	__aligned_u64 mmap_offset;
	__aligned_u64 mmap_size;
	__u32 num_wqe;			/* slots, a power of two */
	__u32 wqe_size;			/* sizeof(struct ntbrdma_recv_wqe) */
	__u32 srq_id;			/* for diagnostics */
	__u32 reserved;
};

/* --- modify_qp (IB_USER_VERBS_EX_CMD_MODIFY_QP) driver data -------------
 *
 * Since ABI 3.  With attribute mask 0 and this request the command asks
 * for a mapping of the whole pages of one peer MR, for RDMA WRITEs of
 * this QP from user space.  Granted after the checks a responder makes
 * (QP in RTS, connected to a peer QP that is connected back with
 * REMOTE_WRITE, the MR READY with REMOTE_WRITE - and REMOTE_READ unless
 * ntbrdma's map_write_only allows write-only MRs - of that peer QP's PD);
 * errno otherwise (the provider then uses the kernel path).  mmap(2) of
 * mmap_size bytes at mmap_offset on the uverbs fd (MAP_SHARED,
 * PROT_READ | PROT_WRITE) maps the peer MR's bytes from iova on,
 * write-combining.  The kernel revokes it (further stores go
 * to a scratch page) after bumping the SQ's map_gen; map_gen below is
 * its value when the mapping was made.
 */
enum {
	NTBRDMA_QP_OP_MAP_PEER_MR = 1,
	NTBRDMA_QP_OP_MAP_PEER_MR_READ = 2,
	NTBRDMA_QP_OP_MAP_PEER_INBOX = 3,
};

/*
 * NTBRDMA_QP_OP_MAP_PEER_INBOX (ABI 5; rkey unused): a writable mapping
 * of the inbox MR of the peer QP this QP is connected to (its slots,
 * status page and payload slots), for eager messages and for the status
 * words this QP's provider writes there.  Granted while the QP is in RTR
 * or RTS and connected to that peer QP, which is connected back and
 * announced an eager area in its current epoch's RECV_POST; revoked
 * (inbox_gen of the SQ bumped first) when any of that ends.  The answer:
 * iova is the peer's inbox_va, map_gen the inbox_gen it was made under,
 * reserved = inbox_order | eager_order << 8 of the peer's inbox.
 */

/*
 * NTBRDMA_QP_OP_MAP_PEER_MR_READ (a kernel without it refuses the op, so
 * no new ABI version): the same for RDMA READs from user space - checked
 * as a responder checks a READ (the peer QP connected back with
 * REMOTE_READ and max_dest_rd_atomic > 0, the MR READY with REMOTE_READ,
 * of that QP's PD) - and mapped read-only (mmap with PROT_READ alone).
 */

struct ntbrdma_modify_qp_req {
	__u32 op;			/* NTBRDMA_QP_OP_* */
	__u32 rkey;
};

struct ntbrdma_modify_qp_resp {
	__aligned_u64 mmap_offset;
	__aligned_u64 mmap_size;	/* bytes: whole pages of the MR */
	__aligned_u64 iova;		/* the MR address at the mapping's start */
	__u32 map_gen;
	__u32 reserved;
};

#endif /* NTBRDMA_ABI_H */
