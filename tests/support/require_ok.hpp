// REQUIRE_OK(status_or_result): REQUIRE that a Status (or Result) is ok, showing the error's
// message when it is not (a bare REQUIRE prints only "{?}").
#pragma once

#include <string>

#include <catch2/catch.hpp>

#define REQUIRE_OK(expr)                                                           \
  do {                                                                             \
    const auto& require_ok_status = (expr);                                        \
    INFO((require_ok_status ? std::string() : require_ok_status.error().message)); \
    REQUIRE(static_cast<bool>(require_ok_status));                                 \
  } while (false)
