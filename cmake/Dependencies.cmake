# Every dependency comes from a Debian package (tools/setup installs them), except CUDA,
# cuBLASLt and NCCL, which are used when found under /usr/local/cuda.
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread
          openblas-pthread REQUIRED)

# HDF5 as one imported target, whatever FindHDF5 reports.
add_library(gpuaccept_hdf5 INTERFACE)
target_include_directories(gpuaccept_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(gpuaccept_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(gpuaccept_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} H5_USE_110_API)

add_library(gpuaccept_blas INTERFACE)
target_include_directories(gpuaccept_blas SYSTEM INTERFACE ${CBLAS_INCLUDE_DIR})
target_link_libraries(gpuaccept_blas INTERFACE BLAS::BLAS)

# CUDA: an always-existing target, empty when CUDA is not built (HighFive's pattern), so that
# the rest of the build never needs an if().
set(GPUACCEPT_HAVE_CUDA OFF)
if(NOT GPUACCEPT_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper first (H100/H200); Ampere (A100) kept for older sites.
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    # nvcc with CMake 3.25 has no C++20 dialect flag; device code is C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    if(NCCL_LIBRARY AND NCCL_INCLUDE_DIR AND TARGET CUDA::cublasLt)
      set(GPUACCEPT_HAVE_CUDA ON)
    elseif(GPUACCEPT_CUDA STREQUAL "ON")
      message(FATAL_ERROR "GPUACCEPT_CUDA=ON but cuBLASLt or NCCL was not found")
    endif()
  elseif(GPUACCEPT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "GPUACCEPT_CUDA=ON but no CUDA compiler was found")
  endif()
endif()

add_library(gpuaccept_cuda_deps INTERFACE)
if(GPUACCEPT_HAVE_CUDA)
  add_library(gpuaccept_nccl UNKNOWN IMPORTED)
  set_target_properties(gpuaccept_nccl PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
  target_link_libraries(gpuaccept_cuda_deps INTERFACE CUDA::cudart CUDA::cublasLt gpuaccept_nccl)
  target_compile_definitions(gpuaccept_cuda_deps INTERFACE GPUACCEPT_HAVE_CUDA=1)
endif()

# Python with h5py, for the test that reads results the way users do.
find_program(GPUACCEPT_PYTHON NAMES python3)
set(GPUACCEPT_PYTHON_H5PY "")
foreach(candidate /usr/bin/python3 ${GPUACCEPT_PYTHON})
  if(candidate AND NOT GPUACCEPT_PYTHON_H5PY)
    execute_process(COMMAND ${candidate} -c "import h5py, numpy" RESULT_VARIABLE rc
                    OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(GPUACCEPT_PYTHON_H5PY ${candidate})
    endif()
  endif()
endforeach()
find_program(GPUACCEPT_H5DUMP h5dump)
