// synthetic_data.h: small learnable data sets written in the MNIST layout (/train/x, /train/y,
// /val/x, /val/y), deterministic in their seed, for fast tests and CLI smoke runs.
#pragma once
#include <cstdint>
#include <string>

namespace mp {

// Gaussian clusters: class k has a centre drawn from N(0, 1.5^2) per coordinate; a sample of
// class y is centre_y + N(0, 1) noise. x float32 [n, dim], y int32 [n] with labels uniform in
// 0..classes-1. Well separated for dim >= 8 (a linear model reaches high accuracy).
void write_synthetic_classification(const std::string& path, int64_t n_train, int64_t n_val,
                                    int64_t dim, int64_t classes, uint64_t seed);

// Random linear teacher: x ~ N(0, 1) [n, dim] float32, y = W x + b + 0.01 N(0, 1) float32
// [n, out_dim] with W ~ N(0, 1/dim), b ~ N(0, 0.1^2).
void write_synthetic_regression(const std::string& path, int64_t n_train, int64_t n_val,
                                int64_t dim, int64_t out_dim, uint64_t seed);

}  // namespace mp
