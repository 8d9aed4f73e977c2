# basalt-stress engine tests (no network: fake operations).
if(TARGET bs_stress)
  bs_add_unit_test(client_test_stress SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_stress.c LIBS bs_stress bs_common)
endif()
