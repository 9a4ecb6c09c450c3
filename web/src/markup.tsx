// A message body as text with a few marks, rendered as React elements (never as HTML, so
// nothing in a body can inject markup):
//
//   ```code block```      > quote        `code`      **bold**      *italic* or _italic_
//   http(s):// links      @mentions (those the server counted; see `Mention`)
//
// Links open in a new tab without access to this one (`rel="noopener noreferrer"`); only
// http and https are links.

import type { ReactNode } from "react";

/** How a `@name` in the text is shown: a node, or `null` when it is no mention. */
export type Mention = (name: string, text: string, key: string) => ReactNode | null;

/** The blocks of a body: fenced code, quotes (consecutive `>` lines), and the rest. */
export function renderBody(body: string, mention: Mention): ReactNode[] {
  const out: ReactNode[] = [];
  const lines = body.split("\n");
  let text: string[] = [];
  const flushText = () => {
    if (text.length > 0) {
      out.push(<span key={`t${out.length}`}>{inline(text.join("\n"), mention, `t${out.length}`)}</span>);
      text = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trimStart().startsWith("```")) {
      const end = lines.findIndex((l, j) => j > i && l.trimStart().startsWith("```"));
      if (end > i) {
        flushText();
        const first = line.trimStart().slice(3);
        // The rest of the opening line is a language name when it is one word.
        const code = [/^\w*$/.test(first) ? null : first, ...lines.slice(i + 1, end)].filter((l) => l !== null);
        out.push(
          <pre key={`c${out.length}`} className="code-block">
            <code>{code.join("\n")}</code>
          </pre>,
        );
        i = end;
        continue;
      }
    }
    if (/^>\s?/.test(line)) {
      const quoted: string[] = [];
      while (i < lines.length && /^>\s?/.test(lines[i]!)) {
        quoted.push(lines[i]!.replace(/^>\s?/, ""));
        i++;
      }
      i--;
      flushText();
      out.push(
        <blockquote key={`q${out.length}`} className="body-quote">
          {inline(quoted.join("\n"), mention, `q${out.length}`)}
        </blockquote>,
      );
      continue;
    }
    text.push(line);
  }
  flushText();
  return out;
}

/** Marks within a line, in order of precedence: code spans, links, bold, italics, mentions. */
const INLINE = /(`[^`\n]+`)|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'])|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*|\b_[^_\s][^_\n]*_\b)|(@[A-Za-z0-9._-]*[A-Za-z0-9_])/g;

function inline(text: string, mention: Mention, key: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const k = `${key}-${at}`;
    const [whole, code, link, bold, italic, name] = m;
    if (code) {
      out.push(<code key={k}>{code.slice(1, -1)}</code>);
    } else if (link) {
      out.push(
        <a key={k} href={link} target="_blank" rel="noopener noreferrer">
          {link}
        </a>,
      );
    } else if (bold) {
      out.push(<strong key={k}>{inline(bold.slice(2, -2), mention, k)}</strong>);
    } else if (italic) {
      out.push(<em key={k}>{inline(italic.slice(1, -1), mention, k)}</em>);
    } else if (name) {
      // Like the server: no mention inside a word or an address.
      const inWord = at > 0 && /[A-Za-z0-9._@-]/.test(text[at - 1]!);
      out.push((inWord ? null : mention(name.slice(1).toLowerCase(), name, k)) ?? name);
    } else {
      out.push(whole);
    }
    last = at + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
