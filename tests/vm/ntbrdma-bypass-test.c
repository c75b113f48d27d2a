// SPDX-License-Identifier: GPL-2.0
/*
 * A peer MR deregistered while the requester's provider writes into it
 * from user space (tests/vm/ntbrdma-bypass.sh).
 *
 *   ntbrdma-bypass-test serve DEV PORT
 *   ntbrdma-bypass-test client DEV IP PORT
 *
 * The client RDMA WRITEs 64 KiB at a time into the server's MR, without
 * end, each WRITE stamping every page with its sequence number, until a
 * WRITE completes in error.  Once the client is
 * writing, the server deregisters the MR and waits until the client's
 * MR_DEL_ACK let it go (the MR leaves its debugfs mr_dying list); then it
 * copies the buffer, waits a second while the client is still posting,
 * and checks that not one byte changed: no store reaches an MR after the
 * acknowledgement.  The client checks that its first failed WRITE
 * completed with IBV_WC_REM_ACCESS_ERR (and that WRITEs succeeded before).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define CHUNK (64u << 10)
#define MR_DYING "/sys/kernel/debug/ntbrdma_ib/%s/mr_dying"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* rkey still waits for the peer's MR_DEL_ACK (in mr_dying)? */
static int dying(const char *dev, uint32_t rkey)
{
	char path[128], line[256], want[32];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), MR_DYING, dev);
	snprintf(want, sizeof(want), "rkey=%#010x", rkey);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		found |= !!strstr(line, want);
	fclose(f);
	return found;
}

static int serve(const char *dev, int port)
{
	unsigned char *copy = malloc(BUF_SIZE);
	uint32_t rkey;
	struct peer p;
	double t;
	int d = 1;
	char go;

	if (!copy || peer_open(&p, dev, NULL, port))
		return 1;
	rkey = p.e.dmr->rkey;
	/* The client says when it has written a while. */
	CHECK(read(p.fd, &go, 1) == 1, "server: the client is writing");
	usleep(300000);
	CHECK(!ibv_dereg_mr(p.e.dmr), "server: MR %#x deregistered", rkey);
	p.e.dmr = NULL;
	for (t = now_s(); now_s() - t < 60; usleep(10000)) {
		d = dying(dev, rkey);
		if (d <= 0)
			break;
	}
	CHECK(d == 0, "server: the client acknowledged the removal (%.2f s)",
	      now_s() - t);
	memcpy(copy, p.e.dst, BUF_SIZE);
	sleep(1);
	CHECK(!memcmp(copy, p.e.dst, BUF_SIZE),
	      "server: no byte of the MR changed in the second after the acknowledgement");
	barrier(p.fd);
	return failures ? 1 : 0;
}

static int client(const char *dev, const char *ip, int port)
{
	uint64_t i, ok = 0, off, pg;
	struct ibv_wc wc = { 0 };
	bool told = false, err = false;
	struct ibv_sge sge;
	struct peer p;
	double t0;
	int rc;

	if (peer_open(&p, dev, ip, port))
		return 1;
	t0 = now_s();
	for (i = 1; !err && now_s() - t0 < 60; i++) {
		off = (i % (BUF_SIZE / CHUNK)) * CHUNK;
		for (pg = 0; pg < CHUNK; pg += 4096)
			memcpy(p.e.src + off + pg, &i, sizeof(i));
		sge = (struct ibv_sge){ (uintptr_t)p.e.src + off, CHUNK,
					p.e.smr->lkey };
		/* Signalled (post_rdma): each WRITE's completion, in turn. */
		rc = post_rdma(p.qp, IBV_WR_RDMA_WRITE, i, &sge, 1,
			       p.them.addr + off, p.them.rkey, 0, 0);
		if (rc) {
			printf("# client: post %llu: %s\n",
			       (unsigned long long)i, strerror(rc));
			break;
		}
		if (wait_wc(p.e.scq, &wc))
			break;
		if (wc.status != IBV_WC_SUCCESS)
			err = true;
		else
			ok++;
		if (!told && ok >= 32) {
			CHECK(write(p.fd, "g", 1) == 1,
			      "client: %llu WRITEs succeeded, the server may go on",
			      (unsigned long long)ok);
			told = true;
		}
	}
	CHECK(err && wc.status == IBV_WC_REM_ACCESS_ERR,
	      "client: the WRITE after the removal completed with REM_ACCESS_ERR (got %s after %llu WRITEs)",
	      err ? ibv_wc_status_str(wc.status) : "none",
	      (unsigned long long)i);
	barrier(p.fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: %s serve DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
