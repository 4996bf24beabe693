# The install test (ctest: install_test, label install): install Strom into a fresh prefix, build
# the user project of this folder against it with find_package(Strom) + strom_add_job(), run
# its executable, and open its job library with JobLibrary (the driver
# joblib_job_library_check, which links the build tree's libstrom.so).
#
#   cmake -DSTROM_BUILD_DIR=... -DSTROM_SOURCE_DIR=... -DWORK_DIR=... -DCHECK=... \
#         -DGENERATOR=... -DCXX_COMPILER=... [-DCXX_LAUNCHER=...] [-DSANITIZE=...] \
#         -P run_install_test.cmake
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_test: '${ARGN}' failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
set(user "${WORK_DIR}/user")
file(REMOVE_RECURSE "${WORK_DIR}")

run("${CMAKE_COMMAND}" --install "${STROM_BUILD_DIR}" --prefix "${prefix}")
foreach(file lib/libstrom.so include/strom/strom.h include/strom/detail/job_library_entry.h
             conf/strom.yaml lib/cmake/Strom/StromConfig.cmake
             lib/cmake/Strom/StromConfigVersion.cmake lib/cmake/Strom/StromAddJob.cmake)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "install_test: ${prefix}/${file} was not installed")
  endif()
endforeach()

set(launcher "")
if(CXX_LAUNCHER)
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER}")
endif()
if(SANITIZE)
  # The installed libstrom.so of a sanitizer build needs the runtime loaded first.
  foreach(kind EXE MODULE)
    list(APPEND launcher "-DCMAKE_${kind}_LINKER_FLAGS=-fsanitize=${SANITIZE}")
  endforeach()
endif()
run("${CMAKE_COMMAND}" -S "${STROM_SOURCE_DIR}/tests/install" -B "${user}" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" ${launcher})
run("${CMAKE_COMMAND}" --build "${user}")
foreach(file my_job my_job.so)
  if(NOT EXISTS "${user}/${file}")
    message(FATAL_ERROR "install_test: strom_add_job did not produce ${user}/${file}")
  endif()
endforeach()

# The executable runs the job embedded: odd squares 1+9+25 = 35, even 4+16 = 20.
run("${user}/my_job")
if(NOT run_output MATCHES "35" OR NOT run_output MATCHES "20")
  message(FATAL_ERROR "install_test: my_job printed unexpected output:\n${run_output}")
endif()
run("${CHECK}" "${user}/my_job.so")
if(NOT run_output MATCHES "^fingerprint [0-9a-f]+ vertices 2")
  message(FATAL_ERROR "install_test: unexpected check output:\n${run_output}")
endif()
message(STATUS "install_test: ${run_output}")
file(REMOVE_RECURSE "${WORK_DIR}")
