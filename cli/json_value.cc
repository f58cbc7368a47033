#include "cli/json_value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace skiff::cli {

const JsonValue* JsonValue::Find(std::string_view key) const {
  const Object* o = AsObject();
  if (!o) return nullptr;
  auto it = o->find(key);
  return it == o->end() ? nullptr : &it->second;
}

std::optional<double> JsonValue::AsNumber() const {
  if (const double* d = std::get_if<double>(&v_)) return *d;
  return std::nullopt;
}

std::optional<int64_t> JsonValue::AsInt() const {
  const double* d = std::get_if<double>(&v_);
  if (!d || std::floor(*d) != *d || std::fabs(*d) > 9.0e18) return std::nullopt;
  return static_cast<int64_t>(*d);
}

std::optional<std::string> JsonValue::AsString() const {
  if (const std::string* s = std::get_if<std::string>(&v_)) return *s;
  return std::nullopt;
}

std::optional<bool> JsonValue::AsBool() const {
  if (const bool* b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Result<JsonValue> ParseDocument() {
    SKIFF_ASSIGN_OR_RETURN(JsonValue v, ParseValue(0));
    SkipSpace();
    if (i_ != t_.size()) return Error("trailing characters after the JSON value");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::Corrupt("JSON at offset " + std::to_string(i_) + ": " + what);
  }
  void SkipSpace() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
      ++i_;
  }
  bool Consume(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  Result<JsonValue> ParseValue(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (i_ >= t_.size()) return Error("unexpected end of input");
    char c = t_[i_];
    if (c == '{') return ParseObject(depth);
    if (c == '[') return ParseArray(depth);
    if (c == '"') {
      SKIFF_ASSIGN_OR_RETURN(std::string s, ParseString());
      return JsonValue(std::move(s));
    }
    if (Consume("true")) return JsonValue(true);
    if (Consume("false")) return JsonValue(false);
    if (Consume("null")) return JsonValue();
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
    return Error(std::string("unexpected character '") + c + "'");
  }

  Result<JsonValue> ParseNumber() {
    size_t start = i_;
    if (t_[i_] == '-') ++i_;
    while (i_ < t_.size() && ((t_[i_] >= '0' && t_[i_] <= '9') || t_[i_] == '.' || t_[i_] == 'e' ||
                              t_[i_] == 'E' || t_[i_] == '+' || t_[i_] == '-'))
      ++i_;
    std::string num(t_.substr(start, i_ - start));
    char* end = nullptr;
    double d = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size()) {
      i_ = start;
      return Error("bad number '" + num + "'");
    }
    return JsonValue(d);
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Result<uint32_t> ParseHex4() {
    if (i_ + 4 > t_.size()) return Error("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = t_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= h - '0';
      else if (h >= 'a' && h <= 'f')
        v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        v |= h - 'A' + 10;
      else
        return Error("bad hex digit in \\u escape");
    }
    return v;
  }

  Result<std::string> ParseString() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= t_.size()) return Error("unterminated string");
      char c = t_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= t_.size()) return Error("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          SKIFF_ASSIGN_OR_RETURN(uint32_t cp, ParseHex4());
          if (cp >= 0xD800 && cp < 0xDC00 && t_.substr(i_, 2) == "\\u") {
            i_ += 2;
            SKIFF_ASSIGN_OR_RETURN(uint32_t lo, ParseHex4());
            if (lo < 0xDC00 || lo > 0xDFFF) return Error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  Result<JsonValue> ParseArray(int depth) {
    ++i_;
    JsonValue::Array a;
    SkipSpace();
    if (i_ < t_.size() && t_[i_] == ']') {
      ++i_;
      return JsonValue(std::move(a));
    }
    while (true) {
      SKIFF_ASSIGN_OR_RETURN(JsonValue v, ParseValue(depth + 1));
      a.push_back(std::move(v));
      SkipSpace();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == ']') {
        ++i_;
        return JsonValue(std::move(a));
      }
      return Error("expected ',' or ']' in array");
    }
  }

  Result<JsonValue> ParseObject(int depth) {
    ++i_;
    JsonValue::Object o;
    SkipSpace();
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      return JsonValue(std::move(o));
    }
    while (true) {
      SkipSpace();
      if (i_ >= t_.size() || t_[i_] != '"') return Error("expected a string key in object");
      SKIFF_ASSIGN_OR_RETURN(std::string key, ParseString());
      SkipSpace();
      if (i_ >= t_.size() || t_[i_] != ':') return Error("expected ':' after object key");
      ++i_;
      SKIFF_ASSIGN_OR_RETURN(JsonValue v, ParseValue(depth + 1));
      o.insert_or_assign(std::move(key), std::move(v));
      SkipSpace();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == '}') {
        ++i_;
        return JsonValue(std::move(o));
      }
      return Error("expected ',' or '}' in object");
    }
  }

  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text) { return Parser(text).ParseDocument(); }

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace skiff::cli
