// spec_schema.h: the run-spec schema: every key of RunSpec, in dump order, with its rule and doc.
#pragma once
#include "config/run_spec.h"
#include "config/spec_visitor.h"

namespace mp {

// Calls section()/field() on `v` for every section and key of `spec`, in schema order.
void visit_spec(SpecVisitor& v, RunSpec& spec);

}  // namespace mp
