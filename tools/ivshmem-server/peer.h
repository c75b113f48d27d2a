/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Peer table of the ivshmem server.
 *
 * A peer is one connected client.  Its id is its index in the table; a new
 * client always gets the lowest free id, so a VM that goes away and comes
 * back gets the id it had before.  Each peer owns one eventfd per vector:
 * every client receives the same eventfds, so a write by any client to
 * peer i's eventfd for vector v is what peer i sees on its vector v.
 *
 * Normally a peer's eventfds live as long as its connection.  In a
 * persistent table they belong to the id instead: all of them are created
 * up front and a client that takes an id gets the eventfds of that id.
 */
#ifndef IVSHMEM_SERVER_PEER_H
#define IVSHMEM_SERVER_PEER_H

#include <stdbool.h>

struct peer {
	int sock; /* connection to the client; -1: slot is free */
	int *efds; /* vectors eventfds, one per vector */
	bool joined; /* handshake done and other peers told about it */
	bool dead; /* hung up or a send failed: drop it */
};

struct peer_table {
	struct peer *slots; /* max_peers slots, indexed by id */
	int *efd_pool; /* max_peers * vectors eventfds */
	unsigned int max_peers;
	unsigned int vectors;
	unsigned int count; /* slots in use */
	/* Ids a client may get: 0 .. max_clients - 1 (the rest: the DMA engine's). */
	unsigned int max_clients;
	bool persistent; /* eventfds belong to ids, not connections */
};

/* Returns 0 or a negative errno value. */
int peer_table_init(struct peer_table *t, unsigned int max_peers,
		    unsigned int vectors, bool persistent);
/* Close every peer's socket and eventfds and free the table. */
void peer_table_destroy(struct peer_table *t);

/*
 * Take the lowest free id for the client on @sock and create its eventfds
 * (unless the table is persistent).  Returns NULL with errno set: ENOSPC
 * when every id is in use, or the error of eventfd().  On failure @sock
 * is left open.
 */
struct peer *peer_add(struct peer_table *t, int sock);

/* Close the peer's socket and eventfds (unless persistent), free its id. */
void peer_remove(struct peer_table *t, struct peer *p);

static inline unsigned int peer_id(const struct peer_table *t,
				   const struct peer *p)
{
	return (unsigned int)(p - t->slots);
}

static inline bool peer_in_use(const struct peer *p)
{
	return p->sock >= 0;
}

#endif /* IVSHMEM_SERVER_PEER_H */
