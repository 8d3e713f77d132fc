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
 * the request's timeout. It exits when its stdin closes (its agent gone).
 */
export const FD_SENDER_SCRIPT = String.raw`
import array, json, os, socket, stat, sys, threading

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
        s.settimeout(max(0.1, float(req.get('timeoutMs', 10000)) / 1000.0))
        s.connect(req['socket'])
        f = s.makefile('r', encoding='utf-8')
        greeting = f.readline()
        if not greeting or 'QMP' not in json.loads(greeting):
            raise OSError('no QMP greeting on ' + req['socket'])
        qmp(f, s, {'execute': 'qmp_capabilities'})
        fd = os.open(req['path'], os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
            raise OSError('%s is not an empty regular file' % req['path'])
        qmp(f, s, {'execute': 'getfd', 'arguments': {'fdname': req['fdname']}}, [fd])
        os.close(fd)
        fd = -1
        sent = True
        try:
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

say({'ready': True, 'pid': os.getpid()})
for line in sys.stdin:
    try:
        req = json.loads(line)
    except ValueError:
        continue
    threading.Thread(target=handle, args=(req,), daemon=True).start()
`;
