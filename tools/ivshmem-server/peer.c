// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Peer table of the ivshmem server.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "peer.h"

static void close_efds(struct peer_table *t, struct peer *p)
{
	unsigned int v;

	for (v = 0; v < t->vectors; v++) {
		if (p->efds[v] >= 0)
			close(p->efds[v]);
		p->efds[v] = -1;
	}
}

/* One plain eventfd per vector.  Returns 0 or a negative errno value. */
static int open_efds(struct peer_table *t, struct peer *p)
{
	unsigned int v;
	int err;

	for (v = 0; v < t->vectors; v++) {
		p->efds[v] = eventfd(0, EFD_CLOEXEC);
		if (p->efds[v] < 0) {
			err = errno;
			close_efds(t, p);
			return -err;
		}
	}
	return 0;
}

int peer_table_init(struct peer_table *t, unsigned int max_peers,
		    unsigned int vectors, bool persistent)
{
	size_t i;
	int ret;

	t->slots = calloc(max_peers, sizeof(*t->slots));
	t->efd_pool = calloc((size_t)max_peers * vectors, sizeof(int));
	if (!t->slots || !t->efd_pool) {
		free(t->slots);
		free(t->efd_pool);
		t->slots = NULL;
		t->efd_pool = NULL;
		return -ENOMEM;
	}
	t->max_peers = max_peers;
	t->vectors = vectors;
	t->count = 0;
	t->max_clients = max_peers;
	t->persistent = persistent;

	for (i = 0; i < (size_t)max_peers * vectors; i++)
		t->efd_pool[i] = -1;
	for (i = 0; i < max_peers; i++) {
		t->slots[i].sock = -1;
		t->slots[i].efds = t->efd_pool + i * vectors;
	}

	for (i = 0; persistent && i < max_peers; i++) {
		ret = open_efds(t, &t->slots[i]);
		if (ret) {
			peer_table_destroy(t);
			return ret;
		}
	}
	return 0;
}

struct peer *peer_add(struct peer_table *t, int sock)
{
	struct peer *p = NULL;
	unsigned int i;
	int ret;

	for (i = 0; i < t->max_clients; i++) {
		if (!peer_in_use(&t->slots[i])) {
			p = &t->slots[i];
			break;
		}
	}
	if (!p) {
		errno = ENOSPC;
		return NULL;
	}

	if (!t->persistent) {
		ret = open_efds(t, p);
		if (ret) {
			errno = -ret;
			return NULL;
		}
	}
	p->sock = sock;
	p->joined = false;
	p->dead = false;
	t->count++;
	return p;
}

void peer_remove(struct peer_table *t, struct peer *p)
{
	if (!peer_in_use(p))
		return;
	close(p->sock);
	p->sock = -1;
	if (!t->persistent)
		close_efds(t, p);
	p->joined = false;
	p->dead = false;
	t->count--;
}

void peer_table_destroy(struct peer_table *t)
{
	unsigned int i;

	if (!t->slots)
		return;
	for (i = 0; i < t->max_peers; i++) {
		peer_remove(t, &t->slots[i]);
		close_efds(t, &t->slots[i]);
	}
	free(t->slots);
	free(t->efd_pool);
	t->slots = NULL;
	t->efd_pool = NULL;
}
