/** Node's POSIX path functions the library uses, for the browser bundles (paths of the in-memory file system). */
export const sep = '/';

export function normalize(path: string): string {
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!absolute) parts.push('..');
    } else parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined || '.';
}

export const join = (...parts: string[]): string => normalize(parts.filter((p) => p !== '').join('/'));
export const isAbsolute = (path: string): boolean => path.startsWith('/');
export const resolve = (...parts: string[]): string => {
  let out = '/';
  for (const p of parts) out = isAbsolute(p) ? p : `${out}/${p}`;
  return normalize(out);
};
export const dirname = (path: string): string => {
  const n = normalize(path);
  const i = n.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : n.slice(0, i);
};
export const basename = (path: string, ext?: string): string => {
  const b = normalize(path).split('/').pop() ?? '';
  return ext !== undefined && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
};
export const relative = (from: string, to: string): string => {
  const a = resolve(from).split('/').filter(Boolean);
  const b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
};
export default { sep, normalize, join, isAbsolute, resolve, dirname, basename, relative };
