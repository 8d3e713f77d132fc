import type { ComponentChildren } from 'preact';
import { onLinkClick } from '../router';

/** An in-app link: a real <a href> (keyboard, middle click, copy link) that navigates without a reload. */
export function Link({ href, children, class: cls, current }: { href: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return <a href={href} class={cls} onClick={onLinkClick} aria-current={current === true ? 'page' : undefined}>{children}</a>;
}
