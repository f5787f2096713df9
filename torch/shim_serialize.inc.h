// shim_serialize.inc.h: dicts of tensors and strings in PyTorch's file format
// (torch.save's pickle in a zip).
// Part of the shim (shim.h): shim.cc includes this file, so that
// libtorch's headers are parsed once for the whole shim (see shim.cc).

#include "shim.h"

#include <torch/serialize.h>
#include <cstring>

#include "shim_util.h"

extern "C" {

// ---- serialization ----

tt_error tt_save_dict(const char *tnames, tt_tensor *tensors, int64_t n, const char *snames,
                      const char *svalues, int64_t m, char **data, int64_t *len) {
  TT_TRY
  // A dict of tensors alone keeps the Dict[str, Tensor] type that
  // model.load_state_dict expects; strings make it Dict[str, Any].
  c10::TypePtr value_type = c10::TensorType::get();
  if (m > 0) value_type = c10::AnyType::get();
  c10::impl::GenericDict dict(c10::StringType::get(), value_type);
  const char *p = tnames;
  for (int64_t i = 0; i < n; i++) {
    std::string name(p);
    p += name.size() + 1;
    // Saved from the CPU, detached, so the file loads anywhere.
    dict.insert(name, T(tensors[i]).detach().to(torch::kCPU).contiguous());
  }
  const char *k = snames, *v = svalues;
  for (int64_t i = 0; i < m; i++) {
    std::string key(k), value(v);
    k += key.size() + 1;
    v += value.size() + 1;
    dict.insert(key, value);
  }
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  char *buf = static_cast<char *>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (buf == nullptr) return tt_err("out of memory");
  std::memcpy(buf, bytes.data(), bytes.size());
  *data = buf;
  *len = static_cast<int64_t>(bytes.size());
  TT_CATCH
}

namespace {
// Packs strings into one malloc'd NUL-separated block.
char *pack_strings(const std::vector<std::string> &items) {
  size_t bytes = 1;
  for (const auto &s : items) bytes += s.size() + 1;
  char *block = static_cast<char *>(std::malloc(bytes));
  if (block == nullptr) return nullptr;
  char *p = block;
  for (const auto &s : items) {
    std::memcpy(p, s.c_str(), s.size() + 1);
    p += s.size() + 1;
  }
  return block;
}
}  // namespace

tt_error tt_load_dict(const char *data, int64_t len, char **tnames, tt_tensor **tensors,
                      int64_t *n, char **snames, char **svalues, int64_t *m) {
  TT_TRY
  std::vector<char> bytes(data, data + len);
  c10::IValue v = torch::pickle_load(bytes);
  if (!v.isGenericDict()) throw std::invalid_argument("the file does not hold a dict");
  std::vector<std::pair<std::string, torch::Tensor>> items;
  std::vector<std::string> keys, values;
  for (const auto &it : v.toGenericDict()) {
    if (!it.key().isString()) throw std::invalid_argument("a dict key is not a string");
    const auto &key = it.key().toStringRef();
    if (it.value().isTensor()) {
      items.emplace_back(key, it.value().toTensor());
    } else if (it.value().isString()) {
      keys.push_back(key);
      values.push_back(it.value().toStringRef());
    } else {
      throw std::invalid_argument("entry " + key + " is neither a tensor nor a string");
    }
  }
  char *kb = pack_strings(keys), *vb = pack_strings(values);
  if (kb == nullptr || vb == nullptr) {
    std::free(kb);
    std::free(vb);
    return tt_err("out of memory");
  }
  tt_error err = export_named(items, tnames, tensors, n);
  if (err != nullptr) {
    std::free(kb);
    std::free(vb);
    return err;
  }
  *snames = kb;
  *svalues = vb;
  *m = static_cast<int64_t>(keys.size());
  TT_CATCH
}

}  // extern "C"
