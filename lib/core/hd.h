// hd.h: the MP_HD qualifier for math shared by host and device code (kernels/, core/ dtypes).
#pragma once
#if defined(__CUDACC__)
#define MP_HD __host__ __device__ __forceinline__
#else
#define MP_HD inline
#endif
