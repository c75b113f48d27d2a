# The DKMS source tree, /usr/src/ntbrdma-VERSION: our module sources, the
# shared headers, tools/kbuild/build-modules (dkms.conf's build command)
# and dkms.conf (kernel/dkms.conf with its version filled in; Debian's
# dh_dkms fills in its own copy).
set(_dkms_dir ${CMAKE_INSTALL_PREFIX}/src/ntbrdma-${PROJECT_VERSION})
file(READ ${PROJECT_SOURCE_DIR}/kernel/dkms.conf _dkms_conf)
string(REPLACE "#MODULE_VERSION#" "${PROJECT_VERSION}" _dkms_conf
  "${_dkms_conf}")
file(WRITE ${PROJECT_BINARY_DIR}/dkms.conf "${_dkms_conf}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/kernel/dkms.conf)

install(FILES ${PROJECT_BINARY_DIR}/dkms.conf DESTINATION ${_dkms_dir})
foreach(_d kernel/ntb-core kernel/ntb_hw_ivshmem kernel/ntbrdma)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_d}/ DESTINATION ${_dkms_dir}/${_d}
    FILES_MATCHING PATTERN "Kbuild*" PATTERN "*.[ch]")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/include/ntb-ivshmem.h
  DESTINATION ${_dkms_dir}/include)
install(FILES ${PROJECT_SOURCE_DIR}/include/rdma/ntbrdma-abi.h
  DESTINATION ${_dkms_dir}/include/rdma)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/tools/kbuild/build-modules
  DESTINATION ${_dkms_dir}/tools/kbuild)
