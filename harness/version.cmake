# Run at every build (cmake -P): writes version.cpp from version.cpp.in with the current git
# revision, and touches it only when its content changes, so that an unchanged revision
# recompiles nothing.
# In: SOURCE_DIR, INPUT, OUTPUT, PROJECT_VERSION, GIT_EXECUTABLE (may be empty).
set(GPUACCEPT_GIT_REVISION "unknown")
if(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                  WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE rev
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND rev)
    set(GPUACCEPT_GIT_REVISION ${rev})
  endif()
endif()
configure_file(${INPUT} ${OUTPUT}.new @ONLY)
file(COPY_FILE ${OUTPUT}.new ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.new)
