#pragma once
// `stepgate authority install`: the system user, directories, configuration, signing key and
// service unit of an authority on this machine. Every path sits under `root` so tests install
// into a temporary directory.

#include <ostream>
#include <string>
#include <vector>

#include "stepgate/result.h"

namespace stepgate::authority {

struct InstallOptions {
  std::string root = "/";           // prefix for every path below
  std::string user = "stepgate";    // the authority's system user
  bool create_user = true;          // useradd --system when it does not exist
  std::string binary;               // the stepgate binary the unit runs
  std::vector<std::string> actors;  // "UID_OR_USER=ACTOR" mappings for authority.yaml
  int inbox_port = 8741;            // 0: no inbox
  std::string policy_from;          // a policy file to install as the system layer
};

/// Installs; existing configuration files are kept (only missing ones are written). Prints what it
/// did to `out`. kPermissionDenied when not run as root.
Status install_authority(const InstallOptions& options, std::ostream& out);

}  // namespace stepgate::authority
