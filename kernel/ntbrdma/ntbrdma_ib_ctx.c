// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: user contexts, mmap of kernel rings and of peer MRs (the
 * latter in ntbrdma_ib_umap.c), protection domains.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "ntbrdma_ib.h"

int ntbr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata)
{
	struct ntbrdma_alloc_ucontext_resp resp = {
		.abi_version = NTBRDMA_ABI_VERSION,
		.cqe_size = sizeof(struct ntbrdma_cqe),
		.max_cqe = NTBR_MAX_CQE,
		.max_inline_data = NTBR_MAX_INLINE,
		.cq_cqe_offset = NTBRDMA_CQ_CQE_OFFSET,
		.dma_min_len = ntbr_dma_min_len(to_ntbr_ib(ibuc->device)->nd),
	};

	/* The provider sends no request data and wants the whole answer. */
	if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EINVAL;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	mutex_init(&to_ntbr_uc(ibuc)->sink_lock);
	return ib_copy_to_udata(udata, &resp, sizeof(resp));
}

/*
 * Every VMA of the context is gone (each holds the uverbs file, whose
 * release deallocates the context): so is every use of the sink page.
 */
void ntbr_dealloc_ucontext(struct ib_ucontext *ibuc)
{
	struct ntbr_ucontext *uc = to_ntbr_uc(ibuc);

	if (uc->sink)
		__free_page(uc->sink);
	mutex_destroy(&uc->sink_lock);
}

struct page *ntbr_uc_sink(struct ntbr_ucontext *uc)
{
	struct page *sink;

	mutex_lock(&uc->sink_lock);
	if (!uc->sink)
		uc->sink = alloc_page(GFP_KERNEL | __GFP_ZERO);
	sink = uc->sink;
	mutex_unlock(&uc->sink_lock);
	return sink;
}

/*
 * Ring memory is vmalloc_user()ed by its object (a CQ, a QP) and, once
 * mapped here, belongs to the mmap entry: the object's destroy (or a
 * resize) removes the entry, and the memory is vfree()d by
 * ntbr_mmap_free() when ib_core drops the entry's last reference - not
 * while an mmap() that found the entry is still mapping it.  Mappings
 * already made hold page references of their own (remap_vmalloc_range),
 * so they never see freed memory either.  On failure the caller keeps
 * buf.
 */
struct rdma_user_mmap_entry *ntbr_mmap_insert(struct ib_ucontext *ibuc,
					      void *buf, size_t size,
					      u64 *offset)
{
	struct ntbr_mmap_entry *entry;
	int err;

	entry = kzalloc(sizeof(*entry), GFP_KERNEL);
	if (!entry)
		return ERR_PTR(-ENOMEM);
	entry->buf = buf;
	err = rdma_user_mmap_entry_insert(ibuc, &entry->rdma_entry, size);
	if (err) {
		kfree(entry);
		return ERR_PTR(err);
	}
	*offset = rdma_user_mmap_get_offset(&entry->rdma_entry);
	return &entry->rdma_entry;
}

int ntbr_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *rdma_entry;
	struct ntbr_mmap_entry *entry;
	int err;

	/* Checks that the size equals the entry's. */
	rdma_entry = rdma_user_mmap_entry_get(ibuc, vma);
	if (!rdma_entry)
		return -EINVAL;
	entry = container_of(rdma_entry, struct ntbr_mmap_entry, rdma_entry);
	if (entry->umap) {
		/* The VMA keeps the reference until it closes. */
		err = ntbr_umap_mmap(entry->umap, vma);
		if (err)
			rdma_user_mmap_entry_put(rdma_entry);
		return err;
	}
	err = remap_vmalloc_range(vma, entry->buf, 0);
	rdma_user_mmap_entry_put(rdma_entry);
	return err;
}

void ntbr_mmap_free(struct rdma_user_mmap_entry *rdma_entry)
{
	struct ntbr_mmap_entry *entry =
		container_of(rdma_entry, struct ntbr_mmap_entry, rdma_entry);

	if (entry->umap) {
		/* Revoked (that removed the entry) and no VMA left. */
		mutex_destroy(&entry->umap->lock);
		kfree(entry->umap);
		return;
	}
	vfree(entry->buf);
	kfree(entry);
}

void ntbr_ring_buf_free(void *buf, struct rdma_user_mmap_entry *entry)
{
	if (entry)
		rdma_user_mmap_entry_remove(entry);	/* frees buf, later */
	else
		vfree(buf);
}

int ntbr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibpd->device);

	/*
	 * Nothing else to allocate yet: PD checks use the ib_pd itself.
	 * ib_core tracks it (restrack); the provider needs no response data.
	 */
	if (atomic_inc_return(&dev->num_pd) > NTBR_MAX_PD) {
		atomic_dec(&dev->num_pd);
		return -ENOMEM;
	}
	return 0;
}

int ntbr_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_ntbr_ib(ibpd->device)->num_pd);
	return 0;
}
