import { useLayoutEffect, useRef, useState } from 'preact/hooks';

/** Rows drawn above and below the visible ones, so a quick scroll does not show blank space. */
const OVERSCAN = 8;
/** Until a row has been measured (a list's first render). */
const GUESS_ROW_PX = 38;

export interface RowWindow {
  /** The scrolling box: give it to the element whose overflow scrolls the rows. */
  readonly ref: { current: HTMLDivElement | null };
  readonly start: number;
  readonly end: number;
  /** Height of the rows not drawn above and below the window, for spacer rows. */
  readonly padTop: number;
  readonly padBottom: number;
}

/**
 * Which of `count` rows of a scrolling box are visible: a list of a thousand
 * VMs puts only those (and a few around them) in the DOM, and spacers keep
 * the scroll bar true. Rows are assumed to be of one height, measured from
 * the first drawn row.
 */
export function useRowWindow(count: number): RowWindow {
  const ref = useRef<HTMLDivElement | null>(null);
  const [view, setView] = useState({ top: 0, height: 800, rowPx: GUESS_ROW_PX });

  useLayoutEffect(() => {
    const box = ref.current;
    if (box === null) return;
    const measure = (): void => {
      const row = box.querySelector<HTMLElement>('tbody tr[data-row]');
      const rowPx = row !== null && row.offsetHeight > 0 ? row.offsetHeight : GUESS_ROW_PX;
      setView((v) => (v.top === box.scrollTop && v.height === box.clientHeight && v.rowPx === rowPx ? v : { top: box.scrollTop, height: box.clientHeight, rowPx }));
    };
    measure();
    box.addEventListener('scroll', measure, { passive: true });
    const ro = new ResizeObserver(measure);
    ro.observe(box);
    return () => {
      box.removeEventListener('scroll', measure);
      ro.disconnect();
    };
  }, [count]);

  const start = Math.max(0, Math.floor(view.top / view.rowPx) - OVERSCAN);
  const end = Math.min(count, Math.ceil((view.top + view.height) / view.rowPx) + OVERSCAN);
  return { ref, start, end, padTop: start * view.rowPx, padBottom: Math.max(0, count - end) * view.rowPx };
}
