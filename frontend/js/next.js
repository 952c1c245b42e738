// Where to go after logging in: only ever a page of this site. The browser's own URL parser decides, so
// whatever it would do with the text (drop tabs and newlines, read "\" as "/") cannot lead elsewhere:
// "/\t/evil.example", "/\\evil.example", "//evil.example" and "https://evil.example" all give "/".
export function safeNext(raw, origin = location.origin) {
  if (!raw || !raw.startsWith("/")) return "/";
  let target;
  try {
    target = new URL(raw, origin);
  } catch {
    return "/";
  }
  if (target.origin !== origin) return "/";
  return target.pathname + target.search + target.hash;
}
