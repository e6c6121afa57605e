// Decision through the authority's Unix socket vs the same decision in process, in one run.
//
//   stepgate_authority_bench [--bin PATH] [--n 2000] [--rounds 5] [--clients 8] [--seconds 1]
//
// Starts two authorities (`stepgate authority serve`) on scratch sockets with the same policy:
// one that replies only after the decision's audit record is on disk (audit_sync: durable, the
// default: concurrent requests share one fdatasync) and one that fsyncs in the background at most
// every 50 ms (audit_sync: batch). Then, interleaved round by round so the machine's load falls on
// every side alike:
//  - latency: Gate::run for an allowed tool call, in process (core's Gate on the same policy, its
//    audit log batched like the hook daemon's, and once with an fsync per decision) and through
//    each authority (a Gate whose decision source is the authority: the front-end's real path,
//    signature check against the pinned key included). "added" = through the socket - in process.
//  - throughput: `--clients` threads, each its own front-end Gate and connection, deciding for
//    `--seconds` against each authority; then bare clients (a connection each, no Gate), proven
//    once per connection as front-ends do, and once with every reply signed and checked (the
//    protocol before proven connections). Each phase also reports the CPU per decision of the
//    authority's process and of the clients' (this process).
// Prints medians, p99s, per-round ranges and ratios.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "stepgate/authority.h"
#include "stepgate/gate.h"

extern char** environ;

namespace {

using namespace stepgate;
using Clock = std::chrono::steady_clock;

constexpr const char* kPolicy = R"(version: 1
name: bench
thresholds: { step_up: 50, deny: 100 }
rules:
  - id: rm-needs-a-human
    on: tool.call
    when: signals.shell_command.contains("rm -rf")
    effect: step_up
    message: "rm -rf needs a human"
)";

struct Args {
  std::string bin = STEPGATE_BINARY;
  int n = 2000;
  int rounds = 5;
  int clients = 8;
  double seconds = 1.0;
  std::string only;  // run only the throughput phases whose name contains this (for profiling)
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "authority bench: " << why << "\n";
  std::exit(2);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

/// One authority child process on its own socket.
struct Server {
  std::string socket;
  std::string public_key;
  pid_t pid = -1;

  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
};

std::unique_ptr<Server> start_server(const Args& a, const std::string& dir, const char* sync) {
  auto s = std::make_unique<Server>();
  std::filesystem::create_directories(dir);
  s->socket = dir + "/authority.sock";
  write_file(dir + "/policy.yaml", kPolicy);
  write_file(dir + "/authority.yaml",
             "socket: " + s->socket + "\nstate_dir: " + dir + "/state\npolicy: " + dir +
                 "/policy.yaml\n" + "inbox: off\naudit_sync: " + sync +
                 "\nactors:\n  - uid: " + std::to_string(::getuid()) + "\n    actor: bench\n");
  const std::string config = dir + "/authority.yaml";
  const std::string log = dir + "/authority.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv_s = {a.bin, "authority", "serve", "--config", config};
  std::vector<char*> argv;
  for (auto& arg : argv_s) argv.push_back(arg.data());
  argv.push_back(nullptr);
  if (posix_spawn(&s->pid, a.bin.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    die("cannot start " + a.bin);
  }
  posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 200; ++i) {
    auto c = AuthorityConnection::connect(s->socket);
    if (c.ok()) {
      auto hello = (*c)->call(Value(Map{{"op", "hello"}}));
      if (!hello.ok()) die("hello: " + hello.error().message);
      s->public_key = hello->get_string("public_key");
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  die("the authority did not start; see " + log);
}

GateOptions options_in(const std::string& home, const std::string& policy) {
  std::filesystem::create_directories(home + "/config");
  std::filesystem::create_directories(home + "/cwd");
  GateOptions o;
  o.policy_path = policy;
  o.system_policy_path = home + "/no-system-policy.yaml";
  o.cwd = home + "/cwd";
  o.env = Env(std::vector<std::string>{"HOME=" + home});
  o.paths.config_dir = home + "/config";
  o.paths.state_dir = home + "/state";
  o.paths.secrets_dir = home + "/secrets";
  o.paths.state_db = home + "/state/state.db";
  o.paths.audit_log = home + "/state/audit.jsonl";
  o.front_end = "bench";
  o.store_options.cache_ms = 50;  // a long-running front-end, like the hook daemon's pool
  return o;
}

std::unique_ptr<Gate> local_gate(const std::string& home, const std::string& policy,
                                 int fsync_batch_ms) {
  GateOptions o = options_in(home, policy);
  o.audit_options.fsync_batch_ms = fsync_batch_ms;
  auto gate = Gate::open(o);
  if (!gate.ok()) die("in-process gate: " + gate.error().message);
  return std::move(*gate);
}

std::unique_ptr<Gate> remote_gate(const std::string& home, const Server& server) {
  GateOptions o = options_in(home, "");
  write_file(
      o.paths.config_dir + "/config.yaml",
      "authority:\n  socket: " + server.socket + "\n  public_key: " + server.public_key + "\n");
  auto gate = Gate::open(o);
  if (!gate.ok()) die("authority gate: " + gate.error().message);
  if (!gate->get()->remote()) die("the gate did not pick up the authority");
  return std::move(*gate);
}

GateRequest allowed_call() {
  GateRequest r;
  r.action.kind = "tool.call";
  r.action.actor = "bench";
  r.action.resource = "Bash";
  r.action.attributes =
      Map{{"server", ""}, {"tool", "Bash"}, {"arguments", Map{{"command", "ls"}}}};
  r.signals = Map{{"tool", "Bash"}, {"shell_command", "ls -la"}};
  r.device = "bench-device";
  return r;
}

double timed_decision(Gate& gate, const GateRequest& request) {
  NoTerminalStepUpIo io;
  const auto t0 = Clock::now();
  GateOutcome out = gate.run(request, io);
  const auto t1 = Clock::now();
  if (out.final_verdict != Verdict::kAllow) {
    die("expected allow, got " + std::string(verdict_name(out.final_verdict)) + ": " +
        (out.decision.reasons.empty() ? "" : out.decision.reasons.front().message));
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(v.size() * p / 100))];
}

struct Side {
  std::string name;
  Gate* gate;
  std::vector<double> all;
  std::vector<double> round_p50;
};

/// CPU time (user + system) of every thread of process `pid` so far, in microseconds, from the
/// scheduler's nanosecond accounting (/proc/PID/task/*/schedstat).
double process_cpu_us(pid_t pid) {
  double ns = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double run_ns = 0;
    if (in >> run_ns) ns += run_ns;
  }
  return ns / 1000;
}

/// CPU time of this process so far (every thread, finished ones included), in microseconds.
double self_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// A throughput phase: decisions per second, and the CPU each decision cost the authority's
/// process and the clients' (this process), which a loaded machine does not inflate the way it
/// does wall time.
struct Throughput {
  double rate = 0;
  double server_us = 0;  // authority CPU per decision
  double client_us = 0;  // client CPU per decision
};

/// Runs `clients` threads calling `one(c)` until the time is up.
Throughput run_clients(const Args& a, const Server& server, const std::function<void(int)>& prepare,
                       const std::function<void(int)>& one) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<long> counts(a.clients, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < a.clients; ++c) {
    threads.emplace_back([&, c] {
      prepare(c);
      ++ready;
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        one(c);
        ++counts[c];
      }
    });
  }
  while (ready.load() < a.clients) std::this_thread::yield();
  const double server0 = process_cpu_us(server.pid);
  const double client0 = self_cpu_us();
  const auto t0 = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  long total = 0;
  for (long n : counts) total += n;
  Throughput out;
  out.rate = static_cast<double>(total) / dt;
  if (total > 0) {
    out.server_us = (process_cpu_us(server.pid) - server0) / static_cast<double>(total);
    out.client_us = (self_cpu_us() - client0) / static_cast<double>(total);
  }
  return out;
}

Throughput decisions_per_second(const Args& a, const std::string& dir, const Server& server) {
  std::vector<std::unique_ptr<Gate>> gates;
  for (int c = 0; c < a.clients; ++c) {
    gates.push_back(remote_gate(dir + "/client" + std::to_string(c), server));
  }
  const GateRequest request = allowed_call();
  return run_clients(
      a, server, [](int) {},
      [&](int c) {
        NoTerminalStepUpIo io;
        if (gates[c]->run(request, io).final_verdict != Verdict::kAllow) die("not allowed");
      });
}

/// The same with bare clients: one prebuilt `decide` request per call on one connection each,
/// without a Gate around it. `proven`: as a front-end does (the first answer signed over a nonce,
/// the rest unsigned: call_authority); else every answer is signed and checked, as before the
/// connection proof.
Throughput raw_decisions_per_second(const Args& a, const Server& server, bool proven) {
  const GateRequest r = allowed_call();
  const Value request =
      Map{{"op", "decide"},       {"front_end", "bench"}, {"action", action_to_value(r.action)},
          {"signals", r.signals}, {"layers", List{}},     {"grants", List{}}};
  std::vector<std::unique_ptr<AuthorityConnection>> connections(a.clients);
  return run_clients(
      a, server,
      [&](int c) {
        auto connection = AuthorityConnection::connect(server.socket);
        if (!connection.ok()) die(connection.error().message);
        connections[c] = std::move(*connection);
      },
      [&](int c) {
        if (proven) {
          if (!call_authority(*connections[c], request, server.public_key).ok()) die("decide");
          return;
        }
        auto reply = connections[c]->call(request);
        if (!reply.ok() || !verify_authority_signature(*reply, server.public_key)) die("decide");
      });
}

/// CPU per decision of an in-process Gate::run on this thread (the baseline for the above).
double in_process_cpu_us(Gate& gate, const GateRequest& request, int n) {
  NoTerminalStepUpIo io;
  rusage before{};
  rusage after{};
  ::getrusage(RUSAGE_THREAD, &before);
  for (int i = 0; i < n; ++i) (void)gate.run(request, io);
  ::getrusage(RUSAGE_THREAD, &after);
  auto us = [](const rusage& u) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  return (us(after) - us(before)) / n;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(k + " needs a value");
      return argv[++i];
    };
    if (k == "--bin") {
      a.bin = next();
    } else if (k == "--n") {
      a.n = std::stoi(next());
    } else if (k == "--rounds") {
      a.rounds = std::stoi(next());
    } else if (k == "--clients") {
      a.clients = std::stoi(next());
    } else if (k == "--seconds") {
      a.seconds = std::stod(next());
    } else if (k == "--only") {
      a.only = next();
    } else {
      die("usage: stepgate_authority_bench [--bin PATH] [--n N] [--rounds R] [--clients C] "
          "[--seconds S] [--only PHASE]");
    }
  }
  if (a.n < a.rounds || a.rounds < 1 || a.clients < 1) die("bad --n/--rounds/--clients");
  return a;
}

void print_range(const char* label, const std::vector<double>& v, const char* unit) {
  std::printf("  %-34s median %9.1f %s   range %9.1f - %9.1f\n", label, pct(v, 50), unit,
              *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/sg-authority-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) die("mkdtemp");
  const std::string work = tmpl;
  int rc = 0;
  {
    auto durable = start_server(a, work + "/durable", "durable");
    auto batch = start_server(a, work + "/batch", "batch");
    write_file(work + "/policy.yaml", kPolicy);
    auto in_batched = local_gate(work + "/local-batched", work + "/policy.yaml", 50);
    auto in_fsync = local_gate(work + "/local-fsync", work + "/policy.yaml", 0);
    auto via_durable = remote_gate(work + "/front-durable", *durable);
    auto via_batch = remote_gate(work + "/front-batch", *batch);
    std::vector<Side> sides = {{"in process (fsync batched)", in_batched.get(), {}, {}},
                               {"in process (fsync each)", in_fsync.get(), {}, {}},
                               {"authority, audit_sync: durable", via_durable.get(), {}, {}},
                               {"authority, audit_sync: batch", via_batch.get(), {}, {}}};
    const GateRequest request = allowed_call();
    for (auto& s : sides) {
      for (int i = 0; i < 200; ++i) (void)timed_decision(*s.gate, request);  // warm-up
    }
    const int per_round = a.n / a.rounds;
    // Throughput phases, each round in a rotated order so load drifts fall on all alike.
    struct Phase {
      std::string name;
      std::function<Throughput(int)> run;
      std::vector<Throughput> rounds;
    };
    std::vector<Phase> phases = {
        {"front-end Gates, audit_sync: batch",
         [&](int r) {
           return decisions_per_second(a, work + "/tput" + std::to_string(r) + "-batch", *batch);
         },
         {}},
        {"front-end Gates, audit_sync: durable",
         [&](int r) {
           return decisions_per_second(a, work + "/tput" + std::to_string(r) + "-durable",
                                       *durable);
         },
         {}},
        {"bare clients, batch", [&](int) { return raw_decisions_per_second(a, *batch, true); }, {}},
        {"bare clients, batch, every reply signed",
         [&](int) { return raw_decisions_per_second(a, *batch, false); },
         {}},
        {"bare clients, durable",
         [&](int) { return raw_decisions_per_second(a, *durable, true); },
         {}},
    };
    if (!a.only.empty()) {  // profiling one kind of phase: no latency sides, just that
      std::erase_if(phases,
                    [&](const Phase& p) { return p.name.find(a.only) == std::string::npos; });
      for (int r = 0; r < a.rounds; ++r) {
        for (Phase& p : phases) {
          const Throughput t = p.run(r);
          std::printf("  %-40s %8.0f /s   CPU authority %6.1f us, client %6.1f us\n",
                      p.name.c_str(), t.rate, t.server_us, t.client_us);
        }
      }
      via_durable.reset();  // the servers stop before their directories go
      via_batch.reset();
      durable.reset();
      batch.reset();
      std::filesystem::remove_all(work);
      return 0;
    }
    std::vector<double> in_process_cpu;
    for (int r = 0; r < a.rounds; ++r) {
      // Interleaved one decision at a time, the starting side rotating, so load spikes hit all.
      std::vector<std::vector<double>> samples(sides.size());
      for (int i = 0; i < per_round; ++i) {
        for (std::size_t k = 0; k < sides.size(); ++k) {
          const std::size_t j = (k + static_cast<std::size_t>(i)) % sides.size();
          samples[j].push_back(timed_decision(*sides[j].gate, request));
        }
      }
      for (std::size_t j = 0; j < sides.size(); ++j) {
        sides[j].all.insert(sides[j].all.end(), samples[j].begin(), samples[j].end());
        sides[j].round_p50.push_back(pct(samples[j], 50));
      }
      in_process_cpu.push_back(in_process_cpu_us(*in_batched, request, per_round));
      for (std::size_t k = 0; k < phases.size(); ++k) {
        Phase& p = phases[(k + static_cast<std::size_t>(r)) % phases.size()];
        p.rounds.push_back(p.run(r));
      }
    }

    std::printf(
        "Gate::run for an allowed tool call, %d decisions per side in %d interleaved rounds\n",
        per_round * a.rounds, a.rounds);
    for (const Side& s : sides) {
      std::printf("  %-34s p50 %8.1f us   p99 %8.1f us   (round p50s %.1f - %.1f)\n",
                  s.name.c_str(), pct(s.all, 50), pct(s.all, 99),
                  *std::min_element(s.round_p50.begin(), s.round_p50.end()),
                  *std::max_element(s.round_p50.begin(), s.round_p50.end()));
    }
    std::printf(
        "added by the socket over in process, per round p50s (durable vs fsync each, "
        "batch vs fsync batched):\n");
    for (std::size_t j = 2; j < sides.size(); ++j) {
      const Side& base = sides[j == 2 ? 1 : 0];
      std::vector<double> added;
      std::vector<double> ratio;
      for (int r = 0; r < a.rounds; ++r) {
        added.push_back(sides[j].round_p50[r] - base.round_p50[r]);
        ratio.push_back(sides[j].round_p50[r] / base.round_p50[r]);
      }
      print_range((sides[j].name + ": added").c_str(), added, "us");
      print_range((sides[j].name + ": ratio").c_str(), ratio, "x ");
    }
    std::printf(
        "%d concurrent clients, %.1f s per phase per round (CPU per decision: the authority's "
        "process, the clients' process):\n",
        a.clients, a.seconds);
    for (const Phase& p : phases) {
      std::vector<double> rate;
      std::vector<double> server_us;
      std::vector<double> client_us;
      for (const Throughput& t : p.rounds) {
        rate.push_back(t.rate);
        server_us.push_back(t.server_us);
        client_us.push_back(t.client_us);
      }
      std::printf(
          "  %-40s median %8.0f /s (%.0f - %.0f)   CPU authority %6.1f us, client %6.1f us\n",
          p.name.c_str(), pct(rate, 50), *std::min_element(rate.begin(), rate.end()),
          *std::max_element(rate.begin(), rate.end()), pct(server_us, 50), pct(client_us, 50));
    }
    std::printf("  in-process Gate::run (fsync batched), CPU per decision: %.1f us\n",
                pct(in_process_cpu, 50));
    auto median_rate = [](const Phase& p) {
      std::vector<double> v;
      for (const Throughput& t : p.rounds) v.push_back(t.rate);
      return pct(v, 50);
    };
    std::printf(
        "goals: added p50 <= 300 us (durable: %.1f us, batch: %.1f us), >= 10000 "
        "decisions/s (front-end Gates: batch %.0f/s, durable %.0f/s)\n",
        pct(sides[2].all, 50) - pct(sides[1].all, 50),
        pct(sides[3].all, 50) - pct(sides[0].all, 50), median_rate(phases[0]),
        median_rate(phases[1]));
    rc = 0;
  }
  std::filesystem::remove_all(work);
  return rc;
}
