# A fuzzer's CTest smoke test with a seed corpus (see spiced_fuzzer in CMakeLists.txt):
#   cmake -DFUZZER=exe -DNEW_INPUTS=dir -DSEEDS=dir -DRUNS=n -P run_with_corpus.cmake
# NEW_INPUTS is emptied first, so every run starts from the checked-in seeds alone and the
# inputs earlier runs found neither pile up nor make the test slower.
file(REMOVE_RECURSE "${NEW_INPUTS}")
file(MAKE_DIRECTORY "${NEW_INPUTS}")
execute_process(COMMAND "${FUZZER}" -runs=${RUNS} -max_len=4096 "${NEW_INPUTS}" "${SEEDS}"
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER}: ${result}")
endif()
