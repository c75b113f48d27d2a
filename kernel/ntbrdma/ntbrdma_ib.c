// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the ib_device of an NTB link.
 *
 * `rdma link add NAME type ntbrdma netdev ntbX` creates one ib_device on the
 * ntbr_dev behind ntbX (RoCE v2 personality: Ethernet link layer, GIDs from
 * ntbX's addresses); `rdma link del NAME`, removal of the NTB device and
 * module unload destroy it.
 *
 * Locking:
 *  - ntbr_ib_mutex serialises creation (newlink) against removal
 *    (ntbr_ib_remove, ntbr_ib_exit), so a device being created is either
 *    fully registered or gone when removal looks at it.  It is never taken
 *    from an ib_core callback.
 *  - ntbr_ib_lock (spinlock) protects ntbr_ib_devs and the per-ntbr_dev
 *    pointer (ntbr_set_ib/ntbr_get_ib).  dealloc_driver, which ib_core calls
 *    from any unregistration (rdma link del, our own unregister, or a
 *    failed registration) takes only this lock, so unregistering while
 *    holding ntbr_ib_mutex cannot deadlock.
 */
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/ntb.h>
#include <net/addrconf.h>
#include <rdma/rdma_netlink.h>

#include "ntbrdma_ib.h"

static DEFINE_MUTEX(ntbr_ib_mutex);
static DEFINE_SPINLOCK(ntbr_ib_lock);
static LIST_HEAD(ntbr_ib_devs);
static DECLARE_WAIT_QUEUE_HEAD(ntbr_ib_gone);
static struct dentry *ntbr_ib_dbg_root;

/*
 * Stored with ntbr_set_ib() once ntbr_ib_remove() ran: the ntbr_dev and
 * its netdev are going away, no new ib_device may be created on them.
 */
#define NTBR_IB_GONE ERR_PTR(-ENODEV)

/* Our device on nd, or NULL; under ntbr_ib_lock or ntbr_ib_mutex. */
static struct ntbr_ib_dev *ntbr_ib_of(struct ntbr_dev *nd)
{
	void *ib = ntbr_get_ib(nd);

	return IS_ERR(ib) ? NULL : ib;
}

/*
 * Test hook, root only, debugfs only: "N [S]" written to
 * /sys/kernel/debug/ntbrdma_ib/DEV/inject_cqe posts N receive completions
 * (solicited if S is 1) to every user CQ of DEV, so the VM tests exercise
 * the CQ ring, arming and overflow before QPs exist.
 */
static ssize_t ntbr_inject_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct ntbr_ib_dev *dev = file->private_data;
	unsigned int n, solicited = 0;
	char buf[32];
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	ret = sscanf(buf, "%u %u", &n, &solicited);
	if (ret < 1 || n > NTBR_MAX_CQE + 1 || solicited > 1)
		return -EINVAL;
	ntbr_cq_inject(dev, n, solicited);
	return count;
}

static const struct file_operations ntbr_inject_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = ntbr_inject_write,
	.llseek = noop_llseek,
};

static ssize_t ntbrdma_abi_version_show(struct device *device,
					struct device_attribute *attr,
					char *buf)
{
	return sysfs_emit(buf, "%u\n", NTBRDMA_ABI_VERSION);
}
static DEVICE_ATTR_RO(ntbrdma_abi_version);

static struct attribute *ntbr_ib_attrs[] = {
	&dev_attr_ntbrdma_abi_version.attr,
	NULL,
};

static const struct attribute_group ntbr_ib_attr_group = {
	.attrs = ntbr_ib_attrs,
};

/* Called by ib_core once the device is unregistered (or never was). */
static void ntbr_dealloc_driver(struct ib_device *ibdev)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibdev);

	/* Waits for writers of the test hook to leave. */
	debugfs_remove_recursive(dev->dbg);
	ntbr_umap_dev_fini(dev);
	ntbr_mr_dev_fini(dev);
	ntbr_ud_dev_fini(dev);
	ntbr_srq_dev_fini(dev);
	xa_destroy(&dev->ahs);
	spin_lock(&ntbr_ib_lock);
	list_del_init(&dev->list);
	if (ntbr_get_ib(dev->nd) == dev)
		ntbr_set_ib(dev->nd, NULL);
	spin_unlock(&ntbr_ib_lock);
	ntbr_dev_put(dev->nd);
	wake_up_all(&ntbr_ib_gone);
}

static const struct ib_device_ops ntbr_ib_dev_ops = {
	.owner = THIS_MODULE,
	/*
	 * The kernel has no driver id for us and squatting another driver's
	 * id would bind the wrong provider: the provider matches by its own
	 * sysfs attribute (ntbrdma_abi_version) instead.
	 */
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_no_driver_id_binding = 1,
	.uverbs_abi_ver = NTBRDMA_ABI_VERSION,
	.device_group = &ntbr_ib_attr_group,

	.alloc_pd = ntbr_alloc_pd,
	.create_ah = ntbr_create_ah,
	.create_user_ah = ntbr_create_ah,
	.destroy_ah = ntbr_destroy_ah,
	.query_ah = ntbr_query_ah,
	.alloc_ucontext = ntbr_alloc_ucontext,
	.create_cq = ntbr_create_cq,
	.create_qp = ntbr_create_qp,
	.create_srq = ntbr_create_srq,
	.dealloc_driver = ntbr_dealloc_driver,
	.dereg_mr = ntbr_dereg_mr,
	.dealloc_pd = ntbr_dealloc_pd,
	.dealloc_ucontext = ntbr_dealloc_ucontext,
	.destroy_cq = ntbr_destroy_cq,
	.destroy_qp = ntbr_destroy_qp,
	.destroy_srq = ntbr_destroy_srq,
	.fill_res_qp_entry = ntbr_fill_res_qp_entry,
	.get_dev_fw_str = ntbr_get_dev_fw_str,
	.get_dma_mr = ntbr_get_dma_mr,
	.get_link_layer = ntbr_get_link_layer,
	.get_port_immutable = ntbr_get_port_immutable,
	.mmap = ntbr_mmap,
	.mmap_free = ntbr_mmap_free,
	.modify_qp = ntbr_modify_qp,
	.modify_srq = ntbr_modify_srq,
	.poll_cq = ntbr_poll_cq,
	.post_recv = ntbr_post_recv,
	.post_send = ntbr_post_send,
	.post_srq_recv = ntbr_post_srq_recv,
	.query_device = ntbr_query_device,
	.query_pkey = ntbr_query_pkey,
	.query_port = ntbr_query_port,
	.reg_user_mr = ntbr_reg_user_mr,
	.query_qp = ntbr_query_qp,
	.query_srq = ntbr_query_srq,
	.req_notify_cq = ntbr_req_notify_cq,
	.resize_cq = ntbr_resize_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, ntbr_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, ntbr_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_pd, ntbr_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, ntbr_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, ntbr_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, ntbr_ucontext, ibuc),
};

static int ntbr_newlink(const char *ibdev_name, struct net_device *ndev)
{
	struct ntbr_ib_dev *dev;
	struct ntbr_dev *nd;
	int err;

	/* nldev_newlink holds a reference on ndev. */
	nd = ntbr_dev_from_netdev(ndev);
	if (!nd)
		return -ENODEV;

	mutex_lock(&ntbr_ib_mutex);
	if (ntbr_get_ib(nd) == NTBR_IB_GONE) {
		err = -ENODEV;
		goto err_put;
	}
	if (ntbr_get_ib(nd)) {
		err = -EEXIST;
		goto err_put;
	}

	dev = ib_alloc_device(ntbr_ib_dev, ibdev);
	if (!dev) {
		err = -ENOMEM;
		goto err_put;
	}
	dev->nd = nd;
	INIT_LIST_HEAD(&dev->list);
	spin_lock_init(&dev->cq_lock);
	INIT_LIST_HEAD(&dev->cqs);
	ntbr_mr_dev_init(dev);
	ntbr_umap_dev_init(dev);
	xa_init_flags(&dev->qps, XA_FLAGS_ALLOC);
	xa_init_flags(&dev->ahs, XA_FLAGS_ALLOC);
	ntbr_srq_dev_init(dev);
	init_rwsem(&dev->eng_sem);
	/* The provider's kick is a post_send system call (as siw). */
	dev->ibdev.uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
				      BIT_ULL(IB_USER_VERBS_CMD_POST_RECV) |
				      BIT_ULL(IB_USER_VERBS_CMD_POST_SRQ_RECV);

	ib_set_device_ops(&dev->ibdev, &ntbr_ib_dev_ops);
	ntbr_init_device_attrs(dev);

	err = ntbr_ud_dev_init(dev);
	if (!err)
		err = ib_device_set_netdev(&dev->ibdev, ndev, 1);
	if (err) {
		ib_dealloc_device(&dev->ibdev); /* dealloc_driver puts nd */
		goto err_unlock;
	}

	spin_lock(&ntbr_ib_lock);
	list_add_tail(&dev->list, &ntbr_ib_devs);
	ntbr_set_ib(nd, dev);
	/* From here on ntbr_ib_port_event tracks link changes. */
	dev->port_active = ntbr_link_ready(nd);
	spin_unlock(&ntbr_ib_lock);

	/*
	 * Before registering: once registered, `rdma link del` may free dev
	 * at any time.  dealloc_driver removes it (also on failure).
	 */
	dev->dbg = debugfs_create_dir(ibdev_name, ntbr_ib_dbg_root);
	debugfs_create_file("inject_cqe", 0200, dev->dbg, dev,
			    &ntbr_inject_fops);
	ntbr_rmr_debugfs(dev, dev->dbg);
	ntbr_mr_debugfs(dev, dev->dbg);
	ntbr_umap_debugfs(dev, dev->dbg);
	ntbr_inbox_debugfs(dev, dev->dbg);
	ntbr_ud_debugfs(dev, dev->dbg);

	/*
	 * Virtual DMA (dma_device NULL), as rxe and siw: kernel ULPs hand us
	 * kernel virtual addresses; memory the peer writes into is mapped
	 * for ntbr_dma_device() by this driver itself.
	 */
	err = ib_register_device(&dev->ibdev, ibdev_name, NULL);
	if (err) {
		/* Unregistered: free it, dealloc_driver unlinks and puts nd. */
		ib_dealloc_device(&dev->ibdev);
		goto err_unlock;
	}
	ntbr_mr_dev_registered(dev);
	mutex_unlock(&ntbr_ib_mutex);
	return 0;

err_put:
	ntbr_dev_put(nd);
err_unlock:
	mutex_unlock(&ntbr_ib_mutex);
	return err;
}

static struct rdma_link_ops ntbr_link_ops = {
	.type = "ntbrdma",
	.newlink = ntbr_newlink,
};

/*
 * Unregister dev (taken from the list under ntbr_ib_lock, which we must
 * have pinned with get_device).  Returns when it is unregistered and freed
 * by ib_core, also if another thread (rdma link del) got there first.
 */
static void ntbr_ib_unregister(struct ntbr_ib_dev *dev)
{
	ib_unregister_device(&dev->ibdev);
	put_device(&dev->ibdev.dev);
}

void ntbr_ib_remove(struct ntbr_dev *nd)
{
	struct ntbr_ib_dev *dev;

	mutex_lock(&ntbr_ib_mutex);
	spin_lock(&ntbr_ib_lock);
	dev = ntbr_ib_of(nd);
	if (dev)
		get_device(&dev->ibdev.dev);
	spin_unlock(&ntbr_ib_lock);
	/*
	 * Waits for user contexts of this device to be closed, as rxe and
	 * siw do (no disassociate_ucontext yet).
	 */
	if (dev)
		ntbr_ib_unregister(dev);
	/* No `rdma link add` on this ntbr_dev from now on. */
	spin_lock(&ntbr_ib_lock);
	ntbr_set_ib(nd, NTBR_IB_GONE);
	spin_unlock(&ntbr_ib_lock);
	mutex_unlock(&ntbr_ib_mutex);
}

static void ntbr_ib_port_event(struct ntbr_dev *nd, bool active)
{
	struct ntbr_ib_dev *dev;
	struct ib_event ev = {};
	bool changed = false;
	bool registered = false;

	spin_lock(&ntbr_ib_lock);
	dev = ntbr_ib_of(nd);
	if (dev) {
		changed = dev->port_active != active;
		dev->port_active = active;
		registered = ib_device_try_get(&dev->ibdev);
	}
	spin_unlock(&ntbr_ib_lock);
	if (!registered)
		return;

	if (changed) {
		ev.device = &dev->ibdev;
		ev.element.port_num = 1;
		ev.event = active ? IB_EVENT_PORT_ACTIVE : IB_EVENT_PORT_ERR;
		ib_dispatch_event(&ev);
		ibdev_info(&dev->ibdev, "port 1 %s\n",
			   active ? "active" : "down");
	}
	if (active) {
		ntbr_mr_link_up(dev);
		ntbr_srq_link_up(dev);
	} else {
		/*
		 * The QPs stop first, then user space loses its mappings of
		 * the peer's memory (before a later link-up tells the peer
		 * we went through our teardown), then its MR table goes.
		 */
		ntbr_eng_link_down(dev);
		ntbr_ud_link_down(dev);
		ntbr_srq_link_down(dev);
		ntbr_umap_revoke(dev, NULL, true);
		ntbr_mr_link_down(dev);
	}
	ib_device_put(&dev->ibdev);
}

struct ntbr_ib_dev *ntbr_ib_dev_get(struct ntbr_dev *nd)
{
	struct ntbr_ib_dev *dev;

	spin_lock(&ntbr_ib_lock);
	dev = ntbr_ib_of(nd);
	if (dev && !ib_device_try_get(&dev->ibdev))
		dev = NULL;
	spin_unlock(&ntbr_ib_lock);
	return dev;
}

struct ntbr_ib_dev *ntbr_ib_dev_get_unreg(struct ntbr_dev *nd)
{
	struct ntbr_ib_dev *dev;

	spin_lock(&ntbr_ib_lock);
	dev = ntbr_ib_of(nd);
	if (dev)
		get_device(&dev->ibdev.dev);
	spin_unlock(&ntbr_ib_lock);
	return dev;
}

void ntbr_ib_link_up(struct ntbr_dev *nd)
{
	ntbr_ib_port_event(nd, true);
}

void ntbr_ib_link_down(struct ntbr_dev *nd)
{
	ntbr_ib_port_event(nd, false);
}

/*
 * The control queue has room again: MR announcements and removals, and
 * the QPs that held back for it (ntbr_eng_ctrl_wait), go on.
 */
void ntbr_ib_ctrl_room(struct ntbr_dev *nd)
{
	struct ntbr_ib_dev *dev = ntbr_ib_dev_get(nd);

	if (!dev)
		return;
	queue_work(ntbr_mr_wq, &dev->mrd.ann_work);
	ntbr_eng_ctrl_room(dev);
	ib_device_put(&dev->ibdev);
}

int ntbr_ib_init(void)
{
	int err;

	err = ntbr_mr_init();
	if (err)
		return err;
	err = ntbr_eng_init();
	if (err) {
		ntbr_mr_exit();
		return err;
	}
	err = ntbr_peer_init();
	if (err) {
		ntbr_eng_exit();
		ntbr_mr_exit();
		return err;
	}
	ntbr_ib_dbg_root = debugfs_create_dir("ntbrdma_ib", NULL);
	rdma_link_register(&ntbr_link_ops);
	return 0;
}

void ntbr_ib_exit(void)
{
	struct ntbr_ib_dev *dev;

	/* No new devices after this (nldev holds link_ops_rwsem in newlink). */
	rdma_link_unregister(&ntbr_link_ops);

	/* Unregister only our own devices, never a driver id. */
	mutex_lock(&ntbr_ib_mutex);
	for (;;) {
		spin_lock(&ntbr_ib_lock);
		dev = list_first_entry_or_null(&ntbr_ib_devs,
					       struct ntbr_ib_dev, list);
		if (dev)
			get_device(&dev->ibdev.dev);
		spin_unlock(&ntbr_ib_lock);
		if (!dev)
			break;
		ntbr_ib_unregister(dev);
	}
	mutex_unlock(&ntbr_ib_mutex);
	/* Fence unregistrations other threads may still be finishing. */
	wait_event(ntbr_ib_gone, list_empty_careful(&ntbr_ib_devs));
	debugfs_remove_recursive(ntbr_ib_dbg_root);
	ntbr_peer_exit();
	ntbr_eng_exit();
	ntbr_mr_exit();
}

MODULE_ALIAS_RDMA_LINK("ntbrdma");
