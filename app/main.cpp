#include <cstdio>
int main() { std::puts("mptrain: under construction"); return 0; }
