/*
 * virtnet-bridge, the CNI executable a runtime runs per call: it hands the call (environ + stdin) to the
 * resident virtnet daemon over a Unix stream socket (unix(7)) and relays its stdout, stderr and exit code,
 * so a call costs a connect, not a Node.js start. With no daemon it execs the Node.js plugin beside it.
 * Framing, version 1 (numbers in ASCII decimal):
 *   request: "VIRTNET-CNI/1 <envBytes> <stdinBytes>\n" then KEY=VALUE\0 ... then the stdin bytes
 *   reply:   "VIRTNET-CNI/1 <exitCode> <stdoutBytes> <stderrBytes>\n" then stdout, then stderr
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROTO "VIRTNET-CNI/1 "
#define STDIN_MAX (8UL << 20)
#define ENV_MAX (1UL << 20)
#define BODY_MAX (16UL << 20)
#define HEADER_MAX 128
#define BUNDLE "/virtnet-bridge-node"
/* SPEC.md "Error": 4 "Invalid necessary environment variables", 11 "Try again later". */
enum { CNI_BAD_ENV = 4, CNI_TRY_AGAIN = 11 };

extern char **environ;
static const char *sock_path = "/run/virtnet/cni.sock";
static unsigned long timeout_s = 300;

/* SPEC.md "Error": the error is printed to stdout and the plugin exits non-zero. */
static _Noreturn void cni_error(int code, const char *fmt, ...) {
  char msg[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("{\"cniVersion\":\"1.1.0\",\"code\":%d,\"msg\":\"", code);
  for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
    if (*c == '"' || *c == '\\') printf("\\%c", *c);
    else if (*c < 0x20) printf("\\u%04x", *c); /* RFC 8259 §7: control characters must be escaped */
    else putchar(*c);
  }
  puts("\"}");
  exit(1);
}

static void *xmalloc(size_t size) { /* malloc(3) may return NULL for 0 bytes: ask for 1 */
  void *p = malloc(size ? size : 1);
  if (!p) cni_error(CNI_TRY_AGAIN, "out of memory (%zu bytes)", size);
  return p;
}

/* Strict decimal: at least one digit, nothing but digits, at most max. Leaves *p after the digits. */
static bool parse_num(const char **p, unsigned long max, unsigned long *out) {
  const char *s = *p;
  unsigned long v = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    if ((v = v * 10 + (unsigned long)(*s - '0')) > max) return false;
  *out = v;
  return s > *p ? (*p = s, true) : false;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Moves between fd and buf until at least min bytes (or EOF), at most max, waiting in poll(2) for
 * the time left before deadline (ms, CLOCK_MONOTONIC; -1: none) so a silent peer cannot hang us.
 * Returns the bytes moved, or -1 with errno (ETIMEDOUT at the deadline).
 */
static ssize_t xfer(int fd, char *buf, size_t min, size_t max, bool writing, long long deadline) {
  size_t done = 0;
  while (done < min) {
    long long left = deadline < 0 ? -1 : deadline - now_ms();
    struct pollfd p = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
    int ready = deadline >= 0 && left <= 0 ? 0 : poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (ready == 0) return errno = ETIMEDOUT, -1;
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    ssize_t n = writing ? write(fd, buf + done, max - done) : read(fd, buf + done, max - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) return -1;
    if (n == 0) return errno = 0, (ssize_t)done; /* read(2): EOF; errno 0 tells it from an error */
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/* execv(3) does not search PATH: look as execvp(3) would, absolute entries only (a relative one would
 * depend on the runtime's working directory), then where distributions put node. */
static bool find_node(char *out, size_t size) {
  const char *path = getenv("PATH");
  char *dirs = xmalloc(strlen(path ? path : "") + sizeof ":/usr/local/bin:/usr/bin"), *save = NULL;
  strcat(strcat(strcpy(dirs, path ? path : ""), ":/usr/local/bin"), ":/usr/bin");
  for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
    if (dir[0] == '/' && (size_t)snprintf(out, size, "%s/node", dir) < size && access(out, X_OK) == 0) return true;
  return false;
}

/* Execs `node <dir of this executable>/virtnet-bridge-node argv[1]...` with our environ and stdin, which
 * is what the runtime ran before the daemon existed. Returns only if it cannot: why, as text. */
static const char *exec_node(int argc, char **argv) {
  static char node[PATH_MAX], bundle[PATH_MAX], why[PATH_MAX + 64];
  if (!find_node(node, sizeof node)) return "node not found in PATH";
  ssize_t n = readlink("/proc/self/exe", bundle, sizeof bundle - sizeof BUNDLE); /* proc(5): always absolute */
  if (n > 0 && (size_t)n >= sizeof bundle - sizeof BUNDLE) n = -1, errno = ENAMETOOLONG;
  if (n <= 0) return snprintf(why, sizeof why, "readlink /proc/self/exe: %s", strerror(errno)), why;
  bundle[n] = '\0';
  strcpy(strrchr(bundle, '/'), BUNDLE);
  if (access(bundle, R_OK) != 0) return snprintf(why, sizeof why, "%s: %s", bundle, strerror(errno)), why;
  size_t nargs = argc > 1 ? (size_t)argc - 1 : 0;
  char **args = xmalloc((nargs + 3) * sizeof *args);
  args[0] = "node";
  args[1] = bundle;
  memcpy(args + 2, argv + 1, nargs * sizeof *args);
  args[nargs + 2] = NULL;
  execv(node, args);
  return snprintf(why, sizeof why, "execv %s: %s", node, strerror(errno)), why;
}

/* A connected, non-blocking socket, or -1 with errno. socket(7): SO_SNDTIMEO also bounds a connect(2)
 * that waits for room in a listener's full backlog (unix(7) connects block, they are not EINPROGRESS). */
static int connect_daemon(void) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(sock_path) >= sizeof addr.sun_path)
    cni_error(CNI_BAD_ENV, "the socket path %s is longer than the %zu bytes unix(7) sockets allow", sock_path,
              sizeof addr.sun_path - 1);
  strcpy(addr.sun_path, sock_path);
  struct timeval wait = {.tv_sec = (time_t)timeout_s};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait) == 0 &&
      connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && fcntl(fd, F_SETFL, O_NONBLOCK) == 0)
    return fd;
  int saved = errno;
  if (fd >= 0) close(fd);
  return errno = saved, -1;
}

/* An I/O failure on the socket: SPEC.md code 11 "Try again later" (a restarted daemon will answer). */
static _Noreturn void talk_failed(void) {
  const char *at = sock_path;
  if (errno == ETIMEDOUT) cni_error(CNI_TRY_AGAIN, "no reply from the daemon at %s within %lu s", at, timeout_s);
  if (errno == 0 || errno == EPIPE || errno == ECONNRESET)
    cni_error(CNI_TRY_AGAIN,
              "the daemon at %s closed the connection before it replied (it may have restarted); try again", at);
  cni_error(CNI_TRY_AGAIN, "talking to the daemon at %s: %s", at, strerror(errno));
}

static void send_request(int fd, const char *in, size_t in_len, long long deadline) {
  size_t env_len = 0;
  for (char **e = environ; *e; e++)
    if ((env_len += strlen(*e) + 1) > ENV_MAX) cni_error(CNI_BAD_ENV, "the environment is larger than 1 MiB");
  char head[64], *env = xmalloc(env_len), *p = env;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1; /* each entry ends with its NUL */
  int head_len = snprintf(head, sizeof head, PROTO "%zu %zu\n", env_len, in_len);
  if (xfer(fd, head, (size_t)head_len, (size_t)head_len, true, deadline) < head_len ||
      xfer(fd, env, env_len, env_len, true, deadline) < (ssize_t)env_len ||
      xfer(fd, (char *)in, in_len, in_len, true, deadline) < (ssize_t)in_len) {
    if (errno != EPIPE) talk_failed(); /* unix(7): after EPIPE a reply the daemon sent can still be read */
  }
}

/* Reads the reply, writes its stdout and stderr, and exits with its exit code. */
static _Noreturn void relay_reply(int fd, long long deadline) {
  char head[HEADER_MAX + 1], *nl = NULL;
  size_t got = 0;
  while (!nl && got < HEADER_MAX) {
    ssize_t n = xfer(fd, head + got, 1, HEADER_MAX - got, false, deadline);
    if (n <= 0) talk_failed();
    nl = memchr(head + got, '\n', (size_t)n);
    got += (size_t)n;
  }
  if (got < strlen(PROTO) || memcmp(head, PROTO, strlen(PROTO)) != 0) {
    char token[33] = "";
    for (size_t i = 0; i < got && i < 32 && (unsigned char)head[i] > ' '; i++)
      token[i] = (unsigned char)head[i] < 0x7f ? head[i] : '?'; /* printable ASCII only */
    cni_error(CNI_BAD_ENV, "the daemon at %s speaks %s; this shim speaks VIRTNET-CNI/1", sock_path, token);
  }
  head[got] = '\0';
  const char *p = head + strlen(PROTO);
  unsigned long code, out_len, err_len;
  if (!nl || !parse_num(&p, 255, &code) || *p++ != ' ' || !parse_num(&p, BODY_MAX, &out_len) || *p++ != ' ' ||
      !parse_num(&p, BODY_MAX, &err_len) || p != nl)
    cni_error(CNI_BAD_ENV, "the daemon at %s sent a malformed reply header", sock_path);
  size_t body_len = out_len + err_len, early = got - (size_t)(nl + 1 - head);
  char *body = xmalloc(body_len);
  memcpy(body, nl + 1, early < body_len ? early : body_len);
  if (early < body_len) {
    ssize_t n = xfer(fd, body + early, body_len - early, body_len - early, false, deadline);
    if (n < (ssize_t)(body_len - early)) talk_failed();
  }
  /* stderr first, as the Node.js plugin writes them (cni/main.ts). */
  (void)xfer(2, body + out_len, err_len, err_len, true, -1); /* a closed stderr must not cost the result */
  if (xfer(1, body, out_len, out_len, true, -1) < (ssize_t)out_len) exit(1);
  exit((int)code);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a peer that goes away is an EPIPE error to report, not a silent death */
  /* open(2) takes the lowest free fd: with 0, 1 or 2 closed the socket would become "stdin". */
  int nul;
  while ((nul = open("/dev/null", O_RDWR)) >= 0 && nul <= 2) continue;
  if (nul > 2) close(nul);
  const char *env = getenv("VIRTNET_CNI_SOCKET"), *verb = getenv("CNI_COMMAND");
  if (env && *env) sock_path = env;
  /* A relative path would name a socket in whatever directory the runtime runs us from. */
  if (sock_path[0] != '/') cni_error(CNI_BAD_ENV, "VIRTNET_CNI_SOCKET: \"%.64s\" must be an absolute path", sock_path);
  unsigned long t;
  const char *p = env = getenv("VIRTNET_CNI_TIMEOUT");
  if (env && *env && (!parse_num(&p, 3600, &t) || *p || t < 1))
    cni_error(CNI_BAD_ENV, "VIRTNET_CNI_TIMEOUT: \"%.64s\" must be a whole number of seconds, 1 to 3600", env);
  if (env && *env) timeout_s = t;
  /* SPEC.md: a runtime always sets CNI_COMMAND. Without it a person runs us: the Node.js plugin answers. */
  if (!verb || !*verb) {
    fprintf(stderr, "virtnet-bridge: cannot answer by hand: %s\n", exec_node(argc, argv));
    return 2;
  }
  int fd = connect_daemon();
  if (fd < 0) {
    int connect_errno = errno;
    const char *why = exec_node(argc, argv);
    cni_error(CNI_TRY_AGAIN, "no virtnet CNI daemon answers at %s (connect: %s) and no Node.js fallback (%s)",
              sock_path, strerror(connect_errno), why);
  }
  /* VERSION comes without a network configuration: stdin is not read, as cni/main.ts does. */
  char *in = xmalloc(STDIN_MAX + 1);
  ssize_t in_len = strcmp(verb, "VERSION") == 0 ? 0 : xfer(0, in, STDIN_MAX + 1, STDIN_MAX + 1, false, -1);
  if (in_len < 0) in_len = 0; /* stdin closed or absent: an empty configuration, as cni/main.ts reads it */
  if ((size_t)in_len > STDIN_MAX) cni_error(CNI_BAD_ENV, "the network configuration on stdin is larger than 8 MiB");
  long long deadline = now_ms() + (long long)timeout_s * 1000;
  send_request(fd, in, (size_t)in_len, deadline);
  relay_reply(fd, deadline);
}
