// A small JSON reader and string escaper for the CLI's own files: the job state file
// written by `skiff run` and the `--json` summaries printed by other skiff commands.
//
// JsonValue is a plain value type (copyable, no sharing). Parsing accepts RFC 8259 JSON
// (numbers are kept as double, \uXXXX escapes become UTF-8) with a nesting limit, and
// returns a Corrupt status naming the offset of the first problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "transport/status.h"

namespace skiff::cli {

class JsonValue {
 public:
  using Array = std::vector<JsonValue>;
  using Object = std::map<std::string, JsonValue, std::less<>>;

  JsonValue() = default;  // null
  explicit JsonValue(bool b) : v_(b) {}
  explicit JsonValue(double d) : v_(d) {}
  explicit JsonValue(std::string s) : v_(std::move(s)) {}
  explicit JsonValue(Array a) : v_(std::move(a)) {}
  explicit JsonValue(Object o) : v_(std::move(o)) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }

  // Member `key` of an object, or nullptr (also when this is not an object).
  const JsonValue* Find(std::string_view key) const;
  // Typed accessors: nullopt when the value has another type.
  std::optional<double> AsNumber() const;
  std::optional<int64_t> AsInt() const;  // numbers with no fraction only
  std::optional<std::string> AsString() const;
  std::optional<bool> AsBool() const;
  const Array* AsArray() const { return std::get_if<Array>(&v_); }
  const Object* AsObject() const { return std::get_if<Object>(&v_); }

 private:
  std::variant<std::monostate, bool, double, std::string, Array, Object> v_;
};

Result<JsonValue> ParseJson(std::string_view text);

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace skiff::cli
