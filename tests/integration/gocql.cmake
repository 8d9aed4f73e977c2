# integ_test_gocql (test_gocql.py, from the glob in CMakeLists.txt) builds
# tests/integration/gocql with Debian's Go and gocql; its build cache
# lives in the build directory (CI runs as root, maybe with no HOME).
if(TEST integ_test_gocql)
  set_property(TEST integ_test_gocql APPEND PROPERTY ENVIRONMENT
    "BASALT_GOCACHE=${CMAKE_CURRENT_BINARY_DIR}/gocache")
  set_tests_properties(integ_test_gocql PROPERTIES TIMEOUT 400)
endif()
