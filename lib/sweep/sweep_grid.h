// sweep_grid.h: the grid of a sweep (`mptrain sweep --grid KEY=V1,V2,...`): parsing the axes, the
// cartesian product of their values (first axis slowest) and each point's folder name.
//
// A value is one YAML scalar as --set takes it (fp32, 4, 3e-4, true, "a b"); values are split on
// every comma, so a value containing a comma (a flow list [1,2], a map {a: 1, b: 2}) cannot be
// given in a grid: put it in the base config or a --set instead.
//
// Point id (the folder DIR/<id> a point runs in): "<key>-<value>" per axis, joined by "_", in axis
// order, e.g. precision.policy-bf16_train.accum_steps-4. Characters outside [A-Za-z0-9._+-] become
// "_". Ids that would still collide get "-2", "-3", ... in grid order; an id longer than 150
// characters is cut to 140 and ends in "-" + 8 hex digits of a hash of its full key=value text.
#pragma once
#include <string>
#include <vector>

namespace mp {

struct GridAxis {
  std::string key;                  // dotted spec key, as given
  std::vector<std::string> values;  // as given (surrounding spaces trimmed), at least one
};

// One --grid argument "KEY=V1,V2,...". ConfigError "--grid ARG: ..." when there is no '=', the key
// or a value is empty, or a value appears twice.
GridAxis parse_grid_axis(const std::string& arg);

// All --grid arguments in order; ConfigError when none is given or a key appears in two of them.
std::vector<GridAxis> parse_grid(const std::vector<std::string>& args);

struct GridPoint {
  std::vector<std::string> values;     // one per axis, in axis order
  std::vector<std::string> overrides;  // "KEY=VALUE" per axis, applied after the --set overrides
  std::string id;                      // folder name (rule above)
  std::string label;                   // "precision.policy=bf16, train.accum_steps=4"
};

// The cartesian product of the axes, first axis slowest, with unique ids.
std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes);

// The folder-safe form of one axis value or key (characters outside [A-Za-z0-9._+-] -> '_').
std::string sanitize_id_part(const std::string& s);

}  // namespace mp
