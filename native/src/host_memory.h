// Host memory of the cpu backend (host_memory.cpp): aligned, huge pages for large blocks, and a
// bounded cache of freed large blocks so repeated shapes do not fault fresh pages in every step.
#pragma once
#include <cstddef>

namespace kp {

void* host_alloc(size_t bytes);  // nullptr when it cannot (or must not: above physical memory)
void host_free(void* p);
size_t host_cached_bytes();      // freed large blocks held for reuse
void host_trim();                // gives every cached block back
// The cpu devices open in the process: the cache is theirs, and is given back when the last one closes
// (not when any closes: the others' next steps would fault fresh pages in again).
void host_device_opened();
void host_device_closed();

}  // namespace kp
