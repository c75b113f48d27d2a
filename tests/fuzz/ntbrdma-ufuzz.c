// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: a hostile local user against ntbrdma's uverbs interface
 * (issue 9, "hostile-user fuzzer"; tests/fuzz/README says how to run it,
 * tests/vm/ntbrdma-fuzz-user.sh runs it in the testbed).
 *
 * Several threads share tables of PDs, CQs, MRs and QPs and run random,
 * structurally plausible operations on them until --seconds expire:
 *
 *  - through libibverbs (the provider): alloc/dealloc PD, create/destroy/
 *    resize/poll/arm CQ, reg/dereg MR (addresses in a guarded buffer, a
 *    read-only file mapping, unmapped, PROT_NONE, kernel, munmap'd after
 *    registration; lengths 0 to huge; random access flags), create/modify
 *    (every state, valid and random attributes, loopback and peer
 *    destinations)/destroy QP, post_send/post_recv chains with random
 *    opcodes, SGE counts, keys (live, stale, random), lengths and inline;
 *  - around it ("raw" objects): CQs and QPs created by uverbs write()
 *    commands on the context's fd, whose rings this program maps itself
 *    and writes directly: producer and consumer indices (also the words
 *    the kernel owns), armed words, random WQE slots; kicks and random
 *    post_send/post_recv commands; raw modify_qp with random attributes;
 *    raw destroys racing the other threads' ring writes, kicks and polls
 *    (the mapping stays until the slot is recycled, as the kernel must
 *    keep its pages); raw commands on random handles (never a destroy);
 *  - fork: a child that inherits the rings and the fd writes the rings
 *    it inherited and issues raw commands (which uverbs refuses: see
 *    child_main()), then exits;
 *  - with a peer: mappings of the peer's MRs, through any QP or through
 *    the anchor, a QP connected to the peer fuzzer's anchor so that the
 *    kernel grants them (ufuzz-anchor.c), written and read at random
 *    while the peer registers its anchor MR again and deregisters the
 *    old one under them.
 *
 * Reproducible: each thread's sequence comes from its own generator seeded
 * by the 64-bit seed (printed at start) and the thread index, so one
 * thread (-t 1) with the same seed repeats the same operations (the
 * kernel's answers may still differ with timing).
 *
 * Oracles checked here: the process only sees errors and error
 * completions (a crash or a signal ends it as the test's failure), every
 * completion of a provider CQ has a valid status and opcode, the read-only
 * file mapping registered without LOCAL_WRITE is never written, the
 * peer's writes land only inside our anchor MRs, no
 * operation hangs (60 s: exit 3), every fork child exits, and teardown
 * destroys every object one by one (no EBUSY: none is left in use, see
 * teardown()).  Exit 0: all held.  The VM test checks the rest
 * (kernel log, leaked objects, a verified exchange afterwards).
 *
 * This file runs the threads (the operations' weights, the hang watch),
 * the teardown, the summary and the options; the operations are in
 * ufuzz-objects.c (PDs, CQs, MRs), ufuzz-qp.c (QPs through their verbs),
 * ufuzz-rings.c (ring writes, stray commands, mmap, fork) and
 * ufuzz-anchor.c (the QP connected to the peer fuzzer's), built on
 * ufuzz-raw.c (raw uverbs commands) and ufuzz-util.c (generator,
 * statistics, tables, buffers); ufuzz.h declares what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "ufuzz.h"

struct thr {
	pthread_t tid;
	int idx;
	struct rng r;
	_Atomic double op_start;
	atomic_int cur_op;
	unsigned long ops;
};

static struct thr thrs[MAX_THREADS];

/* --- the threads ----------------------------------------------------------- */

struct weight {
	enum op op;
	unsigned int w;
};

static const struct weight weights[] = {
	{ OP_PD_ALLOC, 3 },   { OP_PD_FREE, 1 },
	{ OP_CQ_CREATE, 4 },  { OP_CQ_CREATE_RAW, 4 },
	{ OP_CQ_DESTROY, 2 }, { OP_CQ_DESTROY_RAW, 1 },
	{ OP_CQ_RESIZE, 3 },  { OP_CQ_POLL, 12 },
	{ OP_CQ_NOTIFY, 3 },  { OP_CQ_RING, 4 },
	{ OP_MR_REG, 6 },     { OP_MR_DEREG, 3 },
	{ OP_QP_CREATE, 5 },  { OP_QP_CREATE_RAW, 5 },
	{ OP_QP_DESTROY, 3 }, { OP_QP_DESTROY_RAW, 1 },
	{ OP_QP_MODIFY, 5 },  { OP_QP_MODIFY_RAW, 4 },
	{ OP_QP_CONNECT, 8 }, { OP_QP_QUERY, 2 },
	{ OP_POST_SEND, 14 }, { OP_POST_RECV, 10 },
	{ OP_POST_WR, 6 },    { OP_RING_WRITE, 16 },
	{ OP_KICK, 4 },	      { OP_RAW_POST, 4 },
	{ OP_RAW_STRAY, 2 },  { OP_MMAP, 2 },
	{ OP_MAP_PEER, 3 },   { OP_EVENTS, 2 },
	{ OP_FORK, 0 },	      { OP_ANCHOR, 2 },
};

static bool do_fork;

static enum op pick_op(struct rng *r)
{
	unsigned int total = 0, x;
	size_t i;

	for (i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
		total += weights[i].op == OP_FORK ? do_fork : weights[i].w;
	x = below(r, total);
	for (i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
		unsigned int w = weights[i].op == OP_FORK ? do_fork :
							    weights[i].w;

		if (x < w)
			return weights[i].op;
		x -= w;
	}
	return OP_CQ_POLL;
}

static void run_op(struct rng *r, enum op op)
{
	switch (op) {
	case OP_PD_ALLOC:
	case OP_PD_FREE:
		op_pd(r, op == OP_PD_ALLOC);
		break;
	case OP_CQ_CREATE:
	case OP_CQ_CREATE_RAW:
		op_cq_create(r, op == OP_CQ_CREATE_RAW);
		break;
	case OP_CQ_DESTROY:
		op_cq_destroy(r);
		break;
	case OP_CQ_DESTROY_RAW:
		op_cq_destroy_raw(r);
		break;
	case OP_CQ_RESIZE:
		op_cq_resize(r);
		break;
	case OP_CQ_POLL:
		op_cq_poll(r);
		break;
	case OP_CQ_NOTIFY:
		op_cq_notify(r);
		break;
	case OP_CQ_RING:
		op_cq_ring(r);
		break;
	case OP_MR_REG:
		op_mr_reg(r);
		break;
	case OP_MR_DEREG:
		op_mr_dereg(r);
		break;
	case OP_QP_CREATE:
	case OP_QP_CREATE_RAW:
		op_qp_create(r, op == OP_QP_CREATE_RAW);
		break;
	case OP_QP_DESTROY:
		op_qp_destroy(r);
		break;
	case OP_QP_DESTROY_RAW:
		op_qp_destroy_raw(r);
		break;
	case OP_QP_MODIFY:
	case OP_QP_MODIFY_RAW:
	case OP_QP_CONNECT:
		op_qp_modify(r, op);
		break;
	case OP_QP_QUERY:
		op_qp_query(r);
		break;
	case OP_POST_SEND:
		op_post_send(r);
		break;
	case OP_POST_RECV:
		op_post_recv(r);
		break;
	case OP_POST_WR:
		op_post_wr(r);
		break;
	case OP_RING_WRITE:
		op_ring_write(r);
		break;
	case OP_KICK:
		op_kick(r);
		break;
	case OP_RAW_POST:
		op_raw_post(r);
		break;
	case OP_RAW_STRAY:
		op_raw_stray(r);
		break;
	case OP_MAP_PEER:
		op_map_peer(r);
		break;
	case OP_MMAP:
		op_mmap(r);
		break;
	case OP_EVENTS:
		op_events();
		break;
	case OP_FORK:
		op_fork(r);
		break;
	case OP_ANCHOR:
		op_anchor(r);
		break;
	case OP_N:
		break;
	}
}

static bool verbose;

static void *thread_main(void *arg)
{
	struct thr *t = arg;

	while (!atomic_load(&stop)) {
		enum op op = pick_op(&t->r);

		if (verbose)
			printf("t%d %lu %s\n", t->idx, t->ops, op_names[op]);
		atomic_store(&t->cur_op, (int)op);
		atomic_store(&t->op_start, now_s());
		run_op(&t->r, op);
		atomic_store(&t->op_start, 0.0);
		t->ops++;
	}
	return NULL;
}

/* --- teardown and summary ---------------------------------------------- */

/* One object of teardown's not destroyed: says which and why. */
static int left(const char *what, int i, int err)
{
	printf("# teardown: %s slot %d not destroyed: %s\n", what, i,
	       strerror(err));
	return 1;
}

/*
 * Every object in the tables, destroyed one by one: QPs first (they hold
 * CQs and the PD), then MRs, CQs, PDs.  An oracle: the tables hold every
 * object the process made and only those (nothing is destroyed by a
 * random handle, see op_raw_stray; no slot is forgotten before its object
 * is gone, see qp_slot_destroy) and nothing else uses them now, so each
 * destroy succeeds; an EBUSY here is an object the kernel still counts as
 * used.
 */
static void teardown(void)
{
	int i, err, n = 0;

	for (i = 0; i < NQP; i++) {
		err = qp_slot_destroy(&qps[i]);
		if (err)
			n += left("QP", i, err);
	}
	for (i = 0; i < NMR; i++)
		if (mrs[i].mr) {
			err = ibv_dereg_mr(mrs[i].mr);
			if (err)
				n += left("MR", i, err);
		}
	for (i = 0; i < NCQ; i++) {
		err = cq_slot_destroy(&cqs[i]);
		if (err)
			n += left("CQ", i, err);
	}
	for (i = 0; i < NPD; i++)
		if (pds[i].pd) {
			err = ibv_dealloc_pd(pds[i].pd);
			if (err)
				n += left("PD", i, err);
		}
	if (n)
		failure("teardown: %d objects not destroyed", n);
	else
		printf("# teardown: every object destroyed\n");
}

static void summary(double secs)
{
	unsigned long total = 0;
	int i;

	printf("# %-16s %10s %10s %10s\n", "operation", "calls", "ok",
	       "errors");
	for (i = 0; i < OP_N; i++) {
		unsigned long c = atomic_load(&st_calls[i]);

		total += c;
		if (c)
			printf("# %-16s %10lu %10lu %10lu\n", op_names[i], c,
			       atomic_load(&st_ok[i]), atomic_load(&st_err[i]));
	}
	printf("# raw CQ entries read: %lu\n", atomic_load(&st_raw_cqe));
	printf("# QP destroys refused while in use (EBUSY), retried: %lu\n",
	       atomic_load(&st_qp_busy));
	printf("# peer MR mappings: %lu made; refused: %lu no such MR, %lu not allowed, %lu malformed\n",
	       atomic_load(&st_map_mapped), atomic_load(&st_map_noent),
	       atomic_load(&st_map_acces), atomic_load(&st_map_inval));
	printf("# provider CQ completions by status:");
	for (i = 0; i < 32; i++)
		if (atomic_load(&st_wc[i]))
			printf(" %s%d=%lu", i == 31 ? ">=" : "", i,
			       atomic_load(&st_wc[i]));
	printf("\n# fork children: %lu exited, %lu faulted on an inherited "
	       "ring; %lu of their commands accepted\n",
	       atomic_load(&st_child_ok), atomic_load(&st_child_segv),
	       atomic_load(&st_child_cmd_ok));
	printf("# %lu operations in %.1f s\n", total, secs);
}

static int parse_gid4(const char *ip, union ibv_gid *g)
{
	struct in_addr a;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return -1;
	memset(g, 0, sizeof(*g));
	g->raw[10] = 0xff;
	g->raw[11] = 0xff;
	memcpy(&g->raw[12], &a, 4);
	return 0;
}

/*
 * Regression (found by seed 1): a zero-length MR at an address inside a
 * page pinned that page and was announced to the peer, which refused it
 * (length 0), with a warning on both hosts; every MR with a local or
 * remote write right is announced, so any user could fill both kernel
 * logs.  Length 0 is refused (EINVAL), wherever it starts.
 */
static void check_zero_mr(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr;
	int i;

	if (!pd) {
		failure("alloc_pd: %s", strerror(errno));
		return;
	}
	for (i = 0; i < 2; i++) {
		mr = ibv_reg_mr(pd, rw_buf + i * 100, 0,
				IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE);
		if (mr) {
			failure("a zero-length MR at offset %d registered",
				i * 100);
			ibv_dereg_mr(mr);
		}
	}
	ibv_dealloc_pd(pd);
}

static void usage(const char *me)
{
	fprintf(stderr,
		"usage: %s [-d DEV] [-g GID_INDEX] [-s SECONDS] [-S SEED] "
		"[-t THREADS] [-p PEER_IPV4] [-F] [-v]\n"
		"  -d, --dev       device (ntbrdma0)\n"
		"  -g, --gid-index RoCE v2 GID index for loopback (0)\n"
		"  -s, --seconds   run time (60)\n"
		"  -S, --seed      64-bit seed (random; printed)\n"
		"  -t, --threads   threads (4; 1 reproduces a seed exactly)\n"
		"  -p, --peer      the peer host's IPv4: QPs aimed there too\n"
		"  -F, --no-fork   no fork children\n"
		"  -v, --verbose   print every operation\n",
		me);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "gid-index", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "peer", required_argument, NULL, 'p' },
		{ "no-fork", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev_name = "ntbrdma0", *peer_ip = NULL;
	struct ibv_device **list;
	double secs = 60, t0, end;
	uint64_t seed;
	int nthreads = 4, i, c, ndev;
	bool hung = false, joined[MAX_THREADS] = { false };

	do_fork = true;
	seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid()
								      << 32;
	while ((c = getopt_long(argc, argv, "d:g:s:S:t:p:Fv", lo, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			dev_name = optarg;
			break;
		case 'g':
			gid_index = atoi(optarg);
			break;
		case 's':
			secs = atof(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'p':
			if (parse_gid4(optarg, &peer_gid))
				usage(argv[0]);
			peer_ip = optarg;
			have_peer = true;
			break;
		case 'F':
			do_fork = false;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || secs <= 0)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# ntbrdma-ufuzz: seed %" PRIu64 " (0x%016" PRIx64
	       "), %d threads, %.0f s, %s%s\n",
	       seed, seed, nthreads, secs, dev_name,
	       have_peer ? ", with peer" : "");
	signal(SIGPIPE, SIG_IGN);

	list = ibv_get_device_list(&ndev);
	for (i = 0; list && i < ndev; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			ctx = ibv_open_device(list[i]);
	if (!ctx) {
		printf("FAIL: cannot open %s\n", dev_name);
		return 1;
	}
	ibv_free_device_list(list);
	cmd_fd = ctx->cmd_fd;
	if (ibv_query_gid(ctx, 1, gid_index, &gid)) {
		printf("FAIL: no GID %d on %s\n", gid_index, dev_name);
		return 1;
	}
	if (buffers_init()) {
		printf("FAIL: buffers: %s\n", strerror(errno));
		return 1;
	}
	{
		struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);

		if (!ch) {
			printf("FAIL: comp channel: %s\n", strerror(errno));
			return 1;
		}
		chan_fd = ch->fd;
		fcntl(chan_fd, F_SETFL, fcntl(chan_fd, F_GETFL) | O_NONBLOCK);
	}
	check_zero_mr();
	if (peer_ip)
		anchor_init(peer_ip);
	for (i = 0; i < NPD; i++)
		pthread_rwlock_init(&pds[i].lk, NULL);
	for (i = 0; i < NCQ; i++)
		pthread_rwlock_init(&cqs[i].lk, NULL);
	for (i = 0; i < NMR; i++)
		pthread_rwlock_init(&mrs[i].lk, NULL);
	for (i = 0; i < NQP; i++)
		pthread_rwlock_init(&qps[i].lk, NULL);

	t0 = now_s();
	end = t0 + secs;
	for (i = 0; i < nthreads; i++) {
		thrs[i].idx = i;
		thrs[i].r.s = seed + (uint64_t)i * 0xd1b54a32d192ed03ull;
		if (pthread_create(&thrs[i].tid, NULL, thread_main, &thrs[i])) {
			printf("FAIL: pthread_create\n");
			return 1;
		}
	}
	while (now_s() < end + HANG_S) {
		double t = now_s(), oldest = 0;
		int who = -1;

		if (t >= end)
			atomic_store(&stop, 1);
		for (i = 0; i < nthreads; i++) {
			double s = atomic_load(&thrs[i].op_start);

			if (s > 0 && t - s > oldest) {
				oldest = t - s;
				who = i;
			}
		}
		if (oldest > HANG_S) {
			printf("FAIL: thread %d hangs in %s for %.0f s (seed "
			       "%" PRIu64 ")\n",
			       who, op_names[atomic_load(&thrs[who].cur_op)],
			       oldest, seed);
			hung = true;
			break;
		}
		if (atomic_load(&stop)) {
			bool all = true;

			for (i = 0; i < nthreads; i++)
				if (!joined[i] &&
				    pthread_tryjoin_np(thrs[i].tid, NULL) ==
					    EBUSY)
					all = false;
				else
					joined[i] = true;
			if (all)
				break;
		}
		usleep(100000);
	}
	if (hung) {
		summary(now_s() - t0);
		fflush(stdout);
		_exit(3);
	}
	summary(now_s() - t0);
	check_ro();
	/* Deregistered first: no peer write lands after (MR_DEL_ACK). */
	anchor_fini();
	anchor_check();
	teardown();
	if (ibv_close_device(ctx))
		failure("ibv_close_device: %s", strerror(errno));
	check_ro();
	printf("# seed %" PRIu64 ": %s\n", seed,
	       atomic_load(&failed) ? "FAILED" : "passed");
	return atomic_load(&failed) ? 1 : 0;
}
