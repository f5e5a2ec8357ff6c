// LD_PRELOAD probe for the kill test: records what is durable in the sink file. After every
// successful fdatasync()/fsync() of the file named by REPLICATOR_PROBE_FILE it appends
// "<file size>\n" to REPLICATOR_PROBE_LOG, so a reader knows the prefix of the sink that had reached
// the disk at any moment (the last complete line of the log; it only grows).
//   LD_PRELOAD=libfsync_probe.so REPLICATOR_PROBE_FILE=sink.jsonl REPLICATOR_PROBE_LOG=durable.log replicator ...
// The record is written before fdatasync() returns to the program, so it always precedes the
// position save and the standby status that the flush allows. REPLICATOR_PROBE_SYNC_DELAY_US
// (optional) then sleeps that long, a slow disk that widens the window between "durable in the
// sink" and "position saved", so a kill can land in it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static int record(int fd) {
  const char* target = getenv("REPLICATOR_PROBE_FILE");
  const char* log = getenv("REPLICATOR_PROBE_LOG");
  if (target == NULL || log == NULL) return 0;
  struct stat fs, ts;
  if (fstat(fd, &fs) != 0 || stat(target, &ts) != 0) return 0;
  if (fs.st_dev != ts.st_dev || fs.st_ino != ts.st_ino) return 0;
  char line[32];
  const int n = snprintf(line, sizeof line, "%lld\n", (long long)fs.st_size);
  const int saved = errno;
  const int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out >= 0) {
    // One write() per record: a reader sees whole lines or a torn last line it ignores.
    if (write(out, line, (size_t)n) != n) { /* the test notices a missing record */ }
    close(out);
  }
  errno = saved;
  return 1;
}

static int call(const char* name, int fd) {
  sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  const int rc = real(fd);
  if (rc == 0 && record(fd)) {
    const char* delay = getenv("REPLICATOR_PROBE_SYNC_DELAY_US");
    if (delay != NULL) {
      const int saved = errno;
      usleep((useconds_t)strtoul(delay, NULL, 10));
      errno = saved;
    }
  }
  return rc;
}

int fdatasync(int fd) { return call("fdatasync", fd); }
int fsync(int fd) { return call("fsync", fd); }
