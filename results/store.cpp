// The HDF5 results store, written with the HDF5 C API. The layout is documented in
// docs/results-schema.md: change both together, and kSchemaVersion with them.
#include "results/store.hpp"

#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

namespace gpuaccept {
namespace {

namespace fs = std::filesystem;

// Something failed inside one file. The public entry points turn it into a StoreError that
// names the file, since the code deep inside does not know which file (main or twin) it is.
class FileFailure : public std::runtime_error {
 public:
  explicit FileFailure(const std::string& message, std::string hdf5_stack = {})
      : std::runtime_error(message), hdf5_stack_(std::move(hdf5_stack)) {}
  const std::string& hdf5_stack() const { return hdf5_stack_; }

 private:
  std::string hdf5_stack_;
};

herr_t append_error(unsigned /*depth*/, const H5E_error2_t* error, void* text_ptr) {
  auto& text = *static_cast<std::string*>(text_ptr);
  try {
    if (!text.empty()) text += "; ";
    std::string desc = error->desc ? error->desc : "";
    std::replace(desc.begin(), desc.end(), '\n', ' ');  // some descriptions embed ctime()
    text += fmt::format("{}(): {}", error->func_name ? error->func_name : "?", desc);
  } catch (...) {
    return -1;  // never let an exception cross HDF5's C frames
  }
  return 0;
}

// HDF5's own account of the last failure, outermost call first, as one line.
std::string take_hdf5_error_stack() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, append_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? std::string("HDF5 gave no detail") : text;
}

// HDF5's automatic printing of error stacks is per thread, so every entry point turns it off:
// failures reach the user as one StoreError sentence, never as a stack dump.
void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

template <class Result>
Result check_hdf5(Result result, const char* expression, const char* file, int line) {
  if (result >= 0) return result;
  std::string stack = take_hdf5_error_stack();
  const std::string_view path(file);
  const std::string_view base = path.substr(path.find_last_of('/') + 1);
  throw FileFailure(fmt::format("{} failed ({}:{}): {}", expression, base, line, stack), stack);
}

#define GPUACCEPT_H5(expr) check_hdf5((expr), #expr, __FILE__, __LINE__)

template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  operator hid_t() const { return id_; }  // NOLINT(google-explicit-constructor): C API calls
  bool valid() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using Attribute = Handle<H5Aclose>;
using PropertyList = Handle<H5Pclose>;

// Frees a string that HDF5 allocated for a variable-length read.
struct Hdf5Free {
  void operator()(char* p) const { H5free_memory(p); }
};
using Hdf5String = std::unique_ptr<char, Hdf5Free>;

std::string from_hdf5(const char* text) { return text ? std::string(text) : std::string(); }

fs::path twin_path(const fs::path& path) { return fs::path(path.string() + "~"); }

// ---- types -------------------------------------------------------------------------------

Datatype string_type() {
  Datatype type{GPUACCEPT_H5(H5Tcopy(H5T_C_S1))};
  GPUACCEPT_H5(H5Tset_size(type, H5T_VARIABLE));
  GPUACCEPT_H5(H5Tset_cset(type, H5T_CSET_UTF8));
  return type;
}

// The enum h5py itself writes for numpy.bool_, so that h5py reads it back as a bool.
Datatype bool_type() {
  Datatype type{GPUACCEPT_H5(H5Tenum_create(H5T_NATIVE_INT8))};
  std::int8_t value = 0;
  GPUACCEPT_H5(H5Tenum_insert(type, "FALSE", &value));
  value = 1;
  GPUACCEPT_H5(H5Tenum_insert(type, "TRUE", &value));
  return type;
}

Dataspace scalar_space() { return Dataspace{GPUACCEPT_H5(H5Screate(H5S_SCALAR))}; }

Dataspace vector_space(std::size_t count) {
  const hsize_t dims[1] = {count};
  return Dataspace{GPUACCEPT_H5(H5Screate_simple(1, dims, nullptr))};
}

// ---- attributes --------------------------------------------------------------------------

std::string object_name(hid_t object) {
  const ssize_t size = H5Iget_name(object, nullptr, 0);
  if (size <= 0) return "?";
  std::vector<char> name(static_cast<std::size_t>(size) + 1);
  H5Iget_name(object, name.data(), name.size());
  return name.data();
}

// Creates the attribute, or rewrites it when it exists (end_time at finish()).
void write_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type,
                     hid_t space, const void* data) {
  const bool exists = GPUACCEPT_H5(H5Aexists(object, name.c_str())) > 0;
  Attribute attribute{exists ? GPUACCEPT_H5(H5Aopen(object, name.c_str(), H5P_DEFAULT))
                             : GPUACCEPT_H5(H5Acreate2(object, name.c_str(), file_type, space,
                                                       H5P_DEFAULT, H5P_DEFAULT))};
  GPUACCEPT_H5(H5Awrite(attribute, memory_type, data));
}

void set_string_attr(hid_t object, const std::string& name, const std::string& value) {
  const Datatype type = string_type();
  const char* text = value.c_str();
  write_attribute(object, name, type, type, scalar_space(), &text);
}

void set_strings_attr(hid_t object, const std::string& name,
                      const std::vector<std::string>& values) {
  const Datatype type = string_type();
  std::vector<const char*> texts;
  for (const auto& value : values) texts.push_back(value.c_str());
  write_attribute(object, name, type, type, vector_space(values.size()), texts.data());
}

void set_double_attr(hid_t object, const std::string& name, double value) {
  write_attribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, scalar_space(), &value);
}

void set_int32_attr(hid_t object, const std::string& name, std::int32_t value) {
  write_attribute(object, name, H5T_STD_I32LE, H5T_NATIVE_INT32, scalar_space(), &value);
}

void set_int64_attr(hid_t object, const std::string& name, std::int64_t value) {
  write_attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, scalar_space(), &value);
}

void set_bool_attr(hid_t object, const std::string& name, bool value) {
  const Datatype type = bool_type();
  const std::int8_t stored = value ? 1 : 0;
  write_attribute(object, name, type, type, scalar_space(), &stored);
}

bool has_attr(hid_t object, const char* name) { return GPUACCEPT_H5(H5Aexists(object, name)) > 0; }

// Opens an attribute that must hold exactly `count` values (or any number when nullopt).
Attribute open_attr(hid_t object, const char* name, std::optional<hssize_t> count = 1) {
  if (!has_attr(object, name)) {
    throw FileFailure(fmt::format("{} has no attribute '{}'", object_name(object), name));
  }
  Attribute attribute{GPUACCEPT_H5(H5Aopen(object, name, H5P_DEFAULT))};
  if (count) {
    const Dataspace space{GPUACCEPT_H5(H5Aget_space(attribute))};
    if (GPUACCEPT_H5(H5Sget_simple_extent_npoints(space)) != *count) {
      throw FileFailure(fmt::format("attribute '{}' of {} does not hold {} value(s)", name,
                                    object_name(object), *count));
    }
  }
  return attribute;
}

H5T_class_t attr_class(hid_t attribute) {
  const Datatype type{GPUACCEPT_H5(H5Aget_type(attribute))};
  return GPUACCEPT_H5(H5Tget_class(type));
}

void require_variable_string(hid_t attribute, const char* name, hid_t object) {
  const Datatype type{GPUACCEPT_H5(H5Aget_type(attribute))};
  if (GPUACCEPT_H5(H5Tget_class(type)) != H5T_STRING ||
      GPUACCEPT_H5(H5Tis_variable_str(type)) <= 0) {
    throw FileFailure(fmt::format("attribute '{}' of {} is not a variable-length string", name,
                                  object_name(object)));
  }
}

std::string read_string_attr(hid_t object, const char* name) {
  const Attribute attribute = open_attr(object, name);
  require_variable_string(attribute, name, object);
  char* text = nullptr;
  GPUACCEPT_H5(H5Aread(attribute, string_type(), &text));
  const Hdf5String owner(text);
  return from_hdf5(text);
}

std::vector<std::string> read_strings_attr(hid_t object, const char* name) {
  const Attribute attribute = open_attr(object, name, std::nullopt);
  require_variable_string(attribute, name, object);
  const Dataspace space{GPUACCEPT_H5(H5Aget_space(attribute))};
  std::vector<char*> texts(
      static_cast<std::size_t>(GPUACCEPT_H5(H5Sget_simple_extent_npoints(space))));
  const Datatype type = string_type();
  GPUACCEPT_H5(H5Aread(attribute, type, texts.data()));
  std::vector<std::string> values;
  for (const char* text : texts) values.push_back(from_hdf5(text));
  GPUACCEPT_H5(H5Dvlen_reclaim(type, space, H5P_DEFAULT, texts.data()));
  return values;
}

double read_double_attr(hid_t object, const char* name) {
  double value = 0;
  GPUACCEPT_H5(H5Aread(open_attr(object, name), H5T_NATIVE_DOUBLE, &value));
  return value;
}

std::int64_t read_int_attr(hid_t object, const char* name) {
  const Attribute attribute = open_attr(object, name);
  if (attr_class(attribute) != H5T_INTEGER) {
    throw FileFailure(
        fmt::format("attribute '{}' of {} is not an integer", name, object_name(object)));
  }
  std::int64_t value = 0;
  GPUACCEPT_H5(H5Aread(attribute, H5T_NATIVE_INT64, &value));
  return value;
}

std::int32_t read_int32_attr(hid_t object, const char* name) {
  const std::int64_t value = read_int_attr(object, name);
  if (value < std::numeric_limits<std::int32_t>::min() ||
      value > std::numeric_limits<std::int32_t>::max()) {
    throw FileFailure(
        fmt::format("attribute '{}' of {} is out of range", name, object_name(object)));
  }
  return static_cast<std::int32_t>(value);
}

herr_t append_attribute_name(hid_t /*object*/, const char* name, const H5A_info_t* /*info*/,
                             void* names_ptr) {
  try {
    static_cast<std::vector<std::string>*>(names_ptr)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

std::vector<std::string> attribute_names(hid_t object) {
  std::vector<std::string> names;
  GPUACCEPT_H5(
      H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, append_attribute_name, &names));
  return names;
}

// ---- groups and simple datasets ----------------------------------------------------------

// Groups whose members are listed in write order (h5py lists them that way too).
Group create_ordered_group(hid_t parent, const char* name) {
  const PropertyList creation{GPUACCEPT_H5(H5Pcreate(H5P_GROUP_CREATE))};
  GPUACCEPT_H5(H5Pset_link_creation_order(creation, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED));
  return Group{GPUACCEPT_H5(H5Gcreate2(parent, name, H5P_DEFAULT, creation, H5P_DEFAULT))};
}

Group create_group(hid_t parent, const char* name) {
  return Group{GPUACCEPT_H5(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
}

Group open_group(hid_t parent, const char* name) {
  if (GPUACCEPT_H5(H5Lexists(parent, name, H5P_DEFAULT)) <= 0) {
    throw FileFailure(fmt::format("{} has no member '{}'", object_name(parent), name));
  }
  return Group{GPUACCEPT_H5(H5Gopen2(parent, name, H5P_DEFAULT))};
}

bool has_link(hid_t parent, const char* name) {
  return GPUACCEPT_H5(H5Lexists(parent, name, H5P_DEFAULT)) > 0;
}

Dataset open_dataset(hid_t parent, const char* name) {
  if (!has_link(parent, name)) {
    throw FileFailure(fmt::format("{} has no member '{}'", object_name(parent), name));
  }
  return Dataset{GPUACCEPT_H5(H5Dopen2(parent, name, H5P_DEFAULT))};
}

std::vector<std::string> link_names(hid_t group, H5_index_t order) {
  H5G_info_t info{};
  GPUACCEPT_H5(H5Gget_info(group, &info));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = GPUACCEPT_H5(
        H5Lget_name_by_idx(group, ".", order, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT));
    std::vector<char> name(static_cast<std::size_t>(size) + 1);
    GPUACCEPT_H5(H5Lget_name_by_idx(group, ".", order, H5_ITER_INC, i, name.data(), name.size(),
                                    H5P_DEFAULT));
    names.emplace_back(name.data());
  }
  return names;
}

Dataset create_dataset(hid_t parent, const char* name, hid_t type, hid_t space) {
  return Dataset{
      GPUACCEPT_H5(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
}

std::size_t point_count(hid_t dataset) {
  const Dataspace space{GPUACCEPT_H5(H5Dget_space(dataset))};
  return static_cast<std::size_t>(GPUACCEPT_H5(H5Sget_simple_extent_npoints(space)));
}

void write_string_dataset(hid_t parent, const char* name, const std::string& value) {
  const Datatype type = string_type();
  const Dataset dataset = create_dataset(parent, name, type, scalar_space());
  const char* text = value.c_str();
  GPUACCEPT_H5(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text));
}

std::string read_string_dataset(hid_t dataset) {
  if (point_count(dataset) != 1) {
    throw FileFailure(fmt::format("{} does not hold one string", object_name(dataset)));
  }
  char* text = nullptr;
  GPUACCEPT_H5(H5Dread(dataset, string_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text));
  const Hdf5String owner(text);
  return from_hdf5(text);
}

void write_strings_dataset(hid_t parent, const char* name, const std::vector<std::string>& values) {
  const Datatype type = string_type();
  const Dataset dataset = create_dataset(parent, name, type, vector_space(values.size()));
  std::vector<const char*> texts;
  for (const auto& value : values) texts.push_back(value.c_str());
  if (!texts.empty()) {
    GPUACCEPT_H5(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()));
  }
}

std::vector<std::string> read_strings_dataset(hid_t dataset) {
  const Dataspace space{GPUACCEPT_H5(H5Dget_space(dataset))};
  std::vector<char*> texts(point_count(dataset));
  if (texts.empty()) return {};
  const Datatype type = string_type();
  GPUACCEPT_H5(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()));
  std::vector<std::string> values;
  for (const char* text : texts) values.push_back(from_hdf5(text));
  GPUACCEPT_H5(H5Dvlen_reclaim(type, space, H5P_DEFAULT, texts.data()));
  return values;
}

void write_int32_dataset(hid_t parent, const char* name, const std::vector<std::int32_t>& values) {
  const Dataset dataset = create_dataset(parent, name, H5T_STD_I32LE, vector_space(values.size()));
  if (!values.empty()) {
    GPUACCEPT_H5(H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
}

std::vector<std::int32_t> read_int32_dataset(hid_t dataset) {
  std::vector<std::int32_t> values(point_count(dataset));
  if (!values.empty()) {
    GPUACCEPT_H5(H5Dread(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
  return values;
}

// ---- tables ------------------------------------------------------------------------------

// Integer columns hold counts, ranks and status codes. A missing value (NaN) is stored as the
// one int64 that none of those takes, so that it survives the round trip.
constexpr std::int64_t kMissingInteger = std::numeric_limits<std::int64_t>::min();

std::int64_t to_stored_integer(double value) {
  if (std::isnan(value)) return kMissingInteger;
  // Clamped inside the int64 range: converting a double outside it is undefined.
  constexpr double limit = 9.2e18;
  return static_cast<std::int64_t>(std::llround(std::clamp(value, -limit, limit)));
}

double from_stored_integer(std::int64_t value) {
  return value == kMissingInteger ? std::numeric_limits<double>::quiet_NaN()
                                  : static_cast<double>(value);
}

// Every field is 8 bytes (int64 or float64), so field i sits at byte 8*i of a row, in the
// file and in memory alike.
constexpr std::size_t kFieldBytes = 8;

// Tables are written and read in slices of this many rows, so that a 3.5-million-row table (a
// full machine's p2p links) needs a slice's buffer beside its columns, not a copy of all of it.
constexpr std::size_t kTableSliceRows = std::size_t{1} << 16;

// Selects rows [first, first + count) of a one-dimensional dataset; returns the file and memory
// dataspaces for H5Dread/H5Dwrite.
std::pair<Dataspace, Dataspace> row_slice(hid_t dataset, std::size_t first, std::size_t count) {
  Dataspace file_space{GPUACCEPT_H5(H5Dget_space(dataset))};
  const hsize_t start[1] = {first};
  const hsize_t size[1] = {count};
  GPUACCEPT_H5(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, size, nullptr));
  return {std::move(file_space), vector_space(count)};
}

void write_table(hid_t parent, const char* name, const Table& table) {
  const std::size_t columns = table.columns.size();
  const std::size_t rows = table.rows();
  const std::size_t row_bytes = kFieldBytes * columns;
  const Datatype file_type{GPUACCEPT_H5(H5Tcreate(H5T_COMPOUND, row_bytes))};
  const Datatype memory_type{GPUACCEPT_H5(H5Tcreate(H5T_COMPOUND, row_bytes))};
  std::vector<std::string> units;
  std::vector<std::string> better;
  for (std::size_t c = 0; c < columns; ++c) {
    const Column& column = table.columns[c];
    const std::size_t offset = kFieldBytes * c;
    GPUACCEPT_H5(H5Tinsert(file_type, column.name.c_str(), offset,
                           column.integer ? H5T_STD_I64LE : H5T_IEEE_F64LE));
    GPUACCEPT_H5(H5Tinsert(memory_type, column.name.c_str(), offset,
                           column.integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE));
    units.push_back(column.unit);
    better.emplace_back(to_string(column.better));
  }
  const Dataset dataset = create_dataset(parent, name, file_type, vector_space(rows));
  std::vector<unsigned char> buffer(std::min(rows, kTableSliceRows) * row_bytes);
  for (std::size_t first = 0; first < rows; first += kTableSliceRows) {
    const std::size_t count = std::min(kTableSliceRows, rows - first);
    for (std::size_t c = 0; c < columns; ++c) {
      const Column& column = table.columns[c];
      for (std::size_t r = 0; r < count; ++r) {
        unsigned char* field = buffer.data() + r * row_bytes + kFieldBytes * c;
        if (column.integer) {
          const std::int64_t value = to_stored_integer(column.values[first + r]);
          std::memcpy(field, &value, kFieldBytes);
        } else {
          std::memcpy(field, &column.values[first + r], kFieldBytes);
        }
      }
    }
    const auto [file_space, memory_space] = row_slice(dataset, first, count);
    GPUACCEPT_H5(H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, buffer.data()));
  }
  set_strings_attr(dataset, "units", units);
  set_strings_attr(dataset, "better", better);
}

Better better_from_string(const std::string& text, hid_t dataset) {
  for (Better b : {Better::higher, Better::lower, Better::none}) {
    if (to_string(b) == text) return b;
  }
  throw FileFailure(
      fmt::format("{} has an unknown 'better' value '{}'", object_name(dataset), text));
}

Table read_table(hid_t parent, const char* name) {
  const Dataset dataset = open_dataset(parent, name);
  const Datatype file_type{GPUACCEPT_H5(H5Dget_type(dataset))};
  if (GPUACCEPT_H5(H5Tget_class(file_type)) != H5T_COMPOUND) {
    throw FileFailure(fmt::format("{} is not a compound table", object_name(dataset)));
  }
  const auto columns = static_cast<std::size_t>(GPUACCEPT_H5(H5Tget_nmembers(file_type)));
  const std::vector<std::string> units = read_strings_attr(dataset, "units");
  const std::vector<std::string> better = read_strings_attr(dataset, "better");
  if (units.size() != columns || better.size() != columns) {
    throw FileFailure(fmt::format("{}: 'units' or 'better' does not have one entry per field",
                                  object_name(dataset)));
  }
  const std::size_t row_bytes = kFieldBytes * columns;
  const Datatype memory_type{GPUACCEPT_H5(H5Tcreate(H5T_COMPOUND, row_bytes))};
  Table table;
  for (unsigned c = 0; c < columns; ++c) {
    const Hdf5String field_name(H5Tget_member_name(file_type, c));
    if (!field_name) throw FileFailure(fmt::format("{}: unnamed field", object_name(dataset)));
    Column column;
    column.name = field_name.get();
    column.integer = GPUACCEPT_H5(H5Tget_member_class(file_type, c)) == H5T_INTEGER;
    column.unit = units[c];
    column.better = better_from_string(better[c], dataset);
    GPUACCEPT_H5(H5Tinsert(memory_type, column.name.c_str(), kFieldBytes * c,
                           column.integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE));
    table.columns.push_back(std::move(column));
  }
  const std::size_t rows = point_count(dataset);
  for (Column& column : table.columns) column.values.resize(rows);
  std::vector<unsigned char> buffer(std::min(rows, kTableSliceRows) * row_bytes);
  for (std::size_t first = 0; first < rows; first += kTableSliceRows) {
    const std::size_t count = std::min(kTableSliceRows, rows - first);
    const auto [file_space, memory_space] = row_slice(dataset, first, count);
    GPUACCEPT_H5(H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, buffer.data()));
    for (std::size_t c = 0; c < columns; ++c) {
      Column& column = table.columns[c];
      for (std::size_t r = 0; r < count; ++r) {
        const unsigned char* field = buffer.data() + r * row_bytes + kFieldBytes * c;
        if (column.integer) {
          std::int64_t value = 0;
          std::memcpy(&value, field, kFieldBytes);
          column.values[first + r] = from_stored_integer(value);
        } else {
          std::memcpy(&column.values[first + r], field, kFieldBytes);
        }
      }
    }
  }
  return table;
}

// ---- run header --------------------------------------------------------------------------

std::string iso_utc(double seconds_since_epoch) {
  const auto seconds = static_cast<std::time_t>(std::floor(seconds_since_epoch));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The in-memory row of /ranks; strings are variable-length.
struct RankRow {
  std::int32_t rank;
  const char* host;
  std::int32_t local_rank;
  const char* device;
  const char* uuid;
};

Datatype rank_row_type() {
  const Datatype text = string_type();
  Datatype type{GPUACCEPT_H5(H5Tcreate(H5T_COMPOUND, sizeof(RankRow)))};
  GPUACCEPT_H5(H5Tinsert(type, "rank", HOFFSET(RankRow, rank), H5T_NATIVE_INT32));
  GPUACCEPT_H5(H5Tinsert(type, "host", HOFFSET(RankRow, host), text));
  GPUACCEPT_H5(H5Tinsert(type, "local_rank", HOFFSET(RankRow, local_rank), H5T_NATIVE_INT32));
  GPUACCEPT_H5(H5Tinsert(type, "device", HOFFSET(RankRow, device), text));
  GPUACCEPT_H5(H5Tinsert(type, "uuid", HOFFSET(RankRow, uuid), text));
  return type;
}

void write_ranks(hid_t file, const std::vector<RankInfo>& ranks) {
  const Datatype memory_type = rank_row_type();
  const Datatype file_type{GPUACCEPT_H5(H5Tcopy(memory_type))};
  GPUACCEPT_H5(H5Tpack(file_type));
  std::vector<RankRow> rows;
  for (const RankInfo& r : ranks) {
    rows.push_back({r.rank, r.host.c_str(), r.local_rank, r.device.c_str(), r.uuid.c_str()});
  }
  const Dataset dataset = create_dataset(file, "ranks", file_type, vector_space(rows.size()));
  if (!rows.empty()) {
    GPUACCEPT_H5(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()));
  }
}

std::vector<RankInfo> read_ranks(hid_t file) {
  const Dataset dataset = open_dataset(file, "ranks");
  std::vector<RankRow> rows(point_count(dataset));
  if (rows.empty()) return {};
  const Datatype memory_type = rank_row_type();
  const Dataspace space{GPUACCEPT_H5(H5Dget_space(dataset))};
  GPUACCEPT_H5(H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()));
  std::vector<RankInfo> ranks;
  for (const RankRow& row : rows) {
    ranks.push_back({row.rank, from_hdf5(row.host), row.local_rank, from_hdf5(row.device),
                     from_hdf5(row.uuid)});
  }
  GPUACCEPT_H5(H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, rows.data()));
  return ranks;
}

void write_string_map(hid_t parent, const char* name,
                      const std::map<std::string, std::string>& values) {
  const Group group = create_group(parent, name);
  for (const auto& [key, value] : values) set_string_attr(group, key, value);
}

std::map<std::string, std::string> read_string_map(hid_t parent, const char* name) {
  const Group group = open_group(parent, name);
  std::map<std::string, std::string> values;
  for (const std::string& key : attribute_names(group)) {
    values[key] = read_string_attr(group, key.c_str());
  }
  return values;
}

void write_run(hid_t file, const RunInfo& run) {
  set_string_attr(file, "gpuaccept_schema", kSchemaVersion);
  set_string_attr(file, "tool_version", run.tool_version);
  set_string_attr(file, "git_revision", run.git_revision);
  set_string_attr(file, "campaign", run.campaign);
  set_string_attr(file, "system", run.system);
  set_string_attr(file, "phase", run.phase);
  set_string_attr(file, "backend", run.backend);
  set_double_attr(file, "start_time", run.start_time);
  set_double_attr(file, "end_time", 0.0);
  set_string_attr(file, "start_time_iso", iso_utc(run.start_time));
  set_int32_attr(file, "rank_count", run.rank_count);
  set_string_attr(file, "command_line", run.command_line);

  const Group config = create_group(file, "config");
  write_string_dataset(config, "campaign_yaml", run.campaign_yaml);
  set_string_attr(open_dataset(config, "campaign_yaml"), "path", run.campaign_path);
  write_string_dataset(config, "contract_yaml", run.contract_yaml);
  set_string_attr(open_dataset(config, "contract_yaml"), "path", run.contract_path);
  write_string_dataset(config, "system_yaml", run.system_yaml);
  set_string_attr(open_dataset(config, "system_yaml"), "path", run.system_path);

  const Group provenance = create_group(file, "provenance");
  write_string_map(provenance, "versions", run.versions);
  write_string_map(provenance, "environment", run.environment);

  write_ranks(file, run.ranks);
  create_ordered_group(file, "steps");
}

RunInfo read_run(hid_t file) {
  RunInfo run;
  run.schema_version = read_string_attr(file, "gpuaccept_schema");
  run.tool_version = read_string_attr(file, "tool_version");
  run.git_revision = read_string_attr(file, "git_revision");
  run.campaign = read_string_attr(file, "campaign");
  run.system = read_string_attr(file, "system");
  run.phase = read_string_attr(file, "phase");
  run.backend = read_string_attr(file, "backend");
  run.start_time = read_double_attr(file, "start_time");
  run.end_time = read_double_attr(file, "end_time");
  run.rank_count = read_int32_attr(file, "rank_count");
  run.command_line = read_string_attr(file, "command_line");

  const Group config = open_group(file, "config");
  const Dataset campaign = open_dataset(config, "campaign_yaml");
  run.campaign_yaml = read_string_dataset(campaign);
  run.campaign_path = read_string_attr(campaign, "path");
  const Dataset contract = open_dataset(config, "contract_yaml");
  run.contract_yaml = read_string_dataset(contract);
  run.contract_path = read_string_attr(contract, "path");
  if (has_link(config, "system_yaml")) {  // absent in files written before system descriptions
    const Dataset system = open_dataset(config, "system_yaml");
    run.system_yaml = read_string_dataset(system);
    run.system_path = read_string_attr(system, "path");
  }

  const Group provenance = open_group(file, "provenance");
  run.versions = read_string_map(provenance, "versions");
  run.environment = read_string_map(provenance, "environment");
  run.ranks = read_ranks(file);
  return run;
}

// ---- steps -------------------------------------------------------------------------------

// HDF5 link names cannot contain '/' and "." names the group itself.
bool valid_link_name(const std::string& name) {
  return !name.empty() && name != "." && name.find('/') == std::string::npos;
}

// Checked before anything is written, so that a malformed step never leaves half a group.
std::optional<std::string> step_problem(const StepResult& step) {
  if (!valid_link_name(step.id)) return "its id is empty, '.', or contains '/'";
  const auto table_problem = [](const Table& table) -> std::optional<std::string> {
    for (const Column& column : table.columns) {
      if (column.name.empty()) return std::string("a column has no name");
      if (&column != table.find(column.name)) {
        return fmt::format("two columns are named '{}'", column.name);
      }
      if (column.values.size() != table.rows()) {
        return fmt::format("column '{}' has {} values, the first column {}", column.name,
                           column.values.size(), table.rows());
      }
    }
    return std::nullopt;
  };
  if (auto problem = table_problem(step.per_rank)) return "per_rank: " + *problem;
  if (auto problem = table_problem(step.points)) return "points: " + *problem;
  if (step.ranks.size() != step.per_rank.rows()) {
    return fmt::format("it lists {} ranks but per_rank has {} rows", step.ranks.size(),
                       step.per_rank.rows());
  }
  if (!step.rank_messages.empty() && step.rank_messages.size() != step.per_rank.rows()) {
    return fmt::format("it has {} rank messages for {} per_rank rows", step.rank_messages.size(),
                       step.per_rank.rows());
  }
  std::vector<std::string> sample_names;
  for (const Samples& samples : step.samples) {
    if (!valid_link_name(samples.name)) {
      return fmt::format("samples name '{}' is empty, '.', or contains '/'", samples.name);
    }
    if (samples.values.size() != samples.rows * samples.cols) {
      return fmt::format("samples '{}' has {} values for {}x{}", samples.name,
                         samples.values.size(), samples.rows, samples.cols);
    }
    if (std::find(sample_names.begin(), sample_names.end(), samples.name) != sample_names.end()) {
      return fmt::format("two samples are named '{}'", samples.name);
    }
    sample_names.push_back(samples.name);
  }
  return std::nullopt;
}

void write_param(hid_t params, const std::string& name, const ParamValue& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return set_int64_attr(params, name, *i);
  if (const auto* d = std::get_if<double>(&value)) return set_double_attr(params, name, *d);
  if (const auto* b = std::get_if<bool>(&value)) return set_bool_attr(params, name, *b);
  set_string_attr(params, name, std::get<std::string>(value));
}

ParamValue read_param(hid_t params, const char* name) {
  const Attribute attribute = open_attr(params, name);
  switch (attr_class(attribute)) {
    case H5T_INTEGER:
      return read_int_attr(params, name);
    case H5T_FLOAT:
      return read_double_attr(params, name);
    case H5T_STRING:
      return read_string_attr(params, name);
    case H5T_ENUM: {
      std::int8_t value = 0;
      GPUACCEPT_H5(H5Aread(attribute, bool_type(), &value));
      return value != 0;
    }
    default:
      throw FileFailure(
          fmt::format("parameter '{}' of {} has an unsupported type", name, object_name(params)));
  }
}

void write_samples(hid_t step_group, const std::vector<Samples>& all_samples) {
  const Group group = create_ordered_group(step_group, "samples");
  for (const Samples& samples : all_samples) {
    const hsize_t dims[2] = {samples.rows, samples.cols};
    const Dataspace space{GPUACCEPT_H5(H5Screate_simple(2, dims, nullptr))};
    const Dataset dataset = create_dataset(group, samples.name.c_str(), H5T_IEEE_F64LE, space);
    if (!samples.values.empty()) {
      GPUACCEPT_H5(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                            samples.values.data()));
    }
    set_string_attr(dataset, "unit", samples.unit);
    set_string_attr(dataset, "row_axis", samples.row_axis);
    set_string_attr(dataset, "col_axis", samples.col_axis);
  }
}

// A sample set's shape (rows, cols); refuses one that is not two-dimensional.
std::pair<std::size_t, std::size_t> samples_shape(hid_t dataset) {
  const Dataspace space{GPUACCEPT_H5(H5Dget_space(dataset))};
  hsize_t dims[2] = {0, 0};
  if (GPUACCEPT_H5(H5Sget_simple_extent_ndims(space)) != 2) {
    throw FileFailure(fmt::format("{} is not two-dimensional", object_name(dataset)));
  }
  GPUACCEPT_H5(H5Sget_simple_extent_dims(space, dims, nullptr));
  return {static_cast<std::size_t>(dims[0]), static_cast<std::size_t>(dims[1])};
}

std::vector<double> read_samples_values(hid_t dataset, std::size_t count) {
  std::vector<double> values(count);
  if (!values.empty()) {
    GPUACCEPT_H5(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
  return values;
}

bool wanted(const ReadOptions& options, const std::string& name) {
  return options.samples == SampleLoading::all ||
         std::find(options.sample_names.begin(), options.sample_names.end(), name) !=
             options.sample_names.end();
}

std::vector<Samples> read_samples(hid_t step_group, const ReadOptions& options) {
  const Group group = open_group(step_group, "samples");
  std::vector<Samples> all_samples;
  for (const std::string& name : link_names(group, H5_INDEX_CRT_ORDER)) {
    const Dataset dataset = open_dataset(group, name.c_str());
    Samples samples;
    samples.name = name;
    std::tie(samples.rows, samples.cols) = samples_shape(dataset);
    if (wanted(options, name)) samples.values = read_samples_values(dataset, samples.rows * samples.cols);
    samples.unit = read_string_attr(dataset, "unit");
    samples.row_axis = read_string_attr(dataset, "row_axis");
    samples.col_axis = read_string_attr(dataset, "col_axis");
    all_samples.push_back(std::move(samples));
  }
  return all_samples;
}

// H5Fflush hands everything to the operating system, which is enough to survive the process
// being killed; fsync makes the step survive the node going down as well.
void flush_to_disk(hid_t file) {
  GPUACCEPT_H5(H5Fflush(file, H5F_SCOPE_GLOBAL));
  const PropertyList access{GPUACCEPT_H5(H5Fget_access_plist(file))};
  void* handle = nullptr;
  GPUACCEPT_H5(H5Fget_vfd_handle(file, access, &handle));
  if (handle != nullptr && ::fsync(*static_cast<int*>(handle)) != 0) {
    throw FileFailure(fmt::format("fsync failed: {}", std::strerror(errno)));
  }
}

// The "index" attribute is written last, after a flush: a step group without it was being
// written when the run died, and readers skip it.
void write_step_to(hid_t file, const StepResult& step, std::int64_t index) {
  const Group steps = open_group(file, "steps");
  if (has_link(steps, step.id.c_str())) {
    GPUACCEPT_H5(H5Ldelete(steps, step.id.c_str(), H5P_DEFAULT));
  }
  const Group group = create_group(steps, step.id.c_str());
  set_string_attr(group, "benchmark", step.benchmark);
  set_string_attr(group, "backend", step.backend);
  set_int32_attr(group, "repetition", step.repetition);
  set_string_attr(group, "status", std::string(to_string(step.status)));
  set_int32_attr(group, "status_code", static_cast<std::int32_t>(step.status));
  set_string_attr(group, "reason", step.reason);
  set_double_attr(group, "start_time", step.start_time);
  set_double_attr(group, "end_time", step.end_time);
  set_int32_attr(group, "ranks_in_step", static_cast<std::int32_t>(step.ranks.size()));

  const Group params = create_group(group, "params");
  for (const auto& [name, value] : step.params) write_param(params, name, value);

  write_int32_dataset(group, "ranks", step.ranks);
  if (!step.per_rank.columns.empty()) write_table(group, "per_rank", step.per_rank);
  const bool any_message = std::any_of(step.rank_messages.begin(), step.rank_messages.end(),
                                       [](const std::string& message) { return !message.empty(); });
  if (any_message) write_strings_dataset(group, "rank_messages", step.rank_messages);
  if (!step.points.columns.empty()) write_table(group, "points", step.points);
  write_samples(group, step.samples);
  if (!step.output.empty()) write_strings_dataset(group, "output", {step.output});
  flush_to_disk(file);

  set_int64_attr(group, "index", index);
  flush_to_disk(file);
}

Status status_from_code(std::int32_t code, hid_t group) {
  if (code < static_cast<std::int32_t>(Status::ok) ||
      code > static_cast<std::int32_t>(Status::missing)) {
    throw FileFailure(fmt::format("{} has an unknown status_code {}", object_name(group), code));
  }
  return static_cast<Status>(code);
}

StepResult read_step(hid_t steps, const std::string& id, const ReadOptions& options) {
  const Group group = open_group(steps, id.c_str());
  StepResult step;
  step.id = id;
  step.benchmark = read_string_attr(group, "benchmark");
  step.backend = read_string_attr(group, "backend");
  step.repetition = read_int32_attr(group, "repetition");
  step.status = status_from_code(read_int32_attr(group, "status_code"), group);
  step.reason = read_string_attr(group, "reason");
  step.start_time = read_double_attr(group, "start_time");
  step.end_time = read_double_attr(group, "end_time");

  const Group params = open_group(group, "params");
  for (const std::string& name : attribute_names(params)) {
    step.params[name] = read_param(params, name.c_str());
  }

  step.ranks = read_int32_dataset(open_dataset(group, "ranks"));
  if (read_int32_attr(group, "ranks_in_step") != static_cast<std::int64_t>(step.ranks.size())) {
    throw FileFailure(
        fmt::format("{}: ranks_in_step does not match its ranks dataset", object_name(group)));
  }
  if (has_link(group, "per_rank")) step.per_rank = read_table(group, "per_rank");
  if (step.per_rank.rows() != step.ranks.size()) {
    throw FileFailure(
        fmt::format("{}: per_rank does not have one row per rank", object_name(group)));
  }
  if (has_link(group, "rank_messages")) {
    step.rank_messages = read_strings_dataset(open_dataset(group, "rank_messages"));
    if (step.rank_messages.size() != step.per_rank.rows()) {
      throw FileFailure(
          fmt::format("{}: rank_messages does not have one entry per rank", object_name(group)));
    }
  } else {
    step.rank_messages.assign(step.per_rank.rows(), std::string());
  }
  if (has_link(group, "points")) step.points = read_table(group, "points");
  step.samples = read_samples(group, options);
  if (has_link(group, "output")) {
    auto texts = read_strings_dataset(open_dataset(group, "output"));
    if (texts.size() != 1) throw FileFailure(fmt::format("{}: output holds {} strings, expected 1", object_name(group), texts.size()));
    step.output = std::move(texts.front());
  }
  return step;
}

// ---- opening files -----------------------------------------------------------------------

enum class OpenMode { read, write, create };

// Opens (or creates) with the library's default locking, which honours HDF5_USE_FILE_LOCKING.
// Parallel file systems often cannot lock; then it retries without locking and says so through
// `locking_disabled`. A lock held by another process is a different matter: that is reported.
File open_hdf5(const fs::path& path, OpenMode mode, bool& locking_disabled) {
  const std::string name = path.string();
  const PropertyList access{GPUACCEPT_H5(H5Pcreate(H5P_FILE_ACCESS))};
  if (mode != OpenMode::read) {
    // Objects in the 1.8 format: readable by every HDF5 since 1.8, dense attribute storage for
    // long environments, and no superblock "file is open" flag that would make a file whose
    // writer was killed unopenable without h5clear.
    GPUACCEPT_H5(H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18));
  }
  const auto open = [&] {
    switch (mode) {
      case OpenMode::read:
        return File{GPUACCEPT_H5(H5Fopen(name.c_str(), H5F_ACC_RDONLY, access))};
      case OpenMode::write:
        return File{GPUACCEPT_H5(H5Fopen(name.c_str(), H5F_ACC_RDWR, access))};
      case OpenMode::create:
        break;
    }
    return File{GPUACCEPT_H5(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access))};
  };
  try {
    return open();
  } catch (const FileFailure& failure) {
    const std::string& stack = failure.hdf5_stack();
    if (stack.find("unable to lock") == std::string::npos) throw;
    if (stack.find("errno = 11,") != std::string::npos) {  // EWOULDBLOCK: someone holds it
      throw StoreError(
          mode == OpenMode::read
              ? fmt::format("{} is locked by another process (a run still writing it?); to read "
                            "it meanwhile, set HDF5_USE_FILE_LOCKING=FALSE",
                            name)
              : fmt::format("{} is locked by another process (another run writing it, or a "
                            "program reading it): close that first",
                            name));
    }
  }
  GPUACCEPT_H5(H5Pset_file_locking(access, false, true));
  locking_disabled = true;
  return open();
}

std::string locking_note(const fs::path& path) {
  return fmt::format(
      "file locking was disabled for {}: its file system does not support it "
      "(HDF5_USE_FILE_LOCKING=FALSE skips the attempt)",
      path.string());
}

// Reads one file, without looking at its twin.
ResultsFile read_one(const fs::path& path, const ReadOptions& options = {}) {
  const std::string name = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw StoreError(fmt::format("{} does not exist", name));
  if (fs::is_directory(path, ec)) throw StoreError(fmt::format("{} is a directory", name));

  ResultsFile results;
  results.path = path;
  bool locking_disabled = false;
  File file;
  try {
    file = open_hdf5(path, OpenMode::read, locking_disabled);
  } catch (const FileFailure& failure) {
    const htri_t is_hdf5 = H5Fis_hdf5(name.c_str());
    H5Eclear2(H5E_DEFAULT);
    if (is_hdf5 <= 0) throw StoreError(fmt::format("{} is not an HDF5 file", name));
    throw StoreError(fmt::format("{} cannot be opened (damaged?): {}", name, failure.what()));
  }
  if (locking_disabled) results.notes.push_back(locking_note(path));

  try {
    if (!has_attr(file, "gpuaccept_schema")) {
      throw StoreError(fmt::format(
          "{} is an HDF5 file but not a gpuaccept results file (no gpuaccept_schema attribute)",
          name));
    }
    const std::string schema = read_string_attr(file, "gpuaccept_schema");
    int major = 0;
    const auto parsed = std::sscanf(schema.c_str(), "%d.", &major);
    if (parsed != 1) {
      throw StoreError(fmt::format("{} has an unreadable gpuaccept_schema '{}'", name, schema));
    }
    int our_major = 0;
    std::sscanf(kSchemaVersion, "%d.", &our_major);
    if (major > our_major) {
      throw StoreError(fmt::format(
          "{} uses results schema {}, newer than this gpuaccept reads ({}): use a newer gpuaccept",
          name, schema, kSchemaVersion));
    }

    results.run = read_run(file);
    const Group steps = open_group(file, "steps");
    std::vector<std::pair<std::int64_t, StepResult>> indexed;
    for (const std::string& id : link_names(steps, H5_INDEX_NAME)) {
      const Group group = open_group(steps, id.c_str());
      if (!has_attr(group, "index")) {
        results.notes.push_back(fmt::format(
            "{}: step {} was being written when the run stopped; it is ignored", name, id));
        continue;
      }
      indexed.emplace_back(read_int_attr(group, "index"), read_step(steps, id, options));
    }
    std::stable_sort(indexed.begin(), indexed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& entry : indexed) results.steps.push_back(std::move(entry.second));
  } catch (const FileFailure& failure) {
    throw StoreError(
        fmt::format("{} is damaged or not a valid results file: {}", name, failure.what()));
  }
  return results;
}

// Where the next step's "index" continues after the steps already in the file.
std::int64_t next_step_index(hid_t file) {
  const Group steps = open_group(file, "steps");
  std::int64_t next = 0;
  for (const std::string& id : link_names(steps, H5_INDEX_NAME)) {
    const Group group = open_group(steps, id.c_str());
    if (has_attr(group, "index")) next = std::max(next, read_int_attr(group, "index") + 1);
  }
  return next;
}

// Runs `body`, turning failures inside a file into a StoreError naming that file.
template <class Body>
auto naming_file(const fs::path& path, std::string_view doing, Body&& body) {
  try {
    return body();
  } catch (const FileFailure& failure) {
    throw StoreError(fmt::format("cannot {} {}: {}", doing, path.string(), failure.what()));
  } catch (const fs::filesystem_error& failure) {
    throw StoreError(fmt::format("cannot {} {}: {}", doing, path.string(), failure.what()));
  }
}

void print_locking_note(const fs::path& path) {
  std::fprintf(stderr, "gpuaccept: %s\n", locking_note(path).c_str());
}

}  // namespace

ResultsFile read_results(const std::filesystem::path& path, const ReadOptions& options) {
  silence_hdf5_errors();
  const fs::path twin = twin_path(path);
  try {
    return read_one(path, options);
  } catch (const StoreError&) {
    std::error_code ec;
    if (!fs::exists(twin, ec)) throw;
    std::optional<ResultsFile> backup;
    try {
      backup = read_one(twin, options);
    } catch (const StoreError&) {
      // The twin is no better; the main file's error is the one to report.
    }
    if (!backup) throw;
    backup->notes.insert(backup->notes.begin(),
                         fmt::format("{} is damaged (a run killed during a write?); read its "
                                     "backup {} holding {} steps",
                                     path.string(), twin.string(), backup->steps.size()));
    return std::move(*backup);
  }
}

std::vector<double> read_sample_values(const std::filesystem::path& path, const std::string& step_id,
                                       const std::string& name) {
  silence_hdf5_errors();
  const std::string doing = fmt::format("read samples '{}' of step {} from", name, step_id);
  return naming_file(path, doing, [&] {
    bool locking_disabled = false;
    const File file = open_hdf5(path, OpenMode::read, locking_disabled);
    const Group steps = open_group(file, "steps");
    const Group step = open_group(steps, step_id.c_str());
    const Group samples = open_group(step, "samples");
    const Dataset dataset = open_dataset(samples, name.c_str());
    const auto [rows, cols] = samples_shape(dataset);
    return read_samples_values(dataset, rows * cols);
  });
}

struct ResultsWriter::Impl {
  fs::path path;
  fs::path twin;
  File main;
  File backup;
  std::int64_t next_index = 0;
};

ResultsWriter::ResultsWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsWriter::ResultsWriter(ResultsWriter&&) noexcept = default;
ResultsWriter& ResultsWriter::operator=(ResultsWriter&&) noexcept = default;
ResultsWriter::~ResultsWriter() = default;

const std::filesystem::path& ResultsWriter::path() const { return impl_->path; }

ResultsWriter ResultsWriter::create(const std::filesystem::path& path, const RunInfo& run) {
  silence_hdf5_errors();
  std::error_code ec;
  if (fs::exists(path, ec)) {
    throw StoreError(fmt::format(
        "{} exists; use --resume to continue it or choose another --output", path.string()));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->twin = twin_path(path);
  try {
    // Created with H5F_ACC_TRUNC, not EXCL, after the check above: a create that failed on
    // locking leaves an empty file behind, which the retry without locking must replace.
    bool locking_disabled = false;
    naming_file(path, "create results file", [&] {
      impl->main = open_hdf5(path, OpenMode::create, locking_disabled);
      write_run(impl->main, run);
      flush_to_disk(impl->main);
    });
    naming_file(impl->twin, "create backup results file", [&] {
      impl->backup = open_hdf5(impl->twin, OpenMode::create, locking_disabled);
      write_run(impl->backup, run);
      flush_to_disk(impl->backup);
    });
    if (locking_disabled) print_locking_note(path);
  } catch (...) {
    // Leave nothing half-made behind: a later run with the same --output would refuse it.
    impl->main.reset();
    impl->backup.reset();
    fs::remove(path, ec);
    fs::remove(impl->twin, ec);
    throw;
  }
  return ResultsWriter(std::move(impl));
}

ResultsWriter ResultsWriter::resume(const std::filesystem::path& path, ResultsFile& existing) {
  silence_hdf5_errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->twin = twin_path(path);
  try {
    existing = read_one(path);
  } catch (const StoreError&) {
    std::error_code ec;
    if (!fs::exists(impl->twin, ec)) throw;
    std::optional<ResultsFile> backup;
    try {
      backup = read_one(impl->twin);
    } catch (const StoreError&) {
      // The twin is no better; the main file's error is the one to report.
    }
    if (!backup) throw;
    naming_file(path, "restore results file",
                [&] { fs::copy_file(impl->twin, path, fs::copy_options::overwrite_existing); });
    existing = std::move(*backup);
    existing.path = path;
    existing.notes.insert(existing.notes.begin(),
                          fmt::format("{} was damaged (a run killed during a write?); restored "
                                      "it from its backup {} holding {} steps",
                                      path.string(), impl->twin.string(), existing.steps.size()));
  }
  naming_file(impl->twin, "recreate backup results file",
              [&] { fs::copy_file(path, impl->twin, fs::copy_options::overwrite_existing); });
  bool locking_disabled = false;
  naming_file(path, "open results file", [&] {
    impl->main = open_hdf5(path, OpenMode::write, locking_disabled);
    impl->next_index = next_step_index(impl->main);
  });
  naming_file(impl->twin, "open backup results file",
              [&] { impl->backup = open_hdf5(impl->twin, OpenMode::write, locking_disabled); });
  // The run goes on again: until finish(), end_time says so, even if an earlier run finished.
  naming_file(path, "reopen results file", [&] {
    set_double_attr(impl->main, "end_time", 0.0);
    flush_to_disk(impl->main);
  });
  naming_file(impl->twin, "reopen backup results file", [&] {
    set_double_attr(impl->backup, "end_time", 0.0);
    flush_to_disk(impl->backup);
  });
  if (locking_disabled) print_locking_note(path);
  return ResultsWriter(std::move(impl));
}

void ResultsWriter::write_step(const StepResult& step) {
  silence_hdf5_errors();
  if (!impl_->main.valid()) {
    throw StoreError(fmt::format("cannot write step {} to {}: the file was already finished",
                                 step.id, impl_->path.string()));
  }
  if (auto problem = step_problem(step)) {
    throw StoreError(
        fmt::format("cannot store step {} in {}: {}", step.id, impl_->path.string(), *problem));
  }
  const std::string doing = fmt::format("write step {} to", step.id);
  naming_file(impl_->path, doing, [&] { write_step_to(impl_->main, step, impl_->next_index); });
  naming_file(impl_->twin, doing, [&] { write_step_to(impl_->backup, step, impl_->next_index); });
  ++impl_->next_index;
}

void ResultsWriter::finish(double end_time) {
  silence_hdf5_errors();
  if (!impl_->main.valid()) {
    throw StoreError(fmt::format("{} was already finished", impl_->path.string()));
  }
  naming_file(impl_->path, "finish results file", [&] {
    set_double_attr(impl_->main, "end_time", end_time);
    flush_to_disk(impl_->main);
    GPUACCEPT_H5(H5Fclose(impl_->main.release()));
  });
  naming_file(impl_->twin, "finish backup results file", [&] {
    set_double_attr(impl_->backup, "end_time", end_time);
    GPUACCEPT_H5(H5Fclose(impl_->backup.release()));
    fs::remove(impl_->twin);
  });
}

}  // namespace gpuaccept
