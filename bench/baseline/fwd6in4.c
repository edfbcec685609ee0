/*
 * Minimal 6in4 forwarder in C: the baseline sixtun is measured against
 * (bench/e2e). One static tunnel, no checks beyond the outer source, no
 * PMTU, no ECN: only what moving packets needs. Compiled by the bench into a
 * temporary directory; not part of sixtun.
 *   fwd6in4 single|batch|offload|uring|threads TUN LOCAL_IPV4 REMOTE_IPV4|@TABLE
 * single:  one read/send and one recvfrom/write per packet;
 * batch:   up to 64 packets per recvmmsg/sendmmsg and per TUN read loop;
 * offload: batch, plus a TUN with IFF_VNET_HDR: TCP super-packets (TSO) are
 *          segmented here, and runs of consecutive TCP segments of one flow
 *          in a received batch are coalesced into one write (GRO), each
 *          segment's checksum verified first, as wireguard-go does;
 * uring:   batch, the TUN writes of a received batch in one io_uring_enter;
 * threads: offload, with each direction in a thread of its own.
 * @TABLE: many tunnels (a broker), from a file of lines "CLIENT_IPV4 PREFIX"
 * (PREFIX an IPv6 /64, e.g. 2001:db8:1000:1::; several lines per client):
 * the remote of a sent packet is the client whose /64 holds its inner
 * destination, a received packet must come from a known client and carry an
 * inner source in one of its /64s (BCP 38); both in open-addressing hash
 * tables, as a C broker would.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define BATCH 64
#define SLOT 2048
#define BIG 65600
#define VNET 10

static volatile sig_atomic_t running = 1;
static void stop(int sig) { (void)sig; running = 0; }

/* One's-complement sum of big-endian words, folded, not complemented. */
static uint32_t sum(const uint8_t *p, size_t len, uint64_t s) {
  while (len >= 4) { uint32_t w; memcpy(&w, p, 4); s += ntohl(w); p += 4; len -= 4; }
  if (len >= 2) { s += (uint32_t)(p[0] << 8 | p[1]); p += 2; len -= 2; }
  if (len) s += (uint32_t)(p[0] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint32_t)s;
}

static uint32_t pseudo6(const uint8_t *ip, uint32_t tcp_len) { return sum(ip + 8, 32, (uint64_t)6 + tcp_len); }

static void encap(uint8_t *b, int inner, uint32_t local, uint32_t remote) {
  int total = inner + 20;
  memset(b, 0, 20);
  b[0] = 0x45;
  b[2] = total >> 8; b[3] = total & 0xff;
  b[6] = 0x40;                          /* DF */
  b[8] = 255; b[9] = 41;
  memcpy(b + 12, &local, 4);
  memcpy(b + 16, &remote, 4);
  uint16_t c = (uint16_t)~sum(b, 20, 0);
  b[10] = c >> 8; b[11] = c & 0xff;
}

static uint8_t tx[BATCH][SLOT], rx[BATCH][SLOT], big[BIG], out[BIG];
static struct mmsghdr msgs[BATCH];
static struct iovec iov[BATCH];
static struct sockaddr_in to[BATCH], from[BATCH];
static int ntx;
static int raw, tun, offload;
static uint32_t local, remote;

/* The broker's tables: /64 prefix -> client IPv4, client IPv4 -> known. */
#define TABLE_SLOTS (1 << 20)
static uint64_t prefix_key[TABLE_SLOTS];
static uint32_t prefix_client[TABLE_SLOTS];
static uint32_t client_key[TABLE_SLOTS];
static int broker;

static uint32_t slot_of(uint64_t k) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 44); }

static uint64_t prefix64(const uint8_t *a) { uint64_t k; memcpy(&k, a, 8); return k | 1; /* never 0: 0 marks free */ }

/* The client whose /64 holds address a, or 0. */
static uint32_t client_of(const uint8_t *a) {
  uint64_t k = prefix64(a);
  for (uint32_t i = slot_of(k);; i = (i + 1) & (TABLE_SLOTS - 1)) {
    if (prefix_key[i] == k) return prefix_client[i];
    if (prefix_key[i] == 0) return 0;
  }
}

static int known_client(uint32_t v4) {
  for (uint32_t i = slot_of(v4);; i = (i + 1) & (TABLE_SLOTS - 1)) {
    if (client_key[i] == v4) return 1;
    if (client_key[i] == 0) return 0;
  }
}

static int load_table(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) { perror(file); return -1; }
  char v4[64], v6[64];
  int n = 0;
  while (fscanf(f, "%63s %63s", v4, v6) == 2) {
    uint32_t c;
    uint8_t a[16];
    if (inet_pton(AF_INET, v4, &c) != 1 || inet_pton(AF_INET6, v6, a) != 1 || c == 0 || n >= TABLE_SLOTS / 2) { fclose(f); return -1; }
    uint64_t k = prefix64(a);
    uint32_t i = slot_of(k);
    while (prefix_key[i] != 0 && prefix_key[i] != k) i = (i + 1) & (TABLE_SLOTS - 1);
    prefix_key[i] = k;
    prefix_client[i] = c;
    for (i = slot_of(c); client_key[i] != 0 && client_key[i] != c; i = (i + 1) & (TABLE_SLOTS - 1)) {}
    client_key[i] = c;
    n++;
  }
  fclose(f);
  return n;
}

/* Whether a received datagram from v4 with inner packet p may be forwarded. */
static int accepted(uint32_t v4, const uint8_t *p) {
  if (!broker) return v4 == remote;
  return known_client(v4) && client_of(p + 8) == v4;
}

static void flush_tx(void) {
  if (ntx > 0) sendmmsg(raw, msgs, (unsigned)ntx, 0);
  ntx = 0;
}

/* Queues the inner packet already in tx[ntx] + 20. */
static void queue_tx(int inner) {
  uint32_t r = broker ? client_of(tx[ntx] + 20 + 24) : remote;
  if (r == 0) return;
  encap(tx[ntx], inner, local, r);
  to[ntx].sin_family = AF_INET;
  to[ntx].sin_addr.s_addr = r;
  iov[ntx].iov_base = tx[ntx];
  iov[ntx].iov_len = (size_t)inner + 20;
  memset(&msgs[ntx], 0, sizeof(msgs[ntx]));
  msgs[ntx].msg_hdr.msg_iov = &iov[ntx];
  msgs[ntx].msg_hdr.msg_iovlen = 1;
  msgs[ntx].msg_hdr.msg_name = &to[ntx];
  msgs[ntx].msg_hdr.msg_namelen = sizeof(to[ntx]);
  if (++ntx == BATCH) flush_tx();
}

/* uring mode: the TUN writes of a received batch as one io_uring submission. */
static int use_uring, ring_fd;
static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;

static int uring_setup(unsigned entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  ring_fd = (int)syscall(__NR_io_uring_setup, entries, &p);
  if (ring_fd < 0) return -1;
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  uint8_t *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
  uint8_t *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_CQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -1;
  sq_tail = (unsigned *)(sq + p.sq_off.tail);
  sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  sq_array = (unsigned *)(sq + p.sq_off.array);
  cq_head = (unsigned *)(cq + p.cq_off.head);
  cq_tail = (unsigned *)(cq + p.cq_off.tail);
  cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  return 0;
}

/* Writes pkts[0..n) to the TUN in one io_uring_enter. */
static void uring_write_all(uint8_t **pkts, int *lens, int n) {
  unsigned tail = *sq_tail;
  for (int i = 0; i < n; i++) {
    unsigned idx = tail & *sq_mask;
    struct io_uring_sqe *e = &sqes[idx];
    memset(e, 0, sizeof(*e));
    e->opcode = IORING_OP_WRITE;
    e->fd = tun;
    e->addr = (uint64_t)(uintptr_t)pkts[i];
    e->len = (unsigned)lens[i];
    e->off = (uint64_t)-1;
    e->user_data = (uint64_t)i;
    sq_array[idx] = idx;
    tail++;
  }
  __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
  syscall(__NR_io_uring_enter, ring_fd, (unsigned)n, (unsigned)n, IORING_ENTER_GETEVENTS, NULL, 0);
  unsigned head = *cq_head;
  while (head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) head++;
  __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* One TUN read with a virtio header: finish, or segment, into tx slots. */
static void tun_offloaded(const uint8_t *b, int n) {
  struct virtio_net_hdr h;
  if (n < VNET) return;
  memcpy(&h, b, VNET);
  const uint8_t *p = b + VNET;
  int len = n - VNET;
  if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (len > SLOT - 20) return;
    uint8_t *d = tx[ntx] + 20;
    memcpy(d, p, (size_t)len);
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      uint16_t c = (uint16_t)~sum(d + h.csum_start, (size_t)(len - h.csum_start), 0);
      put16(d + h.csum_start + h.csum_offset, c);
    }
    queue_tx(len);
    return;
  }
  if (h.gso_type != VIRTIO_NET_HDR_GSO_TCPV6 || len < 60 || p[6] != 6) return;
  int thl = (p[52] >> 4) * 4, hdr = 40 + thl, payload = len - hdr, mss = h.gso_size;
  if (mss <= 0 || hdr + mss > SLOT - 20) return;
  uint32_t seq = (uint32_t)p[44] << 24 | (uint32_t)p[45] << 16 | (uint32_t)p[46] << 8 | p[47];
  for (int at = 0; at < payload; at += mss) {
    int seg = payload - at < mss ? payload - at : mss;
    uint8_t *d = tx[ntx] + 20;
    memcpy(d, p, (size_t)hdr);
    memcpy(d + hdr, p + hdr + at, (size_t)seg);
    put16(d + 4, (uint16_t)(thl + seg));
    uint32_t s = htonl(seq + (uint32_t)at);
    memcpy(d + 44, &s, 4);
    if (at + seg < payload) d[53] &= (uint8_t)~0x09; /* FIN, PSH on the last only */
    if (at > 0) d[53] &= (uint8_t)~0x80;             /* CWR on the first only */
    d[56] = d[57] = 0;
    put16(d + 56, (uint16_t)~sum(d + 40, (size_t)(thl + seg), pseudo6(d, (uint32_t)(thl + seg))));
    queue_tx(hdr + seg);
  }
}

static int tcp_ok(const uint8_t *ip, int len) {
  return sum(ip + 40, (size_t)(len - 40), pseudo6(ip, (uint32_t)(len - 40))) == 0xffff;
}

/* Can segment q (len ql) follow the run in out (len ol, segment size mss)? */
static int joins(const uint8_t *o, int ol, int mss, const uint8_t *q, int ql) {
  int thl = (o[52] >> 4) * 4;
  if (ql < 60 || q[6] != 6 || (q[52] >> 4) * 4 != thl || memcmp(o, q, 4) || o[7] != q[7]) return 0;
  if (memcmp(o + 8, q + 8, 36) || memcmp(o + 48, q + 48, 4) || memcmp(o + 60, q + 60, (size_t)(thl - 20))) return 0;
  if ((q[53] & ~0x08) != 0x10 || (o[53] & 0x08)) return 0;
  int run = ol - 40 - thl, seg = ql - 40 - thl;
  if (seg <= 0 || seg > mss || run % mss || ol + seg > 65535 + 40) return 0;
  uint32_t oseq = (uint32_t)o[44] << 24 | (uint32_t)o[45] << 16 | (uint32_t)o[46] << 8 | o[47];
  uint32_t qseq = (uint32_t)q[44] << 24 | (uint32_t)q[45] << 16 | (uint32_t)q[46] << 8 | q[47];
  return oseq + (uint32_t)run == qseq && tcp_ok(q, ql);
}

static void write_plain(const uint8_t *p, int len) {
  static const uint8_t zero[VNET];
  struct iovec v[2] = {{(void *)zero, VNET}, {(void *)p, (size_t)len}};
  if (writev(tun, v, 2) < 0 && errno != EAGAIN) perror("write");
}

/* Writes received inner packets, coalescing runs of one TCP flow. */
static void rx_offloaded(uint8_t **pkts, int *lens, int n) {
  for (int i = 0; i < n;) {
    const uint8_t *p = pkts[i];
    int len = lens[i];
    int thl = len >= 60 && p[6] == 6 ? (p[52] >> 4) * 4 : 0;
    int mss = len - 40 - thl;
    int j = i + 1;
    if (thl >= 20 && mss > 0 && (p[53] & ~0x08) == 0x10 && j < n && tcp_ok(p, len)) {
      uint8_t *o = out + VNET;
      int ol = len;
      memcpy(o, p, (size_t)len);
      for (; j < n && joins(o, ol, mss, pkts[j], lens[j]); j++) {
        memcpy(o + ol, pkts[j] + 40 + thl, (size_t)(lens[j] - 40 - thl));
        ol += lens[j] - 40 - thl;
        o[53] |= pkts[j][53] & 0x08;
      }
      if (j > i + 1) {
        struct virtio_net_hdr h = {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, (uint16_t)(40 + thl), (uint16_t)mss, 40, 16};
        memcpy(out, &h, VNET);
        put16(o + 4, (uint16_t)(ol - 40));
        put16(o + 56, (uint16_t)pseudo6(o, (uint32_t)(ol - 40)));
        if (write(tun, out, (size_t)(ol + VNET)) < 0 && errno != EAGAIN) perror("write gro");
        i = j;
        continue;
      }
    }
    write_plain(p, len);
    i++;
  }
}

static int batch;

/* TUN readable: read, encapsulate and send until the TUN is empty or a batch is done. */
static void from_tun(void) {
  for (int n = 0; n < (batch ? BATCH : 1); n++) {
    if (offload) {
      ssize_t r = read(tun, big, sizeof(big));
      if (r <= 0) break;
      tun_offloaded(big, (int)r);
    } else {
      ssize_t r = read(tun, tx[ntx] + 20, SLOT - 20);
      if (r <= 0) break;
      queue_tx((int)r);
      if (!batch) flush_tx();
    }
  }
  flush_tx();
}

/* Raw socket readable: receive a batch, check, decapsulate, write to the TUN. */
static void from_wire(void) {
  static struct mmsghdr rmsgs[BATCH];
  static struct iovec riov[BATCH];
  int n;
  if (batch) {
    for (int i = 0; i < BATCH; i++) {
      riov[i].iov_base = rx[i];
      riov[i].iov_len = sizeof(rx[i]);
      memset(&rmsgs[i], 0, sizeof(rmsgs[i]));
      rmsgs[i].msg_hdr.msg_iov = &riov[i];
      rmsgs[i].msg_hdr.msg_iovlen = 1;
      rmsgs[i].msg_hdr.msg_name = &from[i];
      rmsgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    n = recvmmsg(raw, rmsgs, BATCH, MSG_DONTWAIT, NULL);
  } else {
    socklen_t fl = sizeof(from[0]);
    ssize_t r = recvfrom(raw, rx[0], sizeof(rx[0]), MSG_DONTWAIT, (struct sockaddr *)&from[0], &fl);
    n = r > 0 ? 1 : 0;
    rmsgs[0].msg_len = r > 0 ? (unsigned)r : 0;
  }
  uint8_t *pkts[BATCH];
  int lens[BATCH], m = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *b = rx[i];
    int len = (int)rmsgs[i].msg_len;
    int ihl = (b[0] & 15) * 4;
    if (len < ihl + 40 || !accepted(from[i].sin_addr.s_addr, b + ihl)) continue;
    pkts[m] = b + ihl;
    lens[m++] = len - ihl;
  }
  if (offload) {
    rx_offloaded(pkts, lens, m);
  } else if (use_uring) {
    if (m > 0) uring_write_all(pkts, lens, m);
  } else {
    for (int i = 0; i < m; i++)
      if (write(tun, pkts[i], (size_t)lens[i]) < 0 && errno != EAGAIN) perror("write");
  }
}

/* threads mode: one direction per thread, each blocked in its own poll. */
static void *wire_thread(void *arg) {
  (void)arg;
  struct pollfd pfd = {raw, POLLIN, 0};
  while (running)
    if (poll(&pfd, 1, 200) > 0 && (pfd.revents & POLLIN)) from_wire();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: fwd6in4 single|batch|offload|uring|threads TUN LOCAL REMOTE|@TABLE\n"); return 2; }
  batch = strcmp(argv[1], "single") != 0;
  use_uring = strcmp(argv[1], "uring") == 0;
  if (use_uring && uring_setup(256) < 0) { perror("io_uring_setup"); return 1; }
  int threads = strcmp(argv[1], "threads") == 0;
  offload = strcmp(argv[1], "offload") == 0 || threads;
  inet_pton(AF_INET, argv[3], &local);
  broker = argv[4][0] == '@';
  if (broker ? load_table(argv[4] + 1) <= 0 : inet_pton(AF_INET, argv[4], &remote) != 1) {
    fprintf(stderr, "bad remote or table: %s\n", argv[4]);
    return 2;
  }
  tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, argv[2], IFNAMSIZ - 1);
  if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) < 0) { perror("tun"); return 1; }
  if (offload && ioctl(tun, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO6) < 0) { perror("TUNSETOFFLOAD"); return 1; }
  raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, 41);
  int one = 1, rbuf = 4 << 20;
  setsockopt(raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
  setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &rbuf, sizeof(rbuf));
  setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &rbuf, sizeof(rbuf));
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  pthread_t wire;
  if (threads && pthread_create(&wire, NULL, wire_thread, NULL) != 0) { perror("pthread_create"); return 1; }
  printf("ready\n");
  fflush(stdout);
  struct pollfd pfd[2] = {{tun, POLLIN, 0}, {raw, POLLIN, 0}};
  while (running) {
    if (poll(pfd, threads ? 1 : 2, 200) <= 0) continue;
    if (pfd[0].revents & POLLIN) from_tun();
    if (!threads && (pfd[1].revents & POLLIN)) from_wire();
  }
  if (threads) pthread_join(wire, NULL);
  return 0;
}
