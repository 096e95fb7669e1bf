/*
 * A C program that loads libsynack_packetdrill.so the way packetdrill's shared-object mode does
 * (dlopen with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | RTLD_DEEPBIND, dlsym of
 * packetdrill_interface_init) and calls it through the interface struct as C declares it: the
 * field list below is written from the field order and types packetdrill.h documents. It does a
 * passive handshake, a variadic fcntl and ioctl, and the close.
 *
 * Usage: so_smoke PATH_TO_SO. Exit status 0 on success; a message on stderr otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct iface {
	void *userdata;
	void (*free)(void *userdata);
	int (*socket)(void *userdata, int domain, int type, int protocol);
	int (*bind)(void *userdata, int sockfd, const struct sockaddr *addr,
		    socklen_t addrlen);
	int (*listen)(void *userdata, int sockfd, int backlog);
	int (*accept)(void *userdata, int sockfd, struct sockaddr *addr,
		      socklen_t *addrlen);
	int (*connect)(void *userdata, int sockfd, const struct sockaddr *addr,
		       socklen_t addrlen);
	ssize_t (*read)(void *userdata, int fd, void *buf, size_t count);
	ssize_t (*readv)(void *userdata, int fd, const struct iovec *iov,
			 int iovcnt);
	ssize_t (*recv)(void *userdata, int sockfd, void *buf, size_t len,
			int flags);
	ssize_t (*recvfrom)(void *userdata, int sockfd, void *buf, size_t len,
			    int flags, struct sockaddr *src_addr,
			    socklen_t *addrlen);
	ssize_t (*recvmsg)(void *userdata, int sockfd, struct msghdr *msg,
			   int flags);
	ssize_t (*write)(void *userdata, int fd, const void *buf, size_t count);
	ssize_t (*writev)(void *userdata, int fd, const struct iovec *iov,
			  int iovcnt);
	ssize_t (*send)(void *userdata, int sockfd, const void *buf, size_t len,
			int flags);
	ssize_t (*sendto)(void *userdata, int sockfd, const void *buf,
			  size_t len, int flags,
			  const struct sockaddr *dest_addr, socklen_t addrlen);
	ssize_t (*sendmsg)(void *userdata, int sockfd, const struct msghdr *msg,
			   int flags);
	int (*fcntl)(void *userdata, int fd, int cmd, ...);
	int (*ioctl)(void *userdata, int fd, unsigned long request, ...);
	int (*close)(void *userdata, int fd);
	int (*shutdown)(void *userdata, int sockfd, int how);
	int (*getsockopt)(void *userdata, int sockfd, int level, int optname,
			  void *optval, socklen_t *optlen);
	int (*setsockopt)(void *userdata, int sockfd, int level, int optname,
			  const void *optval, socklen_t optlen);
	int (*poll)(void *userdata, struct pollfd *fds, nfds_t nfds,
		    int timeout);
	int (*netdev_send)(void *userdata, const void *buf, size_t count);
	int (*netdev_receive)(void *userdata, void *buf, size_t *count,
			      long long *time_usecs);
	int (*usleep)(void *userdata, useconds_t usec);
	int (*gettimeofday)(void *userdata, struct timeval *tv,
			    struct timezone *tz);
	int (*epoll_create)(void *userdata, int size);
	int (*epoll_ctl)(void *userdata, int epfd, int op, int fd,
			 struct epoll_event *event);
	int (*epoll_wait)(void *userdata, int epfd, struct epoll_event *events,
			  int maxevents, int timeout);
	int (*pipe)(void *userdata, int pipefd[2]);
	int (*splice)(void *userdata, int fd_in, loff_t *off_in, int fd_out,
		      loff_t *off_out, size_t len, unsigned int flags);
};

typedef void (*init_t)(const char *flags, struct iface *);

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 TCP segment from 192.0.2.1:40000 to 192.168.0.2:8080 with no options. */
static size_t segment(uint8_t *b, uint32_t seq, uint32_t ack, uint8_t flags)
{
	const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {192, 168, 0, 2};
	memset(b, 0, 40);
	b[0] = 0x45;
	b[3] = 40;
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	memcpy(b + 12, src, 4);
	memcpy(b + 16, dst, 4);
	uint16_t c = csum(b, 20, 0);
	b[10] = c >> 8;
	b[11] = c & 0xff;
	uint8_t *t = b + 20;
	t[0] = 40000 >> 8; t[1] = 40000 & 0xff;
	t[2] = 8080 >> 8; t[3] = 8080 & 0xff;
	t[4] = seq >> 24; t[5] = seq >> 16; t[6] = seq >> 8; t[7] = seq;
	t[8] = ack >> 24; t[9] = ack >> 16; t[10] = ack >> 8; t[11] = ack;
	t[12] = 5 << 4;
	t[13] = flags;
	t[14] = 0xff; t[15] = 0xff;
	uint8_t pseudo[12];
	memcpy(pseudo, src, 4);
	memcpy(pseudo + 4, dst, 4);
	pseudo[8] = 0; pseudo[9] = IPPROTO_TCP; pseudo[10] = 0; pseudo[11] = 20;
	uint32_t sum = 0;
	for (int i = 0; i < 12; i += 2)
		sum += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
	c = csum(t, 20, sum);
	t[16] = c >> 8;
	t[17] = c & 0xff;
	return 40;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		FAIL("usage: so_smoke PATH_TO_SO");
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | RTLD_DEEPBIND);
	if (!h)
		FAIL("dlopen: %s", dlerror());
	init_t init = (init_t)dlsym(h, "packetdrill_interface_init");
	if (!init)
		FAIL("dlsym: %s", dlerror());
	struct iface ifc;
	memset(&ifc, 0, sizeof(ifc));
	init("local_ip=192.168.0.2 sysctls=0", &ifc);
	void *u = ifc.userdata;
	if (!u || !ifc.splice || !ifc.fcntl || !ifc.ioctl)
		FAIL("the interface is not filled");

	int fd = ifc.socket(u, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
	inet_pton(AF_INET, "192.168.0.2", &a.sin_addr);
	if (fd < 0 || ifc.bind(u, fd, (struct sockaddr *)&a, sizeof(a)) || ifc.listen(u, fd, 1))
		FAIL("socket/bind/listen");

	uint8_t pkt[2048];
	size_t n = segment(pkt, 0, 0, 0x02 /* SYN */);
	if (ifc.netdev_send(u, pkt, n))
		FAIL("netdev_send");
	size_t count = sizeof(pkt);
	long long t = 0;
	if (ifc.netdev_receive(u, pkt, &count, &t) || count < 40)
		FAIL("netdev_receive");
	if (pkt[20 + 13] != 0x12)
		FAIL("expected SYN+ACK, got flags 0x%x", pkt[20 + 13]);
	uint32_t iss = (uint32_t)pkt[24] << 24 | pkt[25] << 16 | pkt[26] << 8 | pkt[27];
	struct timeval tv;
	if (ifc.gettimeofday(u, &tv, NULL) || tv.tv_sec * 1000000LL + tv.tv_usec < t)
		FAIL("gettimeofday");

	n = segment(pkt, 1, iss + 1, 0x10 /* ACK */);
	ifc.netdev_send(u, pkt, n);
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int c = ifc.accept(u, fd, (struct sockaddr *)&peer, &len);
	if (c < 0 || len != sizeof(peer) || ntohs(peer.sin_port) != 40000)
		FAIL("accept");

	/* The variadic calls, made as C makes them. */
	int fl = ifc.fcntl(u, c, F_GETFL);
	if (fl != O_RDWR || ifc.fcntl(u, c, F_SETFL, fl | O_NONBLOCK) ||
	    !(ifc.fcntl(u, c, F_GETFL) & O_NONBLOCK))
		FAIL("fcntl");
	char buf[16];
	if (ifc.read(u, c, buf, sizeof(buf)) != -1)
		FAIL("non-blocking read of nothing");
	int inq = -1;
	if (ifc.ioctl(u, c, FIONREAD, &inq) || inq != 0)
		FAIL("ioctl FIONREAD");
	if (ifc.epoll_create(u, 1) != -1)
		FAIL("epoll_create is not supported");

	if (ifc.close(u, c) || ifc.close(u, fd))
		FAIL("close");
	count = sizeof(pkt);
	if (ifc.netdev_receive(u, pkt, &count, &t) || count < 40 || pkt[20 + 13] != 0x11)
		FAIL("expected FIN+ACK after close");
	ifc.free(u);
	printf("ok\n");
	return 0;
}
