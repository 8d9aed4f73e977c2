# Admin API integration tests (included at the end of
# tests/integration/CMakeLists.txt).
#   test_admin_cli.py      basalt-admin against test_admin_fakesrv (the admin
#                          server with the unit tests' fake provider)
#   test_admin_cluster.py  scripts/cluster with real basaltd processes
# The CMakeLists.txt above registers every test_*.py as integ_<name>; this
# file adds the fixture binary and tells those tests where basalt-admin and
# the fixture are (or registers them itself if the glob did not).
if(TARGET bs_node)
  add_executable(test_admin_fakesrv ${CMAKE_CURRENT_LIST_DIR}/test_admin_fakesrv.c)
  target_link_libraries(test_admin_fakesrv PRIVATE bs_node bs_common Threads::Threads m)
endif()
if(TARGET basaltd AND TARGET basalt-admin AND TARGET test_admin_fakesrv)
  if(NOT BS_INTEG_PYTHON)
    set(BS_INTEG_PYTHON /usr/bin/python3)
  endif()
  foreach(n test_admin_cli test_admin_cluster)
    if(NOT TEST integ_${n})
      add_test(NAME integ_${n}
        COMMAND ${BS_INTEG_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${n}.py --basaltd $<TARGET_FILE:basaltd>
        WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    endif()
    set_tests_properties(integ_${n} PROPERTIES LABELS "integration" TIMEOUT 180
      ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;BASALT_ADMIN=$<TARGET_FILE:basalt-admin>;BASALT_ADMIN_FAKESRV=$<TARGET_FILE:test_admin_fakesrv>")
  endforeach()
endif()
