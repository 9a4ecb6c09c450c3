import type { Room, User } from "./api";
import type { State } from "./client";

export function userName(users: Record<string, User>, id: string): string {
  return users[id]?.display_name ?? "Unknown user";
}

/** A group's name, or the other person's name in a direct chat. */
export function roomTitle(state: State, room: Room): string {
  if (room.kind === "group") return room.name || "Unnamed group";
  const other = room.members.find((m) => m !== state.me.id);
  return other ? userName(state.users, other) : "Just you";
}

/** The other member of a direct chat, for its presence dot. */
export function directPeer(state: State, room: Room): string | undefined {
  return room.kind === "direct" ? room.members.find((m) => m !== state.me.id) : undefined;
}

export function timeOf(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** "Today", "Yesterday", or the date, for the separator before a day's first message. */
export function dayOf(iso: string, now = new Date()): string {
  const day = new Date(iso);
  const start = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((start(now) - start(day)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const sameYear = day.getFullYear() === now.getFullYear();
  return day.toLocaleDateString([], {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: sameYear ? undefined : "numeric",
  });
}

/** When a message was sent, in a list: the hour today, else the day. */
export function whenOf(iso: string): string {
  return dayOf(iso) === "Today" ? timeOf(iso) : dayOf(iso);
}

/** The local day of a time, to compare two messages' days. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}
