/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Wire protocol between `testbed run` (vm-run, on the host) and vm-agent
 * (PID 1 of a testbed VM), over one TCP connection per command.
 *
 * On accept the agent sends a VM_HELLO frame (len 0) at once: QEMU's user
 * network accepts host connections before the VM listens, so only the hello
 * proves that the agent is there.
 * Request, host -> VM:  struct vm_req, then the cwd (cwd_len bytes), then
 *                       argc arguments, each a u32 length and its bytes.
 * Reply, VM -> host:    frames { u8 type; u8 pad[3]; u32 len; len bytes }:
 *                       VM_OUT / VM_ERR carry the command's stdout / stderr,
 *                       VM_EXIT carries a u32: the exit code, or 128+signal.
 * All integers are little-endian (both ends are x86-64 here).  Closing the
 * connection early kills the command's process group.
 */
#ifndef VM_PROTO_H
#define VM_PROTO_H

#include <stdint.h>

#define VM_MAGIC 0x31425454u /* "TTB1" */
#define VM_MAX_ARGS 4096
#define VM_MAX_ARG_LEN (1u << 20)

struct vm_req {
	uint32_t magic;
	uint32_t argc;
	uint32_t cwd_len;
	uint32_t pad;
};

enum vm_frame_type {
	VM_OUT = 1,
	VM_ERR = 2,
	VM_EXIT = 3,
	VM_HELLO = 4,
};

struct vm_frame {
	uint8_t type;
	uint8_t pad[3];
	uint32_t len;
};

#endif /* VM_PROTO_H */
