/**
 * Whether `name` can be a file of an OVF package as nubo unpacks one: a plain
 * file name, so that no href, manifest line or tar member reaches outside the
 * package's directory (no separators, no `..`, no hidden files).
 */
export function isPackageMemberName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[/\\\0]/.test(name) && !name.startsWith('.');
}
