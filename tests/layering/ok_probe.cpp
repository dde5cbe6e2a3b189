// ok_probe.cpp: what a file of lib/nn may include (its own folder and the folders below it).
#include "backend/backend.h"
#include "core/tensor.h"
#include "kernels/activations.h"
#include "nn/layer.h"
