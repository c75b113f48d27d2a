// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The emulated DMA engine's thread (dma.h).  It shares nothing with the
 * main thread but the peer table's eventfds, which a persistent table
 * never changes after peer_table_init().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dma.h"
#include "dma_exec.h"
#include "log.h"

#define DMA_IDS 2

struct dma_ramfile {
	const char *path;
	struct dma_ram ram;
	dev_t dev;
	ino_t ino;
};

struct dma_engine {
	pthread_t thread;
	int stop_fd;
	int kick_fd;
	unsigned char *shm;
	struct peer_table *t;
	struct dma_ramfile file[DMA_IDS];
	struct dma_area_state st[DMA_IDS];
};

/*
 * Map @f's RAM file if it is not mapped or no longer the file at its
 * path (the testbed may create a VM's RAM file anew when it restarts).
 */
static void ramfile_check(struct dma_ramfile *f)
{
	struct stat st;
	void *p;
	int fd;

	/* No regular file there: all zero, which no mapped file matches. */
	if (stat(f->path, &st) || !S_ISREG(st.st_mode))
		memset(&st, 0, sizeof(st));
	if (f->ram.base && st.st_dev == f->dev && st.st_ino == f->ino &&
	    (uint64_t)st.st_size == f->ram.size)
		return;
	if (f->ram.base)
		munmap(f->ram.base, f->ram.size);
	f->ram.base = NULL;
	f->ram.size = 0;
	if (!st.st_size)
		return;
	fd = open(f->path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		pr_err("dma: cannot map %s: %s", f->path, strerror(errno));
		return;
	}
	f->ram.base = p;
	f->ram.size = (uint64_t)st.st_size;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	pr_info("dma: %s mapped (%llu bytes)", f->path,
		(unsigned long long)f->ram.size);
}

static void raise_vector(struct dma_engine *e, unsigned int id,
			 unsigned int vector)
{
	uint64_t one = 1;

	if (vector < e->t->vectors &&
	    write(e->t->slots[id].efds[vector], &one, sizeof(one)) < 0)
		pr_err("dma: cannot signal peer %u vector %u: %s", id, vector,
		       strerror(errno));
}

/* Until no area has work: a kick may stand for several posts. */
static void run_areas(struct dma_engine *e)
{
	unsigned int id, n, bit;

	for (id = 0; id < DMA_IDS; id++)
		ramfile_check(&e->file[id]);
	do {
		n = 0;
		for (id = 0; id < DMA_IDS; id++) {
			struct ntb_ivshmem_dma_area *a =
				(void *)(e->shm + NTB_IVSHMEM_DMA_OFFSET +
					 id * NTB_IVSHMEM_DMA_SIZE);
			struct dma_signal sig = { 0 };

			n += dma_exec_area(a, &e->st[id], &e->file[id].ram,
					   &e->file[!id].ram, &sig);
			if (sig.local_irq)
				raise_vector(e, id, NTB_IVSHMEM_DMA_VECTOR);
			for (bit = 0; bit < 16; bit++)
				if (sig.remote_db & (1u << bit))
					raise_vector(e, !id, bit);
		}
	} while (n);
}

static void *dma_thread(void *arg)
{
	struct dma_engine *e = arg;
	struct pollfd p[2] = { { e->stop_fd, POLLIN, 0 },
			       { e->kick_fd, POLLIN, 0 } };
	uint64_t v;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("dma: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN) {
			/* Reset the count first: a later kick is not lost. */
			if (read(e->kick_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				pr_err("dma: kick: %s", strerror(errno));
			run_areas(e);
		}
	}
}

struct dma_engine *dma_start(void *shm, uint64_t shm_size,
			     const char *const ram[2], struct peer_table *t,
			     unsigned int dma_id)
{
	struct dma_engine *e;
	int i, err;

	if (!t->persistent || dma_id >= t->max_peers || !t->vectors ||
	    shm_size < NTB_IVSHMEM_DMA_OFFSET +
			       DMA_IDS * (uint64_t)NTB_IVSHMEM_DMA_SIZE) {
		pr_err("dma: needs static peers, the engine's id and a region of %u bytes",
		       NTB_IVSHMEM_DMA_OFFSET + DMA_IDS * NTB_IVSHMEM_DMA_SIZE);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->shm = shm;
	e->t = t;
	e->kick_fd = t->slots[dma_id].efds[0];
	for (i = 0; i < DMA_IDS; i++)
		e->file[i].path = ram[i];
	e->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (e->stop_fd < 0) {
		pr_err("dma: eventfd: %s", strerror(errno));
		free(e);
		return NULL;
	}
	/* The kick eventfd is polled only: a read never blocks on it. */
	fcntl(e->kick_fd, F_SETFL, fcntl(e->kick_fd, F_GETFL) | O_NONBLOCK);
	err = pthread_create(&e->thread, NULL, dma_thread, e);
	if (err) {
		pr_err("dma: pthread_create: %s", strerror(err));
		close(e->stop_fd);
		free(e);
		return NULL;
	}
	return e;
}

void dma_stop(struct dma_engine *e)
{
	uint64_t one = 1;
	int i;

	if (!e)
		return;
	if (write(e->stop_fd, &one, sizeof(one)) < 0)
		pr_err("dma: stop: %s", strerror(errno));
	pthread_join(e->thread, NULL);
	close(e->stop_fd);
	for (i = 0; i < DMA_IDS; i++)
		if (e->file[i].ram.base)
			munmap(e->file[i].ram.base, e->file[i].ram.size);
	free(e);
}
