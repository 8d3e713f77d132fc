import { RAM_COPIER_SCRIPT } from './fd-sender-ram-script.js';

/**
 * The fd sender's program, run by `python3 -I -S -c` (fd-sender.ts). Node
 * cannot send a descriptor over a unix socket (SCM_RIGHTS) and QEMU 7.2 takes
 * an outgoing `fd:` migration's descriptor only from `getfd` on the monitor
 * that then runs `migrate`; Python's stdlib can (`socket.sendmsg`) and is on
 * every nubo host (scripts/install-deps.sh). Kept here as a string rather than
 * a `.py` file: tsc copies no other files into dist/, and a string travels
 * with the module that runs it, wherever it is installed.
 *
 * It speaks JSON lines: it prints {"ready":true} once, then for each request
 * {id, socket, path, fdname, command, timeoutMs} — each on a thread of its own,
 * so one slow QEMU holds up no other VM's save — it connects to `socket` (a
 * VM's fd-passing QMP monitor), reads the greeting, negotiates, opens `path`
 * write-only (it must be an empty regular file the agent made: no create, no
 * truncation, no symlink followed), hands it over with `getfd` as `fdname`,
 * runs `command` on the same monitor, closes its own descriptor and the
 * connection and prints {id, ok:true, return} or {id, ok:false, error, sent}:
 * `sent` true when `command` was sent but no answer read, so the caller cannot
 * know whether QEMU acts on it. When `command` is refused, the fd is taken
 * back (`closefd`), so QEMU does not keep the file open. Every socket wait has
 * the request's timeout. With `read: true` the file is opened read-only (an
 * incoming migration's stream, `migrate-incoming fd:`), and with `seek` the
 * descriptor is positioned there first (QEMU reads or writes from its offset):
 * format 2's device stream lives after the RAM image (ram-state-header.ts).
 *
 * A hand-over (no `op`) with `afterFill` (a held memfd's key) connects, greets
 * and runs `getfd` at once, then waits (`fillWaitMs`) for that memfd's fill
 * to end before it runs `command`: a fill that failed, or a memfd released
 * first, refuses it (`closefd`, not sent). `ioTimeoutMs` then bounds each
 * socket wait instead of `timeoutMs`.
 * The guest-RAM copier of format 2 (an `op` other than the fd hand-over) is
 * fd-sender-ram-script.ts, part of the same program.
 * A memfd the agent did not release is gone with this process. It exits when
 * its stdin closes (its agent gone).
 */
export const FD_SENDER_SCRIPT = String.raw`
import array, json, mmap, os, socket, stat, sys, threading

out_lock = threading.Lock()

def say(obj):
    line = json.dumps(obj) + '\n'
    with out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()

class QmpRefused(Exception):
    pass

def qmp(f, s, cmd, fds=None):
    msg = json.dumps(cmd).encode()
    if fds:
        s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds).tobytes())])
    else:
        s.sendall(msg)
    while True:
        line = f.readline()
        if not line:
            raise OSError('QEMU closed the monitor')
        r = json.loads(line)
        if 'event' in r:
            continue
        if 'error' in r:
            raise QmpRefused('%s: %s' % (cmd.get('execute'), r['error'].get('desc', r['error'])))
        return r.get('return')

def handle(req):
    rid = req.get('id')
    sent = False
    fd = -1
    s = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(0.1, float(req.get('ioTimeoutMs', req.get('timeoutMs', 10000))) / 1000.0))
        s.connect(req['socket'])
        f = s.makefile('r', encoding='utf-8')
        greeting = f.readline()
        if not greeting or 'QMP' not in json.loads(greeting):
            raise OSError('no QMP greeting on ' + req['socket'])
        qmp(f, s, {'execute': 'qmp_capabilities'})
        reading = req.get('read') is True
        fd = os.open(req['path'], (os.O_RDONLY if reading else os.O_WRONLY) | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError('%s is not a regular file' % req['path'])
        seek = int(req.get('seek', 0))
        if not reading and seek == 0 and st.st_size != 0:
            raise OSError('%s is not an empty regular file' % req['path'])
        if seek:
            os.lseek(fd, seek, os.SEEK_SET)
        qmp(f, s, {'execute': 'getfd', 'arguments': {'fdname': req['fdname']}}, [fd])
        os.close(fd)
        fd = -1
        try:
            if req.get('afterFill') is not None:
                wait_fill(str(req['afterFill']), float(req.get('fillWaitMs', 300000)) / 1000.0)
            sent = True
            ret = qmp(f, s, req['command'])
        except QmpRefused:
            sent = False
            try:
                qmp(f, s, {'execute': 'closefd', 'arguments': {'fdname': req['fdname']}})
            except Exception:
                pass
            raise
        say({'id': rid, 'ok': True, 'return': ret})
    except Exception as e:
        say({'id': rid, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e), 'sent': sent})
    finally:
        if fd >= 0:
            os.close(fd)
        if s is not None:
            s.close()

${RAM_COPIER_SCRIPT}

def handle_op(req):
    rid = req.get('id')
    try:
        say({'id': rid, 'ok': True, 'return': OPS[req['op']](req)})
    except Exception as e:
        say({'id': rid, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e), 'sent': False})

say({'ready': True, 'pid': os.getpid()})
for line in sys.stdin:
    try:
        req = json.loads(line)
    except ValueError:
        continue
    target = handle_op if req.get('op') in OPS else handle
    threading.Thread(target=target, args=(req,), daemon=True).start()
`;
