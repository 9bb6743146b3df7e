add_library(gpuaccept_options INTERFACE)
target_compile_options(gpuaccept_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>)
if(GPUACCEPT_SANITIZE)
  target_compile_options(gpuaccept_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(gpuaccept_options INTERFACE -fsanitize=address,undefined)
endif()
