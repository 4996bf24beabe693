# strom_add_job(name SOURCES job.cc ... [DEPS lib ...]): build a Strom job from a source file
# that uses STROM_JOB(build), the way a user builds one. The sources are compiled once
# (an OBJECT library `name_objects`, position-independent) and linked into
#   - the executable `name`, which runs the job on an embedded MiniCluster, and
#   - the job library `name.so` (target `name_library`, a MODULE), which `strom run name.so`
#     submits to a cluster and which TaskManagers dlopen,
# both in the executable's output directory (set RUNTIME_OUTPUT_DIRECTORY on `name` to move
# both). Both link libstrom.so (Strom::strom) with an RPATH that finds it in the build tree and,
# installed side by side with Strom's lib/, in $ORIGIN/../lib. DEPS are linked into both (they
# must be position-independent: shared, or static built with -fPIC).
#
# The job library keeps the `main` that STROM_JOB defines: compiling the sources twice to drop it
# would double the build time, and an unused `main` in a dlopen'ed module is harmless (the
# loader's own `main` wins symbol lookup; nothing calls the module's).
#
# Used by Strom's own examples and tests, and installed with Strom: find_package(Strom) defines
# it for a user's project (cmake/StromConfig.cmake.in).
include_guard(GLOBAL)

function(strom_add_job name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "strom_add_job(${name}): no SOURCES given")
  endif()
  if(NOT TARGET Strom::strom)
    message(FATAL_ERROR "strom_add_job(${name}): target Strom::strom is not defined: call "
                        "find_package(Strom REQUIRED) first")
  endif()
  add_library(${name}_objects OBJECT ${ARG_SOURCES})
  set_target_properties(${name}_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${name}_objects PUBLIC Strom::strom ${ARG_DEPS})

  add_executable(${name})
  target_link_libraries(${name} PRIVATE ${name}_objects)

  add_library(${name}_library MODULE)
  target_link_libraries(${name}_library PRIVATE ${name}_objects)
  set_target_properties(${name}_library PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX ""
    SUFFIX ".so"
    LIBRARY_OUTPUT_DIRECTORY "$<TARGET_FILE_DIR:${name}>")
  set_target_properties(${name} ${name}_library PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")
  # Building the executable builds the job library too: a user who asks for one gets both.
  add_dependencies(${name} ${name}_library)
endfunction()
