#include "sync/serve_source_protocol.h"

namespace skiff::sync {

void PutLocalStat(serve::PayloadWriter& w, const LocalStat& st) {
  w.U32(st.mode).U32(st.uid).U32(st.gid).U64(st.size).U64(st.ino).U64(st.dev).U64(st.nlink);
  w.U64(static_cast<uint64_t>(st.mtime)).U64(static_cast<uint64_t>(st.ctime));
}

LocalStat GetLocalStat(serve::PayloadReader& r) {
  LocalStat st;
  st.mode = r.U32();
  st.uid = r.U32();
  st.gid = r.U32();
  st.size = r.U64();
  st.ino = r.U64();
  st.dev = r.U64();
  st.nlink = r.U64();
  st.mtime = static_cast<int64_t>(r.U64());
  st.ctime = static_cast<int64_t>(r.U64());
  return st;
}

}  // namespace skiff::sync
