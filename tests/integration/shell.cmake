# basalt-shell terminal tests (test_shell.py: tmux-driven interactive
# sessions, -e / -f / pipe modes, COPY round trip of 100,000 rows).
# Included from tests/integration/CMakeLists.txt.  Needs tmux and the
# python3-cassandra driver (the harness sets up data with it).
#
# The folder's glob may already have registered test_shell.py as
# integ_test_shell (with --basaltd only); then it is given the shell's
# path through BASALT_SHELL.  Otherwise it is registered here.
if(TARGET basalt-shell AND TARGET basaltd)
  if(TEST integ_test_shell)
    set_property(TEST integ_test_shell APPEND PROPERTY ENVIRONMENT
      "BASALT_SHELL=$<TARGET_FILE:basalt-shell>")
  else()
    if(NOT BS_INTEG_PYTHON)
      set(BS_INTEG_PYTHON /usr/bin/python3)
    endif()
    add_test(NAME integ_test_shell
      COMMAND ${BS_INTEG_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_shell.py
              --basaltd $<TARGET_FILE:basaltd>
              --shell $<TARGET_FILE:basalt-shell>
      WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    set_tests_properties(integ_test_shell PROPERTIES LABELS "integration"
      TIMEOUT 240 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  endif()
endif()

# test_quickstart.py (./scripts/quickstart in tmux, Ctrl-C in its shell)
# is registered by the folder's glob; it gets the client binaries here.
if(TARGET basalt-shell AND TARGET basalt-admin AND TEST integ_test_quickstart)
  set_property(TEST integ_test_quickstart APPEND PROPERTY ENVIRONMENT
    "BASALT_SHELL=$<TARGET_FILE:basalt-shell>"
    "BASALT_ADMIN=$<TARGET_FILE:basalt-admin>")
endif()
