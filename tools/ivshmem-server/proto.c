// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Messages of the ivshmem server protocol.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"

int proto_send(int sock, int64_t val, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint64_t le = htole64((uint64_t)val);
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cmsg;
	size_t done = 0;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}

	while (done < sizeof(le)) {
		iov.iov_base = (char *)&le + done;
		iov.iov_len = sizeof(le) - done;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* SO_SNDTIMEO expired: the client does not read. */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		done += n;
		/* The descriptor travelled with the first byte. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}

int proto_send_greeting(int sock, int64_t id, int shm_fd)
{
	int ret;

	ret = proto_send(sock, IVSHMEM_PROTOCOL_VERSION, -1);
	if (!ret)
		ret = proto_send(sock, id, -1);
	if (!ret)
		ret = proto_send(sock, IVSHMEM_MSG_SHM, shm_fd);
	return ret;
}

int proto_send_peer_fds(int sock, int64_t id, const int *fds, unsigned int n)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = proto_send(sock, id, fds[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int proto_send_disconnect(int sock, int64_t id)
{
	return proto_send(sock, id, -1);
}
