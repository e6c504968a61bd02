// Host memory of the cpu backend (host_memory.cpp): aligned, huge pages for large blocks, and a
// bounded cache of freed large blocks so repeated shapes do not fault fresh pages in every step.
#pragma once
#include <cstddef>

namespace kp {

void* host_alloc(size_t bytes);  // nullptr when it cannot (or must not: above physical memory)
void host_free(void* p);
size_t host_cached_bytes();      // freed large blocks held for reuse
void host_trim();                // gives every cached block back (a device closes)

}  // namespace kp
