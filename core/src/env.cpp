#include "stepgate/env.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace stepgate {

Env::Env(const std::vector<std::string>& entries) {
  auto vars = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  for (const std::string& entry : entries) {
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    (*vars)[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  vars_ = std::move(vars);
}

std::string Env::get(std::string_view name) const {
  if (vars_ == nullptr) return env_or_empty(std::string(name).c_str());
  const auto it = vars_->find(name);
  return it == vars_->end() ? std::string() : it->second;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string os_user_name(const Env& env) {
  const uid_t uid = ::geteuid();
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    return found->pw_name;
  }
  std::string user = env.get("USER");
  return user.empty() ? "uid:" + std::to_string(uid) : user;
}

std::string shell_quote(std::string_view text, bool always) {
  auto plain = [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("_-./:=@%+,").find(static_cast<char>(c)) != std::string_view::npos;
  };
  if (!always && !text.empty() && std::all_of(text.begin(), text.end(), plain)) {
    return std::string(text);
  }
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string default_actor(const Env& env) {
  std::string actor = env.get("STEPGATE_ACTOR");
  return actor.empty() ? os_user_name(env) : actor;
}

}  // namespace stepgate
