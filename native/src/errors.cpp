#include "errors.h"

namespace kp {

static thread_local std::string g_last_error;

kp_status fail(kp_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

void clear_error() { g_last_error.clear(); }

const char* last_error() { return g_last_error.c_str(); }

}  // namespace kp

extern "C" KP_API const char* kp_last_error(void) { return kp::last_error(); }

extern "C" KP_API const char* kp_status_string(kp_status status) {
  switch (status) {
    case KP_OK: return "ok";
    case KP_ERR_INVALID_ARGUMENT: return "invalid argument";
    case KP_ERR_OUT_OF_MEMORY: return "out of memory";
    case KP_ERR_UNSUPPORTED: return "unsupported";
    case KP_ERR_UNAVAILABLE: return "backend unavailable";
    case KP_ERR_BAD_BUFFER: return "bad buffer";
    case KP_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}
