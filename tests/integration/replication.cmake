# Replication integration test (included at the end of
# tests/integration/CMakeLists.txt): test_replication.py starts two 3-node
# clusters and writes 10,000 keys through hinted handoff, so it gets a
# longer timeout than the glob's default.  Its set-up fails (never skips)
# when the nodes do not form a cluster or do not replicate.
if(TARGET basaltd)
  if(NOT BS_INTEG_PYTHON)
    set(BS_INTEG_PYTHON /usr/bin/python3)
  endif()
  if(NOT TEST integ_test_replication)
    add_test(NAME integ_test_replication
      COMMAND ${BS_INTEG_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_replication.py
              --basaltd $<TARGET_FILE:basaltd>
      WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  endif()
  set_tests_properties(integ_test_replication PROPERTIES LABELS "integration"
    TIMEOUT 900 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
