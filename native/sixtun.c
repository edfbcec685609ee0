/*
 * sixtun native addon: syscalls, batched I/O into caller-owned memory, and fd
 * readiness on the calling thread's libuv loop. It moves bytes and sets
 * options; every parse and every policy decision lives in TypeScript.
 *
 * Errors: a failed syscall throws an Error with code (errno name), errno and
 * syscall. EAGAIN/EWOULDBLOCK is not an error: batch calls return 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define MAX_BATCH 256
#define MAX_ARGS 10

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, "EINVAL", "sixtun native: bad argument");        \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

/* The errno's symbolic name: glibc knows them all (EBADFD, ENOTUNIQ …);
 * libuv only those it maps. */
static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n) return n;
#endif
  return uv_err_name(-err);
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, error, errno_value, syscall_value;
  char text[256];
  const char *name = errno_name(err);
  snprintf(text, sizeof(text), "%s %s (%s)", syscall, strerror(err), name);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_arg(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", what);
  return NULL;
}

/* Errors that mean the call itself is wrong, not one packet or a passing
 * network condition: these throw; the rest are reported per packet. */
static int is_hard_error(int err) {
  return err == EBADF || err == EFAULT || err == EINVAL || err == ENOTSOCK || err == EOPNOTSUPP;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* A Uint8Array (or Int32Array) argument: pointer to its first element and its
 * length in bytes. byteOffset is honoured by napi_get_typedarray_info. */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok)
    return 0;
  size_t width = 1;
  if (type == napi_int32_array || type == napi_uint32_array) width = 4;
  else if (type != napi_uint8_array) return 0;
  *data = p;
  *len = count * width;
  return 1;
}

static int get_i32_array(napi_env env, napi_value v, int32_t **data, size_t *count) {
  napi_typedarray_type type;
  size_t offset;
  napi_value ab;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, count, &p, &ab, &offset) != napi_ok)
    return 0;
  if (type != napi_int32_array) return 0;
  *data = p;
  return 1;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_undefined || t == napi_null;
}

#define ARGS(n)                                                              \
  size_t argc = (n);                                                         \
  napi_value argv[MAX_ARGS];                                                 \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));               \
  if (argc < (n)) return throw_arg(env, "missing arguments")

/* socket(domain, type, protocol) -> fd */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t domain, type, protocol;
  if (!get_i32(env, argv[0], &domain) || !get_i32(env, argv[1], &type) ||
      !get_i32(env, argv[2], &protocol))
    return throw_arg(env, "socket(domain, type, protocol)");
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, errno, "socket");
  return int_value(env, fd);
}

/* bind(fd, sockaddrBytes) / connect(fd, sockaddrBytes) */
static napi_value sockaddr_call(napi_env env, napi_callback_info info, int is_bind) {
  ARGS(2);
  int32_t fd;
  uint8_t *addr;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &addr, &len))
    return throw_arg(env, "(fd, sockaddr: Uint8Array)");
  int rc = is_bind ? bind(fd, (struct sockaddr *)addr, (socklen_t)len)
                   : connect(fd, (struct sockaddr *)addr, (socklen_t)len);
  if (rc < 0) return throw_errno(env, errno, is_bind ? "bind" : "connect");
  return int_value(env, 0);
}
static napi_value js_bind(napi_env env, napi_callback_info info) { return sockaddr_call(env, info, 1); }
static napi_value js_connect(napi_env env, napi_callback_info info) { return sockaddr_call(env, info, 0); }

/* setsockopt(fd, level, name, value: number | Uint8Array) */
static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd, level, name, ivalue;
  uint8_t *bytes;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name))
    return throw_arg(env, "setsockopt(fd, level, name, value)");
  int rc;
  if (get_i32(env, argv[3], &ivalue)) {
    int v = ivalue;
    rc = setsockopt(fd, level, name, &v, sizeof(v));
  } else if (get_bytes(env, argv[3], &bytes, &len)) {
    rc = setsockopt(fd, level, name, bytes, (socklen_t)len);
  } else {
    return throw_arg(env, "setsockopt value must be a number or Uint8Array");
  }
  if (rc < 0) return throw_errno(env, errno, "setsockopt");
  return int_value(env, 0);
}

/* attachFilter(fd, program: Uint8Array of 8-byte struct sock_filter):
 * SO_ATTACH_FILTER needs a struct holding a pointer, which only C can build. */
static napi_value js_attach_filter(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  uint8_t *prog;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &prog, &len) || len == 0 || len % 8 != 0 ||
      len / 8 > 4096)
    return throw_arg(env, "attachFilter(fd, program: Uint8Array of 8-byte instructions)");
  struct sock_fprog fprog = {(unsigned short)(len / 8), (struct sock_filter *)prog};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
    return throw_errno(env, errno, "setsockopt");
  return int_value(env, 0);
}

/* getsockopt(fd, level, name, out: Uint8Array) -> length written */
static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd, level, name;
  uint8_t *bytes;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name) ||
      !get_bytes(env, argv[3], &bytes, &len))
    return throw_arg(env, "getsockopt(fd, level, name, out: Uint8Array)");
  socklen_t optlen = (socklen_t)len;
  if (getsockopt(fd, level, name, bytes, &optlen) < 0) return throw_errno(env, errno, "getsockopt");
  return int_value(env, optlen);
}

/* ioctl(fd, request, arg: Uint8Array | number) -> return value */
static napi_value js_ioctl(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, ivalue;
  uint32_t request;
  uint8_t *bytes;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_value_uint32(env, argv[1], &request) != napi_ok)
    return throw_arg(env, "ioctl(fd, request, arg)");
  int rc;
  if (get_bytes(env, argv[2], &bytes, &len)) rc = ioctl(fd, (unsigned long)request, bytes);
  else if (get_i32(env, argv[2], &ivalue)) rc = ioctl(fd, (unsigned long)request, (unsigned long)ivalue);
  else return throw_arg(env, "ioctl arg must be a Uint8Array or number");
  if (rc < 0) return throw_errno(env, errno, "ioctl");
  return int_value(env, rc);
}

/* open(path, flags) -> fd */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[4096];
  size_t plen;
  int32_t flags;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &plen) != napi_ok ||
      !get_i32(env, argv[1], &flags))
    return throw_arg(env, "open(path, flags)");
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open");
  return int_value(env, fd);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_arg(env, "close(fd)");
  if (close(fd) < 0) return throw_errno(env, errno, "close");
  return int_value(env, 0);
}

static napi_value js_set_non_blocking(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_arg(env, "setNonBlocking(fd)");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return throw_errno(env, errno, "fcntl");
  return int_value(env, 0);
}

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IF_NAMESIZE + 1];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) != napi_ok)
    return throw_arg(env, "ifNameToIndex(name)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, errno, "if_nametoindex");
  return int_value(env, idx);
}

/* setns(fd, nstype): move the calling thread into a namespace (tests, demo). */
static napi_value js_setns(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, type;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &type)) return throw_arg(env, "setns(fd, type)");
  if (setns(fd, type) < 0) return throw_errno(env, errno, "setns");
  return int_value(env, 0);
}

/* keepCapabilities(on): prctl(PR_SET_KEEPCAPS) so permitted capabilities
 * survive the switch to an unprivileged user. */
static napi_value js_keep_capabilities(napi_env env, napi_callback_info info) {
  ARGS(1);
  bool on;
  if (napi_get_value_bool(env, argv[0], &on) != napi_ok) return throw_arg(env, "keepCapabilities(on: boolean)");
  if (prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl");
  return int_value(env, 0);
}

/* setCapabilities(effective, permitted, inheritable): capset(2) for the
 * calling thread with capability masks of the first 32 capabilities. */
static napi_value js_set_capabilities(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint32_t eff, perm, inh;
  if (napi_get_value_uint32(env, argv[0], &eff) != napi_ok || napi_get_value_uint32(env, argv[1], &perm) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &inh) != napi_ok)
    return throw_arg(env, "setCapabilities(effective, permitted, inheritable)");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  data[0].effective = eff;
  data[0].permitted = perm;
  data[0].inheritable = inh;
  if (syscall(SYS_capset, &hdr, data) < 0) return throw_errno(env, errno, "capset");
  return int_value(env, 0);
}

/* Lock-down of every thread. Capabilities, the bounding set, securebits and
 * no_new_privs belong to each thread, and the C library's broadcast covers
 * only set*id: a signal makes each thread apply them to itself. The signal
 * is one Node.js, libuv and V8 leave alone. */
#define LOCK_SIGNAL (SIGRTMIN + 5)
#define MAX_THREADS 1024

static uint64_t lock_keep;
static int32_t lock_securebits;
static int lock_errno;
static int lock_acks;

static int lock_down_self(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno;
  for (int cap = 0; cap < 64; cap++) {
    if (lock_keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      return errno;
    }
  }
  if (lock_securebits >= 0 && prctl(PR_SET_SECUREBITS, (unsigned long)lock_securebits, 0, 0, 0) < 0) return errno;
  return 0;
}

static void on_lock_signal(int sig) {
  (void)sig;
  int saved = errno;
  int e = lock_down_self();
  if (e) __atomic_store_n(&lock_errno, e, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&lock_acks, 1, __ATOMIC_SEQ_CST);
  errno = saved;
}

static bool seen_tid(const pid_t *tids, int n, pid_t tid) {
  for (int i = 0; i < n; i++)
    if (tids[i] == tid) return true;
  return false;
}

/* lockDownThreads(keepMask, securebits): on every thread of the process,
 * PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP of each capability outside keepMask
 * (a bit per capability, below 2^53) and, unless securebits < 0,
 * PR_SET_SECUREBITS. Returns { threads, unreached }: unreached threads
 * block the signal (they are left as they were). */
static napi_value js_lock_down_threads(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t keep;
  int32_t bits;
  if (napi_get_value_int64(env, argv[0], &keep) != napi_ok || !get_i32(env, argv[1], &bits))
    return throw_arg(env, "lockDownThreads(keepMask, securebits)");
  lock_keep = (uint64_t)keep;
  lock_securebits = bits;
  __atomic_store_n(&lock_errno, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&lock_acks, 0, __ATOMIC_SEQ_CST);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_lock_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(LOCK_SIGNAL, &sa, &old) < 0) return throw_errno(env, errno, "sigaction");
  int e = lock_down_self();
  pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
  static pid_t tids[MAX_THREADS];
  int n = 0, expected = 0;
  /* Rounds until no new thread appears: one may start while we look. */
  for (int round = 0; round < 8 && e == 0; round++) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) {
      e = errno;
      break;
    }
    int fresh = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
      pid_t tid = (pid_t)atoi(de->d_name);
      if (tid <= 0 || tid == self || seen_tid(tids, n, tid) || n == MAX_THREADS) continue;
      tids[n++] = tid;
      fresh++;
      if (syscall(SYS_tgkill, pid, tid, LOCK_SIGNAL) == 0) expected++;
    }
    closedir(dir);
    if (fresh == 0) break;
    struct timespec tick = {0, 1000000};
    for (int ms = 0; ms < 1000 && __atomic_load_n(&lock_acks, __ATOMIC_SEQ_CST) < expected; ms++) nanosleep(&tick, NULL);
  }
  /* Ignored from now on: discards the signal where it is still pending. */
  sa.sa_handler = SIG_IGN;
  sigaction(LOCK_SIGNAL, &sa, NULL);
  if (e == 0) e = __atomic_load_n(&lock_errno, __ATOMIC_SEQ_CST);
  if (e) return throw_errno(env, e, "prctl");
  napi_value out, threads, unreached;
  napi_create_object(env, &out);
  napi_create_int32(env, n + 1, &threads);
  napi_create_int32(env, expected - __atomic_load_n(&lock_acks, __ATOMIC_SEQ_CST), &unreached);
  napi_set_named_property(env, out, "threads", threads);
  napi_set_named_property(env, out, "unreached", unreached);
  return out;
}

static char **string_array(napi_env env, napi_value arr) {
  uint32_t len;
  if (napi_get_array_length(env, arr, &len) != napi_ok) return NULL;
  char **out = calloc(len + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < len; i++) {
    napi_value v;
    size_t n;
    if (napi_get_element(env, arr, i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
    out[i] = malloc(n + 1);
    if (!out[i] || napi_get_value_string_utf8(env, v, out[i], n + 1, &n) != napi_ok) return NULL;
  }
  return out;
}

/* execve(path, argv, env): replaces the process image, keeping stdio;
 * returns only by throwing. */
static napi_value js_execve(napi_env env, napi_callback_info info) {
  ARGS(3);
  char **args = string_array(env, argv[1]);
  char **envp = string_array(env, argv[2]);
  size_t n;
  char path[4096];
  if (!args || !envp || napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &n) != napi_ok)
    return throw_arg(env, "execve(path, argv: string[], env: string[])");
  /* Node marks its stdio close-on-exec: the new image keeps them. */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(path, args, envp);
  return throw_errno(env, errno, "execve");
}

/* Batch geometry shared by the batch calls: packet i lives in slab at
 * i * slotSize + offset, with lens[i] bytes (in: capacity is slotSize - offset;
 * out: bytes received). */
typedef struct {
  uint8_t *slab;
  size_t slab_len;
  int32_t slot_size;
  int32_t offset;
  int32_t *lens;
  size_t lens_count;
  int32_t count;
} batch_t;

static int get_batch(napi_env env, napi_value *argv, batch_t *b) {
  if (!get_bytes(env, argv[0], &b->slab, &b->slab_len) || !get_i32(env, argv[1], &b->slot_size) ||
      !get_i32(env, argv[2], &b->offset) || !get_i32_array(env, argv[3], &b->lens, &b->lens_count) ||
      !get_i32(env, argv[4], &b->count))
    return 0;
  if (b->slot_size <= 0 || b->offset < 0 || b->offset >= b->slot_size || b->count < 0) return 0;
  if (b->count > MAX_BATCH) b->count = MAX_BATCH;
  if ((size_t)b->count > b->lens_count) b->count = (int32_t)b->lens_count;
  if ((size_t)b->count * (size_t)b->slot_size > b->slab_len)
    b->count = (int32_t)(b->slab_len / (size_t)b->slot_size);
  return 1;
}

/* recvBatch(fd, slab, slotSize, offset, lens, count, names?, nameStride, ctrl?, ctrlStride)
 * recvmmsg into slots. names[i*nameStride] receives the source sockaddr.
 * ctrl[i*ctrlStride] receives the control-message length as an int32 and the
 * control messages themselves from byte 8 (keeping cmsg alignment). A datagram
 * larger than its slot reports a negative length (MSG_TRUNC). */
static napi_value js_recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_arg(env, "recvBatch(fd, slab, slotSize, offset, lens, count, names?, nameStride?, ctrl?, ctrlStride?)");
  int32_t fd, name_stride = 0, ctrl_stride = 0;
  batch_t b;
  uint8_t *names = NULL, *ctrl = NULL;
  size_t names_len = 0, ctrl_len = 0;
  if (!get_i32(env, argv[0], &fd) || !get_batch(env, argv + 1, &b)) return throw_arg(env, "recvBatch: bad batch");
  if (argc >= 8 && !is_nullish(env, argv[6])) {
    if (!get_bytes(env, argv[6], &names, &names_len) || !get_i32(env, argv[7], &name_stride) || name_stride <= 0)
      return throw_arg(env, "recvBatch: bad names");
    if ((size_t)b.count * (size_t)name_stride > names_len) b.count = (int32_t)(names_len / (size_t)name_stride);
  }
  if (argc >= 10 && !is_nullish(env, argv[8])) {
    if (!get_bytes(env, argv[8], &ctrl, &ctrl_len) || !get_i32(env, argv[9], &ctrl_stride) || ctrl_stride <= 8)
      return throw_arg(env, "recvBatch: bad ctrl");
    if ((size_t)b.count * (size_t)ctrl_stride > ctrl_len) b.count = (int32_t)(ctrl_len / (size_t)ctrl_stride);
  }
  if (b.count == 0) return int_value(env, 0);
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  memset(msgs, 0, sizeof(msgs[0]) * (size_t)b.count);
  for (int i = 0; i < b.count; i++) {
    iovs[i].iov_base = b.slab + (size_t)i * (size_t)b.slot_size + (size_t)b.offset;
    iovs[i].iov_len = (size_t)(b.slot_size - b.offset);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    if (names) {
      msgs[i].msg_hdr.msg_name = names + (size_t)i * (size_t)name_stride;
      msgs[i].msg_hdr.msg_namelen = (socklen_t)name_stride;
    }
    if (ctrl) {
      /* The first 4 bytes of each ctrl slot return the control length. */
      msgs[i].msg_hdr.msg_control = ctrl + (size_t)i * (size_t)ctrl_stride + 8;
      msgs[i].msg_hdr.msg_controllen = (size_t)(ctrl_stride - 8);
    }
  }
  int n = recvmmsg(fd, msgs, (unsigned)b.count, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, 0);
    if (is_hard_error(errno)) return throw_errno(env, errno, "recvmmsg");
    /* A pending socket error (an ICMP error with IP_RECVERR): -errno, the
     * caller drains the error queue. */
    return int_value(env, -errno);
  }
  for (int i = 0; i < n; i++) {
    b.lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -(int32_t)msgs[i].msg_len : (int32_t)msgs[i].msg_len;
    if (ctrl) {
      int32_t clen = (int32_t)msgs[i].msg_hdr.msg_controllen;
      memcpy(ctrl + (size_t)i * (size_t)ctrl_stride, &clen, sizeof(clen));
    }
  }
  return int_value(env, n);
}

/* sendmmsg of m prepared messages; message k is slot slot_of[k]: its
 * lens entry becomes 0 when sent, -errno when refused (the first unsent one
 * only); the result is the number sent. */
static napi_value send_prepared(napi_env env, int fd, struct mmsghdr *msgs, int m, int32_t *lens, const int *slot_of) {
  if (m == 0) return int_value(env, 0);
  int n = sendmmsg(fd, msgs, (unsigned)m, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, 0);
    if (is_hard_error(errno)) return throw_errno(env, errno, "sendmmsg");
    lens[slot_of[0]] = -errno;
    return int_value(env, 0);
  }
  for (int k = 0; k < n; k++) lens[slot_of[k]] = 0;
  return int_value(env, n);
}

/* sendBatch(fd, slab, slotSize, offset, lens, count, names?, nameStride, nameLen)
 * sendmmsg of the slots whose length is > 0; names[i*nameStride] holds each
 * destination sockaddr. On return a sent slot's length is 0, a slot the kernel
 * refused holds -errno, and slots not attempted keep their length; the result
 * is the number sent. The caller calls again while positive lengths remain
 * and progress is made (EAGAIN: nothing sent, nothing refused). */
static napi_value js_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_arg(env, "sendBatch(fd, slab, slotSize, offset, lens, count, names?, nameStride?, nameLen?)");
  int32_t fd, name_stride = 0, name_len = 0;
  batch_t b;
  uint8_t *names = NULL;
  size_t names_len = 0;
  if (!get_i32(env, argv[0], &fd) || !get_batch(env, argv + 1, &b)) return throw_arg(env, "sendBatch: bad batch");
  if (argc >= 9 && !is_nullish(env, argv[6])) {
    if (!get_bytes(env, argv[6], &names, &names_len) || !get_i32(env, argv[7], &name_stride) ||
        !get_i32(env, argv[8], &name_len) || name_len <= 0 || name_len > name_stride)
      return throw_arg(env, "sendBatch: bad names");
    if ((size_t)b.count * (size_t)name_stride > names_len) b.count = (int32_t)(names_len / (size_t)name_stride);
  }
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  int slot_of[MAX_BATCH];
  int m = 0;
  for (int i = 0; i < b.count; i++) {
    int32_t len = b.lens[i];
    if (len <= 0) continue;
    if (len > b.slot_size - b.offset) return throw_arg(env, "sendBatch: length exceeds slot");
    memset(&msgs[m], 0, sizeof(msgs[m]));
    iovs[m].iov_base = b.slab + (size_t)i * (size_t)b.slot_size + (size_t)b.offset;
    iovs[m].iov_len = (size_t)len;
    msgs[m].msg_hdr.msg_iov = &iovs[m];
    msgs[m].msg_hdr.msg_iovlen = 1;
    if (names) {
      msgs[m].msg_hdr.msg_name = names + (size_t)i * (size_t)name_stride;
      msgs[m].msg_hdr.msg_namelen = (socklen_t)name_len;
    }
    slot_of[m++] = i;
  }
  return send_prepared(env, fd, msgs, m, b.lens, slot_of);
}

/* sendBatchV(fd, bytes, iov, lens, count, names, nameStride, nameLen):
 * sendmmsg of message i gathered from two ranges of bytes, iov[4i..4i+3] =
 * (offset, length, offset, length) (a header, then a payload where it lies:
 * no copy to make it contiguous; a length of 0 leaves the range out). The
 * contract of sendBatch: lens[i] > 0 marks a message to send; on return 0 if
 * sent, -errno if refused, unchanged if not attempted; the result is the
 * number sent. */
static napi_value js_send_batch_v(napi_env env, napi_callback_info info) {
  ARGS(8);
  int32_t fd, count, name_stride, name_len;
  uint8_t *bytes, *names;
  size_t bytes_len, names_len, iov_count, lens_count;
  int32_t *iov, *lens;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &bytes, &bytes_len) || !get_i32_array(env, argv[2], &iov, &iov_count) ||
      !get_i32_array(env, argv[3], &lens, &lens_count) || !get_i32(env, argv[4], &count) || !get_bytes(env, argv[5], &names, &names_len) ||
      !get_i32(env, argv[6], &name_stride) || !get_i32(env, argv[7], &name_len) || count < 0 || name_len <= 0 || name_len > name_stride)
    return throw_arg(env, "sendBatchV(fd, bytes, iov, lens, count, names, nameStride, nameLen)");
  if (count > MAX_BATCH) count = MAX_BATCH;
  if ((size_t)count > lens_count || (size_t)count * 4 > iov_count || (size_t)count * (size_t)name_stride > names_len)
    return throw_arg(env, "sendBatchV: count beyond iov, lens or names");
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH][2];
  int slot_of[MAX_BATCH];
  int m = 0;
  for (int i = 0; i < count; i++) {
    if (lens[i] <= 0) continue;
    int parts = 0;
    for (int k = 0; k < 2; k++) {
      int32_t off = iov[4 * i + 2 * k], len = iov[4 * i + 2 * k + 1];
      if (len == 0) continue;
      if (off < 0 || len < 0 || (size_t)off + (size_t)len > bytes_len) return throw_arg(env, "sendBatchV: a range outside bytes");
      iovs[m][parts].iov_base = bytes + off;
      iovs[m][parts].iov_len = (size_t)len;
      parts++;
    }
    memset(&msgs[m], 0, sizeof(msgs[m]));
    msgs[m].msg_hdr.msg_iov = iovs[m];
    msgs[m].msg_hdr.msg_iovlen = (size_t)parts;
    msgs[m].msg_hdr.msg_name = names + (size_t)i * (size_t)name_stride;
    msgs[m].msg_hdr.msg_namelen = (socklen_t)name_len;
    slot_of[m++] = i;
  }
  return send_prepared(env, fd, msgs, m, lens, slot_of);
}

/* readBatch(fd, slab, slotSize, offset, lens, count, byteBudget?): read()
 * until EAGAIN, the batch is full, or byteBudget bytes were read (TUN: one
 * packet per read; the budget keeps 64 KiB super-packets from filling more
 * memory than the cache holds). A failure on the first read that is not a bad
 * call (EBADFD: the TUN device was deleted) is returned as -errno for the
 * caller to act on. */
static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_arg(env, "readBatch(fd, slab, slotSize, offset, lens, count, byteBudget?)");
  int32_t fd, budget = INT32_MAX;
  batch_t b;
  if (!get_i32(env, argv[0], &fd) || !get_batch(env, argv + 1, &b)) return throw_arg(env, "readBatch: bad batch");
  if (argc >= 7 && !is_nullish(env, argv[6]) && (!get_i32(env, argv[6], &budget) || budget <= 0))
    return throw_arg(env, "readBatch: bad byte budget");
  int n = 0;
  int64_t total = 0;
  while (n < b.count && total < budget) {
    ssize_t r = read(fd, b.slab + (size_t)n * (size_t)b.slot_size + (size_t)b.offset, (size_t)(b.slot_size - b.offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (n > 0) break;
      if (is_hard_error(errno)) return throw_errno(env, errno, "read");
      return int_value(env, -errno);
    }
    b.lens[n++] = (int32_t)r;
    total += r;
  }
  return int_value(env, n);
}

/* writeBatch(fd, slab, slotSize, offset, lens, count): one write() per
 * packet of the slots whose length is > 0. Same contract as sendBatch: a
 * written slot's length becomes 0, a refused one holds -errno (the rest of
 * the batch still goes), EAGAIN stops and leaves the remaining lengths.
 * Returns the number written. */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  ARGS(6);
  int32_t fd;
  batch_t b;
  if (!get_i32(env, argv[0], &fd) || !get_batch(env, argv + 1, &b)) return throw_arg(env, "writeBatch: bad batch");
  int written = 0;
  for (int i = 0; i < b.count; i++) {
    int32_t len = b.lens[i];
    if (len <= 0) continue;
    if (len > b.slot_size - b.offset) return throw_arg(env, "writeBatch: length exceeds slot");
    ssize_t r;
    do {
      r = write(fd, b.slab + (size_t)i * (size_t)b.slot_size + (size_t)b.offset, (size_t)len);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EBADF || errno == EFAULT) return throw_errno(env, errno, "write");
      b.lens[i] = -errno;
      continue;
    }
    b.lens[i] = 0;
    written++;
  }
  return int_value(env, written);
}

/* The RFC 1071 sum of p[0, len) as big-endian 16-bit words, folded to 16
 * bits, not complemented. Native-order 32-bit words into a 64-bit
 * accumulator (the compiler vectorizes the loop): one's-complement addition
 * commutes with byte swapping (RFC 1071 §2(B)), so swap once at the end. */
static uint16_t sum16_of(const uint8_t *p, size_t n) {
  uint64_t sum = 0;
  size_t words = n / 4;
  for (size_t i = 0; i < words; i++) {
    uint32_t w;
    memcpy(&w, p + 4 * i, 4);
    sum += w;
  }
  p += 4 * words;
  n -= 4 * words;
  if (n >= 2) {
    uint16_t h;
    memcpy(&h, p, 2);
    sum += h;
    p += 2;
    n -= 2;
  }
  if (n) sum += *p; /* the odd byte is the high byte of a big-endian word */
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t folded = (uint16_t)sum;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  folded = (uint16_t)((folded >> 8) | (folded << 8));
#endif
  return folded;
}

/* sum16(bytes, offset, length) -> sum16_of(bytes[offset, offset+length)).
 * Mechanical byte work kept in C because the micro bench shows it pays
 * (docs/benchmarks.md); what is summed and why stays in TypeScript. */
static napi_value js_sum16(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint8_t *data;
  size_t data_len;
  int32_t off, len;
  if (!get_bytes(env, argv[0], &data, &data_len) || !get_i32(env, argv[1], &off) || !get_i32(env, argv[2], &len) ||
      off < 0 || len < 0 || (size_t)off + (size_t)len > data_len)
    return throw_arg(env, "sum16: bad buffer range");
  return int_value(env, sum16_of(data + off, (size_t)len));
}

/* sum16Batch(bytes, starts, lengths, count, out): out[i] = the sum of
 * bytes[starts[i], starts[i]+lengths[i]) for a whole batch in one call. */
static napi_value js_sum16_batch(napi_env env, napi_callback_info info) {
  ARGS(5);
  uint8_t *data;
  size_t data_len, n_starts, n_lens, n_out;
  int32_t *starts, *lens, *out, count;
  if (!get_bytes(env, argv[0], &data, &data_len) || !get_i32_array(env, argv[1], &starts, &n_starts) ||
      !get_i32_array(env, argv[2], &lens, &n_lens) || !get_i32(env, argv[3], &count) ||
      !get_i32_array(env, argv[4], &out, &n_out) || count < 0 || (size_t)count > n_starts || (size_t)count > n_lens ||
      (size_t)count > n_out)
    return throw_arg(env, "sum16Batch: bad arguments");
  for (int32_t i = 0; i < count; i++) {
    if (starts[i] < 0 || lens[i] < 0 || (size_t)starts[i] + (size_t)lens[i] > data_len) return throw_arg(env, "sum16Batch: bad range");
    out[i] = sum16_of(data + starts[i], (size_t)lens[i]);
  }
  return int_value(env, count);
}

/* copyBatch(bytes, from, to, lengths, count): moves lengths[i] bytes from
 * bytes[from[i]] to bytes[to[i]] (ranges may overlap) for a whole batch in
 * one call. Segmenting and coalescing move a payload per segment; one
 * TypedArray.copyWithin each cost as much again as the copy (docs/benchmarks.md). */
static napi_value js_copy_batch(napi_env env, napi_callback_info info) {
  ARGS(5);
  uint8_t *data;
  size_t data_len, n_from, n_to, n_lens;
  int32_t *from, *to, *lens, count;
  if (!get_bytes(env, argv[0], &data, &data_len) || !get_i32_array(env, argv[1], &from, &n_from) ||
      !get_i32_array(env, argv[2], &to, &n_to) || !get_i32_array(env, argv[3], &lens, &n_lens) ||
      !get_i32(env, argv[4], &count) || count < 0 || (size_t)count > n_from || (size_t)count > n_to ||
      (size_t)count > n_lens)
    return throw_arg(env, "copyBatch: bad arguments");
  for (int32_t i = 0; i < count; i++) {
    if (from[i] < 0 || to[i] < 0 || lens[i] < 0 || (size_t)from[i] + (size_t)lens[i] > data_len ||
        (size_t)to[i] + (size_t)lens[i] > data_len)
      return throw_arg(env, "copyBatch: bad range");
    memmove(data + to[i], data + from[i], (size_t)lens[i]);
  }
  return int_value(env, count);
}

/* sendTo(fd, bytes, offset, length, sockaddr?) -> bytes sent (0 on EAGAIN) */
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_arg(env, "sendTo(fd, bytes, offset, length, sockaddr?)");
  int32_t fd, off, len;
  uint8_t *data, *addr = NULL;
  size_t data_len, addr_len = 0;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &data_len) || !get_i32(env, argv[2], &off) ||
      !get_i32(env, argv[3], &len) || off < 0 || len < 0 || (size_t)off + (size_t)len > data_len)
    return throw_arg(env, "sendTo: bad buffer range");
  if (argc >= 5 && !is_nullish(env, argv[4]) && !get_bytes(env, argv[4], &addr, &addr_len))
    return throw_arg(env, "sendTo: bad sockaddr");
  ssize_t r;
  do {
    r = sendto(fd, data + off, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)addr, (socklen_t)addr_len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, 0);
    return throw_errno(env, errno, "sendto");
  }
  return int_value(env, r);
}

/* recvMsg(fd, data, ctrl?, name?, flags, out: Int32Array[4]) -> data length,
 * or -1 on EAGAIN. out = [dataLen, ctrlLen, nameLen, msgFlags]. */
static napi_value recv_msg(napi_env env, napi_callback_info info, int extra_flags) {
  ARGS(6);
  int32_t fd, flags;
  uint8_t *data, *ctrl = NULL, *name = NULL;
  size_t data_len, ctrl_len = 0, name_len = 0, out_count;
  int32_t *out;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &data_len) || !get_i32(env, argv[4], &flags) ||
      !get_i32_array(env, argv[5], &out, &out_count) || out_count < 4)
    return throw_arg(env, "recvMsg(fd, data, ctrl?, name?, flags, out: Int32Array(4))");
  if (!is_nullish(env, argv[2]) && !get_bytes(env, argv[2], &ctrl, &ctrl_len)) return throw_arg(env, "recvMsg: bad ctrl");
  if (!is_nullish(env, argv[3]) && !get_bytes(env, argv[3], &name, &name_len)) return throw_arg(env, "recvMsg: bad name");
  struct iovec iov = {data, data_len};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = ctrl_len;
  msg.msg_name = name;
  msg.msg_namelen = (socklen_t)name_len;
  ssize_t r;
  do {
    r = recvmsg(fd, &msg, flags | extra_flags | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, -1);
    return throw_errno(env, errno, "recvmsg");
  }
  out[0] = (int32_t)r;
  out[1] = (int32_t)msg.msg_controllen;
  out[2] = (int32_t)msg.msg_namelen;
  out[3] = msg.msg_flags;
  return int_value(env, r);
}
static napi_value js_recv_msg(napi_env env, napi_callback_info info) { return recv_msg(env, info, 0); }
static napi_value js_recv_err_queue(napi_env env, napi_callback_info info) { return recv_msg(env, info, MSG_ERRQUEUE); }

/* ---- readiness: uv_poll on the calling thread's loop ---- */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  /* The callback runs in a callback scope of its own (napi_make_callback):
   * promises its JS settles go on at once, as after any of Node's own I/O.
   * A bare napi_call_function from libuv leaves them to whatever scope closes
   * next, and Node.js 26 closes none for an idle loop: the start hung. */
  napi_async_context async;
  int events;
  int closing;
} watch_t;

/* Event bit passed to JS when the fd reported an error condition (POLLERR:
 * a queued ICMP error, a netlink overrun). */
#define WATCH_ERROR 4

static void on_close(uv_handle_t *handle) {
  watch_t *w = handle->data;
  /* Here, not in stop_watch: the callback may be the one stopping its watch. */
  napi_async_destroy(w->env, w->async);
  free(w);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  watch_t *w = handle->data;
  if (w->closing) return;
  if (status < 0) {
    /* libuv stops a poll handle on POLLERR and reports UV_EBADF. For a socket
     * that only means "read your error", so re-arm and tell JS. */
    uv_poll_start(&w->poll, w->events, on_poll);
    events = WATCH_ERROR;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_value cb, global, args[2], result;
  napi_get_reference_value(w->env, w->callback, &cb);
  napi_get_global(w->env, &global);
  napi_create_int32(w->env, events, &args[0]);
  napi_create_int32(w->env, status, &args[1]);
  if (napi_make_callback(w->env, w->async, global, cb, 2, args, &result) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(w->env, &exception);
    napi_fatal_exception(w->env, exception);
  }
  napi_close_handle_scope(w->env, scope);
}

static void stop_watch(watch_t *w) {
  if (w->closing) return;
  w->closing = 1;
  uv_poll_stop(&w->poll);
  napi_delete_reference(w->env, w->callback);
  uv_close((uv_handle_t *)&w->poll, on_close);
}

/* watch(fd, events: 1 readable | 2 writable, callback(events, status)) -> handle.
 * The callback's events may also carry WATCH_ERROR (4): the fd reported an
 * error condition; the watch stays active. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, events;
  napi_valuetype t;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &events) || napi_typeof(env, argv[2], &t) != napi_ok ||
      t != napi_function)
    return throw_arg(env, "watch(fd, events, callback)");
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  napi_value resource_name;
  CHECK(napi_create_string_utf8(env, "sixtun.watch", NAPI_AUTO_LENGTH, &resource_name));
  watch_t *w = calloc(1, sizeof(*w));
  if (!w) return throw_errno(env, ENOMEM, "watch");
  if (napi_async_init(env, NULL, resource_name, &w->async) != napi_ok) {
    free(w);
    return throw_errno(env, ENOMEM, "watch");
  }
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    napi_async_destroy(env, w->async);
    free(w);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  w->poll.data = w;
  w->env = env;
  napi_create_reference(env, argv[2], 1, &w->callback);
  w->events = ((events & 1) ? UV_READABLE : 0) | ((events & 2) ? UV_WRITABLE : 0);
  rc = uv_poll_start(&w->poll, w->events, on_poll);
  if (rc < 0) {
    stop_watch(w);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  napi_value handle;
  napi_create_external(env, w, NULL, NULL, &handle);
  return handle;
}

/* unwatch(handle): idempotent. */
static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  ARGS(1);
  watch_t *w;
  if (napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || !w) return throw_arg(env, "unwatch(handle)");
  stop_watch(w);
  return int_value(env, 0);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"socket", js_socket},         {"bind", js_bind},
      {"connect", js_connect},       {"setsockopt", js_setsockopt},
      {"getsockopt", js_getsockopt}, {"ioctl", js_ioctl},
      {"open", js_open},             {"close", js_close},
      {"setNonBlocking", js_set_non_blocking},
      {"ifNameToIndex", js_if_name_to_index},
      {"setns", js_setns},           {"attachFilter", js_attach_filter},
      {"keepCapabilities", js_keep_capabilities}, {"setCapabilities", js_set_capabilities},
      {"lockDownThreads", js_lock_down_threads}, {"execve", js_execve},
      {"recvBatch", js_recv_batch},
      {"sendBatch", js_send_batch},  {"sendBatchV", js_send_batch_v},  {"readBatch", js_read_batch},
      {"writeBatch", js_write_batch}, {"sendTo", js_send_to},
      {"sum16", js_sum16},          {"sum16Batch", js_sum16_batch},
      {"copyBatch", js_copy_batch},
      {"recvMsg", js_recv_msg},      {"recvErrQueue", js_recv_err_queue},
      {"watch", js_watch},           {"unwatch", js_unwatch},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  napi_value max_batch;
  napi_create_int32(env, MAX_BATCH, &max_batch);
  napi_set_named_property(env, exports, "MAX_BATCH", max_batch);
  return exports;
}
