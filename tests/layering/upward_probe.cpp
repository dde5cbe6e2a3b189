// upward_probe.cpp: a file linked like lib/nn that includes a header of a folder above it.
#include "train/trainer.h"
