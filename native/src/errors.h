// Thread-local error messages behind kp_last_error(), and a typed exception the core uses
// internally (it never crosses the C ABI: api.cpp turns it into a status).
#pragma once
#include <stdexcept>
#include <string>
#include "kernelport.h"

namespace kp {

struct Error : std::runtime_error {
  kp_status status;
  Error(kp_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
};

// Records the message for kp_last_error() and returns the status, so callers can `return fail(...)`.
kp_status fail(kp_status status, const std::string& message);
void clear_error();

}  // namespace kp
