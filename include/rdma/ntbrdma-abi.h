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

#define NTBRDMA_ABI_VERSION 1

/* --- alloc_ucontext (IB_USER_VERBS_CMD_GET_CONTEXT) -------------------- */

/* No driver request data. */
struct ntbrdma_alloc_ucontext_resp {
	__u32 abi_version;	/* NTBRDMA_ABI_VERSION */
	__u32 cqe_size;		/* sizeof(struct ntbrdma_cqe) */
	__u32 max_cqe;		/* largest CQ (entries) */
	__u32 max_inline_data;	/* largest inline send, bytes */
	__u32 cq_cqe_offset;	/* NTBRDMA_CQ_CQE_OFFSET */
	__u32 reserved;
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

#endif /* NTBRDMA_ABI_H */
