# upstage_storage: the storage layer of upstaged (issue 3) — plugin host,
# catalog (SQLite), staging files. Included from agent/CMakeLists.txt with
#   include(storage.cmake)
# and linked into upstaged_core:
#   target_link_libraries(upstaged_core PUBLIC upstage_storage)
find_package(Threads REQUIRED)
add_library(upstage_storage STATIC
  ${CMAKE_CURRENT_LIST_DIR}/plugin.c
  ${CMAKE_CURRENT_LIST_DIR}/catalog.c
  ${CMAKE_CURRENT_LIST_DIR}/staging.c
)
target_link_libraries(upstage_storage PUBLIC
  upstage_proto PkgConfig::SQLITE3 OpenSSL::Crypto Threads::Threads
  ${CMAKE_DL_LIBS})
