/*
 * rocks_shim.cc - the two things Basalt needs from RocksDB 7.8 that its C
 * API (rocksdb/c.h) does not offer: an info-log writer that survives I/O
 * errors, and DB::Resume().  Called from store.c only (rocks_shim.h).
 *
 * Why a logger of our own (issue 19): RocksDB's default info log (the
 * LOG file in the data directory) writes through a WritableFileWriter,
 * which in Debian's build (assertions kept) aborts the process on the
 * first write after one that failed ("Assertion
 * `sync_without_flush_called_' failed" in
 * WritableFileWriter::AssertFalseAndGetStatusForPrevError).  When the
 * data directory's disk fails (EIO, a file system shut down or remounted
 * read-only, ENOSPC with min_free_space 0) the first failing write makes
 * RocksDB log the error to LOG, and that log line fails; the next log line
 * killed the node.  This logger writes LOG with write(2), ignores its own
 * write errors (a line lost, never a crash), rotates at 16 MiB into
 * LOG.old, and passes WARN and above on to Basalt's own log.
 *
 * The C API's handles are defined in RocksDB's db/c.cc as structs whose
 * only (first) member is the C++ object; the two used here are declared
 * the same way below (the layout every C++ extension of the C API
 * relies on).  Only storage/ uses RocksDB (STYLE.md, rule 10).
 */
#include <rocksdb/c.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/rocks_shim.h"

extern "C" {
struct rocksdb_t {
    rocksdb::DB *rep;
};
struct rocksdb_options_t {
    rocksdb::Options rep;
};
}

namespace {

class StdioLogger : public rocksdb::Logger {
  public:
    StdioLogger(std::string path, rocksdb::InfoLogLevel level, bs__rocks_log_cb cb)
        : rocksdb::Logger(level), path_(std::move(path)), cb_(cb) {
        fd_ = Open(O_APPEND);
        if (fd_ >= 0) {
            off_t end = ::lseek(fd_, 0, SEEK_END);
            size_ = end > 0 ? (size_t)end : 0;
        }
    }
    ~StdioLogger() override {
        if (fd_ >= 0) ::close(fd_);
    }
    using rocksdb::Logger::Logv;
    void Logv(const char *format, va_list ap) override { Write(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
    void Logv(const rocksdb::InfoLogLevel level, const char *format, va_list ap) override {
        if (level < GetInfoLogLevel() && level != rocksdb::InfoLogLevel::HEADER_LEVEL) return;
        Write(level, format, ap);
    }
    size_t GetLogFileSize() const override { return size_; }

  private:
    void Write(rocksdb::InfoLogLevel level, const char *format, va_list ap) {
        static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL", "HEADER"};
        char line[1024];
        va_list aq;
        va_copy(aq, ap);
        int n = std::vsnprintf(line, sizeof line, format, aq);
        va_end(aq);
        if (n < 0) return;
        size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        while (len && (line[len - 1] == '\n' || line[len - 1] == ' ')) line[--len] = 0;
        unsigned lv = (unsigned)level < 6 ? (unsigned)level : 1;
        if (cb_ && level >= rocksdb::InfoLogLevel::WARN_LEVEL &&
            level != rocksdb::InfoLogLevel::HEADER_LEVEL)
            cb_((int)lv, line);
        char out[1100];
        int w = std::snprintf(out, sizeof out, "[%s] %s\n", names[lv], line);
        if (w <= 0) return;
        size_t wl = (size_t)w < sizeof out ? (size_t)w : sizeof out - 1;
        std::lock_guard<std::mutex> g(mu_);
        if (fd_ < 0) return;
        if (size_ > (16u << 20)) Rotate();
        if (fd_ < 0) return;
        /* one write(2) per line, never synced (an info log); an error
         * here loses the line, nothing else */
        ssize_t wn = ::write(fd_, out, wl);
        if (wn > 0) size_ += (size_t)wn;
    }
    /* open(2)/write(2), not stdio: tests/powerloss's journal sees the
     * file as it sees every other file of the data directory */
    int Open(int extra) { return ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | extra, 0644); }
    void Rotate() {
        ::close(fd_);
        std::string old = path_ + ".old";
        ::rename(path_.c_str(), old.c_str());
        fd_ = Open(O_TRUNC);
        size_ = 0;
    }
    std::string path_;
    bs__rocks_log_cb cb_;
    std::mutex mu_;
    int fd_ = -1;
    size_t size_ = 0;
};

} // namespace

extern "C" void bs__rocks_set_logger(rocksdb_options_t *o, const char *dir, int level,
                                     bs__rocks_log_cb cb) {
    ::mkdir(dir, 0755); /* RocksDB creates it later; the log opens first */
    std::string path = std::string(dir) + "/LOG";
    o->rep.info_log = std::make_shared<StdioLogger>(path, (rocksdb::InfoLogLevel)level, cb);
}

extern "C" int bs__rocks_resume(rocksdb_t *db, char *msg, size_t cap) {
    rocksdb::Status st = db->rep->Resume();
    if (st.ok()) return 0;
    std::snprintf(msg, cap, "%s", st.ToString().c_str());
    return -1;
}
