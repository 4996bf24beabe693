# Helper functions for Strom's own targets (STYLE §2) and for user jobs.
include_guard(GLOBAL)

# strom_add_library(name SOURCES a.cc b.cc DEPS PUBLIC x PRIVATE y)
function(strom_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
  target_link_libraries(${name} PUBLIC strom_api PRIVATE strom_build_flags)
  if(ARG_DEPS)
    target_link_libraries(${name} ${ARG_DEPS})
  endif()
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# strom_add_test(name SOURCES t.cc DEPS lib... LABELS unit [TIMEOUT seconds])
function(strom_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} strom_testutil GTest::gmock GTest::gtest_main
                                        strom_build_flags)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  if(STROM_SANITIZE MATCHES "thread")
    # Races TSan reports inside the uninstrumented Debian libraries (gRPC, RocksDB): see the file.
    set_tests_properties(${name} PROPERTIES ENVIRONMENT
      "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/testutil/tsan_suppressions.txt")
  endif()
endfunction()

# strom_add_job(): cmake/StromAddJob.cmake, installed for users as well.
include(${CMAKE_CURRENT_LIST_DIR}/StromAddJob.cmake)
