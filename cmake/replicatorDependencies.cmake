# The link dependencies of replicator::libpq (libpq, through pkg-config) and replicator::azure
# (libcurl, OpenSSL). Included by the build and by the installed replicatorConfig.cmake.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND AND NOT TARGET PkgConfig::replicator_libpq_dep)
  pkg_check_modules(replicator_libpq_dep QUIET IMPORTED_TARGET GLOBAL libpq)
endif()
if(NOT TARGET PkgConfig::replicator_libpq_dep)
  find_package(PostgreSQL QUIET)  # CMake's module, when libpq has no .pc file
  if(TARGET PostgreSQL::PostgreSQL)
    add_library(PkgConfig::replicator_libpq_dep INTERFACE IMPORTED GLOBAL)
    target_link_libraries(PkgConfig::replicator_libpq_dep INTERFACE PostgreSQL::PostgreSQL)
  endif()
endif()
find_package(CURL QUIET)
find_package(OpenSSL QUIET)
