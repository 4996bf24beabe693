# Check every #include of the source tree against the layer table of DESIGN §1 (STYLE §2).
#
#   cmake -DSTROM_SOURCE_DIR=/path/to/strom -P cmake/check_layering.cmake
#
# Registered as the ctest test `layering_test` by cmake/Checks.cmake. Scans the files git knows
# (tracked, plus untracked ones that are not ignored; every file below the root when git is not
# available) and prints each violation as
#   path:line: <folder> may not include <target>
# then fails if there was any. It also fails when a folder name exists both at the top level and
# under src/ (STYLE §1), and when a source file sits in a folder the table does not know.
#
# Resolution follows the compiler's search order for Strom targets: a quoted include is looked up
# next to the including file, then from the include roots (repository root, src/, include/); an
# angle include only from the include roots. `<strom/...>` is always the public API. An include
# that resolves to no file in the repository is third-party when written with angle brackets;
# written with quotes it is allowed only for generated code under "proto/".
cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED STROM_SOURCE_DIR)
  get_filename_component(STROM_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()
set(root "${STROM_SOURCE_DIR}")

# --- The table (DESIGN §1). A folder may always include from itself. ----------------------------
set(layers
  include/strom src/common src/graph state runtime/network checkpoint runtime/task
  runtime/taskmanager runtime/jobmanager runtime/minicluster connectors src/cli src/bin)
# Folders that may include anything; nothing in a checked folder may include them.
set(unchecked tests bench examples)

set("allowed_include/strom" "")
set("allowed_src/common" include/strom)
set("allowed_src/graph" src/common include/strom)
set("allowed_state" src/common include/strom)
set("allowed_runtime/network" src/common include/strom)
set("allowed_checkpoint" src/common state runtime/network include/strom)
set("allowed_runtime/task" src/common src/graph state runtime/network checkpoint include/strom)
# The two daemons sit side by side: neither may include the other.
set("allowed_runtime/taskmanager"
  src/common src/graph state runtime/network checkpoint runtime/task include/strom)
set("allowed_runtime/jobmanager" ${allowed_runtime/taskmanager})
set("allowed_runtime/minicluster"
  ${allowed_runtime/taskmanager} runtime/taskmanager runtime/jobmanager)
set("allowed_connectors" include/strom src/common)
set("allowed_src/cli" ${layers})
set("allowed_src/bin" ${layers})

# Quoted includes of generated headers, which live in the build tree (never committed).
set(generated_prefixes proto/)
# Folders that generated headers count as part of, for the table.
set(generated_folder proto)

set(source_regex "\\.(h|hh|hpp|hxx|inl|ipp|tcc|c|cc|cpp|cxx)$")

# --- Helpers ------------------------------------------------------------------------------------
# Set ${out} to the table folder of repository path ${path}, or to "" when it is in none.
function(folder_of path out)
  foreach(folder IN LISTS layers unchecked)
    string(LENGTH "${folder}/" length)
    string(SUBSTRING "${path}" 0 ${length} prefix)
    if(prefix STREQUAL "${folder}/")
      set(${out} "${folder}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# Set ${out} to the repository path that include ${name} resolves to, or to "" when it names no
# file in the repository. ${quoted} is true for "..." includes, which also search ${from_dir}.
function(resolve_include name quoted from_dir out)
  set(candidates "")
  if(quoted)
    list(APPEND candidates "${from_dir}/${name}")
  endif()
  list(APPEND candidates "${name}" "src/${name}" "include/${name}")
  foreach(candidate IN LISTS candidates)
    cmake_path(SET absolute NORMALIZE "${root}/${candidate}")
    if(EXISTS "${absolute}" AND NOT IS_DIRECTORY "${absolute}")
      file(RELATIVE_PATH relative "${root}" "${absolute}")
      if(NOT relative MATCHES "^\\.\\./")
        set(${out} "${relative}" PARENT_SCOPE)
        return()
      endif()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# --- The files to scan --------------------------------------------------------------------------
set(files "")
find_program(GIT_EXECUTABLE git)
set(git_result 1)
if(GIT_EXECUTABLE AND EXISTS "${root}/.git")
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" -c core.quotepath=off ls-files --cached --others --exclude-standard
    WORKING_DIRECTORY "${root}"
    RESULT_VARIABLE git_result
    OUTPUT_VARIABLE git_output
    ERROR_VARIABLE git_error)
endif()
if(git_result EQUAL 0)
  string(REPLACE "\n" ";" files "${git_output}")
else()
  message(STATUS "layering: git ls-files unavailable, scanning every file below ${root}")
  file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${root}" "${root}/*")
  list(FILTER files EXCLUDE REGEX "^(build[^/]*|out|\\.[^/]*)/")
endif()
list(REMOVE_DUPLICATES files)
list(SORT files)

set(violations 0)
macro(report text)
  message("${text}")
  math(EXPR violations "${violations} + 1")
endmacro()

# --- STYLE §1: no folder name both at the top level and under src/ -------------------------------
set(top_dirs "")
set(src_dirs "")
foreach(path IN LISTS files)
  if(path MATCHES "^src/([^/]+)/")
    list(APPEND src_dirs "${CMAKE_MATCH_1}")
  endif()
  if(path MATCHES "^([^/]+)/")
    list(APPEND top_dirs "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES top_dirs)
list(REMOVE_DUPLICATES src_dirs)
foreach(dir IN LISTS src_dirs)
  if(dir IN_LIST top_dirs)
    report("src/${dir}/: folder name `${dir}` exists both at the top level and under src/ (STYLE §1)")
  endif()
endforeach()

# --- The includes -------------------------------------------------------------------------------
set(include_regex "#[ \t]*include[ \t]*([<\"])([^>\"\n;]*)[>\"]")
set(scanned_files 0)
set(scanned_includes 0)
set(unknown_folders "")
list(FILTER files INCLUDE REGEX "${source_regex}")
foreach(path IN LISTS files)
  if(NOT EXISTS "${root}/${path}")
    continue()  # tracked but deleted in the working tree
  endif()
  folder_of("${path}" folder)
  if(folder IN_LIST unchecked)
    continue()
  endif()
  if(folder STREQUAL "")
    get_filename_component(dir "${path}" DIRECTORY)
    if(dir STREQUAL "")
      set(dir ".")
    endif()
    if(NOT dir IN_LIST unknown_folders)
      list(APPEND unknown_folders "${dir}")
      report("${path}:1: folder `${dir}/` is not in the layer table of DESIGN §1 (cmake/check_layering.cmake)")
    endif()
    continue()
  endif()
  math(EXPR scanned_files "${scanned_files} + 1")
  get_filename_component(from_dir "${path}" DIRECTORY)

  file(READ "${root}/${path}" content)
  # One element per #include line, each with the newline before it (none on the first line).
  string(REGEX MATCHALL "(^|\n)[ \t]*${include_regex}" directives "${content}")
  set(index 0)
  set(bad_indexes "")
  set(bad_messages "")
  foreach(directive IN LISTS directives)
    math(EXPR index "${index} + 1")
    math(EXPR scanned_includes "${scanned_includes} + 1")
    string(REGEX MATCH "${include_regex}" ignored "${directive}")
    set(delimiter "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    set(quoted FALSE)
    if(delimiter STREQUAL "\"")
      set(quoted TRUE)
    endif()

    if(NOT quoted AND name MATCHES "^strom/")
      set(target include/${name})
    else()
      resolve_include("${name}" ${quoted} "${from_dir}" target)
    endif()
    if(target STREQUAL "")
      if(NOT quoted)
        continue()  # third-party or standard library
      endif()
      set(generated FALSE)
      foreach(prefix IN LISTS generated_prefixes)
        string(FIND "${name}" "${prefix}" at)
        if(at EQUAL 0)
          set(generated TRUE)
        endif()
      endforeach()
      if(NOT generated)
        list(APPEND bad_indexes ${index})
        list(APPEND bad_messages
             "${folder} may not include \"${name}\" (no such file in the repository, and only generated headers under ${generated_prefixes} may be missing)")
        continue()
      endif()
      set(target_folder "${generated_folder}")
      set(shown "\"${name}\" (generated)")
    else()
      folder_of("${target}" target_folder)
      if(target_folder STREQUAL "")
        get_filename_component(target_folder "${target}" DIRECTORY)
      endif()
      set(shown "${target}")
    endif()

    if(target_folder STREQUAL folder)
      continue()
    endif()
    set(allowed "${allowed_${folder}}")
    if(NOT folder STREQUAL "include/strom")
      list(APPEND allowed ${generated_folder})
    endif()
    if(NOT target_folder IN_LIST allowed)
      list(APPEND bad_indexes ${index})
      list(APPEND bad_messages "${folder} may not include ${target_folder} (${shown})")
    endif()
  endforeach()

  if(bad_indexes)
    # Find each directive's line: walk the directives in order through the file text.
    set(index 0)
    set(offset 0)
    set(line 1)
    foreach(bad IN LISTS bad_indexes)
      unset(line_of_${bad})
    endforeach()
    foreach(directive IN LISTS directives)
      math(EXPR index "${index} + 1")
      string(SUBSTRING "${content}" ${offset} -1 rest)
      string(FIND "${rest}" "${directive}" at)
      if(at LESS 0)
        break()
      endif()
      string(LENGTH "${directive}" directive_length)
      math(EXPR consumed "${at} + ${directive_length}")
      string(SUBSTRING "${rest}" 0 ${consumed} passed)
      string(REGEX REPLACE "[^\n]" "" newlines "${passed}")
      string(LENGTH "${newlines}" newline_count)
      math(EXPR line "${line} + ${newline_count}")
      math(EXPR offset "${offset} + ${consumed}")
      set(line_of_${index} ${line})
    endforeach()
    foreach(bad IN ZIP_LISTS bad_indexes bad_messages)
      if(DEFINED line_of_${bad_0})
        set(where "${line_of_${bad_0}}")
      else()
        set(where "?")
      endif()
      report("${path}:${where}: ${bad_1}")
    endforeach()
  endif()
endforeach()

if(scanned_files EQUAL 0)
  message(FATAL_ERROR "layering: no source files found below ${root}")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "layering: ${violations} violation(s) in ${scanned_files} files")
endif()
message(STATUS "layering: ${scanned_files} files, ${scanned_includes} includes, no violations")
