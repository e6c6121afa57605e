#pragma once
// The executable `stepgate hooks install` writes as a git hook (hooks/exec/main.cpp): a few KB
// with no C library, which costs git one exec instead of /bin/sh's start-up plus a second exec.
// Its configuration is a block inside the image, found by its magic and filled in at install:
//   magic, a mode byte ('d': ask `stepgate daemon` through stepgate-hook; 'l': run the lean
//   stepgate-git-hook), then the installation's directory (absolute, ending in '/', NUL-ended).

#include <cstddef>
#include <string_view>

namespace stepgate::hook_exec {

inline constexpr std::string_view kConfigMagic = "stepgate-hook-exec-config-v1:";
/// The whole block, magic included; a longer directory gets the /bin/sh script instead.
inline constexpr std::size_t kConfigBytes = 512;
inline constexpr char kModeDaemon = 'd';
inline constexpr char kModeLean = 'l';

/// The built image, with its configuration block empty; empty where it is not built (only
/// x86-64 Linux has one).
std::string_view image();

}  // namespace stepgate::hook_exec
