/**
 * The paced kernel copy's program, run by `python3 -I -S -c` (copy-kernel-paced.ts): Node has no ranged
 * copy_file_range, Python's stdlib has (`os.copy_file_range`), and python3 is on every nubo host
 * (scripts/install-deps.sh). A string rather than a `.py` file, as fd-sender-script.ts: tsc copies nothing else
 * into dist/.
 *
 * Arguments: size, bytes per second, slice bytes, burst milliseconds. Descriptor 3 is the source (the inode the
 * agent opened and checked), 4 the copy (opened by the agent, empty). Slice by slice from offset 0 it waits as the
 * agent's Pacer would (the bytes so far, this slice included, fit the rate since the first; a wait shorter than a
 * burst is not waited), then has the kernel copy the slice (copy_file_range: the bytes never leave the kernel;
 * where the kernel refuses it — another filesystem on an older kernel — pread/pwrite), then prints the bytes
 * copied so far on a line of its own. Exit 0 once `size` bytes are copied; 2 when the source ends before (its
 * last stderr line says where); 1 on any other error (Python's traceback).
 *
 * It dies with the agent: a thread reads stdin, which the agent keeps open and never writes, and exits the process
 * at its end — the agent's exit (even SIGKILL) closes it, so no copy goes on writing a file nobody owns.
 */
export const KERNEL_COPY_SCRIPT = String.raw`
import _thread, errno, os, sys, time


def orphaned():
    # os.read, not sys.stdin: a thread blocked holding the buffered reader's lock would abort the exit.
    try:
        while os.read(0, 4096):
            pass
    finally:
        os._exit(3)


def copy(size, rate, slice_bytes, burst):
    src, dst = 3, 4
    kernel = hasattr(os, 'copy_file_range')
    started = None
    at = 0
    while at < size:
        n = min(slice_bytes, size - at)
        now = time.monotonic()
        if started is None:
            started = now
        wait = started + (at + n) / rate - now
        if wait > burst:
            time.sleep(wait)
        done = 0
        while done < n:
            pos = at + done
            if kernel:
                try:
                    k = os.copy_file_range(src, dst, n - done, pos, pos)
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    kernel = False
                    continue
            else:
                b = os.pread(src, n - done, pos)
                k = os.pwrite(dst, b, pos) if b else 0
            if k == 0:
                return 'the source ended after %d of %d bytes' % (pos, size)
            done += k
        at += n
        sys.stdout.write('%d\n' % at)
        sys.stdout.flush()
    return None


_thread.start_new_thread(orphaned, ())
try:
    short = copy(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) / 1000)
except BaseException:
    import traceback  # only now: its imports are a tenth of the start
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
if short is not None:
    sys.stderr.write(short + '\n')
    sys.stderr.flush()
    os._exit(2)
os._exit(0)
`;
