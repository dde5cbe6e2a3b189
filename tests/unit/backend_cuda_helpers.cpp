// backend_cuda_helpers.cpp: the CUDA-free pieces of the CUDA engine's correctness machinery:
// env_flag.h (MPTRAIN_CUDA_SYNC_CHECK's parsing) and candidate_choice.h (the cuBLASLt plan
// cache's "try the heuristic's algorithms in order, remember the first that runs").
#include <doctest/doctest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/candidate_choice.h"
#include "backend/env_flag.h"

using mp::CandidateChoice;
using mp::parse_env_flag;

TEST_CASE("env flag: unset, empty and the off words are off; the on words are on") {
  CHECK_FALSE(parse_env_flag("X", nullptr));
  for (const char* v : {"", "0", "false", "OFF", "No"}) CHECK_FALSE(parse_env_flag("X", v));
  for (const char* v : {"1", "true", "On", "YES"}) CHECK(parse_env_flag("X", v));
}

TEST_CASE("env flag: any other value is a ConfigError naming the variable and the value") {
  for (const char* v : {"2", "maybe", " 1", "1 "}) {
    try {
      (void)parse_env_flag("MPTRAIN_CUDA_SYNC_CHECK", v);
      FAIL("no error for '" << v << "'");
    } catch (const mp::ConfigError& e) {
      const std::string m = e.what();
      CHECK(m.find(std::string("MPTRAIN_CUDA_SYNC_CHECK=") + v) != std::string::npos);
      CHECK(m.find("expected 1 (on) or 0 (off)") != std::string::npos);
      CHECK(e.exit_code() == mp::kExitConfig);
    }
  }
}

TEST_CASE("env flag: env_flag reads the environment") {
  ::setenv("MPTRAIN_TEST_ENV_FLAG", "1", 1);
  CHECK(mp::env_flag("MPTRAIN_TEST_ENV_FLAG"));
  ::setenv("MPTRAIN_TEST_ENV_FLAG", "0", 1);
  CHECK_FALSE(mp::env_flag("MPTRAIN_TEST_ENV_FLAG"));
  ::unsetenv("MPTRAIN_TEST_ENV_FLAG");
  CHECK_FALSE(mp::env_flag("MPTRAIN_TEST_ENV_FLAG"));
}

namespace {
// Candidates of which `works[i]` says whether candidate i runs; records every try.
struct Trial {
  std::vector<bool> works;
  std::vector<int> tried;
  bool operator()(int i) {
    tried.push_back(i);
    return works[static_cast<size_t>(i)];
  }
};
}  // namespace

TEST_CASE("candidate choice: the first call tries in order and stops at the first that runs") {
  CandidateChoice c(4);
  Trial t{{false, false, true, true}, {}};
  CHECK(c.chosen() == -1);
  CHECK(c.run(t) == 2);
  CHECK(t.tried == std::vector<int>{0, 1, 2});
  CHECK(c.chosen() == 2);
}

TEST_CASE("candidate choice: later calls run the remembered one only") {
  CandidateChoice c(3);
  Trial t{{false, true, true}, {}};
  CHECK(c.run(t) == 1);
  t.tried.clear();
  CHECK(c.run(t) == 1);
  CHECK(c.run(t) == 1);
  CHECK(t.tried == std::vector<int>{1, 1});
}

TEST_CASE("candidate choice: a remembered one that refuses moves on to the later ones") {
  CandidateChoice c(4);
  Trial t{{true, false, false, true}, {}};
  CHECK(c.run(t) == 0);
  t.works[0] = false;
  t.tried.clear();
  CHECK(c.run(t) == 3);
  CHECK(t.tried == std::vector<int>{0, 1, 2, 3});
  CHECK(c.chosen() == 3);
}

TEST_CASE("candidate choice: all refused is -1 after one try each; the next call starts over") {
  CandidateChoice c(3);
  Trial t{{false, false, false}, {}};
  CHECK(c.run(t) == -1);
  CHECK(t.tried == std::vector<int>{0, 1, 2});
  CHECK(c.chosen() == -1);
  t.works[0] = true;
  t.tried.clear();
  CHECK(c.run(t) == 0);
  CHECK(t.tried == std::vector<int>{0});
}

TEST_CASE("candidate choice: no candidates is -1 without calling anything") {
  CandidateChoice c;
  Trial t{{}, {}};
  CHECK(c.run(t) == -1);
  CHECK(t.tried.empty());
}

TEST_CASE("candidate choice: an error other than a refusal propagates and remembers nothing") {
  CandidateChoice c(2);
  CHECK_THROWS_AS(c.run([](int) -> bool { throw std::runtime_error("boom"); }), std::runtime_error);
  CHECK(c.chosen() == -1);
}
