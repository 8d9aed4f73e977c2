# basalt-admin: the nodetool-like admin tool (client/admin*.c).  Included
# from client/CMakeLists.txt; links only common/ (it speaks HTTP + JSON to
# the node's admin REST API, node/admin.h).
file(GLOB _admin_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/admin*.c)
if(_admin_srcs AND TARGET bs_common)
  add_executable(basalt-admin ${_admin_srcs})
  target_link_libraries(basalt-admin PRIVATE bs_common Threads::Threads m)
endif()
