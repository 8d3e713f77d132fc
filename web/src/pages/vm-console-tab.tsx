import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import type { VmDetail } from '../api-types';
import { useSession } from '../session-context';

/** How long the console may take to open before the page says so. */
const OPEN_TIMEOUT_MS = 15_000;

/**
 * The VM's serial console, live and interactive: xterm.js over the API's
 * console WebSocket. The token rides as a subprotocol (`bearer.<token>`):
 * a browser cannot set an Authorization header on a WebSocket.
 */
export function VmConsoleTab({ vm }: { vm: VmDetail }) {
  const { api } = useSession();
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  const onHost = vm.host !== null;

  useEffect(() => {
    if (!box.current || !onHost) return;
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, rows: 24, cols: 100, screenReaderMode: true });
    term.open(box.current);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/vms/${vm.id}/console/attach`;
    const ws = new WebSocket(url, ['nubo.console', `bearer.${api.token}`]);
    ws.binaryType = 'arraybuffer';
    const enc = new TextEncoder();
    const timer = setTimeout(() => { if (ws.readyState === WebSocket.CONNECTING) { setStatus('the console did not answer'); ws.close(); } }, OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(timer);
      setStatus('connected');
      term.focus();
    };
    ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
    ws.onclose = (e) => setStatus(`closed${e.reason !== '' ? `: ${e.reason}` : ''}`);
    const typing = term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
    return () => {
      clearTimeout(timer);
      typing.dispose();
      ws.close();
      term.dispose();
    };
  }, [vm.id, onHost, api]);

  if (!onHost) return <p class="muted">The VM is on no host ({vm.state}): there is no console to attach to.</p>;
  return (
    <div>
      <p role="status" class="muted">Console: <span data-testid="console-status">{status}</span>. Press Enter for a prompt; one viewer at a time.</p>
      <div ref={box} class="terminal" aria-label={`serial console of ${vm.name}`} />
    </div>
  );
}
