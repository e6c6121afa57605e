// The git hook `stepgate hooks install` writes (x86-64 Linux): a freestanding executable, no C
// library and no C++ runtime, so git's exec of the hook maps three pages instead of starting
// /bin/sh (≈ 50 page faults on a VM where one costs 15-30 µs) and then a second program.
//
// In daemon mode ('d') it is the fast path of the stepgate-hook client: it hands the push to a
// running `stepgate daemon` of this installation (same user, same `stepgate` file) over the
// hookd wire format (agents/hookd_protocol.h) and prints the answer. Everything else goes to the
// programs beside `stepgate`, so their rules stay in one place: no daemon listening (the client
// starts one and decides in-process), an untrusted listener (the client refuses it), a chained
// hook, a daemon that fails mid-call, a held push a terminal could answer (the lean
// stepgate-git-hook, given the stdin read so far). In lean mode ('l') it only runs
// stepgate-git-hook. Should a program be missing, the push fails with "cannot run": a hook that
// cannot decide never lets the push through, and git never has to start a missing interpreter
// (which makes git 2.39 hang; hooks/README.md).
//
// Both are called as `<program> --as-hook <this hook's path> <git's arguments>`, the calling
// convention of a hook whose #! line names them.
#include <asm/unistd.h>
#include <linux/auxvec.h>
#include <linux/fcntl.h>
#include <linux/memfd.h>

#include "../../agents/hookd_protocol.h"  // the wire format's limits (only constants used here)
#include "../hook_exec.h"  // the configuration block's layout, shared with the installer

/// This executable's configuration, filled in by `stepgate hooks install` (hooks/hook_exec.h).
extern "C" {
__attribute__((used)) char stepgate_hook_exec_config[stepgate::hook_exec::kConfigBytes] =
    "stepgate-hook-exec-config-v1:";
}

// `stepgate hooks uninstall` recognises its hooks by this line; `strings` shows it to people.
extern "C" __attribute__((used)) const char stepgate_hook_exec_note[] =
    "\n# stepgate-managed hook (`stepgate hooks install`). `stepgate hooks uninstall` removes it\n"
    "# and restores the hook that was here before, kept as <hook>.stepgate-chained and run\n"
    "# first. It runs stepgate-hook (mode d: ask `stepgate daemon`) or stepgate-git-hook (mode l)\n"
    "# from the directory its configuration names: the mode letter, then the directory.\n";

namespace {

using i64 = long;
using u64 = unsigned long;
using u32 = unsigned int;

namespace hookd = stepgate::hookd;
constexpr u64 kMaxInputBytes = hookd::kMaxInputBytes;
constexpr u64 kMaxFrameBytes = hookd::kMaxFrameBytes;
constexpr int kMaxArgs = static_cast<int>(hookd::kMaxArgs) - 4;  // the daemon's, less ours
constexpr int kStepUpNotSatisfied = 3;  // the hooks' exit code for a held push
constexpr const char kChainedSuffix[] = ".stepgate-chained";

// Kernel ABI values (x86-64).
constexpr i64 kSigPipe = 13;
constexpr i64 kSigDfl = 0;
constexpr i64 kSigIgn = 1;
constexpr i64 kSolSocket = 1;
constexpr i64 kSoPeerCred = 17;
constexpr i64 kSoRcvTimeo = 20;
constexpr i64 kAfUnix = 1;
constexpr i64 kSockStream = 1;
constexpr i64 kMsgNoSignal = 0x4000;
constexpr i64 kTcGets = 0x5401;
constexpr i64 kProtRw = 3;               // PROT_READ | PROT_WRITE
constexpr i64 kMapAnonPrivate = 0x4022;  // MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
constexpr i64 kEintr = 4;

i64 sys(i64 n, i64 a = 0, i64 b = 0, i64 c = 0, i64 d = 0, i64 e = 0, i64 f = 0) {
  register i64 r10 __asm__("r10") = d;
  register i64 r8 __asm__("r8") = e;
  register i64 r9 __asm__("r9") = f;
  i64 ret = 0;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

template <class T>
i64 arg(T* p) {
  return reinterpret_cast<i64>(p);
}

[[noreturn]] void exit_with(int code) {
  sys(__NR_exit_group, code);
  __builtin_unreachable();
}

u64 length(const char* s) {
  u64 n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

bool same(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

bool write_all(int fd, const char* data, u64 n, bool socket = false) {
  while (n > 0) {
    const i64 w = socket ? sys(__NR_sendto, fd, arg(data), static_cast<i64>(n), kMsgNoSignal, 0, 0)
                         : sys(__NR_write, fd, arg(data), static_cast<i64>(n));
    if (w == -kEintr) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<u64>(w);
  }
  return true;
}

bool read_exact(int fd, char* out, u64 n) {
  while (n > 0) {
    const i64 r = sys(__NR_read, fd, arg(out), static_cast<i64>(n));
    if (r == -kEintr) continue;
    if (r <= 0) return false;
    out += r;
    n -= static_cast<u64>(r);
  }
  return true;
}

/// A fixed buffer that strings are appended to; full() once anything did not fit.
struct Text {
  char data[4096];
  u64 size = 0;
  bool overflow = false;
  Text& operator<<(const char* s) {
    for (; *s != '\0'; ++s) {
      if (size + 1 >= sizeof data) {
        overflow = true;
        break;
      }
      data[size++] = *s;
    }
    data[size] = '\0';
    return *this;
  }
  Text& operator<<(u64 v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    char out[24];
    for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    out[n] = '\0';
    return *this << out;
  }
};

const char* errno_name(i64 err) {
  switch (err) {
    case 2:
      return "No such file or directory";
    case 8:
      return "Exec format error";
    case 13:
      return "Permission denied";
    case 20:
      return "Not a directory";
    default:
      return nullptr;
  }
}

[[noreturn]] void fail(const char* what, const char* path, i64 err) {
  Text t;
  t << "stepgate: " << what << " " << path << ": ";
  if (const char* name = errno_name(-err); name != nullptr) {
    t << name;
  } else {
    t << "error " << static_cast<u64>(-err);
  }
  t << " (the push is blocked; `stepgate hooks install --force` rewrites the hook)\n";
  write_all(2, t.data, t.size);
  exit_with(2);
}

constexpr u64 kMagicBytes = stepgate::hook_exec::kConfigMagic.size();
static_assert(stepgate::hook_exec::kConfigMagic == "stepgate-hook-exec-config-v1:",
              "the block's initial text is the installer's magic");

struct Call {
  char** argv;  // git's
  char** envp;
  const char* hook;                             // this hook's path, as git ran it
  char dir[stepgate::hook_exec::kConfigBytes];  // the installation, ending in '/'
  char mode;
};

const char* env(const Call& c, const char* name) {
  const u64 n = length(name);
  for (char** e = c.envp; *e != nullptr; ++e) {
    u64 i = 0;
    while (i < n && (*e)[i] == name[i]) ++i;
    if (i == n && (*e)[n] == '=') return *e + n + 1;
  }
  return nullptr;
}

bool exists(const char* path) {
  struct stat st {};
  return sys(__NR_newfstatat, AT_FDCWD, arg(path), arg(&st), 0) == 0;
}

/// SIGPIPE's disposition: ignored while talking to the daemon (a daemon that closes the socket
/// early must not kill the hook), the default again for whatever this process execs.
void sigpipe(i64 handler) {
  const struct { i64 handler, flags, restorer, mask; } action{handler, 0, 0, 0};
  sys(__NR_rt_sigaction, kSigPipe, arg(&action), 0, 8);
}

/// Runs PROGRAM (beside `stepgate`) as `PROGRAM --as-hook HOOK git's arguments`. With `input`,
/// that is the program's stdin (what this one already read of its own).
[[noreturn]] void run(const Call& c, const char* program, const char* input = nullptr,
                      u64 input_size = 0) {
  Text path;
  path << c.dir << program;
  if (input != nullptr) {
    const i64 fd = sys(__NR_memfd_create, arg("stepgate-hook-input"), MFD_CLOEXEC);
    if (fd < 0 || !write_all(static_cast<int>(fd), input, input_size) ||
        sys(__NR_lseek, fd, 0, 0) != 0 || sys(__NR_dup2, fd, 0) < 0) {
      fail("cannot pass the push on to", path.data, fd < 0 ? fd : -5);
    }
  }
  const char* args[kMaxArgs + 4] = {path.data, "--as-hook", c.hook};
  int n = 3;
  for (char** a = c.argv + 1; *a != nullptr; ++a) {
    if (n >= kMaxArgs) fail("too many arguments for", path.data, -7);
    args[n++] = *a;
  }
  args[n] = nullptr;
  sigpipe(kSigDfl);  // the program (and a chained hook it runs) starts as git started this one
  const i64 err = sys(__NR_execve, arg(path.data), arg(args), arg(c.envp));
  fail("cannot run", path.data, err);
}

/// The daemon's socket path: what hookd::default_socket_path() says.
bool socket_path(const Call& c, Text& out) {
  if (const char* s = env(c, "STEPGATE_DAEMON_SOCKET"); s != nullptr && *s != '\0') {
    out << s;
  } else if (const char* r = env(c, "XDG_RUNTIME_DIR"); r != nullptr && *r == '/') {
    out << r << "/stepgate/hookd.sock";
  } else {
    out << "/tmp/stepgate-" << static_cast<u64>(sys(__NR_geteuid)) << "/hookd.sock";
  }
  return !out.overflow && out.size < 108;
}

/// Connected to a daemon this installation trusts (hookd::peer_of): -1 otherwise.
int connect_daemon(const Call& c) {
  Text path;
  if (!socket_path(c, path)) return -1;
  struct {
    unsigned short family;
    char path[108];
  } addr{};
  addr.family = kAfUnix;
  for (u64 i = 0; i <= path.size; ++i) addr.path[i] = path.data[i];
  const i64 fd = sys(__NR_socket, kAfUnix, kSockStream | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct {
    u32 pid, uid, gid;
  } cred{};
  u32 cred_size = sizeof cred;
  struct stat theirs {};
  struct stat ours {};
  Text their_exe;
  Text our_exe;
  const bool ok =
      sys(__NR_connect, fd, arg(&addr), sizeof addr) == 0 &&
      sys(__NR_getsockopt, fd, kSolSocket, kSoPeerCred, arg(&cred), arg(&cred_size)) == 0 &&
      cred.uid == static_cast<u32>(sys(__NR_geteuid)) &&
      !(their_exe << "/proc/" << static_cast<u64>(cred.pid) << "/exe").overflow &&
      !(our_exe << c.dir << "stepgate").overflow &&
      sys(__NR_newfstatat, AT_FDCWD, arg(their_exe.data), arg(&theirs), 0) == 0 &&
      sys(__NR_newfstatat, AT_FDCWD, arg(our_exe.data), arg(&ours), 0) == 0 &&
      theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
  if (!ok) {
    sys(__NR_close, fd);
    return -1;
  }
  return static_cast<int>(fd);
}

char* map(u64 bytes) {
  const i64 p = sys(__NR_mmap, 0, static_cast<i64>(bytes), kProtRw, kMapAnonPrivate, -1, 0);
  // NOLINTNEXTLINE(performance-no-int-to-ptr): mmap's answer is an address
  return p < 0 && p > -4096 ? nullptr : reinterpret_cast<char*>(p);
}

/// All of stdin, up to kMaxInputBytes + 1 (more goes to the client whole); false on a read error.
bool read_input(char* buffer, u64& size) {
  size = 0;
  while (size <= kMaxInputBytes) {
    const i64 r =
        sys(__NR_read, 0, arg(buffer + size), static_cast<i64>(kMaxInputBytes + 1 - size));
    if (r == -kEintr) continue;
    if (r < 0) return false;
    if (r == 0) return true;
    size += static_cast<u64>(r);
  }
  return true;
}

void put_u32(char*& out, u64 v) {
  for (int i = 0; i < 4; ++i) *out++ = static_cast<char>((v >> (8 * i)) & 0xffU);
}

void put_str(char*& out, const char* s, u64 n) {
  put_u32(out, n);
  for (u64 i = 0; i < n; ++i) *out++ = s[i];
}

u64 get_u32(const char* in) {
  u64 v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<u64>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

/// The request frame: "SGH1" flags, the client's arguments (--as-hook HOOK git's), the
/// environment, the working directory and stdin (agents/hookd_protocol.h).
char* encode(const Call& c, const char* cwd, const char* input, u64 input_size, u64& size) {
  const char* lead[] = {"--as-hook", c.hook};
  u64 nargs = 2;
  // length, "SGH1", flags, nargs, the two lead arguments, nenv, cwd, stdin
  u64 bytes = 4 + 4 + 4 + 4 + (4 + length(lead[0])) + (4 + length(lead[1])) + 4 +
              (4 + length(cwd)) + (4 + input_size);
  for (char** a = c.argv + 1; *a != nullptr; ++a, ++nargs) bytes += 4 + length(*a);
  u64 nenv = 0;
  for (char** e = c.envp; *e != nullptr; ++e, ++nenv) bytes += 4 + length(*e);
  char* frame = map(bytes);
  if (frame == nullptr) return nullptr;
  char* out = frame;
  put_u32(out, bytes - 4);
  *out++ = 'S';
  *out++ = 'G';
  *out++ = 'H';
  *out++ = '1';
  struct {
    u32 iflag, oflag, cflag, lflag;
    unsigned char line, cc[19];
  } term{};
  put_u32(out, sys(__NR_ioctl, 2, kTcGets, arg(&term)) == 0 ? hookd::kStderrIsTerminal : 0);
  put_u32(out, nargs);
  for (const char* a : lead) put_str(out, a, length(a));
  for (char** a = c.argv + 1; *a != nullptr; ++a) put_str(out, *a, length(*a));
  put_u32(out, nenv);
  for (char** e = c.envp; *e != nullptr; ++e) put_str(out, *e, length(*e));
  put_str(out, cwd, length(cwd));
  put_str(out, input, input_size);
  size = bytes;
  return frame;
}

struct Reply {
  int exit_code = 2;
  const char* out = nullptr;
  u64 out_size = 0;
  const char* err = nullptr;
  u64 err_size = 0;
};

/// Reads and decodes the response frame: "SGR1" exit code, stdout, stderr.
bool receive(int fd, Reply& reply) {
  char head[4] = {};
  if (!read_exact(fd, head, 4)) return false;
  const u64 n = get_u32(head);
  if (n < 16 || n > kMaxFrameBytes) return false;
  char* body = map(n);
  if (body == nullptr || !read_exact(fd, body, n)) return false;
  if (body[0] != 'S' || body[1] != 'G' || body[2] != 'R' || body[3] != '1') return false;
  const u64 code = get_u32(body + 4);
  u64 at = 8;
  const u64 out_size = get_u32(body + at);
  at += 4;
  if (code > 255 || n - at < out_size + 4) return false;
  reply.out = body + at;
  reply.out_size = out_size;
  at += out_size;
  const u64 err_size = get_u32(body + at);
  at += 4;
  if (n - at != err_size) return false;
  reply.err = body + at;
  reply.err_size = err_size;
  reply.exit_code = static_cast<int>(code);
  return true;
}

/// True when a step-up prompt could reach the person pushing (what the lean hook checks).
bool terminal_reachable(const Call& c) {
  const char* no_tty = env(c, "STEPGATE_NO_TTY");
  if (no_tty != nullptr && same(no_tty, "1")) return false;
  const i64 fd = sys(__NR_openat, AT_FDCWD, arg("/dev/tty"), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  sys(__NR_close, fd);
  return true;
}

bool is_pre_push(const char* hook) {
  const char* base = hook;
  for (const char* p = hook; *p != '\0'; ++p) {
    if (*p == '/') base = p + 1;
  }
  return same(base, "pre-push");
}

[[noreturn]] void ask_daemon(const Call& c) {
  Text chained;
  chained << c.hook << kChainedSuffix;
  // A chained hook needs our stdin and terminal: the lean hook runs it, then decides.
  if (chained.overflow || exists(chained.data)) run(c, "stepgate-git-hook");
  sigpipe(kSigIgn);
  const int fd = connect_daemon(c);
  if (fd < 0) run(c, "stepgate-hook");  // it starts a daemon, or refuses a stranger, and decides
  const struct { i64 seconds, micros; } timeout{hookd::kReplyTimeoutSeconds, 0};
  sys(__NR_setsockopt, fd, kSolSocket, kSoRcvTimeo, arg(&timeout), sizeof timeout);
  char* input = map(kMaxInputBytes + 1);
  u64 input_size = 0;
  if (input == nullptr) run(c, "stepgate-hook");
  if (!read_input(input, input_size)) fail("cannot read the push from", "stdin", -5);
  if (input_size > kMaxInputBytes) run(c, "stepgate-hook", input, input_size);
  char cwd[4096];
  if (sys(__NR_getcwd, arg(cwd), sizeof cwd) < 0) {
    cwd[0] = '.';
    cwd[1] = '\0';
  }
  u64 size = 0;
  const char* frame = encode(c, cwd, input, input_size, size);
  Reply reply;
  if (frame == nullptr || !write_all(fd, frame, size, true) || !receive(fd, reply)) {
    run(c, "stepgate-git-hook", input, input_size);  // the daemon went away: decide here
  }
  sys(__NR_close, fd);
  // The daemon has no terminal: a held push that a prompt here could satisfy is asked again here.
  if (reply.exit_code == kStepUpNotSatisfied && is_pre_push(c.hook) && terminal_reachable(c)) {
    run(c, "stepgate-git-hook", input, input_size);
  }
  if (!write_all(1, reply.out, reply.out_size) || !write_all(2, reply.err, reply.err_size)) {
    exit_with(2);
  }
  exit_with(reply.exit_code);
}

}  // namespace

extern "C" [[noreturn]] __attribute__((used)) void stepgate_hook_exec_start(i64* sp) {
  Call c{};
  const i64 argc = sp[0];
  c.argv = reinterpret_cast<char**>(sp + 1);
  c.envp = c.argv + argc + 1;
  c.hook = c.argv[0];
  char** after_env = c.envp;
  while (*after_env != nullptr) ++after_env;
  for (auto* aux = reinterpret_cast<u64*>(after_env + 1); aux[0] != AT_NULL; aux += 2) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the auxiliary vector holds an address
    if (aux[0] == AT_EXECFN) c.hook = reinterpret_cast<const char*>(aux[1]);  // git's path
  }
  const char* config = stepgate_hook_exec_config + kMagicBytes;
  c.mode = config[0];
  u64 n = 0;
  for (const char* d = config + 1; *d != '\0' && n + 1 < sizeof c.dir; ++d) c.dir[n++] = *d;
  c.dir[n] = '\0';
  if (n == 0 || c.dir[0] != '/' || c.dir[n - 1] != '/' || c.hook == nullptr) {
    fail("not configured:", c.hook != nullptr ? c.hook : "this hook", -8);
  }
  if (c.mode == stepgate::hook_exec::kModeDaemon) ask_daemon(c);
  run(c, "stepgate-git-hook");
}

// The compiler may emit calls to these for copies and zeroing (string instructions: a loop here
// could itself be turned into a call to them).
extern "C" {
// NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): glibc names them __s...
__attribute__((used)) void* memset(void* dst, int value, u64 n) {
  void* d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(value) : "memory");
  return dst;
}
// NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): glibc names them __s...
__attribute__((used)) void* memcpy(void* dst, const void* src, u64 n) {
  void* d = dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}
}

__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call stepgate_hook_exec_start\n"
    "  hlt\n");
