#include "buffer.h"
#include "device.h"

void kp_buffer::release() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    backend->free(data);
    kp_device* dev = device;
    delete this;
    dev->release();
  }
}
