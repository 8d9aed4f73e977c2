# basalt-stress: the engine (stress_core.c) and the CLI over the driver.
add_library(bs_stress STATIC ${CMAKE_CURRENT_SOURCE_DIR}/stress_core.c)
target_link_libraries(bs_stress PUBLIC bs_common Threads::Threads m)
if(TARGET bs_client)
  add_executable(basalt-stress ${CMAKE_CURRENT_SOURCE_DIR}/stress.c)
  target_link_libraries(basalt-stress PRIVATE bs_stress bs_client bs_common m)
endif()
