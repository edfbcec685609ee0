/*
 * Minimal 6in4 forwarder in C: the baseline sixtun is measured against
 * (bench/e2e). One static tunnel, no checks beyond the outer source, no
 * PMTU, no ECN: only what moving packets needs. Compiled by the bench into a
 * temporary directory; not part of sixtun.
 *   fwd6in4 single|batch TUN LOCAL_IPV4 REMOTE_IPV4
 * single: one read/sendto and one recvfrom/write per packet;
 * batch:  up to 64 packets per recvmmsg/sendmmsg and per TUN read loop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048

static volatile sig_atomic_t running = 1;
static void stop(int sig) { (void)sig; running = 0; }

static uint16_t csum(const uint8_t *p, int len) {
  uint32_t s = 0;
  for (int i = 0; i < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static void encap(uint8_t *b, int inner, uint32_t local, uint32_t remote) {
  int total = inner + 20;
  memset(b, 0, 20);
  b[0] = 0x45;
  b[2] = total >> 8; b[3] = total & 0xff;
  b[6] = 0x40;                          /* DF */
  b[8] = 255; b[9] = 41;
  memcpy(b + 12, &local, 4);
  memcpy(b + 16, &remote, 4);
  uint16_t c = csum(b, 20);
  b[10] = c >> 8; b[11] = c & 0xff;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: fwd6in4 single|batch TUN LOCAL REMOTE\n"); return 2; }
  int batch = strcmp(argv[1], "batch") == 0;
  uint32_t local, remote;
  inet_pton(AF_INET, argv[3], &local);
  inet_pton(AF_INET, argv[4], &remote);
  int tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[2], IFNAMSIZ - 1);
  if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) < 0) { perror("tun"); return 1; }
  int raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, 41);
  int one = 1, big = 4 << 20;
  setsockopt(raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
  setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  printf("ready\n");
  fflush(stdout);
  static uint8_t tx[BATCH][SLOT], rx[BATCH][SLOT];
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = remote};
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  struct pollfd pfd[2] = {{tun, POLLIN, 0}, {raw, POLLIN, 0}};
  while (running) {
    if (poll(pfd, 2, 200) <= 0) continue;
    if (pfd[0].revents & POLLIN) {
      int n = 0;
      for (; n < (batch ? BATCH : 1); n++) {
        ssize_t r = read(tun, tx[n] + 20, SLOT - 20);
        if (r <= 0) break;
        encap(tx[n], (int)r, local, remote);
        iov[n].iov_base = tx[n];
        iov[n].iov_len = (size_t)r + 20;
        memset(&msgs[n], 0, sizeof(msgs[n]));
        msgs[n].msg_hdr.msg_iov = &iov[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        msgs[n].msg_hdr.msg_name = &to;
        msgs[n].msg_hdr.msg_namelen = sizeof(to);
      }
      if (n > 0) {
        if (batch) sendmmsg(raw, msgs, (unsigned)n, 0);
        else sendto(raw, tx[0], iov[0].iov_len, 0, (struct sockaddr *)&to, sizeof(to));
      }
    }
    if (pfd[1].revents & POLLIN) {
      int n;
      if (batch) {
        for (int i = 0; i < BATCH; i++) {
          iov[i].iov_base = rx[i];
          iov[i].iov_len = sizeof(rx[i]);
          memset(&msgs[i], 0, sizeof(msgs[i]));
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_hdr.msg_name = &from[i];
          msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
        }
        n = recvmmsg(raw, msgs, BATCH, MSG_DONTWAIT, NULL);
      } else {
        socklen_t fl = sizeof(from[0]);
        ssize_t r = recvfrom(raw, rx[0], sizeof(rx[0]), MSG_DONTWAIT, (struct sockaddr *)&from[0], &fl);
        n = r > 0 ? 1 : 0;
        msgs[0].msg_len = r > 0 ? (unsigned)r : 0;
      }
      for (int i = 0; i < n; i++) {
        uint8_t *b = rx[i];
        int len = (int)msgs[i].msg_len;
        if (len < 40 || from[i].sin_addr.s_addr != remote) continue;
        int ihl = (b[0] & 15) * 4;
        if (write(tun, b + ihl, (size_t)(len - ihl)) < 0 && errno != EAGAIN) perror("write");
      }
    }
  }
  return 0;
}
