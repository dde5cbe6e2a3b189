// resume_keys.h: THE table of which run-spec keys may change when a run resumes from a checkpoint.
// A key is `fixed` when the checkpoint's state only means what it means under the key's value (the
// data cursor, the RNG streams, the parameter and optimizer-state layout, the loss-scaler state);
// changing it is refused (resume_check.h). Every other key is `free`: it only steers what happens
// after the resume (how long, how fast, what is logged). The table drives both the check and the
// "Resuming" section of configs/REFERENCE.md (resume_keys_markdown; a unit test keeps them equal).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mp {

enum class ResumeRule {
  Fixed,  // refused on any change
  OnOff,  // refused when it switches between 0 and non-zero (the state exists only when non-zero)
  Free,   // may change
  Global, // refused unless the world size changes and value x world_size stays the same (the
          // data cursor counts global batches; resume_check.cpp has the world sizes)
};

struct ResumeKey {
  std::string_view key;  // a key path, or a section path that covers every key under it
  ResumeRule rule;
  std::string_view why;  // finishes "<key> cannot change on resume (...)" / "may change (...)"
};

// The table, in schema order.
const std::vector<ResumeKey>& resume_keys();

// The entry for a key: its own, else the one of its nearest section. nullptr when none covers it
// (a key added to the schema without deciding; the unit test catches that).
const ResumeKey* find_resume_key(std::string_view path);

// Whether changing `path` from `before` to `after` (value texts as spec_values writes them) is
// refused.
bool resume_change_refused(const ResumeKey& k, const std::string& before, const std::string& after);

// The REFERENCE.md table (markdown, between the markers below, markers included).
inline constexpr std::string_view kResumeKeysBegin =
    "<!-- BEGIN resume keys: resume_keys_markdown() in lib/checkpoint/resume_keys.cpp; a test checks it -->";
inline constexpr std::string_view kResumeKeysEnd = "<!-- END resume keys -->";
std::string resume_keys_markdown();

}  // namespace mp
