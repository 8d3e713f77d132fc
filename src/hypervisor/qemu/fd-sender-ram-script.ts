/**
 * The guest-RAM copier of format 2, a part of the fd sender's program
 * (fd-sender-script.ts; Python, run by `python3 -I -S -c`): its ops, each an
 * `op` other than the fd hand-over.
 * - `ram-save` {memfd, path, offset, bytes, threads}: copies the data ranges of
 *   `memfd` (a QEMU's guest RAM, /proc/<pid>/fd/<n>; SEEK_DATA/SEEK_HOLE, so
 *   untouched pages stay holes) into `path` at `offset` + their own offset:
 *   O_DIRECT pwrite straight from a read-only mapping of the memfd (no copy,
 *   no page cache), `threads` threads on alternate 8 MiB chunks; on a file
 *   system that refuses O_DIRECT, pread into a reused buffer per thread and
 *   plain pwrite flushed behind (an fdatasync from a thread of its own every
 *   16 MiB written). Then fdatasync (unless `sync` is false: the caller syncs
 *   the whole file itself). Answers {bytes, direct}.
 * - `memfd-create` {bytes}: a memfd of that size kept under the request's key;
 *   answers {key, path}: /proc/<this pid>/fd/<n>, which a QEMU opens as its
 *   `memory-backend-file` (sharing it).
 * - `memfd-fill` {key, path, offset, bytes, threads}: fills that memfd from
 *   `path` at `offset` (O_DIRECT preadv into a reused buffer, pwrite into the
 *   memfd: never mapped here, which costs more than the copy).
 *   With `prefetch` [offset, bytes], that range of `path` (format 2's device
 *   stream) is read ahead into the page cache as the fill begins.
 * - `memfd-release` {key}: closes it (a QEMU that opened it keeps it).
 */
export const RAM_COPIER_SCRIPT = String.raw`
CHUNK = 8 << 20
PAGE = 4096
memfds = {}
memfds_lock = threading.Lock()
# Per held memfd: [an Event set once its fill ended (or it was released), the fill's error or None].
fills = {}

def wait_fill(key, timeout):
    # A hand-over made ready before the fill's end waits for it here (the connection, greeting and getfd are done):
    # QEMU may read the device stream only once the RAM is whole.
    with memfds_lock:
        st = fills.get(key)
    if st is None:
        raise QmpRefused('no memfd %s' % key)
    if not st[0].wait(timeout):
        raise QmpRefused('the RAM fill of memfd %s did not end in time' % key)
    if st[1] is not None:
        raise QmpRefused('the RAM fill of memfd %s failed: %s' % (key, st[1]))

def data_ranges(fd, start, end):
    # The data of [start, end) as page-aligned ranges: holes (never-touched guest pages, or never-written file blocks) skipped.
    out = []
    off = start
    while off < end:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        if d >= end:
            break
        h = min(os.lseek(fd, d, os.SEEK_HOLE), end)
        d = max(start, d - d % PAGE)
        h = min(end, -(-h // PAGE) * PAGE)
        out.append((d, h - d))
        off = h
    return out

def chunks_of(ranges):
    out = []
    for off, n in ranges:
        p = off
        while p < off + n:
            k = min(CHUNK, off + n - p)
            out.append((p, k))
            p += k
    return out

def open_direct(path, flags):
    # O_DIRECT keeps the copy out of the page cache (the disk's own speed); a file system without it (tmpfs) refuses with EINVAL.
    try:
        return os.open(path, flags | os.O_DIRECT | os.O_NOFOLLOW | os.O_CLOEXEC), True
    except OSError as e:
        if e.errno != 22:
            raise
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC), False

def parallel(chunks, nthreads, work):
    # Alternate chunks to each thread; the first error stops the others and is raised.
    nthreads = max(1, min(int(nthreads), 16, len(chunks) or 1))
    errors = []
    stop = threading.Event()
    done = [0] * nthreads
    def run(i):
        buf = mmap.mmap(-1, CHUNK)
        mv = memoryview(buf)
        try:
            for p, k in chunks[i::nthreads]:
                if stop.is_set():
                    return
                work(mv, p, k)
                done[i] += k
        except Exception as e:
            errors.append(e)
            stop.set()
        finally:
            mv.release()
            buf.close()
    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return sum(done)

def full_pread(fd, mv, k, at):
    got = 0
    while got < k:
        r = os.preadv(fd, [mv[got:k]], at + got)
        if r <= 0:
            raise OSError('short read at %d' % (at + got))
        got += r

def full_pwrite(fd, mv, k, at):
    put = 0
    while put < k:
        put += os.pwrite(fd, mv[put:k], at + put)

class FlushBehind:
    # fdatasync from a thread of its own whenever FLUSH_EVERY more bytes were written: the disk is kept busy from the
    # start and the last sync finds little left (as the agent does behind a format-1 stream).
    def __init__(self, fd):
        self.fd = fd
        self.written = 0
        self.errors = []
        self.lock = threading.Lock()
        self.kick = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def wrote(self, n):
        with self.lock:
            self.written += n
        self.kick.set()

    def run(self):
        last = 0
        while True:
            self.kick.wait()
            self.kick.clear()
            with self.lock:
                w = self.written
            if w - last >= FLUSH_EVERY:
                try:
                    os.fdatasync(self.fd)
                except Exception as e:
                    self.errors.append(e)
                    return
                last = w
            if self.stopped:
                return

    def stop(self):
        self.stopped = True
        self.kick.set()
        self.thread.join()
        if self.errors:
            raise self.errors[0]

FLUSH_EVERY = 16 << 20

def ram_save(req):
    size = int(req['bytes'])
    base = int(req['offset'])
    src = os.open(req['memfd'], os.O_RDONLY | os.O_CLOEXEC)
    dst = -1
    try:
        if os.fstat(src).st_size != size:
            raise OSError('%s is not %d bytes' % (req['memfd'], size))
        dst, direct = open_direct(req['path'], os.O_WRONLY)
        if not stat.S_ISREG(os.fstat(dst).st_mode):
            raise OSError('%s is not a regular file' % req['path'])
        # Only the data ranges are touched: a page of the mapping read in a hole would be allocated in QEMU's RAM.
        chunks = chunks_of(data_ranges(src, 0, size))
        if direct and chunks:
            n = save_direct(src, dst, size, base, chunks, req.get('threads', 2))
        else:
            n = save_buffered(src, dst, base, chunks, req.get('threads', 2))
        if req.get('sync', True):
            os.fdatasync(dst)
        return {'bytes': n, 'direct': direct}
    finally:
        os.close(src)
        if dst >= 0:
            os.close(dst)

def save_direct(src, dst, size, base, chunks, nthreads):
    # The disk reads the guest's pages where they are (O_DIRECT from the mapping): no copy, and no page cache to
    # allocate. Those fresh page-cache pages were what made a first suspend slow here: copying into them took 3-4x the
    # CPU of the copy into recently freed ones (this VM's host re-backs memory its guest freed a while ago), while this
    # path took 160-210 ms per 189 MiB whenever it ran (the buffered one 137-626 ms, alternated in one run).
    mapped = mmap.mmap(src, size, mmap.MAP_SHARED, mmap.PROT_READ)
    whole = memoryview(mapped)
    try:
        def work(mv, p, k):
            full_pwrite(dst, whole[p:p + k], k, base + p)
        return parallel(chunks, nthreads, work)
    finally:
        whole.release()
        mapped.close()

def save_buffered(src, dst, base, chunks, nthreads):
    flush = FlushBehind(dst)
    def work(mv, p, k):
        full_pread(src, mv, k, p)
        full_pwrite(dst, mv, k, base + p)
        flush.wrote(k)
    try:
        return parallel(chunks, nthreads, work)
    finally:
        flush.stop()

def memfd_create(req):
    fd = os.memfd_create('nubo-ram', os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, int(req['bytes']))
    except Exception:
        os.close(fd)
        raise
    key = str(req.get('id'))
    with memfds_lock:
        memfds[key] = fd
        fills[key] = [threading.Event(), None]
    return {'key': key, 'path': '/proc/%d/fd/%d' % (os.getpid(), fd)}

def memfd_fill(req):
    with memfds_lock:
        st = fills.get(str(req['key']))
    try:
        r = fill(req)
    except Exception as e:
        if st is not None:
            st[1] = '%s: %s' % (type(e).__name__, e)
        raise
    finally:
        if st is not None:
            st[0].set()
    return r

def fill(req):
    with memfds_lock:
        mfd = memfds.get(str(req['key']))
    if mfd is None:
        raise OSError('no memfd %s' % req['key'])
    prefetch(req['path'], req.get('prefetch'))
    size = int(req['bytes'])
    base = int(req['offset'])
    src, direct = open_direct(req['path'], os.O_RDONLY)
    mapped = None
    try:
        if direct and size > 0 and shmem_huge_on_request():
            # Shared memory gets huge pages where it asks for them: mapped with MADV_HUGEPAGE, the disk reads straight into
            # the guest's pages (O_DIRECT, no copy) a 2 MiB page at a time — as fast as dd on this machine (82-108 ms per
            # 256 MiB against dd's 82-108), where the copy through a buffer into 4 KiB pages took 1.1-1.4x dd's time.
            mapped = mmap.mmap(mfd, size)
            mapped.madvise(mmap.MADV_HUGEPAGE)
            whole = memoryview(mapped)
            def work(mv, p, k):
                full_pread(src, whole[p:p + k], k, base + p)
        else:
            def work(mv, p, k):
                # The chunk's pages allocated in one call first: cheaper than one by one as the write reaches them (A/B
                # in the same runs on this machine: 227 against 291 ms per 192 MiB, noisy).
                os.posix_fallocate(mfd, p, k)
                full_pread(src, mv, k, base + p)
                full_pwrite(mfd, mv, k, p)
        # The file's holes are the guest's untouched pages: zero in the memfd without a copy.
        ranges = [(d - base, n) for d, n in data_ranges(src, base, base + size)]
        n = parallel(chunks_of(ranges), req.get('threads', 3), work)
        return {'bytes': n, 'direct': direct, 'mapped': mapped is not None}
    finally:
        if mapped is not None:
            whole.release()
            mapped.close()
        os.close(src)

def prefetch(path, rng):
    # The device stream read ahead into the page cache beside the fill (asynchronous readahead): QEMU reads it, in
    # small buffered reads, only once the fill is over, and then finds it in memory rather than on the disk.
    if not rng:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, int(rng[0]), int(rng[1]), os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)

def shmem_huge_on_request():
    # The kernel's policy for shared memory's transparent huge pages: [never]/[deny] give a mapping 4 KiB pages whatever it asks.
    try:
        with open('/sys/kernel/mm/transparent_hugepage/shmem_enabled') as f:
            policy = f.read()
    except OSError:
        return False
    return any(('[%s]' % p) in policy for p in ('always', 'within_size', 'advise', 'force'))

def memfd_release(req):
    with memfds_lock:
        fd = memfds.pop(str(req['key']), None)
        st = fills.pop(str(req['key']), None)
    if st is not None and not st[0].is_set():
        # A hand-over still waiting for a fill that will not come (the agent gave up on it) fails at once.
        st[1] = 'the memfd was released'
        st[0].set()
    if fd is not None:
        os.close(fd)
    return {'released': fd is not None}

OPS = {'ram-save': ram_save, 'memfd-create': memfd_create, 'memfd-fill': memfd_fill, 'memfd-release': memfd_release}
`;
