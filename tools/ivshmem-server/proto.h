/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Messages of the ivshmem server protocol (QEMU docs/specs/ivshmem-spec.rst,
 * "The ivshmem Client-Server Protocol").
 *
 * The connection is one-way, server to client.  Every message is one
 * little-endian signed 64-bit number, optionally carrying one file
 * descriptor as SCM_RIGHTS ancillary data.
 *
 * All functions return 0 on success or a negative errno value; a failure
 * means the client is gone (or too slow) and must be dropped.
 */
#ifndef IVSHMEM_SERVER_PROTO_H
#define IVSHMEM_SERVER_PROTO_H

#include <stdint.h>

#define IVSHMEM_PROTOCOL_VERSION 0
#define IVSHMEM_MSG_SHM (-1) /* message value that carries the shm fd */

/* Send @val, with @fd attached unless @fd is negative. */
int proto_send(int sock, int64_t val, int fd);

/* Steps 1-3 of the handshake: version, the client's @id, the shm fd. */
int proto_send_greeting(int sock, int64_t id, int shm_fd);

/*
 * Connect notification (and interrupt setup, when @id is the client's own
 * id): @id repeated @n times, with @fds[0] .. @fds[n - 1] in order.
 */
int proto_send_peer_fds(int sock, int64_t id, const int *fds, unsigned int n);

/* Disconnect notification: @id without a file descriptor. */
int proto_send_disconnect(int sock, int64_t id);

#endif /* IVSHMEM_SERVER_PROTO_H */
