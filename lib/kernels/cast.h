// cast.h: element casts between the float storage types (float, half, bfloat16). Loads are exact;
// the store rounds to nearest even (core/half.h), so a cast rounds exactly once. Device-safe.
#pragma once
#include "core/half.h"

namespace mp::kernels {

template <class Tout, class Tin> MP_HD Tout cast_element(Tin x) { return from_float<Tout>(to_float(x)); }

// y = x * alpha in fp32, rounded once to the storage type.
template <class T> MP_HD T scale_element(T x, float alpha) { return from_float<T>(to_float(x) * alpha); }

}  // namespace mp::kernels
