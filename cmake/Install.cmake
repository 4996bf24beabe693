# `cmake --install build --prefix P` lays out
#   P/lib/libstrom.so                  the engine (target strom)
#   P/include/strom/                   the public API
#   P/conf/                            conf/strom.yaml and whatever else conf/ holds
#   P/lib/cmake/Strom/                 StromConfig.cmake, its version file, the exported target
#                                      Strom::strom and strom_add_job()
#   P/bin/                             the CLI, daemons and scripts (strom_install_program())
# so that a user's project builds jobs against an installed Strom with
#   find_package(Strom REQUIRED)
#   strom_add_job(my_job SOURCES my_job.cc)
# Fixed directory names (not GNUInstallDirs' lib64 or lib/<triplet>): the programs find
# libstrom.so through RPATH $ORIGIN/../lib.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

install(TARGETS strom strom_api EXPORT StromExports
  LIBRARY DESTINATION lib
  INCLUDES DESTINATION include)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/strom" DESTINATION include)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/conf/" DESTINATION conf)
install(EXPORT StromExports NAMESPACE Strom:: DESTINATION lib/cmake/Strom)
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/StromConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/StromConfig.cmake"
  INSTALL_DESTINATION lib/cmake/Strom)
# A job library must be built with the Strom version that loads it (the loader checks it
# exactly), so a request for 0.1 accepts 0.1.x only.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/StromConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/StromConfig.cmake"
  "${PROJECT_BINARY_DIR}/StromConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/StromAddJob.cmake"
  DESTINATION lib/cmake/Strom)
