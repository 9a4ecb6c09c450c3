import { useEffect, useLayoutEffect, useState, type RefObject } from "react";
import type { Message } from "./api";

/** How long a message brought into view stays highlighted. */
const HIGHLIGHT_MS = 2500;

/**
 * Bringing a message of a list into view (a reply's original, a search hit): once it is among
 * `messages` and rendered in `list` (as an element with its `data-seq`), it is scrolled to the
 * middle, focused and highlighted for a moment, and `onShown` runs. `first` is asked for from
 * the start.
 *
 * Returns the function that asks for a message by id (it waits for the message to arrive, so
 * the history may be loaded meanwhile) and the id of the message highlighted now.
 */
export function useReveal(
  list: RefObject<HTMLElement | null>,
  messages: Message[],
  { first, onShown }: { first?: string; onShown?: () => void } = {},
): [(id: string) => void, string | null] {
  const [wanted, setWanted] = useState<string | null>(first ?? null);
  const [highlighted, setHighlighted] = useState<string | null>(null);

  useLayoutEffect(() => {
    const m = wanted ? messages.find((x) => x.id === wanted) : undefined;
    const el = m && list.current?.querySelector<HTMLElement>(`[data-seq="${m.seq}"]`);
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    el.focus();
    setWanted(null);
    setHighlighted(m.id);
    onShown?.();
  }, [wanted, messages, list, onShown]);

  useEffect(() => {
    if (!highlighted) return;
    const t = setTimeout(() => setHighlighted(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlighted]);

  return [setWanted, highlighted];
}
