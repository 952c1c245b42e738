// A small Markdown subset for model replies (paragraphs, lists, headings, quotes, code, bold, italic),
// rendered straight into DOM nodes. There is no HTML parsing anywhere, so this is safe by construction:
// whatever the model writes ends up as text.

import { h } from "./dom.js";

const CODE = /`[^`\n]+`/g;
// `__bold__` is left out on purpose: identifiers like window.__name__ are common in replies and must stay text.
const EMPHASIS = /(\*\*[^*\n]+?\*\*|\*[^*\s\n][^*\n]*?\*|\[[^\]\n]+\]\([^)\s]+\))/g;

function emphasis(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(EMPHASIS)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("**")) out.push(h("strong", null, emphasis(token.slice(2, -2))));
    else if (token.startsWith("[")) {
      // Links are shown, not followed: a reply is not a place to click through to somewhere unknown.
      const close = token.indexOf("](");
      out.push(`${token.slice(1, close)} (${token.slice(close + 2, -1)})`);
    } else out.push(h("em", null, emphasis(token.slice(1, -1))));
    last = match.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// Code spans first: nothing inside backticks is formatting.
function inline(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(CODE)) {
    if (match.index > last) out.push(...emphasis(text.slice(last, match.index)));
    out.push(h("code", null, match[0].slice(1, -1)));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(...emphasis(text.slice(last)));
  return out;
}

function withBreaks(lines) {
  const out = [];
  lines.forEach((line, i) => {
    if (i) out.push(h("br"));
    out.push(...inline(line));
  });
  return out;
}

const BULLET = /^\s*(?:[-*•])\s+(.*)$/;
const ORDERED = /^\s*(\d{1,3})[.)]\s+(.*)$/;
const HEADING = /^\s*#{1,6}\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const FENCE = /^\s*```/;

/** Render Markdown text as a DocumentFragment of safe elements. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    if (FENCE.test(line)) {
      const code = [];
      i += 1;
      while (i < lines.length && !FENCE.test(lines[i])) code.push(lines[i++]);
      i += 1; // the closing fence (or the end of a reply still streaming)
      fragment.append(h("pre", null, h("code", null, code.join("\n"))));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      fragment.append(h("p", { class: "md-heading" }, inline(heading[1])));
      i += 1;
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const list = h(ordered ? "ol" : "ul");
      const first = ORDERED.exec(line);
      if (ordered && first && first[1] !== "1") list.setAttribute("start", first[1]);
      while (i < lines.length && pattern.test(lines[i])) {
        const match = pattern.exec(lines[i]);
        list.append(h("li", null, inline(match[match.length - 1])));
        i += 1;
      }
      fragment.append(list);
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      fragment.append(h("blockquote", null, withBreaks(quoted)));
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !FENCE.test(lines[i]) &&
      !HEADING.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !ORDERED.test(lines[i]) &&
      !QUOTE.test(lines[i])
    ) {
      paragraph.push(lines[i++]);
    }
    fragment.append(h("p", null, withBreaks(paragraph)));
  }
  return fragment;
}
