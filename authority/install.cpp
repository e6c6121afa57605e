#include "authority_install.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "stepgate/crypto.h"
#include "stepgate/paths.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultPolicy =
    R"(# The administrator's policy layer: what every front-end on this machine is held to.
# Repository and user layers can add friction to it, never remove it.
version: 1
name: system
on_error: deny
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "15m" }
rules:
  - id: force-push-protected
    on: git.push
    when: signals.force && signals.protected
    effect: step_up
    message: "force-push to {action.resource}"
  - id: secrets-in-push
    on: git.push
    when: size(signals.secrets) > 0
    effect: deny
    message: "the push carries secrets"
)";

std::string under(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return (fs::path(root) / fs::path(path).relative_path()).string();
}

Status errno_error(const std::string& what) {
  return make_error(ErrorCode::kUnavailable, what + ": " + std::strerror(errno));
}

/// Runs a program without a shell; its status as an error when not 0.
Status run(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork");
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  return make_error(ErrorCode::kUnavailable,
                    argv[0] + " failed (status " + std::to_string(WEXITSTATUS(status)) + ")");
}

/// Gives `path` (a directory when `directory`) to uid:gid with `mode`, through a descriptor opened
/// without following a symbolic link: install runs as root over directories the authority's user
/// owns, and a link put there (state/secrets -> /etc) must not hand its target to that user.
Status own(const std::string& path, bool directory, mode_t mode, uid_t uid, gid_t gid) {
  const int fd =
      ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return make_error(ErrorCode::kFailedPrecondition, path + " is a symbolic link or not a " +
                                                            (directory ? "directory" : "file") +
                                                            "; refusing to take it over");
    }
    return errno_error(path);
  }
  const bool ok = ::fchmod(fd, mode) == 0 && ::fchown(fd, uid, gid) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok ? Status() : errno_error(path);
}

/// The binary the authority's unit runs must be one only root can replace: whoever can write it,
/// or rename an entry in any directory on its path, runs code as the authority (a stepgate
/// installed with --prefix ~/.local is the developer's, and so their agent's).
Status only_root_can_replace(const std::string& binary) {
  std::error_code ec;
  const fs::path real = fs::canonical(binary, ec);
  if (ec) return make_error(ErrorCode::kNotFound, binary + ": " + ec.message());
  const auto refuse = [&](const std::string& what, const struct stat& st) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the authority would run " + real.string() + ", but " + what +
                          " can be changed by uid " + std::to_string(st.st_uid) +
                          " or others: install stepgate where only root can write (its package, "
                          "or /usr/local/bin) and pass it with --binary");
  };
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return errno_error(real.string());
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return refuse("the file", st);
  }
  for (fs::path dir = real.parent_path();; dir = dir.parent_path()) {
    if (::stat(dir.c_str(), &st) != 0) return errno_error(dir.string());
    // A sticky directory (/tmp) lets no one else rename or remove root's entries in it.
    const bool others_write =
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0;
    if (st.st_uid != 0 || others_write) return refuse("the directory " + dir.string(), st);
    if (dir == dir.root_path()) return {};
  }
}

Status make_dir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, path + ": " + ec.message());
  return own(path, /*directory=*/true, mode, uid, gid);
}

Status write_if_missing(const std::string& path, const std::string& text, mode_t mode,
                        std::ostream& out) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    out << "kept " << path << "\n";
    return {};
  }
  if (Status s = write_secret_file(path, text); !s.ok()) return s;
  if (::chmod(path.c_str(), mode) != 0) return errno_error(path);
  out << "wrote " << path << "\n";
  return {};
}

std::string authority_yaml(const InstallOptions& o, const std::string& socket,
                           const std::string& state, const std::string& policy) {
  std::string text = "# The stepgate authority (stepgate authority serve --config this file).\n";
  text += "socket: " + socket + "\nstate_dir: " + state + "\npolicy: " + policy + "\n";
  text += "inbox: " +
          (o.inbox_port == 0 ? std::string("off") : "127.0.0.1:" + std::to_string(o.inbox_port)) +
          "\nadmins: [0]\nactors:\n";
  for (const auto& mapping : o.actors) {
    const auto eq = mapping.find('=');
    const std::string who = mapping.substr(0, eq);
    const bool numeric = who.find_first_not_of("0123456789") == std::string::npos;
    text += std::string("  - ") + (numeric ? "uid: " : "user: ") + who;
    if (eq != std::string::npos) text += "\n    actor: " + mapping.substr(eq + 1);
    text += "\n";
  }
  if (o.actors.empty()) text += "  []\n";
  return text;
}

std::string unit_file(const std::string& binary, const std::string& config, const std::string& user,
                      const std::string& state) {
  return "[Unit]\nDescription=stepgate authority (step-up that the gated party cannot forge)\n"
         "After=network.target\n\n[Service]\nUser=" +
         user + "\nGroup=" + user + "\nExecStart=" + binary + " authority serve --config " +
         config +
         "\nRuntimeDirectory=stepgate\nRuntimeDirectoryMode=0755\nUMask=0077\n"
         "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n"
         "ReadWritePaths=" +
         state + "\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n";
}

}  // namespace

Status install_authority(const InstallOptions& o, std::ostream& out) {
  if (::geteuid() != 0) {
    return make_error(ErrorCode::kPermissionDenied, "authority install must run as root");
  }
  // Checked before anything is made: a refused install leaves nothing behind.
  std::string binary = o.binary;
  if (binary.empty()) binary = fs::read_symlink("/proc/self/exe").string();
  if (Status s = only_root_can_replace(binary); !s.ok()) return s;
  passwd* pw = ::getpwnam(o.user.c_str());
  if (pw == nullptr && o.create_user) {
    if (Status s = run({"useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                        "/var/lib/stepgate", "--shell", "/usr/sbin/nologin", o.user});
        !s.ok()) {
      return s;
    }
    out << "created system user " << o.user << "\n";
    pw = ::getpwnam(o.user.c_str());
  }
  if (pw == nullptr) return invalid_argument("no such user `" + o.user + "` (and --no-user)");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const std::string etc = under(o.root, "/etc/stepgate");
  const std::string state = under(o.root, "/var/lib/stepgate");
  const std::string run_dir = under(o.root, "/run/stepgate");
  const std::string socket = run_dir + "/authority.sock";
  if (Status s = make_dir(etc, 0755, 0, 0); !s.ok()) return s;
  if (Status s = make_dir(state, 0700, uid, gid); !s.ok()) return s;
  if (Status s = make_dir(state + "/secrets", 0700, uid, gid); !s.ok()) return s;
  if (Status s = make_dir(run_dir, 0755, uid, gid); !s.ok()) return s;

  std::string policy_text = kDefaultPolicy;
  if (!o.policy_from.empty()) {
    auto text = read_file(o.policy_from);
    if (!text.ok()) return text.error();
    policy_text = *text;
  }
  const std::string policy = etc + "/policy.yaml";
  if (Status s = write_if_missing(policy, policy_text, 0644, out); !s.ok()) return s;
  const std::string config = etc + "/authority.yaml";
  if (Status s = write_if_missing(config, authority_yaml(o, socket, state, policy), 0644, out);
      !s.ok()) {
    return s;
  }

  // The signing key: made here so the front-ends' configuration can pin its public half.
  const std::string key_file = state + "/authority.key";
  std::string public_key;
  if (auto existing = read_secret_file(key_file); existing.ok()) {
    std::string trimmed = *existing;
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    auto priv = base64url_decode(trimmed);
    auto pub = priv.ok() ? ed25519_public_from_private(*priv) : Result<Bytes>(priv.error());
    if (!pub.ok()) return invalid_argument(key_file + ": not an Ed25519 private key");
    public_key = format_public_key(*pub);
  } else {
    auto keys = ed25519_generate();
    if (!keys.ok()) return keys.error();
    if (Status s = write_secret_file(key_file, base64url_encode(keys->private_key) + "\n");
        !s.ok()) {
      return s;
    }
    public_key = format_public_key(keys->public_key);
    out << "wrote " << key_file << " (0600)\n";
  }
  if (Status s = own(key_file, /*directory=*/false, 0600, uid, gid); !s.ok()) return s;
  const std::string front_ends =
      "# Front-ends on this machine ask the authority (root-owned: it wins over\n"
      "# the user's config and environment).\nauthority:\n  socket: " +
      socket + "\n  public_key: " + public_key + "\n";
  if (Status s = write_if_missing(etc + "/config.yaml", front_ends, 0644, out); !s.ok()) return s;

  const std::string unit_dir = under(o.root, "/etc/systemd/system");
  if (Status s = make_dir(unit_dir, 0755, 0, 0); !s.ok()) return s;
  if (Status s = write_if_missing(unit_dir + "/stepgate-authority.service",
                                  unit_file(binary, config, o.user, state), 0644, out);
      !s.ok()) {
    return s;
  }
  out << "public key: " << public_key << "\n"
      << "start it: systemctl enable --now stepgate-authority\n"
      << "or, without systemd: runuser -u " << o.user << " -- " << binary
      << " authority serve --config " << config << "\n";
  return {};
}

}  // namespace stepgate::authority
