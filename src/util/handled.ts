/**
 * `p`, marked handled from now on: a promise started beside another step and awaited only after it would, if it
 * failed meanwhile, end the process as an unhandled rejection; here its failure is told when it is awaited itself.
 */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
