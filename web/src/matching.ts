// Where a search query matches a message's text, so that the matches can be marked: the
// server's rule (docs/protocol.md, "Search") applied to the text as it is written.
//
// Letters and digits form words, compared without case and accents (`é` is `e` and an accent
// left out); a query word matches the start of a word. Scripts written without spaces between
// words (Chinese, Japanese kana, Thai, Lao, Khmer, Burmese) form runs, compared as written
// (after compatibility normalization, so half-width kana equal full-width); a query run
// matches anywhere inside a run. Each unit of a folded word or run remembers the characters of
// the original text it came from, so a match maps back to them.

/** A word or a run, folded, with the original offsets of each of its UTF-16 units. */
interface Token {
  kind: "word" | "run";
  text: string;
  starts: number[];
  ends: number[];
}

/** A range of the original text: [start, end) in UTF-16 units. */
export type Range = [number, number];

const UNSPACED =
  /[\u0E00-\u0EFF\u1000-\u109F\u1780-\u17FF\u3040-\u30FF\u31F0-\u31FF\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u{20000}-\u{3134F}]/u;
const MARK = /^\p{M}/u;
const ALPHANUMERIC = /[\p{Alphabetic}\p{N}]/u;

/**
 * The text in characters with the combining marks that follow each (those whose normalized form
 * starts with a mark, such as a half-width sound mark), as [start, end, characters].
 */
function clusters(text: string): [number, number, string][] {
  const out: [number, number, string][] = [];
  let at = 0;
  for (const c of text) {
    const last = out.at(-1);
    if (last && MARK.test(c.normalize("NFKC"))) {
      last[1] += c.length;
      last[2] += c;
    } else {
      out.push([at, at + c.length, c]);
    }
    at += c.length;
  }
  return out;
}

/** Folded units collected into tokens; a token goes on until something that is not part of it. */
class Tokens {
  readonly list: Token[] = [];
  private current: Token | null = null;

  add(kind: Token["kind"], units: string, start: number, end: number): void {
    if (this.current?.kind !== kind) {
      this.current = { kind, text: "", starts: [], ends: [] };
      this.list.push(this.current);
    }
    this.current.text += units;
    for (let i = 0; i < units.length; i++) {
      this.current.starts.push(start);
      this.current.ends.push(end);
    }
  }

  /** Ends the current token (only if it is of `kind`, when given). */
  cut(kind?: Token["kind"]): void {
    if (!kind || this.current?.kind === kind) this.current = null;
  }
}

function tokenize(text: string): Token[] {
  const tokens = new Tokens();
  for (const [start, end, cluster] of clusters(text)) {
    for (const c of cluster.normalize("NFKC")) {
      if (UNSPACED.test(c)) {
        tokens.add("run", c, start, end);
        continue;
      }
      tokens.cut("run");
      for (const d of c.normalize("NFD")) {
        if (MARK.test(d)) continue;
        if (ALPHANUMERIC.test(d)) tokens.add("word", d.toLowerCase(), start, end);
        else tokens.cut();
      }
    }
  }
  return tokens.list;
}

/** The ranges of `text` that the words and runs of `query` match, in order, without overlaps. */
export function matchRanges(query: string, text: string): Range[] {
  const tokens = tokenize(text);
  const ranges: Range[] = [];
  for (const q of tokenize(query)) {
    const last = q.text.length - 1;
    for (const t of tokens) {
      if (t.kind !== q.kind) continue;
      if (q.kind === "word") {
        if (t.text.startsWith(q.text)) ranges.push([t.starts[0]!, t.ends[last]!]);
        continue;
      }
      for (let at = t.text.indexOf(q.text); at >= 0; at = t.text.indexOf(q.text, at + 1)) {
        ranges.push([t.starts[at]!, t.ends[at + last]!]);
      }
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Range[] = [];
  for (const r of ranges) {
    const prev = merged.at(-1);
    if (prev && r[0] <= prev[1]) prev[1] = Math.max(prev[1], r[1]);
    else merged.push([...r]);
  }
  return merged;
}
